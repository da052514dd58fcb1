"""Thread caps: every Snakemake script job keeps at most its ``threads`` busy (isosr.threads)."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, SNAKEMAKE

from isosr.threads import ITK_THREADS, POOL_VARIABLES, limit_threads

# Runs in a child after the cap: NumPy's and PyTorch's pools at work (intra-op, OpenBLAS, an
# inter-op fork), then writes what the process runs to the path in OUT.
REPORT = """
import json, os
import numpy as np
import torch
from threadpoolctl import threadpool_info

a = torch.randn(256, 256)
for _ in range(10):
    a = torch.tanh(a @ a)
torch.jit.wait(torch.jit.fork(torch.add, a, a))
b = np.random.default_rng(0).random((300, 300))
b @ b
report = {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads(),
          "pools": {p["internal_api"]: p["num_threads"] for p in threadpool_info()},
          "tasks": len(os.listdir("/proc/self/task")),
          "environment": {k: os.environ.get(k) for k in VARIABLES}}
with open(OUT, "w") as out:
    json.dump(report, out)
"""
VARIABLES = (*POOL_VARIABLES, ITK_THREADS)
# a user's exported values, which the cap overrides (ITK's larger one is capped, not raised)
EXPORTED = {"OMP_NUM_THREADS": "8", "OPENBLAS_NUM_THREADS": "8", ITK_THREADS: "4"}


def child_report(path: Path, code: str, env: dict[str, str]) -> dict:
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    return json.loads(path.read_text())


def assert_capped(report: dict, n: int) -> None:
    assert report["intra_op"] == report["inter_op"] == n
    assert set(report["pools"]) >= {"openmp", "openblas"}
    assert set(report["pools"].values()) == {n}, report["pools"]
    assert_environment(report, n)
    if n == 1:  # no pool started a thread beside the main one
        assert report["tasks"] == 1, report


def assert_environment(report: dict, n: int) -> None:
    assert report["environment"] == {**dict.fromkeys(POOL_VARIABLES, str(n)),
                                     ITK_THREADS: str(min(n, 4))}


def test_limit_threads_caps_torch_already_imported_but_not_numpys_started_pool(tmp_path):
    """Called late (PyTorch imported, and with it NumPy), the cap still holds for PyTorch's
    pools and for child processes (OpenBLAS, started with NumPy, keeps its size: hence the
    Snakemake scripts cap first)."""
    out = tmp_path / "report.json"
    code = (f"import torch\nfrom isosr.threads import limit_threads\nlimit_threads(1)\n"
            f"OUT = {str(out)!r}\nVARIABLES = {VARIABLES!r}\n{REPORT}")
    report = child_report(out, code, {**os.environ, **EXPORTED})
    assert report["intra_op"] == report["inter_op"] == report["pools"]["openmp"] == 1
    assert_environment(report, 1)


def test_limit_threads_refuses_no_threads():
    with pytest.raises(ValueError, match="at least 1"):
        limit_threads(0)


def test_a_snakemake_script_job_runs_on_its_threads_only(tmp_path):
    """A real Snakemake run: a script whose first isosr import is isosr.threads, as in
    workflow/scripts, in a rule of 1 thread and one of 2."""
    (tmp_path / "report.py").write_text(
        f"import isosr.threads  # noqa: F401\nOUT = snakemake.output[0]\n"
        f"VARIABLES = {VARIABLES!r}\n{REPORT}")
    (tmp_path / "Snakefile").write_text("".join(
        f"rule threads_{n}:\n    output: 'threads_{n}.json'\n    threads: {n}\n"
        f"    script: 'report.py'\n\n" for n in (1, 2)))
    result = subprocess.run([*SNAKEMAKE, "--cores", "2", "--directory", str(tmp_path),
                             "--snakefile", str(tmp_path / "Snakefile"),
                             "threads_1.json", "threads_2.json"],
                            env={**os.environ, **EXPORTED}, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for n in (1, 2):
        assert_capped(json.loads((tmp_path / f"threads_{n}.json").read_text()), n)


@pytest.mark.parametrize("script", sorted((REPO / "workflow" / "scripts").glob("*.py")),
                         ids=lambda path: path.name)
def test_every_workflow_script_caps_its_threads_before_any_other_package(script):
    imports = [node for node in ast.parse(script.read_text()).body
               if isinstance(node, ast.Import | ast.ImportFrom)]
    packages = [node for node in imports
                if (node.names[0].name if isinstance(node, ast.Import) else node.module)
                .split(".")[0] not in sys.stdlib_module_names]
    assert isinstance(packages[0], ast.Import) and packages[0].names[0].name == "isosr.threads"


def job_threads(workdir: Path) -> dict[str, int]:
    """Output path -> threads of each job the Snakemake logs of ``workdir`` record (a job of
    one thread has no ``threads:`` line)."""
    threads = {}
    for log in (workdir / ".snakemake" / "log").glob("*.snakemake.log"):
        for block in re.findall(r"^(?:local)?rule \w+:\n((?:    .*\n)+)", log.read_text(),
                                re.MULTILINE):
            fields = dict(re.findall(r"^    (\w+): (.*)$", block, re.MULTILINE))
            for output in fields.get("output", "").split(", "):
                threads[output] = int(fields.get("threads", 1))
    return threads


def test_tiny_run_records_each_fit_and_training_on_its_jobs_threads(tiny_run):
    threads = job_threads(tiny_run)
    records = sorted(tiny_run.glob("results/*/sr/**/fit.json"))
    records += sorted(tiny_run.glob("results/*/models/**/train.json"))
    assert any(r.name == "train.json" for r in records) and len(records) > 3
    for record in records:
        relative = str(record.relative_to(tiny_run))
        assert json.loads(record.read_text())["threads"] == threads[relative], relative
    trainings = {threads[str(r.relative_to(tiny_run))] for r in records if r.name == "train.json"}
    assert trainings == {2}  # `threads: 8`, scaled to the run's --cores 2
