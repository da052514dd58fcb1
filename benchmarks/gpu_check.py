"""GPU readiness in one call: every method's device path, the split-head INR at full size, and
the cohort methods' training speed; one JSON and a plain-text table.

1. Every registered method fits (a cohort method trains a few steps, then predicts) a tiny
   embedded case (6 mm brain, T1w axial + T2w coronal, 12 mm slices) with its ``device`` set to
   ``--device`` where it has one; checked: every output finite and on the grid's shape. On
   ``cuda`` the same fit also runs on the CPU: its shapes must match, the largest absolute
   difference is information only. ECLARE runs only where its own environment is installed.
2. The ``paper`` and the ``fast`` inr-splithead on an embedded brain (cuda: 1 mm, 4 mm slices,
   50 and 4 epochs, stopped at an epoch boundary past a time budget and then projected; cpu:
   10 mm, 20 mm slices, 2 epochs each): seconds to the full schedule and per epoch, peak
   memory, PSNR of each contrast inside the brain. The paper fit never stops early
   (``mi_tolerance`` 0: the MI is still measured every epoch).
3. Steps per second of each cohort method's ``paper`` profile (cuda: 2 mm subjects, 2 epochs
   of 10 steps; cpu: tiny crops, 2 epochs of 2 steps), from the last epoch (the first warms up).

    python benchmarks/gpu_check.py [--device auto|cuda|cpu] [--out gpu_check.json] \
        [--skip METHOD ...]     # e.g. --skip eclare: 20-60 s per contrast on a CPU

Progress goes to stderr, the table to stdout. Exits 1 (after writing the JSON) when any check
fails: an error, a non-finite output or loss, a wrong shape. Timings never fail it. On one GPU
the whole run takes about 8 minutes at most; ``--device cpu`` well under a minute on one core.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from embedded_case import embedded_case

from isosr.fit import peak_host_memory_mb
from isosr.io import Grid, LRImage
from isosr.methods import create_method, method_names, method_spec
from isosr.methods.base import FitResult, TrainingContext, TrainingPair
from isosr.methods.device import select_device
from isosr.methods.eclare.params import DEFAULT_EXECUTABLE
from isosr.metrics import psnr
from isosr.simulate import Acquisition

REPO = Path(__file__).resolve().parents[1]
VIEWS = {"T1w": "axial", "T2w": "coronal"}
TINY_MM, TINY_THICKNESS = 6.0, 12.0
NO_GPU = "cpu (no GPU path)"
# Part 1: a few seconds per method on one core
TINY_INR = {"profile": "fast", "hash_log2_table_size": 14, "epochs": 2, "batch_size": 1024}
TINY_COHORT = {"profile": "cpu", "epochs": 1, "steps_per_epoch": 2}
TINY_PARAMS: dict[str, dict[str, Any]] = {
    "lrtv": {"iterations": 2, "gradient_steps": 10},
    "eclare": {"profile": "cpu", "n_patches": 64, "batch_size": 16,
               "executable": str(REPO / DEFAULT_EXECUTABLE)},
    "inr-single": TINY_INR, "inr-vanilla": TINY_INR, "inr-splithead": TINY_INR,
}
# Part 3 on the CPU: the paper's networks on tiny crops
TINY_CROPS: dict[str, dict[str, Any]] = {
    "arssr": {"lr_patch": 4, "points_per_patch": 256, "patches_per_step": 1},
    "sa-inr": {"lr_patch": 8, "lr_slices": 2, "points_per_patch": 256},
    "dual-arbnet": {"lr_patch": 8, "patches_per_step": 1},
}


@dataclass(frozen=True)
class Sizes:
    """What each part runs on one device."""

    brain_mm: float  # part 2's embedded brain: grid spacing and slice thickness
    brain_thickness: float
    paper_epochs: int | None  # None: the profile's own
    fast_epochs: int | None
    fit_budget_s: dict[str, float]  # by profile: no epoch starts past it (the rest: projected)
    cohort_mm: float  # part 3's training subjects: grid spacing and slice thickness
    cohort_thickness: float
    cohort_steps: int  # per epoch, 2 epochs
    crops: dict[str, dict[str, Any]] = field(default_factory=dict)  # paper-profile overrides


SIZES = {"cuda": Sizes(1.0, 4.0, None, None, {"paper": 180.0, "fast": 60.0}, 2.0, 4.0, 10),
         "cpu": Sizes(10.0, 20.0, 2, 2, {}, TINY_MM, TINY_THICKNESS, 2, TINY_CROPS)}


@dataclass
class Case:
    """One embedded subject: HR truth, LR scans and grid, and (cohort methods) training pairs."""

    hr: dict[str, np.ndarray]
    lr: dict[str, LRImage]
    grid: Grid
    training: list[TrainingPair] = field(default_factory=list)


def progress(message: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@functools.cache
def subject(name: str, mm: float, thickness: float) -> Case:
    """Embedded subject ``name`` on a ``mm`` grid, T1w axial and T2w coronal slices."""
    acquisitions = {c: Acquisition(view, thickness) for c, view in VIEWS.items()}
    return Case(*embedded_case(name, acquisitions, mm))


def cohort(mm: float, thickness: float) -> Case:
    """Subject 01, with subjects 02 and 03 as training pairs."""
    pairs = [TrainingPair(n, subject(n, mm, thickness).hr, subject(n, mm, thickness).grid,
                          subject(n, mm, thickness).lr) for n in ("02", "03")]
    test = subject("01", mm, thickness)
    return Case(test.hr, test.lr, test.grid, pairs)


def has_device(name: str) -> bool:
    return "device" in {f.name for f in fields(method_spec(name).params)}


@contextlib.contextmanager
def measured(device: str) -> Iterator[dict[str, float]]:
    """Wall seconds and peak memory (MB) of the block: the CUDA allocator's on cuda, the
    process's (and its tools') peak RSS so far on the CPU."""
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    cost: dict[str, float] = {}
    start = time.perf_counter()
    yield cost
    cost["wall_seconds"] = time.perf_counter() - start
    cost["peak_memory_mb"] = (torch.cuda.max_memory_allocated() / 2**20 if device == "cuda"
                              else peak_host_memory_mb())


def run_method(name: str, params: dict[str, Any], case: Case) -> FitResult:
    """Fit (subject method) or train then predict (cohort method) ``name`` on ``case``; the
    method's own output goes to stderr."""
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as folder, \
            contextlib.redirect_stdout(sys.stderr):
        model = create_method(name, params, seed=0)
        if method_spec(name).kind == "subject":
            return model.fit_predict(case.lr, case.grid)
        model_file = Path(folder) / "model.pt"
        model.train(case.training, TrainingContext(model_file))
        return model.predict(model_file, case.lr, case.grid)


