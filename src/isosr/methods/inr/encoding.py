"""Coordinate encodings of the INRs, both defined in physical units so a setting means the same
on every field of view.

Networks receive normalised coordinates x = (world - centre) / half_extent in [-1, 1]^3
(``coordinates.CoordinateFrame``); each encoding is told ``half_extent_mm`` and converts.

- ``FourierFeatures``: Gaussian Fourier features (McGinnis et al. 2023) with frequencies in
  cycles/mm, B ~ N(0, sigma^2), features [sin(2 pi B w), cos(2 pi B w)] of world millimetres w.
- ``HashGridEncoding``: the multi-resolution hash encoding of Instant-NGP (Mueller et al. 2022):
  ``levels`` grids whose cell sizes fall geometrically from ``coarsest_mm`` to ``finest_mm``, each
  holding ``features`` trainable values per vertex, trilinearly interpolated; a level whose
  vertices fit in 2^``log2_table_size`` entries is stored densely (one entry per vertex), a finer
  one is hashed into that many entries (spatial hash of Teschner et al., the primes of Instant-NGP).
  Pure PyTorch, so it runs on the CPU and on CUDA; the table gradient is a scatter-add
  (``index_add_``), much faster than autograd's embedding backward on the CPU.
"""

from __future__ import annotations

import math
from itertools import accumulate

import torch
from torch import nn

HASH_PRIMES = (1, 2654435761, 805459861)
HASH_INIT_RANGE = 1e-4  # Instant-NGP: table entries ~ U(-1e-4, 1e-4)


class FourierFeatures(nn.Module):
    """[sin(2 pi B w), cos(2 pi B w)], B ~ N(0, sigma^2) cycles/mm, shape (features, 3)."""

    def __init__(self, features: int, sigma_per_mm: float, half_extent_mm: float) -> None:
        super().__init__()
        frequencies = torch.randn(features, 3) * sigma_per_mm
        # w = x * half_extent (the centre only shifts phases, which B ~ N(0, .) leaves random)
        self.register_buffer("frequencies", 2.0 * math.pi * half_extent_mm * frequencies)

    @property
    def size(self) -> int:
        return 2 * self.frequencies.shape[0]

    def forward(self, coordinates: torch.Tensor) -> torch.Tensor:
        projection = coordinates @ self.frequencies.T
        return torch.cat([torch.sin(projection), torch.cos(projection)], dim=-1)


def level_cell_sizes(levels: int, coarsest_mm: float, finest_mm: float) -> list[float]:
    """Cell sizes (mm) of the levels, geometric from ``coarsest_mm`` down to ``finest_mm``."""
    if levels == 1:
        return [finest_mm]
    ratio = finest_mm / coarsest_mm
    return [coarsest_mm * ratio ** (level / (levels - 1)) for level in range(levels)]


def _as_words(values: torch.Tensor) -> torch.Tensor:
    """(..., F) features -> (..., W) words: feature pairs viewed as one complex number when F is
    even (W = F / 2), the features themselves when it is odd. A word is read and scattered as
    one element (the weighting itself runs on the real features: multiplying a complex word by
    a real weight would first convert the weight to complex)."""
    if values.shape[-1] % 2:
        return values
    return torch.view_as_complex(values.contiguous().unflatten(-1, (-1, 2)))


def _from_words(words: torch.Tensor) -> torch.Tensor:
    """Inverse of ``_as_words``."""
    return torch.view_as_real(words).flatten(-2) if words.is_complex() else words


class _TableLookup(torch.autograd.Function):
    """sum_k weights[k] * table[rows[k]]: (8, L, B) corners -> (B, L, F), gradient to the table.

    The batch is the innermost (contiguous) dimension of rows and weights, which keeps every
    elementwise step a long loop on the CPU; so does weighting the gathered values one feature at
    a time (broadcasting a weight over a trailing dimension of F elements would make the inner
    loop F long). The table is gathered from and scattered into as one flat vector of words
    (``_as_words``): PyTorch's 1-D ``index_select``/``index_add_`` are 2-3x faster on the CPU than
    their row-wise forms for rows of a few features.
    """

    @staticmethod
    def forward(ctx, table: torch.Tensor, rows: torch.Tensor, weights: torch.Tensor
                ) -> torch.Tensor:
        words = _as_words(table)  # (N, W)
        width = words.shape[1]
        index = rows if width == 1 else rows[..., None] * width + torch.arange(
            width, device=rows.device)
        index = index.flatten()
        ctx.save_for_backward(index, weights)
        ctx.table_words = words.shape
        values = _from_words(words.reshape(-1).index_select(0, index).view(*rows.shape, width))
        levels, batch = rows.shape[1:]
        encoded = torch.empty(batch, levels, values.shape[-1], dtype=values.dtype,
                              device=values.device)
        for feature in range(values.shape[-1]):  # (8, L, B) -> (L, B), into (B, L, F)
            encoded[..., feature].T.copy_((values[..., feature] * weights).sum(dim=0))
        return encoded

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        index, weights = ctx.saved_tensors
        contributions = torch.empty(*weights.shape, grad.shape[-1], dtype=grad.dtype,
                                    device=grad.device)  # (8, L, B, F)
        for feature in range(grad.shape[-1]):
            torch.mul(weights, grad[..., feature].T, out=contributions[..., feature])
        words = _as_words(contributions)
        table_grad = torch.zeros(ctx.table_words, dtype=words.dtype, device=grad.device)
        table_grad.view(-1).index_add_(0, index, words.reshape(-1))
        return _from_words(table_grad), None, None


