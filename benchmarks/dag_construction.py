"""Benchmark: how long `snakemake --dry-run` takes to build the DAG of a large study.

The study: N subjects (default 100; embedded datasets of at most 99 subjects each, as the embedded
source caps one there: 2 x 50 for 100, 11 x ~91 for 1,000; 20 % of each train the cohort methods,
every method is evaluated on the other 80 %) x every registered method x 3 scenarios. Goal: under
10 s for 100 subjects, under 60 s for 1,000. Prints jobs, wall and CPU seconds and ms per job;
then, side by side, Snakemake's own floor: the dry run of a trivial workflow with as many jobs
(pairs of one-line rules, one input each, no functions, no resources, no conda), which no
workflow of that many jobs can plan faster than; and Snakemake's start-up alone (`snakemake
--version`: imports and plugins; on a host with a SLURM client but no reachable controller the
SLURM executor plugin waits 10 s on `scontrol show config` here, in every command). Asserts
nothing.

    python benchmarks/dag_construction.py [--subjects 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import math
import re
import resource
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from isosr.methods import method_names

REPO = Path(__file__).resolve().parents[1]
MAX_PER_DATASET = 99  # the embedded source's cap (config schema: embedded.subjects)
SCENARIOS = {
    "T1w-ax4-T2w-cor4": {"T1w": ("axial", 4.0), "T2w": ("coronal", 4.0)},
    "T1w-ax4-FLAIR-cor4": {"T1w": ("axial", 4.0), "FLAIR": ("coronal", 4.0)},
    "T2w-sag5-FLAIR-ax5": {"T2w": ("sagittal", 5.0), "FLAIR": ("axial", 5.0)},
}


def dataset_sizes(subjects: int) -> list[int]:
    """Subjects per dataset: at least two datasets, each within the embedded source's cap."""
    count = max(2, math.ceil(subjects / MAX_PER_DATASET))
    return [subjects // count + (i < subjects % count) for i in range(count)]


def study_config(subjects: int) -> dict:
    """The benchmark's workflow config (every method with its paper defaults)."""
    def dataset(size: int, seed: int) -> dict:
        return {"source": "embedded", "contrasts": ["T1w", "T2w", "FLAIR"],
                "resolution_mm": 1.0, "embedded": {"subjects": size, "seed": seed},
                "split": {"train_fraction": 0.2}}  # cohort methods train on 20 % per dataset
    return {
        "seed": 0,
        "reference_method": "cubic",
        "datasets": {f"cohort-{string.ascii_lowercase[i]}": dataset(size, i)
                     for i, size in enumerate(dataset_sizes(subjects))},
        "scenarios": {name: {"contrasts": {c: {"view": view, "thickness": thickness}
                                           for c, (view, thickness) in contrasts.items()}}
                      for name, contrasts in SCENARIOS.items()},
        "methods": {name: {} for name in method_names()},
    }


def child_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


TRIVIAL_SNAKEFILE = """\
rule all:
    input: expand("b/{{i}}.txt", i=range({pairs}))
rule a:
    output: "a/{{i}}.txt"
    shell: "touch {{output}}"
rule b:
    input: "a/{{i}}.txt"
    output: "b/{{i}}.txt"
    shell: "touch {{output}}"
"""


def dry_run(workdir: Path, *options: str) -> tuple[float, float, int]:
    """Wall and CPU seconds of one dry run, and the number of jobs it planned."""
    start, cpu_start = time.perf_counter(), child_cpu_seconds()
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--directory", str(workdir), *options, "--dry-run",
         "--quiet", "rules", "--cores", "1"],  # quiet about each job, not about the job count
        capture_output=True, text=True, check=False)
    seconds, cpu = time.perf_counter() - start, child_cpu_seconds() - cpu_start
    if result.returncode != 0:
        raise SystemExit(f"dry run failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    total = re.search(r"^total\s+(\d+)", result.stdout + result.stderr, re.MULTILINE)
    return seconds, cpu, int(total.group(1)) if total else -1


def startup_seconds() -> float:
    """Wall seconds of `snakemake --version` (imports and plugin registration, no workflow)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "--version"], capture_output=True,
                   check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=100,
                        help=f"subjects in all (at most {26 * MAX_PER_DATASET})")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not 2 <= args.subjects <= 26 * MAX_PER_DATASET:
        parser.error(f"--subjects: expected 2 to {26 * MAX_PER_DATASET}")
    config = study_config(args.subjects)
    with tempfile.TemporaryDirectory(prefix="isosr-dag-") as tmp:
        configfile = Path(tmp) / "study.yaml"
        configfile.write_text(yaml.safe_dump(config, sort_keys=False))
        walls, cpus = [], []
        for _ in range(args.repeats):
            wall, cpu, jobs = dry_run(Path(tmp), "--snakefile", str(REPO / "Snakefile"),
                                      "--configfile", str(configfile))
            walls.append(wall)
            cpus.append(cpu)
        trivial = Path(tmp) / "trivial"
        trivial.mkdir()
        (trivial / "Snakefile").write_text(TRIVIAL_SNAKEFILE.format(pairs=jobs // 2))
        floor_walls = []
        for _ in range(args.repeats):
            floor_wall, _, floor_jobs = dry_run(trivial, "--snakefile", str(trivial / "Snakefile"))
            floor_walls.append(floor_wall)
        startup = statistics.median(startup_seconds() for _ in range(args.repeats))
    sizes = dataset_sizes(args.subjects)
    goal = 10 if args.subjects <= 100 else 60 if args.subjects <= 1000 else None
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    print(f"study: {args.subjects} subjects ({len(sizes)} datasets of {min(sizes)}-{max(sizes)}) "
          f"x {len(config['methods'])} methods ({', '.join(config['methods'])}) "
          f"x {len(SCENARIOS)} scenarios -> {jobs} jobs")
    print(f"dry run (parse + DAG), {args.repeats} runs: wall median {wall:.1f} s "
          f"(min {min(walls):.1f} s), CPU median {cpu:.1f} s (min {min(cpus):.1f} s); "
          f"{1000 * wall / jobs:.2f} ms wall, {1000 * cpu / jobs:.2f} ms CPU per job"
          + (f"; goal < {goal} s" if goal else ""))
    floor = statistics.median(floor_walls)
    print(f"Snakemake's floor, a trivial workflow of {floor_jobs} jobs: wall median {floor:.1f} s "
          f"({1000 * floor / floor_jobs:.2f} ms per job); isosr / floor: {wall / floor:.2f}")
    print(f"Snakemake's start-up (snakemake --version), in both: {startup:.1f} s; without it "
          f"isosr {wall - startup:.1f} s, floor {floor - startup:.1f} s")


if __name__ == "__main__":
    main()
