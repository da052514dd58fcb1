"""Snakemake script: box plots of PSNR, SSIM, LPIPS and Dice per method."""

from isosr.figures import write_distributions
from isosr.workflow import run_logged


def main() -> None:
    write_distributions(list(snakemake.input), snakemake.params.methods, snakemake.params.title,
                        snakemake.output.pdf, snakemake.output.png)


run_logged(snakemake.log[0], main)
