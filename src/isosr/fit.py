"""Run one method on one subject from files, and record what the fit cost (fit.json)."""

from __future__ import annotations

import platform
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from isosr.io import Grid, LRImage, load_nifti, save_json, save_nifti
from isosr.methods import create_method


def peak_host_memory_mb() -> float:
    """Peak resident memory of this process or of the largest tool it ran (an external
    method's command); ru_maxrss: KiB on Linux, bytes on macOS."""
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def peak_gpu_memory_mb(device: str) -> float | None:
    """Peak memory held by PyTorch's CUDA allocator since the fit started; None off the GPU."""
    if not device.startswith("cuda"):
        return None
    return torch.cuda.max_memory_reserved() / 2**20


def run_fit(method: str, params: dict[str, Any] | None, lr_paths: dict[str, str | Path],
            acquisitions: dict[str, dict[str, Any]], mask_path: str | Path,
            output_paths: dict[str, str | Path], fit_json: str | Path, seed: int = 0,
            threads: int | None = None, checkpoint_dir: str | Path | None = None) -> dict:
    """Fit ``method`` on the LR images, write each contrast on the mask's HR grid and fit.json.

    ``threads`` caps PyTorch's CPU threads. A method that trains checkpoints into
    ``checkpoint_dir`` and resumes from it when a killed fit is run again; the directory is
    removed once the outputs and fit.json are written.
    """
    mask, affine = load_nifti(mask_path)
    grid = Grid(tuple(mask.shape), affine, mask > 0)
    lr = {}
    for contrast, path in lr_paths.items():
        data, lr_affine = load_nifti(path)
        spec = acquisitions[contrast]
        lr[contrast] = LRImage(data, lr_affine, spec["view"], float(spec["thickness"]),
                               spec.get("model", "slice-profile"))
    model = create_method(method, params, seed=seed)
    if threads is not None:
        torch.set_num_threads(threads)
    if checkpoint_dir is not None:
        model.checkpoint_dir = Path(checkpoint_dir)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    predictions = model.fit_predict(lr, grid)
    wall = time.perf_counter() - start
    for contrast, path in output_paths.items():
        save_nifti(path, np.asarray(predictions[contrast], dtype=np.float32), affine)
    host, gpu = peak_host_memory_mb(), peak_gpu_memory_mb(model.device)
    record = {
        **model.describe(),
        "wall_seconds": wall,
        "device": model.device,
        "peak_memory_mb": host if gpu is None else gpu,  # of the device that did the work
        "peak_host_memory_mb": host,
        "peak_gpu_memory_mb": gpu,
        "threads": torch.get_num_threads(),
        "host": platform.node(),
        "contrasts": sorted(lr_paths),
        **model.history,
    }
    record.setdefault("epochs", None)
    save_json(fit_json, record)
    if checkpoint_dir is not None:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return record
