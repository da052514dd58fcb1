"""isosr's outputs as a BIDS derivatives dataset (BIDS 1.9), so the next tool can read them.

    <root>/dataset_description.json     DatasetType derivative; GeneratedBy isosr with its version
                                        and, in its Description, the sha256 of the workflow config
                                        (BIDS defines no GeneratedBy key for it); DatasetLinks
                                        "raw" and SourceDatasets when the raw dataset's URI is given
    <root>/sub-<s>/[ses-<t>/]anat/sub-<s>[_ses-<t>]_desc-<method>_<suffix>.nii.gz (+ .json)

``desc`` is the method's BIDS label: its registry name without the characters a BIDS label may
not hold ('inr-splithead' -> 'inrsplithead'); two methods that would share one are refused. A
sidecar holds BIDS' ``Sources`` (``bids:raw:`` URIs of the acquired scans, relative to the raw
dataset's root) and ``Description``, and isosr's own record under the key ``isosr``: method,
profile, parameters, seed, device, wall time, and whatever the caller adds (the told acquisition,
quality control).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from isosr import __version__
from isosr.io import InputError, save_json, save_text

DERIVATIVES_NAME = "isosr"
BIDS_VERSION = "1.9.0"  # of every dataset isosr writes
README = """Super-resolved images of {source} written by isosr {version}.

Each image sub-<s>[_ses-<t>]_desc-<method>_<contrast>.nii.gz is one method's isotropic estimate
from the session's acquired thick-slice stacks, on the session's output grid; its JSON sidecar
names the scans it came from, the method's settings and cost, the acquisition it was told and
its quality control without ground truth (data consistency, inter-contrast MI). The HTML file
sub-<s>[_ses-<t>].html at this root is the session's quality report.
"""
NOT_IN_A_LABEL = re.compile(r"[^A-Za-z0-9]")


def desc_label(method: str) -> str:
    """The BIDS ``desc`` label of a method: its name's letters and digits."""
    label = NOT_IN_A_LABEL.sub("", method)
    if not label:
        raise InputError(f"method {method!r}: its name has no letters or digits for a BIDS label")
    return label


def check_desc_labels(methods: Iterable[str]) -> None:
    """InputError naming two methods whose BIDS labels coincide."""
    seen: dict[str, str] = {}
    for method in methods:
        label = desc_label(method)
        if label in seen:
            raise InputError(f"methods {seen[label]!r} and {method!r} both become BIDS label "
                             f"desc-{label}; rename one")
        seen[label] = method


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 of the config as canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def dataset_description(config: Mapping[str, Any], source_name: str,
                        source_uri: str | None = None) -> dict[str, Any]:
    """The derivatives' dataset_description.json (GeneratedBy: isosr, version, config hash).

    ``source_uri``: where the raw dataset is (a URI, or a path relative to the derivatives'
    root); BIDS requires it, as DatasetLinks "raw", for the sidecars' ``bids:raw:`` Sources."""
    description: dict[str, Any] = {
        "Name": f"isosr super-resolution of {source_name}", "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "isosr", "Version": __version__,
                         "Description": f"isosr workflow; config sha256 {config_hash(config)}"}]}
    if source_uri is not None:
        description["DatasetLinks"] = {"raw": source_uri}
        description["SourceDatasets"] = [{"URL": source_uri}]
    return description


def write_dataset_description(path: str | Path, config: Mapping[str, Any], source_name: str,
                              source_uri: str | None = None) -> None:
    """dataset_description.json at ``path``, with the README beside it and a .bidsignore for
    the session reports (HTML at the root, as the NiPreps write theirs)."""
    path = Path(path)
    save_text(path.with_name("README"), README.format(source=source_name, version=__version__))
    save_text(path.with_name(".bidsignore"), "*.html\n")
    save_json(path, dataset_description(config, source_name, source_uri))


def derivative_path(root: str | Path, subject: str, session: str | None, method: str,
                    contrast: str, extension: str = ".nii.gz") -> Path:
    """root/sub-<s>/[ses-<t>/]anat/sub-<s>[_ses-<t>]_desc-<label>_<contrast><extension>."""
    folder = Path(root) / f"sub-{subject}" / (f"ses-{session}" if session else "") / "anat"
    entities = f"sub-{subject}" + (f"_ses-{session}" if session else "")
    return folder / f"{entities}_desc-{desc_label(method)}_{contrast}{extension}"


def sidecar(*, sources: Sequence[str], method: str, profile: str | None,
            parameters: Mapping[str, Any], seed: int, device: str, wall_seconds: float,
            skull_stripped: bool, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A derivative image's sidecar: ``sources`` are paths inside the raw BIDS dataset;
    ``skull_stripped``: whether the image is zero outside the brain (BIDS requires the key)."""
    return {"Sources": [f"bids:raw:{source}" for source in sources],
            "SkullStripped": skull_stripped,
            "Description": f"super-resolved by isosr method {method}"
                           + (f" (profile {profile})" if profile else ""),
            "isosr": {"method": method, "profile": profile, "parameters": dict(parameters),
                      "seed": seed, "device": device, "wall_seconds": wall_seconds,
                      **dict(extra or {})}}


def strict_json(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, inf: not JSON) replaced by None."""
    if isinstance(value, Mapping):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_sidecar(image_path: str | Path, payload: Mapping[str, Any]) -> None:
    """The JSON beside a derivative image (strict JSON: a non-finite number, e.g. a metric not
    computed, becomes null), written atomically."""
    image = Path(image_path)
    save_json(image.with_name(image.name.removesuffix(".nii.gz") + ".json"),
              strict_json(dict(payload)))
