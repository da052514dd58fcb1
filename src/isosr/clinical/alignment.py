"""Alignment of a clinical session without resampling its stacks.

The contrasts of a session are rigidly registered to its reference contrast, and only their
affines change (new affine = T @ old affine, T a rigid world transform): the acquired voxels reach
a method untouched. Two thick stacks in different views (a 4 mm axial T1w, a 4 mm coronal T2w)
share little in their native grids, so the reference is resampled once to an isotropic copy at
the session's finest in-plane spacing, for the metric and the brain mask only; each other stack
is registered on its own grid to that copy (antspyx, rigid, Mattes MI restricted to the dilated
brain mask), which yields T in world space.

The brain mask is the reference contrast's, skull-stripped on the isotropic copy (deepbet by
default). The session's HR grid is isotropic at ``resolution_mm`` (default: the finest in-plane
spacing of the session), oriented like the reference, and covers the mask.

Registration QA is that of ``isosr.preprocess``: MI before/after, the rotation and the shift
beyond the centre-of-mass alignment, checked against the dataset's ``RegistrationLimits``; a
failure names the subject, session and contrast.
"""

from __future__ import annotations

import gzip
import io
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import nibabel as nib
import numpy as np
from scipy import ndimage

from isosr.clinical.acquisition import StackAcquisition, acquisition_from_header
from isosr.io import (
    Grid,
    InputError,
    RegistrationError,
    check_grid_size,
    check_resolution,
    field_of_view_coverage,
    load_nifti,
    nifti_suffix,
    resample_to_grid,
    rescaled_grid,
    voxel_to_world,
    write_atomically,
)
from isosr.preprocess import (
    HDBetOptions,
    RegistrationLimits,
    centre_of_mass_ras,
    registration_problems,
    rigid_matrix_ras,
    rotation_degrees,
    skull_strip,
    to_ants,
)

# The metric's mask: the brain mask dilated by this margin (the brain's edge is the strongest
# feature of a thick stack, so it must be inside).
METRIC_MASK_MARGIN_MM = 6.0
# Margin of the HR grid around the brain mask.
HR_GRID_MARGIN_MM = 4.0
DEFAULT_LIMITS = RegistrationLimits()
DEFAULT_HDBET = HDBetOptions()
log = logging.getLogger(__name__)


class ImageLike(Protocol):
    """An LRImage or anything with voxel data and a voxel-to-world affine."""

    data: np.ndarray
    affine: np.ndarray


@dataclass(frozen=True)
class Stack:
    """A scan as read: its data and affine (an ``ImageLike``)."""

    data: np.ndarray
    affine: np.ndarray


def isotropic_copy(image: ImageLike, resolution_mm: float) -> tuple[np.ndarray, Grid]:
    """``image`` resampled (cubic spline, clipped at 0) onto the ``resolution_mm`` grid along its
    own axes that covers its field of view: for a metric or a mask, never for a method."""
    grid = rescaled_grid(image.data.shape, image.affine, resolution_mm)
    data = resample_to_grid(image.data, image.affine, grid, order=3)
    return np.maximum(data, 0.0), grid


def reference_mask(reference: ImageLike, resolution_mm: float, method: str = "deepbet",
                   source: str = "", hdbet: HDBetOptions = DEFAULT_HDBET) -> Grid:
    """The brain mask of the reference contrast, skull-stripped (``method``: deepbet, hd-bet,
    none) on its isotropic copy at ``resolution_mm``: a Grid carrying the mask."""
    copy, grid = isotropic_copy(reference, resolution_mm)
    mask = skull_strip(copy, grid.affine, method, source, hdbet)
    return Grid(grid.shape, grid.affine, mask)


def _dilated(mask: np.ndarray, spacing: np.ndarray, margin_mm: float) -> np.ndarray:
    """``mask`` grown by ``margin_mm`` (Euclidean distance on its grid)."""
    distance = ndimage.distance_transform_edt(~mask, sampling=spacing)
    return distance <= margin_mm


def _mask_centre(grid: Grid) -> np.ndarray:
    """World centroid of a grid's mask."""
    return voxel_to_world(grid.affine, np.argwhere(grid.mask).mean(axis=0)[None])[0]


