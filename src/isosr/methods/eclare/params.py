"""ECLARE's training budget and how to run it (light: no PyTorch)."""

from __future__ import annotations

from dataclasses import dataclass, field

from isosr.io import InputError
from isosr.methods.degradation import DEGRADATIONS
from isosr.methods.profiles import check_choice

DEFAULT_EXECUTABLE = "resources/tools/eclare/bin/run-eclare"
PROFILES = {
    "paper": {"n_patches": 1_000_000, "batch_size": 128},  # run-eclare's defaults
    # the smallest measured budget that beats cubic (benchmarks/eclare_budget.py, 2 mm FLAIR:
    # 256 patches 11.8 dB, 2,048 19.9 dB, 8,192 35.4 dB against cubic's 30.1): ~15 min/contrast
    "cpu": {"n_patches": 8192, "batch_size": 32},
}


@dataclass
class ECLAREParams:
    """ECLARE's budget (``paper`` = run-eclare's defaults) and its executable."""

    profile: str = field(default="paper", metadata={"help": "named budget below"})
    n_patches: int | None = field(default=None, metadata={
        "help": "training patches (run-eclare --n-patches)"})
    batch_size: int | None = field(default=None, metadata={
        "help": "patches per step (run-eclare --batch-size)"})
    patch_sampling: str = field(default="gradient", metadata={
        "help": "run-eclare --patch-sampling"})
    executable: str = field(default=DEFAULT_EXECUTABLE, metadata={
        "help": "the run-eclare command; the default is built by rule eclare_environment"})
    degradation: str = field(default="informed", metadata={
        "help": ("informed (the scenario's exact slice thickness and profile) or blind "
                 "(ECLARE estimates the profile with ESPRESO, as SMORE does)")})

    def __post_init__(self) -> None:
        check_choice("degradation", self.degradation, DEGRADATIONS)
        if self.profile not in PROFILES:
            raise InputError(f"profile: unknown profile {self.profile!r}; choose one of "
                             f"{sorted(PROFILES)}")
        for name, value in PROFILES[self.profile].items():
            if getattr(self, name) is None:
                setattr(self, name, value)
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"{name}: expected an integer >= 1, got {value!r}")

    def required_files(self) -> list[str]:
        """ECLARE's own environment (rule eclare_environment), unless another is set."""
        return [self.executable] if self.executable == DEFAULT_EXECUTABLE else []
