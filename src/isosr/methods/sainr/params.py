"""Hyper-parameters of SA-INR and their named profiles (light: no PyTorch).

``paper`` (Wang et al., Sec. III and IV-A3): EDSR-3D encoder of 8 residual blocks with 64
features, the local-aware spatial attention over a 7 x 7 window on each of the two neighbouring
LR slices, a 5-layer MLP decoder (4 hidden layers of 256), gating budget 20 % with the
gradient-mask cross-entropy weight starting at 1 and halved every 50 epochs, LR crops of
64 x 64 in-plane x 17 slices, one crop per step, L1 + mask loss, Adam 1e-4, 2000 epochs; the
paper gives no learning-rate decay, so it is the released code's (``train_SA_INR.yaml``: halved
at epochs 200, 400, 600 and 800, then constant). ``cpu``: a smaller encoder and decoder with
fewer, faster steps, for 2-core demos (minutes on the embedded cohort). Fields left at ``None``
come from the profile; explicit keys win.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from isosr.io import InputError
from isosr.methods.profiles import (
    DEVICES,
    budget_field,
    check_budget,
    check_choice,
    check_integers,
    check_number,
    fill_from_profile,
    help_field,
)

PROFILES: dict[str, dict[str, Any]] = {
    "paper": {
        "encoder_blocks": 8, "features": 64, "window": 7, "decoder_width": 256,
        "gate_budget": 0.2, "mask_ce_halving_epochs": 50, "lr_patch": 64, "lr_slices": 17,
        "points_per_patch": 65536, "patches_per_step": 1, "steps_per_epoch": None,
        "epochs": 2000, "learning_rate": 1e-4, "lr_halving_epochs": 200, "lr_halvings": 4,
    },
    "cpu": {
        "encoder_blocks": 2, "features": 32, "window": 7, "decoder_width": 64,
        "gate_budget": 0.2, "mask_ce_halving_epochs": 5, "lr_patch": 16, "lr_slices": 6,
        "points_per_patch": 512, "patches_per_step": 4, "steps_per_epoch": 25, "epochs": 20,
        "learning_rate": 2e-3, "lr_halving_epochs": 10, "lr_halvings": None,
    },
}


@dataclass
class SAINRParams:
    """SA-INR's hyper-parameters (``None`` = take it from ``profile``)."""

    profile: str = field(default="paper", metadata={"help": "named set of the values below"})
    encoder_blocks: int | None = help_field("EDSR-3D residual blocks (two 3^3 convolutions each)")
    features: int | None = help_field("encoder channels = feature vector per LR voxel")
    window: int | None = help_field("attention window: in-plane LR voxels per side, on each of "
                               "the 2 neighbouring slices")
    decoder_width: int | None = help_field("width of the decoder's 4 hidden layers")
    gate_budget: float | None = help_field("fraction of query points refined by attention "
                                      "(theta; also the gradient mask's top fraction)")
    mask_ce_halving_epochs: int | None = help_field("the gradient-mask cross-entropy weight "
                                               "(gamma, from 1) halves every this many epochs")
    lr_patch: int | None = help_field("training crop: LR voxels per in-plane axis")
    lr_slices: int | None = help_field("training crop: LR slices")
    points_per_patch: int | None = help_field("HR points sampled per crop per step")
    patches_per_step: int | None = help_field("crops per optimiser step")
    steps_per_epoch: int | None = help_field(
        "steps per epoch (None: one crop per training subject)")
    epochs: int | None = help_field("training epochs per contrast")
    learning_rate: float | None = help_field("Adam learning rate")
    lr_halving_epochs: int | None = help_field("the learning rate halves every this many epochs "
                                          "(None: constant)")
    lr_halvings: int | None = help_field("at most this many times (then constant; None: until "
                                         "the end)")
    budget_seconds: float | None = budget_field()
    device: str = field(default="auto", metadata={"help": "auto (CUDA if present), cpu, cuda"})

    def __post_init__(self) -> None:
        fill_from_profile(self, PROFILES)
        check_budget(self.budget_seconds)
        check_choice("device", self.device, DEVICES)
        check_integers(self, {"encoder_blocks": 1, "features": 1, "window": 1, "decoder_width": 1,
                              "mask_ce_halving_epochs": 1, "lr_patch": 2, "lr_slices": 2,
                              "points_per_patch": 1, "patches_per_step": 1, "epochs": 1,
                              "steps_per_epoch": 1, "lr_halving_epochs": 1, "lr_halvings": 1},
                       optional=("steps_per_epoch", "lr_halving_epochs", "lr_halvings"))
        if self.window % 2 == 0:
            raise InputError(f"window: expected an odd number (centred window), got "
                             f"{self.window}")
        if not (isinstance(self.gate_budget, int | float) and 0 < self.gate_budget <= 1):
            raise InputError(f"gate_budget: expected a number in (0, 1], got "
                             f"{self.gate_budget!r}")
        check_number("learning_rate", self.learning_rate, 0.0, strict=True)
