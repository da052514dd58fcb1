"""Snakemake script: tissue segmentation of one HR image (ground truth or prediction)."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.segment import segment_file
from isosr.workflow import run_logged


def main() -> None:
    segment_file(snakemake.input.image, snakemake.input.mask, snakemake.wildcards.contrast,
                 snakemake.params.settings, snakemake.output.labels, snakemake.output.sidecar,
                 truth_sidecar=snakemake.input.get("truth"))


run_logged(snakemake.log[0], main)
