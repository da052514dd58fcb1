"""Hyper-parameters of ArSSR and their named profiles (light: no PyTorch).

``paper``: Wu et al. 2023 (Sect. 3.3-3.4, 4.2) and their released code: RDN encoder (8 residual
dense blocks of 3 conv layers, growth 64, 128 output features), decoder of 8 fully-connected
layers of width 256 in two residual stages, each followed by a ReLU (the last one too), 15
patches of 10^3 LR voxels x 8000 HR points per step, an epoch of 6 crops per training image
(780 x 6 / 15 = 312 steps on their HCP training set), L1 loss, Adam 1e-4 halved every 200
epochs, 2500 epochs. With the output ReLU a seed can start with every output at 0, which never
trains: the training then stops at its first step, naming the seed. The other encoders come at
their own size unless ``encoder_blocks`` / ``encoder_layers`` say otherwise: ResCNN as Du et
al. and the released code (3 blocks of 6 conv layers: 20 layers), SRResNet as Ledig et al. (16
blocks of 2). ``cpu``: a small RDN and decoder (with a linear output, which cannot start dead)
with fewer, faster steps, for 2-core demos (minutes on the embedded cohort). Fields left at
``None`` come from the profile; explicit keys win.
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

ENCODERS = ("rdn", "rescnn", "srresnet")
# each encoder's own (blocks, conv layers per block): RDN as Wu et al., ResCNN's 20 layers
# (head, 3 x 6, output) as Du et al. and the released code, SRResNet's 16 blocks as Ledig et al.
ENCODER_SIZES: dict[str, tuple[int, int]] = {"rdn": (8, 3), "rescnn": (3, 6), "srresnet": (16, 2)}

PROFILES: dict[str, dict[str, Any]] = {
    "paper": {
        "encoder": "rdn", "encoder_blocks": None, "encoder_layers": None, "encoder_width": 64,
        "feature_size": 128, "decoder_width": 256, "decoder_last_relu": True, "lr_patch": 10,
        "points_per_patch": 8000, "patches_per_step": 15, "patches_per_image": 6,
        "steps_per_epoch": None, "epochs": 2500, "learning_rate": 1e-4, "lr_halving_epochs": 200,
    },
    "cpu": {
        "encoder": "rdn", "encoder_blocks": 2, "encoder_layers": None, "encoder_width": 16,
        "feature_size": 32, "decoder_width": 64, "decoder_last_relu": False, "lr_patch": 10,
        "points_per_patch": 2000, "patches_per_step": 4, "patches_per_image": 6,
        "steps_per_epoch": 25, "epochs": 20, "learning_rate": 2e-3, "lr_halving_epochs": 10,
    },
}


@dataclass
class ArSSRParams:
    """ArSSR's hyper-parameters (``None`` = take it from ``profile``)."""

    profile: str = field(default="paper", metadata={"help": "named set of the values below"})
    encoder: str | None = help_field("encoder CNN: rdn (paper default), rescnn or srresnet")
    encoder_blocks: int | None = help_field(
        "RDN: residual dense blocks; ResCNN/SRResNet: residual blocks (None: the encoder's own, "
        "rdn 8, rescnn 3, srresnet 16)")
    encoder_layers: int | None = help_field(
        "conv layers per block (None: the encoder's own, rdn 3, rescnn 6, srresnet 2, the only "
        "value srresnet takes)")
    encoder_width: int | None = help_field("encoder channels (RDN: growth rate and base width)")
    feature_size: int | None = help_field("feature vector per LR voxel (encoder output)")
    decoder_width: int | None = help_field("width of the decoder's 8 fully-connected layers")
    decoder_last_relu: bool | None = help_field(
        "a ReLU after the decoder's last layer too (paper and released code: after every layer; "
        "false: a linear output, which can be negative but cannot start dead)")
    lr_patch: int | None = help_field("training crop: LR voxels per axis")
    points_per_patch: int | None = help_field("HR points sampled per crop per step")
    patches_per_step: int | None = help_field("crops per optimiser step")
    patches_per_image: int | None = help_field(
        "crops per training image and epoch (the paper's 6 patches of 40^3 per image)")
    steps_per_epoch: int | None = help_field(
        "steps per epoch (None: patches_per_image x training subjects / patches_per_step)")
    epochs: int | None = help_field("training epochs per contrast")
    learning_rate: float | None = help_field("Adam learning rate")
    lr_halving_epochs: int | None = help_field("the learning rate halves every this many epochs")
    budget_seconds: float | None = budget_field()
    device: str = field(default="auto", metadata={"help": "auto (CUDA if present), cpu, cuda"})

    def __post_init__(self) -> None:
        fill_from_profile(self, PROFILES)
        check_budget(self.budget_seconds)
        check_choice("encoder", self.encoder, ENCODERS)
        blocks, layers = ENCODER_SIZES[self.encoder]
        self.encoder_blocks = blocks if self.encoder_blocks is None else self.encoder_blocks
        self.encoder_layers = layers if self.encoder_layers is None else self.encoder_layers
        if self.encoder == "srresnet" and self.encoder_layers != 2:
            raise InputError(f"encoder_layers: an SRResNet block has 2 conv layers, got "
                             f"{self.encoder_layers!r}")
        if not isinstance(self.decoder_last_relu, bool):
            raise InputError(f"decoder_last_relu: expected true or false, got "
                             f"{self.decoder_last_relu!r}")
        check_choice("device", self.device, DEVICES)
        check_integers(self, {"encoder_blocks": 1, "encoder_layers": 1, "encoder_width": 1,
                              "feature_size": 1, "decoder_width": 1, "lr_patch": 4,
                              "points_per_patch": 1, "patches_per_step": 1,
                              "patches_per_image": 1, "steps_per_epoch": 1,
                              "epochs": 1, "lr_halving_epochs": 1}, optional=("steps_per_epoch",))
        check_number("learning_rate", self.learning_rate, 0.0, strict=True)


def epoch_steps(params: ArSSRParams, training_images: int) -> int:
    """Optimiser steps per epoch: ``steps_per_epoch`` if set, else as the paper defines an epoch,
    ``patches_per_image`` crops of every training image in steps of ``patches_per_step``."""
    return params.steps_per_epoch or -(-training_images * params.patches_per_image
                                       // params.patches_per_step)
