"""Where the command line writes: never onto an input, never over an earlier result unless
asked (``--overwrite``), and a folder result (images + fit.json) as one unit or not at all."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from isosr.io import InputError, OutputError


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (also through links), existing or not."""
    if a.exists() and b.exists():
        return a.samefile(b)
    return a.resolve() == b.resolve()


def check_out_file(out: Path, inputs: dict[str, Path], overwrite: bool) -> None:
    """Refuse an --out that is a folder, one of the inputs, or (without --overwrite) exists."""
    for option, path in inputs.items():
        if same_file(out, path):
            raise InputError(f"--out {out}: is the input {option} {path}; choose another file")
    if out.is_dir():
        raise InputError(f"--out {out}: is a folder, not a file")
    if out.exists() and not overwrite:
        raise InputError(f"--out {out}: exists; pass --overwrite to replace it")


def check_out_dir(out_dir: Path, inputs: dict[str, Path], overwrite: bool) -> None:
    """Refuse an --out-dir that is a file, holds an input, or holds anything but (with
    --overwrite) an earlier result."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out-dir {out_dir}: exists and is not a folder")
    cwd = Path.cwd()
    if out_dir.resolve() in (cwd, *cwd.parents):
        raise InputError(f"--out-dir {out_dir}: is the current folder or holds it (it is replaced "
                         "as a whole); choose a new or empty subfolder")
    for option, path in inputs.items():
        if out_dir.resolve() in Path(path).resolve().parents:
            raise InputError(f"--out-dir {out_dir}: holds the input {option} {path}; choose "
                             "another folder")
    entries = sorted(p.name for p in out_dir.iterdir()) if out_dir.is_dir() else []
    if entries and not overwrite:
        raise InputError(f"--out-dir {out_dir}: not empty ({', '.join(entries[:4])}"
                         f"{', ...' if len(entries) > 4 else ''}); pass --overwrite to replace "
                         "the result in it")
    if entries and "fit.json" not in entries:
        raise InputError(f"--out-dir {out_dir}: not empty and not an isosr result (no fit.json); "
                         "--overwrite replaces only an earlier result: choose another folder")


@contextmanager
def result_folder(out_dir: Path) -> Iterator[Path]:
    """A hidden staging folder beside ``out_dir``; when the block succeeds it replaces
    ``out_dir`` (and everything in it) by a rename, otherwise it is removed."""
    target = out_dir.resolve()  # "sr/..", a link: the folder itself is replaced
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    except OSError as error:
        raise OutputError(f"--out-dir {out_dir}: cannot create it ({error.strerror})") from error
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)
    try:
        yield staging
        replace_folder(staging, target)
    except OutputError as error:  # name the result's file, not the staging copy's
        raise OutputError(str(error).replace(str(staging), str(out_dir)) +
                          f"; {out_dir} is unchanged") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_folder(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target``; an existing ``target`` is moved aside first and removed."""
    old = new.with_name(new.name.replace(".partial-", ".old-"))
    try:
        if target.exists():
            target.rename(old)
        try:
            new.rename(target)
        except OSError:
            if old.exists():
                old.rename(target)
            raise
    except OSError as error:
        raise OutputError(f"{target}: cannot move the result into place ({error.strerror})"
                          ) from error
    shutil.rmtree(old, ignore_errors=True)
