"""Snakemake script: one method's outputs on one session as BIDS derivatives, each with its
sidecar (sources, method, profile, parameters, seed, device, time, quality control)."""

import json
from pathlib import Path

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.clinical.publish import publish_outputs
from isosr.workflow import run_logged


def main() -> None:
    contrasts = snakemake.params.contrasts

    def read(path):
        return json.loads(Path(path).read_text())

    publish_outputs(outputs=dict(zip(contrasts, snakemake.input.images, strict=True)),
                    images=dict(zip(contrasts, snakemake.output.images, strict=True)),
                    mask_path=snakemake.input.mask, method=snakemake.params.method,
                    fit=read(snakemake.input.fit), qc=read(snakemake.input.qc),
                    alignment=read(snakemake.input.alignment))


run_logged(snakemake.log[0], main)
