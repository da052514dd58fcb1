# Config validation, wildcard constraints and path helpers shared by every stage.
import functools
import math
import os
from pathlib import Path

import numpy as np
import yaml
from jsonschema import ValidationError
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

import isosr.paths as paths
from isosr.config import ConfigError, Plan
from isosr.config_file import check_config_file
from isosr.io import InputError
from isosr.methods import method_spec
from isosr.vocabulary import CONTRASTS
from isosr.data.templates import field_of_view_mm
from isosr.repeats import SUFFIX_PATTERN


# Snakemake has read the config files already, keeping the last of two equal keys and every alias
# (which validation would expand); read each again strictly before the config is walked.
for _configfile in workflow.configfiles:
    check_config_file(_configfile)
# A schema violation is one line too: the key and jsonschema's message (without the schema).
try:
    validate(config, schema="../schemas/config.schema.yaml")
except WorkflowError as error:
    _cause = error.__context__  # snakemake raises its WorkflowError while handling jsonschema's
    if not isinstance(_cause, ValidationError):
        raise
    _key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in _cause.absolute_path)
    _message = " ".join(_cause.message.split())
    _message = _message if len(_message) <= 300 else _message[:300] + " ..."
    raise SystemExit(f"isosr error: {_key.lstrip('.') or 'config'}: {_message}") from None
# The subjects of a downloaded dataset are known once its files are indexed: every subject
# listing (e.g. a table's inputs) of an http dataset waits for the index_download checkpoint
# (defined in fetch.smk; the lambda looks it up only when called).
# A config error is one line naming the key, before any job (no traceback).
try:
    PLAN = Plan(
        config, await_index=lambda dataset: checkpoints.index_download.get(dataset=dataset)
    )
except (ConfigError, InputError) as error:
    raise SystemExit(f"isosr error: {error}") from None


def _alternatives(names):
    """A regex alternation of names; one that matches nothing for an empty list."""
    return "|".join(sorted(names)) if names else "(?!x)x"


wildcard_constraints:
    dataset=_alternatives(PLAN.datasets + PLAN.studies),
    scenario=_alternatives(PLAN.scenarios),
    method=_alternatives(PLAN.methods),
    contrast=_alternatives(CONTRASTS),
    s="[A-Za-z0-9]+",
    rep=SUFFIX_PATTERN,


def reference_contrast(dataset):
    return PLAN.dataset(dataset)["reference_contrast"]


def final_outputs():
    """Every table and figure of every dataset x scenario (listed in report_common.smk), and
    every study's derivatives, reports and table (clinical.smk)."""
    return report_outputs() + study_outputs()


# Software and hardware of the jobs. With --use-conda each rule runs in its envs/*.yaml, whose
# post-deploy script (envs/install-isosr.sh) installs isosr from this source tree.
os.environ.update(ISOSR_SOURCE_DIR=str(Path(workflow.basedir).resolve()))

# Memory (MB) and runtime (minutes) each job requests from a cluster, from what its rule (a fit
# or training: its method) was measured to cost: profiles/slurm/resources.yaml, whose header
# says how every number was measured and how a request follows from it (a line in the HR grid's
# million voxels, so requests follow resolution_mm, times a headroom; a learned method's runtime
# also scales with its configured epochs x steps). A local run schedules by threads and `gpu`.
RESOURCE_TABLE = yaml.safe_load(
    (Path(workflow.basedir) / "profiles" / "slurm" / "resources.yaml").read_text()
)
# the rule files' stage names that cover several measured rules (the largest of them)
_STAGE_RULES = {
    "fetch": ("fetch_embedded",),  # extract_scan, fetch_local: not measured, as light
    "preprocess": ("register_reference", "preprocess_contrast"),
    "evaluate": ("segment_truth", "evaluate"),
}


@functools.cache
def hr_megavoxels(dataset):
    """Millions of voxels of ``dataset``'s HR grid: the template's field of view sampled at
    resolution_mm (an upper bound, as the grid is cropped to the brain); for a study without
    ground truth, the MNI152 head at its resolution_mm, 1 mm when each session sets its own."""
    if dataset in PLAN.studies:
        spec = {"template": "MNI152", "resolution_mm": PLAN.study(dataset)["resolution_mm"] or 1.0}
    else:
        spec = PLAN.dataset(dataset)
    extent_mm = np.asarray(field_of_view_mm(spec["template"]))
    return float(np.prod(extent_mm / spec["resolution_mm"])) / 1e6


