"""NIfTI I/O and world-coordinate resampling."""

import gzip

import numpy as np
import pytest

from isosr.io import Grid, InputError, load_nifti, resample_to_grid, save_nifti, world_to_voxel


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
    with pytest.raises(InputError, match="broken.nii.gz: not a readable NIfTI"):
        load_nifti(broken)
    save_nifti(tmp_path / "4d.nii.gz", np.zeros((2, 2, 2, 3)), np.eye(4))
    with pytest.raises(InputError, match="4d.nii.gz: expected a 3D image"):
        load_nifti(tmp_path / "4d.nii.gz")
    save_nifti(tmp_path / "nan.nii.gz", np.full((2, 2, 2), np.nan), np.eye(4))
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
