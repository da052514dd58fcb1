"""Repeats: stable per-fit seeds, repeat path suffixes, and a workflow run with repeats: 3."""

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from conftest import run_snakemake

from isosr.repeats import fit_seed, repeat_index, repeat_suffix, repeat_suffixes, split_repeat


def test_fit_seeds_are_stable_and_distinct_per_subject_method_and_repeat():
    assert fit_seed(0, "01", "cubic") == 1110077961  # SHA-256, not Python's salted hash()
    seeds = {fit_seed(seed, subject, method, repeat) for seed in (0, 1)
             for subject in ("01", "02") for method in ("cubic", "inr-splithead")
             for repeat in range(3)}
    assert len(seeds) == 2 * 2 * 2 * 3 and all(0 <= s < 2**31 for s in seeds)
    code = "from isosr.repeats import fit_seed; print(fit_seed(0, '01', 'cubic', 2))"
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env={**os.environ, "PYTHONHASHSEED": str(h)}, check=True).stdout
               for h in (1, 2)}
    assert outputs == {f"{fit_seed(0, '01', 'cubic', 2)}\n"}


def test_repeat_zero_keeps_the_plain_subject_name():
    assert repeat_suffixes(3) == ["", "_rep-1", "_rep-2"]
    assert [repeat_index(s) for s in repeat_suffixes(3)] == [0, 1, 2]
    assert split_repeat("sub-01_rep-12") == ("sub-01", 12)
    assert split_repeat("sub-01") == ("sub-01", 0)
    with pytest.raises(ValueError, match=">= 0"):
        repeat_suffix(-1)


def test_workflow_repeats_every_fit_and_tables_show_the_seed_std(tmp_path, tiny_config, tiny_run):
    config = yaml.safe_load(tiny_config.read_text())
    config["datasets"]["tiny"].pop("split")  # no cohort method here: two subjects, both tested
    config["datasets"]["tiny"]["embedded"]["subjects"] = 2
    config.update(repeats=3, methods={"nearest": {}, "cubic": {}})
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    # the tiny run's subjects 01 and 02, preprocessed and segmented (times kept): the run starts
    # at the LR simulation
    for inputs in ["resources/datasets/tiny", "results/tiny/preproc",
                   *[f"results/tiny/seg/sub-{s}" for s in ("01", "02")]]:
        shutil.copytree(tiny_run / inputs, tmp_path / inputs)
    table = "results/tables/tiny_T1w-ax8-FLAIR-cor8_dice.csv"
    result = run_snakemake(tmp_path, configfile, "--cores", "2", table)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    fits = tmp_path / "results/tiny/sr/T1w-ax8-FLAIR-cor8/cubic"
    seeds = [json.loads((fits / f"sub-01{suffix}/fit.json").read_text())["seed"]
             for suffix in ("", "_rep-1", "_rep-2")]
    assert seeds == [fit_seed(0, "01", "cubic", r) for r in range(3)]
    metrics = pd.read_csv(tmp_path / "results/tiny/metrics/T1w-ax8-FLAIR-cor8/sub-02_rep-2.tsv",
                          sep="\t", dtype={"subject": str})
    assert (metrics["repeat"] == 2).all() and (metrics["subject"] == "02").all()
    assert set(metrics["method"]) == {"nearest", "cubic"}
    dice = pd.read_csv(tmp_path / table)
    assert (dice["repeats"] == 3).all() and (dice["n"] == 2).all()
    assert (dice["seed_std"] == 0).all()  # interpolation ignores the seed
    assert "[0.000]" in (tmp_path / table.replace(".csv", ".md")).read_text()
