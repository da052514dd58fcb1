"""Snakemake script: copy one raw scan of a bids or manual dataset into the layout."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.data.layout import write_scan
from isosr.workflow import run_logged


def main() -> None:
    write_scan(snakemake.input[0], snakemake.output[0])


run_logged(snakemake.log[0], main)
