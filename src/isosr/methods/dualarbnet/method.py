"""Dual-ArbNet (Zhang et al. 2023): a target contrast super-resolved with the help of a reference
contrast, each at its own arbitrary scale, by a shared 2D encoder and an implicit fusion decoder.

Faithful: the RDN encoder shared by target and reference, the 3x3 unfolding of its features,
their nearest-neighbour up-sampling to the target HR grid with each image's own scale, the
fusion branch (ResBlocks with channel and spatial attention) whose layers modulate a sine
implicit decoding function fed with both scales and the position relative to the nearest target
feature (Eq. 3), the skip branch (Eq. 4), L1 + 0.05 k-space loss (Eqs. 5-6), the Cur-Random
curriculum (warm-up on integer scales with the HR reference, then arbitrary scales with the HR
reference, then the HR or the LR reference at random), scales 1-4 in steps of 0.1, crops of
32 x 32 LR pixels with flips and 90-degree rotations, Adam halved every 40 epochs.

Adapted from 2D k-space-cropped slices to thick-slice stacks (see the README):
- The 2D slices are the HR grid's planes that contain the target stack's thick axis (so the
  target is super-resolved along that axis only, at scale thickness / HR spacing). Of the two
  such families of planes, the one normal to the reference's thick axis is used when the
  reference is thick along another axis, so that the reference has full resolution in-plane.
- The target LR slice is the scenario's own LR model (slice profile, k-space, spline or
  decimation; its noise) applied along the thick axis of the HR plane at the curriculum's scale,
  simulated for each crop; at test time it is the LR stack's plane. The paper's LR reference is
  the scenario's LR scan of the other contrast, interpolated linearly to the plane and kept at its
  own resolution in it; the HR reference is the other contrast's HR plane (training only).
- Scales are per plane axis (the stacks are anisotropic): the decoder gets the target's and the
  reference's scale along both axes (4 numbers) beside the 2 relative coordinates. Positions
  come from the affines, so the output is in the HR grid's world coordinates.
- One model per target contrast, whose reference is the next contrast of the scenario (the
  other one, for two contrasts): every contrast is super-resolved once as the target. The
  reference's own decoding (Eq. 3 with z = ref) is not in the paper's loss and is not computed.
- The k-space loss is the root mean square of the masked spectrum difference of each crop
  (orthonormal FFT); the mask keeps the band the LR scan kept (paper text, ``kspace_mask:
  kept``) or the band it removed (released code, ``removed``).
- Gradients flow into the shared encoder from both images (the released code detaches the
  reference branch; the paper describes plain weight sharing).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
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
from isosr.methods.dualarbnet.params import DualArbNetParams
from isosr.methods.layers import RDN, conv3
from isosr.simulate import Acquisition, simulate_lr, through_plane_axis

WARMUP_SCALES = (2.0, 3.0, 4.0)
SCALE_STEP = 0.1


# --- geometry: stacks in the HR grid's axis order, and their 2D planes -----------------------

@dataclass
class AlignedStack:
    """An image whose axes are the HR grid's, increasing: HR index = origin + step * index."""

    data: np.ndarray
    origin: np.ndarray
    step: np.ndarray


def align(data: np.ndarray, affine: np.ndarray, grid_affine: np.ndarray, name: str
          ) -> AlignedStack:
    """``data`` re-ordered (and flipped) onto the HR grid's axes; an InputError naming
    ``name`` if its voxel axes are not parallel to the grid's."""
    to_hr = np.linalg.inv(grid_affine) @ np.asarray(affine, dtype=np.float64)
    matrix = to_hr[:3, :3]
    order = np.argmax(np.abs(matrix), axis=1)  # the image axis along each HR axis
    main = np.abs(matrix[np.arange(3), order])
    if sorted(order) != [0, 1, 2] or np.abs(matrix).sum() - main.sum() > 1e-3 * main.sum():
        raise InputError(f"{name}: its voxel axes are not parallel to the HR grid's; "
                         "dual-arbnet slices along them")
    data = np.transpose(np.asarray(data, dtype=np.float32), order)
    step = matrix[np.arange(3), order]
    origin = to_hr[:3, 3].copy()
    for axis in np.flatnonzero(step < 0):
        data = np.flip(data, axis)
        origin[axis] += step[axis] * (data.shape[axis] - 1)
    return AlignedStack(np.ascontiguousarray(data), origin, np.abs(step))


