"""Hyper-parameter tuning (isosr.tuning): the protocol picks the sane weight over an absurd one
on the training subjects only, its recorded validation PSNR is what the fit reproduces, a tie
goes to the paper's values, and without training subjects the method stays untuned."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO
from snakemake.utils import validate
from test_lrtv import head_affine, phantom

from isosr.config import ConfigError, Plan
from isosr.fit import run_fit
from isosr.io import InputError, load_nifti, save_nifti
from isosr.methods import method_spec
from isosr.metrics import psnr
from isosr.simulate import Acquisition, simulate_lr
from isosr.tuning import (
    TIE_DB,
    TuningPlan,
    choose,
    fit_tuning,
    grid_points,
    paper_values,
    run_tuning,
    tuning_grid,
)

SHAPE = (20, 24, 20)
ACQUISITIONS = {"T1w": {"view": "axial", "thickness": 6.0, "model": "slice-profile"},
                "FLAIR": {"view": "coronal", "thickness": 6.0, "model": "slice-profile"}}
FAST = {"iterations": 5, "gradient_steps": 50}  # about 0.1 s per LRTV fit of this phantom
ABSURD = {"lambda_tv": (0.01, 10.0)}  # 10: TV swamps the data term (PSNR ~4 dB against ~23)


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a tuning job; reproducible sums
    yield
    torch.set_num_threads(threads)


def write_subject(folder: Path, shift: int) -> dict:
    """A tiny subject as files (HR truth on [0, 1], brain mask, LR scans of ACQUISITIONS)."""
    folder.mkdir(parents=True)
    affine = head_affine(False)
    hr = np.roll(phantom(SHAPE), shift, axis=0)
    mask = np.zeros(SHAPE, np.uint8)
    mask[2:-2, 2:-2, 2:-2] = 1
    save_nifti(folder / "mask.nii.gz", mask, affine, dtype=np.uint8)
    files = {"hr": {}, "lr": {}, "mask": folder / "mask.nii.gz"}
    for contrast, spec in ACQUISITIONS.items():
        truth = hr if contrast == "T1w" else 0.9 - hr
        save_nifti(folder / f"hr_{contrast}.nii.gz", truth, affine)
        lr, lr_affine = simulate_lr(truth, affine, Acquisition(spec["view"], spec["thickness"],
                                                               spec["model"]))
        save_nifti(folder / f"lr_{contrast}.nii.gz", lr, lr_affine)
        files["hr"][contrast] = folder / f"hr_{contrast}.nii.gz"
        files["lr"][contrast] = folder / f"lr_{contrast}.nii.gz"
    return files


def tune(tmp_path: Path, subjects: dict, **overrides) -> dict:
    arguments = {"method": "lrtv", "params": FAST, "subjects": subjects,
                 "acquisitions": ACQUISITIONS, "output": tmp_path / "tuning" / "lrtv.json",
                 "training_subjects": ["03", "04"], "test_subjects": ["01"], "dataset": "tiny",
                 "scenario": "s", "grid": ABSURD, "threads": 1, "max_subjects": 2}
    return run_tuning(**{**arguments, **overrides})


def test_protocol_chooses_the_sane_weight_and_the_fit_reproduces_its_psnr(tmp_path):
    subjects = {"03": write_subject(tmp_path / "03", 0), "04": write_subject(tmp_path / "04", 1)}
    record = tune(tmp_path, subjects)
    assert json.loads((tmp_path / "tuning" / "lrtv.json").read_text()) == json.loads(
        json.dumps(record))
    assert record["status"] == "tuned" and record["chosen"] == {"lambda_tv": 0.01}
    assert record["validation_subjects"] == ["03", "04"] and record["test_subjects"] == ["01"]
    sane, absurd = record["points"]
    assert sane["params"] == {"lambda_tv": 0.01} and absurd["params"] == {"lambda_tv": 10.0}
    assert sane["psnr"] > 20 and absurd["psnr"] < 10, (sane["psnr"], absurd["psnr"])
    assert record["validation_psnr"] == sane["psnr"] == record["paper_psnr"]
    assert sane["psnr"] == pytest.approx(np.mean(list(sane["subject_psnr"].values())), abs=1e-12)
    # the fit reads the record, fits with the chosen values and gets the recorded PSNR back
    params, entry = fit_tuning("lrtv", FAST, tmp_path / "tuning" / "lrtv.json")
    assert params == {**FAST, "lambda_tv": 0.01}
    assert entry["status"] == "tuned" and entry["chosen"] == {"lambda_tv": 0.01}
    assert entry["validation_psnr"] == record["validation_psnr"]
    recomputed = []
    for subject, files in subjects.items():
        out = tmp_path / "sr" / subject
        fit = run_fit(method="lrtv", params=params, lr_paths=files["lr"],
                      acquisitions=ACQUISITIONS, mask_path=files["mask"],
                      output_paths={c: out / f"{c}.nii.gz" for c in ACQUISITIONS},
                      fit_json=out / "fit.json", threads=1)
        assert fit["params"]["lambda_tv"] == 0.01
        mask = load_nifti(files["mask"])[0] > 0
        scores = [psnr(load_nifti(out / f"{c}.nii.gz")[0], load_nifti(files["hr"][c])[0], mask)
                  for c in ACQUISITIONS]
        assert np.mean(scores) == pytest.approx(sane["subject_psnr"][subject], abs=1e-9)
        recomputed.append(np.mean(scores))
    assert np.mean(recomputed) == pytest.approx(record["validation_psnr"], abs=1e-9)


def test_test_subjects_are_refused_and_never_validation_subjects(tmp_path, default_config):
    files = write_subject(tmp_path / "01", 0)
    with pytest.raises(InputError, match=r"\['01'\] are test subjects"):
        tune(tmp_path, {"01": files})
    with pytest.raises(InputError, match="not training subjects"):
        tune(tmp_path, {"05": files})
    config = copy.deepcopy(default_config)
    config["datasets"]["icbm152"]["embedded"]["subjects"] = 5
    config["datasets"]["icbm152"]["split"] = {"test": ["01", "02"]}
    config["methods"]["lrtv"] = {}
    config["tuning"] = {"methods": ["lrtv"], "subjects": 2}
    plan = Plan(validated(config))
    tuning = TuningPlan(plan)
    assert tuning.validation_subjects("icbm152") == ["03", "04"]
    assert set(tuning.validation_subjects("icbm152")) <= set(plan.train_subjects("icbm152"))
    w = SimpleNamespace(dataset="icbm152", scenario="T1w-ax4-T2w-cor4", method="lrtv")
    inputs = tuning.inputs(w)
    assert len(inputs["hr"]) == len(inputs["lr"]) == 4 and len(inputs["masks"]) == 2
    assert not any("sub-01" in p or "sub-02" in p or "sub-05" in p
                   for p in inputs["hr"] + inputs["lr"] + inputs["masks"])
    assert tuning.fit_input(w) == {"tuning": "results/icbm152/tuning/T1w-ax4-T2w-cor4/lrtv.json"}
    assert tuning.fit_input(SimpleNamespace(**{**vars(w), "method": "cubic"})) == {}
    assert tuning.fits("lrtv") == 9 * 2


def test_without_training_subjects_the_method_stays_untuned(tmp_path, default_config):
    config = copy.deepcopy(default_config)
    config["methods"]["lrtv"] = {}
    config["tuning"] = {"methods": ["lrtv"]}
    assert TuningPlan(Plan(validated(config))).validation_subjects("icbm152") == []
    record = tune(tmp_path, {}, training_subjects=[], test_subjects=["01", "02"], grid=None)
    assert record["status"] == "untuned" and record["chosen"] is None and record["points"] == []
    assert "no training subjects" in record["reason"] and "never tunes on test" in record["reason"]
    params, entry = fit_tuning("lrtv", {"iterations": 3}, tmp_path / "tuning" / "lrtv.json")
    assert params == {"iterations": 3}
    assert entry["status"] == "untuned" and entry["reason"] == record["reason"]
    assert fit_tuning("lrtv", {}, None)[1]["status"] == "off"
    assert fit_tuning("cubic", {}, None) == ({}, None)


def test_a_tie_goes_to_the_paper_values_and_a_failed_point_never_wins():
    points = grid_points({"lambda_tv": (0.001, 0.01)})
    paper = {"lambda_tv": 0.01}
    assert choose(points, [30.0 + TIE_DB / 2, 30.0], paper)[0] == 1
    assert choose(points, [30.0 + 2 * TIE_DB, 30.0], paper)[0] == 0
    assert choose(points, [float("nan"), 20.0], {"lambda_tv": 1.0})[0] == 1
    with pytest.raises(InputError, match="finite"):
        choose(points, [None, float("nan")], paper)


def test_lrtv_declares_a_small_grid_around_the_paper_values():
    grid = tuning_grid("lrtv")
    assert grid == {"lambda_tv": (0.001, 0.01, 0.1), "lambda_rank": (0.001, 0.01, 0.1)}
    paper = paper_values("lrtv", list(grid))
    assert paper == {"lambda_tv": 0.01, "lambda_rank": 0.01} and paper in grid_points(grid)
    for point in grid_points(grid):
        method_spec("lrtv").make_params(point)
    assert tuning_grid("cubic") is None


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(tuning={"methods": ["lrtv"]}), "'lrtv' is not listed under methods"),
    (lambda c: c.update(tuning={"methods": ["cubic"]}), "cubic declares no tuning grid"),
    (lambda c: c["methods"].update(lrtv={"lambda_tv": 0.05}) or c.update(
        tuning={"methods": ["lrtv"]}), r"methods.lrtv.lambda_tv: set to 0.05.*remove one"),
])
def test_bad_tuning_config_is_one_line_naming_the_key(default_config, edit, message):
    config = copy.deepcopy(default_config)
    edit(config)
    with pytest.raises(ConfigError, match=message):
        TuningPlan(Plan(validated(config)))


@pytest.fixture
def default_config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def validated(config: dict) -> dict:
    validate(config, schema=str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return config
