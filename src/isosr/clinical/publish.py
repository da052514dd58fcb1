"""One method's outputs on one session, published as BIDS derivatives with their sidecars."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from isosr.clinical.derivatives import sidecar, write_sidecar
from isosr.io import load_nifti, write_atomically
from isosr.masks import binary_mask


def bids_relative(path: str | Path) -> str:
    """A scan's path inside its BIDS dataset: from its 'sub-<label>' folder on."""
    parts = PurePath(path).parts
    starts = [i for i, part in enumerate(parts) if part.startswith("sub-")]
    return "/".join(parts[starts[0]:]) if starts else PurePath(path).name


def publish_outputs(*, outputs: Mapping[str, str | Path], images: Mapping[str, str | Path],
                    mask_path: str | Path, method: str, fit: Mapping[str, Any],
                    qc: Mapping[str, Any], alignment: Mapping[str, Any]) -> None:
    """Copy each contrast's output (``outputs``) to its derivatives path (``images``), each
    with a sidecar: the scans it came from (every contrast of the session: a multi-contrast
    method uses them all), the method, its profile and parameters, seed, device, wall time, the
    acquisition it was told and its quality control."""
    sources = [bids_relative(alignment["contrasts"][c]["source"])
               for c in sorted(alignment["contrasts"])]
    params = dict(fit.get("params") or {})
    mask_data, _ = load_nifti(mask_path)
    outside = ~binary_mask(mask_data, mask_path)
    for contrast, output in outputs.items():
        stripped = not np.any(load_nifti(output)[0][outside])
        image = Path(images[contrast])
        write_atomically(image, f".{image.name}.partial",
                         lambda partial, source=output: shutil.copyfile(source, partial))
        extra = {"told_acquisition": alignment["contrasts"][contrast]["told"],
                 "intensity_scale": alignment["contrasts"][contrast]["intensity_scale"],
                 "data_consistency": qc["contrasts"][contrast], "output_mi": qc["mi"],
                 "peak_memory_mb": fit.get("peak_memory_mb")}
        write_sidecar(image, sidecar(sources=sources, method=method,
                                     profile=params.get("profile"), parameters=params,
                                     seed=int(fit.get("seed", 0)), device=fit["device"],
                                     wall_seconds=float(fit["wall_seconds"]),
                                     skull_stripped=stripped, extra=extra))
