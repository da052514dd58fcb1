"""LPIPS v0.1 with the AlexNet backbone (Zhang et al., CVPR 2018), in plain torch.

Why our own network: the reference package (`lpips`) imports torchvision, which this project does
not install. The network here is the same computation: torchvision's AlexNet ``features`` layers
(same layer indices, so torchvision's ImageNet checkpoint ``alexnet-owt-7be5be79.pth`` loads
as is), activations after its five ReLUs, unit-normalised over channels, squared differences
weighted by LPIPS's learned 1x1 linear layers, averaged over space and summed over layers.

Weights: the backbone comes from ``lpips.alexnet_weights`` in the config, else from torch's hub
cache (``$TORCH_HOME/hub/checkpoints/``); the linear layers from ``lpips.linear_weights``, else from
the ``weights/v0.1/alex.pth`` file of an installed ``lpips`` distribution (located, never
imported: ``pip install --no-deps lpips==0.1.4`` provides it). Without either, LPIPS is missing
(NaN) and ``LpipsWeights.missing_reason`` says why.

Volumes are scored slice-wise over all three views, on the slices that contain brain, with both
images clipped to [0, 1], set to 0 outside the brain mask and mapped to [-1, 1]; the value is the
mean over all those slices (McGinnis et al. 2023 average over all slices of the three axes).
Slices smaller than AlexNet accepts (31 pixels) are padded with background first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from isosr.io import InputError
from isosr.lpips_weights import ALEXNET_CHECKPOINT, LpipsWeights, find_weights

__all__ = ["ALEXNET_CHECKPOINT", "Lpips", "LpipsWeights", "find_weights", "lpips_volume"]

CHANNELS = (64, 192, 384, 256, 256)
FEATURE_TAPS = (1, 4, 7, 9, 11)  # indices of the ReLUs in AlexNet.features
SHIFT = (-0.030, -0.088, -0.188)  # LPIPS input scaling layer (ImageNet statistics in [-1, 1])
SCALE = (0.458, 0.448, 0.450)
MIN_SLICE = 31  # the smallest side AlexNet's strided convolutions and pools accept
EPS = 1e-10


class Lpips(nn.Module):
    """LPIPS v0.1 distance between batches of single-channel images in [-1, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(),
        )
        self.linear = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in CHANNELS)

    def load_weights(self, weights: LpipsWeights) -> Lpips:
        """Load the torchvision AlexNet checkpoint and the LPIPS linear layers; eval mode."""
        if weights.missing_reason:
            raise InputError(f"LPIPS weights missing: {weights.missing_reason}")
        backbone = _load_state(weights.alexnet)
        features = {key: value for key, value in backbone.items() if key.startswith("features.")}
        _load_into(self, features, weights.alexnet, "features")
        # The LPIPS file names layer k "lin{k}.model.1" (a Sequential of Dropout and the conv).
        linear = {key.replace("lin", "linear.", 1).replace(".model.1", ""): value
                  for key, value in _load_state(weights.linear).items()}
        _load_into(self, linear, weights.linear, "linear")
        return self.eval()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Distance per image pair of (N, 1, H, W) batches in [-1, 1], shape (N,)."""
        total = torch.zeros(a.shape[0], dtype=a.dtype, device=a.device)
        for fa, fb, linear in zip(self._activations(a), self._activations(b), self.linear,
                                  strict=True):
            difference = (_unit_channels(fa) - _unit_channels(fb)) ** 2
            total = total + linear(difference).mean(dim=(1, 2, 3))
        return total

    def _activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x.expand(-1, 3, -1, -1) - self.shift) / self.scale
        taps = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in FEATURE_TAPS:
                taps.append(x)
        return taps


def _unit_channels(x: torch.Tensor) -> torch.Tensor:
    return x / (torch.sqrt(torch.sum(x**2, dim=1, keepdim=True)) + EPS)


def _load_state(path: Path | None) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a corrupt or foreign file
        raise InputError(f"{path}: not a readable torch checkpoint ({error})") from error
    if not isinstance(state, dict):
        raise InputError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


def _load_into(model: nn.Module, state: dict[str, torch.Tensor], path: Path | None,
               prefix: str) -> None:
    expected = {k: v.shape for k, v in model.state_dict().items() if k.startswith(f"{prefix}.")}
    found = {k: tuple(v.shape) for k, v in state.items()}
    if found != {k: tuple(v) for k, v in expected.items()}:
        raise InputError(f"{path}: not the expected {prefix} weights (tensors {sorted(found)} "
                         f"instead of {sorted(expected)} with matching shapes)")
    model.load_state_dict(state, strict=False)


def brain_slices(volume: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    """Per view (array axis), the stack of 2D slices that contain brain, shape (n, H, W)."""
    stacks = []
    for axis in range(3):
        others = tuple(a for a in range(3) if a != axis)
        keep = np.flatnonzero(mask.any(axis=others))
        stacks.append(np.moveaxis(np.take(volume, keep, axis=axis), axis, 0))
    return stacks


@torch.no_grad()
def lpips_volume(model: Lpips, prediction: np.ndarray, truth: np.ndarray, mask: np.ndarray,
                 batch: int = 64, mcginnis2023: bool = False) -> float:
    """Mean LPIPS over the brain slices of all three views (see the module docstring).

    ``mcginnis2023``: as their released code scores it, every slice of the three views, the
    (renormalised, masked) [0, 1] volumes fed as they are, not mapped to [-1, 1]."""
    mask = np.asarray(mask, dtype=bool)
    if mcginnis2023:
        prepared = [np.asarray(v, dtype=np.float32) for v in (prediction, truth)]
        mask, background = np.ones_like(mask), 0.0
    else:
        prepared = [np.where(mask, np.clip(v, 0.0, 1.0), 0.0).astype(np.float32) * 2.0 - 1.0
                    for v in (prediction, truth)]
        background = -1.0
    distances = []
    for stack_a, stack_b in zip(brain_slices(prepared[0], mask), brain_slices(prepared[1], mask),
                                strict=True):
        stack_a, stack_b = (_pad_to_minimum(stack, background) for stack in (stack_a, stack_b))
        for start in range(0, len(stack_a), batch):
            a = torch.from_numpy(np.ascontiguousarray(stack_a[start:start + batch]))[:, None]
            b = torch.from_numpy(np.ascontiguousarray(stack_b[start:start + batch]))[:, None]
            distances.append(model(a, b))
    return float(torch.cat(distances).mean())


def _pad_to_minimum(stack: np.ndarray, background: float = -1.0) -> np.ndarray:
    """Pad (n, H, W) slices with ``background`` to at least ``MIN_SLICE`` per side, centred."""
    pads = [(0, 0)]
    for side in stack.shape[1:]:
        missing = max(0, MIN_SLICE - side)
        pads.append((missing // 2, missing - missing // 2))
    return np.pad(stack, pads, constant_values=background)
