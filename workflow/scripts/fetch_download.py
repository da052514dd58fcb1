"""Snakemake script: download one file of an http dataset (resumed, verified, atomic)."""

from pathlib import Path

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.data.archives import check_archive
from isosr.data.download import download
from isosr.data.lockfile import ChecksumLock
from isosr.data.sources import make_source
from isosr.workflow import run_logged


def main() -> None:
    dataset = snakemake.wildcards.dataset
    source = make_source(dataset, snakemake.config["datasets"][dataset])
    spec = source.file(snakemake.wildcards.filename).download
    download(spec, snakemake.output[0], lock=ChecksumLock(Path(snakemake.params.lock)),
             check=check_archive)


run_logged(snakemake.log[0], main)
