"""Preprocessing: skull-stripping, rigid registration to a template, resampling to the isotropic
HR grid, bias-field correction and intensity normalisation to [0, 1] inside the brain mask.

Registration and N4 come from antspyx. Skull-stripping back-ends: deepbet (weights ship in its
wheel, so it runs offline; the default), HD-BET 2.x (the reference tool; an optional install
whose parameters are fetched once, see ``isosr.data.hdbet``), or none (data already stripped).
The reference contrast (T1w by default) is skull-stripped and registered to the template; every
other contrast is registered to the reference in its native space and reaches the template
through the composed transforms, so all contrasts share one brain mask.

Every registration is checked: its mutual information before and after, the rotation and the
residual shift are recorded, and an implausible result stops that subject with a
RegistrationError instead of producing a misaligned benchmark.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ants
import nibabel as nib
import numpy as np

from isosr.data.hdbet import checkpoint_file, missing_parameters_message
from isosr.data.templates import template_file
from isosr.io import (
    Grid,
    InputError,
    RegistrationError,
    load_nifti,
    resample_to_grid,
    rescaled_grid,
    save_nifti,
)
from isosr.metrics import mask_bounding_box
from isosr.tools import require_executable, run_tool

SKULLSTRIP_METHODS = ("hd-bet", "deepbet", "none")
ANTS_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])  # ITK/ANTs world coordinates are LPS, NIfTI's are RAS
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegistrationLimits:
    """Plausibility limits of a rigid registration (beyond them the subject is stopped).

    ``max_translation_mm`` bounds the distance between where the transform sends the fixed
    image's centre of mass and the moving image's centre of mass, i.e. the shift beyond the
    centre-of-mass alignment ANTs starts from (the raw translation depends on where each
    scanner puts its origin). ``min_mutual_information`` (ANTs' Mattes MI, nats) rejects an
    alignment of unrelated images: measured on ICBM152-derived data, a head against its template
    scores ~1.0 and FLAIR against T1w ~0.7 after registration, while noise reaches at most ~0.11
    and a uniform sphere ~0.23 (ANTs' optimiser finds some MI in anything).
    """

    max_rotation_degrees: float = 30.0
    max_translation_mm: float = 60.0
    min_mutual_information: float = 0.3

    @classmethod
    def from_config(cls, spec: dict[str, Any]) -> RegistrationLimits:
        """From a dataset's ``registration`` block (missing keys keep their defaults)."""
        return cls(**spec.get("registration", {}))


@dataclass(frozen=True)
class HDBetOptions:
    """How to run HD-BET 2.x (the config's ``hdbet`` block)."""

    executable: str = "hd-bet"
    weights_dir: str = "resources/hd-bet"
    device: str = "auto"
    test_time_augmentation: bool = True


def hr_grid(template: str, resolution_mm: float, margin_mm: float = 6.0) -> tuple[Grid, np.ndarray]:
    """The isotropic HR grid: the template resampled to ``resolution_mm`` and cropped to its brain
    (plus ``margin_mm``); returns the grid and the template image on it."""
    data, affine = load_nifti(template_file(template))
    full = rescaled_grid(data.shape, affine, resolution_mm)
    shape, scaled = full.shape, full.affine
    on_grid = resample_to_grid(data, affine, full, order=1, cval=0.0)
    box = mask_bounding_box(on_grid > 0.02 * on_grid.max())
    margin = int(np.ceil(margin_mm / resolution_mm))
    start = np.array([max(b.start - margin, 0) for b in box])
    stop = np.array([min(b.stop + margin, n) for b, n in zip(box, shape, strict=True)])
    cropped = scaled.copy()
    cropped[:3, 3] = scaled[:3, :3] @ start + scaled[:3, 3]
    crop = tuple(slice(int(a), int(b)) for a, b in zip(start, stop, strict=True))
    return Grid(tuple(int(n) for n in stop - start), cropped), on_grid[crop]


def to_ants(data: np.ndarray, affine: np.ndarray) -> ants.ANTsImage:
    """NumPy array + RAS affine (mm) -> ANTs image (through nibabel, which handles RAS/LPS)."""
    image = nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine)
    image.header.set_xyzt_units("mm", "sec")
    return ants.from_nibabel_nifti(image)


def from_ants(image: ants.ANTsImage) -> tuple[np.ndarray, np.ndarray]:
    """ANTs image -> NumPy array + RAS affine."""
    converted = ants.to_nibabel_nifti(image)
    return np.asarray(converted.dataobj, dtype=np.float32), np.asarray(converted.affine)


def skull_strip(data: np.ndarray, affine: np.ndarray, method: str, source: str = "",
                hdbet: HDBetOptions = HDBetOptions()) -> np.ndarray:
    """Binary brain mask of a native-space image with ``method`` (hd-bet | deepbet | none).

    ``none`` is for data that are already skull-stripped: the mask is every non-zero voxel.
    """
    if method == "none":
        mask = data > 0
    elif method == "hd-bet":
        mask = hdbet_mask(data, affine, hdbet, source)
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


def hdbet_device(options: HDBetOptions) -> str:
    """'cuda' or 'cpu' ('auto' picks CUDA when torch sees a GPU)."""
    if options.device != "auto":
        return options.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def hdbet_command(image: Path, output: Path, options: HDBetOptions, device: str) -> list[str]:
    """The HD-BET 2.x command line that writes only the brain mask of ``image``
    (to ``output`` with '_bet' before '.nii.gz')."""
    command = [options.executable, "-i", str(image), "-o", str(output), "-device", device,
               "--save_bet_mask", "--no_bet_image"]
    return command if options.test_time_augmentation else [*command, "--disable_tta"]


def hdbet_environment(options: HDBetOptions) -> dict[str, str]:
    """The environment HD-BET runs in: HOME is the weights folder (see isosr.data.hdbet)."""
    return {**os.environ, "HOME": str(Path(options.weights_dir).expanduser().resolve())}


def hdbet_mask(data: np.ndarray, affine: np.ndarray, options: HDBetOptions,
               source: str = "") -> np.ndarray:
    """Brain mask from HD-BET 2.x, run as a command (it lives in its own environment)."""
    require_executable(f"{source}: skull-stripping with hd-bet", options.executable,
                       "install HD-BET 2.x (`pip install 'isosr[hdbet]'`, which pulls a CUDA "
                       "build of torch) or set hdbet.executable")
    if not checkpoint_file(options.weights_dir).is_file():
        raise InputError(f"{source}: {missing_parameters_message(options.weights_dir)}")
    with tempfile.TemporaryDirectory(prefix="isosr-hdbet-") as work:
        image, output = Path(work) / "image.nii.gz", Path(work) / "brain.nii.gz"
        save_nifti(image, data, affine)
        run_tool(f"{source}: HD-BET", hdbet_command(image, output, options,
                                                   hdbet_device(options)),
                 env=hdbet_environment(options))
        mask_path = Path(work) / "brain_bet.nii.gz"
        if not mask_path.is_file():
            raise InputError(f"{source}: HD-BET wrote no mask ({mask_path.name})")
        return load_nifti(mask_path)[0] > 0


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


def centre_of_mass_ras(image: ants.ANTsImage) -> np.ndarray:
    """Intensity centre of mass of an ANTs image in RAS world coordinates (mm)."""
    return ANTS_LPS[:3, :3] @ np.asarray(ants.get_center_of_mass(image), dtype=np.float64)


def registration_problems(record: dict[str, Any], limits: RegistrationLimits) -> list[str]:
    """Why a registration's quality record is implausible under ``limits`` (empty if fine)."""
    problems = []
    if record["mi_after"] < record["mi_before"]:
        problems.append(f"mutual information dropped from {record['mi_before']:.3f} to "
                        f"{record['mi_after']:.3f}")
    if record["mi_after"] < limits.min_mutual_information:
        problems.append(f"mutual information after registration {record['mi_after']:.3f} is "
                        f"below min_mutual_information {limits.min_mutual_information}")
    if record["rotation_degrees"] > limits.max_rotation_degrees:
        problems.append(f"rotation of {record['rotation_degrees']:.1f} degrees exceeds "
                        f"max_rotation_degrees {limits.max_rotation_degrees}")
    if record["translation_mm"] > limits.max_translation_mm:
        problems.append(f"shift of {record['translation_mm']:.1f} mm beyond the centre-of-mass "
                        f"alignment exceeds max_translation_mm {limits.max_translation_mm}")
    return problems


def register_rigid(fixed: ants.ANTsImage, moving: ants.ANTsImage, out_transform: str | Path,
                   limits: RegistrationLimits, label: str, seed: int = 0) -> dict[str, Any]:
    """Rigid (mutual-information) registration of ``moving`` to ``fixed`` with antspyx.

    Writes the transform to ``out_transform`` and returns its quality record; raises
    RegistrationError (naming the limits to relax, if the data are fine) when it is implausible.
    """
    # antspyx 0.6.3 ignores registration(random_seed=...); its global deterministic mode seeds
    # the MI sampling and runs ITK on one thread, which makes results repeatable (seed 0 means
    # "unseeded" to ANTs, hence + 1).
    ants.config.set_ants_deterministic(True, seed_value=seed + 1)
    result = ants.registration(fixed=fixed, moving=moving, type_of_transform="Rigid")
    Path(out_transform).parent.mkdir(parents=True, exist_ok=True)
    ants.write_transform(ants.read_transform(result["fwdtransforms"][0]), str(out_transform))
    resampled = ants.resample_image_to_target(moving, fixed)
    matrix = rigid_matrix_ras(out_transform)
    fixed_centre = matrix[:3, :3] @ centre_of_mass_ras(fixed) + matrix[:3, 3]
    record = {"mi_before": -float(ants.image_mutual_information(fixed, resampled)),
              "mi_after": -float(ants.image_mutual_information(fixed, result["warpedmovout"])),
              "matrix_ras": matrix.tolist(), "rotation_degrees": rotation_degrees(matrix),
              "translation_mm": float(np.linalg.norm(fixed_centre - centre_of_mass_ras(moving)))}
    problems = registration_problems(record, limits)
    if problems:
        raise RegistrationError(f"{label}: registration failed: {'; '.join(problems)} (limits "
                                "in datasets.<name>.registration)")
    log.info("%s: MI %.3f -> %.3f, rotation %.1f degrees, shift %.1f mm", label,
             record["mi_before"], record["mi_after"], record["rotation_degrees"],
             record["translation_mm"])
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
    """Resample ``moving`` onto ``fixed`` through ``transforms`` (ANTs order: last first)."""
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
                       limits: RegistrationLimits = RegistrationLimits(), seed: int = 0,
                       hdbet: HDBetOptions = HDBetOptions()) -> dict[str, Any]:
    """Skull-strip the reference contrast, register it to the template, write the HR brain mask."""
    data, affine = load_nifti(raw_path)
    mask = skull_strip(data, affine, skullstrip, str(raw_path), hdbet)
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
