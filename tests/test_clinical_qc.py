"""Quality control without ground truth: an HR volume re-acquired on a stack's grid reproduces the
simulated stack (axis-aligned, every model) and integrates along an oblique stack's own slice
normal; the truth is more consistent with its stack than a blurred volume or one with invented
detail; MI is keyed by sorted pairs and ranks dependence."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.transform import Rotation

from isosr.clinical import qc
from isosr.clinical.qc import contrast_mi, data_consistency, resimulate
from isosr.io import InputError, voxel_to_world, world_to_voxel
from isosr.simulate import FWHM_PER_SIGMA, Acquisition, simulate_lr, through_plane_axis

# 2 mm voxels, x flipped and shifted: world and voxel axes differ
AFFINE = np.array([[-2.0, 0, 0, 50], [0, 2, 0, -40], [0, 0, 2, -30], [0, 0, 0, 1]])
SHAPE = (48, 48, 48)
STACK_AFFINE = AFFINE @ np.diag([1.0, 1.0, 3.0, 1.0])  # 6 mm axial slices


@pytest.fixture(scope="module")
def phantom() -> tuple[np.ndarray, np.ndarray]:
    """A fine random texture in [0, 1] fading to 0 outside a ball, and the ball 'brain' mask."""
    field = ndimage.gaussian_filter(np.random.default_rng(0).normal(size=SHAPE), 0.7)
    field = (field - field.min()) / (field.max() - field.min())
    radius = np.sqrt(((np.indices(SHAPE) - 23.5) ** 2).sum(axis=0))
    return (field * (1 - np.tanh((radius - 17) / 2)) / 2).astype(np.float32), radius < 16


def psnr_inside(a: np.ndarray, b: np.ndarray, margin: int = 2) -> float:
    inner = tuple(slice(margin, -margin) for _ in range(3))
    mse = float(np.mean((a[inner].astype(np.float64) - b[inner]) ** 2))
    return float("inf") if mse == 0 else -10 * np.log10(mse)


def oblique_affine(shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> np.ndarray:
    """A stack grid rotated 10 degrees about a tilted axis, centred in the HR field of view."""
    affine = np.eye(4)
    affine[:3, :3] = Rotation.from_rotvec(np.deg2rad(10) * np.array([1.0, 0.5, 0.2])
                                          / np.linalg.norm([1.0, 0.5, 0.2])).as_matrix()
    affine = affine @ np.diag([*spacing, 1.0])
    centre = voxel_to_world(AFFINE, (np.array(SHAPE) - 1.0)[None] / 2)[0]
    affine[:3, 3] = centre - affine[:3, :3] @ ((np.array(shape) - 1.0) / 2)
    return affine


# Measured on this phantom (dB, right model / wrong one): slice-profile 5 mm 81.6 / 38.8 (half
# the thickness), spline 162 / 34.4 (a Gaussian profile), kspace 5 mm 50.0 / 34.2 (half the
# thickness; a truncated sinc against the simulation's FFT low-pass), decimate 165 / 32.4.
@pytest.mark.parametrize("model, thickness, bound, wrong", [
    ("slice-profile", 5.0, 70.0, dict(thickness_mm=2.5)),
    ("spline", 5.0, 120.0, dict(model="slice-profile")),
    ("kspace", 5.0, 45.0, dict(thickness_mm=2.5)),
    ("decimate", 6.0, 120.0, dict(model="slice-profile")),
])
@pytest.mark.parametrize("view", ["axial", "coronal"])
def test_reacquiring_the_truth_reproduces_the_simulated_stack(phantom, view, model, thickness,
                                                               bound, wrong):
    volume, _ = phantom
    stack, affine = simulate_lr(volume, AFFINE, Acquisition(view, thickness, model))
    told = dict(stack_shape=stack.shape, stack_affine=affine,
                slice_axis=through_plane_axis(affine, view), thickness_mm=thickness, model=model)
    right = psnr_inside(resimulate(volume, AFFINE, **told), stack)
    assert right > bound
    assert psnr_inside(resimulate(volume, AFFINE, **(told | wrong)), stack) < min(42, right - 10)


def test_chunks_do_not_change_the_result(phantom, monkeypatch):
    volume, _ = phantom
    shape, affine = (20, 6, 18), oblique_affine((20, 6, 18), (2.0, 5.0, 2.0))
    whole = resimulate(volume, AFFINE, shape, affine, 1, 5.0, "kspace")
    monkeypatch.setattr(qc, "CHUNK_POINTS", 100)  # fewer points than one line of slices
    np.testing.assert_array_equal(resimulate(volume, AFFINE, shape, affine, 1, 5.0, "kspace"),
                                  whole)


def test_an_oblique_stack_integrates_along_its_own_slice_normal():
    shape = (10, 10, 4)
    affine = oblique_affine(shape, (2.0, 2.0, 6.0))
    world = voxel_to_world(AFFINE, np.indices(SHAPE).reshape(3, -1).T.astype(float))
    centres = voxel_to_world(affine, np.indices(shape).reshape(3, -1).T.astype(float))
    gradient = np.array([0.01, -0.02, 0.005])
    ramp = (world @ gradient + 1.0).reshape(SHAPE)
    again = resimulate(ramp, AFFINE, shape, affine, 2, 6.0, "slice-profile")
    # a profile symmetric about the slice centre keeps linear functions
    np.testing.assert_allclose(again, (centres @ gradient + 1.0).reshape(shape), atol=1e-3)
    # a quadratic along the slice normal n gains the profile's variance, one across it nothing:
    # integrating along the HR axis z instead would be off by sigma^2 sin^2(10 deg) ~ 0.2 mm^2
    middle = world.mean(axis=0)
    sigma = 6.0 / FWHM_PER_SIGMA
    for direction, gain in ((affine[:3, 2] / 6.0, sigma ** 2), (affine[:3, 0] / 2.0, 0.0)):
        square = (((world - middle) @ direction) ** 2).reshape(SHAPE)
        again = resimulate(square, AFFINE, shape, affine, 2, 6.0, "slice-profile")
        expected = (((centres - middle) @ direction) ** 2).reshape(shape) + gain
        np.testing.assert_allclose(again, expected, atol=0.01)


def test_invented_detail_and_blur_are_less_consistent_than_the_truth(phantom):
    volume, mask = phantom
    stack, affine = simulate_lr(volume, AFFINE, Acquisition("axial", 6.0))
    axis = through_plane_axis(affine, "axial")

    def score(candidate, scale=1.0):
        return data_consistency(candidate * scale, AFFINE, mask, stack * scale, affine, axis,
                                6.0, "slice-profile", scale)

    truth = score(volume)
    blurred = score(ndimage.gaussian_filter(volume, (1.5, 1.5, 0.0)))  # in-plane blur
    # detail the in-plane voxels contradict (detail along the slices averages out in a thick
    # slice: data consistency cannot see it, which is why isosr.qc_validity is measured)
    i, j, _ = np.indices(volume.shape)
    invented = score(volume + np.where(mask, 0.1 * ((i + j) % 2 * 2 - 1), 0).astype(np.float32))
    # measured (PSNR dB / SSIM): truth 82.7 / 1.0000, blurred 26.4 / 0.85, invented 20.3 / 0.71
    assert truth.psnr > 70 and truth.ssim > 0.999
    assert blurred.psnr < 35 and blurred.ssim < 0.9
    assert invented.psnr < 25 and invented.ssim < 0.9
    assert not truth.error[~truth.mask].any() and not invented.error[~invented.mask].any()
    centres = voxel_to_world(affine, np.indices(stack.shape).reshape(3, -1).T.astype(float))
    inside = mask[tuple(np.rint(world_to_voxel(AFFINE, centres)).astype(int).T)]
    np.testing.assert_array_equal(truth.mask, inside.reshape(stack.shape))
    scaled = score(volume, scale=250.0)  # the stack's units do not change the scores
    assert scaled.psnr == pytest.approx(truth.psnr, abs=0.1)
    assert invented.record() == {"psnr_db": invented.psnr, "ssim": invented.ssim,
                                 "mask_voxels": int(invented.mask.sum()),
                                 "mean_abs_error": pytest.approx(0.1, abs=0.01)}


@pytest.mark.parametrize("change, message", [
    (dict(scale=float("nan")), "intensity scale nan"),
    (dict(brain_mask=np.ones((48, 48, 47), bool)), r"brain mask \(48, 48, 47\) differ"),
    (dict(stack=np.zeros((48, 48))), "3D stack grid"),
    (dict(slice_axis=3), "slice axis 3"),
    (dict(model="gaussian"), "unknown LR model 'gaussian'"),
    (dict(thickness_mm=0.0), "slice thickness 0.0 mm"),
    (dict(stack_affine=np.diag([2.0, 2.0, 0.0, 1.0])), "stack grid's affine is singular"),
    (dict(stack_affine=STACK_AFFINE + np.outer(np.eye(4)[0], [0, 0, 0, 500])),
     "brain mask does not overlap the stack"),
])
def test_bad_input_is_refused_in_one_line(phantom, change, message):
    volume, mask = phantom
    arguments = dict(sr=volume, hr_affine=AFFINE, brain_mask=mask, stack=np.zeros((48, 48, 8)),
                     stack_affine=STACK_AFFINE, slice_axis=2,
                     thickness_mm=6.0, model="slice-profile", scale=1.0)
    with pytest.raises(InputError, match=message):
        data_consistency(**(arguments | change))


def test_contrast_mi_is_keyed_by_sorted_pairs_and_ranks_dependence(phantom):
    volume, mask = phantom
    noise = np.random.default_rng(1).uniform(size=volume.shape).astype(np.float32)
    mi = contrast_mi({"T1w": volume, "FLAIR": volume, "T2w": noise}, mask)
    assert list(mi) == ["FLAIR-T1w", "FLAIR-T2w", "T1w-T2w"]
    counts, _ = np.histogram(volume[mask], bins=32, range=(0, 1))
    p = counts[counts > 0] / counts.sum()
    assert mi["FLAIR-T1w"] == pytest.approx(-(p * np.log(p)).sum(), rel=1e-9)  # MI(v, v) = H(v)
    assert mi["FLAIR-T1w"] > 2.0 > 0.1 > mi["FLAIR-T2w"] == pytest.approx(mi["T1w-T2w"])
    with pytest.raises(InputError, match=r"contrast T2w \(48, 48\) and the mask"):
        contrast_mi({"T1w": volume, "T2w": noise[0]}, mask)


def test_the_kspace_model_gives_a_magnitude_image():
    box = np.zeros(SHAPE, np.float32)
    box[12:36, 12:36, 14:34] = 1  # sharp edges: the low-pass rings below 0 beside them
    stack, affine = simulate_lr(box, AFFINE, Acquisition("axial", 5.0, "kspace"))
    again = resimulate(box, AFFINE, stack.shape, affine, 2, 5.0, "kspace")
    assert again.min() >= 0 and psnr_inside(again, stack) > 40  # measured 45.7 dB
