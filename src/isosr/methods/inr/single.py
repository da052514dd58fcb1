"""Single-contrast INRs (McGinnis et al. 2023, Baseline 4): one INR per contrast, trained alone.

Each contrast's network sees only its own LR image (its own coordinate frame, samples, batches
and epochs) and is seeded from (seed, contrast name), so its output depends only on its input:
the same T1w LR gives the same T1w prediction whichever other contrasts the scenario has.
"""

from __future__ import annotations

from typing import Any

from isosr.io import Grid, LRImage
from isosr.methods.base import FitResult
from isosr.methods.device import select_device
from isosr.methods.inr.method import INRMethod
from isosr.methods.inr.model import MultiOutputINR, NetworkGeometry, vanilla_inr
from isosr.repeats import stable_seed


def contrast_seed(seed: int, contrast: str) -> int:
    """A stable per-contrast seed (SHA-256, not Python's salted hash) of (seed, contrast)."""
    return stable_seed(f"{seed}/{contrast}") % 2**31


def merged_history(histories: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """fit.json's history of several independently trained networks, and each one's own."""
    seconds = sum(h["training_seconds"] for h in histories.values())
    trained = sum(h["training_seconds"] * (h["coordinates_per_second"] or 0.0)
                  for h in histories.values())
    return {
        "epochs": max(h["epochs"] for h in histories.values()),
        "max_epochs": max(h["max_epochs"] for h in histories.values()),
        "stopping_epoch": None,
        "mse": {c: h["mse"][c] for c, h in histories.items()},
        "mi": [None] * max(h["epochs"] for h in histories.values()),
        "training_coordinates": sum(h["training_coordinates"] for h in histories.values()),
        "training_seconds": seconds,
        "coordinates_per_second": trained / seconds if seconds > 0 else None,
        "parameters": sum(h["parameters"] for h in histories.values()),
        "networks": histories,
    }


class SingleContrastINR(INRMethod):
    """No information flows between contrasts: one network per contrast, each fitted alone."""

    def build_network(self, contrasts: int, geometry: NetworkGeometry) -> MultiOutputINR:
        return vanilla_inr(self.params, contrasts, geometry)

    def fit_predict(self, lr: dict[str, LRImage], grid: Grid) -> FitResult:
        device = select_device(self.params.device)
        predictions, histories = {}, {}
        for contrast in sorted(lr):
            checkpoint = None if self.checkpoint_dir is None else self.checkpoint_dir / contrast
            prediction, histories[contrast] = self.fit_network(
                {contrast: lr[contrast]}, grid, device, contrast_seed(self.seed, contrast),
                checkpoint, f"{self.name} {contrast}", budget_share=1.0 / len(lr))
            predictions.update(prediction)
        return FitResult(predictions, str(device), merged_history(histories))
