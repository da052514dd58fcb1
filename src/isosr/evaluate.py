"""Per-subject evaluation of one method's predictions against the HR ground truth."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from isosr.io import InputError, load_nifti
from isosr.metrics import mi_errors, psnr, ssim

METRIC_COLUMNS = ["dataset", "scenario", "method", "subject", "contrast", "metric", "value"]


def evaluate_subject(truth_paths: dict[str, str | Path], prediction_paths: dict[str, str | Path],
                     mask_path: str | Path, ids: dict[str, str]) -> pd.DataFrame:
    """PSNR and SSIM per contrast and the MI errors, as a long table (one row per value).

    ``ids`` holds dataset, scenario, method and subject, repeated on every row.
    """
    mask = load_nifti(mask_path)[0] > 0
    truths, predictions = {}, {}
    for contrast in sorted(prediction_paths):
        truths[contrast] = load_nifti(truth_paths[contrast])[0]
        predictions[contrast] = load_nifti(prediction_paths[contrast])[0]
        if predictions[contrast].shape != mask.shape:
            raise InputError(f"{prediction_paths[contrast]}: shape {predictions[contrast].shape} "
                             f"differs from the HR grid {mask.shape}")
    rows = []
    for contrast in sorted(predictions):
        rows.append((contrast, "PSNR", psnr(predictions[contrast], truths[contrast], mask)))
        rows.append((contrast, "SSIM", ssim(predictions[contrast], truths[contrast], mask)))
    rows += [(contrast, "eps_MI", value)
             for contrast, value in mi_errors(predictions, truths, mask).items()]
    frame = pd.DataFrame(rows, columns=["contrast", "metric", "value"])
    for key in ("subject", "method", "scenario", "dataset"):
        frame.insert(0, key, ids[key])
    return frame[METRIC_COLUMNS]
