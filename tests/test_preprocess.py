"""Preprocessing: rigid registration accuracy and quality checks (antspyx on a 3 mm ICBM152
brain), skull-stripping back-ends (none, HD-BET command and parameters), and the reference
registration to a template whose world origin differs from the scanner's (as SRI24's does)."""

from __future__ import annotations

import hashlib
import io
import stat
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from http_server import Site, serve
from scipy import ndimage
from scipy.spatial.transform import Rotation

from isosr.data.download import Download
from isosr.data.hdbet import checkpoint_file, fetch_parameters
from isosr.data.lockfile import ChecksumLock
from isosr.data.templates import downloaded_template
from isosr.io import Grid, InputError, load_nifti, resample_to_grid, save_nifti
from isosr.preprocess import (
    HDBetOptions,
    RegistrationError,
    RegistrationLimits,
    hdbet_command,
    hdbet_environment,
    hr_grid,
    register_reference,
    register_rigid,
    rotation_degrees,
    skull_strip,
    to_ants,
)

RESOLUTION_MM = 3.0


@pytest.fixture(scope="module")
def template():
    """The ICBM152 brain on the 3 mm HR grid, and that grid."""
    grid, data = hr_grid("MNI152", RESOLUTION_MM)
    return grid, data


def centre(grid: Grid) -> np.ndarray:
    return grid.affine[:3, :3] @ ((np.asarray(grid.shape) - 1) / 2.0) + grid.affine[:3, 3]


def pose(rotvec_degrees, shift_mm, about: np.ndarray) -> np.ndarray:
    """A rigid 4x4 RAS transform: rotation about ``about``, then a shift."""
    rotation = Rotation.from_rotvec(np.deg2rad(rotvec_degrees)).as_matrix()
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = about - rotation @ about + np.asarray(shift_mm, dtype=float)
    return matrix


def posed_copy(grid: Grid, data: np.ndarray, matrix: np.ndarray, spacing: float = 2.5
               ) -> tuple[np.ndarray, np.ndarray]:
    """The template seen in pose ``matrix`` on a new 2.5 mm grid: image(y) = template(P^-1 y)."""
    shape = tuple(int(n * RESOLUTION_MM / spacing) + 8 for n in grid.shape)
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = centre(grid) - spacing * (np.asarray(shape) - 1) / 2.0
    sampled = resample_to_grid(data, grid.affine, Grid(shape, np.linalg.inv(matrix) @ affine),
                               order=1, cval=0.0)
    return np.maximum(sampled, 0.0), affine


def test_registration_recovers_a_known_rigid_transform(template, tmp_path):
    grid, data = template
    truth = pose([8.0, -5.0, 6.0], [5.0, -4.0, 3.0], centre(grid))
    moving = to_ants(*posed_copy(grid, data, truth))
    record = register_rigid(to_ants(data, grid.affine), moving, tmp_path / "x.mat",
                            RegistrationLimits(), "known pose")
    error = np.asarray(record["matrix_ras"]) @ np.linalg.inv(truth)
    residual_mm = np.linalg.norm(error[:3, :3] @ centre(grid) + error[:3, 3] - centre(grid))
    assert rotation_degrees(error) < 1.0 and residual_mm < 1.0
    assert abs(record["rotation_degrees"] - rotation_degrees(truth)) < 1.0
    assert record["mi_after"] > record["mi_before"] + 0.3
    assert record["translation_mm"] < 5.0


def test_registration_to_noise_stops_the_subject(template, tmp_path):
    grid, data = template
    noise = ndimage.gaussian_filter(np.random.default_rng(0).random(data.shape), 2.0)
    with pytest.raises(RegistrationError, match="noise subject: registration failed") as error:
        register_rigid(to_ants(data, grid.affine), to_ants(noise, grid.affine),
                       tmp_path / "x.mat", RegistrationLimits(), "noise subject")
    assert "below min_mutual_information 0.3" in str(error.value)


