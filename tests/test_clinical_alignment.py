"""Clinical alignment on an LR-only BIDS study made from the embedded generator (2 mm subject):
a 4 mm axial T1w (the reference, unmoved), a 4 mm coronal T2w and a 4 mm sagittal FLAIR moved
by known rigid transforms (3-5 degrees, 2-4 mm). The registration recovers each within 1 mm
(largest displacement over the true brain) and 1 degree, only the affines change (the stored
voxels stay byte-identical), the brain mask (deepbet on the reference's isotropic copy) and the
session's HR grid cover the true brain, and an implausible registration names the scan."""

from __future__ import annotations

import gzip
import hashlib
import json

import nibabel as nib
import numpy as np
import pytest

from isosr.clinical.acquisition import stack_acquisition
from isosr.clinical.alignment import Stack, align_session, align_stack, write_realigned
from isosr.clinical.study import DEFAULT_STACKS, MOTION_FILE, load_motion, make_lr_study
from isosr.io import (
    Grid,
    InputError,
    RegistrationError,
    load_nifti,
    resample_to_grid,
    voxel_to_world,
)
from isosr.preprocess import RegistrationLimits, rotation_degrees

MASK = "derivatives/simulation/sub-01/ses-01/anat/sub-01_ses-01_desc-brain_mask.nii.gz"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The study, its motion record and the session aligned (deepbet mask)."""
    root = tmp_path_factory.mktemp("lr_study")
    record = make_lr_study(root, subjects=("01",), sessions=("01",), seed=0)
    scans = {v["contrast"]: root / path for path, v in record["scans"].items()}
    digests = {c: hashlib.sha256(p.read_bytes()).hexdigest() for c, p in scans.items()}
    alignment = align_session(scans, "T1w", "sub-01 ses-01", skullstrip="deepbet")
    return root, record, scans, digests, alignment


def brain_points(root) -> np.ndarray:
    mask, affine = load_nifti(root / MASK)
    return voxel_to_world(affine, np.argwhere(mask > 0).astype(np.float64))


def test_study_is_an_lr_only_bids_dataset_with_known_motion(study):
    root, record, scans, _, _ = study
    assert json.loads((root / "dataset_description.json").read_text())["DatasetType"] == "raw"
    assert load_motion(root) == json.loads(json.dumps(record))
    assert (root / MOTION_FILE).is_file()
    for contrast, (view, thickness) in DEFAULT_STACKS.items():
        path = scans[contrast]
        assert path.name == f"sub-01_ses-01_{contrast}.nii.gz"
        acquisition = stack_acquisition(path)
        assert (acquisition.view, acquisition.thickness_source) == (view, "sidecar")
        assert acquisition.slice_thickness_mm == thickness
        assert acquisition.slice_spacing_mm == pytest.approx(thickness)  # float32 header
        assert acquisition.in_plane_spacing_mm == pytest.approx((2.0, 2.0))
        truth = record["scans"][path.relative_to(root).as_posix()]
        if contrast == "T1w":
            assert truth["is_reference"] and truth["rotation_degrees"] == 0.0
        else:
            assert 3.0 <= truth["rotation_degrees"] <= 5.0
            assert 2.0 <= truth["shift_at_brain_centre_mm"] <= 4.0
        np.testing.assert_allclose(load_nifti(path)[1], truth["file_affine"], atol=1e-4)
    from isosr.data.bids import BidsSource  # pybids indexes it like any BIDS dataset

    found = BidsSource.from_block("clinical", {"root": str(root)}).scans(list(DEFAULT_STACKS))
    assert found == {"01": scans}


def test_registration_recovers_the_known_transforms(study):
    root, record, scans, _, alignment = study
    points = brain_points(root)
    for truth in record["scans"].values():
        contrast = truth["contrast"]
        applied = alignment.affines[contrast] @ np.linalg.inv(
            alignment.original_affines[contrast])
        error = np.linalg.inv(applied) @ np.asarray(truth["correction_ras"])
        displacement = np.linalg.norm(points @ error[:3, :3].T + error[:3, 3] - points, axis=1)
        print(f"{contrast}: true {truth['rotation_degrees']:.2f} deg "
              f"{truth['shift_at_brain_centre_mm']:.2f} mm; error {rotation_degrees(error):.3f} "
              f"deg, max {displacement.max():.3f} mm, mean {displacement.mean():.3f} mm")
        assert rotation_degrees(error) < 1.0 and displacement.max() < 1.0
        if contrast == "T1w":
            np.testing.assert_array_equal(alignment.affines[contrast],
                                          alignment.original_affines[contrast])
            assert contrast not in alignment.registration
            continue
        qa = alignment.registration[contrast]
        assert qa["mi_after"] > qa["mi_before"] and qa["mi_after"] > 0.3
        assert abs(qa["rotation_degrees"] - truth["rotation_degrees"]) < 1.0
        assert qa["coverage_of_mask"] == 1.0
    summary = json.loads(json.dumps(alignment.record()))
    assert set(summary["contrasts"]) == set(DEFAULT_STACKS)


def test_only_the_affines_change_the_voxels_stay_byte_identical(study, tmp_path):
    root, record, scans, digests, alignment = study
    for contrast, path in scans.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digests[contrast]  # unchanged
        out = tmp_path / path.name
        write_realigned(path, out, alignment.affines[contrast])
        before, after = gzip.decompress(path.read_bytes()), gzip.decompress(out.read_bytes())
        offset = nib.load(str(path)).dataobj.offset  # after the header and its extensions
        assert nib.load(str(out)).dataobj.offset == offset
        changed = [i for i in range(offset) if before[i] != after[i]]
        # only geometry: pixdim[1:4] (voxel sizes, last bits) and qform/sform (NIfTI-1)
        assert all(80 <= i < 92 or 252 <= i < 348 for i in changed), changed
        assert before[offset:] == after[offset:] and len(before) == len(after)
        data, affine = load_nifti(out)  # qform and sform agree
        np.testing.assert_array_equal(data, load_nifti(path)[0])
        np.testing.assert_allclose(affine, alignment.affines[contrast], atol=1e-4)


def test_brain_mask_and_hr_grid_cover_the_true_brain(study):
    root, _, _, _, alignment = study
    grid = alignment.grid
    np.testing.assert_allclose(grid.spacing, 2.0)  # the finest in-plane spacing
    assert alignment.resolution_mm == 2.0
    assert alignment.mask.spacing == pytest.approx([2.0] * 3)
    truth, affine = load_nifti(root / MASK)
    on_grid = resample_to_grid(truth, affine, Grid(grid.shape, grid.affine), order=0,
                               cval=0.0) > 0.5
    assert on_grid.sum() == pytest.approx((truth > 0).sum(), rel=0.02)  # the grid holds it all
    dice = 2 * np.sum(on_grid & grid.mask) / (on_grid.sum() + grid.mask.sum())
    assert dice > 0.9


def test_implausible_registration_names_the_scan(study):
    _, _, scans, _, alignment = study
    reference = Stack(*load_nifti(scans["T1w"]))
    noise = np.random.default_rng(0).random((24, 28, 12)).astype(np.float32)
    affine = np.diag([8.0, 8.0, 16.0, 1.0])
    affine[:3, 3] = reference.affine[:3, 3]
    with pytest.raises(RegistrationError, match=r"^sub-01 ses-01 PDw \(noise\): registration "
                                                r"failed: .*below min_mutual_information 0.9"):
        align_stack(Stack(noise, affine), reference, alignment.mask,
                    RegistrationLimits(min_mutual_information=0.9), "sub-01 ses-01 PDw (noise)")


def test_session_failures_are_named_together_per_subject(study, monkeypatch):
    """Every contrast is tried; the failures of a session are raised in one error."""
    import isosr.clinical.alignment as alignment_module

    _, _, scans, _, alignment = study
    monkeypatch.setattr(alignment_module, "reference_mask", lambda *args: alignment.mask)

    def fail(moving, reference, mask, limits, label, seed):
        raise RegistrationError(f"{label}: registration failed: rotation of 40.0 degrees "
                                "exceeds max_rotation_degrees 30.0")

    monkeypatch.setattr(alignment_module, "align_stack", fail)
    with pytest.raises(RegistrationError) as error:
        align_session(scans, "T1w", "sub-07 ses-02")
    message = str(error.value)
    assert message.startswith("sub-07 ses-02: 2 of 2 contrasts failed to align to T1w: ")
    assert f"sub-07 ses-02 T2w ({scans['T2w']}) -> T1w: registration failed" in message
    assert f"sub-07 ses-02 FLAIR ({scans['FLAIR']}) -> T1w: registration failed" in message
    with pytest.raises(InputError, match=r"^sub-07 ses-02: no T1w scan \(the reference "
                                         r"contrast\) among \['FLAIR', 'T2w'\]$"):
        align_session({c: p for c, p in scans.items() if c != "T1w"}, "T1w", "sub-07 ses-02")
