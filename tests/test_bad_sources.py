"""Bad local sources and paths placed in shell commands: labels that collide, files that lie
outside a dataset's root (links, '..', absolute patterns), a checkout path that a shell would
split, an option-like container image. Each case is one line naming the file or config key,
before any job, with nothing written and the sources untouched."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import yaml
from conftest import REPO, SNAKEMAKE, run_snakemake
from snakemake.utils import validate

from isosr.config import ConfigError, Plan
from isosr.io import InputError
from isosr.segment import FastSurferSpec, fastsurfer_command

SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


def digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (links listed with their target), by relative path."""
    return {str(p.relative_to(root)): f"-> {p.readlink()}" if p.is_symlink()
            else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() or p.is_symlink()}


def write_image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.ones((5, 6, 7), np.float32), np.diag([2, 2, 2, 1])), path)


def bids(root: Path, *files: str) -> dict:
    """A BIDS dataset of T1w ``files`` under ``root``, and its dataset block."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "t",
                                                               "BIDSVersion": "1.9.0"}))
    for name in files:
        write_image(root / name)
    return {"source": "bids", "contrasts": ["T1w"], "bids": {"root": str(root)}}


def manual(root: Path, files: dict[str, str], *found: str, subject: str = "{id}") -> dict:
    """A manual dataset of ``found`` files under ``root``, and its dataset block."""
    root.mkdir(parents=True, exist_ok=True)
    for name in found:
        write_image(root / name)
    return {"source": "manual", "contrasts": sorted(files),
            "manual": {"root": str(root), "files": files, "subject": subject}}


def link(path: Path, target: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


def outside(d: Path) -> Path:
    """A scan outside every dataset root."""
    write_image(d / "elsewhere" / "secret.nii.gz")
    return d / "elsewhere" / "secret.nii.gz"


def bids_link_to_a_file(d: Path) -> dict:
    spec = bids(d / "ds", "sub-01/anat/sub-01_T1w.nii.gz")
    link(d / "ds/sub-02/anat/sub-02_T1w.nii.gz", outside(d))
    return spec


def bids_link_to_a_folder(d: Path) -> dict:
    spec = bids(d / "ds", "sub-01/anat/sub-01_T1w.nii.gz")
    write_image(d / "elsewhere/sub-02/anat/sub-02_T1w.nii.gz")
    link(d / "ds/sub-02", d / "elsewhere/sub-02")
    return spec


def manual_link(d: Path) -> dict:
    spec = manual(d / "m", {"T1w": "{id}_t1.nii.gz"}, "01_t1.nii.gz")
    link(d / "m/02_t1.nii.gz", Path("../elsewhere/secret.nii.gz"))
    outside(d)
    return spec


# (make the dataset under the test's folder {d}, fragments of the one-line message with {d})
CASES: dict[str, tuple[Callable[[Path], dict], list[str]]] = {
    "bids: a session's label is another subject's": (
        lambda d: bids(d / "ds", "sub-05/ses-a/anat/sub-05_ses-a_T1w.nii.gz",
                       "sub-05/ses-b/anat/sub-05_ses-b_T1w.nii.gz",
                       "sub-05sesa/anat/sub-05sesa_T1w.nii.gz"),
        ["datasets.d.bids: {d}/ds/sub-05/ses-a/anat/sub-05_ses-a_T1w.nii.gz and "
         "{d}/ds/sub-05sesa/anat/sub-05sesa_T1w.nii.gz both become subject '05sesa'"]),
    "bids: a file outside any session beside a session": (
        lambda d: bids(d / "ds", "sub-01/ses-a/anat/sub-01_ses-a_T1w.nii.gz",
                       "sub-01/anat/sub-01_T1w.nii.gz"),
        ["datasets.d.bids:", "{d}/ds/sub-01/ses-a/anat/sub-01_ses-a_T1w.nii.gz",
         "{d}/ds/sub-01/anat/sub-01_T1w.nii.gz", "both become subject '01'"]),
    "bids: two files for one subject and contrast": (
        lambda d: bids(d / "ds", "sub-01/anat/sub-01_T1w.nii", "sub-01/anat/sub-01_T1w.nii.gz"),
        ["datasets.d.bids: several files match one contrast (T1w: "
         "{d}/ds/sub-01/anat/sub-01_T1w.nii, {d}/ds/sub-01/anat/sub-01_T1w.nii.gz)"]),
    "bids: a file linked in from outside the root": (
        bids_link_to_a_file,
        ["datasets.d.bids: {d}/ds/sub-02/anat/sub-02_T1w.nii.gz points to "
         "{d}/elsewhere/secret.nii.gz, outside the dataset root {d}/ds"]),
    "bids: a subject folder linked in from outside the root": (
        bids_link_to_a_folder,
        ["datasets.d.bids: {d}/ds/sub-02/anat/sub-02_T1w.nii.gz points to "
         "{d}/elsewhere/sub-02/anat/sub-02_T1w.nii.gz, outside"]),
    "manual: a pattern with '..'": (
        lambda d: manual(d / "m", {"T1w": "../elsewhere/{id}.nii.gz"}),
        ["datasets.d.manual.files.T1w: the pattern '../elsewhere/{id}.nii.gz' leaves the "
         "dataset's root"]),
    "manual: an absolute pattern": (
        lambda d: manual(d / "m", {"T1w": "/etc/{id}.nii.gz"}),
        ["datasets.d.manual.files.T1w: the pattern '/etc/{id}.nii.gz' is absolute"]),
    "manual: an empty pattern": (
        lambda d: manual(d / "m", {"T1w": ""}),
        ["datasets.d.manual.files.T1w: the pattern '' names no file"]),
    "manual: a file linked in from outside the root": (
        manual_link,
        ["datasets.d.manual: {d}/m/02_t1.nii.gz points to {d}/elsewhere/secret.nii.gz, "
         "outside the dataset root {d}/m"]),
    "manual: two files for one subject and contrast": (
        lambda d: manual(d / "m", {"T1w": "{site}/{id}_t1.nii.gz"}, "A/01_t1.nii.gz",
                         "B/01_t1.nii.gz"),
        ["datasets.d.manual.subject: {d}/m/A/01_t1.nii.gz and {d}/m/B/01_t1.nii.gz both become "
         "subject '01''s T1w (label '{id}')"]),
}


def config_with(spec: dict) -> dict:
    """A config of dataset ``d`` with schema defaults (the schema alone lets every case pass)."""
    config = {"seed": 0, "reference_method": "cubic", "datasets": {"d": spec},
              "scenarios": {"s": {"contrasts": {"T1w": {"view": "axial", "thickness": 4.0}}}},
              "methods": {"cubic": {}}}
    validate(config, schema=SCHEMA)
    return config


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_refuses_a_bad_local_source_naming_the_key_or_files(tmp_path, case):
    make, fragments = CASES[case]
    data = tmp_path / "data"
    config = config_with(make(data))
    before = digest(data)
    with pytest.raises((InputError, ConfigError)) as error:  # ConfigError: a pattern
        Plan(copy.deepcopy(config))
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment.replace("{d}", str(data.resolve())) in message, message
    assert digest(data) == before


@pytest.mark.parametrize("case", ["bids: a session's label is another subject's",
                                  "bids: a subject folder linked in from outside the root",
                                  "manual: an absolute pattern"])
def test_the_workflow_stops_with_one_line_before_any_job(tmp_path, case):
    make, fragments = CASES[case]
    data = tmp_path / "data"
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config_with(make(data))))
    before = digest(data)
    result = run_snakemake(tmp_path / "work", configfile, "--dry-run", timeout=300)
    output = result.stdout + result.stderr
    errors = [line for line in output.splitlines() if line.startswith("isosr error: ")]
    assert result.returncode != 0 and len(errors) == 1 and "Traceback" not in output, output
    for fragment in fragments:
        assert fragment.replace("{d}", str(data.resolve())) in errors[0]
    assert digest(data) == before
    assert not list((tmp_path / "work").iterdir())


def test_links_that_stay_under_the_root_are_read(tmp_path):
    """The root may itself be a link, and a file may link to another under the same root."""
    real = tmp_path / "real"
    bids(real, "sub-01/anat/sub-01_T1w.nii.gz", "shared/sub-02_T1w.nii.gz")
    link(real / "sub-02/anat/sub-02_T1w.nii.gz", Path("../../shared/sub-02_T1w.nii.gz"))
    link(tmp_path / "ds", real)
    write_image(real / "m/02_t1.nii.gz")
    link(real / "m/01_t1.nii.gz", Path("02_t1.nii.gz"))
    plan = Plan(config_with(bids(tmp_path / "ds")))
    assert plan.subjects("d") == ["01", "02"]
    assert plan.local_scan("d", "02", "T1w") == tmp_path / "ds/sub-02/anat/sub-02_T1w.nii.gz"
    plan = Plan(config_with(manual(tmp_path / "ds/m", {"T1w": "{id}_t1.nii.gz"})))
    assert plan.subjects("d") == ["01", "02"]


def test_fastsurfer_image_that_looks_like_an_option_is_refused(tmp_path):
    config = config_with(bids(tmp_path / "ds", "sub-01/anat/sub-01_T1w.nii.gz"))
    config["segmentation"]["fastsurfer"]["image"] = "--privileged"
    with pytest.raises(Exception, match=r"'--privileged' does not match '\^\(\?!-\)'"):
        validate(config, schema=SCHEMA)
    for runtime in ("docker", "apptainer"):
        with pytest.raises(InputError, match=r"^segmentation.fastsurfer.image: '--privileged' "
                                             rf"starts with '-', which {runtime} would read"):
            FastSurferSpec(runtime=runtime, image="--privileged")
    command = fastsurfer_command(FastSurferSpec(runtime="docker", image="./-x.sif"),
                                 tmp_path / "in", tmp_path / "out", "T1w.nii.gz", "s", "1:1")
    assert "./-x.sif" in command


STUB_INSTALLER = """#!/usr/bin/env bash
set -euo pipefail
mkdir -p "$1/bin"
printf '#!/bin/sh\\n' > "$1/bin/run-eclare"
chmod +x "$1/bin/run-eclare"
"""


def test_a_checkout_path_with_shell_syntax_runs_no_injected_command(tmp_path):
    """The workflow copied to a folder whose name a shell would split (';', '||', spaces): the
    shell rule's command gets that path as one word, and the command hidden in it never runs.
    (The copy's ECLARE installer is a stub that only makes the output.)"""
    checkout = tmp_path / "isosr || touch injected; x"
    checkout.mkdir()
    shutil.copy(REPO / "Snakefile", checkout)
    for folder in ("workflow", "envs", "profiles"):
        shutil.copytree(REPO / folder, checkout / folder)
    (checkout / "envs" / "install-eclare.sh").write_text(STUB_INSTALLER)
    work = tmp_path / "work"
    target = "resources/tools/eclare/bin/run-eclare"
    command = [*SNAKEMAKE, "--snakefile", str(checkout / "Snakefile"), "--directory", str(work),
               "--configfile", str(REPO / "tests" / "configs" / "tiny.yaml"), "--cores", "1",
               "--printshellcmds", target]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert not list(tmp_path.rglob("injected")), "the command hidden in the path ran"
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"bash '{checkout}/envs/install-eclare.sh' resources/tools/eclare" in result.stderr
    assert (work / target).is_file()
