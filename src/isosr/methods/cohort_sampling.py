"""What the cohort methods share between an HR grid and an LR image: HR voxel centres as
continuous LR voxel indices, interpolation of LR-grid maps at those positions, the LIIF-style
offset from the nearest LR voxel centre, and random training crops."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional

from isosr.io import Grid
from isosr.methods.base import TrainingPair


def positions_in_lr(grid: Grid, lr_affine: np.ndarray, voxels: np.ndarray | None = None
                    ) -> np.ndarray:
    """The HR voxel centres (all, or the (N, 3) ``voxels``) as continuous LR voxel indices."""
    if voxels is None:
        voxels = np.indices(grid.shape).reshape(3, -1).T
    to_lr = np.linalg.inv(lr_affine) @ grid.affine
    return (voxels @ to_lr[:3, :3].T + to_lr[:3, 3]).astype(np.float32)


def interpolate(maps: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Trilinear values (B, N, C) of ``maps`` (B, C, I, J, K) at ``positions`` (B, N, 3) given
    in voxel indices (voxel centres at integers; the border value beyond the last centre)."""
    size = torch.tensor(maps.shape[2:], dtype=positions.dtype, device=positions.device)
    normalised = 2.0 * positions / (size - 1).clamp(min=1) - 1.0
    grid = normalised.flip(-1)[:, :, None, None, :]  # grid_sample wants (k, j, i)
    sampled = functional.grid_sample(maps, grid, mode="bilinear", padding_mode="border",
                                     align_corners=True)
    return sampled[:, :, :, 0, 0].transpose(1, 2)


def nearest_offsets(positions: torch.Tensor) -> torch.Tensor:
    """Offset of each position from its nearest LR voxel centre, scaled to [-1, 1]."""
    return 2.0 * (positions - positions.round())


class CropSampler:
    """Random training crops of one contrast: an LR block of ``patch`` voxels (an int: a cube;
    or one size per LR array axis) centred on a random brain voxel, and ``points`` HR voxels
    drawn inside the block with their values: the contrast's HR intensities, or the
    (*grid.shape, K) maps ``hr_values(pair)`` returns (then the values are (points, K))."""

    def __init__(self, pairs: list[TrainingPair], contrast: str, patch: int | tuple[int, ...],
                 points: int, device: torch.device,
                 hr_values: Callable[[TrainingPair], np.ndarray] | None = None) -> None:
        self.patch = (patch,) * 3 if isinstance(patch, int) else tuple(patch)
        self.points, self.device = points, device
        self.subjects = []
        for pair in pairs:
            image = pair.lr[contrast]
            positions = positions_in_lr(pair.grid, image.affine)
            brain = (np.flatnonzero(pair.grid.mask) if pair.grid.mask is not None
                     else np.arange(len(positions)))
            values = (pair.hr[contrast].reshape(-1) if hr_values is None
                      else hr_values(pair).reshape(len(positions), -1))
            self.subjects.append({
                "lr": torch.from_numpy(np.ascontiguousarray(image.data, np.float32)).to(device),
                "positions": torch.from_numpy(positions).to(device),
                "targets": torch.from_numpy(values.astype(np.float32)).to(device),
                "brain": torch.from_numpy(brain).to(device),
            })

    def crop(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One crop: LR (1, *patch), HR positions in crop indices (points, 3), their values."""
        pick = int(torch.randint(len(self.subjects), (1,), generator=generator,
                                 device=self.device))
        subject = self.subjects[pick]
        lr, positions = subject["lr"], subject["positions"]
        shape = torch.tensor(lr.shape, device=self.device)
        size = torch.minimum(shape, torch.tensor(self.patch, device=self.device))
        brain = subject["brain"]
        centre = positions[brain[torch.randint(len(brain), (1,), generator=generator,
                                               device=self.device)]][0].round().long()
        origin = torch.minimum(torch.clamp(centre - size // 2, min=0), shape - size)
        inside = ((positions >= origin) & (positions <= origin + size - 1)).all(dim=1)
        candidates = torch.nonzero(inside)[:, 0]
        chosen = candidates[torch.randint(len(candidates), (self.points,), generator=generator,
                                          device=self.device)]
        o = origin.tolist()
        s = size.tolist()
        p = self.patch
        block = lr[o[0]:o[0] + s[0], o[1]:o[1] + s[1], o[2]:o[2] + s[2]]
        block = functional.pad(block, (0, p[2] - s[2], 0, p[1] - s[1], 0, p[0] - s[0]))
        return block[None], positions[chosen] - origin, subject["targets"][chosen]
