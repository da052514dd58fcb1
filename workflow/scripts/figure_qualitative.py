"""Snakemake script: the qualitative figure (LR input, methods, ground truth, error map)."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.figures import write_qualitative
from isosr.workflow import run_logged


def main() -> None:
    p, i = snakemake.params, snakemake.input
    contrasts = p.contrasts
    predictions = iter(i.predictions)  # method-major, contrast-minor (see report.smk)
    write_qualitative(lr_paths=dict(zip(contrasts, i.lr, strict=True)),
                      acquisitions=p.acquisitions,
                      prediction_paths={m: {c: next(predictions) for c in contrasts}
                                        for m in p.methods},
                      truth_paths=dict(zip(contrasts, i.truth, strict=True)), mask_path=i.mask,
                      error_method=p.error_method, title=p.title, pdf=snakemake.output.pdf,
                      png=snakemake.output.png)


run_logged(snakemake.log[0], main)
