"""ArSSR (Wu et al. 2023): a 3D CNN encoder turns the LR image into one feature vector per LR
voxel; an MLP decoder maps the feature trilinearly interpolated at any continuous position (plus
that position) to an intensity. Trained on a cohort, one model per contrast.

Faithful: the RDN / ResCNN / SRResNet encoders with 128 output features (ResCNN with its long
and short skips, SRResNet as Ledig et al.), the 8-layer decoder with its residual between the
two 4-layer stages and a ReLU after every layer (the last one too), random crops of 10^3 LR
voxels with 8000 HR points each, L1 loss, Adam with the learning rate halved every 200 epochs.

Beyond the paper (documented in the README): the LR crops are the scenario's own simulated
acquisitions, so scales are anisotropic (thick slices along any axis) and the model is trained
for the acquisition it is tested on; positions come from the affines (HR voxel centres mapped
into the LR voxel grid, align_corners semantics), so the output has no origin shift (the released
code copies the LR origin); the decoder's position input is the offset from the nearest LR voxel
centre (as LIIF), which means the same in a training crop and in the whole test volume (absolute
crop coordinates would not).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from isosr.io import Grid, InputError, LRImage
from isosr.methods.arssr.params import ArSSRParams, epoch_steps
from isosr.methods.base import (
    CohortMethod,
    FitResult,
    TrainingContext,
    TrainingPair,
    TrainResult,
)
from isosr.methods.cohort_sampling import (
    CropSampler,
    interpolate,
    nearest_offsets,
    positions_in_lr,
)
from isosr.methods.cohort_training import (
    ContrastJob,
    EpochTrainer,
    cohort_fingerprint,
    load_model,
    save_model,
    train_each_contrast,
    training_result,
)
from isosr.methods.device import select_device
from isosr.methods.layers import RDN, conv3, mlp

PREDICTION_CHUNK = 1 << 15


class ResCNN(nn.Module):
    """Du et al. 2020's residual CNN with long and short skip connections, as the released
    code builds it: conv+ReLU head, ``blocks`` blocks of ``layers`` conv+ReLU layers each with
    its short skip (3 x 6: 20 layers with head and output), the output convolution, and the long
    skip adding the input image (broadcast over the output features)."""

    def __init__(self, width: int, blocks: int, layers: int, features: int) -> None:
        super().__init__()
        self.head = nn.Sequential(conv3(1, width), nn.ReLU())
        self.blocks = nn.ModuleList(
            nn.Sequential(*[m for _ in range(layers) for m in (conv3(width, width), nn.ReLU())])
            for _ in range(blocks))
        self.output = conv3(width, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        for block in self.blocks:
            h = h + block(h)
        return x + self.output(h)


class SRResNetBlock(nn.Module):
    """Ledig et al.'s residual block: conv, batch norm, PReLU, conv, batch norm, skip."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3(width, width), nn.BatchNorm3d(width), nn.PReLU(),
                                  conv3(width, width), nn.BatchNorm3d(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """Ledig et al. 2017's generator in 3D without its upscaling layers: a 9^3 conv + PReLU,
    ``blocks`` residual blocks, conv + batch norm with the skip from the first conv, and an
    output convolution to ``features`` channels."""

    HEAD_KERNEL = 9

    def __init__(self, width: int, blocks: int, layers: int, features: int) -> None:
        super().__init__()
        del layers  # an SRResNet block has two convolutions by definition (checked in params)
        self.head = nn.Sequential(conv3(1, width, self.HEAD_KERNEL), nn.PReLU())
        self.body = nn.Sequential(*[SRResNetBlock(width) for _ in range(blocks)],
                                  conv3(width, width), nn.BatchNorm3d(width))
        self.output = conv3(width, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        return self.output(self.body(h) + h)


ENCODERS: dict[str, type[nn.Module]] = {"rdn": RDN, "rescnn": ResCNN, "srresnet": SRResNet}


class Decoder(nn.Module):
    """Eight fully-connected layers: (feature + 3) -> width x3 -> (feature + 3), added to the
    input, then -> width x3 -> 1; a ReLU after every layer, the last one too unless
    ``last_relu`` is false (a linear output)."""

    def __init__(self, features: int, width: int, last_relu: bool = True) -> None:
        super().__init__()
        size = features + 3
        self.first = mlp([size, width, width, width, size], last_relu=True)
        self.second = mlp([size, width, width, width, 1], last_relu=last_relu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x) + x).squeeze(-1)


class ArSSRNetwork(nn.Module):
    """Encoder + decoder; ``forward(lr, positions)`` predicts intensities at continuous
    positions given in the LR voxel grid's indices (B, N, 3)."""

    def __init__(self, params: ArSSRParams) -> None:
        super().__init__()
        self.encoder = ENCODERS[params.encoder](params.encoder_width, params.encoder_blocks,
                                                params.encoder_layers, params.feature_size)
        self.decoder = Decoder(params.feature_size, params.decoder_width,
                               params.decoder_last_relu)

    def forward(self, lr: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encoder(lr), positions)

    def decode(self, features: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Intensities (B, N) at ``positions`` (B, N, 3) from the feature maps (B, C, I, J, K)."""
        return self.decoder(torch.cat([interpolate(features, positions),
                                       nearest_offsets(positions)], dim=-1))


def refuse_a_dead_start(predicted: torch.Tensor, params: ArSSRParams, seed: int,
                        contrast: str) -> None:
    """An InputError if the first step's outputs are all 0 behind the decoder's output ReLU:
    no gradient reaches the network, which would never train."""
    if params.decoder_last_relu and not bool(predicted.detach().any()):
        raise InputError(f"decoder_last_relu: with seed {seed} the {contrast} network starts "
                         "with its output ReLU dead (every output 0, no gradient: it would never "
                         "train); choose another seed or decoder_last_relu: false")


class ArSSR(CohortMethod):
    """One ArSSR network per contrast, trained on the training subjects' (HR, LR) pairs."""

    def train(self, pairs: list[TrainingPair], context: TrainingContext) -> TrainResult:
        params: ArSSRParams = self.params
        device = select_device(params.device)
        contrasts = sorted(pairs[0].lr)
        fingerprint = cohort_fingerprint({**self.describe(), "device": str(device)}, pairs)
        steps = epoch_steps(params, len(pairs))

        def job(index: int, contrast: str) -> ContrastJob:
            sampler = CropSampler(pairs, contrast, params.lr_patch, params.points_per_patch,
                                  device)
            network = self._network(index, device)
            checked = False

            def loss(generator: torch.Generator, trainer: EpochTrainer) -> torch.Tensor:
                nonlocal checked
                crops = [sampler.crop(generator) for _ in range(params.patches_per_step)]
                lr, positions, targets = (torch.stack(part) for part in zip(*crops, strict=True))
                predicted = network(lr, positions)
                if trainer.epoch == 0 and not checked:  # the first step of a fresh training
                    checked = True
                    refuse_a_dead_start(predicted, params, self.seed + index, contrast)
                return functional.l1_loss(predicted, targets)

            return ContrastJob(network, steps, loss, f"{self.name} {contrast}")

        trained = train_each_contrast(
            self, contrasts, job, context=context, device=device, fingerprint=fingerprint,
            learning_rate=params.learning_rate, halving_epochs=params.lr_halving_epochs,
            epochs=params.epochs)
        save_model(context.model_file, self, pairs[0].lr, trained.states)
        return training_result(device, params.epochs, trained)

    def predict(self, model_file: Path, lr: dict[str, LRImage], grid: Grid) -> FitResult:
        params: ArSSRParams = self.params
        device = select_device(params.device)
        saved = load_model(model_file, self, lr)
        images = {}
        for contrast, image in lr.items():
            network = self._network(0, device)
            network.load_state_dict(saved["states"][contrast])
            network.eval()
            positions = torch.from_numpy(positions_in_lr(grid, image.affine)).to(device)
            with torch.inference_mode():
                volume = torch.from_numpy(np.ascontiguousarray(image.data, np.float32))
                features = network.encoder(volume.to(device)[None, None])
                values = [network.decode(features, chunk[None])[0]
                          for chunk in positions.split(PREDICTION_CHUNK)]
            images[contrast] = torch.cat(values).cpu().numpy().reshape(grid.shape)
            logging.info("%s %s: predicted %d voxels", self.name, contrast, positions.shape[0])
        return FitResult(images, str(device), {"model_file": str(model_file)})

    def _network(self, index: int, device: torch.device) -> ArSSRNetwork:
        """A freshly initialised network, seeded per contrast (index)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + index)
            return ArSSRNetwork(self.params).to(device)
