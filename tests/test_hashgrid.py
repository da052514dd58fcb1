"""The multi-resolution hash encoding against a direct trilinear computation, and its gradient."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from isosr.methods.inr.encoding import HASH_PRIMES, HashGridEncoding, level_cell_sizes

HALF_EXTENT_MM = 10.0


# an odd count is looked up feature by feature, an even one as complex pairs (one or two a row)
FEATURES = [3, 2, 4]


def small_encoding(features: int) -> HashGridEncoding:
    """Two levels on a 20 mm cube: 4 mm cells (6^3 = 216 vertices, dense in 2^8 entries) and
    1 mm cells (21^3 vertices, hashed into 2^8 entries)."""
    torch.manual_seed(0)
    encoding = HashGridEncoding(levels=2, features=features, log2_table_size=8, coarsest_mm=4.0,
                                finest_mm=1.0, half_extent_mm=HALF_EXTENT_MM)
    with torch.no_grad():
        encoding.table.uniform_(-1.0, 1.0)  # values large enough to see any wrong lookup
    return encoding


def vertex_volume(encoding: HashGridEncoding, level: int, vertices: int) -> np.ndarray:
    """The (n, n, n, F) vertex values of a level, each vertex's row computed one by one."""
    table = encoding.table.detach().numpy()
    offset = 0 if level == 0 else min(6**3, 2**8)
    volume = np.zeros((vertices,) * 3 + (table.shape[1],))
    for i, j, k in np.ndindex(vertices, vertices, vertices):
        if vertices**3 <= 2**8:
            row = i + vertices * j + vertices**2 * k
        else:
            row = (i * HASH_PRIMES[0] ^ j * HASH_PRIMES[1] ^ k * HASH_PRIMES[2]) % 2**8
        volume[i, j, k] = table[offset + row]
    return volume


@pytest.mark.parametrize("features", FEATURES)
def test_lookup_equals_trilinear_interpolation_of_each_levels_vertex_values(features: int):
    encoding = small_encoding(features)
    assert encoding.cell_mm == pytest.approx([4.0, 1.0]) and encoding.dense_levels == 1
    generator = torch.Generator().manual_seed(1)
    points = torch.rand(500, 3, generator=generator, dtype=torch.float64) * 2.0 - 1.0
    points[:4] = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0], [1.0, -1.0, 0.3],
                               [0.0, 0.0, 0.0]], dtype=torch.float64)  # corners, edges, centre
    encoded = encoding(points.float()).detach().numpy().reshape(len(points), 2, features)
    for level, (cell, vertices) in enumerate([(4.0, 6), (1.0, 21)]):
        volume = vertex_volume(encoding, level, vertices)
        position = ((points.numpy() + 1.0) * HALF_EXTENT_MM / cell).T  # vertex units
        for feature in range(features):
            expected = ndimage.map_coordinates(volume[..., feature], position, order=1)
            np.testing.assert_allclose(encoded[:, level, feature], expected, atol=1e-5)


@pytest.mark.parametrize("features", FEATURES)
def test_table_gradient_matches_finite_differences(features: int):
    encoding = small_encoding(features).double()
    points = torch.rand(40, 3, generator=torch.Generator().manual_seed(2),
                        dtype=torch.float64) * 2.0 - 1.0
    weights = torch.randn(40, encoding.size, dtype=torch.float64)
    table = encoding.table

    def weighted_sum(values: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            table.copy_(values)
        return (encoding(points) * weights).sum()

    loss = (encoding(points) * weights).sum()
    (analytic,) = torch.autograd.grad(loss, table)
    # the encoding is linear in the table: d loss / d table[r] = loss(e_r) for the unit table e_r
    for row in torch.nonzero(analytic.abs().sum(dim=1)).flatten()[:12].tolist() + [0, 100]:
        unit = torch.zeros_like(table)
        unit[row, features - 1] = 1.0
        assert weighted_sum(unit).item() == pytest.approx(analytic[row, features - 1].item(),
                                                          abs=1e-9)


def test_level_cells_fall_geometrically_from_coarsest_to_finest():
    cells = level_cell_sizes(5, 16.0, 1.0)
    assert cells == pytest.approx([16.0, 8.0, 4.0, 2.0, 1.0])
    assert level_cell_sizes(1, 16.0, 2.0) == [2.0]