def align_stack(moving: ImageLike, reference: ImageLike, reference_mask: Grid,
                limits: RegistrationLimits = DEFAULT_LIMITS, label: str = "",
                seed: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """Rigid registration of the stack ``moving`` (on its own grid) to ``reference``, resampled
    onto the grid of ``reference_mask`` (the reference's brain mask, e.g. on its isotropic
    copy: the grid where the metric is computed).

    Returns the new affine of ``moving``, T @ moving.affine (its voxels are not touched), and
    the quality record: MI before/after, the matrix ANTs found (``matrix_ras``: fixed world ->
    moving world, as in isosr.preprocess), its rotation and shift beyond the centre-of-mass
    alignment (checked against ``limits``), the correction T (``correction_ras``), how far it
    moves the brain's centre, and the share of the mask the moved stack covers. Raises
    RegistrationError (naming ``label`` and the limits) when implausible.
    """
    import ants

    mask = reference_mask
    if mask.mask is None or not mask.mask.any():
        raise InputError(f"{label}: the reference brain mask is empty")
    fixed_data = np.maximum(resample_to_grid(reference.data, reference.affine, mask), 0.0)
    fixed = to_ants(fixed_data, mask.affine)
    metric_mask = _dilated(mask.mask.astype(bool), mask.spacing, METRIC_MASK_MARGIN_MM)
    fixed_mask = to_ants(metric_mask.astype(np.float32), mask.affine)
    moving_image = to_ants(np.asarray(moving.data, dtype=np.float32), moving.affine)
    # As in isosr.preprocess.register_rigid: ANTs' deterministic mode seeds the MI sampling and
    # runs ITK on one thread (seed 0 means "unseeded" to ANTs, hence + 1).
    ants.config.set_ants_deterministic(True, seed_value=seed + 1)
    with tempfile.TemporaryDirectory(prefix="isosr-align-") as work:
        result = ants.registration(fixed=fixed, moving=moving_image, type_of_transform="Rigid",
                                   mask=fixed_mask, outprefix=str(Path(work) / "rigid_"))
        matrix = rigid_matrix_ras(result["fwdtransforms"][0])
        warped = result["warpedmovout"]
    identity = ants.resample_image_to_target(moving_image, fixed)
    correction = np.linalg.inv(matrix)  # moving world -> reference world
    fixed_centre = matrix[:3, :3] @ centre_of_mass_ras(fixed) + matrix[:3, 3]
    brain_centre = _mask_centre(mask)
    moved = correction[:3, :3] @ brain_centre + correction[:3, 3]
    new_affine = correction @ np.asarray(moving.affine, dtype=np.float64)
    record = {"mi_before": -float(ants.image_mutual_information(fixed, identity)),
              "mi_after": -float(ants.image_mutual_information(fixed, warped)),
              "matrix_ras": matrix.tolist(), "rotation_degrees": rotation_degrees(matrix),
              "translation_mm": float(np.linalg.norm(fixed_centre - centre_of_mass_ras(
                  moving_image))),
              "correction_ras": correction.tolist(),
              "shift_at_brain_centre_mm": float(np.linalg.norm(moved - brain_centre)),
              "coverage_of_mask": field_of_view_coverage(moving.data.shape, new_affine, mask),
              "metric_grid_mm": float(mask.spacing.min()), "metric_mask": "brain mask dilated "
              f"by {METRIC_MASK_MARGIN_MM:g} mm"}
    problems = registration_problems(record, limits)
    if problems:
        raise RegistrationError(f"{label}: registration failed: {'; '.join(problems)} (limits "
                                "in datasets.<name>.registration)")
    log.info("%s: MI %.3f -> %.3f, rotation %.2f degrees, brain centre moved %.2f mm", label,
             record["mi_before"], record["mi_after"], record["rotation_degrees"],
             record["shift_at_brain_centre_mm"])
    return new_affine, record


def session_grid(mask: Grid, resolution_mm: float, margin_mm: float = HR_GRID_MARGIN_MM) -> Grid:
    """The isotropic HR grid of a session: ``resolution_mm`` voxels along the mask grid's axes,
    covering the mask's voxels plus ``margin_mm``, with the mask resampled onto it."""
    check_resolution(resolution_mm)
    spacing = mask.spacing
    rotation = mask.affine[:3, :3] / spacing
    voxels = np.argwhere(mask.mask)
    low = (voxels.min(axis=0) - 0.5) * spacing - margin_mm  # along the mask grid's axes (mm)
    high = (voxels.max(axis=0) + 0.5) * spacing + margin_mm
    shape = tuple(int(np.ceil((h - lo) / resolution_mm)) for lo, h in zip(low, high,
                                                                           strict=True))
    check_grid_size(shape, resolution_mm)
    affine = np.eye(4)
    affine[:3, :3] = rotation * resolution_mm
    affine[:3, 3] = mask.affine[:3, 3] + rotation @ (low + resolution_mm / 2.0)
    grid = Grid(shape, affine)
    on_grid = resample_to_grid(mask.mask.astype(np.float32), mask.affine, grid, order=1,
                               cval=0.0) >= 0.5
    return Grid(shape, affine, on_grid)


@dataclass(frozen=True)
class SessionAlignment:
    """A session aligned to its reference contrast: per contrast the acquisition, the original
    and the new affine, the registration's quality record (none for the reference); the
    reference's brain mask (on its isotropic copy) and the HR grid with the mask."""

    reference_contrast: str
    acquisitions: dict[str, StackAcquisition]
    original_affines: dict[str, np.ndarray]
    affines: dict[str, np.ndarray]
    registration: dict[str, dict[str, Any]]
    mask: Grid
    grid: Grid
    resolution_mm: float
    notes: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """The JSON-ready record (acquisitions, affines, QA, grid)."""
        return {"reference_contrast": self.reference_contrast,
                "resolution_mm": self.resolution_mm, "hr_shape": list(self.grid.shape),
                "hr_affine": self.grid.affine.tolist(),
                "brain_voxels": int(self.grid.mask.sum()), "notes": self.notes,
                "contrasts": {c: {"acquisition": a.record(),
                                  "original_affine": self.original_affines[c].tolist(),
                                  "affine": self.affines[c].tolist(),
                                  "registration": self.registration.get(c)}
                              for c, a in self.acquisitions.items()}}


def align_session(scans: dict[str, str | Path], reference_contrast: str, label: str,
                  skullstrip: str = "deepbet", resolution_mm: float | None = None,
                  limits: RegistrationLimits = DEFAULT_LIMITS, seed: int = 0,
                  hdbet: HDBetOptions = DEFAULT_HDBET) -> SessionAlignment:
    """Align the scans of one session (contrast -> file) to ``reference_contrast``.

    The mask and the metric use the reference's isotropic copy at the session's finest in-plane
    spacing; the HR grid is at ``resolution_mm`` (default: that spacing). Every contrast is
    registered; the failures of all of them are raised together in one RegistrationError naming
    ``label`` (e.g. 'sub-01 ses-01') and each contrast with its problems.
    """
    if reference_contrast not in scans:
        raise InputError(f"{label}: no {reference_contrast} scan (the reference contrast) "
                         f"among {sorted(scans)}")
    stacks, acquisitions = {}, {}
    for contrast, path in scans.items():
        data, affine = load_nifti(path)
        stacks[contrast] = Stack(data, affine)
        acquisitions[contrast] = acquisition_from_header(path, data.shape, affine)
    notes = [f"{c}: {a.path.name} is {a.describe()}" for c, a in acquisitions.items()]
    # 6 significant digits: the header's float32 spacing (1.99999995 mm) means 2 mm.
    finest = float(f"{min(a.finest_spacing_mm for a in acquisitions.values()):.6g}")
    reference = stacks[reference_contrast]
    mask = reference_mask(reference, finest, skullstrip, str(scans[reference_contrast]), hdbet)
    affines = {reference_contrast: reference.affine}
    registration: dict[str, dict[str, Any]] = {}
    failures = []
    for contrast, stack in stacks.items():
        if contrast == reference_contrast:
            continue
        try:
            affines[contrast], registration[contrast] = align_stack(
                stack, reference, mask, limits,
                f"{label} {contrast} ({scans[contrast]}) -> {reference_contrast}", seed)
        except RegistrationError as error:
            failures.append(str(error))
    if failures:
        raise RegistrationError(f"{label}: {len(failures)} of {len(stacks) - 1} contrasts "
                                f"failed to align to {reference_contrast}: "
                                + " | ".join(failures))
    hr_resolution = finest if resolution_mm is None else float(resolution_mm)
    return SessionAlignment(reference_contrast, acquisitions,
                            {c: s.affine for c, s in stacks.items()},
                            {c: affines[c] for c in stacks}, registration, mask,
                            session_grid(mask, hr_resolution), hr_resolution, notes)


def write_realigned(source: str | Path, destination: str | Path, affine: np.ndarray) -> None:
    """Copy the NIfTI ``source`` to ``destination`` with ``affine`` as its qform and sform: the
    header is rewritten, every byte after it (extensions, voxel data, scaling) is copied as is,
    so the stored voxels are byte-identical. Written atomically (a partial file, then renamed);
    ``source`` is never changed."""
    source, destination = Path(source), Path(destination)
    compressed = nifti_suffix(source) == ".nii.gz"
    image = nib.load(str(source))  # validates it as a NIfTI image
    raw = gzip.decompress(source.read_bytes()) if compressed else source.read_bytes()
    # The header as stored (image.header has vox_offset and scaling reset by nibabel).
    header = type(image.header).from_fileobj(io.BytesIO(raw))
    size = int(header.sizeof_hdr)
    qcode, scode = int(header["qform_code"]) or 1, int(header["sform_code"]) or 1
    header.set_qform(np.asarray(affine, dtype=np.float64), code=qcode)
    header.set_sform(np.asarray(affine, dtype=np.float64), code=scode)
    block = header.binaryblock
    if len(block) != size:
        raise InputError(f"{source}: unexpected header size {len(block)} (expected {size})")
    payload = block + raw[size:]
    if nifti_suffix(destination) == ".nii.gz":
        payload = gzip.compress(payload, compresslevel=6, mtime=0)
    write_atomically(destination, f".{destination.name}.partial",
                      lambda partial: partial.write_bytes(payload))
