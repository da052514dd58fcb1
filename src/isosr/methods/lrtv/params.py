"""LRTV's hyper-parameters (light: no PyTorch); defaults are those of the paper's public code."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from isosr.io import InputError
from isosr.methods.degradation import DEGRADATIONS, degradation_field
from isosr.methods.profiles import check_choice


def _help(default: float | int, text: str) -> float | int:
    return field(default=default, metadata={"help": text})


@dataclass
class LRTVParams:
    """LRTV hyper-parameters (Shi et al. 2015; values of their public MATLAB code)."""

    lambda_tv: float = _help(0.01, "weight of the total variation")
    lambda_rank: float = _help(0.01, "weight of the low-rank term (alpha_i = 1/3 per unfolding)")
    rho: float = _help(0.1, "initial ADMM penalty")
    rho_growth: float = _help(1.05, "factor on the penalty after every iteration")
    iterations: int = _help(20, "maximum ADMM iterations")
    gradient_steps: int = _help(200, "gradient steps per X update")
    step_size: float = _help(0.1, "gradient step size (intensities scaled to [0, 1])")
    tolerance: float = _help(1e-5, "stop when ||X_k - X_(k-1)|| / ||y|| falls below this")
    tv_smoothing: float = _help(1e-4, "epsilon in sqrt(|grad X|^2 + epsilon)")
    degradation: str = degradation_field("the scenario's exact acquisition operator")

    def __post_init__(self) -> None:
        check_choice("degradation", self.degradation, DEGRADATIONS)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "degradation":
                continue
            if f.type == "int":
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise InputError(f"{f.name}: expected an integer >= 1, got {value!r}")
            elif not isinstance(value, int | float) or not value >= 0:
                raise InputError(f"{f.name}: expected a number >= 0, got {value!r}")
        for name in ("rho", "step_size", "tv_smoothing"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name}: expected a positive number, got {getattr(self, name)}")
        if self.rho_growth < 1:
            raise InputError(f"rho_growth: expected >= 1, got {self.rho_growth}")