def shapes(images: dict[str, np.ndarray]) -> dict[str, list[int]]:
    return {c: list(np.shape(image)) for c, image in sorted(images.items())}


def check_outputs(images: dict[str, np.ndarray], case: Case) -> dict[str, Any]:
    """Finite outputs, one per contrast, each on the grid's shape."""
    return {"finite": all(bool(np.isfinite(image).all()) for image in images.values()),
            "geometry_ok": sorted(images) == sorted(case.lr) and all(
                tuple(np.shape(image)) == tuple(case.grid.shape) for image in images.values()),
            "output_shapes": shapes(images), "grid_shape": list(case.grid.shape)}


def method_check(name: str, device: str, case: Case, skip: list[str]) -> dict[str, Any]:
    """Part 1 for one method: its fit on ``device`` (where it has one), checked, and on cuda
    the same fit on the CPU beside it."""
    spec = method_spec(name)
    if name in skip:
        return {"kind": spec.kind, "status": "skipped: --skip"}
    params = dict(TINY_PARAMS.get(name, TINY_COHORT if spec.kind == "cohort" else {}))
    if name == "eclare" and not Path(params["executable"]).is_file():
        return {"kind": spec.kind, "status": f"skipped: its environment ({DEFAULT_EXECUTABLE}) "
                "is not installed (envs/install-eclare.sh)"}
    on = device if has_device(name) else "cpu"
    if has_device(name):
        params["device"] = device
    with measured(on) as cost:
        result = run_method(name, params, case)
    entry = {"kind": spec.kind, "params": params,
             "device": result.device if spec.gpu else NO_GPU, **cost,
             **check_outputs(result.images, case), "cpu_reference": None}
    if device == "cuda" and has_device(name):
        with measured("cpu") as reference_cost:
            reference = run_method(name, {**params, "device": "cpu"}, case)
        same = shapes(reference.images) == entry["output_shapes"]
        entry["geometry_ok"] = entry["geometry_ok"] and same
        entry["cpu_reference"] = {
            **reference_cost, "same_shapes": same,
            "max_abs_difference": max(float(np.max(np.abs(result.images[c] - reference.images[c])))
                                      for c in result.images) if same else None}
    entry["status"] = verdict(entry)
    return entry


def verdict(entry: dict[str, Any]) -> str:
    problems = [text for key, text in (("finite", "non-finite output"),
                                       ("geometry_ok", "wrong geometry")) if not entry[key]]
    return "FAILED: " + ", ".join(problems) if problems else "ok"


