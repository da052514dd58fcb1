"""Method registry: the only place that maps a config name to a method class."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

from isosr.io import InputError
from isosr.methods.base import SubjectMethod

_REGISTRY: dict[str, type[SubjectMethod]] = {}


def register(name: str) -> Callable[[type[SubjectMethod]], type[SubjectMethod]]:
    """Class decorator: make a method available under ``name`` in config files."""

    def decorate(cls: type[SubjectMethod]) -> type[SubjectMethod]:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def method_names() -> list[str]:
    """All registered method names, sorted."""
    return sorted(_REGISTRY)


def method_class(name: str) -> type[SubjectMethod]:
    """The class registered under ``name``, or a clear error listing the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown method {name!r}; known methods: {', '.join(method_names())}"
                         ) from None


def create_method(name: str, params: dict[str, Any] | None = None, seed: int = 0) -> SubjectMethod:
    """Instantiate method ``name`` with hyper-parameters from config (unknown keys rejected)."""
    cls = method_class(name)
    allowed = {field.name for field in fields(cls.Params)}
    unknown = sorted(set(params or {}) - allowed)
    if unknown:
        raise InputError(f"method {name!r} has no hyper-parameter(s) {', '.join(unknown)}; "
                         f"allowed: {', '.join(sorted(allowed)) or 'none'}")
    return cls(cls.Params(**(params or {})), seed=seed)
