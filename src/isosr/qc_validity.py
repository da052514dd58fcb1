"""Does the no-reference score mean something? Data consistency against the true PSNR.

On a benchmark dataset (which has ground truth), every fit is also scored as a study without
ground truth would be (``isosr.evaluate``: ``DC_PSNR`` / ``DC_SSIM``, each simulated LR scan
against the prediction re-simulated with that scan's acquisition). Per contrast, and over all
contrasts, the Spearman rank correlation between DC PSNR and the true PSNR across every method and
test subject (repeat 0) says how far ranking by data consistency ranks by true quality: rho near 1
means the study table can be trusted to order methods, near 0 or below that it cannot (e.g.
interpolation reproduces the acquired slices exactly while adding nothing between them).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib as mpl
import pandas as pd
from scipy.stats import spearmanr

from isosr.figures import new_figure, save_figure, styled
from isosr.results import read_metrics
from isosr.tables import method_label, ordered_contrasts, ordered_methods

ALL = "all contrasts"


def paired_scores(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, subject, contrast) of repeat 0 with its PSNR and DC_PSNR."""
    chosen = metrics[(metrics["repeat"] == 0) & metrics["metric"].isin(["PSNR", "DC_PSNR"])]
    wide = chosen.pivot_table(index=["method", "subject", "contrast"], columns="metric",
                              values="value").reset_index()
    return wide.dropna(subset=[c for c in ("PSNR", "DC_PSNR") if c in wide])


def rank_correlations(pairs: pd.DataFrame) -> pd.DataFrame:
    """Spearman rho (and its p-value) of DC_PSNR against PSNR per contrast and over all."""
    rows = []
    groups = [(c, pairs[pairs["contrast"] == c]) for c in ordered_contrasts(pairs["contrast"])]
    for contrast, group in [*groups, (ALL, pairs)]:
        if len(group) >= 3 and group["PSNR"].nunique() > 1 and group["DC_PSNR"].nunique() > 1:
            rho, p_value = spearmanr(group["DC_PSNR"], group["PSNR"])
        else:
            rho = p_value = float("nan")
        rows.append({"contrast": contrast, "n": len(group), "methods": group["method"].nunique(),
                     "subjects": group["subject"].nunique(), "spearman_rho": float(rho),
                     "p_value": float(p_value)})
    return pd.DataFrame(rows)


@styled
def validity_figure(pairs: pd.DataFrame, correlations: pd.DataFrame, title: str = ""):
    """Per contrast, true PSNR against DC PSNR, one point per method and subject."""
    contrasts = ordered_contrasts(pairs["contrast"])
    methods = ordered_methods(pairs["method"])
    figure = new_figure(2.4 * len(contrasts) + 1.2, 2.4)
    axes = figure.subplots(1, len(contrasts), squeeze=False)[0]
    colours = {m: mpl.colormaps["tab10"](i % 10) for i, m in enumerate(methods)}
    rho = correlations.set_index("contrast")["spearman_rho"]
    for ax, contrast in zip(axes, contrasts, strict=True):
        group = pairs[pairs["contrast"] == contrast]
        for method in methods:
            points = group[group["method"] == method]
            ax.scatter(points["DC_PSNR"], points["PSNR"], s=12, color=colours[method],
                       label=method_label(method))
        ax.set_title(f"{contrast}: Spearman ρ = {rho[contrast]:.2f}")
        ax.set_xlabel("data consistency PSNR (dB)")
        ax.set_ylabel("true PSNR (dB)")
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    if title:
        figure.suptitle(title)
    return figure


def to_markdown(correlations: pd.DataFrame, caption: str) -> str:
    lines = [caption, "", "| contrast | Spearman ρ | p | n (methods x subjects) |",
             "| --- | --- | --- | --- |"]
    for row in correlations.itertuples():
        lines.append(f"| {row.contrast} | {row.spearman_rho:.3f} | {row.p_value:.3g} | "
                     f"{row.n} ({row.methods} x {row.subjects}) |")
    return "\n".join(lines) + "\n"


def write_validity(*, metric_paths: Iterable[str | Path], caption: str, csv: str | Path,
                   markdown: str | Path, pdf: str | Path, png: str | Path) -> pd.DataFrame:
    """The rank-correlation table (CSV, Markdown) and figure of one dataset x scenario."""
    pairs = paired_scores(read_metrics(metric_paths))
    correlations = rank_correlations(pairs)
    Path(csv).parent.mkdir(parents=True, exist_ok=True)
    correlations.to_csv(csv, index=False)
    Path(markdown).write_text(to_markdown(correlations, caption))
    save_figure(validity_figure(pairs, correlations, caption.split(":")[0]), pdf, png)
    return correlations
