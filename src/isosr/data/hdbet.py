"""HD-BET 2.x parameters: where they live and how to fetch them once.

HD-BET 2.0.1 looks for its network parameters in ``~/hd-bet_params/release_2.0.0`` (no option
changes that) and downloads them from Zenodo on first use. isosr keeps them in a configurable
``weights_dir`` instead, with the same layout below it (``hd-bet_params/release_2.0.0/``), and
runs HD-BET with HOME pointing there; the workflow fetches them in a rule of their own (online,
once), so a skull-stripping job never needs the internet. Zenodo's archive has no published
sha256: the first download's is recorded in the lock file.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from isosr.data.archives import check_archive
from isosr.data.download import Download, download
from isosr.data.lockfile import ChecksumLock
from isosr.io import InputError

HDBET_PARAMETERS = Download(
    url="https://zenodo.org/records/14445620/files/release_v1.5.0.zip?download=1")
PARAMETERS_SUBDIR = Path("hd-bet_params") / "release_2.0.0"
CHECKPOINT = Path("fold_all") / "checkpoint_final.pth"


def parameters_dir(weights_dir: str | Path) -> Path:
    """The folder HD-BET reads when HOME is ``weights_dir``."""
    return Path(weights_dir).expanduser() / PARAMETERS_SUBDIR


def checkpoint_file(weights_dir: str | Path) -> Path:
    """The file whose presence means the parameters are installed (HD-BET checks the same)."""
    return parameters_dir(weights_dir) / CHECKPOINT


def missing_parameters_message(weights_dir: str | Path) -> str:
    """What to do when the parameters are not installed (e.g. on an offline node)."""
    return (f"HD-BET parameters not found at {checkpoint_file(weights_dir)}. Fetch them once "
            f"with internet access: `snakemake --cores 1 {checkpoint_file(weights_dir)}` (rule "
            f"fetch_hdbet_parameters), or download {HDBET_PARAMETERS.url} and unzip it into "
            f"{parameters_dir(weights_dir)}")


def fetch_parameters(weights_dir: str | Path, lock: ChecksumLock | None = None,
                     source: Download = HDBET_PARAMETERS) -> Path:
    """Download (verified) and unpack the HD-BET parameters below ``weights_dir``."""
    weights_dir = Path(weights_dir).expanduser()
    if checkpoint_file(weights_dir).is_file():
        return checkpoint_file(weights_dir)
    archive = weights_dir / PurePosixPath(urlparse(source.url).path).name
    download(source, archive, lock=lock, check=check_archive)
    target = parameters_dir(weights_dir)
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(archive) as unpacked:
        unpacked.extractall(partial)
    if not (partial / CHECKPOINT).is_file():
        shutil.rmtree(partial)
        raise InputError(f"{archive}: unexpected HD-BET archive layout (no {CHECKPOINT})")
    shutil.rmtree(target, ignore_errors=True)  # an incomplete earlier unpacking, if any
    partial.replace(target)
    return checkpoint_file(weights_dir)
