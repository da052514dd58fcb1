"""Snakemake script: the qualitative figure (LR input, methods, ground truth, error map)."""

from isosr.figures import write_qualitative
from isosr.workflow import run_logged


def main() -> None:
    p, i = snakemake.params, snakemake.input
    contrasts = p.contrasts
    predictions = iter(i.predictions)  # method-major, contrast-minor (see report.smk)
    write_qualitative(dict(zip(contrasts, i.lr, strict=True)), p.acquisitions,
                      {m: {c: next(predictions) for c in contrasts} for m in p.methods},
                      dict(zip(contrasts, i.truth, strict=True)), i.mask, p.error_method,
                      p.title, snakemake.output.pdf, snakemake.output.png)


run_logged(snakemake.log[0], main)
