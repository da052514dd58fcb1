"""Where the command line writes: never onto an input, never over an earlier result unless
asked (``--overwrite``), and a folder result (images + fit.json) as one unit or not at all."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import filelock

from isosr.io import InputError, OutputError

FIT_RECORD = "fit.json"
LOG = logging.getLogger(__name__)


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (also through links), existing or not."""
    if a.exists() and b.exists():
        return a.samefile(b)
    return a.resolve() == b.resolve()


def check_out_file(out: Path, inputs: dict[str, Path], overwrite: bool,
                   suffixes: tuple[str, ...]) -> None:
    """Refuse an --out that is a folder, one of the inputs, not named with one of ``suffixes``
    (any case: the name decides the format), or (without --overwrite) exists."""
    for option, path in inputs.items():
        if same_file(out, path):
            raise InputError(f"--out {out}: is the input {option} {path}; choose another file")
    if out.is_dir():
        raise InputError(f"--out {out}: is a folder, not a file")
    if not out.name.lower().endswith(suffixes):
        raise InputError(f"--out {out}: expected a name ending in {' or '.join(suffixes)}")
    if out.exists() and not overwrite:
        raise InputError(f"--out {out}: exists; pass --overwrite to replace it")


def check_out_dir(out_dir: Path, inputs: dict[str, Path], overwrite: bool,
                  writes: set[str]) -> list[str]:
    """Refuse an --out-dir that is a file, holds an input, holds anything but (with
    --overwrite) an earlier isosr result, or holds a file of a name the new result ``writes``
    that the earlier result did not; the names of that result's files (to be replaced)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out-dir {out_dir}: exists and is not a folder")
    cwd = Path.cwd()
    if out_dir.resolve() in (cwd, *cwd.parents):
        raise InputError(f"--out-dir {out_dir}: is the current folder or holds it; choose a new "
                         "or empty subfolder")
    for option, path in inputs.items():
        if out_dir.resolve() in Path(path).resolve().parents:
            raise InputError(f"--out-dir {out_dir}: holds the input {option} {path}; choose "
                             "another folder")
    entries = sorted(p.name for p in out_dir.iterdir()) if out_dir.is_dir() else []
    if entries and not overwrite:
        raise InputError(f"--out-dir {out_dir}: not empty ({', '.join(entries[:4])}"
                         f"{', ...' if len(entries) > 4 else ''}); pass --overwrite to replace "
                         "the result in it")
    replaced = earlier_result(out_dir) if entries else []
    foreign = sorted(writes.intersection(entries) - set(replaced))
    if foreign:
        raise InputError(f"--out-dir {out_dir}: holds {', '.join(foreign)}, which the earlier "
                         "isosr result does not list (not isosr's): the new result would "
                         "replace it; move it or choose another folder")
    return replaced


def earlier_result(out_dir: Path) -> list[str]:
    """The files of the isosr result in ``out_dir``: its fit.json (written by isosr: a record of
    the method and its contrasts) and the files it lists (``result_files``; a record without
    that list: the contrasts' images), as far as they exist. Anything else in the folder is not
    isosr's and is never replaced."""
    try:
        record = json.loads((out_dir / FIT_RECORD).read_text())
        files = record.get("result_files") or [f"{c}.nii.gz" for c in record["contrasts"]]
        method = record["method"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise InputError(f"--out-dir {out_dir}: not empty and not an isosr result (no readable "
                         f"isosr {FIT_RECORD}); --overwrite replaces only an earlier result: "
                         "choose another folder") from None
    names = {str(name) for name in files if Path(str(name)).name == str(name)} | {FIT_RECORD}
    LOG.debug("%s: earlier result of %s", out_dir, method)
    return sorted(name for name in names if (out_dir / name).is_file())


@contextmanager
def exclusive(path: Path, option: str) -> Iterator[None]:
    """Hold, for the block, the lock of the folder ``path`` that this run writes: a hidden
    ``.<name>.lock`` beside it (filelock) holding this process's id, removed at the end. A
    second run on the same folder fails at once, naming the folder and the other run's pid."""
    target = path.resolve()
    lock_path = target.parent / f".{target.name}.lock"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{option} {path}: cannot create it ({error.strerror})") from error

    def mark(descriptor: int) -> None:  # a lock file unlinked by its last holder is stale
        held, named = os.fstat(descriptor), os.stat(lock_path)  # FileNotFoundError: stale
        if (held.st_dev, held.st_ino) != (named.st_dev, named.st_ino):
            raise FileNotFoundError(lock_path)
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())

    lock = filelock.FileLock(lock_path, timeout=0, on_acquired=mark)
    try:
        lock.acquire()
    except (filelock.Timeout, FileNotFoundError):
        raise InputError(f"{option} {path}: in use by another isosr run ({_holder(lock_path)}); "
                         "wait for it to end or choose another folder") from None
    try:
        yield
    finally:
        lock_path.unlink(missing_ok=True)  # while still held: a waiting run sees it is stale
        lock.release()


def _holder(lock_path: Path) -> str:
    try:
        return f"pid {int(lock_path.read_text())}"
    except (OSError, ValueError):
        return "pid not yet recorded"


@contextmanager
def result_folder(out_dir: Path, replaced: list[str]) -> Iterator[Path]:
    """A hidden staging folder beside ``out_dir``; when the block succeeds its files replace the
    earlier result's files ``replaced`` in ``out_dir`` (a new ``out_dir``: the folder is renamed
    into place), otherwise it is removed and ``out_dir`` is unchanged."""
    target = out_dir.resolve()  # "sr/..", a link: the folder itself is written
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
        if target.is_dir():
            replace_files(staging, target, replaced)
        else:
            _move(staging, target)
    except OutputError as error:  # name the result's file, not the staging copy's
        raise OutputError(str(error).replace(str(staging), str(out_dir)) +
                          f"; {out_dir} is unchanged") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_files(staging: Path, target: Path, replaced: list[str]) -> None:
    """Move every file of ``staging`` into ``target``, after moving the earlier result's files
    ``replaced`` aside (restored if a move fails); fit.json last, so a result with its record is
    complete. Other files in ``target`` are left as they are; one the new result would replace
    is refused (``check_out_dir`` refuses it before any work; this guards the move itself)."""
    foreign = sorted(p.name for p in staging.iterdir()
                     if (target / p.name).exists() and p.name not in replaced)
    if foreign:
        raise OutputError(f"{target}: {', '.join(foreign)} appeared during the fit (not isosr's)")
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    new = sorted((p.name for p in staging.iterdir()), key=lambda name: name == FIT_RECORD)
    moved_aside: list[str] = []
    moved_in: list[str] = []
    try:
        for name in replaced:
            _move(target / name, aside / name)
            moved_aside.append(name)
        for name in new:
            _move(staging / name, target / name)
            moved_in.append(name)
    except OutputError:
        for name in moved_in:
            with suppress(OutputError):
                _move(target / name, staging / name)
        for name in moved_aside:
            with suppress(OutputError):
                _move(aside / name, target / name)
        with suppress(OSError):
            aside.rmdir()  # kept, with what it still holds, if a file could not be restored
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _move(source: Path, destination: Path) -> None:
    try:
        source.rename(destination)
    except OSError as error:
        raise OutputError(f"{destination}: cannot move the result into place "
                          f"({error.strerror})") from error
