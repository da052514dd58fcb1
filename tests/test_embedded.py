"""The embedded ICBM152-derived dataset: deterministic, plausible contrasts, real head poses."""

import numpy as np
import pytest

from isosr.data.embedded import (
    TISSUES,
    EmbeddedOptions,
    csf_nulling_inversion_time,
    inversion_recovery,
    lesion_mask,
    synthesise,
    tissue_signal,
)

OPTIONS = EmbeddedOptions(subjects=2, resolution_mm=6.0, noise=0.0, bias_field=0.0)


def test_flair_nulls_csf_and_lesions_are_bright_in_flair_and_t2w():
    ti = csf_nulling_inversion_time(9000.0)
    assert inversion_recovery(TISSUES["CSF"], 9000.0, 125.0, ti) == pytest.approx(0.0, abs=1e-12)
    for contrast in ("FLAIR", "T2w"):
        lesion = tissue_signal(contrast, TISSUES["lesion"])
        assert lesion > tissue_signal(contrast, TISSUES["WM"])
        assert lesion > tissue_signal(contrast, TISSUES["GM"])
    assert tissue_signal("T2w", TISSUES["CSF"]) > tissue_signal("T2w", TISSUES["GM"]) > \
        tissue_signal("T2w", TISSUES["WM"])


def test_subjects_are_deterministic_and_differ_from_each_other():
    a, affine_a = synthesise("01", "T1w", OPTIONS)
    b, affine_b = synthesise("01", "T1w", OPTIONS)
    c, affine_c = synthesise("02", "T1w", OPTIONS)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(affine_a, affine_b)
    assert not np.allclose(a, c)
    assert not np.allclose(affine_a, affine_c)
    np.testing.assert_allclose(np.linalg.norm(affine_a[:3, :3], axis=0), 6.0)  # rigid pose


def test_lesions_are_visible_in_flair_but_faint_in_t1w():
    options = EmbeddedOptions(resolution_mm=3.0, noise=0.0, bias_field=0.0, pose_degrees=0.0,
                              pose_mm=0.0, lesions=6)
    lesions = lesion_mask("01", options)[0].astype(bool)
    assert lesions.sum() > 20
    flair = synthesise("01", "FLAIR", options)[0]
    t1 = synthesise("01", "T1w", options)[0]
    shell = _dilate(lesions, 2) & ~_dilate(lesions, 1)
    flair_contrast = flair[lesions].mean() / flair[shell].mean()
    t1_contrast = t1[lesions].mean() / t1[shell].mean()
    assert flair_contrast > 1.5
    assert 0.6 < t1_contrast < 1.0


def _dilate(mask: np.ndarray, iterations: int) -> np.ndarray:
    from scipy.ndimage import binary_dilation

    return binary_dilation(mask, iterations=iterations)
