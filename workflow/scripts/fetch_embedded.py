"""Snakemake script: write one contrast of one embedded subject."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.data.embedded import synthesise
from isosr.io import save_nifti
from isosr.workflow import run_logged


def main() -> None:
    data, affine = synthesise(snakemake.wildcards.s, snakemake.wildcards.contrast,
                              snakemake.params.options)
    save_nifti(snakemake.output[0], data, affine)


run_logged(snakemake.log[0], main)
