"""What every method's hyper-parameter dataclass shares (light: no PyTorch): fields documented
for the README's generated tables, named profiles that fill the fields left at ``None``, and the
checks that name the offending key."""

from __future__ import annotations

from dataclasses import field, fields
from typing import Any

from isosr.io import InputError

DEVICES = ("auto", "cpu", "cuda")


def help_field(text: str, default: Any = None) -> Any:
    """A dataclass field with its one-line description (the README table's 'meaning')."""
    return field(default=default, metadata={"help": text})


def fill_from_profile(params: Any, profiles: dict[str, dict[str, Any]]) -> None:
    """Fill every field left at ``None`` from ``params.profile``'s values."""
    if params.profile not in profiles:
        raise InputError(f"profile: unknown profile {params.profile!r}; "
                         f"choose one of {sorted(profiles)}")
    for name, value in profiles[params.profile].items():
        if getattr(params, name) is None:
            setattr(params, name, value)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"{name}: {value!r} is not one of {list(choices)}")


def check_integers(params: Any, minimums: dict[str, int], optional: tuple[str, ...] = ()
                   ) -> None:
    """Each field of ``minimums`` an integer >= its minimum (``optional`` ones may be None)."""
    for f in fields(params):
        value = getattr(params, f.name)
        if f.name in minimums and not (f.name in optional and value is None):
            low = minimums[f.name]
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise InputError(f"{f.name}: expected an integer >= {low}, got {value!r}")


def check_number(name: str, value: Any, minimum: float, strict: bool) -> None:
    """``value`` a real number > ``minimum`` (``strict``) or >= it; NaN fails both."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not (value > minimum or (not strict and value == minimum)):
        raise InputError(f"{name}: expected a number {'>' if strict else '>='} {minimum:g}, "
                         f"got {value!r}")


def budget_field() -> Any:
    """``budget_seconds``: the equal-compute mode's training budget (config ``budget_seconds``)."""
    return help_field("training seconds on its device for the whole fit or training (split "
                      "evenly over its networks): epochs run, whatever `epochs` says, until the "
                      "first epoch end that reaches it, the learning-rate schedule mapped onto "
                      "it (None: `epochs`)")


def check_budget(value: Any) -> None:
    """``budget_seconds`` is None or a positive finite number of seconds."""
    if value is not None:
        check_number("budget_seconds", value, 0.0, strict=True)
        if value == float("inf"):
            raise InputError("budget_seconds: expected a finite number, got inf")
