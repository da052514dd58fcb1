"""The bids source: discovery with pybids, contrast selection, sessions, and reporting."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import yaml
from conftest import run_snakemake

from isosr.config import Plan
from isosr.data.bids import BidsSource
from isosr.io import InputError, load_nifti


def write_image(path: Path, value: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.full((5, 6, 7), value, np.float32), np.diag([2, 2, 2, 1])), path)


def bids_dataset(root: Path, files: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(json.dumps(
        {"Name": "test", "BIDSVersion": "1.9.0"}))
    for value, name in enumerate(files, start=1):
        write_image(root / name, float(value))
    return root


def source(root: Path, **block) -> BidsSource:
    return BidsSource.from_block("mine", {"root": str(root), **block})


def test_subjects_lacking_a_contrast_are_named_and_skipped(tmp_path, caplog):
    root = bids_dataset(tmp_path / "ds", [
        "sub-01/anat/sub-01_T1w.nii.gz", "sub-01/anat/sub-01_FLAIR.nii.gz",
        "sub-02/anat/sub-02_T1w.nii.gz",
        "sub-03/anat/sub-03_T1w.nii.gz", "sub-03/anat/sub-03_FLAIR.nii.gz",
        "sub-04/func/sub-04_task-rest_bold.nii.gz",
        "derivatives/x/sub-05/anat/sub-05_T1w.nii.gz"])
    with caplog.at_level(logging.WARNING):
        scans = source(root).scans(["T1w", "FLAIR"])
    assert sorted(scans) == ["01", "03"]
    assert scans["03"]["FLAIR"] == root / "sub-03/anat/sub-03_FLAIR.nii.gz"
    assert "2 of 4 subject(s) lack a contrast and are skipped: sub-02 (FLAIR), " \
           "sub-04 (T1w, FLAIR)" in caplog.text


def test_entities_pick_one_of_several_runs_or_acquisitions(tmp_path):
    root = bids_dataset(tmp_path / "ds", [
        "sub-01/anat/sub-01_run-1_T1w.nii.gz", "sub-01/anat/sub-01_run-2_T1w.nii.gz",
        "sub-01/anat/sub-01_acq-highres_T2w.nii.gz", "sub-01/anat/sub-01_acq-lowres_T2w.nii.gz"])
    with pytest.raises(InputError, match="several files match one contrast") as error:
        source(root).scans(["T1w", "T2w"])
    assert f"{root}/sub-01/anat/sub-01_run-1_T1w.nii.gz, {root}/sub-01/anat/sub-01_run-2_T1w" \
        in str(error.value)
    picked = source(root, select={"T1w": {"run": 2}, "T2w": {"acquisition": "highres"}}
                    ).scans(["T1w", "T2w"])
    assert picked["01"] == {"T1w": root / "sub-01/anat/sub-01_run-2_T1w.nii.gz",
                            "T2w": root / "sub-01/anat/sub-01_acq-highres_T2w.nii.gz"}
    by_suffix = source(root, select={"T2w": {"suffix": "T1w", "run": 1}}).scans(["T2w"])
    assert by_suffix["01"]["T2w"].name == "sub-01_run-1_T1w.nii.gz"


def test_sessions_become_part_of_the_label_only_when_several_are_used(tmp_path):
    root = bids_dataset(tmp_path / "ds", [
        f"sub-{s}/ses-{t}/anat/sub-{s}_ses-{t}_{c}.nii.gz"
        for s in ("01", "02") for t in ("pre", "post") for c in ("T1w", "T2w")])
    assert sorted(source(root).scans(["T1w", "T2w"])) == ["01sespost", "01sespre",
                                                           "02sespost", "02sespre"]
    one = source(root, sessions=["post"]).scans(["T1w"])
    assert sorted(one) == ["01", "02"] and "ses-post" in one["02"]["T1w"].name


def test_folder_that_is_not_bids_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="BIDS root folder not found"):
        source(tmp_path / "missing").scans(["T1w"])
    (tmp_path / "plain").mkdir()
    with pytest.raises(InputError, match="not a BIDS dataset"):
        source(tmp_path / "plain").scans(["T1w"])


def test_fetch_local_copies_the_chosen_scans_into_the_layout(tmp_path):
    root = bids_dataset(tmp_path / "ds", [
        "sub-01/anat/sub-01_T1w.nii.gz", "sub-01/anat/sub-01_T2w.nii.gz",
        "sub-02/anat/sub-02_T1w.nii.gz"])
    config = {"datasets": {"mine": {"source": "bids", "contrasts": ["T1w", "T2w"],
                                    "bids": {"root": str(root)}}},
              "scenarios": {"s": {"contrasts": {"T1w": {"view": "axial", "thickness": 4.0}}}},
              "methods": {"cubic": {}}}
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    work = tmp_path / "work"
    targets = [f"resources/datasets/mine/sub-01/anat/sub-01_{c}.nii.gz" for c in ("T1w", "T2w")]
    result = run_snakemake(work, configfile, "--cores", "1", *targets)
    assert result.returncode == 0, result.stderr[-3000:]
    data, affine = load_nifti(work / targets[1])
    assert data.shape == (5, 6, 7) and np.all(data == 2.0)  # sub-01_T2w is the second file
    np.testing.assert_allclose(affine, np.diag([2, 2, 2, 1]))
    plan_config = {**config, "reference_method": "cubic"}
    plan_config["datasets"]["mine"]["reference_contrast"] = "T1w"
    plan = Plan(plan_config)
    assert plan.subjects("mine") == ["01"]
    with pytest.raises(InputError, match="no subject '02' with all contrasts"):
        plan.local_scan("mine", "02", "T2w")  # what the rule's input function asks
