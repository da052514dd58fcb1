"""A session's HTML quality report, laid out like the NiPreps' (fMRIPrep, MRIQC) reports.

Sections: summary (acquisitions as read from the files, notes, output grid); registration (per
moving contrast, the reference's edges drawn over it, three views, with MI before/after, rotation
and shift); the acquired stacks; per method its outputs and the data-consistency error map of
each contrast; the scores, methods ranked by mean data-consistency PSNR. One self-contained file
(PNG figures embedded as base64), readable offline.

Every panel is a slice through the centre of the brain mask in RAS (neurological) orientation;
stacks and maps are resampled onto the output grid for display only (nearest neighbour, so thick
slices show as such). ``nireports`` (the NiPreps' own reportlets) was considered and not used:
it needs nipype and templateflow (which fetches templates over the network) for plots a few
matplotlib calls draw.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from isosr.figures import new_figure, styled, to_ras, view_slice
from isosr.io import Grid, InputError, load_nifti, resample_to_grid, save_text
from isosr.masks import binary_mask
from isosr.vocabulary import VIEW_WORLD_AXIS, VIEWS

STYLE = """body{font-family:Helvetica,Arial,sans-serif;max-width:1100px;margin:auto;color:#222}
h1{border-bottom:2px solid #444}h2{margin-top:2em;border-bottom:1px solid #aaa}
table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left}th{background:#f2f2f2}.caption{color:#555;font-size:0.9em}img{max-width:100%}
"""
EDGE_COLOUR = "#ff3030"


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return f'<img src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _load(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    if not Path(path).is_file():
        raise InputError(f"{path}: not found (the report needs it)")
    return load_nifti(path)


def _window(data: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """1st-99th percentile of ``data`` inside the mask (symmetric about 0 for signed maps)."""
    inside = data[mask] if mask.any() else data.ravel()
    low, high = np.percentile(inside, (1, 99))
    return float(low), float(high) if high > low else float(low) + 1.0


class Panels:
    """Three views through the mask centre of volumes on the output grid."""

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.mask = to_ras(grid.mask, grid.affine)
        self.centre = np.round(np.argwhere(self.mask).mean(axis=0)).astype(int)

    def on_grid(self, data: np.ndarray, affine: np.ndarray, order: int = 0) -> np.ndarray:
        return to_ras(resample_to_grid(data, affine, self.grid, order=order, cval=0.0),
                      self.grid.affine)

    def views(self, volume: np.ndarray) -> list[np.ndarray]:
        return [view_slice(volume, view, int(self.centre[VIEW_WORLD_AXIS[view]]))
                for view in VIEWS]

    @styled
    def figure(self, rows: list[tuple[str, np.ndarray, dict[str, Any]]],
               edges: np.ndarray | None = None):
        """One row per (label, RAS volume, imshow options) in three views; ``edges`` (a RAS
        boolean volume) drawn over every panel."""
        figure = new_figure(6.0, 2.0 * len(rows))
        axes = figure.subplots(len(rows), 3, squeeze=False)
        for (label, volume, options), row in zip(rows, axes, strict=True):
            outlines = self.views(edges) if edges is not None else [None] * 3
            for ax, plane, outline, view in zip(row, self.views(volume), outlines, VIEWS,
                                                strict=True):
                ax.imshow(plane, origin="lower", **options)
                if outline is not None:
                    ax.contour(outline.astype(float), levels=[0.5], colors=EDGE_COLOUR,
                               linewidths=0.5)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"{label} ({view})", fontsize=7)
        return figure


def _grey(volume: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    low, high = _window(volume, mask)
    return {"cmap": "gray", "vmin": low, "vmax": high}


def _edges(volume: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The reference's edges: its gradient magnitude above the 90th percentile in the mask."""
    magnitude = ndimage.gaussian_gradient_magnitude(volume.astype(np.float64), 1.0)
    dilated = ndimage.binary_dilation(mask, iterations=2)
    return dilated & (magnitude > np.percentile(magnitude[dilated], 90))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def ranked_methods(scores: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Methods by their mean data-consistency PSNR over contrasts, best first."""
    return sorted(scores, key=lambda m: -float(np.mean(
        [c["psnr_db"] for c in scores[m]["contrasts"].values()])))


def write_report(path: str | Path, *, title: str, reference_contrast: str,
                 stacks: Mapping[str, str | Path], mask_path: str | Path,
                 outputs: Mapping[str, Mapping[str, str | Path]],
                 error_maps: Mapping[str, Mapping[str, str | Path]],
                 scores: Mapping[str, Mapping[str, Any]], alignment: Mapping[str, Any]) -> None:
    """Write the session's report to ``path`` (atomically); InputError naming a missing file."""
    mask_data, mask_affine = _load(mask_path)
    grid = Grid(mask_data.shape, mask_affine, binary_mask(mask_data, mask_path))
    panels = Panels(grid)
    stack_views = {c: panels.on_grid(*_load(p)) for c, p in stacks.items()}
    facts = alignment["contrasts"]
    parts = [f"<h1>isosr report: {html.escape(title)}</h1>", "<h2>Summary</h2>",
             _table(["contrast", "file", "acquisition", "thickness from", "intensity scale"],
                    [[c, Path(facts[c]["source"]).name,
                      f"{facts[c]['acquisition']['kind']}, {facts[c]['told']['view']} "
                      f"{facts[c]['told']['thickness']:g} mm ({facts[c]['told']['model']})",
                      facts[c]["acquisition"]["thickness_source"],
                      _number(facts[c]["intensity_scale"])] for c in stacks]),
             "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in alignment["notes"]) + "</ul>",
             f"<p>Output grid: {' x '.join(map(str, grid.shape))} voxels of "
             f"{alignment['resolution_mm']:g} mm, {int(grid.mask.sum())} in the brain mask "
             f"(of {html.escape(reference_contrast)}).</p>", "<h2>Registration</h2>",
             f'<p class="caption">Each contrast was registered rigidly to {reference_contrast} '
             "(its affine changed, its voxels did not); red: the edges of "
             f"{reference_contrast} over it.</p>"]
    reference = to_ras(resample_to_grid(*_load(stacks[reference_contrast]), grid, order=1,
                                        cval=0.0), grid.affine)
    edges = _edges(reference, panels.mask)
    for contrast in stacks:
        record = facts[contrast]["registration"]
        if contrast == reference_contrast or record is None:
            continue
        moving = panels.on_grid(*_load(stacks[contrast]), order=1)
        parts += [f"<h3>{html.escape(contrast)}</h3>", _table(
            ["MI before", "MI after", "rotation (°)", "brain centre moved (mm)"],
            [[_number(record["mi_before"]), _number(record["mi_after"]),
              _number(record["rotation_degrees"]),
              _number(record["shift_at_brain_centre_mm"])]]),
            _png(panels.figure([(contrast, moving, _grey(moving, panels.mask))], edges))]
    parts += ["<h2>Acquired stacks</h2>", '<p class="caption">As acquired, shown on the output '
              "grid by nearest neighbour (display only: no method saw this resampling).</p>",
              _png(panels.figure([(c, v, _grey(v, panels.mask))
                                  for c, v in stack_views.items()]))]
    for method in ranked_methods(scores):
        rows = []
        for contrast in stacks:
            output, _ = _load(outputs[method][contrast])
            volume = to_ras(output, grid.affine)
            rows.append((f"{method} {contrast}", volume, _grey(volume, panels.mask)))
            error = panels.on_grid(*_load(error_maps[method][contrast]))
            limit = max(float(np.percentile(np.abs(error[panels.mask]), 99)), 1e-6)
            rows.append((f"{contrast} consistency", error,
                         {"cmap": "RdBu_r", "vmin": -limit, "vmax": limit}))
        parts += [f"<h2>Method: {html.escape(method)}</h2>", '<p class="caption">Each output, '
                  "and its data-consistency error: the output re-acquired with the stack's "
                  "acquisition minus the stack (red: the output is brighter), in the stack's "
                  "scaled units, symmetric 99th-percentile limits.</p>", _png(panels.figure(rows))]
    pairs = sorted({pair for m in scores.values() for pair in m["mi"]})
    parts += ["<h2>Scores</h2>", '<p class="caption">Data consistency (DC) per contrast: PSNR '
              "(dB) and SSIM of each stack against the output re-acquired on it, inside the "
              "brain mask; MI between the output contrasts. Ranked by mean DC PSNR.</p>",
              _table(["rank", "method", *[f"{c} DC PSNR" for c in stacks],
                      *[f"{c} DC SSIM" for c in stacks], *[f"MI({p})" for p in pairs]],
                     [[rank, m, *[f"{scores[m]['contrasts'][c]['psnr_db']:.2f}" for c in stacks],
                       *[f"{scores[m]['contrasts'][c]['ssim']:.3f}" for c in stacks],
                       *[f"{scores[m]['mi'][p]:.3f}" for p in pairs]]
                      for rank, m in enumerate(ranked_methods(scores), start=1)])]
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n")
    save_text(path, page)
