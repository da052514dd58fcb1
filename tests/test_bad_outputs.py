"""What isosr writes and removes: only its own folders and files (checkpoint folders it created,
the files of an earlier isosr result), never two runs into one folder at once, and no score of
an image on another scale or with a mask that is not a binary brain mask."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from test_bad_inputs import AFFINE, assert_one_line_error, cli, digest, make_scans

from isosr.checkpoint_dir import MARKER, STATE_FILE, claim_checkpoint_dir, remove_checkpoint_dir
from isosr.figures import mi_absence
from isosr.io import load_nifti, save_nifti


@pytest.fixture
def scans(tmp_path: Path) -> Path:
    return make_scans(tmp_path)


def fit_argv(scans: Path, out_dir: Path, *extra: str, method: str = "cubic") -> list[str]:
    return ["fit", "--method", method, "--lr", f"T1w={scans / 'lr.nii.gz'}", "--mask",
            str(scans / "mask.nii.gz"), "--out-dir", str(out_dir), *extra]


# --- checkpoint folders: isosr's own or refused -------------------------------------------------
def test_an_existing_folder_given_as_checkpoint_dir_is_refused_before_any_work(scans, capsys):
    victim = scans / "extra" / "victim"
    victim.mkdir(parents=True)
    (victim / "thesis.tex").write_text("years of work\n")
    (scans / "extra" / "empty").mkdir()
    (scans / "extra" / "file").write_text("a file\n")
    (scans / "extra" / "link").symlink_to(victim)
    before = digest(scans)
    for name in ("victim", "empty", "file", "link"):
        status, err = cli(fit_argv(scans, scans / "new", "--checkpoint-dir",
                                   str(scans / "extra" / name)), capsys)
        assert_one_line_error(status, err, f"--checkpoint-dir {scans / 'extra' / name}")
        assert digest(scans) == before
        assert not (scans / "new").exists()


def test_a_new_checkpoint_dir_is_created_marked_and_removed_after_the_fit(scans, capsys):
    folder = scans / "ckpt" / "a"
    status, err = cli(fit_argv(scans, scans / "new", "--checkpoint-dir", str(folder)), capsys)
    assert status == 0, err
    assert not folder.exists() and (scans / "ckpt").is_dir()  # only what isosr created goes


def test_only_isosr_files_are_removed_from_its_checkpoint_folder(tmp_path):
    folder = claim_checkpoint_dir(tmp_path / "ckpt")
    assert (folder / MARKER).is_file()
    for sub in ("T1w", "T2w"):
        (folder / sub).mkdir()
        (folder / sub / STATE_FILE).write_bytes(b"state")
    (folder / "T2w" / "notes.txt").write_text("the user's\n")
    remove_checkpoint_dir(folder)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "ckpt", "ckpt/T2w", "ckpt/T2w/notes.txt"]
    assert claim_checkpoint_dir(tmp_path / "new") == tmp_path / "new"
    remove_checkpoint_dir(tmp_path / "new")
    assert not (tmp_path / "new").exists()
    remove_checkpoint_dir(tmp_path / "ckpt" / "T2w")  # not marked: untouched
    assert (tmp_path / "ckpt" / "T2w" / "notes.txt").is_file()


def test_a_failed_fit_leaves_no_empty_checkpoint_folder(scans, capsys):
    before = digest(scans)
    status, err = cli(fit_argv(scans, scans / "new", "--param", "epochs=0",
                               method="inr-single"), capsys)
    assert_one_line_error(status, err, "epochs")
    assert digest(scans) == before and not list(scans.glob(".new*"))


# --- --overwrite: the earlier isosr result only ------------------------------------------------
def test_overwrite_replaces_only_the_earlier_result_and_says_what(scans, capsys):
    (scans / "sr" / "my_notes.txt").write_text("keep me\n")
    (scans / "sr" / "T1w_edited.nii.gz").write_bytes((scans / "sr" / "T1w.nii.gz").read_bytes())
    kept = {k: v for k, v in digest(scans).items()
            if k not in ("sr/T1w.nii.gz", "sr/T2w.nii.gz", "sr/fit.json")}
    capsys.readouterr()
    status, err = cli(fit_argv(scans, scans / "sr", "--overwrite", method="nearest"), capsys)
    assert status == 0, err
    after = digest(scans)
    assert {k: v for k, v in after.items() if k in kept} == kept  # unrelated files untouched
    assert sorted(p.name for p in (scans / "sr").iterdir()) == [
        "T1w.nii.gz", "T1w_edited.nii.gz", "fit.json", "my_notes.txt"]  # T2w: the old result's
    record = json.loads((scans / "sr" / "fit.json").read_text())
    assert record["method"] == "nearest" and record["result_files"] == ["T1w.nii.gz", "fit.json"]
    assert not [p for p in scans.iterdir() if p.name.startswith(".")]


def test_overwrite_names_what_it_replaced_and_kept(scans, capsys):
    (scans / "sr" / "my_notes.txt").write_text("keep me\n")
    capsys.readouterr()
    assert main_status(fit_argv(scans, scans / "sr", "--overwrite", method="nearest"))
    out = capsys.readouterr().out
    assert (f"replaced the earlier result in {scans / 'sr'} (T1w.nii.gz, T2w.nii.gz, fit.json)"
            in out), out
    assert "kept what isosr did not write: my_notes.txt" in out


def main_status(argv: list[str]) -> bool:
    from isosr.cli import main
    return main(argv) == 0


@pytest.mark.parametrize("record", ["not json", "[1, 2]", "{}", '{"method": "cubic"}'])
def test_overwrite_refuses_a_folder_whose_fit_json_is_not_isosrs(scans, capsys, record):
    (scans / "notes" / "fit.json").write_text(record)
    before = digest(scans)
    status, err = cli(fit_argv(scans, scans / "notes", "--overwrite"), capsys)
    assert_one_line_error(status, err, "notes: not empty and not an isosr result")
    assert digest(scans) == before


def test_a_result_file_list_cannot_reach_outside_the_folder(scans, capsys):
    record = json.loads((scans / "sr" / "fit.json").read_text())
    (scans / "sr" / "fit.json").write_text(json.dumps(
        {**record, "result_files": ["../t1.nii.gz", str(scans / "lr.nii.gz"), "T1w.nii.gz"]}))
    inputs = {k: v for k, v in digest(scans).items() if not k.startswith("sr/")}
    status, err = cli(fit_argv(scans, scans / "sr", "--overwrite"), capsys)
    assert status == 0, err
    assert {k: v for k, v in digest(scans).items() if not k.startswith("sr/")} == inputs
    assert (scans / "sr" / "T2w.nii.gz").is_file()  # not listed: not replaced


def test_overwrite_refuses_to_replace_a_file_the_earlier_result_does_not_list(scans, capsys):
    """The earlier result lists T1w only; the T2w.nii.gz beside it is the user's, and a new
    T1w + T2w result would rename over it: refused before any work."""
    record = json.loads((scans / "sr" / "fit.json").read_text())
    (scans / "sr" / "fit.json").write_text(json.dumps(
        {**record, "result_files": ["T1w.nii.gz", "fit.json"]}))
    before = digest(scans)
    status, err = cli(["fit", "--method", "cubic", "--lr", f"T1w={scans / 'lr.nii.gz'}", "--lr",
                       f"T2w={scans / 'lr.nii.gz'}", "--mask", str(scans / "mask.nii.gz"),
                       "--out-dir", str(scans / "sr"), "--overwrite"], capsys)
    assert_one_line_error(status, err, "sr: holds T2w.nii.gz, which the earlier isosr result "
                          "does not list")
    assert digest(scans) == before


# --- one run per folder at a time --------------------------------------------------------------
def _child(argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.Popen([sys.executable, "-m", "isosr.cli", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_second_fit_into_the_same_folder_fails_at_once_naming_the_first(scans):
    slow = fit_argv(scans, scans / "r", "--param", "profile=fast", "--param", "epochs=100000",
                    "--param", "early_stopping=false", method="inr-single")
    first = _child(slow)
    try:
        lock = scans / ".r.lock"
        deadline = time.monotonic() + 120
        while not (lock.exists() and lock.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert lock.read_text().strip() == str(first.pid)
        second = _child(fit_argv(scans, scans / "r"))
        _, err = second.communicate(timeout=120)
        assert_one_line_error(second.returncode, err, f"--out-dir {scans / 'r'}: in use by "
                              f"another isosr run (pid {first.pid})")
        assert first.poll() is None  # the first run goes on
    finally:
        first.kill()
        first.wait()


def test_a_lock_left_by_a_killed_run_does_not_block(scans, capsys):
    (scans / ".r.lock").write_text("12345\n")  # a killed run's file: no process holds it
    status, err = cli(fit_argv(scans, scans / "r"), capsys)
    assert status == 0, err
    assert not (scans / ".r.lock").exists() and (scans / "r" / "T1w.nii.gz").is_file()


# --- evaluation: the [0, 1] scale and binary masks ---------------------------------------------
def _evaluate_argv(scans: Path, truth: str, prediction: str, mask: str = "mask.nii.gz"
                   ) -> list[str]:
    return ["evaluate", "--truth", f"T1w={scans / truth}", "--prediction",
            f"T1w={scans / prediction}", "--mask", str(scans / mask), "--out",
            str(scans / "m.tsv")]


def test_a_truth_on_its_raw_scale_is_refused_with_its_range(scans, capsys):
    raw = load_nifti(scans / "t1.nii.gz")[0] * 1000.0
    save_nifti(scans / "raw.nii.gz", raw, AFFINE)
    before = digest(scans)
    status, err = cli(_evaluate_argv(scans, "raw.nii.gz", "raw.nii.gz"), capsys)
    assert_one_line_error(status, err, f"raw.nii.gz: intensities {raw.min():.4g} to "
                          f"{raw.max():.4g} inside the mask", "normalised to [0, 1]")
    assert digest(scans) == before


def test_a_prediction_on_another_scale_is_refused_but_overshoot_is_scored(scans, capsys):
    truth = load_nifti(scans / "t1.nii.gz")[0]
    save_nifti(scans / "scaled.nii.gz", truth * 255.0, AFFINE)
    status, err = cli(_evaluate_argv(scans, "t1.nii.gz", "scaled.nii.gz"), capsys)
    assert_one_line_error(status, err, "scaled.nii.gz: 1st-99th percentile", "not on the [0, 1]")
    overshoot = truth.copy()
    overshoot[0, 0, :] = 1.3  # ringing at an edge: clipped to 1, as documented
    save_nifti(scans / "overshoot.nii.gz", overshoot, AFFINE)
    status, err = cli(_evaluate_argv(scans, "t1.nii.gz", "overshoot.nii.gz"), capsys)
    assert status == 0, err
    rows = (scans / "m.tsv").read_text().splitlines()
    psnr = float(next(r for r in rows if "\tPSNR\t" in r).split("\t")[-1])
    mse = np.mean((np.clip(overshoot, 0, 1) - truth) ** 2)
    assert psnr == pytest.approx(10 * np.log10(1.0 / mse), rel=1e-4)


@pytest.mark.parametrize("values, shown", [((0, 2), "values 2"), ((0, 0.5), "values 0.5"),
                                           ((1e-6, 1e-6), "values 1e-06")])
def test_a_mask_that_is_not_binary_is_refused_by_evaluate_and_fit(scans, capsys, values, shown):
    data = np.full((16, 18, 20), values[0], np.float32)
    data[2:-2, 2:-2, 2:-2] = values[1]
    save_nifti(scans / "odd_mask.nii.gz", data, AFFINE)
    before = digest(scans)
    for argv in (_evaluate_argv(scans, "t1.nii.gz", "t1.nii.gz", "odd_mask.nii.gz"),
                 ["fit", "--method", "cubic", "--lr", f"T1w={scans / 'lr.nii.gz'}", "--mask",
                  str(scans / "odd_mask.nii.gz"), "--out-dir", str(scans / "new")]):
        status, err = cli(argv, capsys)
        assert_one_line_error(status, err, "odd_mask.nii.gz: not a binary mask", shown)
        assert digest(scans) == before


def test_a_fit_mask_coarser_than_the_scans_is_refused(scans, capsys):
    coarse = np.diag([4.0, 4.0, 4.0, 1.0])
    coarse[:3, 3] = 1.0  # the same field of view as the 2 mm grid, in 4 mm voxels
    save_nifti(scans / "coarse_mask.nii.gz", np.ones((8, 9, 10), np.uint8), coarse,
               dtype=np.uint8)
    before = digest(scans)
    status, err = cli(["fit", "--method", "cubic", "--lr", f"T1w={scans / 'lr.nii.gz'}",
                       "--mask", str(scans / "coarse_mask.nii.gz"), "--out-dir",
                       str(scans / "new")], capsys)
    assert_one_line_error(status, err, "coarse_mask.nii.gz: its grid (4 mm) is coarser than the "
                          "2 mm spacing of", "lr.nii.gz")
    assert digest(scans) == before


# --- the MI figure says why it is empty ----------------------------------------------------------
def test_the_mi_figure_names_the_inr_fits_without_mi_and_why(tmp_path):
    records = {"cubic": {"method": "cubic", "params": {}},
               "inr-splithead": {"method": "inr-splithead",
                                 "params": {"profile": "fast", "early_stopping": False}},
               "inr-single": {"method": "inr-single", "params": {"early_stopping": True}}}
    paths = []
    for name, record in records.items():
        path = tmp_path / name / "sub-01" / "fit.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(record))
        paths.append(path)
    assert mi_absence(paths) == ("No per-epoch MI: inr-single (one contrast per network), "
                                 "inr-splithead (early_stopping off, as in its 'fast' profile: "
                                 "MI not measured); no other method fits by epochs")


# --- parameters name only contrasts the fit sees -------------------------------------------------
@pytest.mark.parametrize("weights, shown", [('{"FLAIR": 2}', "'FLAIR' is not among"),
                                            ('{"T1W": 2}', "'T1W' is not among"),
                                            ("[1, 2]", "expected a mapping")])
def test_a_loss_weight_for_a_contrast_the_fit_lacks_is_refused(scans, capsys, weights, shown):
    before = digest(scans)
    status, err = cli(fit_argv(scans, scans / "new", "--param", f"loss_weights={weights}",
                               method="inr-single"), capsys)
    assert_one_line_error(status, err, "--param loss_weights", shown)
    assert digest(scans) == before
