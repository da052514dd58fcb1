"""Training samples of an INR fit: every observed LR voxel, as tensors on the training device.

With the slice-profile forward model the set also carries each contrast's point spread function
(``forward_model.SliceProfile``); with the point model it carries none.

Each contrast supervises only its own observed voxels: a sample is (normalised world coordinate,
intensity of its contrast scaled to [0, 1], index of that contrast). The intensity scaling is
per contrast (McGinnis et al.: each contrast independently to [0, 1]) and inverted on output, so
predictions come back in the intensity space of the LR images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from isosr.io import InputError, LRImage
from isosr.methods.inr.coordinates import CoordinateFrame
from isosr.methods.inr.forward_model import SliceProfile


@dataclass(frozen=True)
class IntensityScale:
    """Min-max scaling of one contrast: ``(value - low) / (high - low)`` maps it to [0, 1]."""

    low: float
    high: float

    @classmethod
    def of(cls, data: np.ndarray, contrast: str) -> IntensityScale:
        low, high = float(np.min(data)), float(np.max(data))
        if not high > low:
            raise InputError(f"LR image of {contrast} is constant ({low}): nothing to fit")
        return cls(low, high)

    def scale(self, values: np.ndarray) -> np.ndarray:
        return ((np.asarray(values, dtype=np.float64) - self.low) / (self.high - self.low)
                ).astype(np.float32)

    def unscale(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float64) * (self.high - self.low) + self.low
                ).astype(np.float32)


@dataclass(frozen=True)
class TrainingSet:
    """All observed LR voxels of all contrasts, concatenated in sorted-contrast order."""

    coordinates: torch.Tensor  # (N, 3) float32
    targets: torch.Tensor  # (N,) float32 in [0, 1]
    contrast_index: torch.Tensor  # (N,) int64, position of the sample's contrast in `contrasts`
    contrasts: tuple[str, ...]
    profile: SliceProfile | None = None

    def __post_init__(self) -> None:
        # training groups a sorted batch by contrast (``counts``): the set must be contrast-major
        if bool((self.contrast_index[1:] < self.contrast_index[:-1]).any()):
            raise ValueError("TrainingSet: samples must be ordered by contrast index")

    @classmethod
    def from_images(cls, images: dict[str, LRImage], frame: CoordinateFrame,
                    scales: dict[str, IntensityScale], device: torch.device,
                    profile_samples: int | None = None) -> TrainingSet:
        """The set of ``images``; with ``profile_samples`` the slice-profile forward model."""
        contrasts = tuple(sorted(images))
        coordinates, targets, index = [], [], []
        for position, contrast in enumerate(contrasts):
            image = images[contrast]
            coordinates.append(frame.image_coordinates(image.data.shape, image.affine))
            targets.append(scales[contrast].scale(image.data.reshape(-1)))
            index.append(np.full(image.data.size, position, dtype=np.int64))
        profile = (None if profile_samples is None else SliceProfile.of(
            {c: images[c] for c in contrasts}, frame, profile_samples, device))
        return cls(torch.from_numpy(np.concatenate(coordinates)).to(device),
                   torch.from_numpy(np.concatenate(targets)).to(device),
                   torch.from_numpy(np.concatenate(index)).to(device), contrasts, profile)

    def counts(self, batch: torch.Tensor) -> list[int]:
        """The number of samples of each contrast in ``batch`` (sample indices); sorted, a batch
        holds them in contrast order."""
        return torch.bincount(self.contrast_index[batch], minlength=len(self.contrasts)).tolist()

    def __len__(self) -> int:
        return int(self.targets.shape[0])
