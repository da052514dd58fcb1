"""Shared fixtures: the repository root and a runner for the workflow in a temp directory."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def run_snakemake(workdir: Path, configfile: Path, *args: str, timeout: int = 900
                  ) -> subprocess.CompletedProcess:
    """Run the repository's Snakefile in ``workdir`` with ``configfile``; capture the output."""
    command = [*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(configfile), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def tiny_config() -> Path:
    return REPO / "tests" / "configs" / "tiny.yaml"


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, tiny_config: Path) -> Path:
    """The tiny config run once end to end (shared by every end-to-end assertion)."""
    workdir = tmp_path_factory.mktemp("tiny_run")
    result = run_snakemake(workdir, tiny_config, "--cores", "2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return workdir


@pytest.fixture(scope="session")
def tiny_study_run(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> Path:
    """tiny_study.yaml run once end to end, ArSSR with the model the tiny benchmark trained."""
    workdir = tmp_path_factory.mktemp("tiny_study_run")
    model = workdir / "models" / "arssr-tiny-ax8-cor8.pt"
    model.parent.mkdir()
    shutil.copyfile(tiny_run / "results/tiny/models/T1w-ax8-FLAIR-cor8/arssr/model.pt", model)
    result = run_snakemake(workdir, REPO / "tests" / "configs" / "tiny_study.yaml", "--cores", "2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return workdir
