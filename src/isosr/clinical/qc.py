"""Quality control of a super-resolved output without ground truth.

Data consistency: an acquired stack is what the scanner measured of the true anatomy, so a good
output, acquired again the same way, must give the stack back. ``resimulate`` acquires an HR
volume on a stack's own grid (any affine: the stack may be oblique to the HR grid after
alignment), in world space: every stack voxel is the HR volume (cubic spline, edge values beyond
its field of view) integrated along the stack's slice normal (the world direction of its slice
axis) under the through-plane profile of the stack's model, as ``isosr.simulate`` defines it:

- ``slice-profile``: a Gaussian with FWHM = the slice thickness, to 4 sigma (where
  ``scipy.ndimage.gaussian_filter1d`` truncates it in the simulation);
- ``kspace``: the ideal low-pass at 1 / (2 x thickness), i.e. a sinc whose first zeros are one
  thickness from the centre, truncated at SINC_TRUNCATE thicknesses, then the magnitude;
- ``spline`` and ``decimate``: the point sample at the slice centre.

The profile is sampled on a lattice along each line of slices, at most half the finest HR
spacing apart and dividing the slice spacing, so consecutive slices share their samples: one
cubic interpolation per lattice point, then a weighted sum per slice. In plane the stack's
voxels are point samples: a clinical stack's in-plane spacing is at least the output grid's (the
grid defaults to the finest in-plane spacing of the session), so its in-plane blur is not
modelled.

``data_consistency`` compares the re-acquired output with the stack inside the brain mask
(carried onto the stack by its voxel centres), both divided by the stack's intensity scale: PSNR
with peak 1 (no clipping: a stack's voxels above its 99.5th percentile count), 3D SSIM
(scikit-image, data range 1) and the signed error map. An output with detail the scan
contradicts (invented edges, ringing) scores low; one that only interpolates the stack can score
high without adding anything, which is why the benchmark correlates this score with the true
PSNR (``isosr.qc_validity``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage
from skimage.metrics import structural_similarity

from isosr.io import Grid, InputError, affine_problem, resample_to_grid, voxel_spacing
from isosr.metrics import mask_bounding_box, mutual_information
from isosr.simulate import FWHM_PER_SIGMA, MODELS

GAUSSIAN_TRUNCATE = 4.0  # sigmas (scipy.ndimage.gaussian_filter1d's default)
SINC_TRUNCATE = 16.0  # slice thicknesses either side of the centre
SSIM_WINDOW = 7  # scikit-image's default; smaller (odd) on a stack with fewer slices
CHUNK_POINTS = 2**20  # lattice points interpolated at once (bounds the coordinates' memory)


@dataclass(frozen=True)
class Consistency:
    """An output re-acquired on one stack's grid against the stack (intensity-scaled units)."""

    psnr: float  # dB, peak 1
    ssim: float  # NaN when the mask spans fewer than 3 voxels along some axis
    error: np.ndarray  # float32 on the stack grid: re-acquired - acquired, 0 outside the mask
    mask: np.ndarray  # bool on the stack grid: the brain mask carried onto it

    def record(self) -> dict[str, Any]:
        """The scores as JSON-ready numbers."""
        return {"psnr_db": self.psnr, "ssim": self.ssim, "mask_voxels": int(self.mask.sum()),
                "mean_abs_error": float(np.abs(self.error[self.mask]).mean())}


def profile_weights(model: str, thickness_mm: float, step_mm: float) -> np.ndarray:
    """Normalised weights of ``model``'s through-plane profile at offsets ``step_mm`` * (-J..J)
    from the slice centre (one weight for a point sample)."""
    if model in ("spline", "decimate"):
        return np.ones(1)
    if model == "slice-profile":
        sigma = thickness_mm / FWHM_PER_SIGMA
        reach = math.ceil(GAUSSIAN_TRUNCATE * sigma / step_mm)
        weights = np.exp(-0.5 * (step_mm * np.arange(-reach, reach + 1) / sigma) ** 2)
    else:
        reach = math.ceil(SINC_TRUNCATE * thickness_mm / step_mm)
        weights = np.sinc(step_mm * np.arange(-reach, reach + 1) / thickness_mm)
    return weights / weights.sum()


def _stack_to_hr(hr_shape: tuple[int, ...], hr_affine: np.ndarray, stack_shape: tuple[int, ...],
                 stack_affine: np.ndarray, slice_axis: int) -> np.ndarray:
    """The 4x4 map from stack voxel indices to HR voxel indices, after checking the geometry."""
    if len(hr_shape) != 3 or len(stack_shape) != 3 or min(stack_shape) < 1:
        raise InputError(f"a 3D volume and a 3D stack grid are needed, got shapes "
                         f"{tuple(hr_shape)} and {tuple(stack_shape)}")
    if slice_axis not in (0, 1, 2):
        raise InputError(f"slice axis {slice_axis}: expected an array axis 0, 1 or 2")
    for name, affine in (("HR", hr_affine), ("stack", stack_affine)):
        problem = affine_problem(affine)
        if problem:
            raise InputError(f"the {name} grid's {problem}")
    return np.linalg.inv(np.asarray(hr_affine, dtype=np.float64)) @ np.asarray(
        stack_affine, dtype=np.float64)


