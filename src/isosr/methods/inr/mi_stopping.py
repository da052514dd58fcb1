"""Early stopping on a plateau of the mutual information between the predicted contrasts.

McGinnis et al. observe that the MI between the two predicted contrasts converges towards the MI
of the ground truths during training, and stop when it plateaus. Here the MI (32-bin joint
histogram, quantise + bincount: ``isosr.metrics.mutual_information``) is computed after every
epoch on the HR grid inside the brain mask. Two stopping rules on the MI history (``MI_RULES``):

- ``plateau`` (isosr's): stop once the mean absolute change of MI over the last ``window``
  epochs falls below ``tolerance`` (nats per epoch; default 1e-3);
- ``mcginnis2023`` (their released code, the ``paper`` profile's): a buffer of the last
  ``window`` MI values; stop once the mean absolute difference within the buffer changed by less
  than ``tolerance`` from one epoch to the next (default 1e-4). It needs ``window + 1`` epochs,
  and stops earlier than ``plateau`` on a slowly converging MI: a steady slope satisfies it.

Both depend only on the MI history, so a resumed fit decides exactly as an uninterrupted one.
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


# Stopping rule -> its default tolerance (nats).
MI_RULES = {"plateau": 1e-3, "mcginnis2023": 1e-4}


@dataclass(frozen=True)
class MIPlateau:
    """The stopping rule ``rule`` (see the module) with ``window`` and ``tolerance``."""

    window: int
    tolerance: float
    rule: str = "plateau"

    def reached(self, history: list[float]) -> bool:
        """Whether the MI values of the epochs so far (oldest first) end in a plateau."""
        if self.rule == "plateau":
            if len(history) < self.window:
                return False
            return bool(self._mean_change(history[-self.window:]) < self.tolerance)
        if len(history) < self.window + 1:
            return False
        now = self._mean_change(history[-self.window:])
        before = self._mean_change(history[-self.window - 1:-1])
        return bool(abs(now - before) < self.tolerance)

    @staticmethod
    def _mean_change(values: list[float]) -> float:
        return float(np.abs(np.diff(np.asarray(values, dtype=np.float64))).mean())
