"""Low-resolution (thick-slice) acquisitions simulated from an isotropic HR image.

A scenario gives, per contrast, the view (the slice direction), the slice thickness in mm (any
real number larger than the HR spacing), the physical model of the acquisition and the noise.
Slices are contiguous (no gap) and the stack is centred in the HR field of view; the returned
affine places every LR slice centre at its true world position.

Models:
- ``spline``: cubic-spline sampling at the slice centres (McGinnis et al. 2023; no slice profile).
- ``slice-profile``: Gaussian through-plane profile with FWHM = slice thickness, then sampling at
  the slice centres (the physically realistic default).
- ``kspace``: ideal low-pass along the slice direction, keeping the central k-space up to
  1/(2 x thickness) (Dual-ArbNet), magnitude image, then sampling at the slice centres.
- ``decimate``: keep every k-th HR slice, k = thickness / HR spacing must be an integer (SA-INR).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from isosr.io import InputError, voxel_spacing
from isosr.repeats import stable_seed
from isosr.vocabulary import VIEW_WORLD_AXIS

MODELS = ("spline", "slice-profile", "kspace", "decimate")
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
# Largest angle (degrees) between a view's slice normal (its world axis) and the HR array axis it
# slices along. Within 30 degrees every other array axis is at least 60 degrees off, so the axis
# is clearly the view's; beyond it the choice is ambiguous (at 45 degrees between two world axes,
# two views would slice along the same array axis and give identical stacks).
MAX_SLICE_OBLIQUITY_DEGREES = 30.0
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class Acquisition:
    """How one contrast is acquired in a scenario."""

    view: str
    thickness: float
    model: str = "slice-profile"
    noise: float = 0.0

    def __post_init__(self) -> None:
        if self.view not in VIEW_WORLD_AXIS:
            raise InputError(f"unknown view {self.view!r}; choose one of {sorted(VIEW_WORLD_AXIS)}")
        if self.model not in MODELS:
            raise InputError(f"unknown LR model {self.model!r}; choose one of {list(MODELS)}")
        if not (np.isfinite(self.thickness) and self.thickness > 0):
            raise InputError(f"slice thickness must be a positive finite number, got "
                             f"{self.thickness}")
        if not (np.isfinite(self.noise) and self.noise >= 0):
            raise InputError(f"noise must be a finite number >= 0, got {self.noise}")


def through_plane_axis(affine: np.ndarray, view: str) -> int:
    """The array axis whose direction is closest to the world axis normal to ``view`` slices."""
    directions = np.asarray(affine)[:3, :3] / voxel_spacing(affine)
    return int(np.argmax(np.abs(directions[VIEW_WORLD_AXIS[view], :])))


def check_slice_direction(affine: np.ndarray, view: str) -> None:
    """Refuse to slice an image in ``view`` when no array axis is within
    MAX_SLICE_OBLIQUITY_DEGREES of the view's world axis, naming the angle to each."""
    directions = np.asarray(affine)[:3, :3] / voxel_spacing(affine)
    cosines = np.clip(np.abs(directions[VIEW_WORLD_AXIS[view], :]), 0.0, 1.0)
    angles = np.degrees(np.arccos(cosines))
    if angles.min() > MAX_SLICE_OBLIQUITY_DEGREES + 1e-6:
        world = "xyz"[VIEW_WORLD_AXIS[view]]
        raise InputError(f"the {view} view slices along world axis {world}, which is "
                         f"{', '.join(f'{a:.1f}' for a in angles)} degrees from array axes 0, 1, "
                         f"2: none is within {MAX_SLICE_OBLIQUITY_DEGREES:g} degrees, so the "
                         "slice direction is ambiguous; resample the image onto axes closer to "
                         "the world axes")


def slice_centres(n_hr: int, step: float, integer: bool = False) -> np.ndarray:
    """Slice-centre HR voxel indices of a centred stack of slices ``step`` HR voxels thick.

    The stack covers as much of the HR extent [-0.5, n_hr - 0.5] as whole slices allow, centred.
    With ``integer`` the centres fall on HR voxel centres (decimation keeps existing slices).
    """
    if integer:
        k = int(round(step))
        count = (n_hr - 1) // k + 1
        offset = (n_hr - 1 - (count - 1) * k) // 2
        return offset + k * np.arange(count, dtype=np.float64)
    count = int(np.floor(n_hr / step + 1e-9))
    if count < 1:
        raise InputError(f"slice thickness of {step:.3g} voxels exceeds the field of view ({n_hr})")
    first = -0.5 + (n_hr - count * step) / 2.0 + step / 2.0
    return first + step * np.arange(count, dtype=np.float64)


def lr_affine(hr_affine: np.ndarray, axis: int, centres: np.ndarray) -> np.ndarray:
    """Affine of the LR stack whose slice centres lie at HR voxel indices ``centres``."""
    step = centres[1] - centres[0] if len(centres) > 1 else 1.0
    shift = np.eye(4)
    shift[axis, axis] = step
    shift[axis, 3] = centres[0]
    return np.asarray(hr_affine, dtype=np.float64) @ shift


