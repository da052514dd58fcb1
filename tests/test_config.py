"""Config validation: schema typos and inconsistencies are caught before any job runs."""

import copy
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_snakemake
from snakemake.utils import validate

from isosr.config import MAX_JOBS, ConfigError, Plan
from isosr.config_file import load_config_file

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
    assert plan.subjects("icbm152") == ["01", "02"]


SHIPPED = [REPO / "config.yaml", *sorted((REPO / "configs").glob("*.yaml")),
           REPO / "tests" / "configs" / "tiny.yaml"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_config_validates(path):
    content = load_config_file(path)  # the strict loader reads it as PyYAML does
    assert content == yaml.safe_load(path.read_text())
    plan = Plan(validated(content))
    for dataset in plan.datasets:
        assert plan.subjects(dataset) and plan.test_subjects(dataset)
    assert 0 < plan.job_count() <= MAX_JOBS


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["datasets"]["icbm152"].update(skulstrip="none"), "skulstrip"),
    (lambda c: c["scenarios"]["T1w-ax4-T2w-cor4"]["contrasts"]["T1w"].update(view="axail"),
     "axail"),
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


@pytest.mark.parametrize("methods, message", [
    ({"bicubic": {}}, r"methods.bicubic: unknown method"),
    ({"inr-splithead": {"hiden_width": 8}}, r"methods.inr-splithead: no hyper-parameter\(s\) "
                                            r"hiden_width; allowed: .*hidden_width"),
    ({"inr-vanilla": {"epochs": 0}}, r"methods.inr-vanilla.epochs: expected an integer >= 1"),
    ({"arssr": {"encoder": "unet"}}, r"methods.arssr.encoder: 'unet' is not one of"),
])
def test_plan_validates_methods_through_their_dataclass_naming_the_key(config, methods,
                                                                        message):
    config["methods"].update(methods)
    config["datasets"]["icbm152"]["split"] = {"train": ["03"]}
    with pytest.raises(ConfigError, match=message):
        Plan(validated(config))


def test_split_lists_and_fraction_give_disjoint_train_and_test_subjects(config):
    dataset = config["datasets"]["icbm152"]
    dataset["embedded"]["subjects"] = 10
    plan = Plan(validated(config))
    assert plan.train_subjects("icbm152") == [] and len(plan.test_subjects("icbm152")) == 10
    dataset["split"] = {"test": ["01", "02"]}
    plan = Plan(validated(config))
    assert plan.test_subjects("icbm152") == ["01", "02"]
    assert plan.train_subjects("icbm152") == [f"{n:02d}" for n in range(3, 11)]
    dataset["split"] = {"train_fraction": 0.3, "seed": 4}
    plan = Plan(validated(config))
    train, test = plan.train_subjects("icbm152"), plan.test_subjects("icbm152")
    assert len(train) == 3 and len(test) == 7 and not set(train) & set(test)
    assert train == Plan(validated(config)).train_subjects("icbm152")  # seeded
    dataset["split"]["seed"] = 5
    assert Plan(validated(config)).train_subjects("icbm152") != train


@pytest.mark.parametrize("split, message", [
    ({"train": ["01"], "test": ["01", "02"]}, r"split: \['01'\] are both training and test"),
    ({"train": ["01", "02"]}, r"split: needs at least one training and one test subject"),
    ({"test": ["07"]}, r"split.test: \['07'\] are not subjects of dataset 'icbm152'"),
    (None, r"datasets.icbm152.split: cohort method\(s\) \['arssr'\] need training subjects"),
])
def test_plan_rejects_a_bad_split_naming_the_key(config, split, message):
    config["methods"]["arssr"] = {"profile": "cpu"}
    if split is not None:
        config["datasets"]["icbm152"]["split"] = split
    with pytest.raises(ConfigError, match=message):
        Plan(validated(config))


def test_schema_rejects_a_fraction_beside_explicit_lists(config):
    config["datasets"]["icbm152"]["split"] = {"train_fraction": 0.5, "test": ["01"]}
    with pytest.raises(Exception, match="split"):
        validated(config)


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
