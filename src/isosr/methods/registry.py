"""The method registry: the only place that maps a config name to a method.

Each method is declared once, by a light ``MethodSpec`` (``isosr.methods.spec``) in
``isosr.methods.catalog``: its name, kind (``subject`` | ``cohort``), whether it trains on a GPU,
its conda env, its hyper-parameter dataclass (defaults = the paper's; the one source of truth for
config validation and the README's parameter tables), whether it is given the true degradation
and the import path of its implementation. The implementation (and with it PyTorch) is imported
only when a job runs the method, never while Snakemake builds the DAG.

Imports go one way: spec <- catalog <- registry.
"""

from __future__ import annotations

from typing import Any

from isosr.io import InputError
from isosr.methods.base import Method
from isosr.methods.catalog import SPECS
from isosr.methods.spec import MethodSpec

__all__ = ["MethodSpec", "create_method", "method_names", "method_spec"]


def _index(specs: tuple[MethodSpec, ...]) -> dict[str, MethodSpec]:
    """The specs by name, in catalog order; a ValueError if a name is declared twice."""
    names = [spec.name for spec in specs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"method(s) declared twice: {duplicated}")
    return {spec.name: spec for spec in specs}


_SPECS = _index(SPECS)


def method_names() -> list[str]:
    """Every declared method name, in the catalog's (table) order."""
    return list(_SPECS)


def method_spec(name: str) -> MethodSpec:
    """The spec of ``name``, or an InputError listing the known names."""
    if name not in _SPECS:
        raise InputError(f"unknown method {name!r}; known methods: {', '.join(_SPECS)}")
    return _SPECS[name]


def create_method(name: str, params: dict[str, Any] | None = None, *, seed: int = 0,
                  checkpoint_dir: Any = None) -> Method:
    """Instantiate method ``name`` with hyper-parameters from config (unknown keys rejected)."""
    spec = method_spec(name)
    values = spec.make_params(params)
    return spec.load()(values, seed=seed, checkpoint_dir=checkpoint_dir)
