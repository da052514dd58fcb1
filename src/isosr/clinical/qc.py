"""Quality control of a super-resolved output without ground truth.

Data consistency: an acquired stack is what the scanner measured of the true anatomy, so a good
output, acquired again the same way, must give the stack back. ``resimulate`` acquires an HR
volume on a stack's own grid (any affine: the stack may be oblique to the HR grid after
alignment), in world space: every stack voxel is the HR volume (cubic spline) integrated along
the stack's slice normal under the through-plane profile of the stack's model, as
``isosr.simulate`` defines it:

- ``slice-profile``: a Gaussian with FWHM = the slice thickness (to 4 sigma, as
  ``scipy.ndimage.gaussian_filter1d`` truncates it in the simulation);
- ``kspace``: the ideal low-pass at 1 / (2 x thickness), i.e. a sinc of width = the thickness
  (truncated at 4 thicknesses, weights normalised);
- ``spline`` and ``decimate``: the point sample at the slice centre.

In plane the stack's voxels are point samples: a clinical stack's in-plane spacing is at least
the output grid's (the grid defaults to the finest in-plane spacing of the session), so its
in-plane blur is not modelled. ``data_consistency`` compares the re-acquired output with the
stack inside the brain mask (carried onto the stack by its voxel centres), both divided by the
stack's intensity scale: PSNR with peak 1 (no clipping: a stack's voxels above its 99.5th
percentile count), 3D SSIM (scikit-image, data range 1) and the signed error map. An output
with detail the scan contradicts (invented edges, ringing) scores low; one that only
interpolates the stack can score high without adding anything, which is why the benchmark
correlates this score with the true PSNR (``isosr.qc_validity``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
from scipy import ndimage
from skimage.metrics import structural_similarity

from isosr.io import Grid, InputError, resample_to_grid, voxel_spacing
from isosr.metrics import mask_bounding_box, mutual_information
from isosr.simulate import FWHM_PER_SIGMA, MODELS

GAUSSIAN_TRUNCATE = 4.0  # sigmas (scipy.ndimage.gaussian_filter1d's default)
SINC_TRUNCATE = 4.0  # slice thicknesses either side of the centre
SSIM_WINDOW = 7  # scikit-image's default; smaller (odd) on a stack with fewer slices
CHUNK_VOXELS = 2**22  # stack voxels re-acquired at once (bounds the sample coordinates' memory)


@dataclass(frozen=True)
class Consistency:
    """An output re-acquired on one stack's grid against the stack (intensity-scaled units)."""

    psnr: float
    ssim: float
    error: np.ndarray  # float32 on the stack grid: re-acquired - acquired, 0 outside the mask
    mask: np.ndarray  # bool on the stack grid: the brain mask carried onto it

    def record(self) -> dict[str, Any]:
        inside = self.error[self.mask]
        return {"psnr_db": self.psnr, "ssim": self.ssim, "mask_voxels": int(self.mask.sum()),
                "mean_abs_error": float(np.abs(inside).mean())}


