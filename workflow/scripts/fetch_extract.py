"""Snakemake script: write one raw scan of an http dataset from its downloaded archive."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.data.http import extract_scan, read_index
from isosr.workflow import run_logged


def main() -> None:
    wildcards = snakemake.wildcards
    extract_scan(read_index(snakemake.input.index), wildcards.dataset, wildcards.s,
                 wildcards.contrast, snakemake.output[0])


run_logged(snakemake.log[0], main)
