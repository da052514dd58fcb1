"""Downloads against a real HTTP server on 127.0.0.1: success, resume, checksums, errors."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import socket
import tarfile

import pytest
import yaml
from http_server import Site, serve

from isosr.data.archives import check_archive
from isosr.data.download import Download, download
from isosr.data.lockfile import LOCK_FILE_NAME, ChecksumLock
from isosr.io import InputError


def tar_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


ARCHIVE = tar_bytes({f"member{i}.bin": os.urandom(40_000) for i in range(5)})
OTHER = tar_bytes({"other.bin": os.urandom(30_000)})


@pytest.fixture()
def site():
    with serve(Site(files={"data/archive.tar": ARCHIVE, "data/other.tar": OTHER})) as running:
        yield running


def test_download_verifies_and_moves_atomically(site, tmp_path):
    dest = tmp_path / "archive.tar"
    fetched = download(Download(site.url("data/archive.tar"), sha256(ARCHIVE)), dest,
                       check=check_archive)
    assert dest.read_bytes() == ARCHIVE
    assert (fetched.sha256, fetched.size, fetched.verified_by) == (sha256(ARCHIVE), len(ARCHIVE),
                                                                   "config")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive.tar"]  # no .part left
    again = download(Download(site.url("data/archive.tar"), sha256(ARCHIVE)), dest)
    assert again.sha256 == sha256(ARCHIVE) and len(site.requests) == 1  # verified, not refetched


def test_dropped_connection_is_resumed_with_a_range_request(site, tmp_path):
    site.drop_once.add("data/archive.tar")
    dest = tmp_path / "archive.tar"
    download(Download(site.url("data/archive.tar"), sha256(ARCHIVE)), dest, backoff_seconds=0)
    assert dest.read_bytes() == ARCHIVE
    (first, no_range), (second, ranged) = site.requests
    assert no_range is None and ranged == f"bytes={len(ARCHIVE) // 2}-"


def test_interrupted_download_keeps_the_part_and_resumes_next_run(site, tmp_path):
    site.drop_once.add("data/archive.tar")
    dest = tmp_path / "archive.tar"
    source = Download(site.url("data/archive.tar"), sha256(ARCHIVE))
    with pytest.raises(InputError, match="run again to resume") as error:
        download(source, dest, retries=0)
    part = tmp_path / "archive.tar.part"
    assert part.read_bytes() == ARCHIVE[: len(ARCHIVE) // 2] and not dest.exists()
    assert str(part) in str(error.value)
    download(source, dest, retries=0)
    assert dest.read_bytes() == ARCHIVE and not part.exists()
    assert site.requests[-1] == ("data/archive.tar", f"bytes={len(ARCHIVE) // 2}-")


def test_server_ignoring_range_restarts_from_zero(site, tmp_path):
    site.drop_once.add("data/archive.tar")
    site.ignore_range.add("data/archive.tar")
    dest = tmp_path / "archive.tar"
    download(Download(site.url("data/archive.tar"), sha256(ARCHIVE)), dest, backoff_seconds=0)
    assert dest.read_bytes() == ARCHIVE


def test_wrong_checksum_names_both_hashes_and_deletes_nothing_verified(site, tmp_path):
    verified = tmp_path / "other.tar"
    download(Download(site.url("data/other.tar"), sha256(OTHER)), verified)
    wrong = "0" * 64
    dest = tmp_path / "archive.tar"
    with pytest.raises(InputError) as error:
        download(Download(site.url("data/archive.tar"), wrong), dest)
    message = str(error.value)
    assert wrong in message and sha256(ARCHIVE) in message
    assert site.url("data/archive.tar") in message
    assert not dest.exists()
    assert (tmp_path / "archive.tar.rejected").read_bytes() == ARCHIVE  # kept for inspection
    assert verified.read_bytes() == OTHER


def test_a_changed_file_on_disk_is_reported_not_replaced(site, tmp_path):
    dest = tmp_path / "other.tar"
    download(Download(site.url("data/other.tar"), sha256(OTHER)), dest)
    dest.write_bytes(b"tampered")
    with pytest.raises(InputError, match=sha256(OTHER)):
        download(Download(site.url("data/other.tar"), sha256(OTHER)), dest)
    assert dest.read_bytes() == b"tampered"


def test_md5_from_a_third_party_is_verified_too(site, tmp_path):
    with pytest.raises(InputError, match="md5"):
        download(Download(site.url("data/other.tar"), md5="f" * 32), tmp_path / "other.tar")
    md5 = hashlib.md5(OTHER).hexdigest()
    assert download(Download(site.url("data/other.tar"), md5=md5), tmp_path / "b.tar").size \
        == len(OTHER)


def test_404_is_a_clear_error_and_leaves_no_file(site, tmp_path):
    with pytest.raises(InputError, match=r"not found \(HTTP 404\)"):
        download(Download(site.url("data/missing.tar")), tmp_path / "missing.tar")
    assert list(tmp_path.iterdir()) == []


def test_transfer_that_always_stops_short_fails_after_retries(site, tmp_path):
    site.drop_always.add("data/archive.tar")
    with pytest.raises(InputError, match="interrupted"):
        download(Download(site.url("data/archive.tar")), tmp_path / "archive.tar", retries=2,
                 backoff_seconds=0)
    # three attempts, each resuming where the previous one stopped
    assert [r for _, r in site.requests][1:] == [f"bytes={len(ARCHIVE) // 2}-",
                                                 f"bytes={len(ARCHIVE) * 3 // 4}-"]
    assert (tmp_path / "archive.tar.part").stat().st_size == len(ARCHIVE) * 7 // 8


def test_truncated_archive_is_rejected_before_its_checksum_is_recorded(site, tmp_path):
    site.files["data/cut.tar"] = ARCHIVE[: len(ARCHIVE) // 3]
    lock = ChecksumLock(tmp_path / LOCK_FILE_NAME)
    with pytest.raises(InputError, match="truncated"):
        download(Download(site.url("data/cut.tar")), tmp_path / "cut.tar", lock=lock,
                 check=check_archive)
    assert not (tmp_path / "cut.tar").exists() and (tmp_path / "cut.tar.rejected").exists()
    assert lock.get(site.url("data/cut.tar")) is None and not lock.path.exists()


def test_lock_file_records_the_first_checksum_and_enforces_it(site, tmp_path, caplog):
    lock = ChecksumLock.next_to(tmp_path / "config.yaml")
    url = site.url("data/archive.tar")
    with caplog.at_level(logging.INFO):
        first = download(Download(url), tmp_path / "a" / "archive.tar", lock=lock)
    assert first.verified_by == "recorded now"
    assert "publisher gives no checksum" in caplog.text
    assert yaml.safe_load(lock.path.read_text())[url]["sha256"] == sha256(ARCHIVE)
    assert download(Download(url), tmp_path / "b" / "archive.tar", lock=lock).verified_by \
        == "lock file"
    site.files["data/archive.tar"] = OTHER  # the publisher silently changed the file
    with pytest.raises(InputError) as error:
        download(Download(url), tmp_path / "c" / "archive.tar", lock=lock)
    assert sha256(ARCHIVE) in str(error.value) and sha256(OTHER) in str(error.value)
    assert (tmp_path / "a" / "archive.tar").read_bytes() == ARCHIVE


def test_unreachable_host_says_so(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(InputError, match="offline"):
        download(Download(f"http://127.0.0.1:{port}/x.tar"), tmp_path / "x.tar", retries=0)
