"""Benchmark: how long `snakemake --dry-run` takes to build the DAG of a large study.

The study: 100 subjects (two embedded datasets of 50; the embedded source caps one dataset at 99;
20 % of each train the cohort methods, every method is evaluated on the other 80 %) x every
registered method x 3 scenarios. Goal: under 10 s. Prints the numbers, asserts nothing.

    python benchmarks/dag_construction.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from isosr.methods import method_names

REPO = Path(__file__).resolve().parents[1]
SUBJECTS_PER_DATASET = 50
SCENARIOS = {
    "T1w-ax4-T2w-cor4": {"T1w": ("axial", 4.0), "T2w": ("coronal", 4.0)},
    "T1w-ax4-FLAIR-cor4": {"T1w": ("axial", 4.0), "FLAIR": ("coronal", 4.0)},
    "T2w-sag5-FLAIR-ax5": {"T2w": ("sagittal", 5.0), "FLAIR": ("axial", 5.0)},
}


def study_config() -> dict:
    """The benchmark's workflow config (every method with its paper defaults)."""
    dataset = {"source": "embedded", "contrasts": ["T1w", "T2w", "FLAIR"],
               "resolution_mm": 1.0, "embedded": {"subjects": SUBJECTS_PER_DATASET},
               "split": {"train_fraction": 0.2}}  # cohort methods train on 10 per dataset
    return {
        "seed": 0,
        "reference_method": "cubic",
        "datasets": {"cohort-a": dataset, "cohort-b": {**dataset, "embedded": {
            "subjects": SUBJECTS_PER_DATASET, "seed": 1}}},
        "scenarios": {name: {"contrasts": {c: {"view": view, "thickness": thickness}
                                           for c, (view, thickness) in contrasts.items()}}
                      for name, contrasts in SCENARIOS.items()},
        "methods": {name: {} for name in method_names()},
    }


def child_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def dry_run(workdir: Path, configfile: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds of one dry run, and the number of jobs it planned."""
    start, cpu_start = time.perf_counter(), child_cpu_seconds()
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
         "--directory", str(workdir), "--configfile", str(configfile), "--dry-run",
         "--quiet", "rules", "--cores", "1"],  # quiet about each job, not about the job count
        capture_output=True, text=True, check=False)
    seconds, cpu = time.perf_counter() - start, child_cpu_seconds() - cpu_start
    if result.returncode != 0:
        raise SystemExit(f"dry run failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    total = re.search(r"^total\s+(\d+)", result.stdout + result.stderr, re.MULTILINE)
    return seconds, cpu, int(total.group(1)) if total else -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = study_config()
    with tempfile.TemporaryDirectory(prefix="isosr-dag-") as tmp:
        configfile = Path(tmp) / "study.yaml"
        configfile.write_text(yaml.safe_dump(config, sort_keys=False))
        walls, cpus = [], []
        for _ in range(args.repeats):
            wall, cpu, jobs = dry_run(Path(tmp), configfile)
            walls.append(wall)
            cpus.append(cpu)
    subjects = SUBJECTS_PER_DATASET * len(config["datasets"])
    print(f"study: {subjects} subjects x {len(config['methods'])} methods "
          f"({', '.join(config['methods'])}) x {len(SCENARIOS)} scenarios -> {jobs} jobs")
    print(f"dry run (parse + DAG), {args.repeats} runs: wall median "
          f"{statistics.median(walls):.1f} s (min {min(walls):.1f} s), "
          f"CPU median {statistics.median(cpus):.1f} s; goal < 10 s")


if __name__ == "__main__":
    main()
