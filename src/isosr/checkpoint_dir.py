"""Checkpoint folders that isosr owns: created by it, marked as its own, and emptied of its own
files only.

A fit or training checkpoints into a folder (resumed when a killed run is started again) and
removes it once its results are written. So that a mistyped ``--checkpoint-dir`` can never
delete a user's folder, isosr only uses a folder that does not exist yet (it creates it, with the
marker file ``MARKER``) or one it created earlier (that has the marker); any other existing path
is refused before any work. At the end only isosr's own files are removed (the marker, every
``STATE_FILE`` and its partial copy, and the folders that held them once empty); a folder that
still holds anything else is kept, with a warning naming what is left.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from isosr.io import InputError

MARKER = ".isosr-checkpoint"
STATE_FILE = "state.pt"
OWN_FILES = (MARKER, STATE_FILE, f".{STATE_FILE}.partial")

LOG = logging.getLogger(__name__)


def check_checkpoint_dir(path: Path, option: str) -> None:
    """Refuse an existing ``path`` that is not an isosr checkpoint folder (naming ``option``)."""
    if not (path.exists() or path.is_symlink()):
        return
    if path.is_symlink() or not path.is_dir():
        raise InputError(f"{option} {path}: exists and is not a folder isosr created; give a new "
                         "path (isosr creates the folder and removes it when the run ends)")
    if not (path / MARKER).is_file():
        raise InputError(f"{option} {path}: an existing folder that is not an isosr checkpoint "
                         f"folder (no {MARKER} in it); isosr removes its checkpoint folder when "
                         "the run ends, so give a new path")


def claim_checkpoint_dir(path: Path, option: str = "checkpoint_dir") -> Path:
    """Create ``path`` as an isosr checkpoint folder, or accept the one an earlier (killed) run
    created; anything else is refused (see ``check_checkpoint_dir``)."""
    check_checkpoint_dir(path, option)
    if not path.exists():
        try:
            path.mkdir(parents=True)
        except FileExistsError:  # created at this moment by a concurrent run: check it again
            check_checkpoint_dir(path, option)
        except OSError as error:
            raise InputError(f"{option} {path}: cannot create it ({error.strerror})") from error
        (path / MARKER).write_text(json.dumps({"created_by": "isosr", "pid": os.getpid()}) + "\n")
    return path


def remove_checkpoint_dir(path: Path) -> None:
    """Remove isosr's own files from the checkpoint folder ``path`` and every folder they leave
    empty; keep anything else (logged)."""
    if not (path / MARKER).is_file():
        return
    for folder, _, files in sorted(os.walk(path), key=lambda entry: -len(entry[0])):
        held_state = False
        for name in files:
            if name in OWN_FILES:
                held_state = held_state or name != MARKER
                Path(folder, name).unlink(missing_ok=True)
        if (held_state or Path(folder) == path) and not any(Path(folder).iterdir()):
            Path(folder).rmdir()
    if path.exists():
        left = sorted(str(p.relative_to(path)) for p in path.rglob("*"))
        LOG.warning("%s: kept, as it holds files isosr did not write: %s", path,
                    ", ".join(left[:5]) + (", ..." if len(left) > 5 else ""))


@contextmanager
def checkpoint_folder(path: Path | None) -> Iterator[None]:
    """Claim ``path`` (None: no checkpoints) for the block; afterwards remove isosr's files from
    it, or, if the block failed, only a folder holding no checkpoint to resume from."""
    if path is None:
        yield
        return
    claim_checkpoint_dir(path)
    try:
        yield
    except BaseException:
        if not any(path.rglob(STATE_FILE)):
            remove_checkpoint_dir(path)
        raise
    remove_checkpoint_dir(path)