def test_implausible_rotation_is_refused_with_the_limit_to_relax(template, tmp_path):
    grid, data = template
    moving = to_ants(*posed_copy(grid, data, pose([0.0, 0.0, 12.0], [0, 0, 0], centre(grid))))
    limits = RegistrationLimits.from_config({"registration": {"max_rotation_degrees": 5.0}})
    assert limits == RegistrationLimits(max_rotation_degrees=5.0)
    with pytest.raises(RegistrationError, match=r"rotation of 1[12]\.\d degrees exceeds "
                                                r"max_rotation_degrees 5.0"):
        register_rigid(to_ants(data, grid.affine), moving, tmp_path / "x.mat", limits, "tilted")


def test_reference_registration_to_a_template_with_another_world_origin(template, tmp_path,
                                                                        monkeypatch):
    """SRI24 puts its origin at a corner voxel, scanners near the head's centre: the shift
    check measures what is left after the centre-of-mass alignment, not the raw offset."""
    monkeypatch.chdir(tmp_path)
    grid, data = template
    corner = grid.affine.copy()
    corner[:3, 3] = 0.0  # like SRI24's header: voxel (0, 0, 0) at the world origin
    save_nifti(downloaded_template("SRI24"), data, corner)
    raw = tmp_path / "sub-01_T1w.nii.gz"
    save_nifti(raw, *posed_copy(grid, data, pose([4.0, 3.0, -5.0], [3, 2, -4], centre(grid))))
    record = register_reference(raw, "SRI24", RESOLUTION_MM, "none", tmp_path / "mask.nii.gz",
                                tmp_path / "xfm.mat")
    registration = record["registration"]
    assert np.linalg.norm(np.asarray(registration["matrix_ras"])[:3, 3]) > 100.0
    assert registration["translation_mm"] < 5.0
    assert abs(registration["rotation_degrees"] - np.linalg.norm([4.0, 3.0, -5.0])) < 1.0
    mask, affine = load_nifti(tmp_path / "mask.nii.gz")
    sri24_grid, sri24_data = hr_grid("SRI24", RESOLUTION_MM)
    np.testing.assert_allclose(affine, sri24_grid.affine)
    brain = sri24_data > 0
    dice = 2 * np.sum(brain & (mask > 0)) / (brain.sum() + (mask > 0).sum())
    assert dice > 0.93  # measured 0.95: 'none' keeps every partial-volume voxel of the edge


def test_skullstrip_none_and_unknown_method():
    data = np.zeros((4, 4, 4), np.float32)
    data[1:3, 1:3, 1:3] = 5.0
    assert skull_strip(data, np.eye(4), "none").sum() == 8
    with pytest.raises(InputError, match="unknown skull-stripping method 'bet'"):
        skull_strip(data, np.eye(4), "bet")
    with pytest.raises(InputError, match="scan.nii.gz: skull-stripping \\(none\\) found no brain"):
        skull_strip(np.zeros((4, 4, 4)), np.eye(4), "none", "scan.nii.gz")


def test_hdbet_command_line_and_environment(tmp_path):
    options = HDBetOptions(weights_dir=str(tmp_path / "w"))
    command = hdbet_command(Path("in.nii.gz"), Path("out.nii.gz"), options, "cuda")
    assert command == ["hd-bet", "-i", "in.nii.gz", "-o", "out.nii.gz", "-device", "cuda",
                       "--save_bet_mask", "--no_bet_image"]
    fast = HDBetOptions(executable="/opt/hdbet/bin/hd-bet", test_time_augmentation=False)
    assert hdbet_command(Path("a.nii.gz"), Path("b.nii.gz"), fast, "cpu")[-1] == "--disable_tta"
    assert hdbet_environment(options)["HOME"] == str(tmp_path / "w")
    assert checkpoint_file(tmp_path / "w") \
        == tmp_path / "w" / "hd-bet_params" / "release_2.0.0" / "fold_all" / "checkpoint_final.pth"


def test_hdbet_missing_command_or_parameters_are_clear_errors(tmp_path):
    data = np.ones((4, 4, 4), np.float32)
    absent = HDBetOptions(executable="hd-bet-not-installed", weights_dir=str(tmp_path))
    with pytest.raises(InputError, match="needs the 'hd-bet-not-installed' command"):
        skull_strip(data, np.eye(4), "hd-bet", "scan.nii.gz", absent)
    offline = HDBetOptions(executable=sys.executable, weights_dir=str(tmp_path / "w"))
    with pytest.raises(InputError) as error:
        skull_strip(data, np.eye(4), "hd-bet", "scan.nii.gz", offline)
    message = str(error.value)
    assert str(checkpoint_file(tmp_path / "w")) in message
    assert "fetch_hdbet_parameters" in message and "zenodo.org/records/14445620" in message


