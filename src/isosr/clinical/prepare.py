"""One session of a study made ready for the methods: aligned stacks, mask, grid, record.

Each acquired stack is written again with only its affine changed (``write_realigned``: the stored
voxels are byte-identical), the reference's brain mask on the session's isotropic output grid
(which defines the grid of every method's output), and alignment.json with, per contrast, its
acquisition as read from the file, the registration's quality, the acquisition each method is
told (view, slice thickness, the study's ``acquisition_model``) and its intensity scale.

Intensity scale: the 99.5th percentile of the stack's voxels inside the brain mask. A method sees
each stack divided by its scale (the [0, 1] range the methods are built for) and its output is
multiplied back, so outputs are in the scan's own units; quality control compares in the scaled
units (a data-consistency PSNR with peak 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from isosr.clinical.acquisition import WORLD_AXIS_VIEW, StackAcquisition
from isosr.clinical.alignment import align_session, write_realigned
from isosr.clinical.qc import carried_mask
from isosr.io import InputError, load_nifti, save_json, save_nifti
from isosr.preprocess import HDBetOptions, RegistrationLimits

SCALE_PERCENTILE = 99.5


def intensity_scale(data: np.ndarray, inside: np.ndarray, label: str) -> float:
    """The SCALE_PERCENTILE-th percentile of ``data`` inside the mask; InputError when the mask
    misses the stack or the stack is blank there."""
    if not inside.any():
        raise InputError(f"{label}: the brain mask does not overlap the stack")
    scale = float(np.percentile(data[inside], SCALE_PERCENTILE))
    if not (np.isfinite(scale) and scale > 0):
        raise InputError(f"{label}: the stack is blank inside the brain mask (its "
                         f"{SCALE_PERCENTILE:g}th percentile there is {scale:g})")
    return scale


def told_acquisition(acquisition: StackAcquisition, affine: np.ndarray, model: str
                     ) -> dict[str, Any]:
    """What a method is told of a scan: the view of its slices and their thickness, with the
    study's slice model, and the array axis its slices are stacked along (for QC). An isotropic
    scan is told as a stack along its coarsest axis (its thickness that axis' spacing, so a
    method has nothing to deblur beyond it)."""
    if acquisition.is_stack:
        return {"view": acquisition.view, "thickness": acquisition.slice_thickness_mm,
                "model": model, "slice_axis": acquisition.slice_axis}
    axis = int(np.argmax(acquisition.spacing_mm))
    direction = np.abs(np.asarray(affine, dtype=np.float64)[:3, axis])
    return {"view": WORLD_AXIS_VIEW[int(np.argmax(direction))],
            "thickness": acquisition.slice_spacing_mm, "model": model, "slice_axis": axis}


def prepare_session(scans: Mapping[str, str | Path], *, label: str, reference_contrast: str,
                    aligned: Mapping[str, str | Path], mask_path: str | Path,
                    record_path: str | Path, skullstrip: str = "deepbet",
                    resolution_mm: float | None = None, acquisition_model: str = "slice-profile",
                    limits: RegistrationLimits | None = None, seed: int = 0,
                    hdbet: HDBetOptions | None = None) -> dict[str, Any]:
    """Align the session's ``scans`` (contrast -> acquired file) and write the aligned stacks
    (``aligned``), the brain mask on the output grid (``mask_path``) and alignment.json
    (``record_path``, written last); return its record. The scans are only read."""
    alignment = align_session(scans, reference_contrast, label, skullstrip, resolution_mm,
                              limits or RegistrationLimits(), seed, hdbet or HDBetOptions())
    grid = alignment.grid
    record = alignment.record()
    for contrast, source in scans.items():
        affine = alignment.affines[contrast]
        write_realigned(source, aligned[contrast], affine)
        data, _ = load_nifti(aligned[contrast])
        inside = carried_mask(grid.mask, grid.affine, data.shape, affine)
        acquisition = alignment.acquisitions[contrast]
        record["contrasts"][contrast].update(
            source=str(source), intensity_scale=intensity_scale(
                data, inside, f"{label} {contrast} ({source})"),
            told=told_acquisition(acquisition, affine, acquisition_model))
    save_nifti(mask_path, grid.mask.astype(np.uint8), grid.affine, dtype=np.uint8)
    record.update(label=label, acquisition_model=acquisition_model, skullstrip=skullstrip)
    save_json(record_path, record)
    return record
