# Input functions and paths of the segment, evaluate and report stages (no rules here).
from isosr.lpips import find_weights

# LPIPS weights, resolved once (a configured path that does not exist stops the run here). Their
# paths are params of evaluate, so finding the weights later re-runs it; tables say what is missing.
LPIPS_WEIGHTS = find_weights(
    config["lpips"]["alexnet_weights"], config["lpips"]["linear_weights"]
)
SEGMENTATION_SETTINGS = {
    key: config["segmentation"][key] for key in ("backend", "atropos", "fastsurfer")
}

TABLES = {"quality": "", "dice": "_dice", "cost": "_cost"}
TABLE_FORMATS = ("csv", "md", "tex", "html")
FIGURES = ("qualitative", "mi", "metrics")


def table_path(kind, extension, dataset="{dataset}", scenario="{scenario}"):
    return f"results/tables/{dataset}_{scenario}{TABLES[kind]}.{extension}"


def figure_path(kind, extension, dataset="{dataset}", scenario="{scenario}"):
    return f"results/figures/{dataset}_{scenario}_{kind}.{extension}"


def report_outputs():
    """Every table and figure of every dataset x scenario (for rule all)."""
    patterns = [table_path(k, e) for k in TABLES for e in TABLE_FORMATS]
    patterns += [figure_path(k, e) for k in FIGURES for e in ("pdf", "png")]
    return [path for pattern in patterns for path in PLAN.tables(pattern)]


def report_item(kind, path, caption):
    """``path`` marked for the report: category = dataset, subcategory = scenario."""
    return report(path, caption=f"../report/{caption}.rst", category="{dataset}",
                  subcategory="{scenario}", labels={"item": kind})


def per_subject(pattern):
    """Input function: ``pattern`` for every method and subject of the dataset x scenario."""
    return lambda w: expand(pattern, dataset=w.dataset, scenario=w.scenario,
                            method=PLAN.methods, s=PLAN.subjects(w.dataset))


def evaluate_inputs(w):
    contrasts = PLAN.scenario_contrasts(w.scenario)
    segmented = PLAN.segmentation_contrast(w.scenario)
    prefix = f"results/{w.dataset}"
    run = f"{w.scenario}/{w.method}/sub-{w.s}"
    return {
        "truth": [f"{prefix}/preproc/sub-{w.s}/{c}.nii.gz" for c in contrasts],
        "prediction": [f"{prefix}/sr/{run}/{c}.nii.gz" for c in contrasts],
        "mask": f"{prefix}/preproc/sub-{w.s}/brainmask.nii.gz",
        "truth_labels": f"{prefix}/seg/sub-{w.s}/{segmented}_dseg.nii.gz",
        "prediction_labels": f"{prefix}/seg/{run}/{segmented}_dseg.nii.gz",
    }


def qualitative_inputs(w):
    """One subject's LR scans, ground truth, mask and predictions (method-major)."""
    subject = PLAN.figure_subject(w.dataset)
    contrasts = PLAN.scenario_contrasts(w.scenario)
    prefix = f"results/{w.dataset}"
    return {
        "lr": [f"{prefix}/lr/{w.scenario}/sub-{subject}/{c}.nii.gz" for c in contrasts],
        "truth": [f"{prefix}/preproc/sub-{subject}/{c}.nii.gz" for c in contrasts],
        "mask": f"{prefix}/preproc/sub-{subject}/brainmask.nii.gz",
        "predictions": [
            f"{prefix}/sr/{w.scenario}/{m}/sub-{subject}/{c}.nii.gz"
            for m in PLAN.methods
            for c in contrasts
        ],
    }


def mi_inputs(w):
    """Every fit.json, and every subject's ground truth (subject-major) and mask."""
    contrasts = PLAN.scenario_contrasts(w.scenario)
    subjects = PLAN.subjects(w.dataset)
    prefix = f"results/{w.dataset}"
    return {
        "fits": per_subject("results/{dataset}/sr/{scenario}/{method}/sub-{s}/fit.json")(w),
        "truth": [f"{prefix}/preproc/sub-{s}/{c}.nii.gz" for s in subjects for c in contrasts],
        "masks": [f"{prefix}/preproc/sub-{s}/brainmask.nii.gz" for s in subjects],
    }
