"""isosr's outputs as BIDS derivatives, checked by the real BIDS validator (bids-validator-deno,
the schema-based validator, from the package index): a dataset with and without sessions and a
method whose name is not a BIDS label validates without errors, and misnamed files do not."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from isosr import __version__
from isosr.clinical.derivatives import (
    BIDS_VERSION,
    check_desc_labels,
    config_hash,
    dataset_description,
    derivative_path,
    desc_label,
    sidecar,
    write_dataset_description,
    write_sidecar,
)
from isosr.io import InputError, save_nifti
from isosr.methods.registry import method_names

VALIDATOR = shutil.which("bids-validator-deno")  # in the test extra
# The validator's exit status: 0 without errors, 16 with (anything else: it failed to run).
VALIDATOR_FOUND_ERRORS = 16


def validator_errors(root: Path) -> list[tuple[str, str]]:
    """(code, location) of every error the BIDS validator reports on the dataset at ``root``."""
    assert VALIDATOR is not None, "bids-validator-deno is missing: pip install -e '.[test]'"
    result = subprocess.run([VALIDATOR, "--format", "json", str(root)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode in (0, VALIDATOR_FOUND_ERRORS), result.stderr[-3000:]
    errors = [(i["code"], i.get("location", "")) for i in json.loads(result.stdout)["issues"][
        "issues"] if i["severity"] == "error"]
    assert bool(errors) == (result.returncode == VALIDATOR_FOUND_ERRORS), errors
    return errors


def write_dataset(root: Path) -> list[Path]:
    """Two subjects (one with two sessions, one without), two methods, two contrasts."""
    write_dataset_description(root / "dataset_description.json", {"seed": 0}, "lrstudy",
                              "../../../../resources/datasets/lrstudy")
    images = []
    for subject, session in (("01", "01"), ("01", "02"), ("02", None)):
        for method in ("cubic", "inr-splithead"):
            for contrast in ("T1w", "FLAIR"):
                path = derivative_path(root, subject, session, method, contrast)
                save_nifti(path, np.zeros((8, 8, 8), np.float32), np.eye(4))
                scan = (f"sub-{subject}/" + (f"ses-{session}/" if session else "") + "anat/"
                        + path.name.replace(f"_desc-{desc_label(method)}", ""))
                write_sidecar(path, sidecar(sources=[scan], method=method, profile="fast",
                                            parameters={"epochs": 4}, seed=3, device="cpu",
                                            wall_seconds=1.5, skull_stripped=False))
                images.append(path)
    (root / "sub-01_ses-01.html").write_text("<html></html>")  # a report, in .bidsignore
    return images


def test_names_follow_bids_and_method_labels_are_checked(tmp_path):
    assert derivative_path(tmp_path, "01", "02", "inr-splithead", "T1w") == (
        tmp_path / "sub-01/ses-02/anat/sub-01_ses-02_desc-inrsplithead_T1w.nii.gz")
    assert derivative_path(tmp_path, "01", None, "cubic", "FLAIR", ".json") == (
        tmp_path / "sub-01/anat/sub-01_desc-cubic_FLAIR.json")
    assert desc_label("dual-arbnet") == "dualarbnet"
    check_desc_labels(method_names())  # every registered method has a label of its own
    with pytest.raises(InputError, match="'sa-inr' and 'sainr' both become BIDS label "
                                         "desc-sainr"):
        check_desc_labels(["cubic", "sa-inr", "sainr"])
    with pytest.raises(InputError, match="no letters or digits"):
        desc_label("--")


def test_config_hash_is_stable_under_key_order_and_follows_values():
    digest = config_hash({"a": 1, "b": {"c": 2, "d": [3, 4]}})
    assert len(digest) == 64 and digest == config_hash({"b": {"d": [3, 4], "c": 2}, "a": 1})
    assert digest != config_hash({"a": 1, "b": {"c": 2, "d": [4, 3]}})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    assert dataset_description({"a": 1}, "lrstudy") == {
        "Name": "isosr super-resolution of lrstudy", "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative", "GeneratedBy": [{
            "Name": "isosr", "Version": __version__,
            "Description": f"isosr workflow; config sha256 {config_hash({'a': 1})}"}]}
    linked = dataset_description({"a": 1}, "lrstudy", "file:///data/lrstudy")
    assert linked["DatasetLinks"] == {"raw": "file:///data/lrstudy"}
    assert linked["SourceDatasets"] == [{"URL": "file:///data/lrstudy"}]


def test_sidecar_records_sources_and_the_fit(tmp_path):
    payload = sidecar(sources=["sub-01/ses-01/anat/sub-01_ses-01_T1w.nii.gz"],
                      method="inr-splithead", profile="fast", parameters={"epochs": 4}, seed=7,
                      device="cuda", wall_seconds=0.5, skull_stripped=True,
                      extra={"data_consistency": 1})
    assert payload == {
        "Sources": ["bids:raw:sub-01/ses-01/anat/sub-01_ses-01_T1w.nii.gz"],
        "SkullStripped": True,
        "Description": "super-resolved by isosr method inr-splithead (profile fast)",
        "isosr": {"method": "inr-splithead", "profile": "fast", "parameters": {"epochs": 4},
                  "seed": 7, "device": "cuda", "wall_seconds": 0.5, "data_consistency": 1}}
    image = derivative_path(tmp_path, "01", "01", "inr-splithead", "T1w")
    write_sidecar(image, payload)
    written = derivative_path(tmp_path, "01", "01", "inr-splithead", "T1w", ".json")
    assert json.loads(written.read_text()) == payload
    assert [p.name for p in written.parent.iterdir()] == [written.name]  # no partial file left


def test_the_bids_validator_accepts_the_derivatives_and_catches_misnamed_files(tmp_path):
    images = write_dataset(tmp_path)
    assert validator_errors(tmp_path) == []
    renamed = [images[0].with_name(images[0].name.replace("_desc-", "_method-")),
               images[-1].with_name(images[-1].name.replace("inrsplithead", "inr-splithead"))]
    for image, wrong in zip((images[0], images[-1]), renamed, strict=True):
        image.rename(wrong)
    errors = validator_errors(tmp_path)
    for wrong in renamed:
        assert any(location.endswith(wrong.name) for _, location in errors), errors
