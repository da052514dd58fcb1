"""The ``http`` source: archives or files downloaded from URLs, mapped onto our layout.

A config (or preset, e.g. IXI) lists files by URL with their checksums and, per file, a name
pattern for every contrast it holds (``{T1w: "IXI{id}-{site}-{scan}-T1.nii.gz"}``) plus one
subject-label template (``IXI{id}``). The workflow downloads the files (``download.download``),
then indexes them once: every member is matched against the patterns, subjects are matched
across files by their label, and subjects that lack a contrast (or have two candidates for one)
are listed in the index and skipped. The index is what the workflow's subject list is read
from, so subjects are known without opening an archive at DAG-build time.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from isosr.data.archives import extract_member, member_names
from isosr.data.download import Download
from isosr.data.layout import (
    NamePattern,
    describe_lacking,
    split_complete,
    subject_label,
    write_scan,
)
from isosr.data.presets import with_preset
from isosr.io import InputError

DOWNLOADS_DIR = Path("resources/downloads")
FILENAME = re.compile(r"^[A-Za-z0-9._-]+$")
log = logging.getLogger(__name__)


def download_path(dataset: str, filename: str) -> Path:
    """Where a downloaded file of ``dataset`` is kept."""
    return DOWNLOADS_DIR / dataset / filename


@dataclass(frozen=True)
class HttpFile:
    """One file to download and the contrasts (by member-name pattern) it holds."""

    download: Download
    filename: str
    members: dict[str, NamePattern]


@dataclass(frozen=True)
class HttpSource:
    """The http block of one dataset, with its preset applied."""

    dataset: str
    files: tuple[HttpFile, ...]
    subject: str
    recommended: dict[str, Any]

    @classmethod
    def from_block(cls, dataset: str, block: dict[str, Any]) -> HttpSource:
        origin = f"datasets.{dataset}.http"
        merged = with_preset(block, "http", origin)
        for key in ("files", "subject"):
            if key not in merged:
                raise InputError(f"{origin}: needs {key!r} (or a preset that gives it)")
        files = tuple(_http_file(entry, f"{origin}.files[{i}]")
                      for i, entry in enumerate(merged["files"]))
        names = [f.filename for f in files]
        if len(set(names)) != len(names):
            raise InputError(f"{origin}.files: two files share a file name ({names}); set "
                             "'filename' to tell them apart")
        return cls(dataset, files, merged["subject"], dict(merged.get("recommended", {})))

    def contrasts(self) -> list[str]:
        """Every contrast some file holds."""
        return sorted({c for f in self.files for c in f.members})

    def needed_files(self, contrasts: list[str]) -> list[HttpFile]:
        """The files that hold at least one of ``contrasts`` (the others are not downloaded)."""
        return [f for f in self.files if set(f.members) & set(contrasts)]

    def file(self, filename: str) -> HttpFile:
        for candidate in self.files:
            if candidate.filename == filename:
                return candidate
        raise InputError(f"datasets.{self.dataset}.http: no file named {filename!r}")

    def build_index(self, local: dict[str, Path], contrasts: list[str]) -> dict[str, Any]:
        """Match the members of the downloaded files (filename -> path) to subjects/contrasts."""
        found: dict[str, dict[str, list[tuple[str, str]]]] = {}
        ignored = 0
        for entry in self.needed_files(contrasts):
            for name in member_names(local[entry.filename]):
                matched = False
                for contrast, pattern in entry.members.items():
                    fields = pattern.match(name) if contrast in contrasts else None
                    if fields is not None:
                        label = subject_label(self.subject, fields, f"{entry.filename}:{name}")
                        found.setdefault(label, {}).setdefault(contrast, []).append(
                            (entry.filename, name))
                        matched = True
                ignored += not matched
        ambiguous = {s: {c: v for c, v in scans.items() if len(v) > 1}
                     for s, scans in found.items()}
        ambiguous = {s: v for s, v in ambiguous.items() if v}
        unique = {s: {c: v[0] for c, v in scans.items()} for s, scans in found.items()
                  if s not in ambiguous}
        complete, lacking = split_complete(unique, contrasts)
        skipped = {s: f"lacks {', '.join(c)}" for s, c in lacking.items()}
        skipped.update({s: "several files for " + "; ".join(
            f"{c}: {', '.join(m for _, m in v)}" for c, v in sorted(cands.items()))
            for s, cands in ambiguous.items()})
        if lacking:
            log.warning("%s: %d subject(s) lack a contrast and are skipped: %s", self.dataset,
                        len(lacking), describe_lacking(lacking))
        for subject, reason in sorted(skipped.items()):
            if subject in ambiguous:
                log.warning("%s: sub-%s is skipped: %s", self.dataset, subject, reason)
        log.info("%s: %d complete subject(s) with %s; %d member(s) match no pattern",
                 self.dataset, len(complete), contrasts, ignored)
        if not complete:
            raise InputError(f"datasets.{self.dataset}: no subject has all of {contrasts} in "
                             f"{sorted(local)}; check the member patterns")
        scans = {s: {c: {"file": f, "member": m} for c, (f, m) in unique[s].items()}
                 for s in complete}
        return {"dataset": self.dataset, "contrasts": list(contrasts), "subjects": complete,
                "scans": scans, "skipped": dict(sorted(skipped.items()))}


def _http_file(entry: dict[str, Any], origin: str) -> HttpFile:
    if "url" not in entry or not entry.get("members"):
        raise InputError(f"{origin}: needs 'url' and 'members' (contrast -> file-name pattern)")
    filename = entry.get("filename") or PurePosixPath(urlparse(entry["url"]).path).name
    if not FILENAME.match(filename):
        raise InputError(f"{origin}: cannot use {filename!r} (from {entry['url']!r}) as a file "
                         "name; set 'filename' (letters, digits, '.', '_', '-')")
    return HttpFile(Download(entry["url"], entry.get("sha256"), entry.get("md5")), filename,
                    {c: NamePattern(p) for c, p in entry["members"].items()})


def read_index(path: str | Path) -> dict[str, Any]:
    """The index written after download, with a clear error when it is missing or damaged."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: the subjects of this downloaded dataset are listed here once "
                         "its files are downloaded and indexed (rule index_download); run the "
                         "workflow, which does that first")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: damaged index ({error}); delete it to rebuild it") from error


def subjects_in_index(index: dict[str, Any], contrasts: list[str], path: str | Path) -> list[str]:
    """The indexed subjects that have every one of ``contrasts``."""
    if not set(contrasts) <= set(index["contrasts"]):
        raise InputError(f"{path}: indexed for {index['contrasts']}, not {contrasts}; delete it "
                         "to index the downloads again")
    return sorted(s for s, scans in index["scans"].items() if set(contrasts) <= set(scans))


def extract_scan(index: dict[str, Any], dataset: str, subject: str, contrast: str,
                 out: str | Path) -> None:
    """Write the raw scan of ``subject``/``contrast`` from its downloaded archive."""
    entry = index["scans"].get(subject, {}).get(contrast)
    if entry is None:
        raise InputError(f"datasets.{dataset}: sub-{subject} has no {contrast} in the index "
                         f"({index['skipped'].get(subject, 'not in the downloaded files')})")
    out = Path(out)
    member = out.with_name(f".{out.name}.{PurePosixPath(entry['member']).name}")
    extract_member(download_path(dataset, entry["file"]), entry["member"], member)
    try:
        write_scan(member, out)
    finally:
        member.unlink(missing_ok=True)