def plane(stack: AlignedStack, axis: int, index: int) -> AlignedStack:
    """The 2D image of ``stack`` in the HR plane ``index`` normal to ``axis``, at the stack's own
    resolution in the plane (linear interpolation across the plane)."""
    count = stack.data.shape[axis]
    position = float(np.clip((index - stack.origin[axis]) / stack.step[axis], 0, count - 1))
    below = int(np.floor(position))
    above, weight = min(below + 1, count - 1), position - below
    image = ((1 - weight) * np.take(stack.data, below, axis)
             + weight * np.take(stack.data, above, axis))
    keep = [k for k in range(3) if k != axis]
    return AlignedStack(image.astype(np.float32), stack.origin[keep], stack.step[keep])


def nearest(image: AlignedStack, hr_rows: np.ndarray, hr_cols: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per plane axis: the nearest pixel of ``image`` to each HR row / column and the offset
    from it in units of half a pixel (the decoder's relative coordinate)."""
    result = []
    for q, hr in enumerate((hr_rows, hr_cols)):
        position = (hr - image.origin[q]) / image.step[q]
        index = np.clip(np.round(position), 0, image.data.shape[q] - 1).astype(np.int64)
        result.append((index, (2.0 * (position - index)).astype(np.float32)))
    (rows, row_offsets), (cols, col_offsets) = result
    return rows, cols, row_offsets, col_offsets


def slicing_axis(grid: Grid, target: LRImage, reference: LRImage) -> tuple[int, int]:
    """(thick axis of the target, axis normal to the slices) in HR array axes: the slices
    contain the target's thick axis and, where possible, are normal to the reference's."""
    thick = through_plane_axis(grid.affine, target.view)
    normal = through_plane_axis(grid.affine, reference.view)
    return thick, normal if normal != thick else min(k for k in range(3) if k != thick)


@dataclass
class Slice:
    """The network's input for one HR plane (or a crop of it): the target and the reference at
    their own resolution, each HR pixel's nearest target / reference pixel (per axis) with the
    offset from the target's, and both images' scales along the two plane axes."""

    target: torch.Tensor
    reference: torch.Tensor
    target_rows: torch.Tensor
    target_cols: torch.Tensor
    row_offsets: torch.Tensor
    col_offsets: torch.Tensor
    reference_rows: torch.Tensor
    reference_cols: torch.Tensor
    scales: torch.Tensor

    @classmethod
    def build(cls, target: AlignedStack, reference: AlignedStack, hr_rows: np.ndarray,
              hr_cols: np.ndarray, device: torch.device) -> Slice:
        rows, cols, row_offsets, col_offsets = nearest(target, hr_rows, hr_cols)
        reference_rows, reference_cols, _, _ = nearest(reference, hr_rows, hr_cols)
        scales = np.concatenate([target.step, reference.step]).astype(np.float32)
        arrays = (target.data, reference.data, rows, cols, row_offsets, col_offsets,
                  reference_rows, reference_cols, scales)
        return cls(*(torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in arrays))

    def flipped(self, axis: int) -> Slice:
        """The same slice mirrored along plane axis ``axis`` (augmentation)."""
        target, reference = self.target.flip(axis), self.reference.flip(axis)
        if axis == 0:
            return replace(self, target=target, reference=reference,
                           target_rows=len(target) - 1 - self.target_rows.flip(0),
                           reference_rows=len(reference) - 1 - self.reference_rows.flip(0),
                           row_offsets=-self.row_offsets.flip(0))
        return replace(self, target=target, reference=reference,
                       target_cols=target.shape[1] - 1 - self.target_cols.flip(0),
                       reference_cols=reference.shape[1] - 1 - self.reference_cols.flip(0),
                       col_offsets=-self.col_offsets.flip(0))

    def transposed(self) -> Slice:
        """The same slice with its two axes swapped (with a flip: a 90-degree rotation)."""
        s = self.scales
        return Slice(self.target.T, self.reference.T, self.target_cols, self.target_rows,
                     self.col_offsets, self.row_offsets, self.reference_cols,
                     self.reference_rows, s[[1, 0, 3, 2]])


# --- network ---------------------------------------------------------------------------------

class ChannelAttention(nn.Module):
    """CBAM's channel attention: a shared MLP on the average- and max-pooled channels."""

    def __init__(self, channels: int, ratio: int = 16) -> None:
        super().__init__()
        hidden = max(channels // ratio, 1)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1, bias=False), nn.ReLU(),
                                 nn.Conv2d(hidden, channels, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.mlp(x.mean((2, 3), keepdim=True)) + self.mlp(x.amax((2, 3), keepdim=True))
        return x * torch.sigmoid(pooled)


class SpatialAttention(nn.Module):
    """CBAM's spatial attention: a 3x3 convolution of the channel mean and maximum."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


class FusionLayer(nn.Module):
    """One fusion layer: 1x1 projection, then a ResBlock (residual 3x3 conv+ReLU layers, channel
    and spatial attention) with its residual (Eq. 2)."""

    def __init__(self, channels_in: int, channels: int, convs: int) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.Conv2d(channels_in, channels, 1), nn.ReLU())
        self.convs = nn.ModuleList(nn.Sequential(conv3(channels, channels, dims=2), nn.ReLU())
                                   for _ in range(convs))
        self.attention = nn.Sequential(ChannelAttention(channels), SpatialAttention())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.project(x)
        h = x
        for conv in self.convs:
            h = h + conv(h)
        return x + self.attention(h)


class DualArbNetwork(nn.Module):
    """Shared RDN encoder + implicit fusion decoder; ``forward(slice)`` is the target's HR
    plane (H, W) for the HR rows and columns the slice's indices describe."""

    def __init__(self, params: DualArbNetParams) -> None:
        super().__init__()
        self.encoder = RDN(params.encoder_width, params.encoder_blocks, params.encoder_layers,
                           params.feature_size, dims=2)
        unfolded, width = 9 * params.feature_size, params.decoder_width
        self.fusion = nn.ModuleList(
            FusionLayer(2 * unfolded if i == 0 else 2 * width, 2 * width, params.fusion_convs)
            for i in range(params.fusion_layers))
        self.first = nn.Conv2d(6, width, 1)
        self.modulated = nn.ModuleList(nn.Conv2d(width, width, 1)
                                       for _ in range(params.fusion_layers))
        self.last = nn.Conv2d(width, 1, 1)
        self.skip_in, self.skip_out = nn.Conv2d(unfolded, width, 1), nn.Conv2d(width, 1, 1)
        self.width = width

    def features(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
                 ) -> torch.Tensor:
        """Encoded, 3x3-unfolded features of ``image`` up-sampled (nearest) to the HR plane."""
        encoded = self.encoder((image[None, None] - 0.5) / 0.5)
        _, channels, height, width = encoded.shape
        unfolded = functional.unfold(encoded, 3, padding=1).view(1, 9 * channels, height, width)
        return unfolded[:, :, rows][:, :, :, cols]

    def forward(self, s: Slice) -> torch.Tensor:
        target = self.features(s.target, s.target_rows, s.target_cols)
        fused = torch.cat([target, self.features(s.reference, s.reference_rows,
                                                 s.reference_cols)], dim=1)
        height, width = target.shape[2:]
        coordinates = torch.stack([s.row_offsets[:, None].expand(height, width),
                                   s.col_offsets[None, :].expand(height, width)])
        scales = s.scales[:, None, None].expand(4, height, width)
        query = torch.sin(self.first(torch.cat([scales, coordinates])[None]))
        for fusion, modulated in zip(self.fusion, self.modulated, strict=True):
            fused = fusion(fused)
            query = torch.sin(modulated(query) * fused[:, :self.width])
        skip = self.skip_out(torch.sin(self.skip_in(target)))
        return (self.last(query) + skip)[0, 0] * 0.5 + 0.5


# --- training data and loss ------------------------------------------------------------------

class CropSampler:
    """Training crops for one target contrast with its reference: a random brain voxel picks
    the HR plane and the crop centre; the target LR plane is simulated at the curriculum's scale
    with the scenario's LR model; ``lr_patch`` LR pixels per side, flips and rotations."""

    def __init__(self, pairs: list[TrainingPair], target: str, reference: str,
                 params: DualArbNetParams, device: torch.device) -> None:
        self.params, self.device = params, device
        self.subjects = []
        for pair in pairs:
            image = pair.lr[target]
            thick, normal = slicing_axis(pair.grid, image, pair.lr[reference])
            mask = pair.grid.mask if pair.grid.mask is not None else np.ones(pair.grid.shape)
            self.subjects.append({
                "target": pair.hr[target].astype(np.float32),
                "hr_reference": pair.hr[reference].astype(np.float32),
                "lr_reference": align(pair.lr[reference].data, pair.lr[reference].affine,
                                      pair.grid.affine, f"{pair.subject} {reference} LR"),
                "image": image, "affine": pair.grid.affine, "thick": thick, "normal": normal,
                "brain": np.argwhere(mask), "planes": int(np.any(mask, axis=tuple(
                    k for k in range(3) if k != normal)).sum()),
            })
        decimate = pairs[0].lr[target].model == "decimate"
        scales = np.arange(1.0, params.max_scale + 1e-9, 1.0 if decimate else SCALE_STEP)
        self.scales = np.round(scales, 6)
        self.planes = sum(s["planes"] for s in self.subjects)

    def _draw(self, generator: torch.Generator, count: int) -> int:
        return int(torch.randint(count, (1,), generator=generator, device=self.device))

    def crop(self, generator: torch.Generator, epoch: int) -> tuple[Slice, torch.Tensor]:
        """One crop (its slice and its HR truth), drawn for curriculum epoch ``epoch``."""
        params = self.params
        subject = self.subjects[self._draw(generator, len(self.subjects))]
        voxel = subject["brain"][self._draw(generator, len(subject["brain"]))]
        if epoch < params.warmup_epochs:
            scale = WARMUP_SCALES[self._draw(generator, len(WARMUP_SCALES))]
        else:
            scale = float(self.scales[self._draw(generator, len(self.scales))])
        hr_reference = epoch < params.hr_reference_epochs or self._draw(generator, 2) == 0
        seed = self._draw(generator, 2**31 - 1)
        normal, index = subject["normal"], int(voxel[subject["normal"]])
        target = self._simulate(subject, index, scale, seed)
        if hr_reference:
            reference = AlignedStack(np.take(subject["hr_reference"], index, normal),
                                     np.zeros(2), np.ones(2))
        else:
            reference = plane(subject["lr_reference"], normal, index)
        truth = np.take(subject["target"], index, normal)
        centre = [int(voxel[k]) for k in range(3) if k != normal]
        hr, target = self._window(target, truth.shape, centre)
        reference = self._cover(reference, hr)
        s = Slice.build(target, reference, *hr, self.device)
        truth_crop = torch.from_numpy(np.ascontiguousarray(truth[np.ix_(*hr)])).to(self.device)
        for axis in (0, 1):
            if self._draw(generator, 2):
                s, truth_crop = s.flipped(axis), truth_crop.flip(axis)
        if self._draw(generator, 2):
            s, truth_crop = s.transposed(), truth_crop.T
        return s, truth_crop

    def _simulate(self, subject: dict, index: int, scale: float, seed: int) -> AlignedStack:
        """The target's HR plane ``index`` acquired with the scenario's LR model at ``scale``."""
        normal, image = subject["normal"], subject["image"]
        shift = np.eye(4)
        shift[normal, 3] = index
        affine = subject["affine"] @ shift
        spacing = float(np.linalg.norm(affine[:3, subject["thick"]]))
        acquisition = Acquisition(image.view, scale * spacing, image.model, image.noise)
        data, lr_affine = simulate_lr(np.take(subject["target"], [index], normal), affine,
                                      acquisition, seed)
        return plane(align(data, lr_affine, affine, "simulated plane"), normal, 0)

    def _window(self, target: AlignedStack, shape: tuple[int, ...], centre: list[int]
                ) -> tuple[tuple[np.ndarray, np.ndarray], AlignedStack]:
        """``lr_patch`` target pixels per axis around ``centre`` and the HR pixels they cover."""
        hr, starts, origin = [], [], target.origin.copy()
        for q in (0, 1):
            count = target.data.shape[q]
            size = min(self.params.lr_patch, count)
            position = (np.arange(shape[q]) - target.origin[q]) / target.step[q]
            near = np.clip(np.round(position), 0, count - 1)
            start = int(np.clip(near[centre[q]] - size // 2, 0, count - size))
            hr.append(np.flatnonzero((near >= start) & (near < start + size)))
            starts.append(slice(start, start + size))
            origin[q] += start * target.step[q]
        return (hr[0], hr[1]), AlignedStack(target.data[tuple(starts)], origin, target.step)

    @staticmethod
    def _cover(image: AlignedStack, hr: tuple[np.ndarray, np.ndarray]) -> AlignedStack:
        """The part of ``image`` nearest to the HR pixels ``hr``."""
        rows, cols, _, _ = nearest(image, *hr)
        window = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
        origin = image.origin + np.array([rows.min(), cols.min()]) * image.step
        return AlignedStack(image.data[window], origin, image.step)


def kspace_loss(prediction: torch.Tensor, truth: torch.Tensor, scales: torch.Tensor,
                mask: str) -> torch.Tensor:
    """Root mean square of the spectrum difference (orthonormal 2D FFT) on the band the LR
    image kept (frequencies up to 1 / (2 scale) per axis) or on the band it removed."""
    difference = torch.view_as_real(torch.fft.fft2(prediction - truth, norm="ortho"))
    bands = [torch.fft.fftfreq(n, device=truth.device).abs() <= 0.5 / scale + 1e-6
             for n, scale in zip(truth.shape, scales, strict=True)]
    kept = bands[0][:, None] & bands[1][None, :]
    chosen = kept if mask == "kept" else ~kept
    return torch.sqrt((difference.square().sum(-1) * chosen).mean() + 1e-12)


def crop_loss(network: nn.Module, s: Slice, truth: torch.Tensor, params: DualArbNetParams
              ) -> torch.Tensor:
    """L1 + kspace_weight x k-space loss of one crop (Eq. 6)."""
    prediction = network(s)
    return (functional.l1_loss(prediction, truth)
            + params.kspace_weight * kspace_loss(prediction, truth, s.scales[:2],
                                                 params.kspace_mask))


def references_of(contrasts: list[str]) -> dict[str, str]:
    """Each contrast's reference: the next one of the sorted contrasts (cyclic)."""
    return {c: contrasts[(i + 1) % len(contrasts)] for i, c in enumerate(contrasts)}


# --- the method ------------------------------------------------------------------------------

class DualArbNet(CohortMethod):
    """One Dual-ArbNet per target contrast (its reference: another contrast of the scenario),
    trained on the training subjects' HR images and LR scans."""

    def train(self, pairs: list[TrainingPair], context: TrainingContext) -> TrainResult:
        params: DualArbNetParams = self.params
        device = select_device(params.device)
        contrasts = sorted(pairs[0].lr)
        if len(contrasts) < 2:
            raise InputError(f"{self.name} needs a target and a reference contrast; the "
                             f"scenario has only {contrasts}")
        references = references_of(contrasts)
        fingerprint = cohort_fingerprint({**self.describe(), "device": str(device)}, pairs)

        def job(index: int, target: str) -> ContrastJob:
            sampler = CropSampler(pairs, target, references[target], params, device)
            steps = params.steps_per_epoch or -(-sampler.planes // params.patches_per_step)
            network = self._network(index, device)

            def loss(generator: torch.Generator, trainer: EpochTrainer) -> torch.Tensor:
                losses = [crop_loss(network, *sampler.crop(generator, trainer.epoch), params)
                          for _ in range(params.patches_per_step)]
                return torch.stack(losses).mean()

            return ContrastJob(network, steps, loss,
                               f"{self.name} {target} (reference {references[target]})")

        trained = train_each_contrast(
            self, contrasts, job, context=context, device=device, fingerprint=fingerprint,
            learning_rate=params.learning_rate, halving_epochs=params.lr_halving_epochs,
            epochs=params.epochs)
        save_model(context.model_file, self, pairs[0].lr, trained.states, references=references)
        return training_result(device, params.epochs, trained,
                               references=references)

    def predict(self, model_file: Path, lr: dict[str, LRImage], grid: Grid) -> FitResult:
        params: DualArbNetParams = self.params
        device = select_device(params.device)
        saved = load_model(model_file, self, lr)
        images = {}
        for target in lr:
            reference = saved["references"][target]
            if reference not in lr:
                raise InputError(f"{model_file}: the {target} model needs the {reference} "
                                 f"LR scan as its reference")
            network = self._network(0, device)
            network.load_state_dict(saved["states"][target])
            network.eval()
            images[target] = self._predict_volume(network, lr, target, reference, grid,
                                                  device)
            logging.info("%s %s (reference %s): predicted %d voxels", self.name, target,
                         reference, int(np.prod(grid.shape)))
        return FitResult(images, str(device), {"model_file": str(model_file),
                                               "references": saved["references"]})

    @staticmethod
    def _predict_volume(network: nn.Module, lr: dict[str, LRImage], target: str,
                        reference: str, grid: Grid, device: torch.device) -> np.ndarray:
        """``target`` on ``grid``, one HR plane (normal to the slicing axis) at a time."""
        _, normal = slicing_axis(grid, lr[target], lr[reference])
        target_stack, reference_stack = (
            align(lr[c].data, lr[c].affine, grid.affine, f"{c} LR scan")
            for c in (target, reference))
        rows, cols = (np.arange(grid.shape[k]) for k in range(3) if k != normal)
        volume = np.zeros(grid.shape, np.float32)
        with torch.inference_mode():
            for index in range(grid.shape[normal]):
                s = Slice.build(plane(target_stack, normal, index),
                                plane(reference_stack, normal, index), rows, cols, device)
                where = [slice(None)] * 3
                where[normal] = index
                volume[tuple(where)] = network(s).cpu().numpy()
        return volume

    def _network(self, index: int, device: torch.device) -> DualArbNetwork:
        """A freshly initialised network, seeded per target contrast (index)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + index)
            return DualArbNetwork(self.params).to(device)
