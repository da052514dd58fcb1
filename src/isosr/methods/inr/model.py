"""INR networks: a coordinate encoding, a ReLU MLP trunk, and one output per contrast.

Every network maps (B, 3) normalised coordinates to (B, C) intensities, one column per contrast,
so all three methods share one training loop and one predictor:

- split head: shared trunk, then per contrast Linear(width, head) + ReLU + Linear(head, 1);
- vanilla: shared trunk, then one Linear(width, C);
- single: one output; ``SingleContrastINR`` trains one such network per contrast, alone.

The encoding is Gaussian Fourier features or a multi-resolution hash grid (``encoding``), both in
physical units: ``NetworkGeometry`` tells them the frame's half extent and the HR voxel size.

Parameters are drawn from torch's global generator: build networks under
``torch.random.fork_rng`` after seeding it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from isosr.methods.inr.encoding import FourierFeatures, HashGridEncoding
from isosr.methods.inr.params import INRParams, SplitHeadParams

Encoding = FourierFeatures | HashGridEncoding


@dataclass(frozen=True)
class NetworkGeometry:
    """What an encoding needs of the fit: the frame's half extent and the HR voxel size (mm)."""

    half_extent_mm: float
    hr_voxel_mm: float


def relu_mlp(widths: list[int]) -> nn.Sequential:
    """Linear + ReLU between each consecutive pair of ``widths``."""
    layers: list[nn.Module] = []
    for width_in, width_out in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(width_in, width_out), nn.ReLU()]
    return nn.Sequential(*layers)


class MultiOutputINR(nn.Module):
    """Encoding -> trunk -> heads; the heads' outputs are concatenated to (B, C)."""

    def __init__(self, encoding: Encoding, trunk: nn.Sequential, heads: list[nn.Module]
                 ) -> None:
        super().__init__()
        self.encoding = encoding
        self.trunk = trunk
        self.heads = nn.ModuleList(heads)

    def forward(self, coordinates: torch.Tensor) -> torch.Tensor:
        features = self.trunk(self.encoding(coordinates))
        return torch.cat([head(features) for head in self.heads], dim=-1)

    def own_outputs(self, coordinates: torch.Tensor, counts: list[int]) -> torch.Tensor:
        """(B,) each point's output of its own contrast, for points grouped by contrast
        (``counts[c]`` consecutive points of contrast c). A head runs only on its own points:
        training needs nothing else (a contrast supervises only its own output)."""
        parts = self.trunk(self.encoding(coordinates)).split(counts)
        if len(self.heads) == len(counts):  # one head per contrast
            return torch.cat([head(part)[:, 0]
                              for head, part in zip(self.heads, parts, strict=True)])
        (layer,) = self.heads  # one Linear predicting every contrast: its row c for contrast c
        return torch.cat([nn.functional.linear(part, layer.weight[c, None], layer.bias[c, None])
                          [:, 0] for c, part in enumerate(parts)])


def encoding_of(params: INRParams, geometry: NetworkGeometry) -> Encoding:
    """The configured encoding; the hash grid's finest cells are never below the HR voxel."""
    if params.encoding == "fourier":
        return FourierFeatures(params.fourier_features, params.fourier_sigma,
                               geometry.half_extent_mm)
    finest = max(params.hash_finest_mm, geometry.hr_voxel_mm)
    return HashGridEncoding(params.hash_levels, params.hash_features,
                            params.hash_log2_table_size, max(params.hash_coarsest_mm, finest),
                            finest, geometry.half_extent_mm)


def encoder_and_trunk(params: INRParams, geometry: NetworkGeometry
                      ) -> tuple[Encoding, nn.Sequential]:
    """The encoding and the trunk: input layer + ``hidden_layers`` hidden layers, all ReLU."""
    encoding = encoding_of(params, geometry)
    return encoding, relu_mlp([encoding.size] + [params.hidden_width] * (params.hidden_layers + 1))


def split_head_inr(params: SplitHeadParams, contrasts: int, geometry: NetworkGeometry
                   ) -> MultiOutputINR:
    """Shared trunk with one two-layer head per contrast (the proposed model)."""
    encoding, trunk = encoder_and_trunk(params, geometry)
    heads = [nn.Sequential(nn.Linear(params.hidden_width, params.head_width), nn.ReLU(),
                           nn.Linear(params.head_width, 1)) for _ in range(contrasts)]
    return MultiOutputINR(encoding, trunk, heads)


def vanilla_inr(params: INRParams, contrasts: int, geometry: NetworkGeometry
                ) -> MultiOutputINR:
    """Shared trunk with one linear layer predicting every contrast (the ablation, and with one
    contrast the single-contrast INR, Baseline 4)."""
    encoding, trunk = encoder_and_trunk(params, geometry)
    return MultiOutputINR(encoding, trunk, [nn.Linear(params.hidden_width, contrasts)])

