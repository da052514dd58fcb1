"""Bad input and faults at every entry point (files, CLI values, config, output folders, a full
disk): each case must end in one line naming the file, option or config key, with a non-zero
exit, and leave every input and earlier result byte-identical (no new or half-written files)."""

from __future__ import annotations

import copy
import hashlib
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import yaml
from conftest import REPO, run_snakemake
from snakemake.utils import validate

from isosr.cli import main
from isosr.config import ConfigError, Plan
from isosr.fit import run_fit
from isosr.io import InputError, OutputError, load_nifti, save_json, save_nifti

AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


def digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (hidden ones included), by relative path."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def write_header_affine(path: Path, data: np.ndarray, sform: np.ndarray,
                        qform: np.ndarray | None = None) -> None:
    """A NIfTI with exactly this sform (and qform, if given), bypassing save_nifti's checks."""
    image = nib.Nifti1Image(data, None)
    image.header.set_sform(sform, code=1)
    image.header.set_qform(qform, code=1 if qform is not None else 0)
    nib.save(image, str(path))


@pytest.fixture
def scans(tmp_path: Path) -> Path:
    return make_scans(tmp_path)


def make_scans(tmp_path: Path) -> Path:
    """An HR scan, its mask, an axial LR scan, bad variants of each, and an earlier fit result."""
    z = np.indices((16, 18, 20))
    hr = (0.5 + 0.4 * np.sin(z[0] / 3.0) * np.cos(z[2] / 4.0)).astype(np.float32)
    save_nifti(tmp_path / "t1.nii.gz", hr, AFFINE)
    save_nifti(tmp_path / "mask.nii.gz", np.ones(hr.shape, np.uint8), AFFINE, dtype=np.uint8)
    save_nifti(tmp_path / "empty_mask.nii.gz", np.zeros(hr.shape, np.uint8), AFFINE,
               dtype=np.uint8)
    assert main(["simulate", "--hr", str(tmp_path / "t1.nii.gz"), "--view", "axial",
                 "--thickness", "6", "--out", str(tmp_path / "lr.nii.gz")]) == 0
    lr, lr_affine = load_nifti(tmp_path / "lr.nii.gz")
    far = lr_affine.copy()
    far[:3, 3] += 1000.0
    save_nifti(tmp_path / "far.nii.gz", lr, far)  # a scan of somewhere else entirely
    slab = lr_affine.copy()
    slab[0, 3] += 2.0 * 12  # 24 of its 32 mm off along x: 1/4 of the x extent, 36/40 of z
    save_nifti(tmp_path / "slab.nii.gz", lr, slab)
    shifted = AFFINE.copy()
    shifted[0, 3] = 10.0
    save_nifti(tmp_path / "shifted.nii.gz", hr, shifted)
    save_nifti(tmp_path / "small.nii.gz", hr[:-1], AFFINE)
    sheared = AFFINE.copy()
    sheared[0, 1] = 1.0
    write_header_affine(tmp_path / "sheared.nii.gz", hr, sheared)
    singular = AFFINE.copy()
    singular[:3, 2] = 0.0
    write_header_affine(tmp_path / "singular.nii.gz", hr, singular)
    nan_affine = AFFINE.copy()
    nan_affine[1, 3] = np.nan
    write_header_affine(tmp_path / "nan_affine.nii.gz", hr, nan_affine)
    write_header_affine(tmp_path / "qform_sform.nii.gz", hr, shifted, qform=AFFINE)
    assert main(["fit", "--method", "cubic", "--lr", f"T1w={tmp_path / 'lr.nii.gz'}",
                 "--lr", f"T2w={tmp_path / 'lr.nii.gz'}", "--mask", str(tmp_path / "mask.nii.gz"),
                 "--out-dir", str(tmp_path / "sr")]) == 0
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("not an isosr result\n")
    (tmp_path / "a_file").write_text("a file, not a folder\n")
    return tmp_path


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit status and stderr of ``isosr argv`` run in this process."""
    capsys.readouterr()
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's usage errors
        status = exit_.code
    return status, capsys.readouterr().err


def assert_one_line_error(status: int, err: str, *names: str) -> None:
    assert status not in (0, None), err
    assert err.startswith("isosr error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for name in names:
        assert name in err, f"{name!r} not in {err!r}"


# (arguments with {d} for the scans folder, fragments the one-line message must contain)
CLI_CASES = {
    # affines, checked on load: every command, every file role
    "sheared HR": (["simulate", "--hr", "{d}/sheared.nii.gz", "--view", "axial", "--thickness",
                    "6", "--out", "{d}/out.nii.gz"], ["sheared.nii.gz", "affine is sheared"]),
    "singular HR": (["simulate", "--hr", "{d}/singular.nii.gz", "--view", "axial",
                     "--thickness", "6", "--out", "{d}/out.nii.gz"],
                    ["singular.nii.gz", "affine is singular"]),
    "NaN affine": (["simulate", "--hr", "{d}/nan_affine.nii.gz", "--view", "axial",
                    "--thickness", "6", "--out", "{d}/out.nii.gz"],
                   ["nan_affine.nii.gz", "not a finite 4x4"]),
    "qform != sform": (["simulate", "--hr", "{d}/qform_sform.nii.gz", "--view", "axial",
                        "--thickness", "6", "--out", "{d}/out.nii.gz"],
                       ["qform_sform.nii.gz", "qform and sform disagree (by up to 10 mm)"]),
    "sheared LR": (["fit", "--method", "cubic", "--lr", "T1w={d}/sheared.nii.gz", "--mask",
                    "{d}/mask.nii.gz", "--out-dir", "{d}/new"], ["sheared.nii.gz", "sheared"]),
    "sheared mask": (["fit", "--method", "cubic", "--lr", "T1w={d}/lr.nii.gz", "--mask",
                      "{d}/sheared.nii.gz", "--out-dir", "{d}/new"], ["sheared.nii.gz"]),
    "sheared prediction": (["evaluate", "--truth", "T1w={d}/t1.nii.gz", "--prediction",
                            "T1w={d}/sheared.nii.gz", "--mask", "{d}/mask.nii.gz", "--out",
                            "{d}/m.tsv"], ["sheared.nii.gz", "sheared"]),
    # evaluation: prediction, truth and mask on one grid
    "prediction shifted 10 mm": (["evaluate", "--truth", "T1w={d}/t1.nii.gz", "--prediction",
                                  "T1w={d}/shifted.nii.gz", "--mask", "{d}/mask.nii.gz", "--out",
                                  "{d}/m.tsv"],
                                 ["shifted.nii.gz: affine differs from", "mask.nii.gz", "10 mm"]),
    "truth shifted 10 mm": (["evaluate", "--truth", "T1w={d}/shifted.nii.gz", "--prediction",
                             "T1w={d}/t1.nii.gz", "--mask", "{d}/mask.nii.gz", "--out",
                             "{d}/m.tsv"], ["shifted.nii.gz: affine differs"]),
    "prediction of another shape": (["evaluate", "--truth", "T1w={d}/t1.nii.gz", "--prediction",
                                     "T1w={d}/small.nii.gz", "--mask", "{d}/mask.nii.gz", "--out",
                                     "{d}/m.tsv"],
                                    ["small.nii.gz: shape (15, 18, 20) differs", "mask.nii.gz"]),
    "no truth for a prediction": (["evaluate", "--truth", "T2w={d}/t1.nii.gz", "--prediction",
                                   "T1w={d}/t1.nii.gz", "--mask", "{d}/mask.nii.gz", "--out",
                                   "{d}/m.tsv"], ["no ground truth", "['T1w']"]),
    "empty evaluation mask": (["evaluate", "--truth", "T1w={d}/t1.nii.gz", "--prediction",
                               "T1w={d}/t1.nii.gz", "--mask", "{d}/empty_mask.nii.gz", "--out",
                               "{d}/m.tsv"], ["empty_mask.nii.gz: the mask is empty"]),
    # numbers on the command line: finite, in range
    "--noise nan": (["simulate", "--hr", "{d}/t1.nii.gz", "--view", "axial", "--thickness", "6",
                     "--noise", "nan", "--out", "{d}/out.nii.gz"], ["--noise", "'nan'"]),
    "--noise -0.1": (["simulate", "--hr", "{d}/t1.nii.gz", "--view", "axial", "--thickness", "6",
                      "--noise", "-0.1", "--out", "{d}/out.nii.gz"], ["--noise", "'-0.1'"]),
    "--thickness inf": (["simulate", "--hr", "{d}/t1.nii.gz", "--view", "axial", "--thickness",
                         "inf", "--out", "{d}/out.nii.gz"], ["--thickness", "'inf'"]),
    "--thickness 0": (["simulate", "--hr", "{d}/t1.nii.gz", "--view", "axial", "--thickness",
                       "0", "--out", "{d}/out.nii.gz"], ["--thickness", "positive"]),
    "--thickness four": (["simulate", "--hr", "{d}/t1.nii.gz", "--view", "axial", "--thickness",
                          "four", "--out", "{d}/out.nii.gz"], ["--thickness", "'four'"]),
    "--seed -1": (["simulate", "--hr", "{d}/t1.nii.gz", "--view", "axial", "--thickness", "6",
                   "--seed", "-1", "--out", "{d}/out.nii.gz"], ["--seed", "'-1'"]),
    "thickness below the HR spacing": (["simulate", "--hr", "{d}/t1.nii.gz", "--view", "axial",
                                        "--thickness", "1", "--out", "{d}/out.nii.gz"],
                                       ["t1.nii.gz", "below the HR spacing 2 mm"]),
    "thickness beyond the field of view": (["simulate", "--hr", "{d}/t1.nii.gz", "--view",
                                            "axial", "--thickness", "50", "--out",
                                            "{d}/out.nii.gz"],
                                           ["t1.nii.gz", "exceeds the field of view"]),
    "--resolution 0": (["fit", "--method", "cubic", "--lr", "T1w={d}/lr.nii.gz", "--resolution",
                        "0", "--out-dir", "{d}/new"], ["--resolution", "'0'"]),
    "--resolution -1": (["fit", "--method", "cubic", "--lr", "T1w={d}/lr.nii.gz", "--resolution",
                         "-1", "--out-dir", "{d}/new"], ["--resolution", "'-1'"]),
    "--resolution nan": (["fit", "--method", "cubic", "--lr", "T1w={d}/lr.nii.gz",
                          "--resolution", "nan", "--out-dir", "{d}/new"],
                         ["--resolution", "'nan'"]),
    "--resolution 0.01": (["fit", "--method", "cubic", "--lr", "T1w={d}/lr.nii.gz",
                           "--resolution", "0.01", "--out-dir", "{d}/new"],
                          ["--resolution 0.01", "would need 3200x3600x3600", "154 GiB"]),
    "--param NaN": (["fit", "--method", "inr-single", "--lr", "T1w={d}/lr.nii.gz", "--param",
                     "learning_rate=NaN", "--out-dir", "{d}/new"],
                    ["--param learning_rate=NaN: NaN is not a finite number"]),
    "--param 1e999": (["fit", "--method", "inr-single", "--lr", "T1w={d}/lr.nii.gz", "--param",
                       'loss_weights={"T1w": 1e999}', "--out-dir", "{d}/new"],
                      ["--param loss_weights=", "1e999 is not a finite number"]),
    # fields of view against the HR grid, before fitting
    "LR elsewhere, with a mask": (["fit", "--method", "cubic", "--lr", "T1w={d}/lr.nii.gz",
                                   "--lr", "T2w={d}/far.nii.gz", "--mask", "{d}/mask.nii.gz",
                                   "--out-dir", "{d}/new"],
                                  ["far.nii.gz: its field of view covers 0%"]),
    "LR elsewhere, no mask": (["fit", "--method", "cubic", "--lr", "T1w={d}/lr.nii.gz", "--lr",
                               "T2w={d}/far.nii.gz", "--out-dir", "{d}/new"],
                              ["field of view covers 0% of the HR grid"]),
    "LR covering a fifth": (["fit", "--method", "cubic", "--lr", "T1w={d}/slab.nii.gz",
                               "--mask", "{d}/mask.nii.gz", "--out-dir", "{d}/new"],
                              ["slab.nii.gz: its field of view covers 22%"]),
    "empty fit mask": (["fit", "--method", "cubic", "--lr", "T1w={d}/lr.nii.gz", "--mask",
                        "{d}/empty_mask.nii.gz", "--out-dir", "{d}/new"],
                       ["empty_mask.nii.gz: the mask is empty"]),
    # outputs: never onto an input, never over an earlier result unasked
    "--out is --hr": (["simulate", "--hr", "{d}/t1.nii.gz", "--view", "axial", "--thickness",
                       "6", "--out", "{d}/t1.nii.gz", "--overwrite"],
                      ["--out", "is the input --hr", "t1.nii.gz"]),
    "--out is --hr via a link": (["simulate", "--hr", "{d}/t1.nii.gz", "--view", "axial",
                                  "--thickness", "6", "--out", "{d}/link.nii.gz", "--overwrite"],
                                 ["link.nii.gz: is the input --hr"]),
    "--out exists": (["simulate", "--hr", "{d}/t1.nii.gz", "--view", "axial", "--thickness",
                      "6", "--out", "{d}/lr.nii.gz"],
                     ["--out", "lr.nii.gz: exists", "--overwrite"]),
    "--out is a prediction": (["evaluate", "--truth", "T1w={d}/t1.nii.gz", "--prediction",
                               "T1w={d}/sr/T1w.nii.gz", "--mask", "{d}/mask.nii.gz", "--out",
                               "{d}/sr/T1w.nii.gz", "--overwrite"],
                              ["is the input --prediction T1w"]),
    "--out is a folder": (["evaluate", "--truth", "T1w={d}/t1.nii.gz", "--prediction",
                           "T1w={d}/t1.nii.gz", "--mask", "{d}/mask.nii.gz", "--out", "{d}/sr",
                           "--overwrite"], ["--out", "sr: is a folder"]),
    "--out-dir holds the input": (["fit", "--method", "cubic", "--lr", "T1w={d}/lr.nii.gz",
                                   "--mask", "{d}/mask.nii.gz", "--out-dir", "{d}", "--overwrite"],
                                  ["--out-dir", "holds the input --lr T1w", "lr.nii.gz"]),
    "--out-dir holds the mask": (["fit", "--method", "cubic", "--lr", "T1w={d}/lr.nii.gz",
                                  "--mask", "{d}/sr/T1w.nii.gz", "--out-dir", "{d}/sr",
                                  "--overwrite"], ["holds the input --mask"]),
    "--out-dir is a file (checked first)": (["fit", "--method", "cubic", "--lr",
                                             "T1w={d}/missing.nii.gz", "--out-dir", "{d}/a_file"],
                                            ["--out-dir", "a_file: exists and is not a folder"]),
    "--out-dir holds a result": (["fit", "--method", "nearest", "--lr", "T1w={d}/lr.nii.gz",
                                  "--mask", "{d}/mask.nii.gz", "--out-dir", "{d}/sr"],
                                 ["--out-dir", "sr: not empty (T1w.nii.gz, T2w.nii.gz, fit.json)",
                                  "--overwrite"]),
    "--overwrite of a non-result": (["fit", "--method", "cubic", "--lr", "T1w={d}/lr.nii.gz",
                                     "--mask", "{d}/mask.nii.gz", "--out-dir", "{d}/notes",
                                     "--overwrite"], ["notes: not empty and not an isosr result"]),
    "failed fit over a result": (["fit", "--method", "inr-single", "--lr", "T1w={d}/lr.nii.gz",
                                  "--param", "epochs=-3", "--mask", "{d}/mask.nii.gz",
                                  "--out-dir", "{d}/sr", "--overwrite"], ["epochs", "-3"]),
    # names on the command line
    "--lr contrast twice": (["fit", "--method", "cubic", "--lr", "T1w={d}/lr.nii.gz", "--lr",
                             "T1w={d}/far.nii.gz", "--out-dir", "{d}/new"],
                            ["--lr T1w=", "far.nii.gz: T1w is given twice"]),
    "--lr contrast is a path": (["fit", "--method", "cubic", "--lr", "../T1w={d}/lr.nii.gz",
                                 "--out-dir", "{d}/new"],
                                ["--lr", "letters and digits", "'../T1w'"]),
    "--lr is a folder": (["fit", "--method", "cubic", "--lr", "T1w={d}/sr", "--out-dir",
                          "{d}/new"], ["sr: not a file"]),
    "unknown method": (["fit", "--method", "bicubic", "--lr", "T1w={d}/lr.nii.gz", "--mask",
                        "{d}/mask.nii.gz", "--out-dir", "{d}/new"], ["unknown method 'bicubic'"]),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_bad_input_is_one_line_and_changes_nothing(scans, capsys, case):
    arguments, names = CLI_CASES[case]
    (scans / "link.nii.gz").symlink_to(scans / "t1.nii.gz")
    before = digest(scans)
    status, err = cli([a.replace("{d}", str(scans)) for a in arguments], capsys)
    assert_one_line_error(status, err, *names)
    assert digest(scans) == before  # inputs and the earlier result intact, nothing added
    assert {p.name for p in scans.iterdir()} == {n.split("/")[0] for n in before}


def test_the_current_folder_is_no_out_dir(scans, capsys, monkeypatch):
    monkeypatch.chdir(scans / "notes")
    before = digest(scans)
    for out_dir in (".", ".."):
        status, err = cli(["fit", "--method", "cubic", "--lr", f"T1w={scans / 'lr.nii.gz'}",
                           "--out-dir", out_dir, "--overwrite"], capsys)
        assert_one_line_error(status, err, f"--out-dir {out_dir}: is the current folder or holds")
    assert digest(scans) == before


def test_overwrite_replaces_the_whole_earlier_result(scans, capsys):
    inputs = {k: v for k, v in digest(scans).items() if not k.startswith("sr/")}
    status, err = cli(["fit", "--method", "nearest", "--lr", f"T1w={scans / 'lr.nii.gz'}",
                       "--mask", str(scans / "mask.nii.gz"), "--out-dir", str(scans / "sr"),
                       "--overwrite"], capsys)
    assert status == 0, err
    assert sorted(p.name for p in (scans / "sr").iterdir()) == ["T1w.nii.gz", "fit.json"]
    assert '"method": "nearest"' in (scans / "sr" / "fit.json").read_text()
    after = digest(scans)
    assert {k: v for k, v in after.items() if not k.startswith("sr/")} == inputs
    assert not [p for p in scans.iterdir() if p.name.startswith(".")]


def test_debug_adds_the_traceback(scans, capsys):
    argv = ["simulate", "--hr", str(scans / "sheared.nii.gz"), "--view", "axial",
            "--thickness", "6", "--out", str(scans / "out.nii.gz")]
    status, err = cli(["simulate", "--debug", *argv[1:]], capsys)
    assert status == 1 and "Traceback" in err and "affine is sheared" in err


# Disk full: a file-size limit in a child process (EFBIG), and as root a real 64 KiB tmpfs
# (ENOSPC). The larger result (T1w on a 40^3 grid) does not fit; the earlier one must survive.
def _python_child(arguments: list[str], file_size_limit: int | None = None
                  ) -> subprocess.CompletedProcess:
    """Run ``python arguments`` with isosr from this tree, writing files of at most
    ``file_size_limit`` bytes (a longer write fails with EFBIG)."""
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the error, not the signal, is wanted
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, *arguments], capture_output=True, text=True, env=env,
                          timeout=120, preexec_fn=None if file_size_limit is None else limit)


def _isosr_child(argv: list[str], file_size_limit: int | None = None
                 ) -> subprocess.CompletedProcess:
    return _python_child(["-m", "isosr.cli", *argv], file_size_limit)


def _large_fit(scans: Path, out_dir: Path) -> list[str]:
    save_nifti(scans / "big_mask.nii.gz", np.ones((40, 40, 40), np.uint8), np.eye(4),
               dtype=np.uint8)  # noise, to be interpolated into ~250 KiB that gzip cannot shrink
    save_nifti(scans / "big_lr.nii.gz", np.random.default_rng(0).random((40, 40, 10)),
               np.diag([1.0, 1.0, 4.0, 1.0]) @ np.array([[1, 0, 0, 0], [0, 1, 0, 0],
                                                        [0, 0, 1, 0.375], [0, 0, 0, 1]]))
    return ["fit", "--method", "cubic", "--lr", f"T1w={scans / 'big_lr.nii.gz'}", "--mask",
            str(scans / "big_mask.nii.gz"), "--out-dir", str(out_dir), "--overwrite"]


def _assert_disk_full_handled(result: subprocess.CompletedProcess, out_dir: Path,
                              before: dict[str, str], reason: str) -> None:
    assert_one_line_error(result.returncode, result.stderr, f"{out_dir}/T1w.nii.gz",
                          reason, f"{out_dir} is unchanged")
    assert digest(out_dir.parent) == before
    assert not [p for p in out_dir.parent.iterdir() if p.name.startswith(".")]


def test_a_full_disk_leaves_the_earlier_result_and_no_partial_files(scans):
    argv = _large_fit(scans, scans / "sr")
    before = digest(scans)
    result = _isosr_child(argv, file_size_limit=4096)
    _assert_disk_full_handled(result, scans / "sr", before, "File too large")


def test_a_full_tmpfs_leaves_the_earlier_result_and_no_partial_files(scans, tmp_path_factory):
    mount_point = tmp_path_factory.mktemp("tmpfs")
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs",
                                            str(mount_point)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        out_dir = mount_point / "sr"
        assert _isosr_child(["fit", "--method", "cubic", "--lr", f"T1w={scans / 'lr.nii.gz'}",
                             "--mask", str(scans / "mask.nii.gz"), "--out-dir",
                             str(out_dir)]).returncode == 0
        before = digest(mount_point)
        result = _isosr_child(_large_fit(scans, out_dir))
        _assert_disk_full_handled(result, out_dir, before, "No space left on device")
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_library_writes_leave_no_partial_file_when_the_disk_is_full(tmp_path):
    image, sidecar = str(tmp_path / "x.nii.gz"), str(tmp_path / "x.json")
    code = ("import numpy as np; from isosr.io import save_nifti, save_json, OutputError\n"
            f"for write in (lambda: save_nifti({image!r}, "
            "np.random.default_rng(0).random((30, 30, 30)), np.eye(4)),\n"
            f"              lambda: save_json({sidecar!r}, {{'a': 'b' * 9000}})):\n"
            "    try: write()\n"
            "    except OutputError as error: print(error)\n")
    result = _python_child(["-c", code], file_size_limit=4096)
    assert result.stdout.splitlines() == [f"{tmp_path / 'x.nii.gz'}: cannot write (File too "
                                          "large)",
                                          f"{tmp_path / 'x.json'}: cannot write (File too large)"]
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_is_an_output_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="file/x.json: cannot write"):
        save_json(tmp_path / "file" / "x.json", {})
    assert digest(tmp_path) == {"file": hashlib.sha256(b"x").hexdigest()}


def test_workflow_fit_refuses_an_lr_scan_outside_the_grid(scans):
    """run_fit (the workflow's fit script) checks fields of view before fitting anything."""
    before = digest(scans)
    with pytest.raises(InputError, match="far.nii.gz: its field of view covers 0%"):
        run_fit(method="cubic", params={}, lr_paths={"T1w": scans / "far.nii.gz"},
                acquisitions={"T1w": {"view": "axial", "thickness": 6.0}},
                mask_path=scans / "mask.nii.gz",
                output_paths={"T1w": scans / "out" / "T1w.nii.gz"},
                fit_json=scans / "out" / "fit.json")
    assert digest(scans) == before


# Config values: checked in the plan, naming the key, before any job.
@pytest.fixture
def config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


SCENARIO = "T1w-ax4-T2w-cor4"
CONFIG_CASES: dict[str, tuple[Callable[[dict], object], str]] = {
    "noise .nan": (lambda c: c["scenarios"][SCENARIO]["contrasts"]["T1w"].update(noise=np.nan),
                   rf"scenarios.{SCENARIO}.contrasts.T1w.noise: expected a finite number, got nan"),
    "thickness .inf": (lambda c: c["scenarios"][SCENARIO]["contrasts"]["T2w"]
                       .update(thickness=np.inf),
                       rf"scenarios.{SCENARIO}.contrasts.T2w.thickness: expected a finite"),
    "resolution_mm .nan": (lambda c: c["datasets"]["icbm152"].update(resolution_mm=np.nan),
                           r"datasets.icbm152.resolution_mm: expected a finite number"),
    "percentile .nan": (lambda c: c["datasets"]["icbm152"]
                        .update(normalisation_percentiles=[0.5, np.nan]),
                        r"datasets.icbm152.normalisation_percentiles\[1\]: expected a finite"),
    "negative seed": (lambda c: c.update(seed=-1), r"^seed: expected an integer >= 0, got -1"),
    "thickness below the HR spacing": (
        lambda c: c["scenarios"][SCENARIO]["contrasts"]["T1w"].update(thickness=1.5),
        rf"scenarios.{SCENARIO}.contrasts.T1w.thickness: 1.5 mm is below the HR spacing "
        r"\(datasets.icbm152.resolution_mm = 2 mm\)"),
    "decimate thickness not a multiple": (
        lambda c: c["scenarios"][SCENARIO]["contrasts"]["T2w"].update(thickness=5.0,
                                                                      model="decimate"),
        rf"scenarios.{SCENARIO}.contrasts.T2w.thickness: model 'decimate' keeps every k-th HR "
        r"slice, so 5 mm must be a multiple"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_plan_rejects_bad_numbers_naming_the_key(config, case):
    edit, message = CONFIG_CASES[case]
    edit(config)
    checked = copy.deepcopy(config)
    validate(checked, schema=SCHEMA)  # the schema alone lets these through
    with pytest.raises(ConfigError, match=message):
        Plan(checked)


def test_decimate_with_a_multiple_of_the_spacing_is_accepted(config):
    config["scenarios"][SCENARIO]["contrasts"]["T2w"].update(thickness=6.0, model="decimate")
    validate(config, schema=SCHEMA)
    Plan(config)


def test_snakemake_names_a_too_thin_slice_before_any_job(tmp_path, config):
    config["scenarios"][SCENARIO]["contrasts"]["T1w"]["thickness"] = 1.0
    configfile = tmp_path / "thin.yaml"
    configfile.write_text(yaml.safe_dump(config))
    before = digest(tmp_path)
    result = run_snakemake(tmp_path, configfile, "--dry-run", timeout=300)
    assert result.returncode != 0
    assert f"scenarios.{SCENARIO}.contrasts.T1w.thickness: 1 mm is below" in (result.stdout +
                                                                            result.stderr)
    assert {k: v for k, v in digest(tmp_path).items() if not k.startswith(".snakemake")} == before
    assert not (tmp_path / "results").exists()


def test_an_interrupted_fit_leaves_no_result_and_no_staging_folder(scans):
    before = digest(scans)
    # PYTHONFAULTHANDLER: a child that hangs prints every thread's stack on SIGABRT (below)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONFAULTHANDLER": "1"}
    # a Python handler in this process is SIG_DFL in the child after exec, so its Python turns
    # Ctrl-C into KeyboardInterrupt even where this process ignores SIGINT (as every command
    # started in the background by a non-interactive shell does: then the Ctrl-C was lost)
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "isosr.cli", "fit", "--method", "inr-single", "--param",
             "profile=fast", "--param", "epochs=100000", "--param", "early_stopping=false",
             "--lr", f"T1w={scans / 'lr.nii.gz'}", "--mask", str(scans / "mask.nii.gz"),
             "--out-dir", str(scans / "new")], env=env, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, ignored)
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(iter(child.stderr.readline, "")))
    reader.start()
    deadline = time.monotonic() + 120
    while not any("coord/s" in line for line in stderr) and time.monotonic() < deadline:
        time.sleep(0.1)  # the progress bar appears when training starts
    assert list(scans.glob(".new.partial-*")), "the fit never started: " + "".join(stderr)
    time.sleep(1.0)  # inside the training loop
    child.send_signal(signal.SIGINT)
    try:
        child.wait(timeout=60)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGABRT)
        child.wait()
        reader.join()
        pytest.fail("no exit within 60 s of Ctrl-C; the child's stacks:\n" + "".join(stderr))
    reader.join()
    err = "".join(stderr)
    assert child.returncode == 130 and err.strip().endswith("isosr: interrupted"), err
    assert "Traceback" not in err
    # only the checkpoints (beside the out-dir, to resume the fit) may have appeared
    kept = {k: v for k, v in digest(scans).items() if not k.startswith(".new.checkpoint/")}
    assert kept == before
    assert {p.name for p in scans.iterdir()} - {".new.checkpoint"} == {n.split("/")[0]
                                                                        for n in before}
