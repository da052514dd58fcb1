"""Quality control without ground truth: an HR volume re-acquired on a stack's grid reproduces the
simulated stack (axis-aligned) and preserves linear ramps (oblique); the truth is more consistent
with its stack than a blurred volume or one with invented detail; MI ranks pairs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.transform import Rotation

from isosr.clinical.qc import contrast_mi, data_consistency, resimulate
from isosr.io import InputError, voxel_to_world
from isosr.simulate import Acquisition, simulate_lr, through_plane_axis

AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])


@pytest.fixture(scope="module")
def phantom() -> tuple[np.ndarray, np.ndarray]:
    """A smooth random volume in [0, 1] on a 2 mm grid, and a ball 'brain' mask."""
    volume = ndimage.gaussian_filter(np.random.default_rng(0).normal(size=(48, 48, 48)), 1.5)
    volume = (volume - volume.min()) / (volume.max() - volume.min())
    grid = np.indices(volume.shape) - 23.5
    return volume.astype(np.float32), (np.sqrt((grid ** 2).sum(axis=0)) < 18)


def psnr_inside(a: np.ndarray, b: np.ndarray, margin: int = 2) -> float:
    inner = tuple(slice(margin, -margin) for _ in range(3))
    mse = float(np.mean((a[inner] - b[inner]) ** 2))
    return float("inf") if mse == 0 else -10 * np.log10(mse)


@pytest.mark.parametrize("model", ["slice-profile", "spline", "kspace"])
@pytest.mark.parametrize("view", ["axial", "coronal"])
def test_reacquiring_the_truth_reproduces_the_simulated_stack(phantom, model, view):
    volume, _ = phantom
    stack, affine = simulate_lr(volume, AFFINE, Acquisition(view, 6.0, model))
    axis = through_plane_axis(affine, view)
    again = resimulate(volume, AFFINE, stack.shape, affine, axis, 6.0, model)
    # measured: slice-profile ~99 dB, spline exact, kspace ~42 dB (a truncated sinc against the
    # simulation's periodic FFT low-pass)
    assert psnr_inside(again, stack) > (35.0 if model == "kspace" else 60.0)
    if model == "slice-profile":  # the wrong profile is clearly worse (measured ~40 dB)
        wrong = resimulate(volume, AFFINE, stack.shape, affine, axis, 3.0, model)
        assert psnr_inside(wrong, stack) < psnr_inside(again, stack) - 20


def test_an_oblique_stack_integrates_along_its_own_slice_normal():
    rotation = np.eye(4)
    rotation[:3, :3] = Rotation.from_rotvec(np.deg2rad(10) * np.array([1.0, 0.5, 0.2])
                                            / np.linalg.norm([1.0, 0.5, 0.2])).as_matrix()
    stack_affine = rotation @ np.diag([2.0, 2.0, 6.0, 1.0])
    stack_affine[:3, 3] = [20.0, 22.0, 18.0]
    world = voxel_to_world(AFFINE, np.indices((48, 48, 48)).reshape(3, -1).T.astype(float))
    ramp = (world @ np.array([0.01, -0.02, 0.005]) + 1.0).reshape(48, 48, 48)
    shape = (12, 12, 6)
    again = resimulate(ramp, AFFINE, shape, stack_affine, 2, 6.0, "slice-profile")
    centres = voxel_to_world(stack_affine, np.indices(shape).reshape(3, -1).T.astype(float))
    expected = (centres @ np.array([0.01, -0.02, 0.005]) + 1.0).reshape(shape)
    np.testing.assert_allclose(again, expected, atol=1e-3)  # a symmetric profile keeps ramps


def test_invented_detail_and_blur_are_less_consistent_than_the_truth(phantom):
    volume, mask = phantom
    stack, affine = simulate_lr(volume, AFFINE, Acquisition("axial", 6.0))
    axis = through_plane_axis(affine, "axial")

    def score(candidate):
        return data_consistency(candidate, AFFINE, mask, stack, affine, axis, 6.0,
                                "slice-profile", 1.0)

    truth = score(volume)
    blurred = score(ndimage.gaussian_filter(volume, (2.0, 2.0, 0.0)))  # in-plane blur
    # detail the in-plane voxels contradict (detail along the slices averages out in a thick
    # slice: data consistency cannot see it, which is why isosr.qc_validity is measured)
    i, j, _ = np.indices(volume.shape)
    checker = 0.1 * ((i + j) % 2 * 2 - 1)
    invented = score(volume + np.where(mask, checker, 0.0).astype(np.float32))
    assert truth.psnr > 60 and truth.ssim > 0.99
    assert blurred.psnr < truth.psnr - 20 and invented.psnr < truth.psnr - 20
    assert invented.psnr < 30  # measured ~20 dB: the checkerboard survives in plane
    assert not truth.error[~truth.mask].any() and truth.mask.any()
    assert truth.record()["mask_voxels"] == int(truth.mask.sum())
    with pytest.raises(InputError, match="intensity scale nan"):
        data_consistency(volume, AFFINE, mask, stack, affine, axis, 6.0, "slice-profile",
                         float("nan"))


def test_contrast_mi_is_keyed_by_sorted_pairs_and_ranks_dependence(phantom):
    volume, mask = phantom
    noise = np.random.default_rng(1).uniform(size=volume.shape).astype(np.float32)
    mi = contrast_mi({"T1w": volume, "FLAIR": 1 - volume, "T2w": noise}, mask)
    assert set(mi) == {"FLAIR-T1w", "FLAIR-T2w", "T1w-T2w"}
    assert mi["FLAIR-T1w"] > 1.0 > 0.2 > mi["T1w-T2w"]
