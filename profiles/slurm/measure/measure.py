"""Measure what every rule's job costs and write the table the cluster requests come from.

    python profiles/slurm/measure/measure.py [--resolution 4 --resolution 2] [--cores 2]
        [--out profiles/slurm/resources.yaml]

For each HR grid resolution it runs the whole workflow locally (Snakemake, ``--cores``) on an
embedded two-subject dataset (sub-01 tested, sub-02 trains the cohort methods), one scenario
(T1w axial + FLAIR coronal, slices twice the grid spacing thick), and every method that runs
offline (ECLARE, an external tool, is left out): the INRs with their ``fast`` profile, the
cohort methods with their ``cpu`` profile and few epochs (`MEASURED_METHODS`). Every script
job records its wall time, CPU time and peak resident memory (the kernel's ``ru_maxrss``;
sitecustomize.py beside this file); each fit and training also writes its own ``fit.json`` /
``train.json`` (``wall_seconds``, ``peak_memory_mb``, ``epochs``, ``device``), which the table
quotes next to the process figures. Per rule (per method for ``fit`` and ``train``) the table
keeps each measurement and a line through them in the grid's million voxels, ``base + per_mvox
x Mvox``, no lower than any measurement (`conservative_line`); workflow/rules/common.smk turns
the line into ``mem_mb`` and ``runtime`` requests with the table's headroom.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
MEASURED_METHODS = {
    "nearest": {},
    "cubic": {},
    "lrtv": {},
    "inr-single": {"profile": "fast"},
    "inr-vanilla": {"profile": "fast"},
    "inr-splithead": {"profile": "fast"},
    "arssr": {"profile": "cpu", "epochs": 2},
    "sa-inr": {"profile": "cpu", "epochs": 2},
    "dual-arbnet": {"profile": "cpu", "epochs": 2},
}
# table keys: stage rules by name, the evaluate_<contrast> rules as one, fits and trainings per
# method
REPORT_RULES = ("tables", "figure_qualitative", "figure_mi", "figure_metrics")
STAGES = ("fetch_embedded", "register_reference", "preprocess_contrast", "simulate",
          "segment_truth", "evaluate", "fit", "train")


def measurement_config(resolution_mm: float) -> dict:
    thickness = 2 * resolution_mm
    return {
        "seed": 0,
        "reference_method": "cubic",
        "datasets": {"measure": {
            "source": "embedded", "contrasts": ["T1w", "FLAIR"], "skullstrip": "deepbet",
            "resolution_mm": resolution_mm,
            "embedded": {"subjects": 2, "resolution_mm": resolution_mm, "lesions": 3},
            "split": {"train": ["02"]},
        }},
        "scenarios": {"measure": {"contrasts": {
            "T1w": {"view": "axial", "thickness": thickness},
            "FLAIR": {"view": "coronal", "thickness": thickness},
        }}},
        "methods": MEASURED_METHODS,
    }


def megavoxels(resolution_mm: float) -> float:
    """The HR grid size common.smk's hr_megavoxels gives (the MNI152 field of view)."""
    from isosr.data.templates import field_of_view_mm

    extent = np.asarray(field_of_view_mm("MNI152"), dtype=float)
    return float(np.prod(extent / resolution_mm)) / 1e6


def table_key(rule: str, wildcards: dict) -> tuple[str, str | None]:
    if rule.startswith("evaluate_"):
        return "evaluate", None
    if rule.startswith("fit_"):
        return "fit", wildcards["method"]
    if rule == "train":
        return "train", wildcards["method"]
    return rule, None


