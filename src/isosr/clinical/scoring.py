"""Quality control of one method's outputs on one session, without ground truth: qc.json.

Per contrast, data consistency (``isosr.clinical.qc.data_consistency``): the output re-simulated
with its acquired stack's own acquisition (on the stack's grid, as aligned) against the stack,
PSNR / SSIM inside the brain mask in the stack's intensity-scaled units, with the error map; and
the mutual information between the outputs' contrasts inside the mask.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from isosr.clinical.qc import contrast_mi, data_consistency
from isosr.io import load_nifti, save_json, save_nifti
from isosr.masks import binary_mask


def score_session(*, aligned: Mapping[str, str | Path], outputs: Mapping[str, str | Path],
                  mask_path: str | Path, alignment_path: str | Path,
                  maps: Mapping[str, str | Path], record_path: str | Path) -> dict[str, Any]:
    """Score the outputs (contrast -> SR image on the session's grid) against the aligned
    stacks; write each error map (``maps``) and the record (``record_path``, last)."""
    alignment = json.loads(Path(alignment_path).read_text())
    mask_data, hr_affine = load_nifti(mask_path)
    mask = binary_mask(mask_data, mask_path)
    scaled, contrasts = {}, {}
    for contrast, path in outputs.items():
        facts = alignment["contrasts"][contrast]
        scale = float(facts["intensity_scale"])
        sr, _ = load_nifti(path)
        stack, stack_affine = load_nifti(aligned[contrast])
        told = facts["told"]
        result = data_consistency(sr, hr_affine, mask, stack, stack_affine, told["slice_axis"],
                                  float(told["thickness"]), told["model"], scale)
        save_nifti(maps[contrast], result.error, stack_affine)
        contrasts[contrast] = result.record()
        scaled[contrast] = sr / np.float32(scale)
    record = {"contrasts": contrasts, "mi": contrast_mi(scaled, mask),
              "mean_psnr_db": float(np.mean([c["psnr_db"] for c in contrasts.values()])),
              "mean_ssim": float(np.mean([c["ssim"] for c in contrasts.values()]))}
    save_json(record_path, record)
    return record
