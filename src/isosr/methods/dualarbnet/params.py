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

from dataclasses import dataclass, field, fields
from typing import Any

from isosr.io import InputError

KSPACE_MASKS = ("kept", "removed")
DEVICES = ("auto", "cpu", "cuda")

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


def _help(text: str) -> Any:
    return field(default=None, metadata={"help": text})


@dataclass
class DualArbNetParams:
    """Dual-ArbNet's hyper-parameters (``None`` = take it from ``profile``)."""

    profile: str = field(default="paper", metadata={"help": "named set of the values below"})
    encoder_blocks: int | None = _help("RDN residual dense blocks")
    encoder_layers: int | None = _help("conv layers per residual dense block")
    encoder_width: int | None = _help("RDN channels (growth rate and base width)")
    feature_size: int | None = _help("feature vector per LR pixel (before 3x3 unfolding)")
    fusion_layers: int | None = _help("fusion layers = modulated layers of the decoding function")
    fusion_convs: int | None = _help("3x3 conv layers in each fusion layer's ResBlock")
    decoder_width: int | None = _help("width of the decoding function (fusion: twice this)")
    lr_patch: int | None = _help("training crop: target LR pixels per side")
    patches_per_step: int | None = _help("crops per optimiser step")
    steps_per_epoch: int | None = _help("steps per epoch (None: one crop per training slice)")
    epochs: int | None = _help("training epochs per target contrast")
    learning_rate: float | None = _help("Adam learning rate")
    lr_halving_epochs: int | None = _help("the learning rate halves every this many epochs")
    warmup_epochs: int | None = _help("curriculum warm-up: integer scales 2, 3, 4, HR reference")
    hr_reference_epochs: int | None = _help("epochs with the HR reference (then HR or LR at "
                                            "random)")
    max_scale: float | None = _help("largest training scale (scales 1 to this, step 0.1)")
    kspace_weight: float | None = _help("weight of the k-space loss beside L1")
    kspace_mask: str | None = _help("k-space loss on the frequencies the LR scan kept (paper "
                                    "text) or removed (released code)")
    device: str = field(default="auto", metadata={"help": "auto (CUDA if present), cpu, cuda"})

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise InputError(f"profile: unknown profile {self.profile!r}; "
                             f"choose one of {sorted(PROFILES)}")
        for name, value in PROFILES[self.profile].items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        self._check()

    def _check(self) -> None:
        if self.kspace_mask not in KSPACE_MASKS:
            raise InputError(f"kspace_mask: {self.kspace_mask!r} is not one of "
                             f"{list(KSPACE_MASKS)}")
        if self.device not in DEVICES:
            raise InputError(f"device: {self.device!r} is not one of {list(DEVICES)}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in INTEGERS or (f.name == "steps_per_epoch" and value is not None):
                low = INTEGERS.get(f.name, 1)
                if not isinstance(value, int) or isinstance(value, bool) or value < low:
                    raise InputError(f"{f.name}: expected an integer >= {low}, got {value!r}")
        for name, minimum, strict in (("learning_rate", 0.0, True), ("kspace_weight", 0.0, False),
                                      ("max_scale", 1.0, False)):
            value = getattr(self, name)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or value < minimum or (strict and value == minimum):
                bound = ">" if strict else ">="
                raise InputError(f"{name}: expected a number {bound} {minimum:g}, got {value!r}")