# A stand-in for the hd-bet 2.0.1 command (HD-BET itself needs a CUDA torch build that is not
# installed here): same arguments, reads its parameters from $HOME/hd-bet_params/release_2.0.0
# and writes the mask next to the output as <output>_bet.nii.gz, as HD_BET/hd_bet_prediction.py
# does. It segments by a threshold, which is enough to test how isosr calls and reads HD-BET.
STAND_IN = '''#!{python}
import argparse, os, sys
import nibabel as nib
parser = argparse.ArgumentParser()
parser.add_argument("-i"); parser.add_argument("-o"); parser.add_argument("-device")
for flag in ("--disable_tta", "--save_bet_mask", "--no_bet_image"):
    parser.add_argument(flag, action="store_true")
args = parser.parse_args()
parameters = os.path.join(os.environ["HOME"], "hd-bet_params", "release_2.0.0", "fold_all",
                          "checkpoint_final.pth")
if not os.path.isfile(parameters) or args.device != "cpu":
    sys.exit("no parameters or wrong device")
image = nib.load(args.i)
mask = (image.get_fdata() > 2.5).astype("uint8")
nib.save(nib.Nifti1Image(mask, image.affine), args.o[:-7] + "_bet.nii.gz")
'''


def test_hdbet_is_called_and_its_mask_read(tmp_path):
    weights = tmp_path / "weights"
    checkpoint_file(weights).parent.mkdir(parents=True)
    checkpoint_file(weights).write_bytes(b"parameters")
    executable = tmp_path / "hd-bet"
    executable.write_text(STAND_IN.format(python=sys.executable))
    executable.chmod(executable.stat().st_mode | stat.S_IEXEC)
    data = np.zeros((6, 6, 6), np.float32)
    data[2:5, 1:4, 2:4] = 3.0
    options = HDBetOptions(str(executable), str(weights), device="cpu")
    mask = skull_strip(data, np.diag([2.0, 2.0, 2.0, 1.0]), "hd-bet", "s.nii.gz", options)
    np.testing.assert_array_equal(mask, data > 2.5)
    with pytest.raises(InputError, match=r"HD-BET failed \(exit 1\): no parameters or wrong "
                                         r"device"):
        skull_strip(data, np.eye(4), "hd-bet", "s.nii.gz",
                    HDBetOptions(str(executable), str(weights), device="cuda"))


def parameters_zip(with_checkpoint: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("plans.json", "{}")
        archive.writestr("dataset.json", "{}")
        if with_checkpoint:
            archive.writestr("fold_all/checkpoint_final.pth", b"\x00" * 1000)
    return buffer.getvalue()


def test_hdbet_parameters_are_fetched_once_into_the_weights_dir(tmp_path):
    files = {"records/1/files/release.zip": parameters_zip(),
             "records/2/files/release.zip": parameters_zip(with_checkpoint=False)}
    lock = ChecksumLock(tmp_path / "isosr.lock.yaml")
    with serve(Site(files=files)) as site:
        source = Download(site.url("records/1/files/release.zip") + "?download=1")
        installed = fetch_parameters(tmp_path / "w", lock=lock, source=source)
        assert installed == checkpoint_file(tmp_path / "w") and installed.stat().st_size == 1000
        assert fetch_parameters(tmp_path / "w", lock=lock, source=source) == installed
        assert len(site.requests) == 1
        recorded = yaml.safe_load(lock.path.read_text())[source.url]["sha256"]
        assert recorded == hashlib.sha256(files["records/1/files/release.zip"]).hexdigest()
        with pytest.raises(InputError, match="unexpected HD-BET archive layout"):
            fetch_parameters(tmp_path / "v", source=Download(
                site.url("records/2/files/release.zip")))
        assert not checkpoint_file(tmp_path / "v").exists()
