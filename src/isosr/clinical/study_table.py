"""The study table: methods ranked by their quality control without ground truth.

Rows are methods (with their variant: profile and degradation knowledge, from fit.json), columns
per contrast the data consistency (DC PSNR, DC SSIM: each acquired stack against the output
re-simulated with the stack's acquisition), the inter-contrast MI of the outputs and the fit's
wall time, mean ± std over the study's sessions. The table machinery is the benchmark's
(``isosr.tables``): best in bold, and against the reference method the Holm-adjusted paired
Wilcoxon test over sessions once there are enough of them. Methods are listed by their mean DC
PSNR over contrasts, best first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from isosr.tables import (
    COST,
    Column,
    build_table,
    ordered_contrasts,
    read_variants,
    to_frame,
    to_markdown,
)

DC_METRICS = {"psnr_db": "DC_PSNR", "ssim": "DC_SSIM"}


def qc_frame(qc_paths: Sequence[str | Path], sessions: Sequence[str],
             methods: Sequence[str]) -> pd.DataFrame:
    """The long table (method, subject = session label, repeat, contrast, metric, value) of the
    qc.json records, one per (session, method) in the given order."""
    rows = []
    for path, session, method in zip(qc_paths, sessions, methods, strict=True):
        record = json.loads(Path(path).read_text())
        base = {"method": method, "subject": session, "repeat": 0}
        for contrast, scores in record["contrasts"].items():
            rows += [{**base, "contrast": contrast, "metric": metric, "value": scores[key]}
                     for key, metric in DC_METRICS.items()]
        rows += [{**base, "contrast": pair, "metric": "MI", "value": value}
                 for pair, value in record["mi"].items()]
    return pd.DataFrame(rows)


def study_columns(frame: pd.DataFrame) -> list[Column]:
    contrasts = ordered_contrasts(frame.loc[frame["metric"].isin(DC_METRICS.values()),
                                            "contrast"])
    columns = [Column(c, label, label, f"{c} {label}", c, metric)
               for c in contrasts for metric, label in (("DC_PSNR", "DC PSNR"),
                                                        ("DC_SSIM", "DC SSIM"))]
    pairs = sorted(frame.loc[frame["metric"] == "MI", "contrast"].unique())
    columns += [Column("outputs", f"MI({p})", f"MI({p})", f"MI({p})", p, "MI") for p in pairs]
    columns.append(Column("cost", "fit time (s)", "fit time (s)", "fit time (s)", COST,
                          "fit_seconds", digits=1))
    return columns


def write_study_table(*, qc_paths: Sequence[str | Path], fit_paths: Sequence[str | Path],
                      sessions: Sequence[str], methods: Sequence[str], reference: str,
                      dataset: str, csv: str | Path, markdown: str | Path) -> pd.DataFrame:
    """Write the study table (CSV at full precision, Markdown), with each row's cost (the fit's
    wall time, from ``fit_paths`` in the order of ``qc_paths``); return the CSV's frame."""
    frame = qc_frame(qc_paths, sessions, methods)
    frame = pd.concat([frame, pd.DataFrame(
        [{"method": m, "subject": s, "repeat": 0, "contrast": COST, "metric": "fit_seconds",
          "value": json.loads(Path(p).read_text())["wall_seconds"]}
         for p, s, m in zip(fit_paths, sessions, methods, strict=True)])], ignore_index=True)
    dc = frame[frame["metric"] == "DC_PSNR"].groupby("method")["value"].mean()
    order = sorted(dict.fromkeys(methods), key=lambda m: -dc.get(m, float("-inf")))
    caption = (f"{dataset}: quality control without ground truth over "
               f"{frame['subject'].nunique()} session(s). DC: each acquired stack against the "
               "output re-simulated with that stack's acquisition (PSNR / SSIM inside the brain "
               "mask, intensities scaled by the stack's 99.5th percentile); MI: mutual "
               "information between the output contrasts. Rows by mean DC PSNR, best first.")
    table = build_table("study_qc", caption, frame, study_columns(frame), order,
                        reference if reference in order else None,
                        variants=read_variants(fit_paths))
    table.methods = order  # ranked by data consistency, not in the catalog's order
    table.footnotes[0] = table.footnotes[0].replace(" subjects", " sessions")
    result = to_frame(table)
    Path(csv).parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(csv, index=False)
    Path(markdown).write_text(to_markdown(table))
    return result
