"""Snakemake script: dataset_description.json of a study's BIDS derivatives (isosr's version
and the config's hash)."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.clinical.derivatives import write_dataset_description
from isosr.workflow import run_logged


def main() -> None:
    write_dataset_description(snakemake.output.description, snakemake.params.config,
                              snakemake.wildcards.dataset, snakemake.params.source_uri)


run_logged(snakemake.log[0], main)
