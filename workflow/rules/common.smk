# Config validation, wildcard constraints and path helpers shared by every stage.
import functools
import math
import os
from pathlib import Path

import numpy as np
from jsonschema import ValidationError
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

import isosr.paths as paths
from isosr.config import ConfigError, Plan
from isosr.config_file import check_config_file
from isosr.io import InputError
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
    dataset=_alternatives(PLAN.datasets),
    scenario=_alternatives(PLAN.scenarios),
    method=_alternatives(PLAN.methods),
    contrast=_alternatives(CONTRASTS),
    s="[A-Za-z0-9]+",
    rep=SUFFIX_PATTERN,


def reference_contrast(dataset):
    return PLAN.dataset(dataset)["reference_contrast"]


def final_outputs():
    """Every table and figure of every dataset x scenario (listed in report_common.smk)."""
    return report_outputs()


# Software and hardware of the jobs. With --use-conda each rule runs in its envs/*.yaml, whose
# post-deploy script (envs/install-isosr.sh) installs isosr from this source tree.
os.environ.update(ISOSR_SOURCE_DIR=str(Path(workflow.basedir).resolve()))

# Memory (MB) and runtime (minutes) of a job per stage: a fixed part plus a part per million voxels
# of its dataset's HR grid, so requests follow resolution_mm (1 mm has ~27x the voxels of 3 mm).
_STAGE_COST = {
    #             mem_mb   per Mvox  runtime  per Mvox
    "fetch":      (1000,   600,      5,       2),
    "preprocess": (3000,   800,      10,      5),
    "simulate":   (1000,   300,      5,       1),
    "fit":        (4000,   1500,     30,      20),
    "evaluate":   (1000,   500,      5,       2),
}


@functools.cache
def hr_megavoxels(dataset):
    """Millions of voxels of ``dataset``'s HR grid: the template's field of view sampled at
    resolution_mm (an upper bound, as the grid is cropped to the brain)."""
    spec = PLAN.dataset(dataset)
    extent_mm = np.asarray(field_of_view_mm(spec["template"]))
    return float(np.prod(extent_mm / spec["resolution_mm"])) / 1e6


def stage_resources(stage):
    """mem_mb and runtime of a job of ``stage``; use as ``**stage_resources(stage)``. Numbers
    when every dataset has the same HR grid size (Snakemake evaluates a function per job), else
    functions of the job's dataset."""
    base_mb, mb_per_megavoxel, base_minutes, minutes_per_megavoxel = _STAGE_COST[stage]
    sizes = {hr_megavoxels(dataset) for dataset in PLAN.datasets}
    if len(sizes) == 1:
        (size,) = sizes
        return {
            "mem_mb": math.ceil(base_mb + mb_per_megavoxel * size),
            "runtime": math.ceil(base_minutes + minutes_per_megavoxel * size),
        }
    return {
        "mem_mb": lambda wildcards: math.ceil(
            base_mb + mb_per_megavoxel * hr_megavoxels(wildcards.dataset)
        ),
        "runtime": lambda wildcards: math.ceil(
            base_minutes + minutes_per_megavoxel * hr_megavoxels(wildcards.dataset)
        ),
    }
