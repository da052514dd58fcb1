"""SMORE (ECLARE): the slice profile it gets, its output geometry in world coordinates, its
environment's pins, and a real run of run-eclare from its own environment on tiny data.

The end-to-end test creates ECLARE's environment with the documented command
(envs/install-eclare.sh, what rule eclare_environment runs) under resources/tools/eclare when it
is not there yet (about a minute with a package index), then runs it with a tiny budget.
"""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest
import yaml
from conftest import REPO

from isosr.fit import run_fit
from isosr.io import Grid, InputError, load_nifti, save_nifti, voxel_to_world
from isosr.methods.eclare.method import (
    check_output_geometry,
    eclare_command,
    output_on_grid,
    slice_profile,
)
from isosr.methods.eclare.params import DEFAULT_EXECUTABLE, ECLAREParams
from isosr.simulate import FWHM_PER_SIGMA, Acquisition, simulate_lr

HR_AFFINE = np.array([[2.0, 0, 0, -24.0], [0, 2.0, 0, -28.0], [0, 0, 2.0, -20.0], [0, 0, 0, 1]])


def test_slice_profile_is_the_acquisitions():
    gaussian = slice_profile(Acquisition("coronal", 5.0, "slice-profile"), 2.0)
    offsets = np.arange(len(gaussian)) - len(gaussian) // 2
    assert gaussian.sum() == pytest.approx(1.0, abs=1e-4)
    sigma = np.sqrt(np.sum(gaussian * offsets**2))
    assert sigma == pytest.approx(2.5 / FWHM_PER_SIGMA, rel=0.02)
    delta = slice_profile(Acquisition("axial", 4.0, "spline"), 2.0)
    np.testing.assert_allclose(delta, np.eye(len(delta))[len(delta) // 2], atol=1e-6)


def test_command_passes_budget_thickness_and_profile(tmp_path):
    command = eclare_command(ECLAREParams(profile="cpu", n_patches=50), "run-eclare",
                             tmp_path / "lr.nii.gz", tmp_path / "out", 2.5,
                             tmp_path / "profile.npy", -1)
    text = " ".join(command)
    for expected in ("--n-patches 50", "--batch-size 32", "--relative-slice-thickness 2.5",
                     f"--relative-slice-profile-fpath {tmp_path / 'profile.npy'}",
                     "--gpu-id -1", "--patch-sampling gradient"):
        assert expected in text
    assert ECLAREParams().n_patches == 1_000_000 and ECLAREParams().batch_size == 128


def eclare_like_output(lr_affine: np.ndarray, lr_shape: tuple[int, ...], axis: int,
                       separation: float) -> tuple[np.ndarray, tuple[int, ...]]:
    """Affine and shape of an output as ECLARE writes it: `separation` times finer along the
    slices, covering the stack's field of view (first voxel edge on the stack's first edge)."""
    scale = np.eye(4)
    scale[axis, axis] = 1.0 / separation
    scale[axis, 3] = -0.5 + 0.5 / separation
    shape = list(lr_shape)
    shape[axis] = int(round(lr_shape[axis] * separation))
    return lr_affine @ scale, tuple(shape)


def test_output_is_resampled_onto_the_hr_grid_in_world_coordinates():
    grid = Grid((24, 28, 20), HR_AFFINE)
    lr, lr_affine = simulate_lr(np.zeros(grid.shape, np.float32), HR_AFFINE,
                                Acquisition("coronal", 5.0))  # 11 slices, 2.5 HR voxels each
    affine, shape = eclare_like_output(lr_affine, lr.shape, 1, 2.5)

    def ramp(xyz: np.ndarray) -> np.ndarray:  # linear in world mm: cubic splines reproduce it
        return 0.01 * xyz[..., 0] + 0.02 * xyz[..., 1] - 0.015 * xyz[..., 2]

    output = ramp(voxel_to_world(affine, np.indices(shape).reshape(3, -1).T)).reshape(shape)
    on_grid = output_on_grid(output.astype(np.float32), affine, lr_affine, lr.shape, 1, grid)
    inside = (slice(2, -2), slice(3, -3), slice(2, -2))  # away from the edge extension
    np.testing.assert_allclose(on_grid[inside], ramp(grid.world_coordinates())[inside],
                               atol=1e-3)  # half a voxel off would be 0.02


def test_output_geometry_mismatches_are_clear_errors():
    lr_affine = HR_AFFINE @ np.diag([1.0, 2.5, 1.0, 1.0])
    lr_shape = (24, 11, 20)
    affine, shape = eclare_like_output(lr_affine, lr_shape, 1, 2.5)
    check_output_geometry(lr_affine, lr_shape, affine, shape, 1)
    shifted = affine.copy()
    shifted[1, 3] += 2.0  # one output voxel along the slices
    with pytest.raises(InputError, match="field of view along the slices is off by 2 mm"):
        check_output_geometry(lr_affine, lr_shape, shifted, shape, 1)
    with pytest.raises(InputError, match="in-plane voxels differ"):
        check_output_geometry(lr_affine, lr_shape, affine, (23, shape[1], 20), 1)


def test_conda_env_and_requirements_pin_the_same_versions():
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$",
                           (REPO / "envs" / "eclare.requirements.txt").read_text(), re.M))
    pins = {name.lower().replace("_", "-"): version for name, version in pins.items()}
    assert pins["eclare"] == "1.0.1" and pins["scipy"] == "1.11.4" and pins["torch"] == "2.13.0"
    conda_to_pypi = {"pytorch": "torch", "matplotlib-base": "matplotlib"}
    for entry in yaml.safe_load((REPO / "envs" / "eclare.yaml").read_text())["dependencies"]:
        for spec in entry["pip"] if isinstance(entry, dict) else [entry]:
            name, version = re.split(r"==?", spec)
            name = conda_to_pypi.get(name, name)
            if name not in ("python", "pip"):
                assert pins[name] == version, (name, version)


