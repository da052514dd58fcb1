"""Preprocessing: skull-stripping, rigid registration to a template, resampling to the isotropic
HR grid, bias-field correction and intensity normalisation to [0, 1] inside the brain mask.

Registration and N4 come from antspyx; skull-stripping from deepbet (weights ship in its wheel,
so it runs offline). The reference contrast (T1w by default) is skull-stripped and registered to
the template; every other contrast is registered to the reference in its native space and
reaches the template through the composed transforms, so all contrasts share one brain mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ants
import nibabel as nib
import numpy as np

from isosr.data.templates import template_file
from isosr.io import Grid, InputError, load_nifti, resample_to_grid, save_nifti, voxel_spacing
from isosr.metrics import mask_bounding_box

SKULLSTRIP_METHODS = ("deepbet", "none")
ANTS_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])  # ITK/ANTs world coordinates are LPS, NIfTI's are RAS


class RegistrationError(RuntimeError):
    """A registration that did not converge to a plausible rigid alignment."""


@dataclass(frozen=True)
class RegistrationLimits:
    """Plausibility limits of a rigid registration (beyond them the subject is stopped)."""

    max_rotation_degrees: float = 30.0
    max_translation_mm: float = 60.0


def hr_grid(template: str, resolution_mm: float, margin_mm: float = 6.0) -> tuple[Grid, np.ndarray]:
    """The isotropic HR grid: the template resampled to ``resolution_mm`` and cropped to its brain
    (plus ``margin_mm``); returns the grid and the template image on it."""
    data, affine = load_nifti(template_file(template))
    spacing = voxel_spacing(affine)
    extent = np.asarray(data.shape) * spacing
    shape = tuple(int(np.floor(e / resolution_mm)) for e in extent)
    scaled = affine.copy()
    scaled[:3, :3] = affine[:3, :3] / spacing * resolution_mm
    scaled[:3, 3] = affine[:3, 3] + affine[:3, :3] @ ((resolution_mm / spacing - 1.0) / 2.0)
    on_grid = resample_to_grid(data, affine, Grid(shape, scaled), order=1, cval=0.0)
    box = mask_bounding_box(on_grid > 0.02 * on_grid.max())
    margin = int(np.ceil(margin_mm / resolution_mm))
    start = np.array([max(b.start - margin, 0) for b in box])
    stop = np.array([min(b.stop + margin, n) for b, n in zip(box, shape, strict=True)])
    cropped = scaled.copy()
    cropped[:3, 3] = scaled[:3, :3] @ start + scaled[:3, 3]
    crop = tuple(slice(int(a), int(b)) for a, b in zip(start, stop, strict=True))
    return Grid(tuple(int(n) for n in stop - start), cropped), on_grid[crop]


def to_ants(data: np.ndarray, affine: np.ndarray) -> ants.ANTsImage:
    """NumPy array + RAS affine -> ANTs image (through nibabel, which handles RAS/LPS)."""
    return ants.from_nibabel_nifti(nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine))


def from_ants(image: ants.ANTsImage) -> tuple[np.ndarray, np.ndarray]:
    """ANTs image -> NumPy array + RAS affine."""
    converted = ants.to_nibabel_nifti(image)
    return np.asarray(converted.dataobj, dtype=np.float32), np.asarray(converted.affine)


def skull_strip(data: np.ndarray, affine: np.ndarray, method: str, source: str = "") -> np.ndarray:
    """Binary brain mask of a native-space image with ``method`` (deepbet | none).

    ``none`` is for data that are already skull-stripped: the mask is every non-zero voxel.
    """
    if method == "none":
        mask = data > 0
    elif method == "deepbet":
        import torch
        from deepbet import BrainExtraction

        extractor = BrainExtraction(no_gpu=not torch.cuda.is_available())
        _, mask_image, _ = extractor.run(nib.Nifti1Image(data, affine))
        mask = np.asarray(mask_image.dataobj) > 0
    else:
        raise InputError(f"unknown skull-stripping method {method!r}; "
                         f"choose one of {list(SKULLSTRIP_METHODS)}")
    if not mask.any():
        raise InputError(f"{source}: skull-stripping ({method}) found no brain")
    return mask


def rigid_matrix_ras(transform_path: str | Path) -> np.ndarray:
    """The 4x4 RAS matrix of an ANTs rigid transform file: it maps fixed-image world points to
    the corresponding moving-image world points."""
    transform = ants.read_transform(str(transform_path))
    parameters = np.asarray(transform.parameters, dtype=np.float64)
    centre = np.asarray(transform.fixed_parameters, dtype=np.float64)
    matrix = parameters[:9].reshape(3, 3)
    lps = np.eye(4)
    lps[:3, :3] = matrix
    lps[:3, 3] = parameters[9:12] + centre - matrix @ centre
    return ANTS_LPS @ lps @ ANTS_LPS


def rotation_degrees(matrix: np.ndarray) -> float:
    """Rotation angle (degrees) of the linear part of a rigid 4x4 matrix."""
    cosine = (np.trace(matrix[:3, :3]) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))


def register_rigid(fixed: ants.ANTsImage, moving: ants.ANTsImage, out_transform: str | Path,
                   limits: RegistrationLimits, label: str, seed: int = 0) -> dict[str, Any]:
    """Rigid (mutual-information) registration of ``moving`` to ``fixed`` with antspyx.

    Writes the transform to ``out_transform`` and returns its quality record; raises
    RegistrationError when MI got worse or the transform is implausible.
    """
    result = ants.registration(fixed=fixed, moving=moving, type_of_transform="Rigid",
                               random_seed=seed)
    Path(out_transform).parent.mkdir(parents=True, exist_ok=True)
    ants.write_transform(ants.read_transform(result["fwdtransforms"][0]), str(out_transform))
    before = -float(ants.image_mutual_information(fixed, ants.resample_image_to_target(moving, fixed)))
    after = -float(ants.image_mutual_information(fixed, result["warpedmovout"]))
    matrix = rigid_matrix_ras(out_transform)
    record = {"mi_before": before, "mi_after": after, "matrix_ras": matrix.tolist(),
              "rotation_degrees": rotation_degrees(matrix),
              "translation_mm": float(np.linalg.norm(matrix[:3, 3]))}
    problems = []
    if after < before:
        problems.append(f"mutual information dropped from {before:.3f} to {after:.3f}")
    if record["rotation_degrees"] > limits.max_rotation_degrees:
        problems.append(f"rotation of {record['rotation_degrees']:.1f} degrees exceeds "
                        f"{limits.max_rotation_degrees}")
    if record["translation_mm"] > limits.max_translation_mm:
        problems.append(f"translation of {record['translation_mm']:.1f} mm exceeds "
                        f"{limits.max_translation_mm}")
    if problems:
        raise RegistrationError(f"{label}: registration failed: {'; '.join(problems)}")
    return record


def normalise(data: np.ndarray, mask: np.ndarray, percentiles: tuple[float, float]
              ) -> tuple[np.ndarray, dict[str, float]]:
    """Map the robust intensity range inside ``mask`` to [0, 1]; zero outside the mask."""
    low, high = np.percentile(data[mask], percentiles)
    if high <= low:
        raise InputError(f"image is constant inside the brain mask ({low})")
    scaled = np.clip((data - low) / (high - low), 0.0, 1.0) * mask
    return scaled.astype(np.float32), {"low_percentile": percentiles[0], "low_value": float(low),
                                       "high_percentile": percentiles[1], "high_value": float(high)}


def apply_transforms(moving: ants.ANTsImage, fixed: ants.ANTsImage, transforms: list[str],
                     interpolator: str) -> np.ndarray:
    """Resample ``moving`` onto ``fixed`` through ``transforms`` (ANTs order: last applied first)."""
    warped = ants.apply_transforms(fixed=fixed, moving=moving, transformlist=transforms,
                                   interpolator=interpolator)
    return from_ants(warped)[0]


def bias_correct(data: np.ndarray, affine: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """N4 bias-field correction inside the brain mask."""
    corrected = ants.n4_bias_field_correction(to_ants(np.maximum(data, 0), affine),
                                              mask=to_ants(mask.astype(np.float32), affine))
    return from_ants(corrected)[0] * mask


def register_reference(raw_path: str | Path, template: str, resolution_mm: float,
                       skullstrip: str, out_mask: str | Path, out_transform: str | Path,
                       limits: RegistrationLimits = RegistrationLimits(), seed: int = 0
                       ) -> dict[str, Any]:
    """Skull-strip the reference contrast, register it to the template, write the HR brain mask."""
    data, affine = load_nifti(raw_path)
    mask = skull_strip(data, affine, skullstrip, str(raw_path))
    grid, template_data = hr_grid(template, resolution_mm)
    fixed = to_ants(template_data, grid.affine)
    brain = to_ants(data * mask, affine)
    record = register_rigid(fixed, brain, out_transform, limits, f"{raw_path} -> {template}", seed)
    mask_hr = apply_transforms(to_ants(mask.astype(np.float32), affine), fixed,
                               [str(out_transform)], "linear") >= 0.5
    save_nifti(out_mask, mask_hr.astype(np.uint8), grid.affine, dtype=np.uint8)
    return {"skullstrip": skullstrip, "template": template, "resolution_mm": resolution_mm,
            "registration": record, "native_brain_voxels": int(mask.sum()),
            "hr_brain_voxels": int(mask_hr.sum()), "hr_shape": list(grid.shape)}


def preprocess_contrast(raw_path: str | Path, reference_path: str | Path, mask_path: str | Path,
                        reference_transform: str | Path, out_image: str | Path,
                        out_transform: str | Path, is_reference: bool,
                        bias_correction: bool = True,
                        percentiles: tuple[float, float] = (0.5, 99.5),
                        limits: RegistrationLimits = RegistrationLimits(), seed: int = 0
                        ) -> dict[str, Any]:
    """Bring one contrast onto the HR grid (via the reference contrast) and normalise it.

    The contrast-to-reference transform is written to ``out_transform`` (the identity for the
    reference contrast itself)."""
    mask, grid_affine = load_nifti(mask_path)
    mask = mask > 0
    fixed = to_ants(mask.astype(np.float32), grid_affine)
    data, affine = load_nifti(raw_path)
    moving = to_ants(data, affine)
    transforms = [str(reference_transform)]
    record: dict[str, Any] = {}
    if is_reference:  # already in reference space: the intra-subject transform is the identity
        identity = ants.create_ants_transform(transform_type="AffineTransform", dimension=3)
        Path(out_transform).parent.mkdir(parents=True, exist_ok=True)
        ants.write_transform(identity, str(out_transform))
    else:
        reference = to_ants(*load_nifti(reference_path))
        record["registration_to_reference"] = register_rigid(
            reference, moving, out_transform, limits, f"{raw_path} -> {reference_path}", seed)
    transforms.append(str(out_transform))
    on_grid = np.maximum(apply_transforms(moving, fixed, transforms, "bSpline"), 0.0) * mask
    if bias_correction:
        on_grid = bias_correct(on_grid, grid_affine, mask)
    normalised, intensity = normalise(on_grid, mask, percentiles)
    save_nifti(out_image, normalised, grid_affine)
    return {**record, "bias_correction": "N4" if bias_correction else "none",
            "normalisation": intensity}
