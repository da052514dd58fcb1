"""Bad config files and values (issue #20, "the config says what it means"): duplicate keys,
bytes that are not text, alias bombs, implausible sizes, contrasts a fit never sees, URLs that
are not http(s). Each ends in one line naming the file or config key, with a non-zero exit and
nothing written, before any job."""

from __future__ import annotations

import copy
import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_snakemake
from snakemake.utils import validate

from isosr import config_file
from isosr.config import MAX_JOBS, ConfigError, Plan
from isosr.config_file import load_config_file
from isosr.data.download import Download, download
from isosr.io import InputError
from isosr.methods.contrast_params import check_parameter_contrasts

SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")
DEFAULT = (REPO / "config.yaml").read_text()
SCENARIO = "T1w-ax4-T2w-cor4"  # T1w + T2w; the default's other scenario is T1w + FLAIR


@pytest.fixture
def config() -> dict:
    return yaml.safe_load(DEFAULT)


def digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (hidden ones included), by relative path."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def one_line(error: pytest.ExceptionInfo, *fragments: str) -> str:
    message = str(error.value)
    assert "\n" not in message and len(message) < 400, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def line_of(text: str, fragment: str) -> int:
    """1-based number of the first line of ``text`` with ``fragment``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


# --- the strict loader ---------------------------------------------------------------------

def with_second(text: str, after: str, line: str) -> str:
    """``text`` with ``line`` inserted after the first line containing ``after``."""
    lines = text.splitlines()
    index = line_of(text, after)
    return "\n".join([*lines[:index], line, *lines[index:]]) + "\n"


DUPLICATES = {
    # (edit of the default config, key named, fragment of the first and of the second line)
    "method": (lambda t: with_second(t, "inr-splithead: {profile: fast}",
                                     "  cubic: {profile: fast}"),
               "methods.cubic", "  cubic: {}", "  cubic: {profile: fast}"),
    "dataset": (lambda t: with_second(t, "      resolution_mm: 2.0",
                                      "  icbm152: {source: embedded, contrasts: [T1w]}"),
                "datasets.icbm152", "  icbm152:", "  icbm152: {source"),
    "top level": (lambda t: t + "seed: 1\n", "seed", "seed: 0", "seed: 1"),
    "acquisition": (lambda t: t.replace("T1w: {view: axial, thickness: 4.0, model: "
                                        "slice-profile}",
                                        "T1w: {view: axial, thickness: 4.0, view: coronal}", 1),
                    f"scenarios.{SCENARIO}.contrasts.T1w.view", "view: coronal}",
                    "view: coronal}"),
}


@pytest.mark.parametrize("case", sorted(DUPLICATES))
def test_a_key_given_twice_names_it_both_lines_and_the_file(tmp_path, case):
    edit, key, first, second = DUPLICATES[case]
    text = edit(DEFAULT)
    path = tmp_path / "twice.yaml"
    path.write_text(text)
    assert yaml.safe_load(text)  # PyYAML alone keeps the last value without a word
    with pytest.raises(InputError) as error:
        load_config_file(path)
    one_line(error, str(path), f"{key} is given twice")
    lines = (line_of(text, first), line_of(text, second))
    expected = (f"lines {lines[0]} and {lines[1]}" if lines[0] != lines[1]
                else f"both on line {lines[0]}")
    assert expected in str(error.value)


def test_a_json_config_with_a_key_twice_is_refused_too(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"seed": 0,\n "methods": {"cubic": {},\n             "cubic": null}}\n')
    with pytest.raises(InputError) as error:
        load_config_file(path)
    one_line(error, str(path), "methods.cubic is given twice (lines 2 and 3)")


def test_a_merge_key_may_override_what_it_merges(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text("base: &base {view: axial, thickness: 4.0}\n"
                    "other:\n  <<: *base\n  view: coronal\n")
    assert load_config_file(path)["other"] == {"view": "coronal", "thickness": 4.0}


@pytest.mark.parametrize("content, fragment", [
    (b"seed: 0\nmethods: {cubic: {}}\n\xff\xfe\x00\x01", "not a UTF-8 text file (byte 0xff at "
                                                        "line 3)"),
    (b"\x1f\x8b\x08\x00" + bytes(range(256)), "not a UTF-8 text file (byte 0x8b at line 1)"),
    (b"seed: 0\nmethods:\x00\x00\x00\n", "line 2: character U+0000 is not allowed in YAML"),
], ids=["latin-1 tail", "gzip", "NUL bytes"])
def test_a_binary_or_non_utf8_file_is_one_line(tmp_path, content, fragment):
    path = tmp_path / "binary.yaml"
    path.write_bytes(content)
    with pytest.raises(InputError) as error:
        load_config_file(path)
    one_line(error, str(path), fragment)


@pytest.mark.parametrize("text, fragment", [
    ("seed: [0\nrepeats: 1\n", "line 2, column 8: not valid YAML"),
    ("seed: 0\n---\nseed: 1\n", "expected a single document"),
    ("seed: !!python/object:os.system echo\n", "could not determine a constructor"),
    ("methods: *undefined\n", "found undefined alias"),
    ("a: &a [1, *a]\n", "line 1: a[1] refers to an anchor that contains it"),
])
def test_invalid_yaml_is_one_line_with_the_line(tmp_path, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as error:
        load_config_file(path)
    one_line(error, str(path), fragment)


LAUGHS = "".join(f"{n}: &{n} [{', '.join([f'*{p}'] * 10 if p else ['lol'] * 10)}]\n"
                 for p, n in zip(["", *"abcdefgh"], "abcdefghi", strict=True))


def test_a_billion_laughs_is_refused_at_once_naming_the_file(tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text(LAUGHS + DEFAULT)
    assert len(LAUGHS) < 1000  # ~1 KB standing for 10^9 strings
    start = time.monotonic()
    with pytest.raises(InputError) as error:
        load_config_file(path)
    assert time.monotonic() - start < 1.0
    one_line(error, str(path), "line 5: e expands to more than 100,000 nodes")


def test_aliases_count_each_time_they_are_used(tmp_path, monkeypatch):
    monkeypatch.setattr(config_file, "MAX_NODES", 40)
    path = tmp_path / "aliases.yaml"
    path.write_text("a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\nb: [*a, *a, *a, *a]\n")  # b: 1 + 4 x 10
    with pytest.raises(InputError, match="b expands to more than 40 nodes"):
        load_config_file(path)
    path.write_text("a: [1, 2, 3, 4, 5, 6, 7, 8, 9]\nb: [1, 2, 3]\n")
    assert load_config_file(path)["b"] == [1, 2, 3]


# --- sizes: the schema's maxima and the job count ------------------------------------------

def validated(config: dict) -> dict:
    config = copy.deepcopy(config)
    validate(config, schema=SCHEMA)
    return config


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(repeats=1e9), "1000000000.0 is greater than the maximum of 100"),
    (lambda c: c.update(repeats=101), "101 is greater than the maximum of 100"),
    (lambda c: c["datasets"]["icbm152"]["embedded"].update(subjects=100), "maximum of 99"),
    (lambda c: c["datasets"]["icbm152"]["embedded"].update(lesions=1000), "maximum of 100"),
    (lambda c: c.setdefault("segmentation", {}).update(atropos={"iterations": 10**6}),
     "maximum of 100"),
], ids=["repeats 1e9", "repeats 101", "embedded subjects", "lesions", "atropos iterations"])
def test_the_schema_refuses_implausible_amounts_of_work(config, edit, message):
    edit(config)
    with pytest.raises(Exception, match=message):
        validated(config)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(repeats=10**9),
     r"^repeats \(1000000000\) x scenarios \(2\) x methods \(5\) x "
     r"datasets.icbm152.embedded.subjects \(2\) = 20,000,000,000 fits, about "
     r"40,000,000,000 jobs \(2 per fit\), above the limit of 200,000"),
    (lambda c: c["datasets"]["icbm152"]["embedded"].update(subjects=10**9),
     r"datasets.icbm152.embedded.subjects \(1,000,000,000\)"),
    (lambda c: c.update(repeats=3.0), r"^repeats: expected an integer >= 1, got 3.0"),
    (lambda c: c.update(repeats=1e9), r"^repeats: expected an integer >= 1, got 1000000000.0"),
    (lambda c: c["datasets"]["icbm152"].update(max_subjects=2.0),
     r"^datasets.icbm152.max_subjects: expected an integer >= 1, got 2.0"),
], ids=["repeats", "embedded subjects", "repeats 3.0", "repeats 1e9", "max_subjects 2.0"])
def test_the_plan_counts_jobs_before_any_list_is_built(config, edit, message):
    edit(config)
    start = time.monotonic()
    with pytest.raises(ConfigError, match=message) as error:
        Plan(config)
    assert time.monotonic() - start < 5.0
    one_line(error)


def test_integral_floats_pass_the_schema_so_the_plan_refuses_them(config):
    config["repeats"] = 3.0
    with pytest.raises(ConfigError, match="repeats: expected an integer"):
        Plan(validated(config))  # jsonschema counts 3.0 as an integer


def test_a_large_but_plausible_config_is_planned(config):
    config["repeats"] = 10
    config["datasets"]["icbm152"]["embedded"]["subjects"] = 99
    plan = Plan(validated(config))
    assert plan.job_count() == 2 * 99 * 2 * 5 * 10 <= MAX_JOBS
    config["repeats"] = 100
    config["datasets"]["icbm152"]["max_subjects"] = 10  # the smallest bound counts
    assert Plan(validated(config)).job_count() == 2 * 10 * 2 * 5 * 100


def test_every_factor_is_named_when_the_product_is_too_large(config):
    config["repeats"] = 100
    config["datasets"]["icbm152"]["embedded"]["subjects"] = 99
    config["scenarios"].update({f"copy{i}": config["scenarios"][SCENARIO] for i in range(3)})
    with pytest.raises(ConfigError) as error:
        Plan(validated(config))
    one_line(error, "repeats (100) x scenarios (5) x methods (5) x "
                    "datasets.icbm152.embedded.subjects (99) = 247,500 fits",
             "above the limit of 200,000")


# --- contrasts named in method parameters --------------------------------------------------

@pytest.mark.parametrize("weights, fragments", [
    ({"FLAIR": 2.0}, ["methods.inr-splithead.loss_weights: 'FLAIR' is not among the contrasts "
                      f"scenarios.{SCENARIO} acquires (T1w, T2w)"]),
    ({"T1W": 2.0}, ["methods.inr-splithead.loss_weights: 'T1W' is not among the contrasts",
                    "(contrasts: T1w, T2w, FLAIR, PDw)"]),
    ([2.0], ["methods.inr-splithead.loss_weights: expected a mapping of contrast to value, "
             "got [2.0]"]),
], ids=["FLAIR on a T1w+T2w scenario", "typo T1W", "a list"])
def test_a_loss_weight_for_a_contrast_a_fit_never_sees_is_refused(config, weights, fragments):
    config["methods"]["inr-splithead"]["loss_weights"] = weights
    with pytest.raises(ConfigError) as error:
        Plan(validated(config))
    one_line(error, *fragments)


def test_a_loss_weight_every_scenario_acquires_is_accepted(config):
    config["methods"]["inr-splithead"]["loss_weights"] = {"T1w": 2.0}
    config["methods"]["inr-single"]["loss_weights"] = {}
    assert Plan(validated(config)).method_params("inr-splithead")["loss_weights"] == {"T1w": 2.0}


def test_cli_parameters_are_checked_against_the_scans_given():
    with pytest.raises(InputError) as error:
        check_parameter_contrasts("inr-vanilla", {"loss_weights": {"FLAIR": 1.0}},
                                  ["T2w", "T1w"], "--param")
    one_line(error, "--param loss_weights: 'FLAIR' is not among the contrasts the fit sees "
                    "(T1w, T2w)")
    check_parameter_contrasts("inr-vanilla", {"loss_weights": {"T1w": 1.0}}, ["T1w"], "--param")
    check_parameter_contrasts("cubic", {}, ["T1w"], "--param")  # no contrast-keyed parameter


# --- URLs -------------------------------------------------------------------------------------

def http_dataset(url: str) -> dict:
    return {"source": "http", "contrasts": ["T1w", "T2w", "FLAIR"],
            "http": {"files": [{"url": url, "members": {"T1w": "{id}-T1.nii.gz"}}]}}


@pytest.mark.parametrize("edit, key", [
    (lambda c: c["datasets"].update(web=http_dataset("ftp://example.org/a.tar")),
     "'ftp://example.org/a.tar' does not match"),
    (lambda c: c["datasets"].update(web=http_dataset("file:///etc/passwd")),
     "'file:///etc/passwd' does not match"),
    (lambda c: c["methods"].update(arssr={"pretrained": {"url": "s3://bucket/model.pt",
                                                         "sha256": "0" * 64}}),
     "'s3://bucket/model.pt' does not match"),
], ids=["ftp dataset", "file dataset", "s3 model"])
def test_the_schema_refuses_a_url_that_is_not_http(config, edit, key):
    edit(config)
    with pytest.raises(Exception, match=key):
        validated(config)


def test_the_plan_refuses_a_pretrained_model_that_is_not_http(config):
    config["methods"]["arssr"] = {"pretrained": {"url": "ftp://example.org/m.pt",
                                                 "sha256": "0" * 64}}
    config["datasets"]["icbm152"]["split"] = {"train": ["02"]}
    with pytest.raises(ConfigError) as error:
        Plan(config)
    one_line(error, "methods.arssr.pretrained: expected {url: http(s)://...")


@pytest.mark.parametrize("url, fragment", [
    ("ftp://example.org/a.tar", "not an http(s) URL"),
    ("file:///etc/passwd", "not an http(s) URL"),
    ("example.org/a.tar", "not an http(s) URL"),
    ("https://", "not an http(s) URL"),
    ("http://[::1/a.tar", "not a valid URL"),
    ("http://exa mple.org/a.tar", "not a URL requests can fetch"),
])
def test_download_refuses_other_urls_before_writing_anything(tmp_path, url, fragment):
    with pytest.raises(InputError) as error:
        download(Download(url), tmp_path / "downloads" / "a.tar", retries=0)
    one_line(error, url, fragment)
    assert list(tmp_path.iterdir()) == []  # not even the downloads folder


# --- the workflow: one line before any job -------------------------------------------------

def edited(edit) -> str:
    config = yaml.safe_load(DEFAULT)
    edit(config)
    return yaml.safe_dump(config)


def set_weights(config: dict) -> None:
    config["methods"]["inr-splithead"]["loss_weights"] = {"FLAIR": 2.0}


WORKFLOW_CASES = {
    "key twice": (DUPLICATES["method"][0](DEFAULT),
                  ["twice.yaml: methods.cubic is given twice (lines"]),
    "billion laughs": (LAUGHS + DEFAULT, ["twice.yaml: line 5: e expands to more than"]),
    "repeats 1e9": (edited(lambda c: c.update(repeats=1e9)),
                    ["repeats: 1000000000.0 is greater than the maximum of 100"]),
    "ftp url": (edited(lambda c: c["datasets"].update(web=http_dataset("ftp://x.org/a.tar"))),
                ["datasets.web.http.files[0].url: 'ftp://x.org/a.tar' does not match"]),
    "loss weight": (edited(set_weights), ["methods.inr-splithead.loss_weights: 'FLAIR'"]),
}


@pytest.mark.parametrize("case", sorted(WORKFLOW_CASES))
def test_snakemake_stops_in_one_line_before_any_job(tmp_path, case):
    text, fragments = WORKFLOW_CASES[case]
    configfile = tmp_path / "twice.yaml"
    configfile.write_text(text)
    before = digest(tmp_path)
    result = run_snakemake(tmp_path, configfile, "--dry-run", "--cores", "1", timeout=120)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0
    assert output.startswith("isosr error: ") and "\n" not in output, output[-3000:]
    for fragment in fragments:
        assert fragment in output, output
    assert {k: v for k, v in digest(tmp_path).items() if not k.startswith(".snakemake")} == before


def test_snakemake_itself_refuses_a_non_utf8_config_before_the_workflow(tmp_path):
    """Snakemake reads a --configfile before the Snakefile, so its own error comes first: a
    traceback ending in UnicodeDecodeError (the workflow cannot run earlier)."""
    configfile = tmp_path / "binary.yaml"
    configfile.write_bytes(DEFAULT.encode() + b"\xff\xfe")
    before = digest(tmp_path)
    result = run_snakemake(tmp_path, configfile, "--dry-run", "--cores", "1", timeout=120)
    assert result.returncode != 0
    assert "UnicodeDecodeError" in result.stdout + result.stderr
    assert digest(tmp_path) == before


@pytest.mark.parametrize("content, fragment", [
    (DEFAULT.encode() + b"\xff\xfe", "not a UTF-8 text file (byte 0xff"),
    (DEFAULT.encode() + b"seed: 3\n", "seed is given twice"),
])
def test_the_default_config_is_read_strictly_before_snakemake_reads_it(tmp_path, content,
                                                                      fragment):
    """Without --configfile the Snakefile reads its own config.yaml: a copy of the workflow with a
    bad one stops in one line naming it, before Snakemake's own (traceback) reading."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy(REPO / "Snakefile", checkout)
    shutil.copytree(REPO / "workflow", checkout / "workflow")
    (checkout / "config.yaml").write_bytes(content)
    before = digest(tmp_path)
    result = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile",
                             str(checkout / "Snakefile"), "--directory", str(checkout),
                             "--dry-run", "--cores", "1"], capture_output=True, text=True,
                            timeout=120)
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode != 0 and len(errors) == 1, errors
    assert errors[0].startswith(f"isosr error: {checkout / 'config.yaml'}: ") and fragment in \
        errors[0], errors
    assert {k: v for k, v in digest(tmp_path).items() if ".snakemake" not in k} == before
