"""Snakemake script: fit one method on one subject's LR scans (a cohort method: predict); a
method with a tuning grid fits with the values its tuning record chose, and fit.json records
them (``tuning``)."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.fit import run_fit
from isosr.io import save_json
from isosr.tuning import fit_tuning
from isosr.workflow import run_logged


def main() -> None:
    contrasts = snakemake.params.contrasts
    params, tuning = fit_tuning(snakemake.wildcards.method, snakemake.params.method_params,
                                snakemake.input.get("tuning"))
    record = run_fit(method=snakemake.wildcards.method, params=params,
                     lr_paths=dict(zip(contrasts, snakemake.input.lr, strict=True)),
                     acquisitions=snakemake.params.acquisitions, mask_path=snakemake.input.mask,
                     output_paths=dict(zip(contrasts, snakemake.output.images, strict=True)),
                     fit_json=snakemake.output.record, seed=snakemake.params.seed,
                     threads=snakemake.threads, checkpoint_dir=snakemake.params.checkpoint,
                     model_file=snakemake.input.get("model"))
    if tuning is not None:  # rewritten atomically with the tuning entry
        save_json(snakemake.output.record, {**record, "tuning": tuning})


run_logged(snakemake.log[0], main)
