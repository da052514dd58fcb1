"""SMORE through ECLARE (Remedios et al. 2025), run as an external tool.

McGinnis et al. compare with SMORE v3.1.2 (Zhao et al. 2020), whose code is not on any public
registry. ECLARE (PyPI ``eclare`` 1.0.1, GPL-3) is its successor from the same lab: the same
self-supervised idea (train a 2D network on in-plane patches degraded by the through-plane
slice profile, apply it through-plane in two orientations and average) with a WDSR network.
It needs ``scipy==1.11.4``, so it runs as the command ``run-eclare`` from its own environment
(``envs/install-eclare.sh``, rule ``eclare_environment``; ``envs/eclare.yaml`` with
--use-conda), one stack at a time along its thick axis.

isosr passes the acquisition: the relative slice thickness (thickness / in-plane spacing) and the
scenario's own through-plane profile as a kernel file (so ECLARE skips its ESPRESO estimate).
ECLARE's output covers the input stack's field of view with in-plane-sized voxels; its geometry
is checked in world coordinates and it is resampled onto the HR grid (cubic B-spline).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from isosr.io import Grid, InputError, LRImage, load_nifti, resample_to_grid, save_nifti
from isosr.methods.base import FitResult, SubjectMethod
from isosr.methods.eclare.params import DEFAULT_EXECUTABLE, ECLAREParams
from isosr.simulate import Acquisition, acquisition_matrix, through_plane_axis
from isosr.tools import require_executable, run_tool

INSTALL_HINT = (f"create its environment with `envs/install-eclare.sh` (or `snakemake --cores 1 "
                f"{DEFAULT_EXECUTABLE}`) or set methods.eclare.executable")
GEOMETRY_TOLERANCE_MM = 1e-3
PROGRESS_LOSS = re.compile(r"loss=([0-9.eE+-]+)")  # ECLARE's progress bar postfix


def slice_profile(acquisition: Acquisition, spacing: float) -> np.ndarray:
    """The scenario's through-plane profile sampled at the HR spacing (``spacing`` mm), centred."""
    half = int(np.ceil(2.0 * acquisition.thickness / spacing)) + 1
    size = 2 * half + 1
    response = acquisition_matrix(size, spacing, acquisition, np.arange(size, dtype=np.float64))
    return response[:, half].astype(np.float32)


def eclare_command(params: ECLAREParams, executable: str, image: Path, out_dir: Path,
                   relative_thickness: float, profile: Path | None, gpu_id: int) -> list[str]:
    """The run-eclare command line for one stack. ``profile`` None (blind): neither thickness
    nor profile is given, so ECLARE estimates the slice profile with ESPRESO (it does only when
    no thickness is given)."""
    given = [] if profile is None else ["--relative-slice-thickness", f"{relative_thickness:.6g}",
                                        "--relative-slice-profile-fpath", str(profile)]
    return [executable, "--in-fpath", str(image), "--out-dir", str(out_dir),
            "--n-patches", str(params.n_patches), "--batch-size", str(params.batch_size),
            "--patch-sampling", params.patch_sampling, *given, "--gpu-id", str(gpu_id)]


