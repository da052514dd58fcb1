"""Interpolation baselines: each LR image resampled onto the HR grid by a fixed-order B-spline."""

from __future__ import annotations

from typing import ClassVar

from isosr.io import Grid, LRImage, resample_to_grid
from isosr.methods.base import FitResult, SubjectMethod


class SplineInterpolation(SubjectMethod):
    """Resample every contrast independently from its own LR image (no cross-contrast sharing)."""

    order: ClassVar[int] = 3

    def fit_predict(self, lr: dict[str, LRImage], grid: Grid) -> FitResult:
        return FitResult({contrast: resample_to_grid(image.data, image.affine, grid,
                                                     order=self.order)
                          for contrast, image in lr.items()})


class CubicSpline(SplineInterpolation):
    """Cubic B-spline interpolation (the classical baseline of every paper)."""

    order = 3


class NearestNeighbour(SplineInterpolation):
    """Nearest-neighbour interpolation: the floor any method must beat."""

    order = 0
