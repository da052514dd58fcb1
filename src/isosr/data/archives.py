"""Reading downloaded files: tar (any compression), zip, or a single plain file.

``check_archive`` reads every member once, so a truncated or corrupt archive is caught right
after download, before its checksum is trusted or recorded: tarfile alone treats a tar cut at a
member boundary as a shorter, valid archive, so the end-of-archive marker is checked too.
"""

from __future__ import annotations

import shutil
import tarfile
import zipfile
import zlib
from pathlib import Path

from isosr.io import InputError

_BLOCK = 512
_CHUNK = 1 << 20
_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error)


def archive_kind(path: Path) -> str:
    """'tar', 'zip' or 'file'."""
    if zipfile.is_zipfile(path):
        return "zip"
    return "tar" if tarfile.is_tarfile(path) else "file"


def member_names(path: Path) -> list[str]:
    """Names of the regular files inside ``path`` (the file's own name for a plain file)."""
    try:
        kind = archive_kind(path)
        if kind == "zip":
            with zipfile.ZipFile(path) as archive:
                return [i.filename for i in archive.infolist() if not i.is_dir()]
        if kind == "tar":
            with tarfile.open(path) as archive:
                return [m.name for m in archive if m.isfile()]
    except _ERRORS as error:
        raise InputError(f"{path}: unreadable archive ({error})") from error
    return [path.name]


def check_archive(path: Path) -> None:
    """Raise InputError if ``path`` is a truncated or corrupt tar/zip archive."""
    try:
        kind = archive_kind(path)
        if kind == "zip":
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            if bad is not None:
                raise InputError(f"{path}: corrupt zip archive (CRC error in {bad})")
        elif kind == "tar":
            _check_tar(path)
    except _ERRORS as error:
        raise InputError(f"{path}: corrupt or truncated archive ({error})") from error


def _check_tar(path: Path) -> None:
    with tarfile.open(path) as archive:
        for member in archive:
            if member.isfile():
                data = archive.extractfile(member)
                while data.read(_CHUNK):
                    pass
        archive.fileobj.seek(archive.offset)
        end = archive.fileobj.read(2 * _BLOCK)
        while archive.fileobj.read(_CHUNK):  # a compressed stream is verified to its very end
            pass
    if len(end) < 2 * _BLOCK or any(end):
        raise InputError(f"{path}: truncated tar archive (it ends without the end-of-archive "
                         "marker)")


def extract_member(path: Path, name: str, out: Path) -> None:
    """Write member ``name`` of archive ``path`` (or the plain file itself) to ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        kind = archive_kind(path)
        if kind == "file":
            shutil.copyfile(path, out)
            return
        if kind == "zip":
            with zipfile.ZipFile(path) as archive, archive.open(name) as source, \
                    open(out, "wb") as target:
                shutil.copyfileobj(source, target, _CHUNK)
            return
        with tarfile.open(path) as archive:
            source = archive.extractfile(name)
            if source is None:
                raise InputError(f"{path}: member {name} is not a regular file")
            with open(out, "wb") as target:
                shutil.copyfileobj(source, target, _CHUNK)
    except KeyError:
        raise InputError(f"{path}: has no member {name}") from None
    except _ERRORS as error:
        raise InputError(f"{path}: cannot read member {name} ({error})") from error