def check_output_geometry(lr_affine: np.ndarray, lr_shape: tuple[int, ...],
                          out_affine: np.ndarray, out_shape: tuple[int, ...], axis: int) -> None:
    """ECLARE's output must cover the input stack's field of view on the same axes: the same
    in-plane voxels, and along ``axis`` finer voxels spanning the stack's extent (its first
    voxel edge on the stack's, its far edge within one output voxel)."""
    in_lr = np.linalg.inv(lr_affine) @ out_affine  # output voxel -> input voxel indices
    scales, in_plane = np.diag(in_lr[:3, :3]), [a for a in range(3) if a != axis]
    lr_spacing = float(np.linalg.norm(lr_affine[:3, axis]))
    step = scales[axis]
    near_edge = (in_lr[axis, 3] - step / 2 + 0.5) * lr_spacing
    far_edge = (in_lr[axis, 3] + (out_shape[axis] - 0.5) * step - lr_shape[axis] + 0.5)
    problems = []
    if not np.allclose(in_lr[:3, :3] - np.diag(scales), 0.0, atol=1e-6):
        problems.append("its axes are rotated against the input's")
    if not (np.allclose(scales[in_plane], 1.0, atol=1e-6)
            and np.allclose(in_lr[in_plane, 3], 0.0, atol=GEOMETRY_TOLERANCE_MM)
            and all(out_shape[a] == lr_shape[a] for a in in_plane)):
        problems.append("its in-plane voxels differ from the input's")
    if not 0 < step < 1:
        problems.append(f"its through-plane spacing is {step:.3g} input slices")
    elif abs(near_edge) > GEOMETRY_TOLERANCE_MM or abs(far_edge) > step:
        problems.append(f"its field of view along the slices is off by {near_edge:.3g} mm "
                        f"(start) and {far_edge * lr_spacing:.3g} mm (end)")
    if problems:
        raise InputError(f"ECLARE output does not match its input stack: {'; '.join(problems)}")


def final_loss(output: str) -> float | None:
    """The training loss of ECLARE's last step, from its progress bar (None if not shown)."""
    losses = PROGRESS_LOSS.findall(output)
    return float(losses[-1]) if losses else None


def eclare_on_grid(image: LRImage, grid: Grid, params: ECLAREParams, executable: str,
                   gpu_id: int, work: Path) -> tuple[np.ndarray, float | None]:
    """Super-resolve one LR stack with run-eclare and resample its output onto ``grid``; also
    the last training step's loss."""
    axis = through_plane_axis(image.affine, image.view)
    spacing = np.linalg.norm(image.affine[:3, :3], axis=0)
    in_plane = float(min(s for a, s in enumerate(spacing) if a != axis))
    stack, out_dir = work / "lr.nii.gz", work / "out"
    save_nifti(stack, image.data, image.affine)
    profile = None
    if params.degradation == "informed":
        profile = work / "profile.npy"
        np.save(profile, slice_profile(Acquisition(image.view, image.thickness, image.model),
                                       in_plane))
    threads = str(torch.get_num_threads())
    output = run_tool("ECLARE", eclare_command(params, executable, stack, out_dir,
                                               image.thickness / in_plane, profile, gpu_id),
                      env={**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads})
    result = out_dir / "lr_eclare.nii.gz"
    if not result.is_file():
        raise InputError(f"ECLARE wrote no {result.name}")
    data, affine = load_nifti(result)
    return (output_on_grid(data, affine, image.affine, image.data.shape, axis, grid),
            final_loss(output))


def output_on_grid(data: np.ndarray, affine: np.ndarray, lr_affine: np.ndarray,
                   lr_shape: tuple[int, ...], axis: int, grid: Grid) -> np.ndarray:
    """ECLARE's output, its geometry checked against its input stack, on ``grid`` (cubic)."""
    check_output_geometry(lr_affine, lr_shape, affine, data.shape, axis)
    return resample_to_grid(data, affine, grid, order=3)


class ECLARE(SubjectMethod):
    """SMORE (ECLARE) on each contrast separately (McGinnis et al., Baseline 3)."""

    def fit_predict(self, lr: dict[str, LRImage], grid: Grid) -> FitResult:
        executable = require_executable("ECLARE", self.params.executable, INSTALL_HINT)
        gpu_id = 0 if torch.cuda.is_available() else -1
        outputs, seconds, losses = {}, {}, {}
        for contrast, image in lr.items():
            start = time.perf_counter()
            with tempfile.TemporaryDirectory(prefix="isosr-eclare-") as work:
                outputs[contrast], losses[contrast] = eclare_on_grid(
                    image, grid, self.params, executable, gpu_id, Path(work))
            seconds[contrast] = time.perf_counter() - start
        return FitResult(outputs, "cuda" if gpu_id >= 0 else "cpu",
                         {"tool": "eclare 1.0.1", "contrast_seconds": seconds,
                          "final_loss": losses})
