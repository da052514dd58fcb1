"""Snakemake script: fit one method on one subject's LR scans."""

from isosr.fit import run_fit
from isosr.workflow import run_logged


def main() -> None:
    contrasts = snakemake.params.contrasts
    run_fit(snakemake.wildcards.method, snakemake.params.method_params,
            dict(zip(contrasts, snakemake.input.lr, strict=True)), snakemake.params.acquisitions,
            snakemake.input.mask, dict(zip(contrasts, snakemake.output.images, strict=True)),
            snakemake.output.record, seed=snakemake.params.seed, threads=snakemake.threads,
            checkpoint_dir=snakemake.params.checkpoint)


run_logged(snakemake.log[0], main)
