"""LR simulation: slice geometry in world coordinates and the physics of each model."""

import numpy as np
import pytest

from isosr.io import InputError, voxel_to_world
from isosr.simulate import (
    FWHM_PER_SIGMA,
    Acquisition,
    add_rician_noise,
    simulate_lr,
    slice_centres,
    through_plane_axis,
)

HR_AFFINE = np.array([[1.0, 0, 0, -20], [0, 1.0, 0, -15], [0, 0, 1.0, -10], [0, 0, 0, 1]])


def ramp(shape=(12, 10, 20), axis=2) -> np.ndarray:
    """Intensity equal to the voxel index along ``axis``."""
    return np.indices(shape, dtype=np.float64)[axis]


def test_axial_4mm_slice_centres_sit_at_their_world_positions():
    lr, affine = simulate_lr(ramp(), HR_AFFINE, Acquisition("axial", 4.0, "spline"))
    assert lr.shape == (12, 10, 5)
    centres_z = voxel_to_world(affine, np.array([[0, 0, k] for k in range(5)], float))[:, 2]
    # HR voxel k spans z in [-10.5 + k, -9.5 + k]: the five 4 mm slabs tile [-10.5, 9.5]
    np.testing.assert_allclose(centres_z, [-8.5, -4.5, -0.5, 3.5, 7.5])
    np.testing.assert_allclose(np.linalg.norm(affine[:3, :3], axis=0), [1, 1, 4])
    # in-plane geometry is unchanged
    np.testing.assert_allclose(affine[:2, :2], HR_AFFINE[:2, :2])
    np.testing.assert_allclose(affine[:2, 3], HR_AFFINE[:2, 3])


def test_non_integer_thickness_gives_a_centred_stack():
    centres = slice_centres(20, 3.3)
    assert len(centres) == 6
    np.testing.assert_allclose(np.diff(centres), 3.3)
    first_edge, last_edge = centres[0] - 1.65, centres[-1] + 1.65
    assert first_edge - (-0.5) == pytest.approx(19.5 - last_edge)


@pytest.mark.parametrize("view, axis", [("sagittal", 0), ("coronal", 1), ("axial", 2)])
def test_view_maps_to_the_right_axis_even_for_permuted_affines(view, axis):
    assert through_plane_axis(HR_AFFINE, view) == axis
    permuted = HR_AFFINE[:, [2, 0, 1, 3]]  # array axis 0 runs along world z
    assert through_plane_axis(permuted, view) == [1, 2, 0][axis]


def test_coronal_stack_on_an_oblique_grid_keeps_world_positions():
    angle = np.deg2rad(10)
    rotation = np.array([[1, 0, 0, 0], [0, np.cos(angle), -np.sin(angle), 0],
                         [0, np.sin(angle), np.cos(angle), 0], [0, 0, 0, 1]])
    affine = rotation @ HR_AFFINE
    hr = ramp(shape=(8, 40, 8), axis=1)
    lr, lr_aff = simulate_lr(hr, affine, Acquisition("coronal", 2.5, "spline"))
    centres = slice_centres(40, 2.5)
    expected = voxel_to_world(affine, np.array([[3, c, 4] for c in centres]))
    got = voxel_to_world(lr_aff, np.array([[3, j, 4] for j in range(len(centres))], float))
    np.testing.assert_allclose(got, expected, atol=1e-9)
    np.testing.assert_allclose(lr[3, 2:-2, 4], centres[2:-2], atol=1e-4)  # ramp = HR index


def test_spline_and_slice_profile_preserve_a_linear_ramp_inside_the_volume():
    for model in ("spline", "slice-profile"):
        lr, _ = simulate_lr(ramp(), HR_AFFINE, Acquisition("axial", 4.0, model))
        np.testing.assert_allclose(lr[5, 5, 1:-1], slice_centres(20, 4.0)[1:-1], atol=1e-3)


