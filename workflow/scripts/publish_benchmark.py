"""Snakemake script: a benchmark scenario's predictions (repeat 0) as BIDS derivatives."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.clinical.publish import publish_benchmark
from isosr.workflow import run_logged


def main() -> None:
    w, contrasts = snakemake.wildcards, sorted(snakemake.params.acquisitions)
    subjects = snakemake.params.subjects
    runs = [(m, s) for m in snakemake.params.methods for s in subjects]
    predictions = list(snakemake.input.predictions)
    per_subject = {  # subject -> its metrics file (every method's rows) and mask
        s: {"metrics": metrics, "mask": mask}
        for s, metrics, mask in zip(subjects, snakemake.input.metrics, snakemake.input.masks,
                                    strict=True)}
    fits = [{"method": m, "subject": s, "record": record, **per_subject[s],
             "predictions": dict(zip(contrasts, predictions[i * len(contrasts):
                                                            (i + 1) * len(contrasts)],
                                     strict=True))}
            for i, ((m, s), record) in enumerate(zip(runs, snakemake.input.fits, strict=True))]
    count = publish_benchmark(root=snakemake.output[0], config=snakemake.params.config,
                              name=f"{w.dataset} / {w.scenario}", fits=fits,
                              acquisitions=snakemake.params.acquisitions,
                              raw=snakemake.params.raw)
    print(f"{count} images published in {snakemake.output[0]}")


run_logged(snakemake.log[0], main)
