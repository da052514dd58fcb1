"""The one builder of every workflow path: rules, input functions and the plan all call it.

Every argument is keyword-only and defaults to its Snakemake wildcard (``"{dataset}"``...), so
``prediction()`` is a rule's output pattern and ``prediction(dataset="icbm152", scenario=...,
method="cubic", s="01", rep="", contrast="T1w")`` one concrete file.

``rep`` is the repeat suffix of a fit (``isosr.repeats``): '' for repeat 0, so a run with
``repeats: 1`` has plain ``sub-<label>`` paths, and '_rep-<r>' for repeat r.
"""

from __future__ import annotations

from isosr.data.layout import DATASETS_DIR

RESULTS = "results"
LOGS = "logs"


def raw_scan(*, dataset: str = "{dataset}", s: str = "{s}", contrast: str = "{contrast}") -> str:
    """A raw scan in our BIDS-like tree (what every fetch rule writes)."""
    return f"{DATASETS_DIR}/{dataset}/sub-{s}/anat/sub-{s}_{contrast}.nii.gz"


def preproc_dir(*, dataset: str = "{dataset}", s: str = "{s}") -> str:
    return f"{RESULTS}/{dataset}/preproc/sub-{s}"


def hr_image(*, dataset: str = "{dataset}", s: str = "{s}", contrast: str = "{contrast}",
             suffix: str = ".nii.gz") -> str:
    """A preprocessed HR ground truth (``suffix=".json"``: its sidecar)."""
    return f"{preproc_dir(dataset=dataset, s=s)}/{contrast}{suffix}"


def brain_mask(*, dataset: str = "{dataset}", s: str = "{s}", suffix: str = ".nii.gz") -> str:
    """The subject's brain mask on the HR grid (it defines the grid of every prediction)."""
    return f"{preproc_dir(dataset=dataset, s=s)}/brainmask{suffix}"


def transform(*, dataset: str = "{dataset}", s: str = "{s}", name: str) -> str:
    """A registration transform of preprocessing (``reference_to_template``...)."""
    return f"{preproc_dir(dataset=dataset, s=s)}/xfm/{name}.mat"


def lr_image(*, dataset: str = "{dataset}", scenario: str = "{scenario}", s: str = "{s}",
             contrast: str = "{contrast}") -> str:
    """A simulated LR acquisition."""
    return f"{RESULTS}/{dataset}/lr/{scenario}/sub-{s}/{contrast}.nii.gz"


def fit_dir(*, dataset: str = "{dataset}", scenario: str = "{scenario}",
            method: str = "{method}", s: str = "{s}", rep: str = "{rep}") -> str:
    return f"{RESULTS}/{dataset}/sr/{scenario}/{method}/sub-{s}{rep}"


def prediction(*, dataset: str = "{dataset}", scenario: str = "{scenario}",
               method: str = "{method}", s: str = "{s}", rep: str = "{rep}",
               contrast: str = "{contrast}") -> str:
    """One super-resolved contrast of one subject (one repeat of its fit)."""
    folder = fit_dir(dataset=dataset, scenario=scenario, method=method, s=s, rep=rep)
    return f"{folder}/{contrast}.nii.gz"


def fit_record(*, dataset: str = "{dataset}", scenario: str = "{scenario}",
               method: str = "{method}", s: str = "{s}", rep: str = "{rep}") -> str:
    """fit.json: what one fit (or one prediction by a trained model) cost."""
    return f"{fit_dir(dataset=dataset, scenario=scenario, method=method, s=s, rep=rep)}/fit.json"


def fit_checkpoint(*, dataset: str = "{dataset}", scenario: str = "{scenario}",
                   method: str = "{method}", s: str = "{s}", rep: str = "{rep}") -> str:
    """Per-epoch checkpoints of a fit: not a rule output, so a killed fit resumes."""
    folder = fit_dir(dataset=dataset, scenario=scenario, method=method, s=s, rep=rep)
    return f"{folder}/checkpoint"


def model_dir(*, dataset: str = "{dataset}", scenario: str = "{scenario}",
              method: str = "{method}") -> str:
    return f"{RESULTS}/{dataset}/models/{scenario}/{method}"


def model_file(*, dataset: str = "{dataset}", scenario: str = "{scenario}",
               method: str = "{method}") -> str:
    """The trained model of a cohort method for one scenario."""
    return f"{model_dir(dataset=dataset, scenario=scenario, method=method)}/model.pt"


def train_record(*, dataset: str = "{dataset}", scenario: str = "{scenario}",
                 method: str = "{method}") -> str:
    """train.json: what training a cohort method cost, and on which subjects."""
    return f"{model_dir(dataset=dataset, scenario=scenario, method=method)}/train.json"


def train_checkpoint(*, dataset: str = "{dataset}", scenario: str = "{scenario}",
                     method: str = "{method}") -> str:
    """Per-epoch checkpoints of a training: not a rule output, so a killed training resumes."""
    return f"{model_dir(dataset=dataset, scenario=scenario, method=method)}/checkpoint"


def truth_labels(*, dataset: str = "{dataset}", s: str = "{s}", contrast: str = "{contrast}",
                 suffix: str = ".nii.gz") -> str:
    """Tissue labels of the HR ground truth (``suffix=".json"``: its sidecar)."""
    return f"{RESULTS}/{dataset}/seg/sub-{s}/{contrast}_dseg{suffix}"


