"""Super-resolved images published as BIDS derivatives with their sidecars.

- a study's session (``publish_outputs``): one method's outputs, copied, with the acquisition it
  was told and its quality control;
- a benchmark scenario (``publish_benchmark``): every method's predictions of every test subject
  (repeat 0) in one derivatives dataset per dataset x scenario, hard-linked where the file
  system allows (a benchmark's predictions are not stored twice), with its metrics.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from isosr.clinical.derivatives import (
    derivative_path,
    sidecar,
    write_dataset_description,
    write_sidecar,
)
from isosr.io import load_nifti, write_atomically
from isosr.masks import binary_mask
from isosr.results import read_metrics


def bids_relative(path: str | Path) -> str:
    """A scan's path inside its BIDS dataset: from its 'sub-<label>' folder on."""
    parts = PurePath(path).parts
    starts = [i for i, part in enumerate(parts) if part.startswith("sub-")]
    return "/".join(parts[starts[0]:]) if starts else PurePath(path).name


def _place(source: Path, image: Path, link: bool) -> None:
    """``source`` at ``image``: a hard link (``link``, same file system) or an atomic copy."""
    image.parent.mkdir(parents=True, exist_ok=True)
    if link:
        try:
            os.link(source, image)
            return
        except OSError:  # another file system, or links not allowed: copy
            pass
    write_atomically(image, f".{image.name}.partial",
                     lambda partial: shutil.copyfile(source, partial))


def publish_image(source: str | Path, image: str | Path, *, outside: np.ndarray,
                  sources: Sequence[str], method: str, fit: Mapping[str, Any],
                  extra: Mapping[str, Any], link: bool = False) -> None:
    """One derivative image (from ``source``) and its sidecar; ``outside``: the voxels outside
    the brain (SkullStripped is whether they are all zero)."""
    params = dict(fit.get("params") or {})
    stripped = not np.any(load_nifti(source)[0][outside])
    _place(Path(source), Path(image), link)
    write_sidecar(image, sidecar(sources=sources, method=method, profile=params.get("profile"),
                                 parameters=params, seed=int(fit.get("seed", 0)),
                                 device=fit["device"], wall_seconds=float(fit["wall_seconds"]),
                                 skull_stripped=stripped,
                                 extra={"peak_memory_mb": fit.get("peak_memory_mb"), **extra}))


def _outside(mask_path: str | Path) -> np.ndarray:
    data, _ = load_nifti(mask_path)
    return ~binary_mask(data, mask_path)


def publish_outputs(*, outputs: Mapping[str, str | Path], images: Mapping[str, str | Path],
                    mask_path: str | Path, method: str, fit: Mapping[str, Any],
                    qc: Mapping[str, Any], alignment: Mapping[str, Any]) -> None:
    """A study's session: copy each contrast's output (``outputs``) to its derivatives path
    (``images``), with a sidecar naming the scans it came from (every contrast of the session:
    a multi-contrast method uses them all), the acquisition it was told and its QC."""
    sources = [bids_relative(alignment["contrasts"][c]["source"])
               for c in sorted(alignment["contrasts"])]
    outside = _outside(mask_path)
    for contrast, output in outputs.items():
        facts = alignment["contrasts"][contrast]
        publish_image(output, images[contrast], outside=outside, sources=sources, method=method,
                      fit=fit, extra={"told_acquisition": facts["told"],
                                      "intensity_scale": facts["intensity_scale"],
                                      "data_consistency": qc["contrasts"][contrast],
                                      "output_mi": qc["mi"]})


def publish_benchmark(*, root: str | Path, config: Mapping[str, Any], name: str,
                      fits: Sequence[Mapping[str, Any]], acquisitions: Mapping[str, Any],
                      raw: str | Path) -> int:
    """A benchmark scenario's predictions as one derivatives dataset at ``root`` (a folder this
    rule owns), whose raw dataset is at ``raw`` (the BIDS-like tree the scenario's LR scans
    were simulated from). ``fits``: per (method, subject) its ``predictions`` (contrast ->
    path), ``record`` (fit.json), ``metrics`` (the subject's TSV: every method's rows) and
    ``mask``; returns the images published."""
    root = Path(root)
    write_dataset_description(root / "dataset_description.json", config, name,
                              os.path.relpath(Path(raw).resolve(), root.resolve()))
    # a subject's metrics file and mask serve all its methods: each is read once
    every_metric = read_metrics(sorted({str(fit["metrics"]) for fit in fits}))
    outside_of = functools.cache(_outside)
    count = 0
    for fit in fits:
        record = json.loads(Path(fit["record"]).read_text())
        metrics: dict[str, dict[str, float]] = {}
        rows = every_metric[(every_metric["method"] == fit["method"])
                            & (every_metric["subject"] == fit["subject"])]
        for row in rows.itertuples():
            metrics.setdefault(row.contrast, {})[row.metric] = float(row.value)
        subject, outside = fit["subject"], outside_of(str(fit["mask"]))
        sources = [f"sub-{subject}/anat/sub-{subject}_{c}.nii.gz" for c in sorted(acquisitions)]
        for contrast, prediction in fit["predictions"].items():
            publish_image(prediction, derivative_path(root, subject, None, fit["method"],
                                                      contrast),
                          outside=outside, sources=sources, method=fit["method"], fit=record,
                          extra={"simulated_acquisition": acquisitions[contrast],
                                 "metrics": metrics.get(contrast, {})}, link=True)
            count += 1
    return count
