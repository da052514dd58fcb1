"""Hyper-parameters of Dual-ArbNet and their named profiles (light: no PyTorch).

``paper``: Zhang et al. 2023 (Sect. 2.2-3) and, where the paper gives no number, their released
code: RDN encoder shared by target and reference (5 residual dense blocks of 10 conv layers,
growth 64, 64 features), 3x3 feature unfolding, 5 fusion layers (1x1 projection to 2 x 64
channels, then a ResBlock of 4 conv layers with channel and spatial attention), a sine implicit
decoding function of width 64; 6 LR patches of 32 x 32 per step; training scales 1 to 4 in
steps of 0.1; curriculum: 1 warm-up epoch at scales 2, 3, 4 with the HR reference, HR reference
until epoch 10, then HR or LR reference at random; loss L1 + 0.05 k-space loss; Adam 1e-4 halved
every 40 epochs; 200 epochs. ``cpu``: a small encoder and decoder and few short epochs, for
2-core demos (minutes on the embedded cohort). Fields left at ``None`` come from the profile;
explicit keys win.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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

KSPACE_MASKS = ("kept", "removed")

PROFILES: dict[str, dict[str, Any]] = {
    "paper": {
        "encoder_blocks": 5, "encoder_layers": 10, "encoder_width": 64, "feature_size": 64,
        "fusion_layers": 5, "fusion_convs": 4, "decoder_width": 64, "lr_patch": 32,
        "patches_per_step": 6, "steps_per_epoch": None, "epochs": 200, "learning_rate": 1e-4,
        "lr_halving_epochs": 40, "warmup_epochs": 1, "hr_reference_epochs": 10,
        "max_scale": 4.0, "kspace_weight": 0.05, "kspace_mask": "kept",
    },
    "cpu": {
        "encoder_blocks": 2, "encoder_layers": 3, "encoder_width": 16, "feature_size": 16,
        "fusion_layers": 3, "fusion_convs": 1, "decoder_width": 32, "lr_patch": 16,
        "patches_per_step": 4, "steps_per_epoch": 25, "epochs": 16, "learning_rate": 1e-3,
        "lr_halving_epochs": 8, "warmup_epochs": 1, "hr_reference_epochs": 4,
        "max_scale": 4.0, "kspace_weight": 0.05, "kspace_mask": "kept",
    },
}

INTEGERS = {"encoder_blocks": 1, "encoder_layers": 1, "encoder_width": 1, "feature_size": 1,
            "fusion_layers": 1, "fusion_convs": 1, "decoder_width": 1, "lr_patch": 4,
            "patches_per_step": 1, "epochs": 1, "lr_halving_epochs": 1, "warmup_epochs": 0,
            "hr_reference_epochs": 0}


@dataclass
class DualArbNetParams:
    """Dual-ArbNet's hyper-parameters (``None`` = take it from ``profile``)."""

    profile: str = field(default="paper", metadata={"help": "named set of the values below"})
    encoder_blocks: int | None = help_field("RDN residual dense blocks")
    encoder_layers: int | None = help_field("conv layers per residual dense block")
    encoder_width: int | None = help_field("RDN channels (growth rate and base width)")
    feature_size: int | None = help_field("feature vector per LR pixel (before 3x3 unfolding)")
    fusion_layers: int | None = help_field(
        "fusion layers = modulated layers of the decoding function")
    fusion_convs: int | None = help_field("3x3 conv layers in each fusion layer's ResBlock")
    decoder_width: int | None = help_field("width of the decoding function (fusion: twice this)")
    lr_patch: int | None = help_field("training crop: target LR pixels per side")
    patches_per_step: int | None = help_field("crops per optimiser step")
    steps_per_epoch: int | None = help_field("steps per epoch (None: one crop per training slice)")
    epochs: int | None = help_field("training epochs per target contrast")
    learning_rate: float | None = help_field("Adam learning rate")
    lr_halving_epochs: int | None = help_field("the learning rate halves every this many epochs")
    warmup_epochs: int | None = help_field(
        "curriculum warm-up: integer scales 2, 3, 4, HR reference")
    hr_reference_epochs: int | None = help_field(
        "epochs with the HR reference (then HR or LR at random)")
    max_scale: float | None = help_field("largest training scale (scales 1 to this, step 0.1)")
    kspace_weight: float | None = help_field("weight of the k-space loss beside L1")
    kspace_mask: str | None = help_field("k-space loss on the frequencies the LR scan kept (paper "
                                    "text) or removed (released code)")
    budget_seconds: float | None = budget_field()
    device: str = field(default="auto", metadata={"help": "auto (CUDA if present), cpu, cuda"})

    def __post_init__(self) -> None:
        fill_from_profile(self, PROFILES)
        check_budget(self.budget_seconds)
        check_choice("kspace_mask", self.kspace_mask, KSPACE_MASKS)
        check_choice("device", self.device, DEVICES)
        check_integers(self, {**INTEGERS, "steps_per_epoch": 1}, optional=("steps_per_epoch",))
        check_number("learning_rate", self.learning_rate, 0.0, strict=True)
        check_number("kspace_weight", self.kspace_weight, 0.0, strict=False)
        check_number("max_scale", self.max_scale, 1.0, strict=False)
