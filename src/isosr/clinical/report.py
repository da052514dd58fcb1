"""A session's HTML quality report, laid out like the NiPreps' (fMRIPrep, MRIQC) reports.

Sections, each figure with a short caption: (1) summary: the acquisitions as read from the files,
the alignment's notes, the HR grid; (2) registration: per moving contrast, the edges (Canny) of
the reference drawn over it, as acquired and realigned, with the registration's numbers; (3) the
acquired stacks; (4) per method, its output of each contrast and that contrast's data-consistency
error map; (5) the scores, methods ranked by mean data-consistency (DC) PSNR. One self-contained
file (PNG figures embedded as base64, no external resource), readable offline.

Every panel is the axial, coronal and sagittal slice through the centre of the brain mask, in
RAS (neurological) orientation. Stacks are resampled onto the HR grid for display only (nearest
neighbour for the stacks, so their thick slices show; linear for the registration overlays); an
error map is shown on its stack's own grid (its voxels as they are, cropped to the brain).
Grey-scale windows are the 1st-99th percentile inside the mask; error maps use a diverging map
with symmetric limits (99th percentile of the absolute error inside the mask).

``nireports`` (the NiPreps' reportlets) was considered and not used: it resolves against our
pins, but requires nipype, templateflow, pybids, lxml and nilearn (13 more packages in the
venv, and none of them are in the report rules' env, envs/report.yaml), and its reportlets
(nilearn ``plot_anat`` per cut, pyplot state, SVG compressed with the external svgo/cwebp)
draw what a few matplotlib calls draw here.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib as mpl
import nibabel as nib
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from scipy import ndimage
from skimage.feature import canny

from isosr import __version__
from isosr.clinical.qc import carried_mask
from isosr.figures import STYLE, new_figure, styled, view_slice
from isosr.io import (
    Grid,
    InputError,
    check_same_grid,
    load_nifti,
    resample_to_grid,
    save_text,
    voxel_spacing,
    voxel_to_world,
    world_to_voxel,
)
from isosr.masks import binary_mask
from isosr.metrics import mask_bounding_box
from isosr.vocabulary import VIEW_WORLD_AXIS, VIEWS

PANEL_INCHES = 2.0
DPI = 100
EDGE_COLOUR = "#ff3030"
EDGE_SIGMA = 1.5  # Canny's Gaussian (HR voxels)
EDGE_QUANTILES = (0.80, 0.92)  # Canny's low and high thresholds, quantiles of the gradient
CROP_MARGIN = 1  # voxels around the brain in a panel cropped to it
CSS = """body{font-family:Helvetica,Arial,sans-serif;max-width:1000px;margin:auto;padding:0 1em;
color:#222}nav{position:sticky;top:0;background:#fff;border-bottom:1px solid #ccc;padding:.4em 0}
nav a{margin-right:1em}h1{border-bottom:2px solid #444}h2{margin-top:2em;border-bottom:1px solid
#aaa}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left}th{background:#f2f2f2}.caption{color:#555;font-size:.9em}img{max-width:100%}
footer{margin:3em 0 1em;color:#777;font-size:.8em}"""


@dataclass(frozen=True)
class Row:
    """One figure row: the three views (axial, coronal, sagittal) of one volume."""

    label: str
    planes: Sequence[np.ndarray]  # oriented for imshow(origin="lower")
    aspects: Sequence[float]  # pixel height / width
    style: Mapping[str, Any]  # imshow options
    edges: Sequence[np.ndarray] | None = None  # boolean overlays
    colorbar: str = ""  # its label, when the row has one


def _ras(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``data`` with its axes reordered and flipped to run along R, A, S, and its affine."""
    orientation = nib.orientations.io_orientation(affine)
    return (nib.orientations.apply_orientation(data, orientation),
            affine @ nib.orientations.inv_ornt_aff(orientation, data.shape))


def views(data: np.ndarray, affine: np.ndarray, centre: np.ndarray,
          crop: np.ndarray | None = None) -> tuple[list[np.ndarray], list[float]]:
    """The axial, coronal and sagittal slices of ``data`` through the world point ``centre``,
    with their pixel aspects; cropped in plane to the box of ``crop`` (a mask on data's grid)."""
    ras, ras_affine = _ras(data, affine)
    spacing = voxel_spacing(ras_affine)
    index = np.clip(np.rint(world_to_voxel(ras_affine, centre[None])[0]).astype(int), 0,
                    np.array(ras.shape) - 1)
    box = [slice(None)] * 3
    if crop is not None:
        box = [slice(max(0, s.start - CROP_MARGIN), s.stop + CROP_MARGIN)
               for s in mask_bounding_box(_ras(crop, affine)[0])]
    planes, aspects = [], []
    for view in VIEWS:
        axis = VIEW_WORLD_AXIS[view]
        columns, rows = (a for a in range(3) if a != axis)  # view_slice transposes
        planes.append(view_slice(ras, view, int(index[axis]))[box[rows], box[columns]])
        aspects.append(float(spacing[rows] / spacing[columns]))
    return planes, aspects


def _grey(data: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    """A grey-scale window: the 1st-99th percentile of ``data`` inside ``mask``."""
    low, high = np.percentile(data[mask], (1, 99))
    return {"cmap": "gray", "vmin": float(low), "vmax": float(high)}


@styled
def views_figure(rows: Sequence[Row]) -> Figure:
    """Rows of three views, the view named above each column, edges drawn over the panels."""
    has_colorbar = any(row.colorbar for row in rows)
    figure = new_figure(3 * PANEL_INCHES + (0.8 if has_colorbar else 0.3),
                        PANEL_INCHES * len(rows) + 0.2)
    axes = figure.subplots(len(rows), 3, squeeze=False)
    edge_colours = ListedColormap([EDGE_COLOUR])
    for row, panels in zip(rows, axes, strict=True):
        edges = row.edges if row.edges is not None else [None] * 3
        for ax, plane, aspect, edge in zip(panels, row.planes, row.aspects, edges, strict=True):
            shown = ax.imshow(plane, origin="lower", aspect=aspect, **row.style)
            if edge is not None:
                ax.imshow(np.ma.masked_where(~edge, edge), origin="lower", aspect=aspect,
                          cmap=edge_colours, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        panels[0].set_ylabel(row.label)
        if row.colorbar:
            figure.colorbar(shown, ax=list(panels), shrink=0.8, label=row.colorbar)
    for ax, view in zip(axes[0], VIEWS, strict=True):
        ax.set_title(view)
    return figure


def _image(figure: Figure, alt: str) -> str:
    """The figure as an <img> with its PNG embedded (base64), without a software stamp."""
    buffer = io.BytesIO()
    with mpl.rc_context(STYLE):
        figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], name: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    identifier = f' id="{name}"' if name else ""
    return f"<table{identifier}><tr>{head}</tr>{body}</table>"


def _section(name: str, heading: str, *parts: str) -> str:
    return f'<section id="{name}"><h2>{html.escape(heading)}</h2>{"".join(parts)}</section>'


def _caption(text: str) -> str:
    return f'<p class="caption">{html.escape(text)}</p>'


def ranked_methods(scores: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Methods by their mean DC PSNR over contrasts, best first (ties: in the given order)."""
    return sorted(scores, key=lambda m: -mean_psnr(scores[m]))


def mean_psnr(score: Mapping[str, Any]) -> float:
    """Mean DC PSNR (dB) over a method's contrasts."""
    return float(np.mean([c["psnr_db"] for c in score["contrasts"].values()]))


class Display:
    """A session's images on its HR grid, and the three views through its brain's centre."""

    def __init__(self, mask_path: str | Path) -> None:
        data, affine = load_nifti(mask_path)
        self.mask_path = mask_path
        self.grid = Grid(data.shape, affine, binary_mask(data, mask_path))
        self.centre = voxel_to_world(affine, np.argwhere(self.grid.mask).mean(axis=0)[None])[0]

    def on_grid(self, data: np.ndarray, affine: np.ndarray, order: int) -> np.ndarray:
        """An image resampled onto the HR grid for display (0 outside its field of view)."""
        return resample_to_grid(data, affine, self.grid, order=order, cval=0.0)

    def row(self, label: str, volume: np.ndarray, **options: Any) -> Row:
        """A grey-scale row of a volume on the HR grid (``options``: Row's edges, colorbar)."""
        planes, aspects = views(volume, self.grid.affine, self.centre)
        return Row(label, planes, aspects, _grey(volume, self.grid.mask), **options)

    def output(self, path: str | Path) -> np.ndarray:
        """A method's output, refused unless it is on the HR grid."""
        data, affine = load_nifti(path)
        check_same_grid(path, data.shape, affine, self.mask_path, self.grid.shape,
                        self.grid.affine)
        return data

    def error_row(self, label: str, path: str | Path, stack_path: str | Path,
                  stack: tuple[np.ndarray, np.ndarray]) -> Row:
        """A DC error map on the grid of its stack (read from ``stack_path``), cropped to the
        brain, with symmetric limits."""
        error, affine = load_nifti(path)
        check_same_grid(path, error.shape, affine, stack_path, stack[0].shape, stack[1])
        inside = carried_mask(self.grid.mask, self.grid.affine, error.shape, affine)
        if not inside.any():
            raise InputError(f"{path}: the brain mask does not overlap its stack's grid")
        limit = max(float(np.percentile(np.abs(error[inside]), 99)), 1e-6)  # > 0 if all 0
        planes, aspects = views(error, affine, self.centre, crop=inside)
        return Row(label, planes, aspects, {"cmap": "RdBu_r", "vmin": -limit, "vmax": limit},
                   colorbar="re-acquired − acquired")

    def edges(self, volume: np.ndarray) -> list[np.ndarray]:
        """Canny edges of each view of ``volume`` (on the HR grid), near the brain."""
        planes, _ = views(volume, self.grid.affine, self.centre)
        masks, _ = views(self.grid.mask, self.grid.affine, self.centre)
        return [canny(plane, sigma=EDGE_SIGMA, mask=ndimage.binary_dilation(mask, iterations=3),
                      low_threshold=EDGE_QUANTILES[0], high_threshold=EDGE_QUANTILES[1],
                      use_quantiles=True) for plane, mask in zip(planes, masks, strict=True)]


def _summary(display: Display, reference_contrast: str, contrasts: Sequence[str],
             alignment: Mapping[str, Any]) -> str:
    rows = []
    for contrast in contrasts:
        facts = alignment["contrasts"][contrast]["acquisition"]
        rows.append([contrast + (" (reference)" if contrast == reference_contrast else ""),
                     Path(facts["file"]).name, f"{facts['view'] or '–'} {facts['kind']}",
                     " x ".join(f"{s:.3g}" for s in facts["in_plane_spacing_mm"]),
                     f"{facts['slice_spacing_mm']:.3g}", f"{facts['slice_thickness_mm']:.3g}",
                     facts["thickness_source"]])
    grid = display.grid
    return _section(
        "summary", "Summary",
        _caption("The acquisitions as their files describe them: the slice view and spacing "
                 "from the affine, the slice thickness from the BIDS sidecar's SliceThickness "
                 "when it has one (else the slice spacing)."),
        _table(["contrast", "file", "acquisition", "in-plane spacing (mm)",
                "slice spacing (mm)", "slice thickness (mm)", "thickness from"], rows),
        "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in alignment["notes"]) + "</ul>",
        f"<p>HR grid (every output's): {' x '.join(map(str, grid.shape))} voxels of "
        f"{alignment['resolution_mm']:g} mm, {''.join(nib.aff2axcodes(grid.affine))}, "
        f"{int(grid.mask.sum())} voxels in the brain mask (of "
        f"{html.escape(reference_contrast)}).</p>")


def _registration(display: Display, reference_contrast: str, stacks: Mapping[str, Any],
                  alignment: Mapping[str, Any]) -> str:
    reference = display.on_grid(*stacks[reference_contrast], order=1)
    edges = display.edges(reference)
    parts = [_caption(
        f"Each contrast was registered rigidly to {reference_contrast} (Mattes MI in the "
        "dilated brain mask); only its affine changed, not its voxels. Red: the edges (Canny) "
        f"of {reference_contrast} over the contrast, as acquired (top) and realigned (bottom), "
        "both resampled linearly onto the HR grid for display. MI: ANTs' Mattes MI (higher is "
        "better); translation: beyond the centres-of-mass alignment.")]
    for contrast, (data, affine) in stacks.items():
        if contrast == reference_contrast:
            continue
        facts = alignment["contrasts"][contrast]
        record = facts["registration"]
        before = display.on_grid(data, np.asarray(facts["original_affine"]), order=1)
        after = display.on_grid(data, affine, order=1)
        parts += [f"<h3>{html.escape(contrast)} → {html.escape(reference_contrast)}</h3>",
                  _table(["MI before", "MI after", "rotation (°)", "translation (mm)",
                          "brain centre moved (mm)", "mask covered"],
                         [[f"{record['mi_before']:.3f}", f"{record['mi_after']:.3f}",
                           f"{record['rotation_degrees']:.2f}", f"{record['translation_mm']:.2f}",
                           f"{record['shift_at_brain_centre_mm']:.2f}",
                           f"{100 * record['coverage_of_mask']:.0f}%"]]),
                  _image(views_figure([display.row("as acquired", before, edges=edges),
                                       display.row("realigned", after, edges=edges)]),
                         f"{contrast} registered to {reference_contrast}")]
    return _section("registration", "Registration", *parts)


def write_report(path: str | Path, *, title: str, reference_contrast: str,
                 stacks: Mapping[str, str | Path], mask_path: str | Path,
                 outputs: Mapping[str, Mapping[str, str | Path]],
                 error_maps: Mapping[str, Mapping[str, str | Path]],
                 scores: Mapping[str, Mapping[str, Any]], alignment: Mapping[str, Any]) -> None:
    """Write the session's report to ``path`` (atomically).

    ``stacks``: contrast -> realigned stack; ``outputs`` and ``error_maps``: method -> contrast
    -> SR output (on the grid of ``mask_path``) and DC error map (on the stack's grid);
    ``scores``: method -> its qc.json record; ``alignment``: the session's alignment.json record.
    A missing file is refused (InputError naming it) before anything is drawn.
    """
    files = [mask_path, *stacks.values(),
             *(p for table in (outputs, error_maps) for m in table.values() for p in m.values())]
    for file in files:
        if not Path(file).is_file():
            raise InputError(f"{file}: file not found (the session report {path} needs it)")
    display = Display(mask_path)
    contrasts = list(stacks)
    acquired = {c: load_nifti(p) for c, p in stacks.items()}
    methods = ranked_methods(scores)
    parts = [_summary(display, reference_contrast, contrasts, alignment),
             _registration(display, reference_contrast, acquired, alignment),
             _section("stacks", "Acquired stacks", _caption(
                 "Each stack as acquired (realigned), shown on the HR grid by nearest neighbour "
                 "so that its thick slices show: display only, no method saw this resampling."),
                 _image(views_figure([display.row(c, display.on_grid(*acquired[c], order=0))
                                      for c in contrasts]), "acquired stacks"))]
    for method in methods:
        figures = [
            f"<h3>{html.escape(contrast)}</h3>" + _image(views_figure([
                display.row("output", display.output(outputs[method][contrast])),
                display.error_row("DC error", error_maps[method][contrast],
                                  stacks[contrast], acquired[contrast])]),
                f"{method} {contrast}") for contrast in contrasts]
        parts.append(_section(f"method-{method}", f"Method: {method}", _caption(
            "Per contrast, the output on the HR grid (top) and its data-consistency (DC) error "
            "on the stack's own grid (bottom, cropped to the brain): the output re-acquired "
            "with the stack's acquisition minus the stack, in the stack's intensity-scaled "
            "units (red: the output is brighter than the scan)."), *figures))
    pairs = sorted({pair for score in scores.values() for pair in score["mi"]})
    parts.append(_section("scores", "Scores", _caption(
        "Data consistency (DC) per contrast: PSNR (dB, peak 1) and SSIM of each stack against "
        "the output re-acquired on its grid, inside the brain mask, in the stack's scaled "
        "units; MI (nats) between the output's contrasts inside the mask. Ranked by mean DC "
        "PSNR: high DC means the output agrees with the scans, not that it adds detail."),
        _table(["rank", "method", "mean DC PSNR", *[f"{c} DC PSNR" for c in contrasts],
                *[f"{c} DC SSIM" for c in contrasts], *[f"MI {p}" for p in pairs]],
               [[rank, m, f"{mean_psnr(scores[m]):.2f}",
                 *[f"{scores[m]['contrasts'][c]['psnr_db']:.2f}" for c in contrasts],
                 *[f"{scores[m]['contrasts'][c]['ssim']:.3f}" for c in contrasts],
                 *[f"{scores[m]['mi'][p]:.3f}" for p in pairs]]
                for rank, m in enumerate(methods, start=1)], name="score-table")))
    sections = ["summary", "registration", "stacks", *[f"method-{m}" for m in methods], "scores"]
    names = ["Summary", "Registration", "Acquired stacks", *methods, "Scores"]
    nav = "".join(f'<a href="#{s}">{html.escape(n)}</a>' for s, n in zip(sections, names,
                                                                          strict=True))
    heading = html.escape(title)
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{heading}'
            f"</title><style>{CSS}</style></head><body><nav>{nav}</nav><h1>{heading}</h1>"
            f"{''.join(parts)}<footer>isosr {html.escape(__version__)}</footer></body></html>\n")
    save_text(path, page)
