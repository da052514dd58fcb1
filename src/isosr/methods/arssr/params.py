"""Hyper-parameters of ArSSR and their named profiles (light: no PyTorch).

``paper``: Wu et al. 2023 (Sect. 3.3-3.4, 4.2) and their released code: RDN encoder (8 residual
dense blocks of 3 conv layers, growth 64, 128 output features), decoder of 8 fully-connected
layers of width 256 in two residual stages, 15 patches of 10^3 LR voxels x 8000 HR points per
step, L1 loss, Adam 1e-4 halved every 200 epochs, 2500 epochs. ``cpu``: a small RDN and decoder
with fewer, faster steps, for 2-core demos (minutes on the embedded cohort). Fields left at
``None`` come from the profile; explicit keys win.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from isosr.io import InputError

ENCODERS = ("rdn", "rescnn", "srresnet")
DEVICES = ("auto", "cpu", "cuda")

PROFILES: dict[str, dict[str, Any]] = {
    "paper": {
        "encoder": "rdn", "encoder_blocks": 8, "encoder_layers": 3, "encoder_width": 64,
        "feature_size": 128, "decoder_width": 256, "lr_patch": 10, "points_per_patch": 8000,
        "patches_per_step": 15, "steps_per_epoch": None, "epochs": 2500, "learning_rate": 1e-4,
        "lr_halving_epochs": 200,
    },
    "cpu": {
        "encoder": "rdn", "encoder_blocks": 2, "encoder_layers": 3, "encoder_width": 16,
        "feature_size": 32, "decoder_width": 64, "lr_patch": 10, "points_per_patch": 2000,
        "patches_per_step": 4, "steps_per_epoch": 25, "epochs": 20, "learning_rate": 2e-3,
        "lr_halving_epochs": 10,
    },
}


def _help(text: str) -> Any:
    return field(default=None, metadata={"help": text})


@dataclass
class ArSSRParams:
    """ArSSR's hyper-parameters (``None`` = take it from ``profile``)."""

    profile: str = field(default="paper", metadata={"help": "named set of the values below"})
    encoder: str | None = _help("encoder CNN: rdn (paper default), rescnn or srresnet")
    encoder_blocks: int | None = _help("RDN: residual dense blocks; ResCNN/SRResNet: blocks")
    encoder_layers: int | None = _help("conv layers per block")
    encoder_width: int | None = _help("encoder channels (RDN: growth rate and base width)")
    feature_size: int | None = _help("feature vector per LR voxel (encoder output)")
    decoder_width: int | None = _help("width of the decoder's 8 fully-connected layers")
    lr_patch: int | None = _help("training crop: LR voxels per axis")
    points_per_patch: int | None = _help("HR points sampled per crop per step")
    patches_per_step: int | None = _help("crops per optimiser step")
    steps_per_epoch: int | None = _help("steps per epoch (None: one crop per training subject)")
    epochs: int | None = _help("training epochs per contrast")
    learning_rate: float | None = _help("Adam learning rate")
    lr_halving_epochs: int | None = _help("the learning rate halves every this many epochs")
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
        if self.encoder not in ENCODERS:
            raise InputError(f"encoder: {self.encoder!r} is not one of {list(ENCODERS)}")
        if self.device not in DEVICES:
            raise InputError(f"device: {self.device!r} is not one of {list(DEVICES)}")
        minimum = {"encoder_blocks": 1, "encoder_layers": 1, "encoder_width": 1,
                   "feature_size": 1, "decoder_width": 1, "lr_patch": 4, "points_per_patch": 1,
                   "patches_per_step": 1, "epochs": 1, "lr_halving_epochs": 1}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in minimum or (f.name == "steps_per_epoch" and value is not None):
                low = minimum.get(f.name, 1)
                if not isinstance(value, int) or isinstance(value, bool) or value < low:
                    raise InputError(f"{f.name}: expected an integer >= {low}, got {value!r}")
        if not (isinstance(self.learning_rate, int | float) and self.learning_rate > 0):
            raise InputError(f"learning_rate: expected a positive number, "
                             f"got {self.learning_rate!r}")
