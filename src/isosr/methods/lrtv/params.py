"""LRTV's hyper-parameters (light: no PyTorch); defaults are those of the paper's public code."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar

from isosr.io import InputError
from isosr.methods.degradation import DEGRADATIONS, degradation_field
from isosr.methods.profiles import check_choice


def _help(default: float | int, text: str) -> float | int:
    return field(default=default, metadata={"help": text})


@dataclass
class LRTVParams:
    """LRTV hyper-parameters (Shi et al. 2015; values of their public MATLAB code).

    ``TUNING_GRID``: the weights ``isosr.tuning`` searches when ``tuning.methods`` lists lrtv
    (every combination, 9 points, each fitted on the validation subjects' LR images). The MATLAB
    code's 0.01/0.01 balanced the terms of its own operator and intensity scale; ours differ in
    both. The data term's gain is ||A^T A|| (0.25 for a slice profile spanning 4 HR voxels; the
    MATLAB code uses upsampling in place of A^T), and its gradient scales with the intensities
    while TV's gradient does not and the rank term's threshold is absolute, so the weights mean
    something else on our [0, 1] images. One decade either side of the paper's value, per
    weight, covers the factor 4 of the gain with room for the scale; a finer grid (half
    decades: 25 points) would cost 2.8 times as much, and an LRTV fit of one 2 mm contrast takes
    about 45 s on one core (9 points x 2 contrasts: about 13 min per validation subject and
    scenario). The paper's values are the grid's centre and win ties.
    """

    TUNING_GRID: ClassVar[dict[str, tuple[float, ...]]] = {
        "lambda_tv": (0.001, 0.01, 0.1),
        "lambda_rank": (0.001, 0.01, 0.1),
    }

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
