"""End to end: the Snakemake workflow on the tiny embedded config, and its lint."""

import math
import subprocess
import sys

import pandas as pd
from conftest import REPO


def test_tiny_run_writes_finite_tables_where_cubic_beats_nearest(tiny_run):
    table = pd.read_csv(tiny_run / "results/tables/tiny_T1w-ax8-FLAIR-cor8.csv")
    assert set(table["method"]) == {"cubic", "nearest"}
    table = table[table["metric"] != "LPIPS"]  # n/a here: no AlexNet weights offline
    assert (table["n"] == 2).all()
    assert table["mean"].map(math.isfinite).all()
    psnr = table[table["metric"] == "PSNR"].pivot(index="contrast", columns="method",
                                                  values="mean")
    assert set(psnr.index) == {"T1w", "FLAIR"}
    assert (psnr["cubic"] > psnr["nearest"] + 1.0).all(), psnr
    assert psnr["cubic"].between(20, 45).all(), psnr
    markdown = (tiny_run / "results/tables/tiny_T1w-ax8-FLAIR-cor8.md").read_text()
    assert "not patient data" in markdown and "| cubic |" in markdown


def test_tiny_run_records_preprocessing_and_fit_costs(tiny_run):
    import json

    sidecar = json.loads((tiny_run / "results/tiny/preproc/sub-01/brainmask.json").read_text())
    registration = sidecar["registration"]
    assert registration["mi_after"] > registration["mi_before"]
    assert 0.5 < registration["rotation_degrees"] < 20  # the embedded head pose was undone
    fit = json.loads((tiny_run / "results/tiny/sr/T1w-ax8-FLAIR-cor8/cubic/sub-01/fit.json")
                     .read_text())
    assert fit["device"] == "cpu" and fit["wall_seconds"] > 0 and fit["peak_memory_mb"] > 0


def test_workflow_lint_is_clean(tiny_config):
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--snakefile", str(REPO / "Snakefile"),
         "--configfile", str(tiny_config), "--directory", str(REPO)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr, result.stdout + result.stderr