def profile(model: str, thickness_mm: float, step_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (mm, along the slice normal) and normalised weights of ``model``'s through-plane
    profile, sampled every ``step_mm`` at most."""
    if model not in MODELS:
        raise InputError(f"unknown LR model {model!r}; choose one of {list(MODELS)}")
    if model in ("spline", "decimate"):
        return np.zeros(1), np.ones(1)
    if model == "slice-profile":
        sigma = thickness_mm / FWHM_PER_SIGMA
        reach = GAUSSIAN_TRUNCATE * sigma
    else:
        reach = SINC_TRUNCATE * thickness_mm
    count = 2 * math.ceil(reach / step_mm) + 1
    offsets = np.linspace(-reach, reach, count)
    weights = (np.exp(-0.5 * (offsets / sigma) ** 2) if model == "slice-profile"
               else np.sinc(offsets / thickness_mm))
    return offsets, weights / weights.sum()


def resimulate(hr: np.ndarray, hr_affine: np.ndarray, stack_shape: tuple[int, int, int],
               stack_affine: np.ndarray, slice_axis: int, thickness_mm: float,
               model: str = "slice-profile") -> np.ndarray:
    """``hr`` (on ``hr_affine``) acquired on the stack grid (``stack_shape``, ``stack_affine``)
    whose slices are stacked along array axis ``slice_axis``, ``thickness_mm`` thick, with the
    through-plane profile of ``model``; beyond the HR field of view its edge values."""
    hr = np.asarray(hr, dtype=np.float64)
    if hr.ndim != 3 or len(stack_shape) != 3 or slice_axis not in (0, 1, 2):
        raise InputError(f"resimulate: a 3D volume, a 3D stack grid and a slice axis 0-2 are "
                         f"needed (got {hr.shape}, {tuple(stack_shape)}, axis {slice_axis})")
    if not (math.isfinite(thickness_mm) and thickness_mm > 0):
        raise InputError(f"slice thickness {thickness_mm} mm: expected a positive number")
    stack_affine = np.asarray(stack_affine, dtype=np.float64)
    offsets, weights = profile(model, thickness_mm, float(voxel_spacing(hr_affine).min()) / 2)
    coefficients = ndimage.spline_filter(hr, order=3, mode="nearest")
    to_hr = np.linalg.inv(np.asarray(hr_affine, dtype=np.float64)) @ stack_affine
    step = to_hr[:3, :3] @ np.eye(3)[slice_axis] / voxel_spacing(stack_affine)[slice_axis]
    shape = tuple(int(n) for n in stack_shape)
    out = np.zeros(shape, dtype=np.float64)
    rows = max(1, CHUNK_VOXELS // max(1, shape[1] * shape[2]))
    for start in range(0, shape[0], rows):
        block = (min(rows, shape[0] - start), shape[1], shape[2])
        voxels = np.indices(block, dtype=np.float64).reshape(3, -1)
        voxels[0] += start
        centres = to_hr[:3, :3] @ voxels + to_hr[:3, 3:4]
        total = np.zeros(voxels.shape[1])
        for offset, weight in zip(offsets, weights, strict=True):
            total += weight * ndimage.map_coordinates(
                coefficients, centres + offset * step[:, None], order=3, mode="nearest",
                prefilter=False)
        out[start:start + block[0]] = total.reshape(block)
    return out.astype(np.float32)


def carried_mask(mask: np.ndarray, hr_affine: np.ndarray, stack_shape: tuple[int, ...],
                 stack_affine: np.ndarray) -> np.ndarray:
    """The HR brain mask on the stack grid: a stack voxel is inside if its centre is."""
    return resample_to_grid(np.asarray(mask, dtype=np.float32), hr_affine,
                            Grid(tuple(stack_shape), np.asarray(stack_affine)), order=0,
                            cval=0.0) > 0.5


def _ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    box = mask_bounding_box(mask)
    smallest = min(a[box].shape)
    window = min(SSIM_WINDOW, smallest if smallest % 2 else smallest - 1)
    if window < 3:
        return float("nan")
    _, full = structural_similarity(b[box], a[box], data_range=1.0, full=True,
                                    win_size=window)
    return float(full[mask[box]].mean())


def data_consistency(sr: np.ndarray, hr_affine: np.ndarray, brain_mask: np.ndarray,
                     stack: np.ndarray, stack_affine: np.ndarray, slice_axis: int,
                     thickness_mm: float, model: str, scale: float) -> Consistency:
    """The output ``sr`` (on ``hr_affine``, with its ``brain_mask``) re-acquired on the grid of
    the acquired ``stack`` and compared with it, both divided by ``scale``."""
    if np.shape(sr) != np.shape(brain_mask):
        raise InputError(f"the output {np.shape(sr)} and its brain mask "
                         f"{np.shape(brain_mask)} differ in shape")
    if not (math.isfinite(scale) and scale > 0):
        raise InputError(f"intensity scale {scale}: expected a positive finite number")
    stack = np.asarray(stack, dtype=np.float64)
    inside = carried_mask(brain_mask, hr_affine, stack.shape, stack_affine)
    if not inside.any():
        raise InputError("the brain mask does not overlap the stack")
    again = resimulate(sr, hr_affine, stack.shape, stack_affine, slice_axis, thickness_mm,
                       model).astype(np.float64) / scale
    acquired = stack / scale
    error = np.where(inside, again - acquired, 0.0)
    mse = float(np.mean(error[inside] ** 2))
    psnr = float("inf") if mse == 0 else float(-10.0 * np.log10(mse))
    return Consistency(psnr, _ssim(again, acquired, inside), error.astype(np.float32), inside)


def contrast_mi(images: Mapping[str, np.ndarray], mask: np.ndarray) -> dict[str, float]:
    """Mutual information (nats, ``isosr.metrics``) of every sorted pair of contrasts inside
    the mask, keyed 'T1w-FLAIR' in sorted order of the names."""
    mask = np.asarray(mask, dtype=bool)
    return {f"{a}-{b}": mutual_information(images[a], images[b], mask)
            for a, b in combinations(sorted(images), 2)}
