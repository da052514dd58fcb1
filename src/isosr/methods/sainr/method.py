"""SA-INR (Wang et al.): arbitrary reduction of slice spacing with spatial attention.

An EDSR-3D encoder turns the LR stack into one feature vector per LR voxel. For a query point
(an HR voxel centre, at any real-valued position between two LR slices) the feature trilinearly
interpolated there is the initial representation z_q; a 1x1 mask predictor with binary
Gumbel-softmax (hard forward, straight-through backward) selects the points that the local-aware
spatial attention (LASA) refines: z_q attends to the ``window`` x ``window`` in-plane LR voxels
around it on each of its two neighbouring slices, their features plus an embedding of their
offsets (Eq. 7). A 5-layer MLP decodes z_q with the query's position into a residual over the
trilinear interpolation of the LR image (Eq. 4). Loss: L1 + gamma * CE(gradient mask, gate) +
(budget - gated fraction)^2 (Eq. 13), the gradient mask being the top ``gate_budget`` of the HR
gradient magnitude; gamma halves every ``mask_ce_halving_epochs`` epochs. One model per contrast.

Beyond the paper (documented in the README): the LR crops are the scenario's own simulated
acquisitions (any view, thick axis = the stack's own slice axis, real-valued spacing factors,
the scenario's slice profile) instead of decimation by a random integer k, so the model is
trained for the acquisition it is tested on; positions come from the affines (HR voxel centres
mapped into the LR voxel grid), so the output has no origin shift; the decoder's position input
is the offset from the nearest LR voxel centre (as ArSSR here), the same in a crop and in the
whole volume; ``points_per_patch`` HR points are drawn at random inside each crop (the paper
supervises every HR voxel of its patch); at inference, attention is computed only at the gated
points (in training for all, so that the straight-through gate gets its gradient).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from isosr.io import Grid, InputError, LRImage
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
from isosr.methods.layers import conv3, mlp
from isosr.methods.sainr.params import SAINRParams
from isosr.simulate import through_plane_axis

PREDICTION_CHUNK = 1 << 14
NEIGHBOUR_SLICES = 2


class ResidualBlock(nn.Module):
    """EDSR's block: conv, ReLU, conv, plus the input; no normalisation."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3(width, width), nn.ReLU(), conv3(width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class EDSR3D(nn.Module):
    """EDSR (Lim et al. 2017) in 3D without its upsampler: head conv, residual blocks, a conv,
    and the long skip from the head's output."""

    def __init__(self, blocks: int, width: int) -> None:
        super().__init__()
        self.head = conv3(1, width)
        self.body = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)],
                                  conv3(width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        return h + self.body(h)


def slices_last(maps: torch.Tensor, positions: torch.Tensor, axis: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """``maps`` (B, C, *3 axes) and ``positions`` (B, N, 3) with the slice ``axis`` moved last."""
    order = [a for a in range(3) if a != axis] + [axis]
    return maps.permute(0, 1, *(2 + a for a in order)), positions[..., order]


class LocalAttention(nn.Module):
    """The attention term of LASA (Eq. 7), softmax(z_q Θ ((Z + X Ω) Φ)^T) (Z + X Ω) Γ, over
    the ``window``^2 in-plane neighbours on each of the two LR slices around the query (LASA
    adds it to z_q); X are the neighbours' offsets from the query in LR voxel units."""

    def __init__(self, features: int, window: int) -> None:
        super().__init__()
        self.theta = nn.Linear(features, features, bias=False)
        self.phi = nn.Linear(features, features, bias=False)
        self.gamma = nn.Linear(features, features, bias=False)
        self.omega = nn.Linear(3, features, bias=False)
        radius = torch.arange(window) - window // 2
        steps = torch.meshgrid(radius, radius, torch.arange(NEIGHBOUR_SLICES), indexing="ij")
        self.register_buffer("steps", torch.stack(steps, -1).reshape(-1, 3), persistent=False)

    def neighbours(self, shape: torch.Size, positions: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat indices (B, N, M) and voxel positions (B, N, M, 3) of each query's neighbours
        in a (in-plane, in-plane, slice) grid of ``shape``, clamped to the grid."""
        size = torch.tensor(shape, device=positions.device)
        lower = positions[..., 2:].floor().clamp(0, max(shape[2] - 2, 0))
        base = torch.cat([positions[..., :2].round(), lower], dim=-1).long()
        voxels = torch.minimum((base[:, :, None, :] + self.steps).clamp(min=0), size - 1)
        flat = (voxels[..., 0] * shape[1] + voxels[..., 1]) * shape[2] + voxels[..., 2]
        return flat, voxels.to(positions.dtype)

    def forward(self, features: torch.Tensor, positions: torch.Tensor, z: torch.Tensor,
                axis: int) -> torch.Tensor:
        """The attention term (B, N, C) of queries ``z`` at LR ``positions`` (B, N, 3), given
        the LR feature maps (B, C, I, J, K) whose slices are along array ``axis``."""
        maps, positions = slices_last(features, positions, axis)
        flat, voxels = self.neighbours(maps.shape[2:], positions)
        table = maps.flatten(2).transpose(1, 2)  # (B, LR voxels, C)
        batch = torch.arange(len(table), device=table.device)[:, None, None]
        offsets = voxels - positions[:, :, None, :]
        # (Z + X Ω) Φ = Z Φ + X (Ω Φ): project each LR voxel once, not once per neighbourhood
        keys = (self.phi(table)[batch, flat]
                + functional.linear(offsets, self.phi.weight @ self.omega.weight))
        values = (self.gamma(table)[batch, flat]
                  + functional.linear(offsets, self.gamma.weight @ self.omega.weight))
        similarity = torch.einsum("bnc,bnmc->bnm", self.theta(z), keys)
        return torch.einsum("bnm,bnmc->bnc", similarity.softmax(-1), values)


class SAINRNetwork(nn.Module):
    """Encoder, gate, attention and decoder; positions are LR voxel indices (B, N, 3)."""

    def __init__(self, params: SAINRParams) -> None:
        super().__init__()
        self.encoder = EDSR3D(params.encoder_blocks, params.features)
        self.gate = nn.Linear(params.features, 1)
        self.attention = LocalAttention(params.features, params.window)
        width = params.decoder_width
        self.decoder = mlp([params.features + 3, width, width, width, width, 1],
                           last_relu=False)

    def decode(self, lr: torch.Tensor, z: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Trilinear LR intensity plus the decoded residual (Eq. 4), (B, N)."""
        residual = self.decoder(torch.cat([z, nearest_offsets(positions)], dim=-1))[..., 0]
        return interpolate(lr, positions)[..., 0] + residual

    def forward(self, lr: torch.Tensor, positions: torch.Tensor, axis: int,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training pass: intensities (B, N), the noisy gate logits and the straight-through
        hard gate (both (B, N)); attention is computed at every point."""
        features = self.encoder(lr)
        z = interpolate(features, positions)
        noise = [gumbel(positions.shape[:2], generator, positions.device) for _ in range(2)]
        logits = self.gate(z)[..., 0] + noise[0] - noise[1]  # Eq. 9
        soft = torch.sigmoid(logits)
        gate = (soft >= 0.5).to(soft.dtype) + soft - soft.detach()
        z = z + gate[..., None] * self.attention(features, positions, z, axis)
        return self.decode(lr, z, positions), logits, gate

    def predict(self, lr: torch.Tensor, features: torch.Tensor, positions: torch.Tensor,
                axis: int) -> tuple[torch.Tensor, int]:
        """Intensities (N,) at ``positions`` (N, 3) and how many points were gated; attention
        only where the noise-free gate opens (sigmoid >= 0.5, i.e. logit >= 0)."""
        z = interpolate(features, positions[None])
        gated = self.gate(z)[0, :, 0] >= 0
        if gated.any():
            z[0, gated] += self.attention(features, positions[None, gated], z[:, gated], axis)[0]
        return self.decode(lr, z, positions[None])[0], int(gated.sum())


def gumbel(shape: torch.Size, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Standard Gumbel noise (mu = 0, beta = 1) from ``generator``."""
    uniform = torch.rand(shape, generator=generator, device=device)
    return -torch.log(-torch.log(uniform.clamp(1e-10, 1.0 - 1e-7)))


def gradient_magnitude(pair: TrainingPair, contrast: str) -> np.ndarray:
    """|grad| (per mm) of the HR ground truth of ``contrast``."""
    gradients = np.gradient(pair.hr[contrast].astype(np.float64), *pair.grid.spacing)
    return np.sqrt(sum(g**2 for g in gradients))


def slice_axis(images: list[LRImage], contrast: str) -> int:
    """The array axis of the slice direction, the same in every image of ``contrast``."""
    axes = {through_plane_axis(image.affine, image.view) for image in images}
    if len(axes) != 1:
        raise InputError(f"{contrast}: the training subjects' LR stacks have their slices "
                         f"along different array axes {sorted(axes)}")
    return axes.pop()


def mask_loss(logits: torch.Tensor, gate: torch.Tensor, gradient: torch.Tensor, budget: float,
              weight: float) -> dict[str, torch.Tensor]:
    """Eq. 13: ``weight`` x CE(G, gate), G = the top ``budget`` of each crop's HR gradient
    magnitudes (gradient > 0), plus (budget - gated fraction)^2."""
    threshold = torch.quantile(gradient, 1.0 - budget, dim=1, keepdim=True)
    target = ((gradient >= threshold) & (gradient > 0)).to(logits.dtype)
    return {"mask_ce": weight * functional.binary_cross_entropy_with_logits(logits, target),
            "mask_budget": (budget - gate.mean()) ** 2}


class SAINR(CohortMethod):
    """One SA-INR network per contrast, trained on the training subjects' (HR, LR) pairs."""

    def train(self, pairs: list[TrainingPair], context: TrainingContext) -> TrainResult:
        params: SAINRParams = self.params
        device = select_device(params.device)
        contrasts = sorted(pairs[0].lr)
        fingerprint = cohort_fingerprint({**self.describe(), "device": str(device)}, pairs)
        steps = params.steps_per_epoch or -(-len(pairs) // params.patches_per_step)
        axes = {}

        def job(index: int, contrast: str) -> ContrastJob:
            axis = axes[contrast] = slice_axis([pair.lr[contrast] for pair in pairs], contrast)
            patch = [params.lr_patch] * 3
            patch[axis] = params.lr_slices
            sampler = CropSampler(pairs, contrast, tuple(patch), params.points_per_patch, device,
                                  hr_values=lambda p: np.stack(
                                      [p.hr[contrast], gradient_magnitude(p, contrast)], axis=-1))
            network = self._network(index, device)

            def loss(generator: torch.Generator, trainer: EpochTrainer
                     ) -> dict[str, torch.Tensor]:
                crops = [sampler.crop(generator) for _ in range(params.patches_per_step)]
                lr, positions, values = (torch.stack(part) for part in zip(*crops, strict=True))
                predicted, logits, gate = network(lr, positions, axis, generator)
                return {"l1": functional.l1_loss(predicted, values[..., 0]),
                        **mask_loss(logits, gate, values[..., 1], params.gate_budget,
                                    0.5 ** (trainer.epoch // params.mask_ce_halving_epochs))}

            return ContrastJob(network, steps, loss, f"{self.name} {contrast}")

        trained = train_each_contrast(
            self, contrasts, job, context=context, device=device, fingerprint=fingerprint,
            learning_rate=params.learning_rate,
            halving_epochs=params.lr_halving_epochs or params.epochs, epochs=params.epochs,
            halvings=params.lr_halvings if params.lr_halving_epochs else None)
        save_model(context.model_file, self, pairs[0].lr, trained.states, slice_axes=axes)
        return training_result(device, params.epochs, trained)

    def predict(self, model_file: Path, lr: dict[str, LRImage], grid: Grid) -> FitResult:
        params: SAINRParams = self.params
        device = select_device(params.device)
        saved = load_model(model_file, self, lr)
        images, gated = {}, {}
        for contrast, image in lr.items():
            axis = slice_axis([image], contrast)
            if axis != saved["slice_axes"][contrast]:
                raise InputError(f"{model_file}: {contrast} was trained with slices along array "
                                 f"axis {saved['slice_axes'][contrast]}, not {axis}")
            network = self._network(0, device)
            network.load_state_dict(saved["states"][contrast])
            network.eval()
            positions = torch.from_numpy(positions_in_lr(grid, image.affine)).to(device)
            with torch.inference_mode():
                volume = torch.from_numpy(np.ascontiguousarray(image.data, np.float32))
                volume = volume.to(device)[None, None]
                features = network.encoder(volume)
                chunks = [network.predict(volume, features, chunk, axis)
                          for chunk in positions.split(PREDICTION_CHUNK)]
            images[contrast] = torch.cat([v for v, _ in chunks]).cpu().numpy().reshape(grid.shape)
            gated[contrast] = sum(n for _, n in chunks) / positions.shape[0]
            logging.info("%s %s: predicted %d voxels, %.1f %% refined by attention", self.name,
                         contrast, positions.shape[0], 100 * gated[contrast])
        return FitResult(images, str(device), {"model_file": str(model_file),
                                               "attention_fraction": gated})

    def _network(self, index: int, device: torch.device) -> SAINRNetwork:
        """A freshly initialised network, seeded per contrast (index)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + index)
            return SAINRNetwork(self.params).to(device)

