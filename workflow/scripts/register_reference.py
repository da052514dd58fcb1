"""Snakemake script: skull-strip and register the reference contrast; write the HR brain mask."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.io import save_json
from isosr.preprocess import HDBetOptions, RegistrationLimits, register_reference
from isosr.workflow import run_logged


def main() -> None:
    spec = snakemake.params.spec
    record = register_reference(snakemake.input.raw, spec["template"], spec["resolution_mm"],
                                spec["skullstrip"], snakemake.output.mask,
                                snakemake.output.transform,
                                limits=RegistrationLimits.from_config(spec),
                                seed=snakemake.params.seed,
                                hdbet=HDBetOptions(**snakemake.params.hdbet))
    save_json(snakemake.output.sidecar, record)


run_logged(snakemake.log[0], main)