def prediction_labels(*, dataset: str = "{dataset}", scenario: str = "{scenario}",
                      method: str = "{method}", s: str = "{s}", rep: str = "{rep}",
                      contrast: str = "{contrast}", suffix: str = ".nii.gz") -> str:
    """Tissue labels of one prediction (``suffix=".json"``: its sidecar)."""
    return f"{RESULTS}/{dataset}/seg/{scenario}/{method}/sub-{s}{rep}/{contrast}_dseg{suffix}"


def metrics(*, dataset: str = "{dataset}", scenario: str = "{scenario}", s: str = "{s}",
            rep: str = "{rep}") -> str:
    """The long metrics TSV of every method on one subject (one repeat of its fits)."""
    return f"{RESULTS}/{dataset}/metrics/{scenario}/sub-{s}{rep}.tsv"


def table(*, kind_suffix: str, extension: str, dataset: str = "{dataset}",
          scenario: str = "{scenario}") -> str:
    return f"{RESULTS}/tables/{dataset}_{scenario}{kind_suffix}.{extension}"


def figure(*, kind: str, extension: str, dataset: str = "{dataset}",
           scenario: str = "{scenario}") -> str:
    return f"{RESULTS}/figures/{dataset}_{scenario}_{kind}.{extension}"


# A study without ground truth (isosr.clinical): one folder of work per subject's session; {ses}
# is the session's file-name part ('_ses-<t>', or '' in a study without sessions) and {sesdir}
# its folder ('ses-<t>/' or ''); the outputs are BIDS derivatives named by {desc}, the method's
# BIDS label (isosr.clinical.derivatives).
def session_dir(*, dataset: str = "{dataset}", s: str = "{s}", ses: str = "{ses}") -> str:
    return f"{RESULTS}/{dataset}/clinical/sub-{s}{ses}"


def aligned_stack(*, dataset: str = "{dataset}", s: str = "{s}", ses: str = "{ses}",
                  contrast: str = "{contrast}") -> str:
    """An acquired stack with the affine of its alignment to the reference (voxels as stored)."""
    return f"{session_dir(dataset=dataset, s=s, ses=ses)}/aligned/{contrast}.nii.gz"


def session_mask(*, dataset: str = "{dataset}", s: str = "{s}", ses: str = "{ses}") -> str:
    """The reference contrast's brain mask on the session's isotropic output grid."""
    return f"{session_dir(dataset=dataset, s=s, ses=ses)}/brainmask.nii.gz"


def alignment_record(*, dataset: str = "{dataset}", s: str = "{s}", ses: str = "{ses}") -> str:
    """alignment.json: acquisitions, registration QA, intensity scales and the output grid."""
    return f"{session_dir(dataset=dataset, s=s, ses=ses)}/alignment.json"


def session_output(*, dataset: str = "{dataset}", s: str = "{s}", ses: str = "{ses}",
                   desc: str = "{desc}", contrast: str = "{contrast}") -> str:
    """One method's (``desc``: its BIDS label) super-resolved contrast of one session."""
    return f"{session_dir(dataset=dataset, s=s, ses=ses)}/{desc}/{contrast}.nii.gz"


def session_file(*, dataset: str = "{dataset}", s: str = "{s}", ses: str = "{ses}",
                 desc: str = "{desc}", name: str) -> str:
    """A file of one method's work on one session: fit.json, qc.json, its checkpoint folder."""
    return f"{session_dir(dataset=dataset, s=s, ses=ses)}/{desc}/{name}"


def consistency_map(*, dataset: str = "{dataset}", s: str = "{s}", ses: str = "{ses}",
                    desc: str = "{desc}", contrast: str = "{contrast}") -> str:
    """The data-consistency error map of one output, on its acquired stack's grid."""
    return f"{session_dir(dataset=dataset, s=s, ses=ses)}/{desc}/consistency_{contrast}.nii.gz"


def derivatives_root(*, dataset: str = "{dataset}") -> str:
    """The BIDS derivatives dataset of a study's outputs (one per source dataset)."""
    return f"{RESULTS}/{dataset}/derivatives/isosr"


def derivative_image(*, dataset: str = "{dataset}", s: str = "{s}", sesdir: str = "{sesdir}",
                     ses: str = "{ses}", desc: str = "{desc}", contrast: str = "{contrast}",
                     extension: str = ".nii.gz") -> str:
    """One super-resolved contrast of one session (``extension=".json"``: its sidecar)."""
    return (f"{derivatives_root(dataset=dataset)}/sub-{s}/{sesdir}anat/"
            f"sub-{s}{ses}_desc-{desc}_{contrast}{extension}")


def session_report(*, dataset: str = "{dataset}", s: str = "{s}", ses: str = "{ses}") -> str:
    """The session's HTML quality report (at the derivatives' root, as the NiPreps put theirs)."""
    return f"{derivatives_root(dataset=dataset)}/sub-{s}{ses}.html"


def study_table(*, dataset: str = "{dataset}", extension: str) -> str:
    """The study's quality-control table: methods ranked by data consistency."""
    return f"{RESULTS}/tables/{dataset}_study_qc.{extension}"


def benchmark_derivatives(*, dataset: str = "{dataset}", scenario: str = "{scenario}") -> str:
    """A benchmark scenario's predictions (repeat 0) as a BIDS derivatives dataset."""
    return f"{RESULTS}/{dataset}/derivatives/isosr-{scenario}"
