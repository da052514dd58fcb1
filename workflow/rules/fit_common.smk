# Input functions and parameters of the train and fit rules (no rules here). What depends on the
# method only is computed once per method (these functions run for every fit job).
from isosr.methods import method_spec


@functools.cache
def _gpus(method):
    """1 for methods that train on a GPU when one is present, else 0."""
    return int(method_spec(method).gpu)


@functools.cache
def _env(method):
    return f"../../{method_spec(method).env}"


def _method_env(wildcards):
    return _env(wildcards.method)


@functools.cache
def _required_files(method):
    return tuple(method_spec(method).required_files(PLAN.method_params(method)))


def _tool_files(w):
    """Files a fit of the method needs first (a tool's environment)."""
    return list(_required_files(w.method))


def _acquisitions(w):
    return {c: PLAN.acquisition(w.scenario, c) for c in PLAN.scenario_contrasts(w.scenario)}


_COHORT_METHODS = frozenset(PLAN.cohort_methods)


def _trained_model(w):
    """The trained model file a cohort method predicts with (nothing for other methods)."""
    if w.method not in _COHORT_METHODS:
        return {}
    return {"model": paths.model_file(dataset=w.dataset, scenario=w.scenario, method=w.method)}


def training_inputs(w):
    """HR ground truth, simulated LR scans and masks of the training subjects only
    (subject-major, contrast-minor): a test subject's HR never reaches training."""
    contrasts = PLAN.scenario_contrasts(w.scenario)
    subjects = PLAN.train_subjects(w.dataset)
    return {
        "hr": [paths.hr_image(dataset=w.dataset, s=s, contrast=c)
               for s in subjects for c in contrasts],
        "lr": [paths.lr_image(dataset=w.dataset, scenario=w.scenario, s=s, contrast=c)
               for s in subjects for c in contrasts],
        "masks": [paths.brain_mask(dataset=w.dataset, s=s) for s in subjects],
    }
