"""The sessions of a study without ground truth and the scan of each contrast in each session.

A study (``datasets.<d>.ground_truth: false``) keeps its sessions apart: one unit of work is one
subject's session, named ``sub-<s>_ses-<t>`` (or ``sub-<s>`` when the study has no sessions) in
every output. Sources:

- bids: the BIDS dataset's subjects and sessions (pybids), those with every contrast;
- manual: its subjects (a manual source has no sessions);
- embedded: the LR-only study ``isosr.clinical.study`` writes under resources/datasets/<d>/
  (``lr_study`` block: sessions, stacks, motion), made by the workflow before anything reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from isosr.data.bids import BidsSource, session_scans
from isosr.data.embedded import EmbeddedOptions, subject_ids
from isosr.data.layout import DATASETS_DIR
from isosr.data.sources import check_under_root, local_scans, make_source, select_subjects
from isosr.io import InputError

SESSION_ENTITY = "_ses-"
# contrast -> (view, slice thickness in mm) of the default LR-only study: three orthogonal 4 mm
# stacks (isosr.clinical.study writes it).
DEFAULT_STACKS = {"T1w": ("axial", 4.0), "T2w": ("coronal", 4.0), "FLAIR": ("sagittal", 4.0)}
MOTION_FILE = Path("derivatives") / "simulation" / "motion.json"


def scan_name(subject: str, session: str, contrast: str, desc: str | None = None) -> str:
    """'sub-01_ses-01_T2w.nii.gz' (with ``desc``: 'sub-01_ses-01_desc-<desc>_T2w.nii.gz')."""
    return f"sub-{subject}_ses-{session}{f'_desc-{desc}' if desc else ''}_{contrast}.nii.gz"


@dataclass(frozen=True, order=True)
class Session:
    """One subject's session (``session`` None: the study has no sessions)."""

    subject: str
    session: str | None = None

    @property
    def entity(self) -> str:
        """The session's part of a file name: '_ses-01', or '' without sessions."""
        return "" if self.session is None else f"{SESSION_ENTITY}{self.session}"

    @property
    def folder(self) -> str:
        """The session's folder below the subject's: 'ses-01/', or '' without sessions."""
        return "" if self.session is None else f"ses-{self.session}/"

    @property
    def label(self) -> str:
        """'sub-01 ses-01' (for messages)."""
        return f"sub-{self.subject}" + ("" if self.session is None else f" ses-{self.session}")

    @classmethod
    def from_entity(cls, subject: str, entity: str) -> Session:
        """The session of a path's wildcards: subject label and '_ses-<t>' or ''."""
        return cls(subject, entity.removeprefix(SESSION_ENTITY) or None)


def lr_study_stacks(spec: dict[str, Any]) -> dict[str, tuple[str, float]]:
    """contrast -> (view, thickness) of an embedded LR-only study: its ``lr_study.stacks``
    (default isosr.clinical.study.DEFAULT_STACKS), restricted to the dataset's contrasts."""
    block = spec.get("lr_study") or {}
    stacks = ({c: (s["view"], float(s["thickness"])) for c, s in block["stacks"].items()}
              if block.get("stacks") else dict(DEFAULT_STACKS))
    return {c: stacks[c] for c in spec["contrasts"] if c in stacks}


def lr_study_root(dataset: str) -> Path:
    """Where the workflow writes an embedded dataset's LR-only study."""
    return DATASETS_DIR / dataset


def study_sessions(dataset: str, spec: dict[str, Any]) -> dict[Session, dict[str, Path]]:
    """Every session of the study ``dataset`` (its config ``spec``) -> contrast -> scan, sorted;
    ``subjects`` and ``max_subjects`` select subjects (all their sessions)."""
    contrasts = list(spec["contrasts"])
    key = f"datasets.{dataset}"
    if spec["source"] == "embedded":
        stacks = lr_study_stacks(spec)
        missing = sorted(set(contrasts) - set(stacks))
        if missing:
            raise InputError(f"{key}.lr_study.stacks: no stack for contrast(s) {missing} "
                             f"(it has {sorted(stacks)})")
        subjects = select_subjects(subject_ids(EmbeddedOptions(**spec.get("embedded", {}))),
                                   spec, dataset)
        count = (spec.get("lr_study") or {}).get("sessions", 1)
        root = lr_study_root(dataset)
        found = {}
        for subject in subjects:
            for index in range(1, count + 1):
                session = Session(subject, f"{index:02d}")
                found[session] = {
                    c: root / f"sub-{subject}" / f"ses-{session.session}" / "anat"
                    / scan_name(subject, session.session, c) for c in contrasts}
        return found
    if spec["source"] not in ("bids", "manual"):
        raise InputError(f"{key}.source: a study without ground truth reads bids, manual or "
                         f"embedded scans, not {spec['source']!r}")
    source = make_source(dataset, spec)
    if isinstance(source, BidsSource):
        units = {Session(s, t): files for (s, t), files in
                 session_scans(source, tuple(contrasts)).items()}
        check_under_root(source, [p for files in units.values() for p in files.values()])
    else:
        units = {Session(s): files for s, files in local_scans(source, contrasts).items()}
    chosen = set(select_subjects(sorted({u.subject for u in units}), spec, dataset))
    return {u: units[u] for u in sorted(units) if u.subject in chosen}
