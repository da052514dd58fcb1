"""Snakemake script: write the LR-only BIDS study of an embedded dataset without ground truth."""

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.clinical.study import make_lr_study
from isosr.data.embedded import EmbeddedOptions
from isosr.workflow import run_logged


def main() -> None:
    spec = snakemake.params.spec
    block = spec.get("lr_study") or {}
    embedded = EmbeddedOptions(**spec.get("embedded", {}))
    make_lr_study(snakemake.params.root, subjects=snakemake.params.subjects,
                  sessions=snakemake.params.sessions, stacks=snakemake.params.stacks,
                  reference=spec["reference_contrast"], resolution_mm=embedded.resolution_mm,
                  motion_degrees=tuple(block.get("motion_degrees", (3.0, 5.0))),
                  motion_mm=tuple(block.get("motion_mm", (2.0, 4.0))),
                  model=spec["acquisition_model"], seed=snakemake.params.seed,
                  embedded=embedded)


run_logged(snakemake.log[0], main)
