# Input functions and paths of the segment, evaluate and report stages (no rules here).
from isosr.data.layout import DATASETS_DIR
from isosr.lpips_weights import find_weights

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
    return paths.table(kind_suffix=TABLES[kind], extension=extension, dataset=dataset,
                       scenario=scenario)


def figure_path(kind, extension, dataset="{dataset}", scenario="{scenario}"):
    return paths.figure(kind=kind, extension=extension, dataset=dataset, scenario=scenario)


VALIDITY_FORMATS = ("csv", "md", "pdf", "png")


def validity_path(extension, dataset="{dataset}", scenario="{scenario}"):
    """The rank correlation of data consistency with the true PSNR (isosr.qc_validity)."""
    if extension in ("pdf", "png"):
        return paths.figure(kind="qc_validity", extension=extension, dataset=dataset,
                            scenario=scenario)
    return paths.table(kind_suffix="_qc_validity", extension=extension, dataset=dataset,
                       scenario=scenario)


def report_outputs():
    """Every table and figure of every dataset x scenario (for rule all)."""
    patterns = [table_path(k, e) for k in TABLES for e in TABLE_FORMATS]
    patterns += [figure_path(k, e) for k in FIGURES for e in ("pdf", "png")]
    patterns += [validity_path(e) for e in VALIDITY_FORMATS]
    patterns.append(paths.benchmark_derivatives())
    return [path for pattern in patterns for path in PLAN.tables(pattern)]


def report_item(kind, path, caption):
    """``path`` marked for the report: category = dataset, subcategory = scenario."""
    return report(path, caption=f"../report/{caption}.rst", category="{dataset}",
                  subcategory="{scenario}", labels={"item": kind})


def per_subject(path, every_repeat=False):
    """Input function: ``path(...)`` for every method and test subject (method-major), of every
    repeat (tables) or of repeat 0 only (figures: one point per subject)."""
    repeats = PLAN.repeat_suffixes if every_repeat else [""]
    return lambda w: [path(dataset=w.dataset, scenario=w.scenario, method=m, s=s, rep=r)
                      for m in PLAN.methods for s in PLAN.test_subjects(w.dataset)
                      for r in repeats]


def subject_metrics(every_repeat=False):
    """Input function: every test subject's metrics file (all methods), of every repeat (tables)
    or of repeat 0 only (figures, publishing: one point per subject)."""
    repeats = PLAN.repeat_suffixes if every_repeat else [""]
    return lambda w: [paths.metrics(dataset=w.dataset, scenario=w.scenario, s=s, rep=r)
                      for s in PLAN.test_subjects(w.dataset) for r in repeats]


def evaluate_inputs(w):
    """One subject's fits of a scenario (every method's predictions, method-major), its ground
    truth, LR scans and mask, and the truth's labels of the segmented contrast with their sidecar
    (the class model the predictions are labelled with)."""
    contrasts = PLAN.scenario_contrasts(w.scenario)
    segmented = PLAN.segmentation_contrast(w.scenario)
    return {
        "truth": [paths.hr_image(dataset=w.dataset, s=w.s, contrast=c) for c in contrasts],
        "prediction": [paths.prediction(dataset=w.dataset, scenario=w.scenario, method=m, s=w.s,
                                        rep=w.rep, contrast=c)
                       for m in PLAN.methods for c in contrasts],
        "lr": [paths.lr_image(dataset=w.dataset, scenario=w.scenario, s=w.s, contrast=c)
               for c in contrasts],
        "mask": paths.brain_mask(dataset=w.dataset, s=w.s),
        "truth_labels": paths.truth_labels(dataset=w.dataset, s=w.s, contrast=segmented),
        "truth_sidecar": paths.truth_labels(dataset=w.dataset, s=w.s, contrast=segmented,
                                            suffix=".json"),
    }


def qualitative_inputs(w):
    """One subject's LR scans, ground truth, mask and predictions (method-major)."""
    subject = PLAN.figure_subject(w.dataset)
    contrasts = PLAN.scenario_contrasts(w.scenario)
    scan = {"dataset": w.dataset, "s": subject}
    return {
        "lr": [paths.lr_image(**scan, scenario=w.scenario, contrast=c) for c in contrasts],
        "truth": [paths.hr_image(**scan, contrast=c) for c in contrasts],
        "mask": paths.brain_mask(**scan),
        "predictions": [
            paths.prediction(**scan, scenario=w.scenario, method=m, rep="", contrast=c)
            for m in PLAN.methods
            for c in contrasts
        ],
    }


def mi_inputs(w):
    """Every fit.json, and every test subject's ground truth (subject-major) and mask."""
    contrasts = PLAN.scenario_contrasts(w.scenario)
    subjects = PLAN.test_subjects(w.dataset)
    return {
        "fits": per_subject(paths.fit_record)(w),
        "truth": [paths.hr_image(dataset=w.dataset, s=s, contrast=c)
                  for s in subjects for c in contrasts],
        "masks": [paths.brain_mask(dataset=w.dataset, s=s) for s in subjects],
    }
