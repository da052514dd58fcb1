"""An LR-only BIDS study from the embedded generator: test data for the clinical path.

Each subject is an embedded ICBM152-derived subject (``isosr.data.embedded``: not patient data);
each session puts its head in a random pose (the embedded generator's pose model), and each
contrast is acquired as a thick stack (``isosr.simulate``) in that pose. Then every contrast but
the reference is moved by a known rigid transform M (a few degrees about the brain's centre and
a few millimetres, different per contrast and session), by changing only its affine: the file's
affine is M @ A, where A places the stack's voxels where the anatomy is. The voxels are exactly
those simulated; the true correction of a moved stack is M^-1 (new affine = M^-1 @ file affine).

Layout (BIDS 1.9):

    <root>/dataset_description.json
    <root>/sub-<s>/ses-<t>/anat/sub-<s>_ses-<t>_<contrast>.nii.gz  (+ .json with SliceThickness)
    <root>/derivatives/simulation/dataset_description.json
    <root>/derivatives/simulation/motion.json          the known transforms (MOTION_FILE)
    <root>/derivatives/simulation/sub-<s>/ses-<t>/anat/sub-<s>_ses-<t>_desc-brain_mask.nii.gz
        the true brain mask on the session's HR grid (and with ``truth``, the HR images
        sub-<s>_ses-<t>_desc-truth_<contrast>.nii.gz the stacks were simulated from)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from isosr.clinical.derivatives import BIDS_VERSION
from isosr.clinical.sessions import DEFAULT_STACKS, MOTION_FILE, scan_name
from isosr.data.embedded import EmbeddedOptions, random_pose, subject_anatomy, synthesise
from isosr.data.layout import check_label
from isosr.io import InputError, load_nifti, save_json, save_nifti, voxel_to_world
from isosr.repeats import stable_seed
from isosr.simulate import Acquisition, simulate_lr
from isosr.vocabulary import CONTRASTS

# A voxel of the embedded T1w above this fraction of its range is brain (as in template_maps).
BRAIN_THRESHOLD = 0.02


def rigid_motion(rng: np.random.Generator, degrees: tuple[float, float],
                 mm: tuple[float, float], centre: np.ndarray) -> np.ndarray:
    """A rigid 4x4 RAS transform: a rotation by an angle drawn in ``degrees`` about a random
    axis through ``centre``, then a shift of a length drawn in ``mm`` in a random direction."""
    axis = rng.normal(size=3)
    direction = rng.normal(size=3)
    angle = np.deg2rad(rng.uniform(*degrees))
    rotation = Rotation.from_rotvec(axis / np.linalg.norm(axis) * angle).as_matrix()
    motion = np.eye(4)
    motion[:3, :3] = rotation
    motion[:3, 3] = (centre - rotation @ centre
                     + direction / np.linalg.norm(direction) * rng.uniform(*mm))
    return motion


def _check_stacks(stacks: Mapping[str, tuple[str, float]], reference: str) -> None:
    unknown = sorted(set(stacks) - set(CONTRASTS))
    if unknown:
        raise InputError(f"the embedded generator has no contrast {unknown}; choose from "
                         f"{list(CONTRASTS)}")
    if reference not in stacks:
        raise InputError(f"reference contrast {reference!r} is not among the stacks "
                         f"{list(stacks)}")
    for view, thickness in stacks.values():
        Acquisition(view, float(thickness))  # validates view and thickness


def make_lr_study(root: str | Path, subjects: Sequence[str] = ("01",),
                  sessions: Sequence[str] = ("01",),
                  stacks: Mapping[str, tuple[str, float]] = DEFAULT_STACKS,
                  reference: str = "T1w", resolution_mm: float = 2.0,
                  motion_degrees: tuple[float, float] = (3.0, 5.0),
                  motion_mm: tuple[float, float] = (2.0, 4.0), model: str = "slice-profile",
                  seed: int = 0, embedded: EmbeddedOptions | None = None,
                  truth: bool = False) -> dict[str, Any]:
    """Write an LR-only BIDS study under ``root`` (see the module docstring); return its motion
    record (also written to ``root / MOTION_FILE``).

    ``stacks``: contrast -> (view, slice thickness mm), each simulated with ``model`` from an
    embedded subject at ``resolution_mm`` (``embedded`` overrides the generator's other
    options; its ``resolution_mm`` and ``seed`` are these). Every contrast but ``reference`` is
    moved by a rigid transform of ``motion_degrees`` (range) about the brain's centre and
    ``motion_mm`` (range). Seeded: the same arguments give the same files.
    """
    root = Path(root)
    for label in (*subjects, *sessions):
        check_label(label, "make_lr_study")
    _check_stacks(stacks, reference)
    base = embedded or EmbeddedOptions()
    options = EmbeddedOptions(**{**base.__dict__, "subjects": max(len(subjects), 1),
                                 "resolution_mm": float(resolution_mm), "seed": seed})
    save_json(root / "dataset_description.json", {
        "Name": "isosr LR-only study (synthetic, from the ICBM152 2009 template; not patient "
                "data)", "BIDSVersion": BIDS_VERSION, "DatasetType": "raw",
        "GeneratedBy": [{"Name": "isosr", "Description": "isosr.clinical.study.make_lr_study"}]})
    derivatives = root / MOTION_FILE.parent
    save_json(derivatives / "dataset_description.json", {
        "Name": "isosr simulation truth: known motion and brain masks",
        "BIDSVersion": BIDS_VERSION, "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "isosr", "Description": "isosr.clinical.study.make_lr_study"}]})
    scans: dict[str, Any] = {}
    for subject in subjects:
        anatomy, _, template_affine = subject_anatomy(subject, options)
        images = {c: synthesise(subject, c, options)[0] for c in stacks}  # template voxels
        brain = anatomy["T1w"] > BRAIN_THRESHOLD
        shape = brain.shape
        for session in sessions:
            rng = np.random.default_rng(stable_seed(f"lr-study/{seed}/{subject}/{session}"))
            hr_affine = random_pose(template_affine, shape, options.pose_degrees,
                                    options.pose_mm, rng)
            centre = (np.argwhere(brain).mean(axis=0) @ hr_affine[:3, :3].T + hr_affine[:3, 3])
            anat = Path(f"sub-{subject}") / f"ses-{session}" / "anat"
            save_nifti(derivatives / anat / scan_name(subject, session, "mask", "brain"),
                       brain.astype(np.uint8), hr_affine, dtype=np.uint8)
            for contrast, (view, thickness) in stacks.items():
                acquisition = Acquisition(view, float(thickness), model)
                lr, acquired = simulate_lr(images[contrast], hr_affine, acquisition,
                                           f"lr-study/{seed}/{subject}/{session}/{contrast}")
                motion = np.eye(4) if contrast == reference else rigid_motion(
                    np.random.default_rng(stable_seed(
                        f"lr-study/{seed}/{subject}/{session}/{contrast}/motion")),
                    motion_degrees, motion_mm, centre)
                written = motion @ acquired
                path = anat / scan_name(subject, session, contrast)
                save_nifti(root / path, lr, written)
                save_json(root / str(path).replace(".nii.gz", ".json"),
                          {"SliceThickness": float(thickness),
                           "SeriesDescription": f"isosr simulated {view} {thickness:g} mm "
                                                f"{contrast} ({model})"})
                if truth:
                    save_nifti(derivatives / anat / scan_name(subject, session, contrast,
                                                              "truth"),
                               images[contrast], hr_affine)
                correction = np.linalg.inv(motion)
                scans[path.as_posix()] = {
                    "subject": subject, "session": session, "contrast": contrast,
                    "view": view, "slice_thickness_mm": float(thickness), "model": model,
                    "is_reference": contrast == reference,
                    "motion_ras": motion.tolist(), "correction_ras": correction.tolist(),
                    "rotation_degrees": float(np.degrees(Rotation.from_matrix(
                        motion[:3, :3]).magnitude())),
                    "shift_at_brain_centre_mm": float(np.linalg.norm(
                        motion[:3, :3] @ centre + motion[:3, 3] - centre)),
                    "true_affine": acquired.tolist(), "file_affine": written.tolist(),
                    "hr_affine": hr_affine.tolist(), "brain_centre_ras": centre.tolist()}
    record = {"reference_contrast": reference, "resolution_mm": float(resolution_mm),
              "seed": seed, "convention": (
                  "file_affine = motion_ras @ true_affine; the true correction of a scan is "
                  "correction_ras = motion_ras^-1 (new affine = correction_ras @ file_affine); "
                  "RAS millimetres"), "scans": scans}
    save_json(root / MOTION_FILE, record)
    return record


def load_motion(root: str | Path) -> dict[str, Any]:
    """The motion record of a study made by ``make_lr_study``."""
    return json.loads((Path(root) / MOTION_FILE).read_text())


def registration_errors(root: str | Path, alignments: Mapping[tuple[str, str], Mapping[str, Any]]
                        ) -> list[dict[str, Any]]:
    """How far each alignment is from the study's known motion: per (subject, session) and
    contrast, the residual rotation (degrees) and the largest and mean displacement (mm) over
    the true brain of (applied correction)^-1 @ (true correction). ``alignments`` maps
    (subject, session) to its alignment record (isosr.clinical.prepare's alignment.json)."""
    root, rows = Path(root), []
    for truth in load_motion(root)["scans"].values():
        key = (truth["subject"], truth["session"])
        if key not in alignments:
            continue
        record = alignments[key]["contrasts"][truth["contrast"]]
        mask, affine = load_nifti(root / MOTION_FILE.parent / f"sub-{key[0]}" / f"ses-{key[1]}"
                                  / "anat" / scan_name(*key, "mask", "brain"))
        points = voxel_to_world(affine, np.argwhere(mask > 0).astype(np.float64))
        applied = np.asarray(record["affine"]) @ np.linalg.inv(record["original_affine"])
        error = np.linalg.inv(applied) @ np.asarray(truth["correction_ras"])
        moved = np.linalg.norm(points @ error[:3, :3].T + error[:3, 3] - points, axis=1)
        rows.append({"subject": key[0], "session": key[1], "contrast": truth["contrast"],
                     "true_rotation_degrees": truth["rotation_degrees"],
                     "true_shift_mm": truth["shift_at_brain_centre_mm"],
                     "rotation_error_degrees": float(np.degrees(
                         Rotation.from_matrix(error[:3, :3]).magnitude())),
                     "max_error_mm": float(moved.max()), "mean_error_mm": float(moved.mean())})
    return rows
