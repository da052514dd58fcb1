"""Snakemake script: download a registration template (SRI24) once, verified."""

from pathlib import Path

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.data.lockfile import ChecksumLock
from isosr.data.templates import fetch_sri24
from isosr.workflow import run_logged


def main() -> None:
    out = Path(snakemake.output[0])
    fetch_sri24(out, out.parent / "downloads", lock=ChecksumLock(Path(snakemake.params.lock)))


run_logged(snakemake.log[0], main)
