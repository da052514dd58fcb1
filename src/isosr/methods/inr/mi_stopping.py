"""Early stopping on a plateau of the mutual information between the predicted contrasts.

McGinnis et al. observe that the MI between the two predicted contrasts converges towards the MI
of the ground truths during training, and stop when it plateaus. Here the MI (32-bin joint
histogram, quantise + bincount: ``isosr.metrics.mutual_information``) is computed after every
epoch on the HR grid inside the brain mask, and training stops once the mean absolute change of
MI over the last ``window`` epochs falls below ``tolerance`` (nats per epoch). The criterion
depends only on the MI history, so a resumed fit decides exactly as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from isosr.metrics import mutual_information


def predicted_mutual_information(predictions: np.ndarray) -> float | None:
    """Mean MI over all pairs of columns of (M, C) predictions in [0, 1]; None for C < 2."""
    columns = predictions.shape[1]
    if columns < 2:
        return None
    everywhere = np.ones(predictions.shape[0], dtype=bool)
    return float(np.mean([mutual_information(predictions[:, a], predictions[:, b], everywhere)
                          for a, b in combinations(range(columns), 2)]))


@dataclass(frozen=True)
class MIPlateau:
    """Stop when MI changed by less than ``tolerance`` per epoch, on average, over ``window``."""

    window: int
    tolerance: float

    def reached(self, history: list[float]) -> bool:
        """Whether the MI values of the epochs so far (oldest first) end in a plateau."""
        if len(history) < self.window:
            return False
        changes = np.abs(np.diff(np.asarray(history[-self.window:], dtype=np.float64)))
        return bool(changes.mean() < self.tolerance)
