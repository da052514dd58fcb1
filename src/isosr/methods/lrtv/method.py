"""LRTV (Shi et al., IEEE TMI 2015): super-resolution with low-rank and total-variation priors.

For each contrast separately, the HR image X minimises

    1/2 ||A X - y||^2 + lambda_tv TV(X) + lambda_rank sum_i alpha_i ||X_(i)||_*

where y is the LR image, A the scenario's own acquisition operator (slice profile and slice
sampling of ``isosr.simulate``, any view, any real thickness), TV the smoothed isotropic 3D total
variation and X_(i) the mode-i unfolding (alpha_i = 1/3). As in the paper (HaLRTC-style ADMM,
Liu et al. 2013) each unfolding gets an auxiliary copy M_i = X with scaled dual Y_i: X takes
gradient steps on the data, TV and penalty terms; each M_i is the singular-value soft-threshold
of unfold_i(X + Y_i) at lambda_rank alpha_i / rho; Y_i += X - M_i; rho grows by ``rho_growth``;
the loop stops when ||X_k - X_(k-1)|| / ||y|| < ``tolerance``. Defaults are those of the paper's
public MATLAB code (superresolutiontoolkit): lambda_tv = lambda_rank = 0.01, rho = 0.1 growing by
1.05, step 0.1 with 200 steps per X update, 20 iterations, tolerance 1e-5, TV smoothing 1e-4.

Why our own code: no Python package implements LRTV. The public code is MATLAB and handles only
integer isotropic factors with a fixed Gaussian blur on 256^2 slices; generic proximal or tensor
libraries have neither the thick-slice acquisition operator nor this ADMM. Deviations from the
MATLAB code, all for correctness: the data term's gradient is the true A^T (A X - y) (the code
uses upsampling in place of A^T), the X update starts from the current X (the code restarts it
from the interpolated LR image), M_i start at the initial X rather than 0, TV is 3D (the code's
is per slice), and intensities are scaled by the LR image's maximum so that the weights act on
[0, 1] whatever the input's range.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from isosr.io import Grid, InputError, LRImage, resample_to_grid
from isosr.methods.base import FitResult, SubjectMethod
from isosr.methods.degradation import as_assumed
from isosr.methods.lrtv.params import LRTVParams
from isosr.simulate import Acquisition, acquisition_matrix

log = logging.getLogger(__name__)


class ThroughPlaneOperator:
    """The noiseless acquisition of one LR stack from the HR grid: the simulation's own model
    (``isosr.simulate.acquisition_matrix``) along the slice axis; the adjoint is its transpose.

    The stack must lie on the grid's voxel lattice in world coordinates: the same in-plane
    voxels, slices along one grid axis (as every stack ``isosr.simulate`` writes).
    """

    def __init__(self, image: LRImage, grid: Grid) -> None:
        self.axis, centres = _slice_axis_and_centres(image, grid)
        acquisition = Acquisition(image.view, image.thickness, image.model)
        matrix = acquisition_matrix(grid.shape[self.axis], float(grid.spacing[self.axis]),
                                    acquisition, centres)
        self.matrix = torch.from_numpy(matrix.astype(np.float32))

    def forward(self, hr: torch.Tensor) -> torch.Tensor:
        """A x: the LR stack acquired from HR image ``hr``."""
        return _apply_along(self.matrix, hr, self.axis)

    def adjoint(self, lr: torch.Tensor) -> torch.Tensor:
        """A^T y: an LR stack spread back onto the HR grid."""
        return _apply_along(self.matrix.T, lr, self.axis)


def _slice_axis_and_centres(image: LRImage, grid: Grid) -> tuple[int, np.ndarray]:
    """The grid axis the slices are stacked along and their centres in grid voxel indices."""
    grid_from_lr = np.linalg.inv(grid.affine) @ image.affine
    linear, offset = grid_from_lr[:3, :3], grid_from_lr[:3, 3]
    scales = np.diag(linear)
    axis = int(np.argmax(scales))
    in_plane = [a for a in range(3) if a != axis]
    aligned = (np.allclose(linear - np.diag(scales), 0.0, atol=1e-4)
               and np.allclose(scales[in_plane], 1.0, atol=1e-4)
               and np.allclose(offset[in_plane], 0.0, atol=1e-3)
               and all(image.data.shape[a] == grid.shape[a] for a in in_plane))
    if not aligned:
        raise InputError("lrtv: the LR stack does not lie on the HR grid's voxel lattice (same "
                         "in-plane voxels, slices along one grid axis); resample it first")
    return axis, offset[axis] + scales[axis] * np.arange(image.data.shape[axis])


def _apply_along(matrix: torch.Tensor, volume: torch.Tensor, axis: int) -> torch.Tensor:
    """``matrix`` applied to every line of ``volume`` along ``axis``."""
    return torch.matmul(matrix, volume.movedim(axis, -2)).movedim(-2, axis)


class TotalVariation:
    """Gradient of the smoothed isotropic TV, sum sqrt(|D x|^2 + smoothing): D^T (D x / |D x|)
    (= -div(grad x / |grad x|)), D = forward differences with Neumann boundaries. Works in
    buffers allocated once per image shape (thousands of calls per fit)."""

    def __init__(self, like: torch.Tensor, smoothing: float) -> None:
        self.smoothing = smoothing
        self.differences = [torch.zeros_like(like) for _ in range(3)]  # last planes stay 0
        self.norm = torch.empty_like(like)
        self.gradient_buffer = torch.empty_like(like)

    def gradient(self, x: torch.Tensor) -> torch.Tensor:
        """The gradient at ``x`` (a buffer, overwritten by the next call)."""
        inner = [(axis, x.shape[axis] - 1) for axis in range(3)]
        for (axis, n), difference in zip(inner, self.differences, strict=True):
            torch.sub(x.narrow(axis, 1, n), x.narrow(axis, 0, n), out=difference.narrow(axis, 0, n))
        torch.mul(self.differences[0], self.differences[0], out=self.norm)
        self.norm.addcmul_(self.differences[1], self.differences[1])
        self.norm.addcmul_(self.differences[2], self.differences[2])
        self.norm.add_(self.smoothing).sqrt_()
        gradient = self.gradient_buffer.zero_()
        for (axis, n), difference in zip(inner, self.differences, strict=True):
            difference.div_(self.norm)
            gradient.narrow(axis, 0, n).sub_(difference.narrow(axis, 0, n))
            gradient.narrow(axis, 1, n).add_(difference.narrow(axis, 0, n))
        return gradient


def singular_value_threshold(x: torch.Tensor, mode: int, threshold: float) -> torch.Tensor:
    """Proximal map of ``threshold`` ||X_(mode)||_*: soft-threshold the unfolding's singular
    values and fold back."""
    moved = x.movedim(mode, 0)
    u, s, vt = torch.linalg.svd(moved.reshape(x.shape[mode], -1), full_matrices=False)
    shrunk = torch.clamp(s - threshold, min=0.0)
    folded = (u * shrunk) @ vt
    return folded.reshape(moved.shape).movedim(0, mode).contiguous()


def lrtv(image: LRImage, grid: Grid, params: LRTVParams) -> tuple[np.ndarray, dict]:
    """Super-resolve one contrast; returns the HR image and the per-iteration history."""
    operator = ThroughPlaneOperator(as_assumed(image, params.degradation), grid)
    scale = float(np.max(image.data))
    if scale <= 0:
        raise InputError("lrtv: the LR image has no positive intensities")
    lr = np.asarray(image.data, dtype=np.float32) / np.float32(scale)
    y = torch.from_numpy(lr)
    x = torch.from_numpy(resample_to_grid(lr, image.affine, grid, order=3))
    adjoint_y = operator.adjoint(y)
    copies = [x.clone() for _ in range(3)]
    duals = [torch.zeros_like(x) for _ in range(3)]
    weight = 1.0 / 3.0  # alpha_i
    rho = params.rho
    norm_y = float(torch.linalg.vector_norm(y))
    total_variation = TotalVariation(x, params.tv_smoothing)
    history: dict[str, list[float]] = {"change": [], "data_residual": [], "iteration_seconds": []}
    for iteration in range(params.iterations):
        start = time.perf_counter()
        previous = x.clone()
        anchor = adjoint_y + rho * sum(m - d for m, d in zip(copies, duals, strict=True))
        for _ in range(params.gradient_steps):
            gradient = operator.adjoint(operator.forward(x))
            gradient.add_(total_variation.gradient(x), alpha=params.lambda_tv)
            gradient.add_(x, alpha=3.0 * rho).sub_(anchor)
            x.add_(gradient, alpha=-params.step_size).clamp_(min=0.0)
        for mode in range(3):
            copies[mode] = singular_value_threshold(x + duals[mode], mode,
                                                    params.lambda_rank * weight / rho)
            duals[mode] += x - copies[mode]
        rho *= params.rho_growth
        change = float(torch.linalg.vector_norm(x - previous)) / norm_y
        residual = float(torch.linalg.vector_norm(operator.forward(x) - y)) / norm_y
        seconds = time.perf_counter() - start
        for key, value in (("change", change), ("data_residual", residual),
                           ("iteration_seconds", seconds)):
            history[key].append(value)
        log.info("LRTV iteration %d/%d: change %.3g, data residual %.3g, %.1f s, ETA %.0f s",
                 iteration + 1, params.iterations, change, residual, seconds,
                 seconds * (params.iterations - iteration - 1))
        if change < params.tolerance:
            break
    return x.numpy() * np.float32(scale), history


class LRTV(SubjectMethod):
    """LRTV (Shi et al. 2015) on each contrast separately (McGinnis et al., Baseline 2)."""

    def fit_predict(self, lr: dict[str, LRImage], grid: Grid) -> FitResult:
        outputs, histories = {}, {}
        for contrast, image in lr.items():
            outputs[contrast], histories[contrast] = lrtv(image, grid, self.params)
        history = {"epochs": max(len(h["change"]) for h in histories.values()),
                   "max_epochs": self.params.iterations,
                   **{key: {c: h[key] for c, h in histories.items()}
                      for key in ("change", "data_residual", "iteration_seconds")}}
        return FitResult(outputs, "cpu", history)

