"""Snakemake script: box plots of PSNR, SSIM, LPIPS and Dice per method."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.figures import write_distributions
from isosr.workflow import run_logged


def main() -> None:
    write_distributions(metric_paths=list(snakemake.input), methods=snakemake.params.methods,
                        title=snakemake.params.title, pdf=snakemake.output.pdf,
                        png=snakemake.output.png)


run_logged(snakemake.log[0], main)
