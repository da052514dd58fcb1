"""Snakemake script: download a cohort method's published model (verified against its sha256)."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.data.download import Download, download
from isosr.workflow import run_logged


def main() -> None:
    published = snakemake.params.published
    download(Download(published["url"], sha256=published["sha256"]), snakemake.output[0])


run_logged(snakemake.log[0], main)
