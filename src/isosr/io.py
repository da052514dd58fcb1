"""NIfTI input/output and voxel-grid geometry in world (scanner) coordinates.

Every image in isosr is a NumPy array plus a 4x4 voxel-to-world affine (RAS+ millimetres),
exactly as nibabel stores it. Resampling always goes through world coordinates, so images on
different grids (a 4 mm coronal stack and a 1 mm isotropic volume) meet at the same points.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage


class InputError(ValueError):
    """Bad user input (a file, a config value): the message names the culprit."""


class RegistrationError(RuntimeError):
    """A registration that did not converge to a plausible rigid alignment."""


@dataclass(frozen=True)
class Grid:
    """A voxel grid: array shape and voxel-to-world affine, plus an optional brain mask on it."""

    shape: tuple[int, int, int]
    affine: np.ndarray
    mask: np.ndarray | None = None

    @property
    def spacing(self) -> np.ndarray:
        """Voxel size along each array axis (mm)."""
        return voxel_spacing(self.affine)

    def world_coordinates(self) -> np.ndarray:
        """World coordinates of every voxel centre, shape (*shape, 3)."""
        return voxel_to_world(self.affine, np.indices(self.shape, dtype=np.float64).reshape(3, -1).T
                              ).reshape(*self.shape, 3)


@dataclass(frozen=True)
class LRImage:
    """A low-resolution acquisition: intensities, affine, and how it was acquired."""

    data: np.ndarray
    affine: np.ndarray
    view: str = "axial"
    thickness: float = 1.0
    model: str = "slice-profile"  # the acquisition model of isosr.simulate


def voxel_spacing(affine: np.ndarray) -> np.ndarray:
    """Length of each affine column: the voxel size along each array axis."""
    return np.linalg.norm(np.asarray(affine)[:3, :3], axis=0)


def voxel_to_world(affine: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    """Map (N, 3) voxel indices to (N, 3) world coordinates."""
    affine = np.asarray(affine, dtype=np.float64)
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def world_to_voxel(affine: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    """Map (N, 3) world coordinates to (N, 3) continuous voxel indices."""
    inverse = np.linalg.inv(np.asarray(affine, dtype=np.float64))
    return xyz @ inverse[:3, :3].T + inverse[:3, 3]


def resample_to_grid(data: np.ndarray, affine: np.ndarray, grid: Grid, order: int = 3,
                     cval: float | None = None) -> np.ndarray:
    """Spline-resample an image onto ``grid`` through world coordinates (scipy.ndimage).

    Points outside the source field of view take the nearest edge value when ``cval`` is None
    (an LR stack that stops half a slice short of the HR box is extended, not zero-filled),
    otherwise ``cval``.
    """
    source_from_target = np.linalg.inv(np.asarray(affine, dtype=np.float64)) @ grid.affine
    mode = "nearest" if cval is None else "constant"
    return ndimage.affine_transform(
        np.asarray(data, dtype=np.float32), source_from_target[:3, :3], source_from_target[:3, 3],
        output_shape=grid.shape, order=order, mode=mode, cval=0.0 if cval is None else cval,
    ).astype(np.float32)


def load_nifti(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a 3D NIfTI as float32 array and affine, with a clear error for a bad file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        image = nib.load(str(path))
        data = np.asarray(image.dataobj, dtype=np.float32)
    except Exception as error:  # nibabel raises several unrelated types for corrupt files
        raise InputError(f"{path}: not a readable NIfTI image ({error})") from error
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(f"{path}: expected a 3D image, got shape {data.shape}")
    if not np.all(np.isfinite(data)):
        raise InputError(f"{path}: contains NaN or infinite values")
    return data, np.asarray(image.affine, dtype=np.float64)


def save_nifti(path: str | Path, data: np.ndarray, affine: np.ndarray,
               dtype: type = np.float32) -> None:
    """Write a NIfTI atomically (temporary file, then rename), creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = nib.Nifti1Image(np.asarray(data, dtype=dtype), np.asarray(affine, dtype=np.float64))
    image.header.set_xyzt_units("mm", "sec")
    image.set_qform(image.affine, code=1)
    image.set_sform(image.affine, code=1)
    partial = path.with_name(f".{path.name}.partial.nii.gz")
    nib.save(image, str(partial))
    partial.replace(path)


def save_json(path: str | Path, payload: dict) -> None:
    """Write a JSON sidecar atomically, with sorted keys for stable diffs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n")
    partial.replace(path)


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def rescaled_grid(shape: tuple[int, ...], affine: np.ndarray, resolution_mm: float) -> Grid:
    """The grid covering the same field of view as (shape, affine) with ``resolution_mm`` voxels
    along the same axes, centred on it (whole voxels only)."""
    spacing = voxel_spacing(affine)
    new_shape = tuple(int(np.floor(n * s / resolution_mm)) for n, s in zip(shape, spacing,
                                                                          strict=True))
    scaled = np.array(affine, dtype=np.float64)
    scaled[:3, :3] = affine[:3, :3] / spacing * resolution_mm
    scaled[:3, 3] = affine[:3, 3] + affine[:3, :3] @ ((resolution_mm / spacing - 1.0) / 2.0)
    return Grid(new_shape, scaled)


def isotropic_grid(images: list[LRImage], resolution_mm: float) -> Grid:
    """An isotropic grid oriented like the first image, covering every image's field of view."""
    first = images[0].affine
    rotation = first[:3, :3] / voxel_spacing(first)
    corners = []
    for image in images:
        shape = np.asarray(image.data.shape)
        box = np.array([[i, j, k] for i in (-0.5, shape[0] - 0.5) for j in (-0.5, shape[1] - 0.5)
                        for k in (-0.5, shape[2] - 0.5)])
        corners.append(voxel_to_world(image.affine, box))
    local = np.concatenate(corners) @ rotation  # world -> the first image's axes (orthonormal)
    low, high = local.min(axis=0), local.max(axis=0)
    shape = tuple(int(np.ceil((h - lo) / resolution_mm)) for lo, h in zip(low, high, strict=True))
    affine = np.eye(4)
    affine[:3, :3] = rotation * resolution_mm
    affine[:3, 3] = rotation @ (low + resolution_mm / 2.0)
    return Grid(shape, affine)
