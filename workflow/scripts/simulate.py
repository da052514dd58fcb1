"""Snakemake script: simulate the LR acquisition of one contrast."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.io import load_nifti, save_nifti
from isosr.simulate import Acquisition, simulate_lr
from isosr.workflow import run_logged


def main() -> None:
    hr, affine = load_nifti(snakemake.input[0])
    lr, lr_affine = simulate_lr(hr, affine, Acquisition(**snakemake.params.acquisition),
                                seed=snakemake.params.seed)
    save_nifti(snakemake.output[0], lr, lr_affine)


run_logged(snakemake.log[0], main)
