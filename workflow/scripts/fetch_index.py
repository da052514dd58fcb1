"""Snakemake script: match the members of a downloaded dataset's files to subjects."""

from pathlib import Path

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.data.sources import make_source
from isosr.io import save_json
from isosr.workflow import run_logged


def main() -> None:
    dataset = snakemake.wildcards.dataset
    source = make_source(dataset, snakemake.config["datasets"][dataset])
    local = {Path(path).name: Path(path) for path in snakemake.input}
    save_json(snakemake.output[0], source.build_index(local, snakemake.params.contrasts))


run_logged(snakemake.log[0], main)
