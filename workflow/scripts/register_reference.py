"""Snakemake script: skull-strip and register the reference contrast; write the HR brain mask."""

from isosr.io import save_json
from isosr.preprocess import register_reference
from isosr.workflow import run_logged


def main() -> None:
    spec = snakemake.params.spec
    record = register_reference(snakemake.input[0], spec["template"], spec["resolution_mm"],
                                spec["skullstrip"], snakemake.output.mask,
                                snakemake.output.transform, seed=snakemake.params.seed)
    save_json(snakemake.output.sidecar, record)


run_logged(snakemake.log[0], main)
