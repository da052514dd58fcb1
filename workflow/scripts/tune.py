"""Snakemake script: tune a subject method's declared hyper-parameters on the validation
subjects (training subjects only) of one dataset x scenario (isosr.tuning)."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.tuning import run_tuning
from isosr.workflow import run_logged


def main() -> None:
    p, i, w = snakemake.params, snakemake.input, snakemake.wildcards
    hr, lr = iter(i.hr), iter(i.lr)
    subjects = {s: {"hr": {c: next(hr) for c in p.contrasts},
                    "lr": {c: next(lr) for c in p.contrasts}, "mask": mask}
                for s, mask in zip(p.subjects, i.masks, strict=True)}
    run_tuning(method=w.method, params=p.method_params, subjects=subjects,
               acquisitions=p.acquisitions, output=snakemake.output.record,
               training_subjects=p.training_subjects, test_subjects=p.test_subjects,
               dataset=w.dataset, scenario=w.scenario, seeds=p.seeds,
               threads=snakemake.threads, max_subjects=p.max_subjects)


run_logged(snakemake.log[0], main)
