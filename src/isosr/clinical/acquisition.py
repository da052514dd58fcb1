"""How a clinical scan was acquired, from its own file: no scenario tells it.

The slice axis is the array axis with the largest voxel spacing, its anatomical view the world
axis (RAS) that axis runs closest to (x sagittal, y coronal, z axial), and the slice spacing that
axis' length in the affine. The slice thickness is the BIDS sidecar's ``SliceThickness`` (the
JSON file beside the NIfTI, same name) when it has one, which wins over the spacing: slices may
have gaps (thickness < spacing) or overlap (thickness > spacing); without it the thickness is the
spacing (contiguous slices). A scan whose largest spacing is at most STACK_ANISOTROPY times its
smallest is not a 2D stack: it is named isotropic (a 3D acquisition) and has no slice axis.

Contradictions are refused with one line naming the file: a sidecar that is not a JSON object,
a ``SliceThickness`` that is not a positive finite number, a voxel grid with two thick axes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from isosr.io import InputError, load_nifti, nifti_suffix, voxel_spacing

# A scan is a 2D stack when its largest spacing exceeds this multiple of its smallest.
STACK_ANISOTROPY = 1.5
# Two spacings closer than this (relative) are the same spacing.
SPACING_RTOL = 1e-3
# The view of each RAS world axis (the normal of that view's slices).
WORLD_AXIS_VIEW = ("sagittal", "coronal", "axial")


@dataclass(frozen=True)
class StackAcquisition:
    """What one scan's file says about its acquisition.

    For a 2D stack, ``slice_axis`` is the array axis the slices are stacked along, ``view`` the
    anatomical view of its slices and ``obliquity_degrees`` the angle between the slice normal
    and the view's world axis. An isotropic scan has neither slice axis nor view; its
    ``slice_spacing_mm`` is then its coarsest spacing and ``in_plane_spacing_mm`` the other two.
    """

    path: Path
    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    is_stack: bool
    slice_axis: int | None
    view: str | None
    obliquity_degrees: float | None
    in_plane_spacing_mm: tuple[float, float]
    slice_spacing_mm: float
    slice_thickness_mm: float
    thickness_source: str  # "sidecar" (its SliceThickness) or "affine" (the slice spacing)
    sidecar: Path | None  # the BIDS sidecar beside the image, when there is one

    @property
    def kind(self) -> str:
        return "2D stack" if self.is_stack else "isotropic"

    @property
    def slice_gap_mm(self) -> float:
        """Slice spacing minus thickness: a gap between slices (> 0) or their overlap (< 0)."""
        return self.slice_spacing_mm - self.slice_thickness_mm

    @property
    def finest_spacing_mm(self) -> float:
        """The finest in-plane spacing (every spacing of an isotropic scan counts)."""
        return min(self.in_plane_spacing_mm) if self.is_stack else min(self.spacing_mm)

    def describe(self) -> str:
        """One line, e.g. 'axial 2D stack: 0.9 x 0.9 mm in plane, slices every 4 mm, 3.6 mm thick
        (sidecar)'."""
        spacing = " x ".join(f"{s:.3g}" for s in self.in_plane_spacing_mm)
        if not self.is_stack:
            return (f"isotropic: {' x '.join(f'{s:.3g}' for s in self.spacing_mm)} mm voxels "
                    f"(not a 2D stack: within {STACK_ANISOTROPY:g}x)")
        return (f"{self.view} 2D stack: {spacing} mm in plane, slices every "
                f"{self.slice_spacing_mm:.3g} mm, {self.slice_thickness_mm:.3g} mm thick "
                f"({self.thickness_source})")

    def record(self) -> dict[str, Any]:
        """The JSON-ready facts (for a sidecar or report)."""
        return {"file": str(self.path), "kind": self.kind, "shape": list(self.shape),
                "spacing_mm": list(self.spacing_mm), "slice_axis": self.slice_axis,
                "view": self.view, "obliquity_degrees": self.obliquity_degrees,
                "in_plane_spacing_mm": list(self.in_plane_spacing_mm),
                "slice_spacing_mm": self.slice_spacing_mm,
                "slice_thickness_mm": self.slice_thickness_mm,
                "thickness_source": self.thickness_source, "slice_gap_mm": self.slice_gap_mm,
                "sidecar": None if self.sidecar is None else str(self.sidecar)}


