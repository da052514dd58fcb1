"""End to end: the Snakemake workflow on the tiny embedded config, and its lint."""

import math
import subprocess
import sys

import pandas as pd
import pytest
from conftest import REPO, run_snakemake


def test_tiny_run_writes_finite_tables_where_cubic_beats_nearest(tiny_run):
    table = pd.read_csv(tiny_run / "results/tables/tiny_T1w-ax8-FLAIR-cor8.csv")
    assert set(table["method"]) == {"cubic", "nearest", "arssr"}
    table = table[table["metric"] != "LPIPS"]  # n/a here: no AlexNet weights offline
    assert (table["n"] == 2).all()
    assert table["mean"].map(math.isfinite).all()
    psnr = table[table["metric"] == "PSNR"].pivot(index="contrast", columns="method",
                                                  values="mean")
    assert set(psnr.index) == {"T1w", "FLAIR"}
    assert (psnr["cubic"] > psnr["nearest"] + 1.0).all(), psnr
    assert psnr["cubic"].between(20, 45).all(), psnr
    markdown = (tiny_run / "results/tables/tiny_T1w-ax8-FLAIR-cor8.md").read_text()
    assert "not patient data" in markdown and "| cubic |" in markdown
    assert "| arssr |" in markdown and "2 test subjects" in markdown


def test_tiny_run_trains_the_cohort_method_once_on_the_training_subject_only(tiny_run):
    import json

    train = json.loads((tiny_run / "results/tiny/models/T1w-ax8-FLAIR-cor8/arssr/train.json")
                       .read_text())
    assert train["training_subjects"] == ["03"] and train["epochs"] == 2
    assert set(train["loss"]) == {"T1w", "FLAIR"} and train["wall_seconds"] > 0
    assert not (tiny_run / "results/tiny/sr/T1w-ax8-FLAIR-cor8/cubic/sub-03").exists()
    cost = (tiny_run / "results/tables/tiny_T1w-ax8-FLAIR-cor8_cost.md").read_text()
    assert "arssr" in cost


