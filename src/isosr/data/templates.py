"""Registration templates: MNI152 (inside nilearn, offline) and SRI24 (downloaded once).

- MNI152: the ICBM 2009c symmetric T1w template shipped in the nilearn package.
- SRI24: the skull-stripped T1w (``spgr.nii``, 240x240x155 at 1 mm) of the SRI24 atlas
  (Rohlfing et al., Hum Brain Mapp 31:798, 2010; CC BY-SA 3.0), the space BraTS data are
  delivered in. NITRC publishes no checksum; the sha256 and size below were measured on the
  archive downloaded from NITRC on 2026-08-16 (a record in a public BraTS/SRI24 analysis repo),
  and the download is verified against them. It is stored, squeezed to 3D, at
  ``resources/templates/SRI24_T1w.nii.gz``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path, PurePosixPath

import nibabel as nib
import numpy as np

from isosr.data.archives import check_archive, extract_member, member_names
from isosr.data.download import Download, download
from isosr.data.layout import write_scan
from isosr.data.lockfile import ChecksumLock
from isosr.io import InputError

_NILEARN_FILES = {
    "T1w": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "GM": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "WM": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}
TEMPLATES = ("MNI152", "SRI24")
DOWNLOADED_TEMPLATES = ("SRI24",)
TEMPLATES_DIR = Path("resources/templates")
SRI24_ARCHIVE = Download(
    url="https://www.nitrc.org/frs/download.php/4499/sri24_anatomy_nifti.zip",
    sha256="c2a66abd5bb37ba443b935ef4732a3e3a2f34ca57bedcdac6cf5902b50f013b6",
)
SRI24_MEMBER = "spgr.nii"
SRI24_FIELD_OF_VIEW_MM = (240.0, 240.0, 155.0)  # 240x240x155 voxels of 1 mm


def mni152_file(kind: str = "T1w") -> Path:
    """Path of the ICBM152 2009 T1w image or GM/WM probability map inside the nilearn package."""
    if kind not in _NILEARN_FILES:
        raise InputError(f"unknown MNI152 image {kind!r}; choose one of {sorted(_NILEARN_FILES)}")
    path = Path(str(resources.files("nilearn.datasets") / "data" / _NILEARN_FILES[kind]))
    if not path.is_file():
        raise InputError(f"{path}: the MNI152 template is missing from the nilearn package; "
                         "reinstall nilearn 0.13.x")
    return path


def downloaded_template(name: str) -> Path:
    """Where a downloaded template is stored (the workflow's fetch_template target)."""
    return TEMPLATES_DIR / f"{name}_T1w.nii.gz"


def template_file(name: str) -> Path:
    """The T1w image of registration template ``name``."""
    if name == "MNI152":
        return mni152_file("T1w")
    if name == "SRI24":
        path = downloaded_template(name)
        if not path.is_file():
            raise InputError(f"{path}: the SRI24 template is not downloaded yet; the workflow "
                             "fetches it (rule fetch_template, needs internet once)")
        return path
    raise InputError(f"unknown template {name!r}; choose one of {list(TEMPLATES)}")


def field_of_view_mm(name: str) -> tuple[float, float, float]:
    """Extent (mm) of template ``name``'s image, known before a downloaded one is fetched."""
    if name == "SRI24":
        return SRI24_FIELD_OF_VIEW_MM
    header = nib.load(template_file(name)).header
    extent = np.multiply(header.get_data_shape()[:3], header.get_zooms()[:3])
    return tuple(float(x) for x in extent)


def fetch_sri24(out: str | Path, downloads: str | Path, lock: ChecksumLock | None = None,
                source: Download = SRI24_ARCHIVE) -> None:
    """Download the SRI24 anatomy archive (verified) and write its T1w image to ``out``."""
    archive = Path(downloads) / PurePosixPath(source.url).name
    download(source, archive, lock=lock, check=_check_sri24)
    member = _t1w_member(archive)
    out = Path(out)
    extracted = out.with_name(f".{out.name}.{SRI24_MEMBER}")
    extract_member(archive, member, extracted)
    try:
        write_scan(extracted, out)
    finally:
        extracted.unlink(missing_ok=True)


def _t1w_member(path: Path) -> str:
    for name in member_names(path):
        if PurePosixPath(name).name == SRI24_MEMBER:
            return name
    raise InputError(f"{path}: the SRI24 archive has no {SRI24_MEMBER}")


def _check_sri24(path: Path) -> None:
    check_archive(path)
    _t1w_member(path)
