"""benchmarks/gpu_check.py on the CPU at its tiny sizes: it cannot rot where no GPU is (about
35 s on one core)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO

from isosr.methods import method_names


def test_gpu_check_runs_every_method_on_the_cpu_and_writes_its_report(tmp_path):
    out = tmp_path / "gpu_check.json"
    # ECLARE (20-60 s per contrast on a CPU) has its own end-to-end test (test_eclare.py)
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"),
                             "--device", "cpu", "--out", str(out), "--skip", "eclare"],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TQDM_DISABLE": "1"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "all checks passed" in result.stdout
    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and report["failures"] == []
    assert report["torch"] and report["device_name"] and report["date"]
    assert list(report["methods"]) == method_names()
    for name, entry in report["methods"].items():
        if entry["status"].startswith("skipped"):
            assert name == "eclare", entry
            continue
        assert entry["status"] == "ok", (name, entry)
        assert entry["finite"] and entry["geometry_ok"], (name, entry)
        assert all(shape == entry["grid_shape"] for shape in entry["output_shapes"].values())
        assert entry["wall_seconds"] > 0 and entry["peak_memory_mb"] > 0, (name, entry)
    assert set(report["splithead"]) == {"paper", "fast"}
    for profile, entry in report["splithead"].items():
        assert entry["status"] == "ok" and entry["finite"] and entry["geometry_ok"], profile
        assert entry["epochs_run"] == entry["epochs_target"] == 2 and not entry["projected"]
        assert entry["seconds_per_epoch"] > 0 and entry["peak_memory_mb"] > 0
        assert set(entry["psnr"]) == {"T1w", "T2w"}
    cohort = [n for n, e in report["methods"].items() if e.get("kind") == "cohort"]
    assert cohort and list(report["cohort_steps"]) == cohort
    for name, entry in report["cohort_steps"].items():
        assert entry["status"] == "ok" and entry["finite"], (name, entry)
        assert entry["steps_per_second"] > 0 and entry["peak_memory_mb"] > 0, name
