"""Snakemake script: how data consistency (no reference) ranks against the true PSNR."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.qc_validity import write_validity
from isosr.workflow import run_logged


def main() -> None:
    write_validity(metric_paths=snakemake.input.metrics, caption=snakemake.params.caption,
                   csv=snakemake.output.csv, markdown=snakemake.output.md,
                   pdf=snakemake.output.pdf, png=snakemake.output.png)


run_logged(snakemake.log[0], main)
