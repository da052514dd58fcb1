"""Network layers that several methods share: zero-padded convolutions in 2D or 3D, the
residual dense network (RDN) encoder (ArSSR in 3D, Dual-ArbNet in 2D) and ReLU MLPs (the
decoders of ArSSR and SA-INR).

Attribute names are part of every saved model's state_dict keys: renaming one breaks the
model files trained before.
"""

from __future__ import annotations

import torch
from torch import nn

CONVOLUTIONS: dict[int, type[nn.Module]] = {2: nn.Conv2d, 3: nn.Conv3d}


def conv3(channels_in: int, channels_out: int, kernel: int = 3, dims: int = 3) -> nn.Module:
    """A zero-padded ('same' size) convolution, 3D or (``dims=2``) 2D."""
    return CONVOLUTIONS[dims](channels_in, channels_out, kernel, padding=kernel // 2)


def mlp(widths: list[int], *, last_relu: bool) -> nn.Sequential:
    """Fully-connected layers between consecutive ``widths``, a ReLU after each one but the
    last, and after the last too when ``last_relu``."""
    layers: list[nn.Module] = []
    for i, (width_in, width_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(nn.Linear(width_in, width_out))
        if last_relu or i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ResidualDenseBlock(nn.Module):
    """``layers`` densely connected conv+ReLU layers, 1x1 local fusion, local residual."""

    def __init__(self, width: int, growth: int, layers: int, dims: int = 3) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(conv3(width + i * growth, growth, dims=dims), nn.ReLU())
            for i in range(layers))
        self.fusion = conv3(width + layers * growth, width, 1, dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, dim=1)))
        return x + self.fusion(torch.cat(features, dim=1))


class RDN(nn.Module):
    """Residual dense network (Zhang et al. 2018) without its upscaling layer, in 3D (ArSSR)
    or 2D (``dims=2``, Dual-ArbNet): two shallow convolutions, ``blocks`` residual dense blocks
    (growth = ``width``), global fusion with the residual from the first convolution, and an
    output convolution to ``features`` channels."""

    def __init__(self, width: int, blocks: int, layers: int, features: int,
                 dims: int = 3) -> None:
        super().__init__()
        self.shallow1 = conv3(1, width, dims=dims)
        self.shallow2 = conv3(width, width, dims=dims)
        self.blocks = nn.ModuleList(ResidualDenseBlock(width, width, layers, dims)
                                    for _ in range(blocks))
        self.fusion = nn.Sequential(conv3(blocks * width, width, 1, dims),
                                    conv3(width, width, dims=dims))
        self.output = conv3(width, features, dims=dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shallow = self.shallow1(x)
        h, outputs = self.shallow2(shallow), []
        for block in self.blocks:
            h = block(h)
            outputs.append(h)
        return self.output(self.fusion(torch.cat(outputs, dim=1)) + shallow)
