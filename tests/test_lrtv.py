"""LRTV: its acquisition operator is the simulation's, its adjoint is exact, and it beats cubic
interpolation on a piecewise-constant phantom (the images TV and low rank favour)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from isosr.io import Grid, InputError, LRImage, resample_to_grid
from isosr.methods import create_method
from isosr.methods.lrtv.method import ThroughPlaneOperator, TotalVariation
from isosr.simulate import Acquisition, simulate_lr

SHAPE = (20, 24, 18)


def head_affine(permuted: bool) -> np.ndarray:
    """A 2 mm grid; ``permuted``: array axes run along world z, x, y (a reoriented scan)."""
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    if permuted:
        affine[:3, :3] = np.array([[0, 2.0, 0], [0, 0, 2.0], [2.0, 0, 0]])
    affine[:3, 3] = [-20.0, -24.0, -18.0]
    return affine


def phantom(shape: tuple[int, int, int]) -> np.ndarray:
    """Nested ellipsoids and a bar: piecewise constant, values in [0, 0.9]."""
    index = np.indices(shape).astype(np.float64)
    centre = (np.array(shape)[:, None, None, None] - 1) / 2
    radius = np.sqrt((((index - centre) / (centre + 0.5)) ** 2).sum(axis=0))
    image = 0.3 * (radius < 0.9) + 0.4 * (radius < 0.55)
    image += 0.2 * ((np.abs(index[2] - centre[2]) < 0.2 * centre[2]) & (radius < 0.55))
    return image.astype(np.float32)


@pytest.mark.parametrize("permuted", [False, True])
@pytest.mark.parametrize("view", ["axial", "coronal", "sagittal"])
@pytest.mark.parametrize(("model", "thickness"), [("slice-profile", 5.0), ("spline", 4.5),
                                                  ("kspace", 6.0), ("decimate", 4.0)])
def test_forward_operator_is_the_simulation(model, thickness, view, permuted):
    affine = head_affine(permuted)
    hr = 1.0 + np.random.default_rng(0).random(SHAPE).astype(np.float32)
    acquisition = Acquisition(view, thickness, model)
    lr, lr_affine = simulate_lr(hr, affine, acquisition)
    operator = ThroughPlaneOperator(LRImage(lr, lr_affine, view, thickness, model),
                                    Grid(SHAPE, affine))
    np.testing.assert_allclose(operator.forward(torch.from_numpy(hr)).numpy(), lr, atol=1e-5)


@pytest.mark.parametrize(("view", "model"), [("coronal", "slice-profile"), ("axial", "kspace")])
def test_adjoint_identity(view, model):
    affine = head_affine(False)
    lr, lr_affine = simulate_lr(np.ones(SHAPE, np.float32), affine, Acquisition(view, 5.0, model))
    operator = ThroughPlaneOperator(LRImage(lr, lr_affine, view, 5.0, model), Grid(SHAPE, affine))
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal(SHAPE).astype(np.float32))
    y = torch.from_numpy(rng.standard_normal(lr.shape).astype(np.float32))
    left = float(torch.sum(operator.forward(x).double() * y.double()))
    right = float(torch.sum(x.double() * operator.adjoint(y).double()))
    assert abs(left - right) <= 1e-5 * abs(left) and abs(left) > 1.0


def test_tv_gradient_is_the_gradient_of_smoothed_tv():
    x = torch.rand(5, 6, 7, dtype=torch.float64, requires_grad=True)
    differences = [torch.nn.functional.pad(torch.diff(x, dim=axis),
                                           [0, 0] * (2 - axis) + [0, 1] + [0, 0] * axis)
                   for axis in range(3)]
    torch.sqrt(sum(d * d for d in differences) + 1e-2).sum().backward()
    total_variation = TotalVariation(x.detach(), 1e-2)
    for _ in range(2):  # the buffers are reused
        np.testing.assert_allclose(total_variation.gradient(x.detach()).numpy(), x.grad.numpy(),
                                   atol=1e-12)


def test_lrtv_beats_cubic_on_a_piecewise_constant_phantom():
    shape = (24, 28, 24)
    affine = head_affine(False)
    grid = Grid(shape, affine, np.ones(shape, bool))
    hr = phantom(shape)
    lr = {}
    for contrast, view in (("T1w", "axial"), ("FLAIR", "coronal")):
        data, lr_affine = simulate_lr(hr, affine, Acquisition(view, 6.0, "slice-profile"))
        lr[contrast] = LRImage(data, lr_affine, view, 6.0, "slice-profile")
    method = create_method("lrtv")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a fit job; OpenMP threads crawl on a loaded machine
    try:
        result = method.fit_predict(lr, grid)
    finally:
        torch.set_num_threads(threads)
    for contrast, image in lr.items():
        cubic = resample_to_grid(image.data, image.affine, grid, order=3)
        psnr = {name: 10 * np.log10(1.0 / np.mean((volume - hr) ** 2))
                for name, volume in (("lrtv", result.images[contrast]), ("cubic", cubic))}
        assert psnr["lrtv"] > psnr["cubic"] + 0.5, (contrast, psnr)
    assert result.history["epochs"] == 20 and len(result.history["change"]["T1w"]) == 20
    assert result.history["change"]["T1w"][-1] < result.history["change"]["T1w"][0]


def test_a_stack_off_the_hr_lattice_is_a_clear_error():
    affine = head_affine(False)
    lr, lr_affine = simulate_lr(np.ones(SHAPE, np.float32), affine, Acquisition("axial", 5.0))
    lr_affine[0, 3] += 0.7  # half a voxel off in-plane
    with pytest.raises(InputError, match="lrtv: the LR stack does not lie on the HR grid"):
        ThroughPlaneOperator(LRImage(lr, lr_affine, "axial", 5.0), Grid(SHAPE, affine))
