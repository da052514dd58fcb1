"""The declaration of one method (``MethodSpec``): what ``isosr.methods.catalog`` lists and
``isosr.methods.registry`` looks up by name. Light: it imports a method's implementation (and
with it PyTorch) only in ``load()``, when a job runs the method.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Literal

from isosr.io import InputError
from isosr.methods.base import CohortMethod, Method, SubjectMethod

KINDS = ("subject", "cohort")
# Whether a method is given the true degradation of the scenario (its acquisition operator, slice
# profile or PSF, or training pairs simulated at the test acquisition): informed, or not: blind.
Knowledge = Literal["informed", "blind"]


@dataclass(frozen=True)
class MethodSpec:
    """The declaration of one method (``implementation``: ``"module:Class"``; ``knowledge``:
    informed or blind, or a function of its hyper-parameters that says which; ``label``: its row
    label in the tables where the paper's name differs; ``note``: the tables' footnote)."""

    name: str
    kind: Literal["subject", "cohort"]
    gpu: bool
    env: str
    params: type
    implementation: str
    summary: str
    knowledge: Knowledge | Callable[[Any], Knowledge]
    label: str | None = None
    note: str | None = None

    def required_files(self, values: dict[str, Any] | None) -> list[str]:
        """Files the workflow must make before a fit (a tool's environment): what the
        hyper-parameters' ``required_files()`` lists, if they define it."""
        params = self.make_params(values)
        return list(params.required_files()) if hasattr(params, "required_files") else []

    @property
    def profiles(self) -> dict[str, dict[str, Any]]:
        """The named profiles of the hyper-parameters (their module's ``PROFILES``; {} if none)."""
        return getattr(sys.modules[self.params.__module__], "PROFILES", {})

    def degradation_knowledge(self, values: dict[str, Any] | None) -> Knowledge:
        """Informed or blind with the hyper-parameters ``values`` (as in fit.json)."""
        if callable(self.knowledge):
            return self.knowledge(self.make_params(values))
        return self.knowledge

    def load(self) -> type[Method]:
        """Import the implementation (only a job that runs the method does this)."""
        module, _, attribute = self.implementation.partition(":")
        cls = getattr(importlib.import_module(module), attribute)
        expected = SubjectMethod if self.kind == "subject" else CohortMethod
        if not issubclass(cls, expected):
            raise TypeError(f"{self.implementation} is declared {self.kind!r} but is not a "
                            f"{expected.__name__}")
        cls.name = self.name
        cls.Params = self.params
        return cls

    def make_params(self, values: dict[str, Any] | None, key: str | None = None) -> Any:
        """The hyper-parameter dataclass from config values; unknown keys and bad values are
        an InputError naming ``key`` (default ``methods.<name>``)."""
        key = key or f"methods.{self.name}"
        allowed = {f.name for f in fields(self.params)}
        unknown = sorted(set(values or {}) - allowed)
        if unknown:
            raise InputError(f"{key}: no hyper-parameter(s) {', '.join(unknown)}; allowed: "
                             f"{', '.join(sorted(allowed)) or 'none'}")
        try:
            return self.params(**(values or {}))
        except InputError as error:
            raise InputError(f"{key}.{error}") from None
        except (TypeError, ValueError) as error:
            raise InputError(f"{key}: {error}") from None
