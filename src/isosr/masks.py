"""What isosr takes as a brain mask, and the intensity scale its metrics assume.

A mask is binary: every voxel is exactly 0 (outside) or 1 (brain), in any numeric dtype, and at
least one voxel is 1. Anything else (labels 0/2, a probability map, a mask scaled by 1e-6) is
refused naming the file and its values, rather than guessed at: threshold a probabilistic mask
yourself. A mask that defines a fit's HR grid must be at least as fine as every LR scan's finest
spacing (a coarser grid would lose detail the scans have).

Intensities: PSNR (data range 1), SSIM and the 32-bin MI histograms are defined on [0, 1], the
scale of isosr's preprocessing (0.5th-99.5th percentile inside the mask mapped to [0, 1]). A
ground truth must lie in [0, 1] inside the mask (to within ``SCALE_TOLERANCE``); a prediction is
clipped to [0, 1] (an interpolator's or a network's overshoot), but one whose 1st-99th percentile
range inside the mask leaves [-1, 2] is on another scale and is refused, naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from isosr.io import InputError, voxel_spacing

SCALE_TOLERANCE = 1e-3
PREDICTION_BOUNDS = (-1.0, 2.0)
SPACING_TOLERANCE = 1e-3  # relative


def binary_mask(data: np.ndarray, path: str | Path) -> np.ndarray:
    """The boolean mask of ``data`` read from ``path``; refused unless every voxel is 0 or 1 and
    some voxel is 1."""
    other = (data != 0) & (data != 1)
    if other.any():
        values = np.unique(data[other])
        shown = ", ".join(f"{v:.6g}" for v in values[:3]) + (", ..." if len(values) > 3 else "")
        raise InputError(f"{path}: not a binary mask: {int(other.sum())} voxels are neither 0 nor "
                         f"1 (values {shown}); a mask is 0 outside and 1 inside the brain "
                         "(threshold a probabilistic mask first)")
    mask = data == 1
    if not mask.any():
        raise InputError(f"{path}: the mask is empty (no voxel is 1)")
    return mask


def check_grid_resolves(mask_path: str | Path, grid_affine: np.ndarray,
                        scans: dict[str, tuple[str | Path, np.ndarray]]) -> None:
    """Refuse an HR grid (of the mask at ``mask_path``) coarser than the finest spacing of a scan
    (``scans``: {contrast: (path, affine)})."""
    coarsest = float(voxel_spacing(grid_affine).max())
    for path, affine in scans.values():
        finest = float(voxel_spacing(affine).min())
        if coarsest > finest * (1 + SPACING_TOLERANCE):
            raise InputError(f"{mask_path}: its grid ({coarsest:.3g} mm) is coarser than the "
                             f"{finest:.3g} mm spacing of {path}: the output would hold less "
                             "detail than the scan; use a mask on a grid at least as fine")


def check_truth_scale(data: np.ndarray, mask: np.ndarray, path: str | Path) -> None:
    """Refuse a ground truth that is not on [0, 1] inside the mask, naming its range."""
    low, high = float(data[mask].min()), float(data[mask].max())
    if low < -SCALE_TOLERANCE or high > 1 + SCALE_TOLERANCE:
        raise InputError(f"{path}: intensities {low:.4g} to {high:.4g} inside the mask; the "
                         "metrics assume a ground truth normalised to [0, 1] (as isosr's "
                         "preprocessing does: 0.5th-99.5th percentile inside the mask)")


def check_prediction_scale(data: np.ndarray, mask: np.ndarray, path: str | Path) -> None:
    """Refuse a prediction whose bulk (1st-99th percentile inside the mask) leaves
    PREDICTION_BOUNDS: it is on another scale than the [0, 1] the metrics clip it to."""
    low, high = (float(v) for v in np.percentile(data[mask], [1, 99]))
    if low < PREDICTION_BOUNDS[0] or high > PREDICTION_BOUNDS[1]:
        raise InputError(f"{path}: 1st-99th percentile of its intensities inside the mask is "
                         f"{low:.4g} to {high:.4g}, not on the [0, 1] scale of the ground truth "
                         "(a prediction is clipped to [0, 1]; normalise it as the truth)")