def run(resolution_mm: float, cores: int, workdir: Path) -> None:
    """Run the workflow at ``resolution_mm`` in ``workdir`` up to the evaluations (the tables
    and figures are local rules: never submitted to a cluster)."""
    workdir.mkdir(parents=True, exist_ok=True)
    configfile = workdir / "measure.yaml"
    configfile.write_text(yaml.safe_dump(measurement_config(resolution_mm), sort_keys=False))
    records = workdir / "jobs.jsonl"
    records.unlink(missing_ok=True)
    environment = {**os.environ, "ISOSR_MEASURE_FILE": str(records),
                   "PYTHONPATH": os.pathsep.join(
                       [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
                    "--directory", str(workdir), "--configfile", str(configfile),
                    "--cores", str(cores), "--forceall", "--omit-from", *REPORT_RULES],
                   env=environment, check=True)
    print(f"{resolution_mm} mm: workflow in {time.perf_counter() - start:.0f} s", file=sys.stderr)


def figures_of(resolution_mm: float, workdir: Path) -> dict:
    """Per table key the figures of the run in ``workdir``."""
    records = workdir / "jobs.jsonl"
    jobs = defaultdict(list)
    for line in records.read_text().splitlines():
        job = json.loads(line)
        if job["rule"] not in REPORT_RULES:  # measured by earlier runs up to the tables
            jobs[table_key(job["rule"], job["wildcards"])].append(job)
    records_of = {}  # (stage, method) -> the fit.json / train.json records
    for name, stage in (("fit.json", "fit"), ("train.json", "train")):
        for path in (workdir / "results").rglob(name):
            record = json.loads(path.read_text())
            records_of.setdefault((stage, record["method"]), []).append(record)
    size = megavoxels(resolution_mm)
    figures = {}
    for key, found in jobs.items():
        per_item = len(MEASURED_METHODS) if key[0] == "evaluate" else 1  # one job: every fit
        entry = {
            "resolution_mm": resolution_mm,
            "megavoxels": round(size, 4),
            "jobs": len(found),
            "threads": max(job["threads"] for job in found),
            "wall_seconds": round(max(job["wall_seconds"] for job in found) / per_item, 2),
            "cpu_seconds": round(max(job["cpu_seconds"] for job in found) / per_item, 2),
            "peak_mb": round(max(max(job["peak_rss_mb"], job["peak_child_rss_mb"])
                                 for job in found), 1),
        }
        own = records_of.get(key, [])
        if own:
            entry["record"] = {  # what the method's own fit.json / train.json says
                "wall_seconds": round(max(r["wall_seconds"] for r in own), 2),
                "peak_memory_mb": round(max(r["peak_memory_mb"] for r in own), 1),
                "device": sorted({r["device"] for r in own}),
                "epochs": max((r.get("epochs") or 0) for r in own) or None,
                "profile": own[0].get("profile") or own[0].get("params", {}).get("profile"),
            }
        figures[key] = entry
    return figures


def conservative_line(points: list[tuple[float, float]]) -> list[float]:
    """[base, slope] of a line in megavoxels through the measured points' trend, raised so that
    it lies on or above every point; slope >= 0 (a cost never falls with the grid size)."""
    xs = np.array([x for x, _ in points])
    ys = np.array([y for _, y in points])
    slope = float(np.polyfit(xs, ys, 1)[0]) if len(set(xs)) > 1 else 0.0
    slope = max(slope, 0.0)
    base = max(float(np.max(ys - slope * xs)), 0.0)
    return [round(base, 1), round(slope, 1)]


def own_seconds(figures: dict) -> float:
    """The seconds a job needs on cores of its own: its CPU seconds over its threads (the wall
    time of a shared machine also counts the other processes' turns)."""
    return figures["cpu_seconds"] / figures["threads"]


def work_units(method: str | None, stage: str) -> float | None:
    """Epochs x steps per epoch of a measured training (None: the cost does not scale)."""
    if method is None or (stage == "fit" and method in ("arssr", "sa-inr", "dual-arbnet")):
        return None  # a cohort method's fit only predicts
    from isosr.methods import method_spec

    params = method_spec(method).make_params(dict(MEASURED_METHODS[method]))
    epochs = getattr(params, "epochs", None)
    if epochs is None:
        return None
    return float(epochs * (getattr(params, "steps_per_epoch", None) or 1))


def table(measurements: list[dict], resolutions: list[float], cores: int) -> dict:
    keys = sorted({key for figures in measurements for key in figures},
                  key=lambda k: (STAGES.index(k[0]), k[1] or ""))
    rules: dict = {}
    for stage, method in keys:
        found = [figures[(stage, method)] for figures in measurements if (stage, method) in figures]
        peak = [(f["megavoxels"], max(f["peak_mb"], f.get("record", {}).get("peak_memory_mb", 0)))
                for f in found]
        entry = {
            "model": {"mem_mb": conservative_line(peak),
                      "seconds": conservative_line([(f["megavoxels"], own_seconds(f))
                                                    for f in found])},
            "measured": found,
        }
        units = work_units(method, stage)
        if units is not None:
            entry["work"] = units  # epochs x steps per epoch the seconds were measured with
        if method is None:
            rules[stage] = entry
        else:
            rules.setdefault(stage, {})[method] = entry
    return {
        "measured_with": {
            "command": "python profiles/slurm/measure/measure.py "
                       + " ".join(f"--resolution {r:g}" for r in resolutions)
                       + f" --cores {cores}",
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d"),
            "methods": MEASURED_METHODS,
        },
        "rules": rules,
    }


HEADER = """\
# Measured cost of every rule's job: the source of each job's mem_mb and runtime request
# (workflow/rules/common.smk: stage_resources, method_resources). Written by
#   {command}
# on {host} ({cpus} CPUs, shared with other work), {date}: the whole workflow up to the metrics on
# an embedded two-subject dataset at each HR grid resolution (one scenario, slices twice the grid
# spacing thick; the methods and settings under measured_with), every job's wall time, CPU time
# and peak resident memory as the kernel counts them (ru_maxrss, all threads and children), and
# each fit's and training's own fit.json / train.json figures under `record`. `model` is a line in
# the HR grid's million voxels (MNI152 field of view / resolution_mm^3: 4 mm 0.14, 2 mm 1.08,
# 1 mm 8.7 Mvox), [base, per_mvox], on or above every measurement: mem_mb from the peak memory,
# seconds from CPU seconds / threads (the time on cores of its own; the wall times here, up to 5x
# longer, also count other processes' turns on the shared machine). A job requests
#   mem_mb  = max(minimum.mem_mb, headroom.memory x model.mem_mb)
#   runtime = max(minimum.runtime_minutes, headroom.runtime x model.seconds x scale / 60)
# where scale is, for a fit or training whose `work` (epochs x steps per epoch) was measured, the
# configured work over the measured one (never below 1); with budget_seconds the seconds are the
# budget plus two configured epochs; for evaluate (figures per fit: a job evaluates every method's
# fit of a subject x scenario) the number of methods. Measured on CPUs: a GPU fit is faster (its
# request is an upper bound) and its GPU memory is not requested (SLURM gives the whole card).
# FastSurfer (the other segmentation back-end) is not measured: give segment_truth and evaluate_*
# more with --set-resources. A method missing here (ECLARE, an external tool) requests the largest
# measured fit's or training's memory and unmeasured_method_runtime_minutes; a job that requests a
# GPU at least gpu_job_min_mem_mb (both not measured). Edit these settings here, or measure again.
"""

SETTINGS = {
    "headroom": {"memory": 1.5, "runtime": 3.0},
    "minimum": {"mem_mb": 1000, "runtime_minutes": 10},
    # not measured (no GPU on the measuring machine): a job that requests a GPU loads CUDA's
    # libraries and context into host memory too; its request is at least this
    "gpu_job_min_mem_mb": 4000,
    # not measured: the runtime of a method without an entry below (ECLARE: an external tool
    # whose cost follows its n_patches, 1e6 at its paper profile, on a GPU); its memory is the
    # largest measured method's
    "unmeasured_method_runtime_minutes": 240,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=float, action="append", dest="resolutions")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--out", type=Path, default=HERE.parent / "resources.yaml")
    parser.add_argument("--parse-only", action="store_true",
                        help="read the jobs of earlier runs in --workdir, run nothing")
    args = parser.parse_args()
    resolutions = args.resolutions or [4.0, 2.0]
    base = args.workdir or Path(tempfile.mkdtemp(prefix="isosr-measure-"))
    measurements = []
    for resolution in resolutions:
        workdir = base / f"{resolution:g}mm"
        if not args.parse_only:
            run(resolution, args.cores, workdir)
        measurements.append(figures_of(resolution, workdir))
    result = table(measurements, resolutions, args.cores)
    text = HEADER.format(**result["measured_with"]) + yaml.safe_dump(
        {**SETTINGS, **result}, sort_keys=False, width=100, default_flow_style=None)
    args.out.write_text(text)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
