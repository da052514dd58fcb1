"""One view over the four dataset sources (``datasets.<name>.source`` in the config).

- embedded: synthetic subjects derived from ICBM152 (``embedded.py``), made on the fly;
- http: files downloaded with checksums and indexed (``http.py``, e.g. the IXI preset);
- bids: a local BIDS dataset (``bids.py``);
- manual: data behind a data-use agreement, placed by hand (``manual.py``: BraTS, MSSEG, HCP).

Subject discovery is cheap at DAG-build time: embedded subjects are numbered, bids and manual
ones are a (cached) file-system scan, and http ones are read from the index written after the
download (the workflow makes every subject listing wait for that index; see fetch.smk).

What a local (bids or manual) source may read: files under its root whose real path, with every
symlink resolved, is still under the root's real path. A file or folder linked in from elsewhere
is refused, naming the link and where it points.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from isosr.data.bids import BidsSource
from isosr.data.http import HttpSource
from isosr.data.manual import ManualSource
from isosr.io import InputError
from isosr.vocabulary import CONTRASTS as EMBEDDED_CONTRASTS  # it synthesises every one

SOURCES = ("embedded", "http", "bids", "manual")
# Preprocessing defaults when neither the dataset nor its preset says otherwise.
PREPROCESSING_DEFAULTS = {"skullstrip": "deepbet", "template": "MNI152"}

Source = HttpSource | BidsSource | ManualSource | None


def make_source(name: str, spec: dict[str, Any]) -> Source:
    """The source object of dataset ``name`` (None for the embedded source)."""
    kind = spec["source"]
    if kind == "embedded":
        return None
    if kind not in SOURCES:
        raise InputError(f"datasets.{name}.source: unknown source {kind!r}; choose one of "
                         f"{list(SOURCES)}")
    if kind not in spec:
        raise InputError(f"datasets.{name}: source {kind!r} needs a {kind!r} block")
    factory = {"http": HttpSource, "bids": BidsSource, "manual": ManualSource}[kind]
    return factory.from_block(name, spec[kind])


def offered_contrasts(source: Source) -> list[str] | None:
    """The contrasts a source can provide (None when only a scan of the data can tell)."""
    if source is None:
        return list(EMBEDDED_CONTRASTS)
    return None if isinstance(source, BidsSource) else source.contrasts()


def recommended(source: Source) -> dict[str, Any]:
    """Preprocessing settings the source's preset asks for (e.g. BraTS: skullstrip none)."""
    return {} if source is None or isinstance(source, BidsSource) else dict(source.recommended)


def local_scans(source: Source, contrasts: list[str]) -> dict[str, dict[str, Path]]:
    """Subject -> contrast -> file of a bids or manual source, every file under its root."""
    if not isinstance(source, BidsSource | ManualSource):
        raise InputError("only bids and manual datasets are read from local files")
    return _under_root(source, tuple(contrasts))


@lru_cache(maxsize=16)
def _under_root(source: BidsSource | ManualSource, contrasts: tuple[str, ...]
                ) -> dict[str, dict[str, Path]]:
    """The source's scans; InputError for one whose real path is outside the root's."""
    scans = source.scans(list(contrasts))
    check_under_root(source, [p for files in scans.values() for p in files.values()])
    return scans


def check_under_root(source: BidsSource | ManualSource, files: list[Path]) -> None:
    """InputError for the first of ``files`` whose real path is outside the source's root."""
    root = source.root.resolve()
    kind = "bids" if isinstance(source, BidsSource) else "manual"
    for path in files:
        real = path.resolve()
        if not real.is_relative_to(root):
            raise InputError(f"datasets.{source.dataset}.{kind}: {path} points to {real}, "
                             f"outside the dataset root {root}; only files under the root "
                             "are read (copy the file in instead of linking it)")


def select_subjects(available: list[str], spec: dict[str, Any], name: str) -> list[str]:
    """Apply ``subjects`` (an explicit list) and ``max_subjects`` (the first N) to a dataset."""
    chosen = sorted(available)
    if spec.get("subjects"):
        unknown = sorted(set(spec["subjects"]) - set(available))
        if unknown:
            shown = ", ".join(chosen[:10]) + (" ..." if len(chosen) > 10 else "")
            raise InputError(f"datasets.{name}.subjects: {unknown} are not available with all "
                             f"of {spec['contrasts']} (available: {shown})")
        chosen = sorted(spec["subjects"])
    if spec.get("max_subjects"):
        chosen = chosen[: spec["max_subjects"]]
    return chosen
