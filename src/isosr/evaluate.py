"""Per-subject evaluation of one method's predictions against the HR ground truth.

The result is a long table (``METRIC_COLUMNS``, one row per value):

- per contrast: ``PSNR``, ``SSIM``, ``LPIPS`` (NaN when its weights are missing);
- per contrast, given its LR scan: ``DC_PSNR`` and ``DC_SSIM``, the no-reference data
  consistency a study without ground truth is scored by (``isosr.clinical.qc``): the LR scan
  against the prediction re-simulated with that scan's acquisition, inside the brain mask
  (``isosr.qc_validity`` correlates it with the true PSNR);
- ``eps_MI`` per contrast and with contrast ``joint`` (two or more contrasts);
- from the segmentations, with contrast = the segmented contrast: ``Dice_<region>`` and
  ``AVD_<region>`` (absolute volume difference in % of the ground truth's volume) for every region
  of the back-end (``isosr.segment.regions``), and ``Dice`` = the mean Dice over CSF, GM and WM.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from isosr import metrics_mcginnis2023 as theirs
from isosr.clinical.qc import data_consistency
from isosr.io import InputError, check_same_grid, load_nifti
from isosr.lpips_weights import LpipsWeights, find_weights
from isosr.masks import binary_mask, check_prediction_scale, check_truth_scale
from isosr.metrics import dice, mi_errors, psnr, ssim
from isosr.results import METRIC_COLUMNS
from isosr.segment import read_sidecar, regions
from isosr.simulate import through_plane_axis
from isosr.vocabulary import TISSUES

METRIC_CONVENTIONS = ("isosr", "mcginnis2023")


def sidecar_of(segmentation_path: str | Path) -> Path:
    """The JSON sidecar next to a ``*_dseg.nii.gz`` segmentation."""
    path = Path(segmentation_path)
    return path.with_name(path.name.removesuffix(".nii.gz") + ".json")


def absolute_volume_difference(segmentation: np.ndarray, reference: np.ndarray) -> float:
    """|V_seg - V_ref| / V_ref in percent for two boolean masks (NaN when V_ref is 0)."""
    reference_volume = int(np.count_nonzero(reference))
    if reference_volume == 0:
        return float("nan")
    return 100.0 * abs(int(np.count_nonzero(segmentation)) - reference_volume) / reference_volume


def segmentation_metrics(truth_path: str | Path, prediction_path: str | Path
                         ) -> list[tuple[str, str, float]]:
    """(contrast, metric, value) rows comparing a prediction's segmentation with the truth's."""
    truth_record, prediction_record = (read_sidecar(sidecar_of(p))
                                       for p in (truth_path, prediction_path))
    for key in ("backend", "contrast"):
        if truth_record[key] != prediction_record[key]:
            raise InputError(f"{prediction_path}: segmented with {key} "
                             f"{prediction_record[key]!r}, but the ground truth {truth_path} with "
                             f"{truth_record[key]!r}")
    truth, truth_affine = load_nifti(truth_path)
    prediction, affine = load_nifti(prediction_path)
    check_same_grid(prediction_path, prediction.shape, affine, truth_path, truth.shape,
                    truth_affine)
    contrast = truth_record["contrast"]
    rows, tissue_dice = [], []
    for name, ids in regions(truth_record["backend"]).items():
        in_truth, in_prediction = np.isin(truth, ids), np.isin(prediction, ids)
        value = dice(in_prediction.astype(np.uint8), in_truth.astype(np.uint8), 1)
        rows.append((contrast, f"Dice_{name}", value))
        rows.append((contrast, f"AVD_{name}", absolute_volume_difference(in_prediction, in_truth)))
        if name in TISSUES:
            tissue_dice.append(value)
    rows.append((contrast, "Dice", float(np.mean(tissue_dice))))
    return rows


def consistency_rows(contrast: str, prediction: np.ndarray, lr_path: str | Path,
                     acquisition: Mapping[str, Any], mask: np.ndarray, affine: np.ndarray
                     ) -> list[tuple[str, str, float]]:
    """DC_PSNR and DC_SSIM of one prediction (as read, on ``affine``) against the LR scan it
    was made from."""
    stack, stack_affine = load_nifti(lr_path)
    axis = through_plane_axis(stack_affine, acquisition["view"])
    result = data_consistency(prediction, affine, mask, stack, stack_affine, axis,
                              float(acquisition["thickness"]),
                              acquisition.get("model", "slice-profile"), 1.0)
    return [(contrast, "DC_PSNR", result.psnr), (contrast, "DC_SSIM", result.ssim)]


@functools.cache
def _lpips_network(weights: LpipsWeights, convention: str
                   ) -> Callable[[np.ndarray, np.ndarray, np.ndarray], float]:
    """LPIPS of a (prediction, truth, mask) volume, loaded once per process (an evaluation job
    scores every method of a subject); PyTorch is imported only here, so an evaluation without
    LPIPS weights never pays its import."""
    from isosr.lpips import Lpips, lpips_volume

    network = Lpips().load_weights(weights)
    theirs = convention == "mcginnis2023"
    return lambda prediction, truth, mask: lpips_volume(network, prediction, truth, mask,
                                                        mcginnis2023=theirs)


def evaluate_subject(*, truth_paths: dict[str, str | Path], prediction_paths: dict[str, str | Path],
                     mask_path: str | Path, ids: dict[str, str],
                     segmentations: tuple[str | Path, str | Path] | None = None,
                     lpips_weights: LpipsWeights | None = None,
                     convention: str = "isosr",
                     lr: Mapping[str, tuple[str | Path, Mapping[str, Any]]] | None = None
                     ) -> pd.DataFrame:
    """All metrics of one method on one subject, as a long table (see the module docstring).

    ``convention``: ``isosr`` (the definitions of ``isosr.metrics``, on the [0, 1] scale of the
    truth: see ``isosr.masks``) or ``mcginnis2023`` (``isosr.metrics_mcginnis2023``: every
    volume renormalised, so any intensity scale is accepted).

    ``ids`` holds dataset, scenario, method, subject and (optionally, default 0) the repeat
    index, repeated on every row.
    ``segmentations`` is (ground truth, prediction) ``*_dseg.nii.gz`` paths, if any.
    ``lpips_weights`` defaults to ``isosr.lpips.find_weights()``.
    ``lr`` maps a contrast to its LR scan and acquisition (view, thickness, model), for the
    data-consistency rows (on the truth's [0, 1] scale, whatever the convention).
    """
    if convention not in METRIC_CONVENTIONS:
        raise InputError(f"metric convention {convention!r}: choose one of "
                         f"{list(METRIC_CONVENTIONS)}")
    mask_data, mask_affine = load_nifti(mask_path)
    mask = binary_mask(mask_data, mask_path)
    unmatched = sorted(set(prediction_paths) - set(truth_paths))
    if unmatched:
        raise InputError(f"no ground truth given for the predicted contrast(s) {unmatched} "
                         f"(ground truth given: {sorted(truth_paths)})")
    truths, predictions, as_read = {}, {}, {}
    for contrast in sorted(prediction_paths):
        for images, path, check_scale in (
                (truths, truth_paths[contrast], check_truth_scale),
                (predictions, prediction_paths[contrast], check_prediction_scale)):
            data, affine = load_nifti(path)
            check_same_grid(path, data.shape, affine, mask_path, mask.shape, mask_affine)
            if images is predictions:
                as_read[contrast] = data
            if convention == "mcginnis2023":
                data = theirs.renormalise(data, mask)
            else:
                check_scale(data, mask, path)
            images[contrast] = data
    weights = find_weights() if lpips_weights is None else lpips_weights
    network = None if weights.missing_reason else _lpips_network(weights, convention)
    rows = []
    for contrast in sorted(predictions):
        prediction, truth = predictions[contrast], truths[contrast]
        if convention == "mcginnis2023":
            rows.append((contrast, "PSNR", theirs.psnr(prediction, truth)))
            rows.append((contrast, "SSIM", theirs.ssim(prediction, truth)))
        else:
            rows.append((contrast, "PSNR", psnr(prediction, truth, mask)))
            rows.append((contrast, "SSIM", ssim(prediction, truth, mask)))
        rows.append((contrast, "LPIPS", float("nan") if network is None
                     else network(prediction, truth, mask)))
    errors = (theirs.mi_errors if convention == "mcginnis2023" else mi_errors)(
        predictions, truths, mask)
    rows += [(contrast, "eps_MI", value) for contrast, value in errors.items()]
    for contrast, (path, acquisition) in sorted((lr or {}).items()):
        rows += consistency_rows(contrast, as_read[contrast], path, acquisition, mask,
                                 mask_affine)
    if segmentations is not None:
        rows += segmentation_metrics(*segmentations)
    frame = pd.DataFrame(rows, columns=["contrast", "metric", "value"])
    frame.insert(0, "repeat", int(ids.get("repeat", 0)))
    for key in ("subject", "method", "scenario", "dataset"):
        frame.insert(0, key, ids[key])
    return frame[METRIC_COLUMNS]
