"""Snakemake script: one contrast onto the HR grid, bias-corrected and normalised to [0, 1]."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.io import save_json
from isosr.preprocess import RegistrationLimits, preprocess_contrast
from isosr.workflow import run_logged


def main() -> None:
    spec = snakemake.params.spec
    record = preprocess_contrast(
        snakemake.input.raw, snakemake.input.reference, snakemake.input.mask,
        snakemake.input.reference_transform, snakemake.output.image, snakemake.output.transform,
        is_reference=snakemake.wildcards.contrast == spec["reference_contrast"],
        bias_correction=spec["bias_correction"],
        percentiles=tuple(spec["normalisation_percentiles"]),
        limits=RegistrationLimits.from_config(spec), seed=snakemake.params.seed)
    save_json(snakemake.output.sidecar, record)


run_logged(snakemake.log[0], main)
