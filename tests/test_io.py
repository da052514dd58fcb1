"""NIfTI I/O and world-coordinate resampling."""

import gzip

import nibabel as nib
import numpy as np
import pytest

from isosr.io import (
    Grid,
    InputError,
    affine_problem,
    check_field_of_view,
    check_grid_size,
    check_same_grid,
    field_of_view_coverage,
    load_nifti,
    resample_to_grid,
    rescaled_grid,
    save_nifti,
    voxel_to_world,
    world_to_voxel,
)


def test_round_trip_keeps_data_and_affine(tmp_path):
    affine = np.diag([2.0, 3.0, 4.0, 1.0])
    affine[:3, 3] = [-10, 5, 7]
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    save_nifti(tmp_path / "a" / "x.nii.gz", data, affine)
    loaded, loaded_affine = load_nifti(tmp_path / "a" / "x.nii.gz")
    np.testing.assert_array_equal(loaded, data)
    np.testing.assert_allclose(loaded_affine, affine)
    assert not list((tmp_path / "a").glob(".*partial*"))


def test_bad_files_raise_errors_that_name_the_file(tmp_path):
    with pytest.raises(InputError, match="missing.nii.gz: file not found"):
        load_nifti(tmp_path / "missing.nii.gz")
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(gzip.compress(b"this is not a NIfTI header"))
    with pytest.raises(InputError, match=r"broken.nii.gz: not a NIfTI image \(no NIfTI-1"):
        load_nifti(broken)
    save_nifti(tmp_path / "4d.nii.gz", np.zeros((2, 2, 2, 3)), np.eye(4))
    with pytest.raises(InputError, match="4d.nii.gz: expected a 3D image"):
        load_nifti(tmp_path / "4d.nii.gz")
    nib.save(nib.Nifti1Image(np.full((2, 2, 2), np.nan, np.float32), np.eye(4)),
             tmp_path / "nan.nii.gz")  # save_nifti refuses to write it
    with pytest.raises(InputError, match="nan.nii.gz: contains NaN"):
        load_nifti(tmp_path / "nan.nii.gz")


def test_resampling_goes_through_world_coordinates():
    source_affine = np.diag([1.0, 1.0, 4.0, 1.0])
    source_affine[2, 3] = 1.5  # slice k is centred at z = 1.5 + 4k
    z = 1.5 + 4.0 * np.arange(8)
    source = np.broadcast_to(z, (5, 5, 8)).astype(np.float32)  # intensity = world z
    target = Grid((5, 5, 32), np.eye(4))
    resampled = resample_to_grid(source, source_affine, target, order=1)
    np.testing.assert_allclose(resampled[2, 2, 2:29], np.arange(2, 29), atol=1e-5)
    np.testing.assert_allclose(world_to_voxel(source_affine, np.array([[0.0, 0.0, 5.5]])),
                               [[0.0, 0.0, 1.0]])


def test_an_oblique_anisotropic_scan_is_accepted_and_float32_rounding_is_one_grid(tmp_path):
    angle = np.radians(30.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0.0],
                         [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.9, 0.9, 4.0])
    affine[:3, 3] = [-91.3, 12.7, 40.1]
    save_nifti(tmp_path / "oblique.nii.gz", np.ones((4, 5, 3)), affine)
    loaded = load_nifti(tmp_path / "oblique.nii.gz")[1]
    assert affine_problem(loaded) is None
    check_same_grid("a", (4, 5, 3), affine.astype(np.float32), "b", (4, 5, 3), loaded)
    shifted = loaded.copy()
    shifted[2, 3] += 0.01
    with pytest.raises(InputError, match=r"a: affine differs from b by up to 0.01 mm"):
        check_same_grid("a", (4, 5, 3), shifted, "b", (4, 5, 3), loaded)


def test_affine_problems_are_named():
    sheared = np.eye(4)
    sheared[0, 1] = np.tan(np.radians(1.0))  # 1 degree of shear
    assert affine_problem(sheared) == "affine is sheared (voxel axes 1 degrees off orthogonal)"
    flat = np.diag([1.0, 1.0, 0.0, 1.0])
    assert affine_problem(flat) == "affine is singular (voxel sizes [1.0, 1.0, 0.0] mm)"
    assert affine_problem(np.full((4, 4), np.inf)) == "affine is not a finite 4x4 matrix"


def test_field_of_view_coverage_counts_grid_voxels_inside_the_image():
    grid = Grid((10, 10, 10), np.eye(4))
    half = _shift(5.0)  # voxel centres x = 5..14 of the grid's 0..9
    assert field_of_view_coverage((10, 10, 10), half, grid) == 0.5
    masked = Grid(grid.shape, grid.affine, np.zeros(grid.shape, bool))
    masked.mask[7:, :5] = True  # entirely inside the shifted image
    assert field_of_view_coverage((10, 10, 10), half, masked) == 1.0
    check_field_of_view("x", (10, 10, 10), half, grid)  # half is enough
    with pytest.raises(InputError, match="x: its field of view covers 40% of the HR grid"):
        check_field_of_view("x", (10, 10, 10), _shift(6.0), grid)


def _shift(x: float) -> np.ndarray:
    affine = np.eye(4)
    affine[0, 3] = x
    return affine


def test_grid_size_is_capped_with_the_size_it_would_need():
    check_grid_size((512, 512, 1024), 0.5)  # exactly MAX_GRID_VOXELS
    with pytest.raises(InputError, match=r"0.5 mm grid .* would need 512x512x1025 = 2.69e\+08 "
                                         r"voxels \(1 GiB per float32 image\), above the limit"):
        check_grid_size((512, 512, 1025), 0.5)
    with pytest.raises(InputError, match="resolution nan mm: expected a positive finite"):
        rescaled_grid((10, 10, 10), np.eye(4), float("nan"))
def test_rescaled_grid_is_aligned_to_the_low_corner():
    """197 x 233 x 189 voxels of 1 mm (ICBM152) at 2 mm: 98 x 116 x 94 voxels whose outer low
    corner is the source's; the 1 mm left over per axis stays uncovered at the high end."""
    rotation = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    affine = np.eye(4)
    affine[:3, :3] = rotation
    affine[:3, 3] = [90.0, -126.0, -72.0]
    shape = (197, 233, 189)
    grid = rescaled_grid(shape, affine, 2.0)
    assert grid.shape == (98, 116, 94)
    assert np.allclose(np.abs(grid.affine[:3, :3]), 2.0 * np.abs(rotation))
    low = voxel_to_world(affine, np.array([[-0.5, -0.5, -0.5]]))
    assert np.allclose(voxel_to_world(grid.affine, np.array([[-0.5, -0.5, -0.5]])), low)
    high = world_to_voxel(affine, voxel_to_world(grid.affine, np.array(grid.shape)[None] - 0.5))
    assert np.allclose(high, [[195.5, 231.5, 187.5]])  # one source voxel short of 196.5 etc.
