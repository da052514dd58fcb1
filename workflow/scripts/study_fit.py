"""Snakemake script: fit one method on one session's aligned stacks (a cohort method: predict
with its model file), told each stack's acquisition as read from the file."""

import json
from pathlib import Path

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.fit import run_fit
from isosr.workflow import run_logged


def main() -> None:
    contrasts = snakemake.params.contrasts
    alignment = json.loads(Path(snakemake.input.alignment).read_text())
    told = {c: alignment["contrasts"][c]["told"] for c in contrasts}
    run_fit(method=snakemake.params.method, params=snakemake.params.method_params,
            lr_paths=dict(zip(contrasts, snakemake.input.aligned, strict=True)),
            acquisitions=told, mask_path=snakemake.input.mask,
            output_paths=dict(zip(contrasts, snakemake.output.images, strict=True)),
            fit_json=snakemake.output.record, seed=snakemake.params.seed,
            threads=snakemake.threads, checkpoint_dir=snakemake.params.checkpoint,
            model_file=snakemake.input.get("model"),
            intensity_scales={c: alignment["contrasts"][c]["intensity_scale"]
                              for c in contrasts})


run_logged(snakemake.log[0], main)