@pytest.fixture(scope="module")
def eclare_executable() -> str:
    """ECLARE's own environment, created by the documented command when it is missing."""
    result = subprocess.run(["bash", str(REPO / "envs" / "install-eclare.sh"),
                             "resources/tools/eclare"], cwd=REPO, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return str(REPO / DEFAULT_EXECUTABLE)


@pytest.mark.slow
def test_eclare_runs_end_to_end_from_its_own_environment(eclare_executable, tmp_path):
    grid = Grid((24, 28, 24), HR_AFFINE)
    index = np.indices(grid.shape).astype(np.float64)
    centre = (np.array(grid.shape)[:, None, None, None] - 1) / 2
    radius = np.sqrt((((index - centre) / (centre + 0.5)) ** 2).sum(axis=0))
    hr = (0.4 * (radius < 0.9) + 0.5 * (radius < 0.5)).astype(np.float32)
    acquisition = {"view": "coronal", "thickness": 4.0, "model": "slice-profile"}
    lr, lr_affine = simulate_lr(hr, HR_AFFINE, Acquisition(**acquisition))
    save_nifti(tmp_path / "FLAIR_lr.nii.gz", lr, lr_affine)
    save_nifti(tmp_path / "mask.nii.gz", np.ones(grid.shape, np.uint8), HR_AFFINE, np.uint8)
    record = run_fit(method="eclare",
                     params={"profile": "cpu", "n_patches": 64, "batch_size": 16,
                             "executable": eclare_executable},
                     lr_paths={"FLAIR": tmp_path / "FLAIR_lr.nii.gz"},
                     acquisitions={"FLAIR": acquisition}, mask_path=tmp_path / "mask.nii.gz",
                     output_paths={"FLAIR": tmp_path / "FLAIR.nii.gz"},
                     fit_json=tmp_path / "fit.json", threads=1)
    prediction, affine = load_nifti(tmp_path / "FLAIR.nii.gz")
    np.testing.assert_array_equal(affine, HR_AFFINE)
    assert prediction.shape == grid.shape and np.all(np.isfinite(prediction))
    # in register with the ground truth: shifting it a voxel along the slices fits worse
    error = np.mean((prediction - hr) ** 2)
    assert error < np.mean((prediction - np.roll(hr, 1, axis=1)) ** 2)
    assert error < np.mean((prediction - np.roll(hr, -1, axis=1)) ** 2)
    # 64 patches train the network barely (PSNR ~12 dB here): it must still follow the image
    assert np.corrcoef(prediction.ravel(), hr.ravel())[0, 1] > 0.5
    saved = json.loads((tmp_path / "fit.json").read_text())
    assert saved["device"] == "cpu" and saved["tool"] == "eclare 1.0.1"
    assert record["wall_seconds"] > 0 and record["peak_memory_mb"] > 100  # ECLARE's own RSS
