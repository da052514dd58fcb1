"""The INR method family: everything but the network architecture is shared here."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from isosr.io import Grid, LRImage
from isosr.methods.base import FitResult, SubjectMethod
from isosr.methods.degradation import as_assumed
from isosr.methods.device import select_device
from isosr.methods.inr.checkpoint import fingerprint
from isosr.methods.inr.coordinates import CoordinateFrame
from isosr.methods.inr.model import MultiOutputINR, NetworkGeometry
from isosr.methods.inr.samples import IntensityScale, TrainingSet
from isosr.methods.inr.training import Trainer, predict


class INRMethod(SubjectMethod):
    """A subject-specific INR fitted on the LR voxels of all contrasts, predicting the HR grid.

    With ``checkpoint_dir`` set, every epoch is checkpointed there and a checkpoint of the same
    fit found there is resumed.
    """

    @abstractmethod
    def build_network(self, contrasts: int, geometry: NetworkGeometry) -> MultiOutputINR:
        """The network mapping (B, 3) coordinates to (B, ``contrasts``) intensities."""

    def fit_predict(self, lr: dict[str, LRImage], grid: Grid) -> FitResult:
        device = select_device(self.params.device)
        predictions, history = self.fit_network(lr, grid, device, self.seed,
                                                self.checkpoint_dir, self.name)
        return FitResult(predictions, str(device), history)

    def fit_network(self, lr: dict[str, LRImage], grid: Grid, device: torch.device, seed: int,
                    checkpoint_dir: Path | None, label: str, budget_share: float = 1.0
                    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Train one network, seeded with ``seed``, on the LR images ``lr`` (with
        ``budget_share`` of the fit's ``budget_seconds``); its prediction of each of their
        contrasts on ``grid`` and its training history."""
        fit = self.prepare(lr, grid, device, seed, checkpoint_dir, label, budget_share)
        fit.trainer.run()
        history = {**fit.trainer.history(),
                   "parameters": sum(p.numel() for p in fit.trainer.network.parameters())}
        return fit.predict(grid), history

    def prepare(self, lr: dict[str, LRImage], grid: Grid, device: torch.device, seed: int,
                checkpoint_dir: Path | None = None, label: str = "INR",
                budget_share: float = 1.0) -> PreparedFit:
        """The network, seeded with ``seed``, and its trainer on the LR images ``lr``."""
        contrasts = sorted(lr)
        frame = CoordinateFrame.for_fit([(lr[c].data.shape, lr[c].affine) for c in contrasts],
                                        grid)
        scales = {c: IntensityScale.of(lr[c].data, c) for c in contrasts}
        slice_profile = self.params.forward_model == "slice-profile"
        assumed = {c: as_assumed(lr[c], self.params.degradation) for c in contrasts}
        samples = TrainingSet.from_images(assumed, frame, scales, device,
                                          self.params.profile_samples if slice_profile else None)
        geometry = NetworkGeometry(frame.half_extent, float(np.min(grid.spacing)))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            network = self.build_network(len(contrasts), geometry).to(device)
        mi_points = None
        if self.params.early_stopping and len(contrasts) > 1:
            mi_points = torch.from_numpy(frame.grid_coordinates(grid, inside_mask=True)).to(device)
        description = {**self.describe(), "seed": seed, "device": str(device)}
        budget = self.params.budget_seconds
        trainer = Trainer(network, samples, mi_points, self.params, seed, checkpoint_dir,
                          fingerprint(description, lr, grid), label,
                          None if budget is None else budget * budget_share)
        return PreparedFit(trainer, frame, scales)


@dataclass(frozen=True)
class PreparedFit:
    """A network's trainer, with what turns the network's outputs into images on a grid."""

    trainer: Trainer
    frame: CoordinateFrame
    scales: dict[str, IntensityScale]

    def predict(self, grid: Grid) -> dict[str, np.ndarray]:
        """Each contrast on ``grid`` (in its LR intensity space) from the network as it is."""
        coordinates = torch.from_numpy(self.frame.grid_coordinates(grid))
        outputs = predict(self.trainer.network, coordinates.to(self.trainer.device))
        outputs = outputs.cpu().numpy()
        return {c: self.scales[c].unscale(outputs[:, i]).reshape(grid.shape)
                for i, c in enumerate(self.trainer.samples.contrasts)}
