"""Repeated fits: the stable seed of every fit, and how repeats are named.

Each fit gets its own seed, derived from the config's ``seed``, the subject, the method and the
repeat index by SHA-256 (Python's ``hash()`` is salted per process), so seeds differ between
subjects, methods and repeats, do not depend on the scenario, the other methods or the order
of jobs, and are the same on every machine. ``repeats: N`` fits every method N times per subject
with N such seeds; repeat 0 keeps the plain ``sub-<label>`` paths, repeat r > 0 adds ``_rep-<r>``
(``sub-01_rep-2``), so a run with ``repeats: 1`` writes the same files as before repeats existed.
"""

from __future__ import annotations

import hashlib
import re

from isosr.io import InputError

_SUFFIX = re.compile(r"_rep-([1-9][0-9]*)$")
SUFFIX_PATTERN = r"(_rep-[1-9][0-9]*)?"  # wildcard constraint of the repeat suffix ('' = 0)


def stable_seed(key: int | str) -> int:
    """A stable integer seed from an int >= 0 (returned as is) or a descriptive string."""
    if isinstance(key, int):
        if key < 0:
            raise InputError(f"seed must be an integer >= 0, got {key}")
        return key
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")


def fit_seed(seed: int, subject: str, method: str, repeat: int = 0) -> int:
    """The seed of one fit: a stable hash of (config seed, subject, method, repeat), below 2^31
    so that any library (NumPy, PyTorch, external tools) accepts it."""
    return stable_seed(f"fit/{seed}/{subject}/{method}/{repeat}") % 2**31


def repeat_suffix(repeat: int) -> str:
    """'' for repeat 0, '_rep-<r>' otherwise (appended to the ``sub-<label>`` folder or file)."""
    if repeat < 0:
        raise ValueError(f"repeat index must be >= 0, got {repeat}")
    return f"_rep-{repeat}" if repeat else ""


def repeat_suffixes(repeats: int) -> list[str]:
    """The suffixes of repeats 0 .. ``repeats`` - 1."""
    return [repeat_suffix(r) for r in range(repeats)]


def repeat_index(suffix: str) -> int:
    """0 for '', r for '_rep-<r>'."""
    return split_repeat(suffix)[1]


def split_repeat(name: str) -> tuple[str, int]:
    """('sub-01', 2) from 'sub-01_rep-2', ('sub-01', 0) from 'sub-01'."""
    match = _SUFFIX.search(name)
    return (name[:match.start()], int(match.group(1))) if match else (name, 0)
