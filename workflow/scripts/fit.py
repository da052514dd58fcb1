"""Snakemake script: fit one method on one subject's LR scans (a cohort method: predict)."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.fit import run_fit
from isosr.workflow import run_logged


def main() -> None:
    contrasts = snakemake.params.contrasts
    run_fit(method=snakemake.wildcards.method, params=snakemake.params.method_params,
            lr_paths=dict(zip(contrasts, snakemake.input.lr, strict=True)),
            acquisitions=snakemake.params.acquisitions, mask_path=snakemake.input.mask,
            output_paths=dict(zip(contrasts, snakemake.output.images, strict=True)),
            fit_json=snakemake.output.record, seed=snakemake.params.seed,
            threads=snakemake.threads, checkpoint_dir=snakemake.params.checkpoint,
            model_file=snakemake.input.get("model"))


run_logged(snakemake.log[0], main)