def splithead_check(profile: str, device: str, case: Case, epochs: int | None,
                    budget: float | None) -> dict[str, Any]:
    """Part 2 for one profile: the split-head INR trained epoch by epoch (no epoch starts past
    ``budget`` seconds), then predicted; time, memory and PSNR against the HR truth."""
    params: dict[str, Any] = {"profile": profile, "device": device, "mi_tolerance": 0.0}
    if epochs is not None:
        params["epochs"] = epochs
    model = create_method("inr-splithead", params, seed=0)
    with measured(device) as cost:
        fit = model.prepare(case.lr, case.grid, select_device(device), seed=0)
        setup = time.perf_counter()
        with contextlib.closing(fit.trainer.epochs()) as trained:
            for _ in trained:
                if budget is not None and time.perf_counter() - setup > budget:
                    break
        training = time.perf_counter() - setup
        prediction_start = time.perf_counter()
        images = fit.predict(case.grid)
        prediction = time.perf_counter() - prediction_start
    records, target = fit.trainer.records, model.params.epochs
    per_epoch = training / len(records)
    entry = {"params": params, "grid_shape": list(case.grid.shape),
             "lr_voxels": len(fit.trainer.samples), "epochs_run": len(records),
             "epochs_target": target, **cost, "training_seconds": training,
             "seconds_per_epoch": per_epoch,
             "training_seconds_per_epoch": float(np.mean([r.seconds for r in records])),
             "mi_seconds_per_epoch": float(np.mean([r.mi_seconds for r in records])),
             "seconds_to_target": training if len(records) == target else per_epoch * target,
             "projected": len(records) < target, "prediction_seconds": prediction,
             "final_loss": records[-1].loss,
             "psnr": {c: psnr(images[c], case.hr[c], case.grid.mask) for c in sorted(images)},
             **check_outputs(images, case)}
    entry["status"] = verdict(entry)
    return entry


def cohort_rate(name: str, device: str, sizes: Sizes, case: Case) -> dict[str, Any]:
    """Part 3 for one method: its paper profile trained 2 epochs of ``sizes.cohort_steps``
    steps; steps per second of the last epoch, per contrast."""
    params = {"profile": "paper", "device": device, "epochs": 2,
              "steps_per_epoch": sizes.cohort_steps, **sizes.crops.get(name, {})}
    with measured(device) as cost, tempfile.TemporaryDirectory(prefix="gpu-check-") as folder, \
            contextlib.redirect_stdout(sys.stderr):
        result = create_method(name, params, seed=0).train(
            case.training, TrainingContext(Path(folder) / "model.pt"))
    per_contrast = result.history["per_contrast"]
    rates = {c: h["steps_per_epoch"] / h["epoch_seconds"][-1] for c, h in per_contrast.items()}
    losses = [value for curve in result.history["loss"].values() for value in curve]
    entry = {"params": params, "device": result.device, **cost,
             "steps_per_second": float(np.mean(list(rates.values()))),
             "steps_per_second_per_contrast": rates,
             "finite": bool(np.isfinite(losses).all())}
    entry["status"] = "ok" if entry["finite"] else "FAILED: non-finite loss"
    return entry


def guarded(label: str, job: Callable[[], dict[str, Any]], failures: list[str]
            ) -> dict[str, Any]:
    """``job``'s entry, with any error (a failed check) as its status; failures collected."""
    progress(f"{label} ...")
    try:
        entry = job()
    except Exception as error:  # a rotted path: reported, and the script fails at the end
        entry = {"status": f"FAILED: {type(error).__name__}: {error}".splitlines()[0][:300]}
    if entry["status"].startswith("FAILED"):
        failures.append(f"{label}: {entry['status']}")
    progress(f"{label}: {entry['status']}"
             + (f" ({entry['wall_seconds']:.1f} s)" if "wall_seconds" in entry else ""))
    return entry