def _largest(models):
    """The element-wise largest of measured models (a rule covering several)."""
    return {
        key: [max(model[key][i] for model in models) for i in (0, 1)]
        for key in ("mem_mb", "seconds")
    }


def _seconds(model, size):
    """A measured model's seconds (before headroom) on an HR grid of ``size`` Mvox."""
    return model["seconds"][0] + model["seconds"][1] * size


def _request(model, size, seconds=None):
    """mem_mb and runtime (minutes) of a job on an HR grid of ``size`` Mvox from a measured
    model (``seconds``: the runtime's seconds before headroom, if not the model's own)."""
    headroom, minimum = RESOURCE_TABLE["headroom"], RESOURCE_TABLE["minimum"]
    mem_base, mem_per_megavoxel = model["mem_mb"]
    if seconds is None:
        seconds = _seconds(model, size)
    return {
        "mem_mb": max(
            minimum["mem_mb"],
            math.ceil(headroom["memory"] * (mem_base + mem_per_megavoxel * size)),
        ),
        "runtime": max(
            minimum["runtime_minutes"], math.ceil(headroom["runtime"] * seconds / 60)
        ),
    }


def _per_size(request):
    """``request(size)``'s mem_mb and runtime: numbers when every dataset has the same HR grid
    size (Snakemake evaluates a function per job), else functions of the job's dataset."""
    sizes = {hr_megavoxels(dataset) for dataset in PLAN.datasets + PLAN.studies}
    if len(sizes) == 1:
        return request(sizes.pop())

    def resource(key):
        return lambda wildcards: request(hr_megavoxels(wildcards.dataset))[key]

    return {"mem_mb": resource("mem_mb"), "runtime": resource("runtime")}


def _stage_model(stage):
    rules = RESOURCE_TABLE["rules"]
    if stage in ("fit", "train"):  # a method not measured: the largest measured one
        return _largest([entry["model"] for entry in rules[stage].values()])
    return _largest([rules[rule]["model"] for rule in _STAGE_RULES.get(stage, (stage,))])


def stage_resources(stage, items=1):
    """mem_mb and runtime of a job of ``stage`` (a measured rule, or a name of _STAGE_RULES;
    "fit" / "train": the largest measured method) that does the measured work for ``items``
    items one after the other (the runtime grows, the memory does not); use as
    ``**stage_resources(stage)``."""
    model = _stage_model(stage)
    return _per_size(lambda size: _request(model, size, items * _seconds(model, size)))


@functools.cache
def _method_request(stage, method, dataset):
    """mem_mb and runtime of ``method``'s fit or training ("fit" / "train") on ``dataset``: its
    measured model (else the largest measured method's), the runtime scaled by the configured
    epochs x steps per epoch over the measured ones (never below 1); with budget_seconds the
    budget plus two configured epochs."""
    entry = RESOURCE_TABLE["rules"][stage].get(method)
    model = entry["model"] if entry else _stage_model(stage)
    size = hr_megavoxels(dataset)
    seconds = _seconds(model, size)
    measured_work = entry and entry.get("work")
    spec = method_spec(method)
    params = spec.make_params(PLAN.method_params(method))
    epochs = getattr(params, "epochs", None)
    if measured_work and epochs is not None:
        steps = getattr(params, "steps_per_epoch", None) or 1
        budget = getattr(params, "budget_seconds", None)
        if budget is not None:
            seconds = budget + 2 * seconds * steps / measured_work
        else:
            seconds *= max(1.0, epochs * steps / measured_work)
    request = _request(model, size, seconds)
    if entry is None:
        request["runtime"] = max(
            request["runtime"], RESOURCE_TABLE["unmeasured_method_runtime_minutes"]
        )
    if spec.gpu:  # the request when SLURM gives it a GPU (gpu=0 on a CPU-only cluster too)
        request["mem_mb"] = max(request["mem_mb"], RESOURCE_TABLE["gpu_job_min_mem_mb"])
    return request


def method_resources(stage):
    """mem_mb and runtime of the fits ("fit") or trainings ("train") of the job's method, as
    functions of the wildcards; use as ``**method_resources(stage)``."""

    def resource(key):
        return lambda wildcards: _method_request(stage, wildcards.method, wildcards.dataset)[key]

    return {"mem_mb": resource("mem_mb"), "runtime": resource("runtime")}
