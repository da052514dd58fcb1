"""Per-subject evaluation: the long table with image metrics, LPIPS and segmentation overlap."""

import numpy as np
import pandas as pd
import pytest
from test_lpips import save_random_weights

from isosr.evaluate import evaluate_subject, sidecar_of
from isosr.io import InputError, save_json, save_nifti
from isosr.lpips import LpipsWeights
from isosr.metrics import psnr
from isosr.results import METRIC_COLUMNS, region_metric

AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
IDS = {"dataset": "d", "scenario": "s", "method": "m", "subject": "01"}
NO_WEIGHTS = LpipsWeights(None, None)


@pytest.fixture
def subject(tmp_path):
    """Two contrasts on a 34^3 grid, a noisy prediction of each, and tissue segmentations."""
    rng = np.random.default_rng(0)
    shape = (34, 34, 34)
    mask = np.zeros(shape, dtype=bool)
    mask[3:31, 3:31, 3:31] = True
    labels = np.where(mask, 1 + (np.indices(shape)[0] % 3), 0).astype(np.uint8)
    paths = {"mask": tmp_path / "mask.nii.gz", "truth": {}, "prediction": {}}
    save_nifti(paths["mask"], mask.astype(np.uint8), AFFINE, dtype=np.uint8)
    for contrast, scale in (("T1w", 0.3), ("T2w", -0.3)):
        truth = np.where(mask, 0.5 + scale * (labels.astype(float) - 2), 0).astype(np.float32)
        prediction = truth + rng.normal(0, 0.05, shape).astype(np.float32)
        for kind, image in (("truth", truth), ("prediction", prediction)):
            paths[kind][contrast] = tmp_path / f"{kind}_{contrast}.nii.gz"
            save_nifti(paths[kind][contrast], image, AFFINE)
    predicted_labels = labels.copy()
    predicted_labels[3:31, 3:31, 3] = 2  # one slab of CSF/WM voxels labelled GM
    for kind, image in (("truth", labels), ("prediction", predicted_labels)):
        paths[f"{kind}_labels"] = tmp_path / f"{kind}_T1w_dseg.nii.gz"
        save_nifti(paths[f"{kind}_labels"], image, AFFINE, dtype=np.uint8)
        save_json(sidecar_of(paths[f"{kind}_labels"]), {"backend": "ants", "contrast": "T1w"})
    return paths, labels, predicted_labels


def evaluate(paths, weights=NO_WEIGHTS):
    return evaluate_subject(truth_paths=paths["truth"], prediction_paths=paths["prediction"],
                            mask_path=paths["mask"], ids=IDS,
                            segmentations=(paths["truth_labels"], paths["prediction_labels"]),
                            lpips_weights=weights)


def test_long_table_has_every_metric_and_missing_lpips_is_nan(subject, tmp_path):
    paths, labels, predicted = subject
    frame = evaluate(paths)
    assert list(frame.columns) == METRIC_COLUMNS
    ids = frame[["dataset", "scenario", "method", "subject"]].drop_duplicates()
    assert ids.values.tolist() == [["d", "s", "m", "01"]]
    values = frame.set_index(["contrast", "metric"])["value"]
    assert np.isnan(values["T1w", "LPIPS"]) and np.isnan(values["T2w", "LPIPS"])
    assert set(values.loc["joint"].index) == {"eps_MI"}
    assert {m for c, m in values.index if c == "T1w"} == {
        "PSNR", "SSIM", "LPIPS", "eps_MI", "Dice", "Dice_CSF", "Dice_GM", "Dice_WM", "AVD_CSF",
        "AVD_GM", "AVD_WM"}
    gm_truth, gm_pred = labels == 2, predicted == 2
    expected = 2 * (gm_truth & gm_pred).sum() / (gm_truth.sum() + gm_pred.sum())
    assert values["T1w", "Dice_GM"] == pytest.approx(expected)
    assert values["T1w", "AVD_GM"] == pytest.approx(
        100 * abs(gm_pred.sum() - gm_truth.sum()) / gm_truth.sum())
    assert values["T1w", "Dice"] == pytest.approx(
        np.mean([values["T1w", f"Dice_{t}"] for t in ("CSF", "GM", "WM")]))
    assert region_metric("Dice_GM") == ("Dice", "GM") and region_metric("eps_MI") == ("eps_MI",
                                                                                          None)
    path = tmp_path / "m.tsv"
    frame.to_csv(path, sep="\t", index=False)
    assert np.isnan(pd.read_csv(path, sep="\t").set_index("metric").loc["LPIPS", "value"]).all()


def test_lpips_is_computed_when_the_weights_exist(subject, tmp_path):
    paths, _, _ = subject
    values = evaluate(paths, save_random_weights(tmp_path)).set_index(["contrast", "metric"])
    assert 0 < values.loc[("T1w", "LPIPS"), "value"] < 1
    t1 = values.loc[("T1w", "PSNR"), "value"]
    assert 24 < t1 < 28 and t1 == pytest.approx(_psnr_of(paths, "T1w"))  # noise sd 0.05: 26 dB


def _psnr_of(paths, contrast):
    from isosr.io import load_nifti

    mask = load_nifti(paths["mask"])[0] > 0
    return psnr(load_nifti(paths["prediction"][contrast])[0],
                load_nifti(paths["truth"][contrast])[0], mask)


def test_wrong_prediction_grid_is_an_input_error(subject, tmp_path):
    paths, _, _ = subject
    save_nifti(tmp_path / "small.nii.gz", np.zeros((4, 4, 4), np.float32), AFFINE)
    paths["prediction"]["T2w"] = tmp_path / "small.nii.gz"
    with pytest.raises(InputError, match="small.nii.gz: shape"):
        evaluate(paths)
