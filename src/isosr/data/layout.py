"""Our BIDS-like raw layout, file-name patterns that map other layouts onto it, and the writer.

Every source ends in ``resources/datasets/{dataset}/sub-{s}/anat/sub-{s}_{contrast}.nii.gz``.
A source's own naming is described by a pattern with ``{field}`` placeholders, e.g.
``IXI{id}-{site}-{scan}-T1.nii.gz`` or ``BraTS2021_{id}/BraTS2021_{id}_t1.nii.gz``, and a
subject-label template over the same fields, e.g. ``IXI{id}``.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path

from isosr.io import InputError, load_nifti, save_nifti

DATASETS_DIR = Path("resources/datasets")
LABEL = re.compile(r"^[A-Za-z0-9]+$")
_FIELD_VALUE = "[A-Za-z0-9]+"


def raw_scan_path(dataset: str, subject: str, contrast: str) -> Path:
    """Where the raw scan of one subject and contrast lives."""
    return DATASETS_DIR / dataset / f"sub-{subject}" / "anat" / f"sub-{subject}_{contrast}.nii.gz"


def index_path(dataset: str) -> Path:
    """The index of a downloaded dataset: which archive member is which subject and contrast."""
    return DATASETS_DIR / dataset / "index.json"


def check_label(label: str, origin: str) -> str:
    """A subject label must be letters and digits only (it becomes a Snakemake wildcard)."""
    if not LABEL.match(label):
        raise InputError(f"{origin}: subject label {label!r} must consist of letters and digits")
    return label


@dataclass(frozen=True)
class NamePattern:
    """A relative path with ``{field}`` placeholders; each field matches letters and digits, and
    a field used twice must have the same value both times."""

    text: str

    def fields(self) -> list[str]:
        return [name for _, name, _, _ in string.Formatter().parse(self.text) if name]

    def regex(self) -> re.Pattern[str]:
        parts, seen = [], set()
        for literal, name, _, _ in string.Formatter().parse(self.text):
            parts.append(re.escape(literal))
            if name:
                parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>{_FIELD_VALUE})")
                seen.add(name)
        return re.compile("".join(parts))

    def glob(self) -> str:
        """The pattern as a glob (for finding candidate files cheaply)."""
        return re.sub(r"\{[^}]*\}", "*", self.text)

    def match(self, name: str) -> dict[str, str] | None:
        """The field values of ``name`` (a leading './' ignored), or None if it does not match."""
        found = self.regex().fullmatch(name.removeprefix("./"))
        return found.groupdict() if found else None


def subject_label(template: str, fields: dict[str, str], origin: str) -> str:
    """Format the subject-label template with a match's fields and check the result."""
    try:
        label = template.format(**fields)
    except KeyError as error:
        raise InputError(f"{origin}: subject label {template!r} uses field {error} that the "
                         f"file pattern does not define (it has {sorted(fields)})") from None
    return check_label(label, origin)


def split_complete(found: dict[str, dict[str, object]], contrasts: list[str]
                   ) -> tuple[list[str], dict[str, list[str]]]:
    """Subjects with every contrast (sorted), and the others with the contrasts they lack."""
    complete, lacking = [], {}
    for subject in sorted(found):
        missing = [c for c in contrasts if c not in found[subject]]
        if missing:
            lacking[subject] = missing
        else:
            complete.append(subject)
    return complete, lacking


def describe_lacking(lacking: dict[str, list[str]]) -> str:
    """'sub-05 (FLAIR), sub-09 (T2w, FLAIR)'."""
    return ", ".join(f"sub-{s} ({', '.join(c)})" for s, c in sorted(lacking.items()))


def write_scan(source: str | Path, out: str | Path) -> None:
    """Copy a NIfTI scan into the layout through nibabel (so a corrupt or non-3D file stops
    here with its name, and every raw scan is a compressed 3D float image)."""
    data, affine = load_nifti(source)
    save_nifti(out, data, affine)
