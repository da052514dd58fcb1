"""metrics.convention mcginnis2023: McGinnis et al. 2023's released-code definitions, checked
against a direct implementation of their formulas (written out here, independently of
isosr.metrics_mcginnis2023), and their properties (scale invariance, the background's share)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import REPO
from skimage.metrics import structural_similarity

from isosr.config import Plan
from isosr.evaluate import evaluate_subject
from isosr.io import load_nifti, save_nifti

AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])


def their_renormalisation(volume: np.ndarray, mask: np.ndarray) -> np.ndarray:
    shifted = volume.astype(np.float64) - volume[mask].min()
    return shifted / shifted[mask].max() * mask


def their_mi(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    joint, _, _ = np.histogram2d(a[mask].ravel(), b[mask].ravel(), bins=32)
    p = joint / joint.sum()
    outer = np.outer(p.sum(axis=1), p.sum(axis=0))
    nonzero = p > 0
    return float((p[nonzero] * np.log(p[nonzero] / outer[nonzero])).sum())


@pytest.fixture
def case(tmp_path):
    """Two contrasts on a 20^3 grid with a ball-shaped brain, on a raw scanner scale."""
    rng = np.random.default_rng(3)
    z = np.indices((20, 20, 20)) / 20.0
    mask = ((z - 0.5) ** 2).sum(axis=0) < 0.16
    truth = {"T1w": 300 + 600 * np.sin(3 * z[0]) * np.cos(2 * z[1]) ** 2,
             "T2w": 900 - 500 * np.cos(2 * z[2] + z[0])}
    prediction = {c: v + rng.normal(0, 40, v.shape) for c, v in truth.items()}
    save_nifti(tmp_path / "mask.nii.gz", mask.astype(np.uint8), AFFINE, dtype=np.uint8)
    paths = {}
    for kind, images in (("truth", truth), ("prediction", prediction)):
        for contrast, volume in images.items():
            paths[kind, contrast] = tmp_path / f"{kind}_{contrast}.nii.gz"
            save_nifti(paths[kind, contrast], volume.astype(np.float32), AFFINE)
    return tmp_path, mask, paths


def scores(folder, paths, prediction_scale: float = 1.0) -> dict[tuple[str, str], float]:
    predictions = {c: paths["prediction", c] for c in ("T1w", "T2w")}
    if prediction_scale != 1.0:
        for contrast, path in list(predictions.items()):
            data, affine = load_nifti(path)
            predictions[contrast] = folder / f"scaled_{contrast}.nii.gz"
            save_nifti(predictions[contrast], data * prediction_scale + 7.0, affine)
    frame = evaluate_subject(truth_paths={c: paths["truth", c] for c in ("T1w", "T2w")},
                             prediction_paths=predictions, mask_path=folder / "mask.nii.gz",
                             ids={"dataset": "d", "scenario": "s", "method": "m", "subject": "01"},
                             convention="mcginnis2023")
    return {(r.contrast, r.metric): r.value for r in frame.itertuples()}


def test_their_definitions_against_their_formulas_written_out(case):
    folder, mask, paths = case
    got = scores(folder, paths)
    volumes = {key: their_renormalisation(load_nifti(path)[0], mask)
               for key, path in paths.items()}
    for contrast in ("T1w", "T2w"):
        truth, prediction = volumes["truth", contrast], volumes["prediction", contrast]
        mse = np.mean((truth - prediction) ** 2)  # the whole volume, background included
        assert got[contrast, "PSNR"] == pytest.approx(10 * np.log10(1 / mse), rel=1e-6)
        assert got[contrast, "SSIM"] == pytest.approx(
            structural_similarity(truth, prediction, data_range=1.0), rel=1e-6)
    t1, t2 = volumes["truth", "T1w"], volumes["truth", "T2w"]
    p1, p2 = volumes["prediction", "T1w"], volumes["prediction", "T2w"]
    assert got["T1w", "eps_MI"] == pytest.approx(
        abs(their_mi(p1, t2, mask) - their_mi(t1, t2, mask)), rel=1e-9)
    assert got["joint", "eps_MI"] == pytest.approx(abs(their_mi(p1, p2, mask)
                                                       - their_mi(t1, t2, mask)), rel=1e-9)


def test_their_scores_ignore_the_intensity_scale_and_count_the_background(case):
    """Renormalisation: a prediction scaled by 255 and shifted scores as the original; the raw
    0-1000 truth, refused by isosr's own convention, is accepted. The background (zero in both)
    enters the whole-volume MSE: the same in-brain error scores higher than in-mask PSNR."""
    folder, mask, paths = case
    plain, scaled = scores(folder, paths), scores(folder, paths, prediction_scale=255.0)
    for key, value in plain.items():
        assert scaled[key] == pytest.approx(value, rel=1e-5, abs=1e-9, nan_ok=True), key
    in_brain_fraction = mask.mean()
    assert 0.2 < in_brain_fraction < 0.4
    # whole-volume MSE = in-mask MSE x brain fraction: PSNR up by -10 log10(fraction) dB
    truth = their_renormalisation(load_nifti(paths["truth", "T1w"])[0], mask)
    prediction = their_renormalisation(load_nifti(paths["prediction", "T1w"])[0], mask)
    in_mask = 10 * np.log10(1 / np.mean((truth[mask] - prediction[mask]) ** 2))
    assert plain["T1w", "PSNR"] - in_mask == pytest.approx(-10 * np.log10(in_brain_fraction),
                                                            rel=1e-6)


def test_the_config_key_reaches_the_plan_and_the_caption():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    default = Plan(config)
    assert default.metric_convention == "isosr"
    scenario = default.scenarios[0]
    assert "McGinnis" not in default.caption("icbm152", scenario)
    theirs = Plan({**config, "metrics": {"convention": "mcginnis2023"}})
    assert theirs.metric_convention == "mcginnis2023"
    assert theirs.caption("icbm152", scenario).endswith(
        "Metrics in the convention of McGinnis et al. 2023's code (renormalised volumes, "
        "PSNR/SSIM over the whole volume).")
