"""INR networks: Gaussian Fourier features, a ReLU MLP trunk, and one output per contrast.

Every network maps (B, 3) normalised coordinates to (B, C) intensities, one column per contrast,
so all three methods share one training loop and one predictor:

- split head: shared trunk, then per contrast Linear(width, head) + ReLU + Linear(head, 1);
- vanilla: shared trunk, then one Linear(width, C);
- single: C independent networks (each its own Fourier features and trunk), one output each.

Parameters are drawn from torch's global generator: build networks under
``torch.random.fork_rng`` after seeding it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from isosr.methods.inr.params import INRParams, SplitHeadParams


class FourierFeatures(nn.Module):
    """[sin(2 pi B x), cos(2 pi B x)] with a fixed B ~ N(0, sigma^2) of shape (features, 3)."""

    def __init__(self, features: int, sigma: float) -> None:
        super().__init__()
        frequencies = torch.randn(features, 3) * sigma
        self.register_buffer("frequencies", 2.0 * math.pi * frequencies)

    @property
    def size(self) -> int:
        return 2 * self.frequencies.shape[0]

    def forward(self, coordinates: torch.Tensor) -> torch.Tensor:
        projection = coordinates @ self.frequencies.T
        return torch.cat([torch.sin(projection), torch.cos(projection)], dim=-1)


def relu_mlp(widths: list[int]) -> nn.Sequential:
    """Linear + ReLU between each consecutive pair of ``widths``."""
    layers: list[nn.Module] = []
    for width_in, width_out in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(width_in, width_out), nn.ReLU()]
    return nn.Sequential(*layers)


class MultiOutputINR(nn.Module):
    """Fourier features -> trunk -> heads; the heads' outputs are concatenated to (B, C)."""

    def __init__(self, encoding: FourierFeatures, trunk: nn.Sequential, heads: list[nn.Module]
                 ) -> None:
        super().__init__()
        self.encoding = encoding
        self.trunk = trunk
        self.heads = nn.ModuleList(heads)

    def forward(self, coordinates: torch.Tensor) -> torch.Tensor:
        features = self.trunk(self.encoding(coordinates))
        return torch.cat([head(features) for head in self.heads], dim=-1)


class IndependentINRs(nn.Module):
    """Independent networks side by side; column c of the output is network c's prediction."""

    def __init__(self, networks: list[nn.Module]) -> None:
        super().__init__()
        self.networks = nn.ModuleList(networks)

    def forward(self, coordinates: torch.Tensor) -> torch.Tensor:
        return torch.cat([network(coordinates) for network in self.networks], dim=-1)


def encoder_and_trunk(params: INRParams) -> tuple[FourierFeatures, nn.Sequential]:
    """Fourier features and the trunk: input layer + ``hidden_layers`` hidden layers, all ReLU."""
    encoding = FourierFeatures(params.fourier_features, params.fourier_sigma)
    return encoding, relu_mlp([encoding.size] + [params.hidden_width] * (params.hidden_layers + 1))


def split_head_inr(params: SplitHeadParams, contrasts: int) -> MultiOutputINR:
    """Shared trunk with one two-layer head per contrast (the proposed model)."""
    encoding, trunk = encoder_and_trunk(params)
    heads = [nn.Sequential(nn.Linear(params.hidden_width, params.head_width), nn.ReLU(),
                           nn.Linear(params.head_width, 1)) for _ in range(contrasts)]
    return MultiOutputINR(encoding, trunk, heads)


def vanilla_inr(params: INRParams, contrasts: int) -> MultiOutputINR:
    """Shared trunk with one linear layer predicting every contrast (the ablation)."""
    encoding, trunk = encoder_and_trunk(params)
    return MultiOutputINR(encoding, trunk, [nn.Linear(params.hidden_width, contrasts)])


def single_inrs(params: INRParams, contrasts: int) -> IndependentINRs:
    """One single-output INR per contrast (the paper's Baseline 4)."""
    return IndependentINRs([vanilla_inr(params, 1) for _ in range(contrasts)])