def sidecar_path(path: str | Path) -> Path:
    """The BIDS sidecar of an image: the same name with .json for .nii / .nii.gz."""
    path = Path(path)
    suffix = nifti_suffix(path)
    return path.with_name(path.name[: -len(suffix)] + ".json")


def read_sidecar(path: str | Path) -> dict[str, Any] | None:
    """The JSON object of a sidecar file, None when there is none; InputError for a file that is
    not a JSON object."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: not a valid JSON sidecar ({' '.join(str(error).split())})"
                         ) from error
    if not isinstance(payload, dict):
        raise InputError(f"{path}: a JSON sidecar must be an object (key: value pairs), not "
                         f"a {type(payload).__name__}")
    return payload


def sidecar_thickness(path: Path, sidecar: dict[str, Any]) -> float | None:
    """``SliceThickness`` (mm) of a sidecar (None without the key): a positive finite number."""
    if "SliceThickness" not in sidecar:
        return None
    value = sidecar["SliceThickness"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{path}: SliceThickness {json.dumps(value)} is not a number (mm)")
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{path}: SliceThickness {value} mm: expected a positive finite number")
    return float(value)


def stack_acquisition(path: str | Path) -> StackAcquisition:
    """The acquisition of the scan at ``path`` (read with isosr.io.load_nifti, which validates
    it), with its BIDS sidecar's SliceThickness when there is one."""
    data, affine = load_nifti(path)
    return acquisition_from_header(path, data.shape, affine)


def acquisition_from_header(path: str | Path, shape: tuple[int, ...], affine: np.ndarray
                            ) -> StackAcquisition:
    """The acquisition of an image already read (shape, affine), at ``path`` (its sidecar is
    read from beside it)."""
    path = Path(path)
    spacing = voxel_spacing(affine)
    order = np.argsort(spacing, kind="stable")  # finest first
    finest, middle, coarsest = (float(spacing[i]) for i in order)
    is_stack = coarsest > STACK_ANISOTROPY * finest * (1.0 + SPACING_RTOL)
    shown = " x ".join(f"{s:.4g}" for s in spacing)
    if is_stack and math.isclose(middle, coarsest, rel_tol=SPACING_RTOL):
        raise InputError(f"{path}: voxel spacing {shown} mm has two thick axes "
                         f"({coarsest:.4g} mm): neither a 2D stack (one thick axis) nor "
                         "isotropic")
    slice_axis = view = obliquity = None
    if is_stack:
        slice_axis = int(order[2])
        direction = np.asarray(affine, dtype=np.float64)[:3, slice_axis] / spacing[slice_axis]
        world = int(np.argmax(np.abs(direction)))
        view = WORLD_AXIS_VIEW[world]
        obliquity = float(np.degrees(np.arccos(np.clip(abs(direction[world]), 0.0, 1.0))))
    in_plane_axes = [int(a) for a in range(3) if a != int(order[2])]
    location = sidecar_path(path)
    sidecar = read_sidecar(location)
    thickness = None if sidecar is None else sidecar_thickness(location, sidecar)
    return StackAcquisition(
        path=path, shape=tuple(int(n) for n in shape),
        spacing_mm=tuple(float(s) for s in spacing), is_stack=bool(is_stack),
        slice_axis=slice_axis, view=view, obliquity_degrees=obliquity,
        in_plane_spacing_mm=tuple(float(spacing[a]) for a in in_plane_axes),
        slice_spacing_mm=coarsest,
        slice_thickness_mm=coarsest if thickness is None else thickness,
        thickness_source="affine" if thickness is None else "sidecar",
        sidecar=None if sidecar is None else location)
