"""Snakemake script: the HTML quality report of one session (every method's outputs)."""

import json
from pathlib import Path

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.clinical.report import write_report
from isosr.workflow import run_logged


def main() -> None:
    contrasts, methods = snakemake.params.contrasts, snakemake.params.methods
    alignment = json.loads(Path(snakemake.input.alignment).read_text())

    def per_method(files):
        files = list(files)
        return {m: dict(zip(contrasts, files[i * len(contrasts):(i + 1) * len(contrasts)],
                            strict=True)) for i, m in enumerate(methods)}

    write_report(snakemake.output[0], title=alignment["label"],
                 reference_contrast=alignment["reference_contrast"],
                 stacks=dict(zip(contrasts, snakemake.input.aligned, strict=True)),
                 mask_path=snakemake.input.mask, outputs=per_method(snakemake.input.images),
                 error_maps=per_method(snakemake.input.maps),
                 scores={m: json.loads(Path(p).read_text())
                         for m, p in zip(methods, snakemake.input.qc, strict=True)},
                 alignment=alignment)


run_logged(snakemake.log[0], main)
