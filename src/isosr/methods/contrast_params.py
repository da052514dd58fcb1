"""Hyper-parameters keyed by contrast (e.g. the INRs' ``loss_weights``): every contrast named
must be one the fit sees, or the value would be ignored without a word."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any

from isosr.io import InputError
from isosr.methods.registry import method_spec
from isosr.vocabulary import CONTRASTS

# Parameters, of any method that has them, whose keys are contrasts.
CONTRAST_PARAMETERS = ("loss_weights",)


def check_parameter_contrasts(method: str, params: Mapping[str, Any], contrasts: Iterable[str],
                              where: str, fit: str = "the fit sees") -> None:
    """Raise InputError when a contrast-keyed parameter of ``method`` in ``params`` (the raw
    values, before the dataclass) names a contrast outside ``contrasts``, those of one fit.

    ``where`` names ``params``: a config key (``methods.inr-splithead`` reports
    ``methods.inr-splithead.loss_weights``) or a CLI option (``--param`` reports
    ``--param loss_weights``); ``fit`` completes "not among the contrasts ..." (the workflow
    passes ``scenarios.<s> acquires``). The check is per fit: a workflow method runs on every
    scenario, so a contrast must be acquired by each of them (the shipped configs name none;
    a weight meant for one scenario only needs a config of its own).
    """
    seen = sorted(contrasts)
    known = {f.name for f in fields(method_spec(method).params)}
    for name in (n for n in CONTRAST_PARAMETERS if n in known and n in params):
        key = f"{where} {name}" if where.startswith("-") else f"{where}.{name}"
        value = params[name]
        if not isinstance(value, Mapping):
            raise InputError(f"{key}: expected a mapping of contrast to value, got {value!r}")
        for contrast in value:
            if contrast not in seen:
                hint = "" if contrast in CONTRASTS else f" (contrasts: {', '.join(CONTRASTS)})"
                raise InputError(f"{key}: {contrast!r} is not among the contrasts {fit} "
                                 f"({', '.join(seen)}){hint}")
