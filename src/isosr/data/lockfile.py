"""Checksums recorded on first download, for files whose publisher gives none.

The lock file (``isosr.lock.yaml`` next to the workflow config) maps a URL to the sha256 and
size of the file first downloaded from it; every later download of that URL must match. Commit
it with the config and a rerun on another machine fetches bit-identical data, or stops.
Concurrent downloads update it under an exclusive ``fcntl`` lock and an atomic rename.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from isosr.io import InputError

LOCK_FILE_NAME = "isosr.lock.yaml"
_HEADER = ("# Checksums recorded by isosr on the first download of files whose publisher gives "
           "none.\n# Every later download must match them. Commit this file with your config.\n")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recorded:
    """The checksum and size of one URL's file as first downloaded."""

    sha256: str
    size: int


@dataclass(frozen=True)
class ChecksumLock:
    """The lock file at ``path`` (created on the first record)."""

    path: Path

    @classmethod
    def next_to(cls, config_file: str | Path) -> ChecksumLock:
        """The lock file in the directory of ``config_file``."""
        return cls(Path(config_file).resolve().parent / LOCK_FILE_NAME)

    def get(self, url: str) -> Recorded | None:
        """The recorded checksum of ``url``, or None."""
        entry = self._read().get(url)
        return None if entry is None else Recorded(entry["sha256"], int(entry["size"]))

    def record(self, url: str, sha256: str, size: int) -> None:
        """Record the checksum of ``url``; refuse to overwrite a different one."""
        with self._exclusive():
            entries = self._read()
            known = entries.get(url)
            if known is not None and known["sha256"] != sha256:
                raise InputError(f"{self.path}: {url} is locked to sha256 {known['sha256']}, "
                                 f"refusing to record {sha256}")
            entries[url] = {"sha256": sha256, "size": size,
                            "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            partial = self.path.with_name(f".{self.path.name}.partial")
            partial.write_text(_HEADER + yaml.safe_dump(entries, sort_keys=True))
            partial.replace(self.path)
        log.info("recorded sha256 %s of %s in %s (the publisher gives no checksum; later "
                 "downloads are verified against it)", sha256, url, self.path)

    def _read(self) -> dict[str, dict]:
        if not self.path.is_file():
            return {}
        try:
            entries = yaml.safe_load(self.path.read_text()) or {}
        except yaml.YAMLError as error:
            raise InputError(f"{self.path}: not a valid lock file ({error})") from error
        if not isinstance(entries, dict) or not all(
                isinstance(v, dict) and "sha256" in v and "size" in v for v in entries.values()):
            raise InputError(f"{self.path}: expected a mapping URL -> {{sha256, size}}")
        return entries

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(f".{self.path.name}.flock"), "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
