"""Snakemake script: download and unpack the HD-BET 2.x parameters once (needs internet)."""

from pathlib import Path

import isosr.threads  # noqa: F401 (first isosr import: caps the job's thread pools)
from isosr.data.hdbet import fetch_parameters
from isosr.data.lockfile import ChecksumLock
from isosr.workflow import run_logged


def main() -> None:
    fetch_parameters(snakemake.config["hdbet"]["weights_dir"],
                     lock=ChecksumLock(Path(snakemake.params.lock)))


run_logged(snakemake.log[0], main)
