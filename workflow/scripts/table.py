"""Snakemake script: aggregate per-subject metrics into the CSV and Markdown tables."""

from isosr.tables import write_tables
from isosr.workflow import run_logged


def main() -> None:
    write_tables(snakemake.input, snakemake.output.csv, snakemake.output.md,
                 method_order=snakemake.params.methods, caption=snakemake.params.caption)


run_logged(snakemake.log[0], main)
