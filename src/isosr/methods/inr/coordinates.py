"""One world-coordinate normalisation shared by training (LR voxels) and inference (HR grid).

Coordinates are world (scanner) millimetres from each image's affine. The frame is the bounding
box of every LR voxel centre *and* every HR grid point, centred on its midpoint and divided by
one scalar (the largest half-extent), so all points land in [-1, 1]^3, millimetres stay
isotropic (Fourier-feature frequencies mean the same along every axis), and a world point gets
the same normalised coordinate whichever image it came from. (The reference code normalises
training and inference with different extents, which shifts the prediction.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import product

import numpy as np

from isosr.io import Grid, voxel_to_world


def voxel_centres(shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
    """World coordinates (N, 3) of every voxel centre of an image, in C (row-major) order."""
    indices = np.indices(shape, dtype=np.float64).reshape(3, -1).T
    return voxel_to_world(affine, indices)


def corner_centres(shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
    """World coordinates (8, 3) of the extreme voxel centres; their box bounds every centre."""
    corners = np.array(list(product(*[(0, n - 1) for n in shape])), dtype=np.float64)
    return voxel_to_world(affine, corners)


@dataclass(frozen=True)
class CoordinateFrame:
    """World millimetres -> normalised [-1, 1] coordinates: ``(xyz - centre) / half_extent``."""

    centre: np.ndarray
    half_extent: float

    @classmethod
    def enclosing(cls, images: Iterable[tuple[tuple[int, ...], np.ndarray]]) -> CoordinateFrame:
        """The frame of the bounding box of the voxel centres of (shape, affine) pairs."""
        corners = np.concatenate([corner_centres(shape, affine) for shape, affine in images])
        low, high = corners.min(axis=0), corners.max(axis=0)
        half_extent = float((high - low).max()) / 2.0
        return cls((low + high) / 2.0, half_extent if half_extent > 0 else 1.0)

    @classmethod
    def for_fit(cls, lr_images: Iterable[tuple[tuple[int, ...], np.ndarray]], grid: Grid
                ) -> CoordinateFrame:
        """The frame shared by a fit's LR images and the HR grid it predicts."""
        return cls.enclosing([*lr_images, (grid.shape, grid.affine)])

    def normalise(self, world: np.ndarray) -> np.ndarray:
        """Normalised float32 coordinates of (N, 3) world points (computed in float64)."""
        return ((np.asarray(world, dtype=np.float64) - self.centre) / self.half_extent
                ).astype(np.float32)

    def image_coordinates(self, shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
        """Normalised coordinates (N, 3) of every voxel centre of an image, C order."""
        return self.normalise(voxel_centres(shape, affine))

    def grid_coordinates(self, grid: Grid, inside_mask: bool = False) -> np.ndarray:
        """Normalised coordinates of the grid points (C order), optionally only inside its mask."""
        coordinates = self.image_coordinates(grid.shape, grid.affine)
        if inside_mask and grid.mask is not None:
            return coordinates[np.asarray(grid.mask, dtype=bool).reshape(-1)]
        return coordinates
