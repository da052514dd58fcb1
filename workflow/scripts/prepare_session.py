"""Snakemake script: align one session's acquired stacks to its reference contrast (affines
only), and write its brain mask on the output grid and alignment.json."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.clinical.prepare import prepare_session
from isosr.preprocess import HDBetOptions, RegistrationLimits
from isosr.workflow import run_logged


def main() -> None:
    spec, contrasts = snakemake.params.spec, snakemake.params.contrasts
    prepare_session(dict(zip(contrasts, snakemake.input.scans, strict=True)),
                    label=snakemake.params.label, reference_contrast=spec["reference_contrast"],
                    aligned=dict(zip(contrasts, snakemake.output.aligned, strict=True)),
                    mask_path=snakemake.output.mask, record_path=snakemake.output.record,
                    skullstrip=spec["skullstrip"], resolution_mm=spec["resolution_mm"],
                    acquisition_model=spec["acquisition_model"],
                    limits=RegistrationLimits.from_config(spec), seed=snakemake.params.seed,
                    hdbet=HDBetOptions(**snakemake.params.hdbet))


run_logged(snakemake.log[0], main)
