"""Metric definitions pinned against hand-computed values and scikit-image."""

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from isosr.metrics import (
    dice,
    mi_errors,
    mutual_information,
    mutual_information_from_histogram,
    psnr,
    ssim,
)


@pytest.fixture
def volume() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    truth = np.zeros((20, 22, 24))
    truth[3:17, 4:18, 5:19] = rng.uniform(0.2, 0.8, (14, 14, 14))
    mask = truth > 0
    return truth, mask


def test_psnr_of_a_known_offset_is_20_db(volume):
    truth, mask = volume
    assert psnr(truth + 0.1 * mask, truth, mask) == pytest.approx(20.0, abs=1e-9)


def test_psnr_ignores_background_and_matches_scikit_image_inside_the_mask(volume):
    truth, mask = volume
    noisy = np.clip(truth + np.random.default_rng(1).normal(0, 0.05, truth.shape), 0, 1)
    noisy_background = noisy.copy()
    noisy_background[~mask] = 0.7
    expected = peak_signal_noise_ratio(truth[mask], noisy[mask], data_range=1.0)
    assert psnr(noisy, truth, mask) == pytest.approx(expected, rel=1e-12)
    assert psnr(noisy_background, truth, mask) == pytest.approx(expected, rel=1e-12)


def test_psnr_clips_predictions_to_unit_range(volume):
    truth, mask = volume
    assert psnr(truth + 5.0 * mask, truth, mask) == pytest.approx(
        psnr(np.where(mask, 1.0, truth), truth, mask))


def test_ssim_is_one_for_identity_and_averages_the_scikit_image_map_inside_the_mask(volume):
    truth, mask = volume
    assert ssim(truth, truth, mask) == pytest.approx(1.0)
    noisy = np.clip(truth + np.random.default_rng(2).normal(0, 0.05, truth.shape), 0, 1) * mask
    _, ssim_map = structural_similarity(truth, noisy, data_range=1.0, full=True)
    full = np.ones_like(mask)
    assert ssim(noisy, truth, full) == pytest.approx(ssim_map.mean(), rel=1e-9)
    # the reference code's whole-volume SSIM is inflated by the identical zero background
    whole_volume = structural_similarity(truth, noisy, data_range=1.0)
    assert ssim(noisy, truth, mask) < whole_volume - 0.01


def test_mi_of_known_joint_histograms():
    assert mutual_information_from_histogram(np.array([[5.0, 0.0], [0.0, 5.0]])) == pytest.approx(
        np.log(2))
    assert mutual_information_from_histogram(np.array([[3.0, 3.0], [3.0, 3.0]])) == pytest.approx(
        0.0)
    # p = [[1/2, 1/4], [0, 1/4]]: MI = 1/2 ln(4/3) + 1/4 ln(2/3) + 1/4 ln 2 (hand-computed)
    expected = 0.5 * np.log(4 / 3) + 0.25 * np.log(2 / 3) + 0.25 * np.log(2)
    assert mutual_information_from_histogram(np.array([[2.0, 1.0], [0.0, 1.0]])) == pytest.approx(
        expected)


def test_mi_matches_numpy_histogram2d_on_32_bins(volume):
    truth, mask = volume
    other = np.clip(1.0 - truth + np.random.default_rng(3).normal(0, 0.1, truth.shape), 0, 1)
    joint, _, _ = np.histogram2d(truth[mask], other[mask], bins=32, range=[[0, 1], [0, 1]])
    assert mutual_information(truth, other, mask) == pytest.approx(
        mutual_information_from_histogram(joint), rel=1e-12)


def test_mi_errors_vanish_for_perfect_predictions_and_grow_with_blur(volume):
    truth, mask = volume
    second = np.clip(1.0 - truth, 0, 1) * mask
    truths = {"T1w": truth, "FLAIR": second}
    assert mi_errors(truths, truths, mask) == {"FLAIR": 0.0, "T1w": 0.0, "joint": 0.0}
    flat = {"T1w": np.full_like(truth, 0.5), "FLAIR": second}
    errors = mi_errors(flat, truths, mask)
    assert errors["T1w"] == pytest.approx(mutual_information(truth, second, mask))
    assert errors["FLAIR"] == 0.0
    assert errors["joint"] == pytest.approx(mutual_information(truth, second, mask))


def test_dice_of_known_overlaps():
    a = np.zeros((10, 10), int)
    b = np.zeros((10, 10), int)
    a[:, :6] = 1
    b[:, 3:] = 1  # overlap 30 voxels, sizes 60 and 70
    assert dice(a, b, 1) == pytest.approx(60 / 130)
    assert dice(a, a, 1) == 1.0
    assert dice(a, b, 2) == 1.0  # label absent from both
