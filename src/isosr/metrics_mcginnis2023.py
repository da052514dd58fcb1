"""The metric conventions of McGinnis et al. 2023's released code, so that isosr's numbers can be
set beside their Table 1 (``metrics.convention: mcginnis2023``; isosr's own definitions in
``isosr.metrics`` stay the default).

What their evaluation does differently (see ../shared/notes/reference-code.md):

- both volumes are renormalised: shifted by their minimum inside the brain mask, divided by the
  maximum of the shifted volume inside the mask, and multiplied by the mask (background 0);
- PSNR (data range 1) and SSIM (3D, scikit-image defaults, data range 1) over the whole volume,
  so the zeroed background, identical in both, raises both scores;
- MI from ``np.histogram2d`` with 32 bins over each image's own range (numpy's default) of the
  voxels inside the mask, natural log; eps_MI as in their Eq. 2;
- LPIPS over all slices of all three axes, fed the [0, 1] images as they are (LPIPS expects
  [-1, 1]: a bug of theirs, reproduced).

isosr's defaults differ on purpose: the metrics are computed on the images as the methods
produced them (clipped to the truth's [0, 1] scale, no per-image renormalisation that would
forgive a wrong contrast or offset), and only inside the brain (the background is not a result).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from isosr.metrics import MI_BINS, mutual_information_from_histogram


def renormalise(volume: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(volume - min in mask) / max of that in mask, times the mask (float64)."""
    mask = np.asarray(mask, dtype=bool)
    shifted = np.asarray(volume, dtype=np.float64) - float(np.min(volume[mask]))
    peak = float(np.max(shifted[mask]))
    return (shifted / peak if peak > 0 else shifted) * mask


def psnr(prediction: np.ndarray, truth: np.ndarray) -> float:
    """PSNR (dB, data range 1) over the whole renormalised volumes."""
    if np.array_equal(prediction, truth):
        return float("inf")
    return float(peak_signal_noise_ratio(truth, prediction, data_range=1.0))


def ssim(prediction: np.ndarray, truth: np.ndarray) -> float:
    """3D SSIM (scikit-image defaults, data range 1), mean over the whole renormalised volumes."""
    return float(structural_similarity(truth, prediction, data_range=1.0))


def mutual_information(a: np.ndarray, b: np.ndarray, mask: np.ndarray,
                       bins: int = MI_BINS) -> float:
    """MI (nats) of ``np.histogram2d`` of the voxels in ``mask``, numpy's range."""
    mask = np.asarray(mask, dtype=bool)
    joint, _, _ = np.histogram2d(np.asarray(a)[mask], np.asarray(b)[mask], bins=bins)
    return mutual_information_from_histogram(joint)


def mi_errors(predictions: dict[str, np.ndarray], truths: dict[str, np.ndarray],
              mask: np.ndarray) -> dict[str, float]:
    """eps_MI per contrast and ``joint`` (their Eq. 2), on renormalised volumes."""
    contrasts = sorted(predictions)
    if len(contrasts) < 2:
        return {}
    errors = {ci: float(np.mean([
        abs(mutual_information(predictions[ci], truths[cj], mask)
            - mutual_information(truths[ci], truths[cj], mask))
        for cj in contrasts if cj != ci])) for ci in contrasts}
    errors["joint"] = float(np.mean([
        abs(mutual_information(predictions[ci], predictions[cj], mask)
            - mutual_information(truths[ci], truths[cj], mask))
        for ci, cj in combinations(contrasts, 2)]))
    return errors
