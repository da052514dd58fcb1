# Input functions and names of the clinical rules (no rules here; see clinical.smk).
from isosr.clinical.derivatives import check_desc_labels, desc_label
from isosr.clinical.sessions import MOTION_FILE, Session, lr_study_root, lr_study_stacks
from isosr.repeats import fit_seed

check_desc_labels(PLAN.methods)
DESC_METHOD = {desc_label(method): method for method in PLAN.methods}
SESSION_WILDCARDS = {
    "ses": "(_ses-[A-Za-z0-9]+)?",
    "sesdir": "(ses-[A-Za-z0-9]+/)?",
    "desc": _alternatives(DESC_METHOD),
}


def _session(w):
    return Session.from_entity(w.s, w.ses)


def _where(study, session):
    """The wildcards of one session of ``study`` (for a path builder)."""
    return {"dataset": study, "s": session.subject, "ses": session.entity}


def _derivatives(study, session, method, contrasts, extension=".nii.gz"):
    return [paths.derivative_image(**_where(study, session), sesdir=session.folder,
                                   desc=desc_label(method), contrast=c, extension=extension)
            for c in contrasts]


def _model_input(w):
    """A cohort method's model file (methods.<m>.model), else nothing."""
    model = PLAN.study_model(DESC_METHOD[w.desc])
    return {} if model is None else {"model": model}


def study_outputs():
    """Every study's derivatives description, session reports and QC table (for rule all)."""
    outputs = []
    for study in PLAN.studies:
        outputs.append(f"{paths.derivatives_root(dataset=study)}/dataset_description.json")
        for session in PLAN.sessions(study):
            outputs.append(paths.session_report(**_where(study, session)))
            for method in PLAN.methods:
                outputs += _derivatives(study, session, method, PLAN.study(study)["contrasts"])
        outputs += [paths.study_table(dataset=study, extension=e) for e in ("csv", "md")]
    return outputs


def _raw_dataset_uri(w):
    """Where a study's raw BIDS dataset is, relative to its derivatives (None: no BIDS root)."""
    spec = PLAN.study(w.dataset)
    if spec["source"] == "embedded":
        root = lr_study_root(w.dataset)
    elif spec["source"] == "bids":
        root = Path(spec["bids"]["root"]).expanduser()
    else:
        return None
    return os.path.relpath(root.resolve(), Path(paths.derivatives_root(dataset=w.dataset)).resolve())