def number(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(report: dict[str, Any]) -> str:
    """The report as plain text."""
    lines = [f"isosr GPU check on {report['device']} ({report['device_name']}), torch "
             f"{report['torch']}, {report['date']}, {report['wall_seconds']:.0f} s",
             "", f"1. every method on the tiny case ({report['tiny_case']})",
             f"{'method':14s} {'device':18s} {'wall s':>7s} {'peak MB':>9s} {'finite':>6s} "
             f"{'geom':>5s} {'max|d| vs cpu':>13s}  status"]
    yes = {True: "yes", False: "NO", None: "-"}
    for name, e in report["methods"].items():
        reference = e.get("cpu_reference") or {}
        lines.append(f"{name:14s} {e.get('device', '-'):18s} {number(e.get('wall_seconds')):>7s} "
                     f"{number(e.get('peak_memory_mb'), 0):>9s} {yes[e.get('finite')]:>6s} "
                     f"{yes[e.get('geometry_ok')]:>5s} "
                     f"{number(reference.get('max_abs_difference'), 4):>13s}  {e['status']}")
    lines += ["", f"2. inr-splithead on an embedded brain ({report['brain_case']})",
              f"{'profile':8s} {'epochs':>7s} {'s/epoch':>8s} {'s total':>8s} {'peak MB':>9s} "
              f"{'PSNR dB':>16s}  status"]
    for profile, e in report["splithead"].items():
        scores = " ".join(f"{c} {v:.2f}" for c, v in e.get("psnr", {}).items()) or "-"
        epochs = f"{e.get('epochs_run', '-')}/{e.get('epochs_target', '-')}"
        total = number(e.get("seconds_to_target")) + ("*" if e.get("projected") else "")
        lines.append(f"{profile:8s} {epochs:>7s} {number(e.get('seconds_per_epoch'), 2):>8s} "
                     f"{total:>8s} {number(e.get('peak_memory_mb'), 0):>9s} {scores:>16s}  "
                     f"{e['status']}")
    if any(e.get("projected") for e in report["splithead"].values()):
        lines.append("* projected from the epochs run within the time budget")
    lines += ["", f"3. cohort methods' paper profile, training steps ({report['cohort_case']})",
              f"{'method':14s} {'device':8s} {'steps/s':>8s} {'peak MB':>9s}  status"]
    for name, e in report["cohort_steps"].items():
        lines.append(f"{name:14s} {e.get('device', '-'):8s} "
                     f"{number(e.get('steps_per_second'), 2):>8s} "
                     f"{number(e.get('peak_memory_mb'), 0):>9s}  {e['status']}")
    lines += ["", "FAILED: " + "; ".join(report["failures"]) if report["failures"]
              else "all checks passed"]
    return "\n".join(lines)


def describe(case: Case, mm: float, thickness: float) -> str:
    shape = "x".join(str(s) for s in case.grid.shape)
    return f"{mm:g} mm grid {shape}, T1w axial + T2w coronal {thickness:g} mm slices"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    parser.add_argument("--skip", nargs="+", default=[], choices=method_names(),
                        metavar="METHOD", help="methods part 1 leaves out")
    parser.add_argument("--threads", type=int,
                        help="PyTorch CPU threads (default: 1 on cpu, every core on cuda)")
    args = parser.parse_args()
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" \
        else args.device
    if device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: PyTorch sees no CUDA device here")
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # isosr's deterministic mode
    torch.set_num_threads(args.threads or (1 if device == "cpu" else os.cpu_count() or 1))
    sizes, start, failures = SIZES[device], time.perf_counter(), []
    progress(f"device {device}; simulating the embedded subjects")
    tiny = cohort(TINY_MM, TINY_THICKNESS)
    brain = subject("01", sizes.brain_mm, sizes.brain_thickness)
    training = cohort(sizes.cohort_mm, sizes.cohort_thickness)
    report: dict[str, Any] = {
        "device": device, "torch": torch.__version__, "python": platform.python_version(),
        "device_name": (torch.cuda.get_device_name(0) if device == "cuda"
                        else platform.processor() or platform.machine()),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(), "threads": torch.get_num_threads(), "sizes": asdict(sizes),
        "tiny_case": describe(tiny, TINY_MM, TINY_THICKNESS),
        "brain_case": describe(brain, sizes.brain_mm, sizes.brain_thickness),
        "cohort_case": describe(training, sizes.cohort_mm, sizes.cohort_thickness)
        + ", 2 training subjects"}
    report["methods"] = {name: guarded(f"1. {name}", functools.partial(
        method_check, name, device, tiny, args.skip), failures) for name in method_names()}
    epochs = {"paper": sizes.paper_epochs, "fast": sizes.fast_epochs}
    report["splithead"] = {profile: guarded(f"2. inr-splithead {profile}", functools.partial(
        splithead_check, profile, device, brain, count, sizes.fit_budget_s.get(profile)), failures)
        for profile, count in epochs.items()}
    cohort_methods = [n for n in method_names() if method_spec(n).kind == "cohort"]
    report["cohort_steps"] = {name: guarded(f"3. {name}", functools.partial(
        cohort_rate, name, device, sizes, training), failures) for name in cohort_methods}
    report["failures"] = failures
    report["wall_seconds"] = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    progress(f"wrote {args.out}")
    print(table(report), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
