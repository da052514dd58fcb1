"""Per-subject metric results: their long format (one row per value) and reading them back.

The evaluation writes one TSV per subject (x repeat) x scenario, every method's rows in it;
``isosr.tables`` and ``isosr.figures`` read them. Region metrics are named
``<family>_<region>`` (``Dice_GM``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

# The long format of every metrics TSV: one row per value.
METRIC_COLUMNS = ["dataset", "scenario", "method", "subject", "repeat", "contrast", "metric",
                  "value"]
REGION_METRICS = ("Dice", "AVD")  # metric families with a region: 'Dice_GM', 'AVD_brain-stem'


def region_metric(metric: str) -> tuple[str, str | None]:
    """Split 'Dice_GM' into ('Dice', 'GM'); other metrics (and overall 'Dice') have no region."""
    family, _, region = metric.partition("_")
    return (family, region) if family in REGION_METRICS and region else (metric, None)


def read_metrics(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Concatenate per-subject metric TSVs (labels stay text: subject '01' is not 1).

    A TSV without a 'repeat' column (written before repeats existed) is repeat 0.
    """
    labels = {column: str for column in METRIC_COLUMNS if column not in ("repeat", "value")}
    frames = [pd.read_csv(path, sep="\t", dtype=labels) for path in paths]
    if not frames:
        raise ValueError("no metric files to aggregate")
    metrics = pd.concat(frames, ignore_index=True)
    if "repeat" not in metrics:
        metrics["repeat"] = 0
    return metrics.fillna({"repeat": 0}).astype({"repeat": int})[METRIC_COLUMNS]


def write_metrics(frames: Iterable[pd.DataFrame], path: str | Path) -> None:
    """One subject's metrics (a frame per method) as one TSV, in the long format."""
    pd.concat(frames, ignore_index=True)[METRIC_COLUMNS].to_csv(path, sep="\t", index=False)
