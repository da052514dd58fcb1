"""Snakemake script: train one cohort method on the training subjects of a scenario."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.fit import run_train
from isosr.workflow import run_logged


def main() -> None:
    p, i = snakemake.params, snakemake.input
    hr, lr = iter(i.hr), iter(i.lr)
    subjects = {s: {"hr": {c: next(hr) for c in p.contrasts},
                    "lr": {c: next(lr) for c in p.contrasts}, "mask": mask}
                for s, mask in zip(p.subjects, i.masks, strict=True)}
    run_train(method=snakemake.wildcards.method, params=p.method_params, subjects=subjects,
              acquisitions=p.acquisitions, model_file=snakemake.output.model,
              train_json=snakemake.output.record, seed=p.seed, threads=snakemake.threads,
              checkpoint_dir=p.checkpoint)


run_logged(snakemake.log[0], main)