def test_training_job_reads_no_test_subjects_ground_truth(tmp_path, tiny_config):
    result = run_snakemake(tmp_path, tiny_config, "--dry-run", "--cores", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = (result.stdout + result.stderr).splitlines()
    start = lines.index("rule train:")
    inputs = next(line for line in lines[start:] if line.strip().startswith("input:"))
    assert "preproc/sub-03/T1w.nii.gz" in inputs and "lr/T1w-ax8-FLAIR-cor8/sub-03" in inputs
    assert "sub-01" not in inputs and "sub-02" not in inputs


def test_building_the_dag_imports_no_torch(tmp_path, tiny_config):
    probe = ("import atexit, sys; atexit.register(lambda: print('torch' in sys.modules)); "
             "from snakemake.cli import main; sys.argv[0] = 'snakemake'; main()")
    result = subprocess.run(
        [sys.executable, "-c", probe, "--snakefile", str(REPO / "Snakefile"), "--directory",
         str(tmp_path), "--configfile", str(tiny_config), "--dry-run", "--quiet", "rules"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False", result.stdout


def test_tiny_run_records_preprocessing_and_fit_costs(tiny_run):
    import json

    sidecar = json.loads((tiny_run / "results/tiny/preproc/sub-01/brainmask.json").read_text())
    registration = sidecar["registration"]
    assert registration["mi_after"] > registration["mi_before"]
    assert 0.5 < registration["rotation_degrees"] < 20  # the embedded head pose was undone
    fit = json.loads((tiny_run / "results/tiny/sr/T1w-ax8-FLAIR-cor8/cubic/sub-01/fit.json")
                     .read_text())
    assert fit["device"] == "cpu" and fit["wall_seconds"] > 0 and fit["peak_memory_mb"] > 0


@pytest.mark.parametrize("configfile", ["tests/configs/tiny.yaml", "configs/clinical.yaml"])
def test_workflow_lint_is_clean(configfile):
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--snakefile", str(REPO / "Snakefile"),
         "--configfile", str(REPO / configfile), "--directory", str(REPO)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr, result.stdout + result.stderr


def _tuning_config(tmp_path, tiny_config, split=True):
    """The tiny config with LRTV (a short budget) tuned; ``split=False``: no training subjects."""
    import yaml

    config = yaml.safe_load(tiny_config.read_text())
    config["methods"] = {"cubic": {}, "lrtv": {"iterations": 3, "gradient_steps": 20}}
    config["tuning"] = {"methods": ["lrtv"]}
    if not split:
        del config["datasets"]["tiny"]["split"]
    path = tmp_path / "tuning.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_tuning_job_reads_the_training_subject_only_and_feeds_every_lrtv_fit(tmp_path,
                                                                              tiny_config):
    result = run_snakemake(tmp_path, _tuning_config(tmp_path, tiny_config), "--dry-run",
                           "--cores", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = (result.stdout + result.stderr).splitlines()
    start = lines.index("rule tune:")
    inputs = next(line for line in lines[start:] if line.strip().startswith("input:"))
    assert "preproc/sub-03/T1w.nii.gz" in inputs and "lr/T1w-ax8-FLAIR-cor8/sub-03" in inputs
    assert "sub-01" not in inputs and "sub-02" not in inputs
    record = "results/tiny/tuning/T1w-ax8-FLAIR-cor8/lrtv.json"
    fits = {}  # method -> the input lines of its fits
    for i, line in enumerate(lines):
        if line.startswith("rule fit_"):
            block = lines[i + 1:i + 9]
            method = next(b for b in block if b.strip().startswith("wildcards:"))
            method = method.split("method=")[1].split(",")[0]
            fits.setdefault(method, []).append(
                next(b for b in block if b.strip().startswith("input:")))
    assert len(fits["lrtv"]) == len(fits["cubic"]) == 2  # the test subjects 01 and 02
    assert all(record in line for line in fits["lrtv"])
    assert not any(record in line for line in fits["cubic"])

def test_without_training_subjects_the_tuning_record_says_untuned(tmp_path, tiny_config):
    import json

    record = "results/tiny/tuning/T1w-ax8-FLAIR-cor8/lrtv.json"
    result = run_snakemake(tmp_path, _tuning_config(tmp_path, tiny_config, split=False),
                           "--cores", "1", record)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    tuning = json.loads((tmp_path / record).read_text())
    assert tuning["status"] == "untuned" and tuning["validation_subjects"] == []
    assert tuning["test_subjects"] == ["01", "02", "03"] and "no training subjects" in tuning[
        "reason"]


def test_tiny_study_without_ground_truth_is_aligned_fitted_checked_and_published(
        tiny_study_run):
    """tiny_study.yaml (one subject's session of 8 mm stacks): the alignment undoes
    the known motion, every method's outputs are BIDS derivatives the validator accepts, each
    session has its report, and the study table ranks the methods by data consistency."""
    import json
    import re

    from test_clinical_derivatives import validator_errors

    from isosr.clinical.study import registration_errors

    study = tiny_study_run / "resources/datasets/tinystudy"
    clinical = tiny_study_run / "results/tinystudy/clinical"
    alignments = {("01", "01"): json.loads((clinical / "sub-01_ses-01/alignment.json")
                                           .read_text())}
    errors = registration_errors(study, alignments)
    moved = [e for e in errors if e["contrast"] == "FLAIR"]
    assert len(moved) == 1 and all(e["true_rotation_degrees"] > 2.5 for e in moved)
    # measured: at most 0.3 degrees and 0.93 mm over the brain (4 mm voxels, 8 mm slices)
    assert all(e["rotation_error_degrees"] < 1.0 and e["max_error_mm"] < 1.5 for e in errors)
    derivatives = tiny_study_run / "results/tinystudy/derivatives/isosr"
    images = sorted(derivatives.glob("sub-01/ses-0?/anat/*.nii.gz"))
    assert len(images) == 3 * 2  # methods x contrasts
    assert {p.name.split("_desc-")[1] for p in images} == {
        f"{m}_{c}.nii.gz" for m in ("nearest", "cubic", "arssr") for c in ("T1w", "FLAIR")}
    assert validator_errors(derivatives) == []
    sidecar = json.loads((derivatives / "sub-01/ses-01/anat/sub-01_ses-01_desc-arssr_T1w.json")
                         .read_text())
    assert sidecar["Sources"] == ["bids:raw:sub-01/ses-01/anat/sub-01_ses-01_FLAIR.nii.gz",
                                  "bids:raw:sub-01/ses-01/anat/sub-01_ses-01_T1w.nii.gz"]
    assert sidecar["isosr"]["told_acquisition"] == {
        "view": "axial", "thickness": 8.0, "slice_axis": 2, "model": "slice-profile"}
    report = (derivatives / "sub-01_ses-01.html").read_text()
    for heading in ("Summary", "Registration", "Acquired stacks", "Method: cubic", "Scores"):
        assert f">{heading}<" in report
    assert len(re.findall(r'src="data:image/png;base64,', report)) == 1 + 1 + 3 * 2
    table = pd.read_csv(tiny_study_run / "results/tables/tinystudy_study_qc.csv")
    dc = table[table["metric"] == "DC_PSNR"].groupby("method")["mean"].mean()
    assert dc["cubic"] > dc["nearest"] > dc["arssr"]  # the tiny ArSSR is barely trained
    assert list(dict.fromkeys(table["method"])) == ["cubic", "nearest", "arssr"]
    cost = table[table["metric"] == "fit_seconds"].set_index("method")
    assert (cost["mean"] > 0).all() and set(cost["profile"].fillna("-")) == {"-", "cpu"}


def test_tiny_benchmark_predictions_are_bids_derivatives_linked_not_copied(tiny_run):
    import json

    from test_clinical_derivatives import validator_errors

    root = tiny_run / "results/tiny/derivatives/isosr-T1w-ax8-FLAIR-cor8"
    images = sorted(root.glob("sub-*/anat/*.nii.gz"))
    assert len(images) == 3 * 2 * 2  # methods x test subjects x contrasts
    assert validator_errors(root) == []
    published = root / "sub-02/anat/sub-02_desc-cubic_FLAIR.nii.gz"
    prediction = tiny_run / "results/tiny/sr/T1w-ax8-FLAIR-cor8/cubic/sub-02/FLAIR.nii.gz"
    assert published.stat().st_ino == prediction.stat().st_ino  # a hard link, not a copy
    sidecar = json.loads(published.with_name(published.name[:-7] + ".json").read_text())
    assert sidecar["isosr"]["simulated_acquisition"]["view"] == "coronal"
    assert 20 < sidecar["isosr"]["metrics"]["PSNR"] < 45
    metrics = pd.read_csv(tiny_run / "results/tiny/metrics/T1w-ax8-FLAIR-cor8/sub-02.tsv",
                          sep="\t")  # every method's rows: the sidecar has cubic's own
    cubic_psnr = metrics.query("method == 'cubic' and contrast == 'FLAIR' and metric == 'PSNR'")
    assert sidecar["isosr"]["metrics"]["PSNR"] == pytest.approx(cubic_psnr["value"].item())
    validity = pd.read_csv(tiny_run / "results/tables/tiny_T1w-ax8-FLAIR-cor8_qc_validity.csv")
    assert validity.set_index("contrast").loc["all contrasts", "n"] == 12  # 3 methods x 2 x 2
