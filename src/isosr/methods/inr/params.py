"""Hyper-parameters of the INR family and their named profiles.

Every field left at ``None`` is filled from the chosen ``profile``: ``paper`` holds the values of
McGinnis et al. (MICCAI 2023) and their released configs, ``cpu`` a small model for demos on a
laptop. Keys given explicitly always win over the profile. (The profile cannot live in the
dataclass defaults: a dataclass cannot tell a default from an explicit value.)
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from isosr.io import InputError

PROFILES: dict[str, dict[str, Any]] = {
    # McGinnis et al. 2023, Sect. 2 "Implementation and Training" and config/*_mlpv2.yaml.
    "paper": {
        "fourier_features": 256,  # 256 frequencies -> 512 inputs (sin, cos)
        "fourier_sigma": 4.0,  # B ~ N(0, 4^2), inputs 2*pi*B*x
        "hidden_width": 1024,
        "hidden_layers": 4,  # after the input layer: Linear(512, 1024) + 4 x Linear(1024, 1024)
        "head_width": 512,  # split head: Linear(1024, 512) + ReLU + Linear(512, 1)
        "learning_rate": 4e-4,
        "epochs": 50,
        "batch_size": 1000,
    },
    # ~18x fewer multiply-adds per coordinate: on one CPU core an epoch over the ~0.6 M LR voxels
    # of a 2 mm brain takes ~20 s. sigma 3 fitted the 2 mm demo better than 4 or 2 in 6 epochs.
    "cpu": {
        "fourier_features": 128,
        "fourier_sigma": 3.0,
        "hidden_width": 256,
        "hidden_layers": 3,
        "head_width": 128,
        "learning_rate": 1e-3,
        "epochs": 6,
        "batch_size": 1000,
    },
}

DEVICES = ("auto", "cpu", "cuda")


@dataclass
class INRParams:
    """Hyper-parameters shared by every INR method (``None`` = take it from ``profile``)."""

    profile: str = "paper"
    fourier_features: int | None = None
    fourier_sigma: float | None = None
    hidden_width: int | None = None
    hidden_layers: int | None = None
    learning_rate: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    loss_weights: dict[str, float] = field(default_factory=dict)
    early_stopping: bool = True
    mi_window: int = 4
    mi_tolerance: float = 1e-3
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise InputError(f"profile: unknown profile {self.profile!r}; "
                             f"choose one of {sorted(PROFILES)}")
        names = {f.name for f in fields(self)}
        for name, value in PROFILES[self.profile].items():
            if name in names and getattr(self, name) is None:
                setattr(self, name, value)
        self._check()

    def _check(self) -> None:
        minimum = {"fourier_features": 1, "hidden_width": 1, "hidden_layers": 0, "head_width": 1,
                   "epochs": 1, "batch_size": 1, "mi_window": 2}
        for name, low in minimum.items():
            value = getattr(self, name, low)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise InputError(f"{name}: expected an integer >= {low}, got {value!r}")
        for name in ("fourier_sigma", "learning_rate"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name}: expected a positive number, got {getattr(self, name)!r}")
        if self.mi_tolerance < 0:
            raise InputError(f"mi_tolerance: must be >= 0, got {self.mi_tolerance}")
        negative = {c: w for c, w in self.loss_weights.items() if not w >= 0}
        if negative:
            raise InputError(f"loss_weights: weights must be >= 0, got {negative}")
        if self.device not in DEVICES:
            raise InputError(f"device: {self.device!r} is not one of {list(DEVICES)}")


@dataclass
class SplitHeadParams(INRParams):
    """Split-head INR: the shared trunk is followed by one small MLP head per contrast."""

    head_width: int | None = None


@dataclass
class SingleParams(INRParams):
    """One INR per contrast: no MI early stopping (the paper uses it for multi-contrast INRs)."""

    early_stopping: bool = False
