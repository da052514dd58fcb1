"""Aggregate per-subject metrics into benchmark tables (CSV with full precision, Markdown)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from isosr.evaluate import METRIC_COLUMNS

HIGHER_IS_BETTER = {"PSNR": True, "SSIM": True, "LPIPS": False, "eps_MI": False, "Dice": True}


def read_metrics(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Concatenate per-subject metric TSVs."""
    frames = [pd.read_csv(path, sep="\t") for path in paths]
    if not frames:
        raise ValueError("no metric files to aggregate")
    return pd.concat(frames, ignore_index=True)[METRIC_COLUMNS]


def summarise(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation (ddof=1) and subject count per method, contrast and metric."""
    grouped = metrics.groupby(["dataset", "scenario", "method", "contrast", "metric"], sort=True)
    summary = grouped["value"].agg(mean="mean", std="std", n="count").reset_index()
    return summary


def markdown_table(summary: pd.DataFrame, method_order: list[str] | None = None,
                   digits: int = 3) -> str:
    """Rows = methods, columns = contrast x metric, cells 'mean ± std'."""
    cells = summary.assign(cell=[
        f"{m:.{digits}f} ± {s:.{digits}f}" if pd.notna(s) else f"{m:.{digits}f}"
        for m, s in zip(summary["mean"], summary["std"], strict=True)])
    wide = cells.pivot(index="method", columns=["contrast", "metric"], values="cell")
    wide = wide[sorted(wide.columns, key=_column_key)]
    if method_order:
        wide = wide.reindex([m for m in method_order if m in wide.index])
    header = ["method"] + [f"{c} {m}{' ↑' if HIGHER_IS_BETTER.get(m) else ' ↓'}"
                           for c, m in wide.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for method, row in wide.iterrows():
        lines.append("| " + " | ".join([str(method)] + [str(v) if pd.notna(v) else "–"
                                                        for v in row]) + " |")
    return "\n".join(lines) + "\n"


def _column_key(column: tuple[str, str]) -> tuple[int, str, int]:
    contrast, metric = column
    order = list(HIGHER_IS_BETTER)
    return (1 if contrast == "joint" else 0, contrast,
            order.index(metric) if metric in order else len(order))


def write_tables(metric_paths: Iterable[str | Path], out_csv: str | Path, out_md: str | Path,
                 method_order: list[str] | None = None, caption: str = "") -> pd.DataFrame:
    """Aggregate metric TSVs into a CSV (full precision) and a Markdown table."""
    summary = summarise(read_metrics(metric_paths))
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out_csv, index=False)
    text = markdown_table(summary, method_order)
    Path(out_md).write_text((f"{caption}\n\n" if caption else "") + text)
    return summary
