"""Run one method on one subject from files, and record what the fit cost (fit.json)."""

from __future__ import annotations

import platform
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from isosr.io import Grid, LRImage, load_nifti, save_json, save_nifti
from isosr.methods import create_method


def peak_memory_mb(device: str) -> float:
    """Peak memory of this process: CUDA allocator peak on a GPU, peak RSS on the CPU."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_fit(method: str, params: dict[str, Any] | None, lr_paths: dict[str, str | Path],
            acquisitions: dict[str, dict[str, Any]], mask_path: str | Path,
            output_paths: dict[str, str | Path], fit_json: str | Path, seed: int = 0) -> dict:
    """Fit ``method`` on the LR images, write each contrast on the mask's HR grid and fit.json."""
    mask, affine = load_nifti(mask_path)
    grid = Grid(tuple(mask.shape), affine, mask > 0)
    lr = {}
    for contrast, path in lr_paths.items():
        data, lr_affine = load_nifti(path)
        spec = acquisitions[contrast]
        lr[contrast] = LRImage(data, lr_affine, spec["view"], float(spec["thickness"]))
    model = create_method(method, params, seed=seed)
    start = time.perf_counter()
    predictions = model.fit_predict(lr, grid)
    wall = time.perf_counter() - start
    for contrast, path in output_paths.items():
        save_nifti(path, np.asarray(predictions[contrast], dtype=np.float32), affine)
    record = {
        **model.describe(),
        "wall_seconds": wall,
        "device": model.device,
        "peak_memory_mb": peak_memory_mb(model.device),
        "host": platform.node(),
        "contrasts": sorted(lr_paths),
        **model.history,
    }
    record.setdefault("epochs", None)
    save_json(fit_json, record)
    return record
