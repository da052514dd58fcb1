"""The ``manual`` source: datasets behind a data-use agreement, placed by hand.

isosr cannot download BraTS, MSSEG or HCP; their preset says where each file must be (a name
pattern per contrast under the configured ``root``) and how to obtain it. Discovery is a glob
under ``root`` (a pattern is relative to it, without ``..``); if the folder is missing, empty,
or any subject lacks one of the configured contrasts, the workflow stops with the missing files
and the preset's exact steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from isosr.data.layout import NamePattern, split_complete, subject_label
from isosr.data.presets import with_preset
from isosr.io import InputError

_LISTED = 10


@dataclass(frozen=True)
class ManualSource:
    """The manual block of one dataset, with its preset applied."""

    dataset: str
    root: Path
    files: tuple[tuple[str, NamePattern], ...]
    subject: str
    instructions: str
    recommended: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def from_block(cls, dataset: str, block: dict[str, Any]) -> ManualSource:
        origin = f"datasets.{dataset}.manual"
        merged = with_preset(block, "manual", origin)
        for key in ("root", "files", "subject"):
            if key not in merged:
                raise InputError(f"{origin}: needs {key!r} (or a preset that gives it)")
        root = Path(merged["root"]).expanduser()
        instructions = merged.get("instructions", "Place the files as the patterns say.")
        return cls(dataset, root, tuple(sorted((c, _pattern(p, f"{origin}.files.{c}"))
                                               for c, p in merged["files"].items())),
                   merged["subject"],
                   instructions.replace("{root}", str(root)).replace("{dataset}", dataset),
                   dict(merged.get("recommended", {})))

    def contrasts(self) -> list[str]:
        return [c for c, _ in self.files]

    def scans(self, contrasts: list[str]) -> dict[str, dict[str, Path]]:
        """Subject label -> contrast -> file; InputError with instructions if any is missing."""
        return _discover(self, tuple(contrasts))

    def missing(self, message: str) -> InputError:
        return InputError(f"datasets.{self.dataset} ({self.root}): {message}\n"
                          f"How to obtain and place the data:\n{self.instructions}")


@lru_cache(maxsize=16)
def _discover(source: ManualSource, contrasts: tuple[str, ...]) -> dict[str, dict[str, Path]]:
    if not source.root.is_dir():
        raise source.missing(f"the folder {source.root} does not exist")
    patterns = dict(source.files)
    found: dict[str, dict[str, Path]] = {}
    fields_of: dict[str, dict[str, str]] = {}
    for contrast in contrasts:
        for path in sorted(source.root.glob(patterns[contrast].glob())):
            fields = patterns[contrast].match(path.relative_to(source.root).as_posix())
            if fields is not None:
                label = subject_label(source.subject, fields, str(path))
                earlier = found.setdefault(label, {}).get(contrast)
                if earlier is not None:
                    raise InputError(f"datasets.{source.dataset}.manual.subject: {earlier} and "
                                     f"{path} both become subject {label!r}'s {contrast} (label "
                                     f"{source.subject!r}); use every field that tells them "
                                     "apart in the label")
                found[label][contrast] = path
                fields_of[label] = fields
    if not found:
        expected = [str(source.root / patterns[c].text) for c in contrasts]
        raise source.missing(f"no files found; expected files like {expected}")
    complete, lacking = split_complete(found, list(contrasts))
    if lacking:
        absent = [str(source.root / _expected(patterns[c], fields_of[s]))
                  for s, missing in sorted(lacking.items()) for c in missing]
        more = f" and {len(absent) - _LISTED} more" if len(absent) > _LISTED else ""
        raise source.missing(f"{len(absent)} expected file(s) are missing: "
                             f"{', '.join(absent[:_LISTED])}{more}")
    return {s: found[s] for s in complete}


def _expected(pattern: NamePattern, fields: dict[str, str]) -> str:
    """The path ``pattern`` gives for a subject's fields (the pattern itself if it needs more)."""
    try:
        return pattern.text.format(**fields)
    except KeyError:
        return pattern.text


def _pattern(text: str, key: str) -> NamePattern:
    """The file pattern at config ``key``: a path relative to the root that stays under it."""
    parts = PurePosixPath(text).parts
    if not parts:
        raise InputError(f"{key}: the pattern {text!r} names no file")
    if PurePosixPath(text).is_absolute():
        raise InputError(f"{key}: the pattern {text!r} is absolute; give it relative to the "
                         "dataset's root")
    if ".." in parts:
        raise InputError(f"{key}: the pattern {text!r} leaves the dataset's root ('..'); only "
                         "files under the root are read")
    return NamePattern(text)