def test_slice_profile_has_the_requested_fwhm():
    hr = np.zeros((4, 4, 41))
    hr[:, :, 20] = 1.0  # a thin plane exactly between two slice centres (17.5 and 22.5)
    lr, _ = simulate_lr(hr, HR_AFFINE, Acquisition("axial", 5.0, "slice-profile"))
    np.testing.assert_allclose(slice_centres(41, 5.0)[3:5], [17.5, 22.5])
    peak = 1.0 / (np.sqrt(2 * np.pi) * 5.0 / FWHM_PER_SIGMA)
    # 2.5 mm = FWHM / 2 from both centres: each slice sees half the profile's peak
    np.testing.assert_allclose(lr[0, 0, 3:5], [peak / 2, peak / 2], rtol=0.02)
    assert lr[0, 0, 2] < 0.01 * peak


def test_kspace_keeps_frequencies_below_the_cutoff_and_removes_those_above():
    z = np.arange(64)
    low = 1.0 + 0.5 * np.sin(2 * np.pi * z / 32.0)  # 1/32 per mm < 1/(2*4)
    high = 1.0 + 0.5 * np.sin(2 * np.pi * z / 4.0)  # 1/4 per mm > 1/(2*4)
    hr = np.broadcast_to(np.stack([low, high])[:, None, :], (2, 3, 64)).copy()
    lr, affine = simulate_lr(hr, HR_AFFINE, Acquisition("axial", 4.0, "kspace"))
    centres = slice_centres(64, 4.0)
    np.testing.assert_allclose(lr[0, 0], 1.0 + 0.5 * np.sin(2 * np.pi * centres / 32.0),
                               atol=0.02)
    np.testing.assert_allclose(lr[1, 0], 1.0, atol=0.02)


def test_decimate_keeps_exact_hr_slices_and_rejects_non_integer_factors():
    hr = np.random.default_rng(0).uniform(size=(6, 7, 21))
    lr, affine = simulate_lr(hr, HR_AFFINE, Acquisition("axial", 3.0, "decimate"))
    centres = slice_centres(21, 3.0, integer=True)
    np.testing.assert_array_equal(centres, [1, 4, 7, 10, 13, 16, 19])
    np.testing.assert_allclose(lr, hr[:, :, centres.astype(int)], atol=1e-6)
    assert voxel_to_world(affine, np.array([[0.0, 0, 0]]))[0, 2] == pytest.approx(-10 + 1)
    with pytest.raises(InputError, match="decimate"):
        simulate_lr(hr, HR_AFFINE, Acquisition("axial", 2.5, "decimate"))


def test_invalid_acquisitions_are_rejected_with_a_clear_message():
    with pytest.raises(InputError, match="below the HR spacing"):
        simulate_lr(ramp(), HR_AFFINE, Acquisition("axial", 0.5))
    with pytest.raises(InputError, match="unknown view 'oblique'"):
        Acquisition("oblique", 4.0)
    with pytest.raises(InputError, match="unknown LR model"):
        Acquisition("axial", 4.0, "gaussian")


def test_rician_noise_on_zero_signal_has_rayleigh_mean():
    noisy = add_rician_noise(np.zeros(200_000), 0.1, np.random.default_rng(0))
    assert noisy.mean() == pytest.approx(0.1 * np.sqrt(np.pi / 2), rel=0.01)


def test_simulation_is_seeded():
    hr = ramp()
    spec = Acquisition("axial", 4.0, noise=0.05)
    a, _ = simulate_lr(hr, HR_AFFINE, spec, seed="x/sub-01/T1w")
    b, _ = simulate_lr(hr, HR_AFFINE, spec, seed="x/sub-01/T1w")
    c, _ = simulate_lr(hr, HR_AFFINE, spec, seed="x/sub-02/T1w")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_rician_noise_on_huge_values_does_not_overflow():
    """The magnitude is np.hypot's: sqrt(real**2 + imaginary**2) would square 1e200 to inf."""
    noisy = add_rician_noise(np.full(1000, 1e200), 1e200, np.random.default_rng(0))
    assert np.all(np.isfinite(noisy)) and 1e200 < noisy.mean() < 2e200
