"""Config validation: schema typos and inconsistencies are caught before any job runs."""

import copy
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_snakemake
from snakemake.utils import validate

from isosr.config import ConfigError, Plan

SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


@pytest.fixture
def config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def validated(config: dict) -> dict:
    config = copy.deepcopy(config)
    validate(config, schema=SCHEMA)
    return config


def test_default_config_validates_and_gets_schema_defaults(config):
    del config["datasets"]["icbm152"]["bias_correction"]
    checked = validated(config)
    assert checked["datasets"]["icbm152"]["bias_correction"] is True
    assert checked["datasets"]["icbm152"]["normalisation_percentiles"] == [0.5, 99.5]
    plan = Plan(checked)
    assert plan.subjects("icbm152") == ["01", "02", "03"]


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["datasets"]["icbm152"].update(skulstrip="none"), "skulstrip"),
    (lambda c: c["scenarios"]["T1w-ax4-T2w-cor4"]["contrasts"]["T1w"].update(view="axail"),
     "axail"),
    (lambda c: c["methods"].update(bicubic={}), "bicubic"),
    (lambda c: c["datasets"]["icbm152"]["contrasts"].append("DWI"), "DWI"),
])
def test_schema_rejects_typos_naming_them(config, edit, message):
    edit(config)
    with pytest.raises(Exception, match=message):
        validated(config)


def test_plan_rejects_a_scenario_whose_contrast_the_dataset_lacks(config):
    config["datasets"]["icbm152"]["contrasts"] = ["T1w", "T2w"]
    with pytest.raises(ConfigError, match=r"T1w-ax4-FLAIR-cor4 needs contrast\(s\) \['FLAIR'\]"):
        Plan(validated(config))


def test_plan_rejects_a_reference_method_that_is_not_run(config):
    config["reference_method"] = "nearest"
    del config["methods"]["nearest"]
    with pytest.raises(ConfigError, match="reference_method: 'nearest'"):
        Plan(validated(config))


def test_snakemake_stops_on_a_typo_before_any_job_runs(tmp_path: Path, config):
    config["scenarios"]["T1w-ax4-T2w-cor4"]["contrasts"]["T2w"]["thicknes"] = 4.0
    configfile = tmp_path / "typo.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = run_snakemake(tmp_path, configfile, "--cores", "1", timeout=120)
    assert result.returncode != 0
    assert "thicknes" in result.stdout + result.stderr
    assert not (tmp_path / "resources").exists() and not (tmp_path / "results").exists()
