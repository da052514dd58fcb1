"""Streaming HTTP downloads that survive interruptions and verify what they fetched.

A file is streamed (requests) into ``<dest>.part``; an interrupted transfer keeps the part file
and the next attempt resumes it with an HTTP Range request. The finished file is checked (its
size against Content-Length, an optional content check such as "is this a complete tar", its
sha256 and md5 against the published or locked values) and only then renamed to ``dest``, so a
file at ``dest`` is always a verified one. A file that fails a check is kept as
``<dest>.rejected`` for inspection; nothing verified is ever deleted or overwritten. Where the
publisher gives no sha256, the first download's is recorded in the lock file and later downloads
must match it.

requests has no resume or verification of its own, hence this module.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
import urllib3
from tqdm import tqdm

from isosr.data.lockfile import ChecksumLock
from isosr.io import InputError

CHUNK_BYTES = 1 << 20
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Download:
    """Where to get a file and how to recognise it."""

    url: str
    sha256: str | None = None
    md5: str | None = None


@dataclass(frozen=True)
class Fetched:
    """A downloaded file: its path, sha256, size, and what its checksum was checked against
    (config, lock file, recorded now, or no checksum)."""

    path: Path
    sha256: str
    size: int
    verified_by: str


class _Interrupted(Exception):
    """The transfer stopped early; the part file is kept for resuming."""


def download(source: Download, dest: str | Path, lock: ChecksumLock | None = None,
             check: Callable[[Path], None] | None = None, retries: int = 3,
             backoff_seconds: float = 2.0, timeout_seconds: float = 60.0) -> Fetched:
    """Download ``source`` to ``dest`` (resuming, verifying, atomic); return what was verified.

    ``check(path)`` raises InputError when the content is unusable (e.g. a truncated archive).
    An interrupted transfer is resumed up to ``retries`` times; after that the part file stays
    and the error says to run again. A URL that is not http(s) is refused before anything is
    written.
    """
    check_url(source.url)
    dest = Path(dest)
    locked = lock.get(source.url) if lock else None
    expected = source.sha256 or (locked.sha256 if locked else None)
    verified_by = ("config" if source.sha256 else "lock file" if locked
                   else "recorded now" if lock else "no checksum")
    if dest.is_file():
        return _verify_existing(source, dest, expected, verified_by)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        try:
            _transfer(source.url, part, timeout_seconds)
            break
        except _Interrupted as error:
            if attempt == retries:
                raise _failure(source.url, part, error) from None
            log.warning("%s: %s; resuming (attempt %d of %d)", source.url, error, attempt + 2,
                        retries + 1)
            time.sleep(backoff_seconds * 2**attempt)
    digest = _verify(source, part, dest, expected, check)
    part.replace(dest)
    if expected is None and lock is not None:
        lock.record(source.url, digest, _size(dest))
    log.info("%s: %d bytes, sha256 %s (verified by %s) -> %s", source.url, _size(dest), digest,
             verified_by, dest)
    return Fetched(dest, digest, _size(dest), verified_by)


def check_url(url: str) -> None:
    """InputError unless ``url`` is an http(s) URL with a host (the only ones downloaded)."""
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise InputError(f"{url}: not a valid URL ({error})") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InputError(f"{url}: not an http(s) URL; isosr downloads over http and https only")


def _failure(url: str, part: Path, error: _Interrupted) -> InputError:
    if _size(part) == 0:
        return InputError(f"{url}: download failed ({error}); check the network connection "
                          "(offline?) and run again")
    return InputError(f"{url}: download interrupted ({error}); the {_size(part)} bytes received "
                      f"are kept in {part}: run again to resume")


def file_digests(path: Path) -> tuple[str, str]:
    """(sha256, md5) hex digests of a file, read once."""
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            sha256.update(chunk)
            md5.update(chunk)
    return sha256.hexdigest(), md5.hexdigest()


def _verify_existing(source: Download, dest: Path, expected: str | None,
                     verified_by: str) -> Fetched:
    """A file already at ``dest`` must still match its checksum (it is never replaced)."""
    digest, _ = file_digests(dest)
    if expected is not None and digest != expected:
        raise InputError(f"{dest} (from {source.url}): sha256 {digest} does not match the "
                         f"expected {expected} ({verified_by}); the file was changed after "
                         "download: move it away to download it again")
    return Fetched(dest, digest, _size(dest), verified_by if expected else "unverified")


def _verify(source: Download, part: Path, dest: Path, expected: str | None,
            check: Callable[[Path], None] | None) -> str:
    """Checksums and content check of a finished transfer; a failure keeps it as .rejected."""
    digest, md5 = file_digests(part)
    problems = []
    if expected is not None and digest != expected:
        problems.append(f"sha256 {digest} does not match the expected {expected}")
    if source.md5 is not None and md5 != source.md5:
        problems.append(f"md5 {md5} does not match the expected {source.md5}")
    if not problems and check is not None:
        try:
            check(part)
        except InputError as error:
            problems.append(str(error))
    if problems:
        rejected = dest.with_name(dest.name + ".rejected")
        part.replace(rejected)
        raise InputError(f"{source.url}: {'; '.join(problems)}. The download is kept as "
                         f"{rejected} for inspection; {dest} was not written")
    return digest


def _transfer(url: str, part: Path, timeout_seconds: float) -> None:
    """Stream ``url`` into ``part``, continuing from its current size when the server allows."""
    offset = _size(part)
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        with requests.get(url, stream=True, timeout=timeout_seconds, headers=headers) as response:
            if response.status_code == 416:  # nothing left after offset: complete, or stale
                if _content_range_total(response) == offset:
                    return
                part.unlink()
                raise _Interrupted("the server refused to resume; starting over")
            if response.status_code == 404:
                raise InputError(f"{url}: not found (HTTP 404); check the URL in the config "
                                 "or preset")
            if response.status_code >= 400:
                raise InputError(f"{url}: HTTP {response.status_code} {response.reason}")
            resumed = offset > 0 and response.status_code == 206
            if offset and not resumed:
                log.warning("%s: the server ignores Range requests; starting over", url)
                offset = 0
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length is not None else None
            part.parent.mkdir(parents=True, exist_ok=True)
            with open(part, "ab" if resumed else "wb") as handle, tqdm(
                    total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                    desc=part.name.removesuffix(".part"), mininterval=1.0) as bar:
                # raw bytes as published (no Content-Encoding decoding: checksums and Range
                # offsets refer to them); read1 hands over what arrived, so a dropped
                # connection loses nothing that was received
                while chunk := response.raw.read1(CHUNK_BYTES, decode_content=False):
                    handle.write(chunk)
                    bar.update(len(chunk))
    except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
            requests.exceptions.MissingSchema, requests.exceptions.InvalidHeader) as error:
        raise InputError(f"{url}: not a URL requests can fetch ({error})") from None
    except (requests.ConnectionError, requests.Timeout, urllib3.exceptions.HTTPError) as error:
        raise _Interrupted(f"{type(error).__name__}: {error}") from None
    if total is not None and _size(part) != total:
        raise _Interrupted(f"received {_size(part)} of {total} bytes")


def _content_range_total(response: requests.Response) -> int | None:
    """N of a 'Content-Range: bytes */N' header."""
    total = response.headers.get("Content-Range", "").rpartition("/")[2]
    return int(total) if total.isdigit() else None


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0