def corner_combinations(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, combine,
                        out: torch.Tensor | None = None) -> torch.Tensor:
    """(2, ...) values per axis (lower, upper vertex) -> (2, 2, 2, ...) over the cell's corners
    (written into ``out`` when given)."""
    return combine(combine(x[:, None, None], y[None, :, None]), z[None, None, :], out=out)


class HashGridEncoding(nn.Module):
    """Multi-resolution (hash) grid: (B, 3) coordinates in [-1, 1] -> (B, levels * features)."""

    def __init__(self, levels: int, features: int, log2_table_size: int, coarsest_mm: float,
                 finest_mm: float, half_extent_mm: float) -> None:
        super().__init__()
        self.levels, self.features = levels, features
        self.cell_mm = level_cell_sizes(levels, coarsest_mm, finest_mm)
        capacity = 2 ** log2_table_size
        # vertices per axis: the cube [-1, 1] spans 2 * half_extent mm; one extra for the far edge
        vertices = [math.ceil(2.0 * half_extent_mm / cell) + 1 for cell in self.cell_mm]
        # cells shrink level by level, so the dense levels come first and the hashed ones last
        self.dense_levels = sum(n**3 <= capacity for n in vertices)
        sizes = [min(n**3, capacity) for n in vertices]
        self.hash_mask = capacity - 1
        self.table = nn.Parameter(torch.empty(sum(sizes), features).uniform_(
            -HASH_INIT_RANGE, HASH_INIT_RANGE))
        self.register_buffer("scale", torch.tensor([half_extent_mm / c for c in self.cell_mm]))
        self.register_buffer("last_vertex", torch.tensor(vertices, dtype=torch.float32) - 1)
        self.register_buffer("offsets", torch.tensor([0, *accumulate(sizes)][:-1]))
        # dense levels: row = i + n j + n^2 k; hashed levels: (i p0 ^ j p1 ^ k p2) & mask
        multipliers = [[1, n, n * n] for n in vertices[:self.dense_levels]]
        multipliers += [list(HASH_PRIMES)] * (levels - self.dense_levels)
        self.register_buffer("multipliers", torch.tensor(multipliers, dtype=torch.int64).T)
        # (2, 2, 2, dense): a corner's row minus its lower vertex's, plus the level's offset
        steps = self.multipliers[:, :self.dense_levels]
        self.register_buffer("dense_corner_rows", corner_combinations(
            *torch.stack([torch.zeros_like(steps), steps]).unbind(1), torch.add)
            + self.offsets[:self.dense_levels], persistent=False)

    @property
    def size(self) -> int:
        return self.levels * self.features

    def corner_rows(self, base: torch.Tensor) -> torch.Tensor:
        """Table rows (8, L, B) of the corners of the cells with lower vertices (3, L, B)."""
        dense = self.dense_levels
        rows = torch.empty((2, 2, 2, *base.shape[1:]), dtype=torch.int64, device=base.device)
        # dense: a corner's row is its lower vertex's row plus a constant of the corner and level
        lower = (base[:, :dense] * self.multipliers[:, :dense, None]).sum(dim=0)
        torch.add(lower, self.dense_corner_rows[..., None], out=rows[:, :, :, :dense])
        hashed = base[:, dense:]
        pairs = torch.stack([hashed, hashed + 1]) * self.multipliers[None, :, dense:, None]
        corner_combinations(*pairs.unbind(1), torch.bitwise_xor, out=rows[:, :, :, dense:])
        rows[:, :, :, dense:].bitwise_and_(self.hash_mask).add_(self.offsets[dense:, None])
        return rows.flatten(0, 2)

    def forward(self, coordinates: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            # vertex units per level, batch innermost: (3, L, B)
            batch_innermost = coordinates.T.contiguous()  # (3, B): every later step follows it
            position = (batch_innermost[:, None, :] + 1.0) * self.scale[None, :, None]
            last = self.last_vertex[None, :, None]
            position = torch.minimum(position.clamp(min=0.0), last)  # outside: edge values
            base = torch.minimum(position.floor(), last - 1.0)
            fraction = position - base
            weights = corner_combinations(*torch.stack([1.0 - fraction, fraction]).unbind(1),
                                          torch.mul).flatten(0, 2)  # (8, L, B)
            rows = self.corner_rows(base.long())
        return _TableLookup.apply(self.table, rows, weights).reshape(-1, self.size)
