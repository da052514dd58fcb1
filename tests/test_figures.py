"""Figures: panels, orientation, zoom window, MI curves, distributions and repeatable files."""

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle

from isosr.figures import (
    distribution_figure,
    mi_figure,
    mi_histories,
    qualitative_figure,
    truth_mutual_information,
    write_mi,
    write_qualitative,
    zoom_window,
)
from isosr.io import InputError, LRImage, save_nifti
from isosr.metrics import mutual_information

SHAPE = (40, 44, 36)


def head(affine: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """T1w/T2w ellipsoid 'brains' with a bright marker in the right hemisphere (world x > 0)."""
    world = np.indices(SHAPE).reshape(3, -1).T @ affine[:3, :3].T + affine[:3, 3]
    x, y, z = (world.T / np.array([[30.0], [36.0], [28.0]]))
    mask = (x**2 + y**2 + z**2 < 1).reshape(SHAPE)
    marker = ((world[:, 0] > 10) & (world[:, 0] < 20) & (np.abs(world[:, 1]) < 5)
              & (np.abs(world[:, 2]) < 5)).reshape(SHAPE)
    t1 = np.where(mask, 0.6, 0.0) + 0.4 * marker
    return {"T1w": t1.astype(np.float32), "T2w": (mask * 1.0 - 0.5 * t1).astype(np.float32)}, mask


def centred_affine(x_sign: float = 1.0) -> np.ndarray:
    affine = np.diag([2.0 * x_sign, 2.0, 2.0, 1.0])
    affine[:3, 3] = -np.diag(affine)[:3] * (np.array(SHAPE) - 1) / 2
    return affine


def thick_slices(image: np.ndarray, affine: np.ndarray) -> LRImage:
    """Every second axial slice, as a 4 mm LR acquisition."""
    return LRImage(image[:, :, ::2], affine @ np.diag([1.0, 1.0, 2.0, 1.0]), "axial", 4.0)


def figure_inputs(x_sign: float = 1.0):
    affine = centred_affine(x_sign)
    truth, mask = head(affine)
    lr = {c: thick_slices(v, affine) for c, v in truth.items()}
    rng = np.random.default_rng(0)
    predictions = {"nearest": {c: v + rng.normal(0, 0.05, SHAPE) for c, v in truth.items()},
                   "cubic": {c: v + rng.normal(0, 0.02, SHAPE) for c, v in truth.items()}}
    return lr, predictions, truth, mask, affine


def test_qualitative_panel_has_rows_of_methods_and_columns_of_views():
    figure = qualitative_figure(*figure_inputs(), error_method="cubic", title="a title")
    panels = figure.axes[:-1]
    assert len(figure.axes) == 5 * 6 + 1 and figure.axes[-1].get_label() == "<colorbar>"
    assert [ax.get_title() for ax in panels[:6]] == [
        "T1w axial", "T1w coronal", "T1w sagittal", "T2w axial", "T2w coronal", "T2w sagittal"]
    assert [panels[6 * row].get_ylabel() for row in range(5)] == [
        "LR input", "nearest", "cubic", "ground truth", "|error| cubic"]
    for ax in panels:
        assert len(ax.child_axes) == 1  # the zoom inset
        assert sum(isinstance(p, Rectangle) for p in ax.patches) == 1
    assert panels[-1].images[0].get_cmap().name == "magma"
    assert figure.get_suptitle() == "a title"


@pytest.mark.parametrize("x_sign", [1.0, -1.0])
def test_right_hemisphere_is_shown_on_the_right_whatever_the_voxel_order(x_sign):
    figure = qualitative_figure(*figure_inputs(x_sign), error_method="cubic")
    axial_truth = figure.axes[3 * 6].images[0].get_array()  # ground truth row, T1w axial
    columns = np.nonzero(axial_truth.max(axis=0) > 0.9)[0]
    assert columns.size and columns.min() > axial_truth.shape[1] / 2


def test_unknown_error_method_is_reported():
    with pytest.raises(InputError, match="figures.error_method: 'inr'"):
        qualitative_figure(*figure_inputs(), error_method="inr")


def test_zoom_window_covers_the_largest_error():
    error = np.zeros((50, 40))
    error[30:36, 5:11] = 1.0
    row, column, side = zoom_window(error)
    assert side == 12
    assert row <= 30 and row + side >= 36 and column <= 5 and column + side >= 11


def test_qualitative_files_are_byte_identical_on_rebuild(tmp_path):
    lr, predictions, truth, mask, affine = figure_inputs()
    paths = {"mask": tmp_path / "mask.nii.gz"}
    save_nifti(paths["mask"], mask.astype(np.uint8), affine)
    lr_paths, truth_paths, prediction_paths = {}, {}, {}
    for contrast in truth:
        lr_paths[contrast] = tmp_path / f"lr_{contrast}.nii.gz"
        save_nifti(lr_paths[contrast], lr[contrast].data, lr[contrast].affine)
        truth_paths[contrast] = tmp_path / f"gt_{contrast}.nii.gz"
        save_nifti(truth_paths[contrast], truth[contrast], affine)
        for method, images in predictions.items():
            path = tmp_path / f"{method}_{contrast}.nii.gz"
            save_nifti(path, images[contrast], affine)
            prediction_paths.setdefault(method, {})[contrast] = path
    acquisitions = {c: {"view": "axial", "thickness": 4.0} for c in truth}
    outputs = []
    for run in ("a", "b"):
        pdf, png = tmp_path / f"{run}.pdf", tmp_path / f"{run}.png"
        write_qualitative(lr_paths=lr_paths, acquisitions=acquisitions,
                          prediction_paths=prediction_paths, truth_paths=truth_paths,
                          mask_path=paths["mask"], error_method="cubic", title="title", pdf=pdf,
                          png=png)
        outputs.append((pdf.read_bytes(), png.read_bytes()))
    assert outputs[0] == outputs[1]
    assert outputs[0][0].startswith(b"%PDF") and b"CreationDate" not in outputs[0][0]
    assert outputs[0][1].startswith(b"\x89PNG")


def test_mi_figure_shows_each_inr_method_against_the_truth(tmp_path):
    affine = centred_affine()
    truth, mask = head(affine)
    truth_paths, mask_paths, fits = {}, {}, []
    for subject in ("01", "02"):
        folder = tmp_path / f"sub-{subject}"
        folder.mkdir()
        truth_paths[subject] = {}
        for contrast, image in truth.items():
            truth_paths[subject][contrast] = folder / f"{contrast}.nii.gz"
            save_nifti(truth_paths[subject][contrast], image, affine)
        mask_paths[subject] = folder / "brainmask.nii.gz"
        save_nifti(mask_paths[subject], mask.astype(np.uint8), affine)
        for method, mi in (("split-head", [None, 0.2, 0.4, 0.5]), ("cubic", None)):
            fits.append(tmp_path / method / f"sub-{subject}" / "fit.json")
            fits[-1].parent.mkdir(parents=True)
            fits[-1].write_text(json.dumps({"method": method, "mi": mi}))
    assert mi_histories(fits) == {"split-head": {"01": [0.2, 0.4, 0.5], "02": [0.2, 0.4, 0.5]}}
    write_mi(fit_paths=fits, truth_paths=truth_paths, mask_paths=mask_paths, title="t",
             pdf=tmp_path / "mi.pdf", png=tmp_path / "mi.png")
    assert (tmp_path / "mi.png").stat().st_size > 1000
    expected = truth_mutual_information(truth_paths["01"], mask_paths["01"])
    assert expected == pytest.approx(mutual_information(truth["T1w"], truth["T2w"], mask))
    assert expected > 0
    figure = mi_figure({"split-head": {"01": [0.2, 0.4, 0.5]}}, {"01": expected})
    (ax,) = figure.axes
    assert ax.get_title() == "split-head"
    curve, truth_line = ax.get_lines()
    assert list(curve.get_ydata()) == [0.2, 0.4, 0.5] and list(curve.get_xdata()) == [1, 2, 3]
    assert truth_line.get_ydata()[0] == pytest.approx(expected)
    empty = mi_figure({}, {}, "t")
    assert len(empty.axes) == 1 and "No method records per-epoch MI" in empty.axes[0].get_title()


def test_distribution_panels_follow_the_available_metrics():
    rows = []
    for method, offset in (("nearest", 0.0), ("cubic", 1.0)):
        for subject in ("01", "02", "03"):
            for contrast in ("T1w", "T2w"):
                rows += [(method, subject, contrast, "PSNR", 25 + offset),
                         (method, subject, contrast, "SSIM", 0.9),
                         (method, subject, contrast, "LPIPS", np.nan)]
            rows += [(method, subject, "T1w", f"Dice_{t}", 0.8) for t in ("CSF", "GM", "WM")]
            rows += [(method, subject, "T1w", "Dice", 0.8), (method, subject, "T1w", "AVD_GM", 5)]
    metrics = pd.DataFrame(rows, columns=["method", "subject", "contrast", "metric", "value"])
    figure = distribution_figure(metrics, ["nearest", "cubic"])
    assert [ax.get_title() for ax in figure.axes] == ["PSNR ↑", "SSIM ↑", "Dice ↑"]
    assert [t.get_text() for t in figure.axes[2].get_xticklabels()] == ["CSF", "GM", "WM"]
    legend = figure.axes[-1].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["nearest", "cubic"]
    metrics.loc[metrics["metric"] == "LPIPS", "value"] = 0.05
    with_lpips = distribution_figure(metrics, ["nearest", "cubic"])
    assert [ax.get_title() for ax in with_lpips.axes] == ["PSNR ↑", "SSIM ↑", "LPIPS ↓", "Dice ↑"]


def test_figure_subject_and_error_method_come_from_the_config():
    from test_segment import validated_default_config

    from isosr.config import ConfigError, Plan

    plan = Plan(validated_default_config())
    assert plan.figure_subject("icbm152") == "01" and plan.error_method() == "inr-splithead"
    chosen = Plan(validated_default_config(figures={"subject": "02", "error_method": "nearest"}))
    assert chosen.figure_subject("icbm152") == "02" and chosen.error_method() == "nearest"
    with pytest.raises(ConfigError, match="figures.subject: '07'"):
        Plan(validated_default_config(figures={"subject": "07"})).figure_subject("icbm152")
    with pytest.raises(ConfigError, match="figures.error_method: 'inr'"):
        Plan(validated_default_config(figures={"error_method": "inr"}))


def test_tiny_run_produces_tables_figures_and_report(tiny_run, tiny_config):
    from conftest import run_snakemake

    stem = "tiny_T1w-ax8-FLAIR-cor8"
    for name in (stem, f"{stem}_dice", f"{stem}_cost"):
        for extension in ("csv", "md", "tex", "html"):
            assert (tiny_run / "results" / "tables" / f"{name}.{extension}").stat().st_size > 200
    dice = pd.read_csv(tiny_run / "results" / "tables" / f"{stem}_dice.csv")
    mean_dice = dice[dice["metric"] == "Dice"].set_index("method")["mean"]
    # the tiny ArSSR (6 training steps) only proves the cohort path runs: not scored here
    assert (mean_dice[["nearest", "cubic"]] > 0.6).all()
    assert mean_dice["cubic"] > mean_dice["nearest"]
    quality = (tiny_run / "results" / "tables" / f"{stem}.md").read_text()
    assert "n/a†" in quality and "† LPIPS not computed" in quality
    for kind in ("qualitative", "mi", "metrics"):
        assert (tiny_run / "results" / "figures" / f"{stem}_{kind}.pdf").stat().st_size > 1000
        assert (tiny_run / "results" / "figures" / f"{stem}_{kind}.png").stat().st_size > 1000
    result = run_snakemake(tiny_run, tiny_config, "--report", "results/report.html", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = (tiny_run / "results" / "report.html").read_text()
    assert "Image quality of every method" in report and "Mutual information" in report
    assert f"{stem}_qualitative.png" in report
