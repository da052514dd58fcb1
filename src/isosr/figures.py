"""Paper figures (matplotlib/seaborn, no pyplot state, deterministic PDF and PNG files).

1. ``qualitative_figure`` (like McGinnis et al. 2023, Fig. 2): one subject; rows = the LR input
   (nearest-neighbour on the HR grid, so its thick slices show), every method, the ground truth and
   the absolute error of one method; columns = axial, coronal and sagittal views of each contrast,
   through the centre of the brain mask, in RAS (neurological) orientation. A yellow box marks the
   window where that method's error is largest; an inset in each panel shows it enlarged.
2. ``mi_figure`` (like their supplementary Fig. 3): per INR method, the MI between the predicted
   contrasts after every epoch (``mi`` in fit.json) against the ground truth's MI (dashed).
3. ``distribution_figure``: box plots with the subjects as points, per method, of PSNR, SSIM,
   LPIPS (when computed) per contrast and Dice per tissue class.

Files are written without dates (``save_figure``), with fixed rcParams (``STYLE``), so the same
inputs give byte-identical PDFs and PNGs.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import matplotlib as mpl
import nibabel as nib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle
from scipy import ndimage

from isosr.io import Grid, InputError, LRImage, load_nifti, resample_to_grid
from isosr.metrics import mask_bounding_box, mutual_information
from isosr.results import read_metrics, region_metric
from isosr.tables import ordered_contrasts
from isosr.vocabulary import CONTRASTS, TISSUES, VIEW_WORLD_AXIS, VIEWS

STYLE = {"font.family": "DejaVu Sans", "font.size": 8, "axes.titlesize": 8,
         "axes.labelsize": 8, "legend.fontsize": 7, "xtick.labelsize": 7, "ytick.labelsize": 7,
         "figure.dpi": 100, "savefig.dpi": 150, "pdf.fonttype": 42, "svg.hashsalt": "isosr",
         "path.simplify": True, "image.interpolation": "nearest"}
PANEL_INCHES = 1.5
ZOOM_FRACTION = 0.3  # side of the zoom window relative to the shorter side of the panel
ZOOM_COLOR = "#ffd400"
INSET_SIZE = 0.38  # side of the zoom inset, as a fraction of its panel
DISTRIBUTION_METRICS = ("PSNR", "SSIM", "LPIPS", "Dice")


def styled(build: Callable[..., Figure]) -> Callable[..., Figure]:
    """Run a figure-building function under the fixed rcParams ``STYLE``."""
    @functools.wraps(build)
    def wrapper(*args, **kwargs) -> Figure:
        with mpl.rc_context(STYLE):
            return build(*args, **kwargs)
    return wrapper


def new_figure(width: float, height: float) -> Figure:
    """A figure with an Agg canvas, independent of pyplot and of the session's backend."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, pdf: str | Path, png: str | Path) -> None:
    """Write the PDF and the PNG without creation dates or software stamps."""
    Path(pdf).parent.mkdir(parents=True, exist_ok=True)
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # font subsetting chatter
    with mpl.rc_context(STYLE):
        figure.savefig(pdf, metadata={"CreationDate": None, "Producer": None, "Creator": None})
        figure.savefig(png, metadata={"Software": None})


