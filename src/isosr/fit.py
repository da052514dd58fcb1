"""Run a method from files and record what it cost: one subject's fit (fit.json), or the
training of a cohort method on the training subjects (model file + train.json)."""

from __future__ import annotations

import platform
import resource
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from isosr.checkpoint_dir import check_checkpoint_dir, checkpoint_folder
from isosr.io import (
    Grid,
    LRImage,
    check_field_of_view,
    load_nifti,
    save_json,
    save_nifti,
)
from isosr.masks import binary_mask, check_grid_resolves
from isosr.methods import create_method, method_spec
from isosr.methods.base import TrainingContext, TrainingPair
from isosr.methods.contrast_params import check_parameter_contrasts


def peak_host_memory_mb() -> float:
    """Peak resident memory of this process or of the largest tool it ran (an external
    method's command); ru_maxrss: KiB on Linux, bytes on macOS."""
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def loaded_torch() -> ModuleType | None:
    """PyTorch when this process has imported it (a PyTorch method's implementation does, when
    the method is created), else None: a NumPy method's job never pays PyTorch's import."""
    return sys.modules.get("torch")


def peak_gpu_memory_mb(device: str) -> float | None:
    """Peak memory held by PyTorch's CUDA allocator since the fit started; None off the GPU."""
    torch = loaded_torch()
    if torch is None or not device.startswith("cuda"):
        return None
    return torch.cuda.max_memory_reserved() / 2**20


def load_grid(mask_path: str | Path) -> Grid:
    """The HR grid of a subject: the brain mask's shape and affine, with the mask."""
    data, affine = load_nifti(mask_path)
    return Grid(tuple(data.shape), affine, binary_mask(data, mask_path))


def load_lr(lr_paths: Mapping[str, str | Path], acquisitions: Mapping[str, Mapping[str, Any]],
            grid: Grid, mask_path: str | Path) -> dict[str, LRImage]:
    """Every contrast's LR scan with its acquisition (view, slice thickness); a scan that
    does not cover ``grid`` (from the mask at ``mask_path``), or is finer than it, is refused
    before any work."""
    lr = {}
    for contrast, path in lr_paths.items():
        data, affine = load_nifti(path)
        check_field_of_view(path, data.shape, affine, grid)
        spec = acquisitions[contrast]
        lr[contrast] = LRImage(data, affine, spec["view"], float(spec["thickness"]),
                               spec.get("model", "slice-profile"), float(spec.get("noise", 0.0)))
    check_grid_resolves(mask_path, grid.affine,
                        {c: (lr_paths[c], image.affine) for c, image in lr.items()})
    return lr


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of the tools it waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    tools = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + tools.ru_utime + tools.ru_stime


def _measured(job: Callable[[], Any], threads: int | None) -> tuple[Any, float, float]:
    """Run ``job`` with PyTorch's CPU threads capped; its result, wall and CPU seconds."""
    torch = loaded_torch()
    if torch is not None and threads is not None:
        torch.set_num_threads(threads)
    if torch is not None and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start, cpu = time.perf_counter(), cpu_seconds()
    result = job()
    return result, time.perf_counter() - start, cpu_seconds() - cpu


def _cost(device: str, wall: float, cpu: float, threads: int | None) -> dict[str, Any]:
    """Wall and CPU time, device, peak memory (of the device that did the work, and of the
    host) and CPU threads (PyTorch's; for a method without PyTorch, the job's ``threads``)."""
    host, gpu = peak_host_memory_mb(), peak_gpu_memory_mb(device)
    torch = loaded_torch()
    return {"wall_seconds": wall, "cpu_seconds": cpu, "device": device,
            "peak_memory_mb": host if gpu is None else gpu,
            "peak_host_memory_mb": host, "peak_gpu_memory_mb": gpu,
            "threads": threads if torch is None else torch.get_num_threads(),
            "host": platform.node()}


def _checked(checkpoint_dir: str | Path | None) -> Path | None:
    """The checkpoint folder as a Path, refused before any work if it exists and is not isosr's
    own (``isosr.checkpoint_dir``)."""
    if checkpoint_dir is None:
        return None
    check_checkpoint_dir(Path(checkpoint_dir), "checkpoint folder")
    return Path(checkpoint_dir)


