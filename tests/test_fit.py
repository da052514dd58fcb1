"""run_fit: outputs, fit.json, and resuming a fit whose process was killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_inr import TINY_NETWORK, one_torch_thread, smooth_case  # noqa: F401 (autouse fixture)

from isosr.fit import run_fit
from isosr.io import load_nifti, save_nifti

ACQUISITIONS = {"T1w": {"view": "axial", "thickness": 4.0},
                "T2w": {"view": "coronal", "thickness": 4.0}}


def write_case(folder: Path) -> dict:
    """The smooth test case as files; returns run_fit's file arguments."""
    lr, grid = smooth_case()
    for contrast, image in lr.items():
        save_nifti(folder / f"lr_{contrast}.nii.gz", image.data, image.affine)
    save_nifti(folder / "mask.nii.gz", grid.mask.astype(np.uint8), grid.affine, dtype=np.uint8)
    return {"lr_paths": {c: folder / f"lr_{c}.nii.gz" for c in lr},
            "acquisitions": ACQUISITIONS, "mask_path": folder / "mask.nii.gz"}


def outputs(folder: Path) -> dict:
    return {"output_paths": {c: folder / "sr" / f"{c}.nii.gz" for c in ACQUISITIONS},
            "fit_json": folder / "sr" / "fit.json", "checkpoint_dir": folder / "sr" / "checkpoint"}


def test_inr_fit_writes_volumes_and_a_complete_fit_record(tmp_path):
    params = {**TINY_NETWORK, "early_stopping": False}
    record = run_fit(method="inr-splithead", params=params, **write_case(tmp_path),
                     **outputs(tmp_path), seed=1, threads=1)
    for contrast in ACQUISITIONS:
        volume, _ = load_nifti(tmp_path / "sr" / f"{contrast}.nii.gz")
        assert volume.shape == (14, 12, 16) and np.isfinite(volume).all()
    assert json.loads((tmp_path / "sr" / "fit.json").read_text()) == json.loads(
        json.dumps(record))
    assert record["method"] == "inr-splithead" and record["seed"] == 1
    assert record["device"] == "cpu" and record["threads"] == 1
    assert record["epochs"] == record["max_epochs"] == 6 and record["stopping_epoch"] is None
    assert len(record["loss"]) == len(record["mi"]) == 6 and record["loss"][-1] < record["loss"][0]
    assert set(record["mse"]) == {"T1w", "T2w"}
    assert 100 < record["peak_memory_mb"] < 100_000  # torch alone is > 100 MB resident
    assert record["peak_memory_mb"] == record["peak_host_memory_mb"]
    assert record["peak_gpu_memory_mb"] is None
    assert record["wall_seconds"] > 0 and record["coordinates_per_second"] > 0
    # one compute thread: CPU time about the wall time (margin for helper threads, clocks)
    assert 0 < record["cpu_seconds"] <= record["wall_seconds"] * 1.5 + 0.1
    assert not (tmp_path / "sr" / "checkpoint").exists()


def test_interpolation_fit_record_has_no_training_history(tmp_path):
    record = run_fit(method="cubic", params=None, **write_case(tmp_path), **outputs(tmp_path),
                     threads=2)
    assert record["epochs"] is None and record["device"] == "cpu" and record["threads"] == 2
    assert record["peak_memory_mb"] > 0 and record["peak_gpu_memory_mb"] is None
    assert not (tmp_path / "sr" / "checkpoint").exists()


def test_killed_fit_resumes_from_its_last_epoch_and_ends_as_an_uninterrupted_one(tmp_path):
    params = {**TINY_NETWORK, "epochs": 60, "batch_size": 512, "early_stopping": False}
    case = write_case(tmp_path)
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    script = (f"from isosr.fit import run_fit; run_fit(method='inr-splithead', "
              f"params={params!r}, "
              f"lr_paths={ {k: str(v) for k, v in case['lr_paths'].items()}!r}, "
              f"acquisitions={ACQUISITIONS!r}, mask_path={str(case['mask_path'])!r}, "
              f"output_paths={ {c: str(p) for c, p in outputs(killed)['output_paths'].items()}!r}"
              f", "
              f"fit_json={str(outputs(killed)['fit_json'])!r}, threads=1, "
              f"checkpoint_dir={str(outputs(killed)['checkpoint_dir'])!r})")
    process = subprocess.Popen([sys.executable, "-c", script], env={**os.environ})
    state = outputs(killed)["checkpoint_dir"] / "state.pt"
    deadline = time.monotonic() + 120
    while not state.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the fit ended before it could be killed"
    assert state.exists() and not outputs(killed)["fit_json"].exists()

    resumed = run_fit(method="inr-splithead", params=params, **case, **outputs(killed),
                      threads=1)
    uninterrupted = run_fit(method="inr-splithead", params=params, **case,
                            **outputs(reference), threads=1)
    assert 1 <= resumed["resumed_after_epoch"] < 60
    assert resumed["epochs"] == uninterrupted["epochs"] == 60
    assert resumed["loss"] == uninterrupted["loss"]
    for contrast in ACQUISITIONS:
        np.testing.assert_array_equal(load_nifti(outputs(killed)["output_paths"][contrast])[0],
                                      load_nifti(outputs(reference)["output_paths"][contrast])[0])
    assert not outputs(killed)["checkpoint_dir"].exists()


@pytest.mark.parametrize("method", ["inr-single", "inr-vanilla", "inr-splithead"])
def test_every_inr_method_fits_from_files(tmp_path, method):
    record = run_fit(method=method, params={**TINY_NETWORK, "epochs": 2}, **write_case(tmp_path),
                     **outputs(tmp_path), threads=1)
    assert record["epochs"] == 2 and len(record["mi"]) == 2
