"""Registration templates. MNI152 (ICBM 2009c symmetric) ships inside nilearn, so it works offline."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from isosr.io import InputError

_NILEARN_FILES = {
    "T1w": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "GM": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "WM": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}
TEMPLATES = ("MNI152",)


def mni152_file(kind: str = "T1w") -> Path:
    """Path of the ICBM152 2009 T1w image or GM/WM probability map inside the nilearn package."""
    if kind not in _NILEARN_FILES:
        raise InputError(f"unknown MNI152 image {kind!r}; choose one of {sorted(_NILEARN_FILES)}")
    path = Path(str(resources.files("nilearn.datasets") / "data" / _NILEARN_FILES[kind]))
    if not path.is_file():
        raise InputError(f"{path}: the MNI152 template is missing from the nilearn package; "
                         "reinstall nilearn 0.13.x")
    return path


def template_file(name: str) -> Path:
    """The T1w image of registration template ``name``."""
    if name == "MNI152":
        return mni152_file("T1w")
    raise InputError(f"unknown template {name!r}; choose one of {list(TEMPLATES)}")
