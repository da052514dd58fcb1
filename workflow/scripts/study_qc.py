"""Snakemake script: quality control of one method's outputs on one session (qc.json and the
data-consistency maps)."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.clinical.scoring import score_session
from isosr.workflow import run_logged


def main() -> None:
    contrasts = snakemake.params.contrasts
    score_session(aligned=dict(zip(contrasts, snakemake.input.aligned, strict=True)),
                  outputs=dict(zip(contrasts, snakemake.input.images, strict=True)),
                  mask_path=snakemake.input.mask, alignment_path=snakemake.input.alignment,
                  maps=dict(zip(contrasts, snakemake.output.maps, strict=True)),
                  record_path=snakemake.output.record)


run_logged(snakemake.log[0], main)
