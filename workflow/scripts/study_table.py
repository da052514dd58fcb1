"""Snakemake script: the study's quality-control table (methods ranked by data consistency)."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.clinical.study_table import write_study_table
from isosr.workflow import run_logged


def main() -> None:
    write_study_table(qc_paths=snakemake.input.qc, fit_paths=snakemake.input.fit,
                      sessions=snakemake.params.sessions, methods=snakemake.params.methods,
                      reference=snakemake.params.reference_method,
                      dataset=snakemake.params.dataset, csv=snakemake.output.csv,
                      markdown=snakemake.output.md)


run_logged(snakemake.log[0], main)
