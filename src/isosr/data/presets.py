"""Dataset presets shipped with isosr (``isosr/data/presets/*.yaml``).

A preset fills a source block of the config (``http`` or ``manual``) for a known dataset: where
its files are, how they are named, how to obtain them by hand, and the preprocessing it needs
(``recommended``: e.g. BraTS is already skull-stripped and lives in SRI24 space). Keys given in
the config block override the preset's.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from isosr.io import InputError


def _directory():
    return resources.files("isosr") / "data" / "presets"


def preset_names() -> list[str]:
    """Names of the shipped presets."""
    return sorted(p.name.removesuffix(".yaml") for p in _directory().iterdir()
                  if p.name.endswith(".yaml"))


@cache
def load_preset(name: str) -> dict[str, Any]:
    """The preset ``name`` as a dict (read once)."""
    if name not in preset_names():
        raise InputError(f"unknown dataset preset {name!r}; shipped presets: {preset_names()}")
    return yaml.safe_load((_directory() / f"{name}.yaml").read_text())


def with_preset(block: dict[str, Any], source: str, origin: str) -> dict[str, Any]:
    """A source block with its preset's keys filled in (the block's own keys win)."""
    if "preset" not in block:
        return dict(block)
    preset = load_preset(block["preset"])
    if preset["source"] != source:
        raise InputError(f"{origin}.preset: {block['preset']!r} is a preset for source "
                         f"{preset['source']!r}, not {source!r}")
    own = {k: v for k, v in block.items() if k != "preset"}
    return {**{k: v for k, v in preset.items() if k != "source"}, **own}