def resimulate(hr: np.ndarray, hr_affine: np.ndarray, stack_shape: tuple[int, int, int],
               stack_affine: np.ndarray, slice_axis: int, thickness_mm: float,
               model: str = "slice-profile") -> np.ndarray:
    """``hr`` (on ``hr_affine``) acquired, with the through-plane profile of ``model`` for
    slices ``thickness_mm`` thick, on the stack grid (``stack_shape``, ``stack_affine``) whose
    slices are stacked along array axis ``slice_axis``; float32."""
    to_hr = _stack_to_hr(np.shape(hr), hr_affine, stack_shape, stack_affine, slice_axis)
    if model not in MODELS:
        raise InputError(f"unknown LR model {model!r}; choose one of {list(MODELS)}")
    if not (math.isfinite(thickness_mm) and thickness_mm > 0):
        raise InputError(f"slice thickness {thickness_mm} mm: expected a positive number")
    slice_spacing = float(voxel_spacing(stack_affine)[slice_axis])
    per_slice = math.ceil(2.0 * slice_spacing / float(voxel_spacing(hr_affine).min()))
    weights = profile_weights(model, thickness_mm, slice_spacing / per_slice)
    reach = len(weights) // 2
    coefficients = ndimage.spline_filter(np.asarray(hr, dtype=np.float32), order=3,
                                         output=np.float32, mode="nearest")
    # A line of slices is the stack voxels sharing their in-plane indices. Its lattice point i
    # lies (i - reach) / per_slice slice steps from its first slice centre (HR voxel offsets);
    # slice k is the weighted sum of the points around k * per_slice + reach.
    slices = int(stack_shape[slice_axis])
    lattice = to_hr[:3, slice_axis:slice_axis + 1] * (
        (np.arange((slices - 1) * per_slice + 2 * reach + 1) - reach) / per_slice)
    plane = [axis for axis in range(3) if axis != slice_axis]
    in_plane = [int(stack_shape[axis]) for axis in plane]
    first = np.zeros((3, in_plane[0] * in_plane[1]))
    first[plane] = np.indices(in_plane).reshape(2, -1)
    first = to_hr[:3, :3] @ first + to_hr[:3, 3:]  # HR voxel indices of each line's first slice
    out = np.empty((first.shape[1], slices))
    lines = max(1, CHUNK_POINTS // lattice.shape[1])  # lines of slices interpolated at once
    for start in range(0, first.shape[1], lines):
        points = first[:, start:start + lines, None] + lattice[:, None, :]
        samples = ndimage.map_coordinates(coefficients, points, output=np.float64, order=3,
                                          mode="nearest", prefilter=False)
        windows = sliding_window_view(samples, len(weights), axis=1)[:, ::per_slice]
        out[start:start + lines] = np.einsum("lsw,w->ls", windows, weights)
    if model == "kspace":  # the magnitude image, as isosr.simulate's k-space model
        out = np.abs(out)
    out = out.reshape(*in_plane, slices)
    return np.moveaxis(out, 2, slice_axis).astype(np.float32)


def carried_mask(mask: np.ndarray, hr_affine: np.ndarray, stack_shape: tuple[int, ...],
                 stack_affine: np.ndarray) -> np.ndarray:
    """The HR brain mask on the stack grid: a stack voxel is inside if its centre is."""
    return resample_to_grid(np.asarray(mask, dtype=np.float32), hr_affine,
                            Grid(tuple(stack_shape), np.asarray(stack_affine)), order=0,
                            cval=0.0) > 0.5


def _ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """3D SSIM (data range 1, no clipping) on the mask's bounding box, mean inside the mask; the
    window shrinks (odd) to the box's smallest side, NaN below 3."""
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
    the acquired ``stack`` and compared with it inside the carried mask, both divided by
    ``scale``."""
    if np.shape(sr) != np.shape(brain_mask):
        raise InputError(f"the output {np.shape(sr)} and its brain mask "
                         f"{np.shape(brain_mask)} differ in shape")
    if not (math.isfinite(scale) and scale > 0):
        raise InputError(f"intensity scale {scale}: expected a positive finite number")
    _stack_to_hr(np.shape(sr), hr_affine, np.shape(stack), stack_affine, slice_axis)  # first
    inside = carried_mask(brain_mask, hr_affine, np.shape(stack), stack_affine)
    if not inside.any():
        raise InputError("the brain mask does not overlap the stack")
    again = resimulate(sr, hr_affine, np.shape(stack), stack_affine, slice_axis, thickness_mm,
                       model).astype(np.float64) / scale
    acquired = np.asarray(stack, dtype=np.float64) / scale
    error = np.where(inside, again - acquired, 0.0)
    mse = float(np.mean(error[inside] ** 2))
    psnr = float("inf") if mse == 0 else float(-10.0 * np.log10(mse))
    return Consistency(psnr, _ssim(again, acquired, inside), error.astype(np.float32), inside)


def contrast_mi(images: Mapping[str, np.ndarray], mask: np.ndarray) -> dict[str, float]:
    """Mutual information (nats, ``isosr.metrics``: bins over [0, 1], so intensity-scaled
    images) of every pair of contrasts inside ``mask``, keyed 'FLAIR-T1w' in sorted order."""
    mask = np.asarray(mask, dtype=bool)
    for name, image in images.items():
        if np.shape(image) != mask.shape:
            raise InputError(f"contrast {name} {np.shape(image)} and the mask {mask.shape} "
                             "differ in shape")
    return {f"{a}-{b}": mutual_information(images[a], images[b], mask)
            for a, b in combinations(sorted(images), 2)}