def run_fit(*, method: str, params: dict[str, Any] | None, lr_paths: Mapping[str, str | Path],
            acquisitions: Mapping[str, Mapping[str, Any]], mask_path: str | Path,
            output_paths: Mapping[str, str | Path], fit_json: str | Path, seed: int = 0,
            threads: int | None = None, checkpoint_dir: str | Path | None = None,
            model_file: str | Path | None = None,
            intensity_scales: Mapping[str, float] | None = None) -> dict:
    """Fit ``method`` on one subject's LR images (a cohort method: predict with its trained
    ``model_file``); write each contrast on the mask's HR grid and fit.json.

    ``intensity_scales`` (a clinical scan, in its own units): the method sees each LR image
    divided by its contrast's scale, and its output is multiplied back.

    A method that trains checkpoints into ``checkpoint_dir`` (an isosr checkpoint folder, see
    ``isosr.checkpoint_dir``) and resumes from it when a killed fit is run again; isosr's files
    in it are removed once the outputs and fit.json are written.
    """
    check_parameter_contrasts(method, params or {}, lr_paths, "--param")
    checkpoints = _checked(checkpoint_dir)
    grid = load_grid(mask_path)
    lr = load_lr(lr_paths, acquisitions, grid, mask_path)
    scales = dict.fromkeys(lr, 1.0) | dict(intensity_scales or {})
    lr = {c: replace(image, data=image.data / np.float32(scales[c])) for c, image in lr.items()}
    model = create_method(method, params, seed=seed, checkpoint_dir=checkpoints)
    cohort = method_spec(method).kind == "cohort"
    if cohort and model_file is None:
        raise ValueError(f"{method} is a cohort method: its trained model file is needed")
    # the folder is created once the inputs and parameters are known to be valid
    with checkpoint_folder(checkpoints):
        if cohort:
            result, wall, cpu = _measured(
                lambda: model.predict(Path(model_file), lr, grid), threads)
        else:
            result, wall, cpu = _measured(lambda: model.fit_predict(lr, grid), threads)
        for contrast, path in output_paths.items():
            image = np.asarray(result.images[contrast], dtype=np.float32)
            save_nifti(path, image * np.float32(scales[contrast]), grid.affine)
        record = {**model.describe(), **_cost(result.device, wall, cpu, threads),
                  "contrasts": sorted(lr_paths),
                  "model_file": None if model_file is None else str(model_file),
                  "epochs": None, **result.history}
        if intensity_scales is not None:
            record["intensity_scales"] = scales
        save_json(fit_json, record)
    return record


def run_train(*, method: str, params: dict[str, Any] | None,
              subjects: Mapping[str, Mapping[str, Any]],
              acquisitions: Mapping[str, Mapping[str, Any]], model_file: str | Path,
              train_json: str | Path, seed: int = 0, threads: int | None = None,
              checkpoint_dir: str | Path | None = None) -> dict:
    """Train cohort method ``method`` on the training subjects and write its model and
    train.json. ``subjects`` maps each training subject to ``{"hr": {contrast: path},
    "lr": {contrast: path}, "mask": path}``; the checkpoints are removed once both are written.
    """
    checkpoints = _checked(checkpoint_dir)
    pairs = []
    for subject, files in subjects.items():
        grid = load_grid(files["mask"])
        hr = {c: load_nifti(path)[0] for c, path in files["hr"].items()}
        lr = load_lr(files["lr"], acquisitions, grid, files["mask"])
        pairs.append(TrainingPair(subject, hr, grid, lr))
    model = create_method(method, params, seed=seed, checkpoint_dir=checkpoints)
    context = TrainingContext(Path(model_file), checkpoints)
    Path(model_file).parent.mkdir(parents=True, exist_ok=True)
    with checkpoint_folder(checkpoints):
        result, wall, cpu = _measured(lambda: model.train(pairs, context), threads)
        record = {**model.describe(), **_cost(result.device, wall, cpu, threads),
                  "training_subjects": sorted(subjects), "contrasts": sorted(acquisitions),
                  "epochs": None, **result.history}
        save_json(train_json, record)
    return record
