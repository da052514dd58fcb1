"""Snakemake script: MI between predicted contrasts per epoch against the ground truth's MI."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.figures import write_mi
from isosr.workflow import run_logged


def main() -> None:
    p, i = snakemake.params, snakemake.input
    truth = iter(i.truth)  # subject-major, contrast-minor (see report.smk)
    write_mi(fit_paths=list(i.fits),
             truth_paths={s: {c: next(truth) for c in p.contrasts} for s in p.subjects},
             mask_paths=dict(zip(p.subjects, i.masks, strict=True)), title=p.title,
             pdf=snakemake.output.pdf, png=snakemake.output.png)


run_logged(snakemake.log[0], main)
