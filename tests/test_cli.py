"""The `isosr` command line: simulate -> fit -> evaluate on a small image, and clear errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from isosr.cli import main
from isosr.io import Grid, LRImage, isotropic_grid, load_nifti, save_nifti, voxel_to_world


@pytest.fixture
def hr_files(tmp_path):
    z = np.indices((16, 18, 20))
    hr = (0.5 + 0.4 * np.sin(z[0] / 3.0) * np.cos(z[2] / 4.0)).astype(np.float32)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    save_nifti(tmp_path / "t1.nii.gz", hr, affine)
    save_nifti(tmp_path / "mask.nii.gz", np.ones(hr.shape, np.uint8), affine, dtype=np.uint8)
    return tmp_path


def test_simulate_fit_evaluate_round_trip(hr_files):
    d = hr_files
    assert main(["simulate", "--hr", str(d / "t1.nii.gz"), "--view", "axial", "--thickness",
                 "6", "--out", str(d / "lr.nii.gz")]) == 0
    assert load_nifti(d / "lr.nii.gz")[0].shape == (16, 18, 6)
    assert main(["fit", "--method", "cubic", "--lr", f"T1w={d / 'lr.nii.gz'}", "--mask",
                 str(d / "mask.nii.gz"), "--out-dir", str(d / "sr")]) == 0
    assert load_nifti(d / "sr" / "T1w.nii.gz")[0].shape == (16, 18, 20)
    assert main(["evaluate", "--truth", f"T1w={d / 't1.nii.gz'}", "--prediction",
                 f"T1w={d / 'sr' / 'T1w.nii.gz'}", "--mask", str(d / "mask.nii.gz"), "--out",
                 str(d / "m.tsv")]) == 0
    metrics = pd.read_csv(d / "m.tsv", sep="\t").set_index("metric")["value"]
    assert metrics["PSNR"] > 25 and metrics["SSIM"] > 0.8


def test_fit_without_a_mask_builds_an_isotropic_grid_over_the_scans(hr_files):
    d = hr_files
    main(["simulate", "--hr", str(d / "t1.nii.gz"), "--view", "coronal", "--thickness", "6",
          "--out", str(d / "cor.nii.gz")])
    assert main(["fit", "--method", "inr-splithead", "--lr", f"T2w={d / 'cor.nii.gz'}",
                 "--param", "profile=fast", "--param", "epochs=1", "--param", "hidden_width=16",
                 "--param", "hash_levels=4", "--param", "head_width=8",
                 "--resolution", "1.5", "--out-dir", str(d / "sr")]) == 0
    data, affine = load_nifti(d / "sr" / "T2w.nii.gz")
    np.testing.assert_allclose(np.linalg.norm(affine[:3, :3], axis=0), 1.5)


def test_missing_input_gives_a_one_line_error(hr_files, capsys):
    assert main(["fit", "--method", "cubic", "--lr", "T1w=/no/such.nii.gz", "--out-dir",
                 str(hr_files / "sr")]) == 1
    assert "isosr error: /no/such.nii.gz: file not found" in capsys.readouterr().err


def test_isotropic_grid_covers_every_field_of_view():
    a = LRImage(np.zeros((10, 10, 3)), np.diag([1.0, 1.0, 4.0, 1.0]))
    shifted = np.diag([1.0, 4.0, 1.0, 1.0])
    shifted[:3, 3] = [5.0, 0.0, 0.0]
    b = LRImage(np.zeros((10, 3, 12)), shifted)
    grid: Grid = isotropic_grid([a, b], 1.0)
    first, last = voxel_to_world(grid.affine, np.array([[0, 0, 0], np.array(grid.shape) - 1.0]))
    np.testing.assert_allclose(first, [0.0, -1.5, -1.5])
    np.testing.assert_allclose(last, [14.0, 9.5, 11.5])  # union: x [-0.5, 14.5], y [-2, 10]


def test_a_numpy_method_fit_and_its_evaluation_never_import_pytorch(hr_files):
    """Half of the workflow's jobs (interpolation fits, evaluations without LPIPS weights) need
    no PyTorch; its import is seconds of each such job."""
    d = hr_files
    main(["simulate", "--hr", str(d / "t1.nii.gz"), "--view", "axial", "--thickness", "6",
          "--out", str(d / "lr.nii.gz")])
    script = f"""
import sys
from isosr.cli import main
assert main(["fit", "--method", "cubic", "--lr", "T1w={d / 'lr.nii.gz'}", "--mask",
             "{d / 'mask.nii.gz'}", "--out-dir", "{d / 'sr'}"]) == 0
assert main(["evaluate", "--truth", "T1w={d / 't1.nii.gz'}", "--prediction",
             "T1w={d / 'sr' / 'T1w.nii.gz'}", "--mask", "{d / 'mask.nii.gz'}", "--out",
             "{d / 'm.tsv'}"]) == 0
print(sorted(m for m in sys.modules if m.split(".")[0] == "torch")[:3])
"""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "TORCH_HOME": str(d / "no-weights")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"  # no torch module loaded
    assert json.loads((d / "sr" / "fit.json").read_text())["threads"] is None


def test_fit_threads_caps_every_pool_of_the_process(hr_files):
    """--threads 1: PyTorch's intra- and inter-op pools and the OpenMP/BLAS variables, recorded
    in fit.json; run as a child process, as a user runs it."""
    d = hr_files
    assert main(["simulate", "--hr", str(d / "t1.nii.gz"), "--view", "axial", "--thickness",
                 "6", "--out", str(d / "lr.nii.gz")]) == 0
    probe = ("import sys, torch; from isosr.cli import main; status = main(sys.argv[1:]); "
             "print(torch.get_num_threads(), torch.get_num_interop_threads()); sys.exit(status)")
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run([sys.executable, "-c", probe, "fit", "--method", "inr-single",
                             "--param", "profile=fast", "--param", "epochs=1", "--threads", "1",
                             "--lr", f"T1w={d / 'lr.nii.gz'}", "--mask", str(d / "mask.nii.gz"),
                             "--out-dir", str(d / "sr")], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "1 1"
    assert json.loads((d / "sr" / "fit.json").read_text())["threads"] == 1
