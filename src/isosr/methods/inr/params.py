"""Hyper-parameters of the INR family and their named profiles.

Every field left at ``None`` is filled from the chosen ``profile``: ``paper`` holds the values of
McGinnis et al. (MICCAI 2023) and their released configs (Fourier features, point samples; for a
GPU), ``fast`` a hash-grid INR with the slice-profile forward model (seconds per epoch on a CPU).
Frequencies are in cycles/mm and grid resolutions in mm, so a setting means the same on every
field of view. Keys given explicitly always win over the profile. (The profile cannot live in the
dataclass defaults: a dataclass cannot tell a default from an explicit value.)
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from isosr.io import InputError
from isosr.methods.degradation import DEGRADATIONS, degradation_field
from isosr.methods.inr.mi_stopping import MI_RULES
from isosr.methods.profiles import budget_field, check_budget, check_choice

PROFILES: dict[str, dict[str, Any]] = {
    # McGinnis et al. 2023, Sect. 2 "Implementation and Training" and config/*_mlpv2.yaml.
    "paper": {
        "encoding": "fourier",
        "forward_model": "point",
        "fourier_features": 256,  # 256 frequencies -> 512 inputs (sin, cos)
        # B ~ N(0, 4^2) on coordinates min-max scaled to [-1, 1] over the field of view: for their
        # 240 mm BraTS / MSSEG field of view (half extent 120 mm) that is 4 / 120 cycles/mm.
        "fourier_sigma": 4.0 / 120.0,
        "hidden_width": 1024,
        "hidden_layers": 4,  # after the input layer: Linear(512, 1024) + 4 x Linear(1024, 1024)
        "head_width": 512,  # split head: Linear(1024, 512) + ReLU + Linear(512, 1)
        "learning_rate": 4e-4,
        "epochs": 50,
        "batch_size": 1000,
        "early_stopping": True,
        "mi_rule": "mcginnis2023",  # the released code's rule (the paper gives none)
    },
    # Instant-NGP's hash encoding (16 mm coarsest cells down to the HR voxel, growth ~1.35 per
    # level over 8 levels at 2 mm, 2 features per level, 2^19 entries, its Adam settings for the
    # grid) with a 64-wide MLP, and the slice-profile forward model (4 stratified samples per
    # voxel): ~10 s per epoch over the ~0.6 M LR voxels of a 2 mm brain on one CPU core.
    "fast": {
        "encoding": "hashgrid",
        "forward_model": "slice-profile",
        "profile_samples": 4,
        "hash_levels": 8,
        "hash_features": 2,
        "hash_log2_table_size": 19,
        "hash_coarsest_mm": 16.0,
        "hash_finest_mm": 1.0,
        "grid_learning_rate": 1e-2,
        "hidden_width": 64,
        "hidden_layers": 1,
        "head_width": 32,
        "learning_rate": 1e-2,  # Instant-NGP's, for the MLP as for the grid
        "epochs": 4,
        "batch_size": 4096,
        "early_stopping": False,  # an MI plateau over 4 epochs cannot show within 4 epochs
        "mi_rule": "plateau",
    },
}

ENCODINGS = ("fourier", "hashgrid")
FORWARD_MODELS = ("point", "slice-profile")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class INRParams:
    """Hyper-parameters shared by every INR method (``None`` = take it from ``profile``)."""

    profile: str = field(default="paper", metadata={
        "help": ("named set of the values below (paper: McGinnis et al., for a "
                 "GPU; fast: hash grid + slice profile, the default run)")})
    encoding: str | None = field(default=None, metadata={
        "help": "fourier (the paper's Gaussian Fourier features) or hashgrid (Instant-NGP)"})
    forward_model: str | None = field(default=None, metadata={
        "help": ("point (INR at the LR voxel centre) or slice-profile (averaged "
                 "over the voxel's slice profile)")})
    profile_samples: int | None = field(default=None, metadata={
        "help": "slice-profile: points drawn per LR voxel and step"})
    fourier_features: int | None = field(default=None, metadata={
        "help": "Fourier frequencies (inputs = 2x)"})
    fourier_sigma: float | None = field(default=None, metadata={
        "help": "std of the frequencies B, in cycles/mm"})
    hash_levels: int | None = field(default=None, metadata={
        "help": "hash grid: resolution levels"})
    hash_features: int | None = field(default=None, metadata={
        "help": "hash grid: features per level and vertex"})
    hash_log2_table_size: int | None = field(default=None, metadata={
        "help": "hash grid: log2 of the entries per level"})
    hash_coarsest_mm: float | None = field(default=None, metadata={
        "help": "hash grid: cell size of the coarsest level (mm)"})
    hash_finest_mm: float | None = field(default=None, metadata={
        "help": "hash grid: cell size of the finest level (mm), never below the HR voxel"})
    grid_learning_rate: float | None = field(default=None, metadata={
        "help": "hash grid: Adam learning rate of the tables"})
    hidden_width: int | None = field(default=None, metadata={
        "help": "MLP width"})
    hidden_layers: int | None = field(default=None, metadata={
        "help": "hidden layers after the input layer"})
    learning_rate: float | None = field(default=None, metadata={
        "help": "Adam learning rate of the MLP (cosine-annealed)"})
    epochs: int | None = field(default=None, metadata={
        "help": "epochs over the LR voxels"})
    batch_size: int | None = field(default=None, metadata={
        "help": "LR voxels per step"})
    loss_weights: dict[str, float] = field(default_factory=dict, metadata={
        "help": "weight of each contrast's MSE (default 1: the paper's alpha = beta = 1)"})
    early_stopping: bool | None = field(default=None, metadata={
        "help": "stop at the plateau of the predicted contrasts' MI"})
    mi_rule: str | None = field(default=None, metadata={
        "help": ("MI stopping rule: mcginnis2023 (released code: the window's mean absolute MI "
                 "change moves by < tolerance between epochs) or plateau (that mean < "
                 "tolerance)")})
    mi_window: int = field(default=4, metadata={
        "help": "epochs of the MI plateau test"})
    mi_tolerance: float | None = field(default=None, metadata={
        "help": "tolerance of the MI rule in nats (default: 1e-4 mcginnis2023, 1e-3 plateau)"})
    degradation: str = degradation_field("slice-profile: each scan's own acquisition model")
    budget_seconds: float | None = budget_field()
    device: str = field(default="auto", metadata={
        "help": "auto (CUDA if present), cpu or cuda"})

    def __post_init__(self) -> None:
        check_choice("degradation", self.degradation, DEGRADATIONS)
        check_budget(self.budget_seconds)
        if self.profile not in PROFILES:
            raise InputError(f"profile: unknown profile {self.profile!r}; "
                             f"choose one of {sorted(PROFILES)}")
        names = {f.name for f in fields(self)}
        for name, value in PROFILES[self.profile].items():
            if name in names and getattr(self, name) is None:
                setattr(self, name, value)
        if self.mi_rule not in MI_RULES:
            raise InputError(f"mi_rule: {self.mi_rule!r} is not one of {sorted(MI_RULES)}")
        if self.mi_tolerance is None:
            self.mi_tolerance = MI_RULES[self.mi_rule]
        self._check()

    def _required(self) -> tuple[dict[str, int], tuple[str, ...]]:
        """The integer keys (with their minimum) and positive-number keys this setting uses."""
        integers = {"hidden_width": 1, "hidden_layers": 0, "head_width": 1, "epochs": 1,
                    "batch_size": 1, "mi_window": 2}
        positive = ["learning_rate"]
        if self.encoding == "fourier":
            integers["fourier_features"] = 1
            positive.append("fourier_sigma")
        else:
            integers.update(hash_levels=1, hash_features=1, hash_log2_table_size=4)
            positive += ["hash_coarsest_mm", "hash_finest_mm", "grid_learning_rate"]
        if self.forward_model == "slice-profile":
            integers["profile_samples"] = 1
        return integers, tuple(positive)

    def _check(self) -> None:
        if self.encoding not in ENCODINGS:
            raise InputError(f"encoding: {self.encoding!r} is not one of {list(ENCODINGS)}")
        if self.forward_model not in FORWARD_MODELS:
            raise InputError(f"forward_model: {self.forward_model!r} is not one of "
                             f"{list(FORWARD_MODELS)}")
        integers, positive = self._required()
        for name, low in integers.items():
            value = getattr(self, name, low)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise InputError(f"{name}: expected an integer >= {low}, got {value!r}")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise InputError(f"{name}: expected a positive number, got {value!r}")
        if self.encoding == "hashgrid" and self.hash_finest_mm > self.hash_coarsest_mm:
            raise InputError(f"hash_finest_mm ({self.hash_finest_mm}) must not exceed "
                             f"hash_coarsest_mm ({self.hash_coarsest_mm})")
        if not isinstance(self.early_stopping, bool):
            raise InputError(f"early_stopping: expected true or false, got {self.early_stopping!r}")
        tolerance = self.mi_tolerance
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance < 0:
            raise InputError(f"mi_tolerance: must be a number >= 0, got {tolerance!r}")
        negative = {c: w for c, w in self.loss_weights.items() if not w >= 0}
        if negative:
            raise InputError(f"loss_weights: weights must be >= 0, got {negative}")
        if self.device not in DEVICES:
            raise InputError(f"device: {self.device!r} is not one of {list(DEVICES)}")


@dataclass
class SplitHeadParams(INRParams):
    """Split-head INR: the shared trunk is followed by one small MLP head per contrast."""

    head_width: int | None = field(default=None, metadata={
        "help": "split head: Linear(width, head_width) + ReLU + Linear(head_width, 1)"})


@dataclass
class SingleParams(INRParams):
    """One INR per contrast: no MI early stopping (the paper uses it for multi-contrast INRs)."""

    early_stopping: bool = False
