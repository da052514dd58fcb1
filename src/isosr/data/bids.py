"""The ``bids`` source: a local BIDS dataset, indexed with pybids.

Each contrast is chosen by BIDS entities (suffix, by default the contrast's own name, and
optionally acquisition, run, ceagent, reconstruction), within the selected sessions (all by
default). One benchmark subject is one BIDS subject, or, when the selected files span several
sessions, one subject-session pair labelled ``<subject>ses<session>``. Subjects that lack a
contrast are logged by name and skipped; two files for one contrast stop with the list, so the
config can pick one by acquisition or run, and so do two subjects or sessions whose labels
coincide (``sub-05/ses-a`` and ``sub-05sesa`` both make ``05sesa``), naming both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from isosr.data.layout import check_label, describe_lacking, split_complete
from isosr.io import InputError

ENTITIES = ("suffix", "acquisition", "run", "ceagent", "reconstruction")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BidsSource:
    """The bids block of one dataset."""

    dataset: str
    root: Path
    select: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]
    sessions: tuple[str, ...] | None

    @classmethod
    def from_block(cls, dataset: str, block: dict[str, Any]) -> BidsSource:
        select = tuple(sorted((c, tuple(sorted(f.items())))
                              for c, f in block.get("select", {}).items()))
        sessions = tuple(block["sessions"]) if block.get("sessions") else None
        return cls(dataset, Path(block["root"]).expanduser(), select, sessions)

    def filters(self, contrast: str) -> dict[str, Any]:
        """The BIDS entities that pick ``contrast`` (suffix defaults to its name)."""
        return {"suffix": contrast, **dict(dict(self.select).get(contrast, ()))}

    def scans(self, contrasts: list[str]) -> dict[str, dict[str, Path]]:
        """Subject label -> contrast -> file, for the subjects that have every contrast."""
        return _discover(self, tuple(contrasts))


@lru_cache(maxsize=16)
def _units(source: BidsSource, contrasts: tuple[str, ...]
           ) -> dict[tuple[str, str | None], dict[str, Path]]:
    """(subject, session or None) -> contrast -> file, for every selected session (a contrast
    it lacks is absent); two files for one contrast stop with the list."""
    layout = _layout(str(source.root))
    origin = f"datasets.{source.dataset}.bids"
    units: dict[tuple[str, str | None], dict[str, list[Path]]] = {}
    for subject in layout.get_subjects():
        for session in layout.get_sessions(subject=subject) or [None]:
            if source.sessions is None or session in source.sessions:
                units[(subject, session)] = {}
    for contrast in contrasts:
        query = {"datatype": "anat", "extension": [".nii", ".nii.gz"], **source.filters(contrast)}
        for image in layout.get(return_type="object", **query):
            entities = image.get_entities()
            unit = (entities["subject"], entities.get("session"))
            if source.sessions is None or unit[1] in source.sessions:
                units.setdefault(unit, {}).setdefault(contrast, []).append(Path(image.path))
    ambiguous = [(c, paths) for scans in units.values() for c, paths in scans.items()
                 if len(paths) > 1]
    if ambiguous:
        listing = "; ".join(f"{c}: {', '.join(map(str, sorted(paths)))}" for c, paths in ambiguous)
        raise InputError(f"{origin}: several files match one contrast ({listing}); choose one "
                         f"with {origin}.select.<contrast>.acquisition / run")
    return {unit: {c: paths[0] for c, paths in scans.items()} for unit, scans in units.items()}


def _complete(source: BidsSource, found: dict[Any, dict[str, Path]], contrasts: tuple[str, ...],
              ) -> list[Any]:
    """The keys of ``found`` that have every contrast (the others logged by name)."""
    complete, lacking = split_complete(found, list(contrasts))
    origin = f"datasets.{source.dataset}.bids"
    if lacking:
        log.warning("%s: %d of %d subject(s) lack a contrast and are skipped: %s", origin,
                    len(lacking), len(found), describe_lacking(lacking))
    if not complete:
        raise InputError(f"{origin}: no subject in {source.root} has all of {list(contrasts)} "
                         f"(entities {[source.filters(c) for c in contrasts]})")
    return complete


@lru_cache(maxsize=16)
def _discover(source: BidsSource, contrasts: tuple[str, ...]) -> dict[str, dict[str, Path]]:
    units = _units(source, contrasts)
    origin = f"datasets.{source.dataset}.bids"
    several_sessions = len({session for _, session in units} - {None}) > 1
    found: dict[str, dict[str, Path]] = {}
    given_by: dict[str, str] = {}
    for (subject, session), scans in units.items():
        label = check_label(f"{subject}ses{session}" if several_sessions and session else subject,
                            origin)
        folder = source.root / f"sub-{subject}" / (f"ses-{session}" if session else "")
        where = min(scans.values(), default=folder)
        if label in given_by:
            raise InputError(f"{origin}: {given_by[label]} and {where} both become subject "
                             f"{label!r} (a session's label is <subject>ses<session>); rename "
                             f"one, or choose sessions with {origin}.sessions")
        given_by[label] = str(where)
        found[label] = scans
    return {s: found[s] for s in _complete(source, found, contrasts)}


def session_scans(source: BidsSource, contrasts: tuple[str, ...]
                  ) -> dict[tuple[str, str | None], dict[str, Path]]:
    """(subject, session or None) -> contrast -> file, sessions kept apart (a study without
    ground truth), for the sessions that have every contrast; labels checked."""
    units = _units(source, contrasts)
    origin = f"datasets.{source.dataset}.bids"
    found = {"_ses-".join(filter(None, unit)): unit for unit in units}
    for subject, session in units:
        check_label(subject, origin)
        if session is not None:
            check_label(session, f"{origin} (session of sub-{subject})")
    return {found[key]: units[found[key]]
            for key in _complete(source, {k: units[u] for k, u in found.items()}, contrasts)}


@lru_cache(maxsize=4)
def _layout(root: str):
    """The pybids index of ``root`` (derivatives and non-BIDS folders ignored; no validation,
    so a dataset with a few non-standard files still works)."""
    from bids import BIDSLayout, BIDSLayoutIndexer  # imported here: pybids takes ~0.4 s

    if not Path(root).is_dir():
        raise InputError(f"{root}: BIDS root folder not found")
    if not (Path(root) / "dataset_description.json").is_file():
        raise InputError(f"{root}: not a BIDS dataset (it has no dataset_description.json)")
    try:
        return BIDSLayout(root, validate=False, indexer=BIDSLayoutIndexer(index_metadata=False))
    except Exception as error:  # pybids raises several unrelated types for a malformed dataset
        raise InputError(f"{root}: not a readable BIDS dataset ({error})") from error
