"""The INR method family: everything but the network architecture is shared here."""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import nn

from isosr.io import Grid, LRImage
from isosr.methods.base import FitResult, SubjectMethod
from isosr.methods.inr.checkpoint import fingerprint
from isosr.methods.inr.coordinates import CoordinateFrame
from isosr.methods.inr.samples import IntensityScale, TrainingSet
from isosr.methods.inr.training import Trainer, predict, select_device


class INRMethod(SubjectMethod):
    """A subject-specific INR fitted on the LR voxels of all contrasts, predicting the HR grid.

    With ``checkpoint_dir`` set, every epoch is checkpointed there and a checkpoint of the same
    fit found there is resumed.
    """

    @abstractmethod
    def build_network(self, contrasts: int) -> nn.Module:
        """The network mapping (B, 3) coordinates to (B, ``contrasts``) intensities."""

    def fit_predict(self, lr: dict[str, LRImage], grid: Grid) -> FitResult:
        device = select_device(self.params.device)
        contrasts = sorted(lr)
        frame = CoordinateFrame.for_fit([(lr[c].data.shape, lr[c].affine) for c in contrasts],
                                        grid)
        scales = {c: IntensityScale.of(lr[c].data, c) for c in contrasts}
        samples = TrainingSet.from_images(lr, frame, scales, device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            network = self.build_network(len(contrasts)).to(device)
        mi_points = torch.from_numpy(frame.grid_coordinates(grid, inside_mask=True)).to(device)
        trainer = Trainer(network, samples, mi_points, self.params, self.seed,
                          self.checkpoint_dir,
                          fingerprint({**self.describe(), "device": str(device)}, lr, grid),
                          self.name)
        trainer.run()
        history = {**trainer.history(),
                   "parameters": sum(p.numel() for p in network.parameters())}
        outputs = predict(network, torch.from_numpy(frame.grid_coordinates(grid)).to(device))
        outputs = outputs.cpu().numpy()
        images = {c: scales[c].unscale(outputs[:, i]).reshape(grid.shape)
                  for i, c in enumerate(contrasts)}
        return FitResult(images, str(device), history)