def to_ras(volume: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Reorder/flip array axes so that they run along R, A, S (display orientation)."""
    orientation = nib.orientations.io_orientation(affine)
    return nib.orientations.apply_orientation(volume, orientation)


def view_slice(volume: np.ndarray, view: str, index: int) -> np.ndarray:
    """A 2D slice of a RAS volume, transposed for ``imshow(origin='lower')``."""
    return np.take(volume, index, axis=VIEW_WORLD_AXIS[view]).T


def zoom_window(error: np.ndarray, fraction: float = ZOOM_FRACTION) -> tuple[int, int, int]:
    """(row, column, side) of the square window with the largest mean of a 2D error map."""
    side = max(2, int(round(fraction * min(error.shape))))
    local = ndimage.uniform_filter(error.astype(np.float64), size=side, mode="constant")
    row, column = np.unravel_index(int(np.argmax(local)), local.shape)
    row = int(np.clip(row - side // 2, 0, error.shape[0] - side))
    column = int(np.clip(column - side // 2, 0, error.shape[1] - side))
    return row, column, side


@styled
def qualitative_figure(lr: dict[str, LRImage], predictions: dict[str, dict[str, np.ndarray]],
                       truth: dict[str, np.ndarray], mask: np.ndarray, affine: np.ndarray,
                       error_method: str, title: str = "") -> Figure:
    """The qualitative panel (see the module docstring); ``predictions`` is {method: {contrast}}."""
    if error_method not in predictions:
        raise InputError(f"figures.error_method: {error_method!r} is not among the methods "
                         f"{sorted(predictions)}")
    contrasts = list(truth)
    grid = Grid(tuple(mask.shape), affine)
    rows: dict[str, dict[str, np.ndarray]] = {
        "LR input": {c: resample_to_grid(lr[c].data, lr[c].affine, grid, order=0)
                     for c in contrasts},
        **predictions, "ground truth": truth}
    error_label = f"|error| {error_method}"
    rows[error_label] = {c: np.abs(np.clip(predictions[error_method][c], 0, 1) - truth[c]) * mask
                         for c in contrasts}
    ras = {name: {c: to_ras(v, affine) for c, v in images.items()} for name, images in rows.items()}
    brain = to_ras(mask.astype(np.uint8), affine) > 0
    centre = [int(round(x)) for x in ndimage.center_of_mass(brain)]
    box = mask_bounding_box(brain)
    error_max = max(float(np.percentile(ras[error_label][c][brain], 99.5)) for c in contrasts)
    figure = new_figure(PANEL_INCHES * 3 * len(contrasts), PANEL_INCHES * len(rows) + 0.3)
    axes = figure.subplots(len(rows), 3 * len(contrasts), squeeze=False)
    for column, (contrast, view) in enumerate((c, v) for c in contrasts for v in VIEWS):
        axis = VIEW_WORLD_AXIS[view]
        crop = tuple(box[a] for a in range(3) if a != axis)[::-1]  # transposed slice: (rows, cols)
        error_slice = view_slice(ras[error_label][contrast], view, centre[axis])[crop]
        window = zoom_window(error_slice)
        for row, (name, images) in enumerate(ras.items()):
            image = view_slice(images[contrast], view, centre[axis])[crop]
            is_error = name == error_label
            style = ({"cmap": "magma", "vmin": 0.0, "vmax": error_max} if is_error
                     else {"cmap": "gray", "vmin": 0.0, "vmax": 1.0})
            shown = _zoomed_panel(axes[row, column], image, window, style)
            if is_error:
                error_image = shown
            if row == 0:
                axes[row, column].set_title(f"{contrast} {view}")
            if column == 0:
                axes[row, column].set_ylabel(name)
    figure.colorbar(error_image, ax=axes[-1, :].tolist(), shrink=0.9, label="|error|")
    if title:
        figure.suptitle(title)
    return figure


def _zoomed_panel(ax: Axes, image: np.ndarray, window: tuple[int, int, int], style: dict
                  ) -> AxesImage:
    """An image panel with the zoom window outlined and shown enlarged in an inset."""
    row, column, side = window
    shown = ax.imshow(image, origin="lower", **style)
    ax.add_patch(Rectangle((column - 0.5, row - 0.5), side, side, fill=False,
                           edgecolor=ZOOM_COLOR, linewidth=0.8))
    # the inset goes into the corner opposite the window, so it never hides it
    left = 0.0 if column + side / 2 > image.shape[1] / 2 else 1.0 - INSET_SIZE
    bottom = 0.0 if row + side / 2 > image.shape[0] / 2 else 1.0 - INSET_SIZE
    inset = ax.inset_axes((left, bottom, INSET_SIZE, INSET_SIZE))
    inset.imshow(image[row:row + side, column:column + side], origin="lower", **style)
    for spine in inset.spines.values():
        spine.set_edgecolor(ZOOM_COLOR)
    for panel in (ax, inset):
        panel.set_xticks([])
        panel.set_yticks([])
    return shown


@styled
def mi_figure(histories: dict[str, dict[str, Sequence[float]]], truth_mi: dict[str, float],
              title: str = "", absence: str = "No method records per-epoch MI") -> Figure:
    """Per-epoch MI between predicted contrasts per INR method, with the ground-truth MI.

    ``histories`` is {method: {subject: MI per epoch}} for the methods that record MI; with none,
    the figure is a single empty panel saying why (``absence``: see ``mi_absence``).
    """
    if not histories:
        figure = new_figure(max(4.0, 0.075 * len(absence)), 0.9)
        ax = figure.subplots()
        ax.set_axis_off()
        ax.set_title(absence, fontsize="small")
        figure.suptitle(title)
        return figure
    figure = new_figure(3.2 * len(histories), 2.6)
    axes = figure.subplots(1, len(histories), squeeze=False)[0]
    colors = dict(zip(sorted(truth_mi), sns.color_palette("colorblind", len(truth_mi)),
                      strict=True))
    for ax, (method, curves) in zip(axes, histories.items(), strict=True):
        for subject, curve in sorted(curves.items()):
            epochs = np.arange(1, len(curve) + 1)
            ax.plot(epochs, curve, color=colors[subject], label=f"sub-{subject}")
            ax.axhline(truth_mi[subject], color=colors[subject], linestyle="--", linewidth=0.8)
        ax.set_title(method)
        ax.set_xlabel("epoch")
        ax.set_ylabel("MI (nats)")
    axes[-1].legend(title="solid: prediction\ndashed: ground truth", loc="best")
    if title:
        figure.suptitle(title)
    return figure


def distribution_frame(metrics: pd.DataFrame) -> pd.DataFrame:
    """The rows plotted by ``distribution_figure``, with a 'panel' and an 'x' column."""
    families, regions = zip(*(region_metric(m) for m in metrics["metric"]), strict=True)
    frame = metrics.assign(panel=families, x=[r if r else c for r, c in
                                             zip(regions, metrics["contrast"], strict=True)])
    is_tissue_dice = (frame["panel"] == "Dice") & frame["x"].isin(list(TISSUES))
    keep = frame["panel"].isin(["PSNR", "SSIM", "LPIPS"]) | is_tissue_dice
    return frame[keep & np.isfinite(frame["value"])]


@styled
def distribution_figure(metrics: pd.DataFrame, methods: list[str], title: str = "") -> Figure:
    """Box plots with subjects as points, per method: PSNR/SSIM/LPIPS per contrast, Dice per
    tissue."""
    frame = distribution_frame(metrics)
    panels = [p for p in DISTRIBUTION_METRICS if p in set(frame["panel"])]
    order = [m for m in methods if m in set(frame["method"])]
    palette = dict(zip(order, sns.color_palette("colorblind", len(order)), strict=True))
    figure = new_figure(2.6 * max(1, len(panels)), 2.8)
    axes = figure.subplots(1, max(1, len(panels)), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=False):
        data = frame[frame["panel"] == panel]
        xs = sorted(set(data["x"]), key=_x_order)
        sns.boxplot(data=data, x="x", y="value", hue="method", order=xs, hue_order=order,
                    palette=palette, showfliers=False, fill=False, linewidth=0.8, ax=ax,
                    legend=False)
        sns.swarmplot(data=data, x="x", y="value", hue="method", order=xs, hue_order=order,
                      palette=palette, dodge=True, size=3, ax=ax,
                      legend="auto" if panel == panels[-1] else False)
        ax.set_title(f"{panel} {'↓' if panel == 'LPIPS' else '↑'}")
        ax.set_xlabel("tissue" if panel == "Dice" else "contrast")
        ax.set_ylabel("PSNR (dB)" if panel == "PSNR" else panel)
    if not panels:
        axes[0].set_axis_off()
        axes[0].set_title("no metric values to plot")
    elif axes[-1].get_legend() is not None:
        sns.move_legend(axes[-1], "best", title="method")
    if title:
        figure.suptitle(title)
    return figure


def _x_order(name: str) -> tuple[int, str]:
    order = [*CONTRASTS, *TISSUES]
    return (order.index(name) if name in order else len(order), name)


def write_qualitative(*, lr_paths: dict[str, str | Path], acquisitions: dict[str, dict[str, Any]],
                      prediction_paths: dict[str, dict[str, str | Path]],
                      truth_paths: dict[str, str | Path], mask_path: str | Path,
                      error_method: str, title: str, pdf: str | Path, png: str | Path) -> None:
    """Load one subject's images and write the qualitative figure."""
    lr = {}
    for contrast in ordered_contrasts(lr_paths):
        path = lr_paths[contrast]
        data, affine = load_nifti(path)
        spec = acquisitions[contrast]
        lr[contrast] = LRImage(data, affine, spec["view"], float(spec["thickness"]))
    mask, affine = load_nifti(mask_path)
    truth = {c: load_nifti(truth_paths[c])[0] for c in lr}
    predictions = {m: {c: load_nifti(p)[0] for c, p in paths.items()}
                   for m, paths in prediction_paths.items()}
    figure = qualitative_figure(lr, predictions, truth, mask > 0, affine, error_method, title)
    save_figure(figure, pdf, png)


def truth_mutual_information(truth_paths: dict[str, str | Path], mask_path: str | Path) -> float:
    """MI between the ground-truth contrasts inside the mask (mean over pairs), as the INRs
    measure it between their predictions."""
    mask = load_nifti(mask_path)[0] > 0
    images = [load_nifti(truth_paths[c])[0] for c in sorted(truth_paths)]
    return float(np.mean([mutual_information(a, b, mask) for a, b in combinations(images, 2)]))


def mi_histories(fit_paths: list[str | Path]) -> dict[str, dict[str, list[float]]]:
    """{method: {subject: per-epoch MI}} of the fit.json files that record MI (epochs without a
    value are skipped); the subject of a fit.json is its ``sub-<label>`` folder."""
    histories: dict[str, dict[str, list[float]]] = {}
    for path in fit_paths:
        record = json.loads(Path(path).read_text())
        curve = [value for value in record.get("mi") or [] if value is not None]
        if curve:
            subject = Path(path).parent.name.removeprefix("sub-")
            histories.setdefault(record["method"], {})[subject] = curve
    return histories


def mi_absence(fit_paths: list[str | Path]) -> str:
    """Why the fit.json files hold no per-epoch MI, per method that trains by epochs: MI not
    measured (``early_stopping`` off, the only use of the measurement) or nothing to measure
    (each network predicts one contrast)."""
    reasons: dict[str, str] = {}
    for path in fit_paths:
        record = json.loads(Path(path).read_text())
        if "mi" not in record and "early_stopping" not in record.get("params", {}):
            continue
        params = record.get("params", {})
        if params.get("early_stopping") is False:
            profile = params.get("profile")
            reasons[record["method"]] = ("early_stopping off" + (
                f", as in its '{profile}' profile" if profile else "") + ": MI not measured")
        else:
            reasons[record["method"]] = "one contrast per network"
    if not reasons:
        return "No per-epoch MI: no method here fits by epochs"
    listed = ", ".join(f"{method} ({why})" for method, why in sorted(reasons.items()))
    return f"No per-epoch MI: {listed}; no other method fits by epochs"


def write_mi(*, fit_paths: list[str | Path], truth_paths: dict[str, dict[str, str | Path]],
             mask_paths: dict[str, str | Path], title: str, pdf: str | Path,
             png: str | Path) -> None:
    """The MI-convergence figure from every fit.json that has a per-epoch ``mi`` curve.

    ``truth_paths`` is {subject: {contrast: path}}.
    """
    histories = mi_histories(fit_paths)
    subjects = sorted({s for curves in histories.values() for s in curves})
    truth_mi = {s: truth_mutual_information(truth_paths[s], mask_paths[s]) for s in subjects}
    absence = "" if histories else mi_absence(fit_paths)
    save_figure(mi_figure(histories, truth_mi, title, absence), pdf, png)


def write_distributions(*, metric_paths: list[str | Path], methods: list[str], title: str,
                        pdf: str | Path, png: str | Path) -> None:
    """The metric-distribution figure from per-subject metric TSVs."""
    save_figure(distribution_figure(read_metrics(metric_paths), methods, title), pdf, png)
