"""Studies without ground truth in the config: their sessions are kept apart (bids and embedded
sources), and what a study needs (a model file per cohort method, its reference contrast) is
checked before any job, naming the key."""

from __future__ import annotations

import copy

import pytest
from snakemake.utils import validate
from test_config import SCHEMA

from isosr.clinical.sessions import Session, study_sessions
from isosr.clinical.study import make_lr_study
from isosr.config import ConfigError, Plan

STUDY = {"source": "embedded", "ground_truth": False, "contrasts": ["T1w", "FLAIR"],
         "embedded": {"subjects": 2, "resolution_mm": 4.0},
         "lr_study": {"sessions": 2, "stacks": {"T1w": {"view": "axial", "thickness": 8.0},
                                                "FLAIR": {"view": "coronal", "thickness": 8.0}}}}


def study_config(**datasets) -> dict:
    config = {"datasets": datasets or {"clinic": copy.deepcopy(STUDY)},
              "methods": {"cubic": {}, "nearest": {}}}
    validate(config, schema=SCHEMA)
    return config


def test_session_names_carry_the_session_only_when_there_is_one():
    assert (Session("01", "02").entity, Session("01", "02").folder) == ("_ses-02", "ses-02/")
    assert (Session("01").entity, Session("01").folder, Session("01").label) == ("", "", "sub-01")
    assert Session.from_entity("01", "_ses-a1") == Session("01", "a1")
    assert Session.from_entity("01", "") == Session("01")


def test_a_study_needs_no_scenario_and_lists_every_session_of_every_subject():
    plan = Plan(study_config())
    assert plan.datasets == [] and plan.studies == ["clinic"] and plan.scenarios == []
    assert plan.sessions("clinic") == [Session(s, t) for s in ("01", "02") for t in ("01", "02")]
    scans = plan.session_scans("clinic", Session("02", "01"))
    assert scans["FLAIR"].as_posix() == ("resources/datasets/clinic/sub-02/ses-01/anat/"
                                         "sub-02_ses-01_FLAIR.nii.gz")
    assert plan.job_count() == 2 * 4 * 2  # two jobs per fit, 4 sessions x 2 methods


def test_bids_sessions_stay_apart_and_a_session_lacking_a_contrast_is_skipped(tmp_path):
    make_lr_study(tmp_path, subjects=("01", "02"), sessions=("pre", "post"),
                  stacks={"T1w": ("axial", 8.0), "FLAIR": ("coronal", 8.0)},
                  resolution_mm=4.0)
    (tmp_path / "sub-02/ses-post/anat/sub-02_ses-post_FLAIR.nii.gz").unlink()
    spec = {"source": "bids", "contrasts": ["T1w", "FLAIR"], "bids": {"root": str(tmp_path)}}
    found = study_sessions("clinic", spec)
    assert list(found) == [Session("01", "post"), Session("01", "pre"), Session("02", "pre")]
    assert found[Session("01", "pre")]["T1w"] == (
        tmp_path / "sub-01/ses-pre/anat/sub-01_ses-pre_T1w.nii.gz")


def test_a_study_is_refused_before_any_job_naming_the_key():
    config = study_config()
    config["methods"]["arssr"] = {"profile": "cpu"}
    with pytest.raises(ConfigError, match=r"methods.arssr.model: cohort method 'arssr' needs "
                                          r"the model a benchmark run trained"):
        Plan(config)
    config["methods"]["arssr"]["model"] = "no/such/model.pt"
    with pytest.raises(ConfigError, match=r"methods.arssr.model: model file no/such/model.pt "
                                          "not found"):
        Plan(config)
    config = study_config()
    config["methods"]["cubic"] = {"model": "model.pt"}
    with pytest.raises(ConfigError, match="methods.cubic.model: only a cohort method"):
        Plan(config)
    config = study_config()
    config["datasets"]["clinic"]["reference_contrast"] = "T2w"
    with pytest.raises(ConfigError, match=r"datasets.clinic.reference_contrast: 'T2w' is not"):
        Plan(config)
    config = study_config()
    config["datasets"]["clinic"]["lr_study"]["stacks"].pop("FLAIR")
    with pytest.raises(ConfigError, match=r"datasets.clinic.lr_study.stacks: no stack for "
                                          r"contrast\(s\) \['FLAIR'\]"):
        Plan(config)


def test_a_benchmark_dataset_still_needs_a_scenario():
    config = study_config(clinic=copy.deepcopy(STUDY),
                          bench={"source": "embedded", "contrasts": ["T1w"]})
    with pytest.raises(ConfigError, match=r"scenarios: the benchmark dataset\(s\) \['bench'\]"):
        Plan(config)
