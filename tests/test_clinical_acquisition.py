"""Acquisition facts of a clinical scan from its own file: slice axis, view and spacing from the
affine, the BIDS sidecar's SliceThickness winning over the spacing, isotropic scans named as
such, and contradictory sidecars or grids refused with one line naming the file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from isosr.clinical.acquisition import sidecar_path, stack_acquisition
from isosr.io import InputError, save_nifti


def scan(tmp_path, columns, shape=(6, 5, 4), sidecar=None, name="sub-01_T2w.nii.gz"):
    """A small image whose affine has the given voxel axes (3 world vectors), and its sidecar
    (a dict written as JSON, or a string written as is)."""
    affine = np.eye(4)
    affine[:3, :3] = np.asarray(columns, dtype=np.float64).T
    affine[:3, 3] = [-10.0, 20.0, 5.0]
    path = tmp_path / name
    save_nifti(path, np.ones(shape, np.float32), affine)
    if sidecar is not None:
        text = sidecar if isinstance(sidecar, str) else json.dumps(sidecar)
        sidecar_path(path).write_text(text)
    return path


def test_axial_stack_from_the_affine(tmp_path):
    acquisition = stack_acquisition(scan(tmp_path, [[0.9, 0, 0], [0, 0.9, 0], [0, 0, 4.0]]))
    assert acquisition.is_stack and acquisition.kind == "2D stack"
    assert (acquisition.slice_axis, acquisition.view) == (2, "axial")
    assert acquisition.in_plane_spacing_mm == pytest.approx((0.9, 0.9))
    assert acquisition.slice_spacing_mm == acquisition.slice_thickness_mm == pytest.approx(4.0)
    assert acquisition.thickness_source == "affine" and acquisition.sidecar is None
    assert acquisition.obliquity_degrees == pytest.approx(0.0, abs=1e-6)
    assert acquisition.describe() == ("axial 2D stack: 0.9 x 0.9 mm in plane, slices every "
                                      "4 mm, 4 mm thick (affine)")


@pytest.mark.parametrize(("columns", "axis", "view"), [
    ([[1, 0, 0], [0, 0, 1], [0, 5, 0]], 2, "coronal"),    # slices along array axis 2 = world y
    ([[0, 0, -4.5], [0, 1, 0], [1, 0, 0]], 0, "axial"),   # array axis 0 runs along -z
    ([[3.0, 0, 0], [0, 0.5, 0], [0, 0, 0.5]], 0, "sagittal"),
    ([[0, 0.8, 0], [6.0, 0, 0], [0, 0, 0.8]], 1, "sagittal"),
])
def test_slice_axis_and_view_follow_the_affine(tmp_path, columns, axis, view):
    acquisition = stack_acquisition(scan(tmp_path, columns))
    assert (acquisition.slice_axis, acquisition.view) == (axis, view)
    assert acquisition.slice_spacing_mm == pytest.approx(max(np.linalg.norm(columns, axis=1)))


def test_oblique_stack_keeps_its_view_and_records_the_angle(tmp_path):
    tilt = Rotation.from_euler("x", 15, degrees=True).as_matrix()  # e.g. along AC-PC
    columns = (tilt @ np.diag([0.45, 0.45, 5.0])).T
    acquisition = stack_acquisition(scan(tmp_path, columns))
    assert acquisition.view == "axial" and acquisition.slice_axis == 2
    assert acquisition.obliquity_degrees == pytest.approx(15.0, abs=1e-4)  # float32 in the header


@pytest.mark.parametrize("thickness", [3.0, 4.0, 5, 4.6])
def test_sidecar_slice_thickness_wins_over_the_spacing(tmp_path, thickness):
    """A gap (3 mm slices every 4 mm) or an overlap (5 mm every 4 mm) is allowed."""
    path = scan(tmp_path, np.diag([1.0, 1.0, 4.0]), sidecar={"SliceThickness": thickness,
                                                            "EchoTime": 0.1})
    acquisition = stack_acquisition(path)
    assert acquisition.slice_thickness_mm == pytest.approx(thickness)
    assert acquisition.slice_spacing_mm == pytest.approx(4.0)
    assert acquisition.slice_gap_mm == pytest.approx(4.0 - thickness)
    assert acquisition.thickness_source == "sidecar"
    assert acquisition.sidecar == tmp_path / "sub-01_T2w.json"
    assert acquisition.record()["slice_thickness_mm"] == pytest.approx(thickness)


def test_sidecar_without_slice_thickness_and_uncompressed_names(tmp_path):
    path = scan(tmp_path, np.diag([1.0, 1.0, 3.0]), sidecar={"RepetitionTime": 2.0},
                name="sub-02_ses-a_FLAIR.nii")
    assert sidecar_path(path) == tmp_path / "sub-02_ses-a_FLAIR.json"
    acquisition = stack_acquisition(path)
    assert acquisition.thickness_source == "affine" and acquisition.slice_thickness_mm == 3.0
    assert acquisition.sidecar == tmp_path / "sub-02_ses-a_FLAIR.json"


@pytest.mark.parametrize(("spacing", "is_stack"), [
    ((1.0, 1.0, 1.0), False), ((1.0, 1.0, 1.2), False), ((1.0, 1.2, 1.5), False),
    ((1.0, 1.0, 1.6), True), ((0.5, 0.5, 0.8), True),
])
def test_isotropic_scans_are_named_as_such(tmp_path, spacing, is_stack):
    acquisition = stack_acquisition(scan(tmp_path, np.diag(spacing), sidecar={
        "SliceThickness": 1.0}))
    assert acquisition.is_stack is is_stack
    if not is_stack:
        assert acquisition.kind == "isotropic"
        assert acquisition.slice_axis is None and acquisition.view is None
        assert acquisition.describe().startswith("isotropic: ")
        assert acquisition.finest_spacing_mm == pytest.approx(min(spacing))
        assert acquisition.slice_thickness_mm == 1.0  # the sidecar still tells it


@pytest.mark.parametrize(("sidecar", "message"), [
    ({"SliceThickness": "4 mm"}, 'SliceThickness "4 mm" is not a number'),
    ({"SliceThickness": True}, "SliceThickness true is not a number"),
    ({"SliceThickness": None}, "SliceThickness null is not a number"),
    ({"SliceThickness": [4.0]}, r"SliceThickness \[4.0\] is not a number"),
    ({"SliceThickness": 0}, "SliceThickness 0 mm: expected a positive finite number"),
    ({"SliceThickness": -2.5}, "SliceThickness -2.5 mm: expected a positive finite number"),
    ('{"SliceThickness": NaN}', "SliceThickness nan mm: expected a positive finite number"),
    ('{"SliceThickness": 4.0,', "not a valid JSON sidecar"),
    ("[4.0]", "a JSON sidecar must be an object"),
    (b"\xff\xfe{}", "not a valid JSON sidecar"),
])
def test_bad_sidecars_are_refused_in_one_line_naming_the_file(tmp_path, sidecar, message):
    path = scan(tmp_path, np.diag([1.0, 1.0, 4.0]),
                sidecar=None if isinstance(sidecar, bytes) else sidecar)
    if isinstance(sidecar, bytes):
        sidecar_path(path).write_bytes(sidecar)
    with pytest.raises(InputError, match=message) as error:
        stack_acquisition(path)
    text = str(error.value)
    assert text.startswith(f"{tmp_path / 'sub-01_T2w.json'}: ") and "\n" not in text


def test_two_thick_axes_are_refused_naming_the_image(tmp_path):
    path = scan(tmp_path, np.diag([1.0, 4.0, 4.0]))
    with pytest.raises(InputError, match=r"sub-01_T2w.nii.gz: voxel spacing 1 x 4 x 4 mm has "
                                         r"two thick axes"):
        stack_acquisition(path)