def _sample_along(data: np.ndarray, axis: int, centres: np.ndarray, order: int) -> np.ndarray:
    """Sample ``data`` at fractional indices ``centres`` along ``axis`` (edge values beyond)."""
    scale = np.ones(3)
    offset = np.zeros(3)
    scale[axis] = centres[1] - centres[0] if len(centres) > 1 else 1.0
    offset[axis] = centres[0]
    shape = list(data.shape)
    shape[axis] = len(centres)
    return ndimage.affine_transform(data, np.diag(scale), offset, output_shape=tuple(shape),
                                    order=order, mode="nearest")


def _kspace_lowpass(data: np.ndarray, axis: int, spacing: float, thickness: float) -> np.ndarray:
    """Keep spatial frequencies up to 1/(2*thickness) along ``axis``; magnitude of the result."""
    frequencies = np.fft.fftfreq(data.shape[axis], d=spacing)
    keep = (np.abs(frequencies) <= 1.0 / (2.0 * thickness) + 1e-12).astype(np.float64)
    shape = [1, 1, 1]
    shape[axis] = -1
    spectrum = np.fft.fft(data, axis=axis) * keep.reshape(shape)
    return np.abs(np.fft.ifft(spectrum, axis=axis))


def add_rician_noise(data: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of the image plus complex Gaussian noise of standard deviation ``sigma``
    (``np.hypot``: no squares that overflow)."""
    if sigma == 0:
        return data
    real = data + rng.normal(0.0, sigma, data.shape)
    imaginary = rng.normal(0.0, sigma, data.shape)
    return np.hypot(real, imaginary)


def simulate_lr(hr: np.ndarray, affine: np.ndarray, acquisition: Acquisition,
                seed: int | str = 0) -> tuple[np.ndarray, np.ndarray]:
    """Simulate the LR acquisition of ``hr``; returns (LR data, LR affine). A stack that would
    not be finite in float32 (a huge noise or intensity) is refused."""
    check_slice_direction(affine, acquisition.view)
    axis = through_plane_axis(affine, acquisition.view)
    spacing = float(voxel_spacing(affine)[axis])
    step = acquisition.thickness / spacing
    if step < 1.0 - 1e-6:
        raise InputError(f"slice thickness {acquisition.thickness} mm is below the HR spacing "
                         f"{spacing:.3g} mm: nothing to super-resolve")
    if acquisition.model == "decimate" and abs(step - round(step)) > 1e-6:
        raise InputError(f"model 'decimate' keeps every k-th slice: thickness "
                         f"{acquisition.thickness} mm is not a multiple of the HR spacing "
                         f"{spacing:.3g} mm")
    centres = slice_centres(hr.shape[axis], step, integer=acquisition.model == "decimate")
    lr = degrade_along(hr, axis, spacing, acquisition, centres)
    lr = add_rician_noise(lr, acquisition.noise, np.random.default_rng(stable_seed(seed)))
    beyond = int(lr.size - np.count_nonzero(np.abs(lr) <= FLOAT32_MAX))  # NaN counts too
    if beyond:
        raise InputError(f"the simulated LR stack has {beyond} of {lr.size} voxels that are not "
                         f"finite in float32 (|value| > {FLOAT32_MAX:.2g}): lower the noise "
                         f"({acquisition.noise:g}) or rescale the image (largest |intensity| "
                         f"{float(np.abs(hr).max()):.3g})")
    return lr.astype(np.float32), lr_affine(affine, axis, centres)


def degrade_along(hr: np.ndarray, axis: int, spacing: float, acquisition: Acquisition,
                  centres: np.ndarray) -> np.ndarray:
    """The noiseless acquisition model: ``hr`` (``spacing`` mm voxels along ``axis``) filtered
    by the slice profile of ``acquisition.model`` and sampled at HR voxel indices ``centres``."""
    data = np.asarray(hr, dtype=np.float64)
    if acquisition.model == "decimate":
        return _sample_along(data, axis, centres, order=0)
    if acquisition.model == "slice-profile":
        step = acquisition.thickness / spacing
        data = ndimage.gaussian_filter1d(data, step / FWHM_PER_SIGMA, axis=axis, mode="nearest")
    elif acquisition.model == "kspace":
        data = _kspace_lowpass(data, axis, spacing, acquisition.thickness)
    return _sample_along(data, axis, centres, order=3)


def acquisition_matrix(n_hr: int, spacing: float, acquisition: Acquisition,
                       centres: np.ndarray) -> np.ndarray:
    """The noiseless acquisition along one axis as a (len(centres), n_hr) matrix.

    ``degrade_along`` is linear on positive images (there the k-space model's magnitude changes
    nothing), so column j is its response to a unit impulse at HR voxel j on a constant
    background, minus the background's: applying the matrix along the slice axis gives exactly
    the simulated LR stack (without noise), and its transpose is the adjoint.
    """
    impulses = np.eye(n_hr)[:, :, None]  # axis 0: position along the slices, axis 1: impulse j
    background = np.ones(impulses.shape)
    response = (degrade_along(background + impulses, 0, spacing, acquisition, centres)
                - degrade_along(background, 0, spacing, acquisition, centres))
    return response[:, :, 0]

