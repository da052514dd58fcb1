# Config validation, wildcard constraints and path helpers shared by every stage.
from snakemake.utils import validate

from isosr.config import Plan
from isosr.data.embedded import CONTRASTS


validate(config, schema="../schemas/config.schema.yaml")
PLAN = Plan(config)


def _alternatives(names):
    """A regex alternation of names; one that matches nothing for an empty list."""
    return "|".join(sorted(names)) if names else "(?!x)x"


wildcard_constraints:
    dataset=_alternatives(PLAN.datasets),
    scenario=_alternatives(PLAN.scenarios),
    method=_alternatives(PLAN.methods),
    contrast=_alternatives(CONTRASTS),
    s="[A-Za-z0-9]+",


def raw_scan(dataset, subject, contrast):
    return f"resources/datasets/{dataset}/sub-{subject}/anat/sub-{subject}_{contrast}.nii.gz"


def reference_contrast(dataset):
    return PLAN.dataset(dataset)["reference_contrast"]


def final_outputs():
    """Every table of every dataset x scenario."""
    return PLAN.tables("results/tables/{dataset}_{scenario}.csv") + PLAN.tables(
        "results/tables/{dataset}_{scenario}.md"
    )
