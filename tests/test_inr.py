"""The INR family: geometry, hyper-parameters, MI early stopping, resume, and quality vs cubic."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from isosr.cli import main as cli_main
from isosr.data.embedded import TISSUES, template_maps, tissue_signal
from isosr.io import Grid, InputError, LRImage, load_nifti, save_nifti, voxel_to_world
from isosr.methods import create_method
from isosr.methods.inr.coordinates import CoordinateFrame
from isosr.methods.inr.forward_model import SliceProfile
from isosr.methods.inr.mi_stopping import MIPlateau
from isosr.methods.inr.model import NetworkGeometry, split_head_inr, vanilla_inr
from isosr.methods.inr.params import PROFILES, SplitHeadParams
from isosr.methods.inr.samples import IntensityScale, TrainingSet
from isosr.methods.inr.training import Trainer
from isosr.metrics import psnr
from isosr.simulate import Acquisition, lr_affine, simulate_lr, slice_centres

REPO = Path(__file__).resolve().parents[1]
INR_METHODS = ("inr-single", "inr-vanilla", "inr-splithead")
TINY_NETWORK = {"fourier_features": 16, "hidden_width": 32, "hidden_layers": 1, "epochs": 6,
                "batch_size": 256, "learning_rate": 1e-3, "device": "cpu"}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One torch thread: OpenMP threads spin-wait badly on a busy 2-core machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def oblique_affine(spacing: float = 2.0) -> np.ndarray:
    affine = np.eye(4)
    affine[:3, :3] = Rotation.from_euler("xyz", [10, -7, 25], degrees=True).as_matrix() * spacing
    affine[:3, 3] = [-40.3, 12.1, 7.7]
    return affine


def smooth_case(shape: tuple[int, int, int] = (14, 12, 16)) -> tuple[dict[str, LRImage], Grid]:
    """Two smooth contrasts on a small oblique HR grid, acquired axial and coronal, 2x thick."""
    affine = oblique_affine()
    i, j, k = np.indices(shape, dtype=np.float64) / np.asarray(shape)[:, None, None, None]
    volumes = {"T1w": 0.5 + 0.4 * np.sin(3 * i) * np.cos(2 * j + k),
               "T2w": 0.5 + 0.4 * np.cos(2 * i + 3 * k) * np.sin(j)}
    views = {"T1w": "axial", "T2w": "coronal"}
    lr = {}
    for contrast, volume in volumes.items():
        data, lr_aff = simulate_lr(volume, affine, Acquisition(views[contrast], 4.0))
        lr[contrast] = LRImage(data, lr_aff, views[contrast], 4.0)
    mask = np.zeros(shape, dtype=bool)
    mask[2:-2, 2:-2, 2:-2] = True
    return lr, Grid(shape, affine, mask)


# --- coordinates -----------------------------------------------------------------------------

def test_lr_voxel_centres_and_hr_grid_points_at_one_world_point_get_one_coordinate():
    lr, grid = smooth_case()
    frame = CoordinateFrame.for_fit([(im.data.shape, im.affine) for im in lr.values()], grid)
    hr_points = frame.grid_coordinates(grid).reshape(*grid.shape, 3)
    # a decimated stack: every LR voxel centre is an HR grid point (i, j, 2k + offset)
    centres = slice_centres(grid.shape[2], 2.0, integer=True)
    decimated = lr_affine(grid.affine, 2, centres)
    lr_points = frame.image_coordinates((*grid.shape[:2], len(centres)), decimated)
    expected = hr_points[:, :, centres.astype(int)].reshape(-1, 3)
    np.testing.assert_allclose(lr_points, expected, rtol=0, atol=1e-6)
    # a thick-slice stack between HR planes: LR voxel centres are HR points at fractional k
    t1w = lr["T1w"]
    ijk = np.indices(t1w.data.shape, dtype=np.float64).reshape(3, -1).T
    in_hr_voxels = ijk @ (np.linalg.inv(grid.affine) @ t1w.affine)[:3, :3].T + (
        np.linalg.inv(grid.affine) @ t1w.affine)[:3, 3]
    np.testing.assert_allclose(frame.image_coordinates(t1w.data.shape, t1w.affine),
                               frame.normalise(voxel_to_world(grid.affine, in_hr_voxels)),
                               rtol=0, atol=1e-6)


def test_frame_spans_all_images_isotropically_within_unit_cube():
    lr, grid = smooth_case()
    frame = CoordinateFrame.for_fit([(im.data.shape, im.affine) for im in lr.values()], grid)
    points = np.concatenate([frame.grid_coordinates(grid)] + [
        frame.image_coordinates(im.data.shape, im.affine) for im in lr.values()])
    assert np.abs(points).max() == pytest.approx(1.0, abs=1e-6)
    extent = points.max(axis=0) - points.min(axis=0)
    assert extent.max() == pytest.approx(2.0, abs=1e-6)
    # one scale for all axes: a millimetre is the same length along every axis
    a, b = frame.normalise(np.stack([grid.affine[:3, 3], grid.affine[:3, 3] + [10, -20, 5]]))
    assert np.linalg.norm(b - a) == pytest.approx(np.sqrt(525.0) / frame.half_extent, rel=1e-6)


# --- hyper-parameters ------------------------------------------------------------------------

def test_paper_profile_is_the_default_and_builds_the_papers_network():
    params = create_method("inr-splithead").params
    assert (params.encoding, params.forward_model, params.fourier_features, params.hidden_width,
            params.hidden_layers, params.head_width, params.learning_rate, params.epochs,
            params.batch_size, params.loss_weights, params.early_stopping) == (
        "fourier", "point", 256, 1024, 4, 512, 4e-4, 50, 1000, {}, True)
    assert params.fourier_sigma == pytest.approx(4.0 / 120.0)  # cycles/mm
    # on the paper's 240 mm field of view (half extent 120 mm) that is their N(0, 4^2)
    network = split_head_inr(params, 2, NetworkGeometry(half_extent_mm=120.0, hr_voxel_mm=1.0))
    assert network.encoding.frequencies.shape == (256, 3)
    trunk = [m for m in network.trunk if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in trunk] == [(512, 1024)] + [(1024, 1024)] * 4
    assert [[(m.in_features, m.out_features) for m in head if isinstance(m, torch.nn.Linear)]
            for head in network.heads] == [[(1024, 512), (512, 1)]] * 2
    # B ~ N(0, 4^2) before the 2*pi scaling
    assert network.encoding.frequencies.std().item() / (2 * np.pi) == pytest.approx(4.0, rel=0.1)


def test_profile_fills_only_the_keys_not_given():
    params = create_method("inr-splithead", {"profile": "fast", "hidden_width": 48}).params
    assert params.hidden_width == 48
    assert params.head_width == PROFILES["fast"]["head_width"]
    assert (params.encoding, params.forward_model) == ("hashgrid", "slice-profile")
    assert create_method("inr-single").params.early_stopping is False
    assert create_method("inr-vanilla").params.early_stopping is True
    assert create_method("inr-vanilla", {"profile": "fast"}).params.early_stopping is False


def test_finest_hash_cells_are_capped_by_the_hr_voxel():
    params = create_method("inr-splithead", {"profile": "fast"}).params
    coarse = split_head_inr(params, 2, NetworkGeometry(half_extent_mm=100.0, hr_voxel_mm=2.0))
    fine = split_head_inr(params, 2, NetworkGeometry(half_extent_mm=100.0, hr_voxel_mm=0.5))
    assert coarse.encoding.cell_mm[0] == pytest.approx(16.0)
    assert coarse.encoding.cell_mm[-1] == pytest.approx(2.0)  # hash_finest_mm 1 < 2 mm voxels
    assert fine.encoding.cell_mm[-1] == pytest.approx(params.hash_finest_mm)


@pytest.mark.parametrize(("method", "params", "culprit"), [
    ("inr-splithead", {"hiden_width": 8}, "hiden_width"),
    ("inr-vanilla", {"head_width": 8}, "head_width"),
    ("inr-single", {"profile": "gpu"}, "profile"),
    ("inr-splithead", {"epochs": 0}, "epochs"),
    ("inr-vanilla", {"device": "tpu"}, "device"),
    ("inr-vanilla", {"encoding": "siren"}, "encoding"),
    ("inr-splithead", {"forward_model": "psf"}, "forward_model"),
    ("inr-splithead", {"profile": "fast", "hash_coarsest_mm": 0.5}, "hash_finest_mm"),
    ("inr-single", {"profile": "fast", "profile_samples": 0}, "profile_samples"),
    ("inr-vanilla", {"profile": "fast", "grid_learning_rate": "fast"}, "grid_learning_rate"),
])
def test_bad_hyper_parameter_raises_input_error_naming_it(method, params, culprit):
    with pytest.raises(InputError, match=culprit):
        create_method(method, params)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_a_gpu_is_a_clear_error():
    lr, grid = smooth_case()
    with pytest.raises(InputError, match="device: 'cuda'"):
        create_method("inr-splithead", {**TINY_NETWORK, "device": "cuda"}).fit_predict(lr, grid)


# --- MI early stopping -----------------------------------------------------------------------

def test_mi_plateau_triggers_where_the_curve_flattens():
    plateau = MIPlateau(window=4, tolerance=1e-3)
    curve = [0.30, 0.60, 0.75, 0.80, 0.8004, 0.8006, 0.8005, 0.8005]
    first = next(n for n in range(1, len(curve) + 1) if plateau.reached(curve[:n]))
    assert first == 7
    oscillating = [0.8 + 0.01 * (-1) ** n for n in range(30)]
    assert not any(plateau.reached(oscillating[:n]) for n in range(1, 31))


def test_fit_stops_on_mi_plateau_and_still_returns_every_contrast():
    lr, grid = smooth_case()
    params = {**TINY_NETWORK, "epochs": 20, "mi_window": 3, "mi_tolerance": 10.0}
    result = create_method("inr-vanilla", params).fit_predict(lr, grid)
    predictions = result.images
    # the paper profile's rule (mcginnis2023) compares the window's mean MI change with the
    # previous epoch's: with a tolerance above any change (MI <= ln 32) it holds once it has
    # window + 1 values
    assert result.history["stopping_epoch"] == 4
    assert result.history["epochs"] == 4 and len(result.history["mi"]) == 4
    assert set(predictions) == {"T1w", "T2w"}
    assert all(p.shape == grid.shape and np.isfinite(p).all() for p in predictions.values())
    # the single-contrast baseline does not stop early by default
    single = create_method("inr-single", {**params, "epochs": 5}).fit_predict(lr, grid).history
    assert single["stopping_epoch"] is None and single["epochs"] == 5


# --- training loop ---------------------------------------------------------------------------

def tiny_trainer(checkpoint: Path | None, fingerprint: str = "case") -> Trainer:
    lr, grid = smooth_case()
    params = SplitHeadParams(head_width=8, early_stopping=False, **TINY_NETWORK)
    frame = CoordinateFrame.for_fit([(im.data.shape, im.affine) for im in lr.values()], grid)
    scales = {c: IntensityScale.of(im.data, c) for c, im in lr.items()}
    samples = TrainingSet.from_images(lr, frame, scales, torch.device("cpu"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        network = split_head_inr(params, 2, NetworkGeometry(frame.half_extent, 2.0))
    mi_points = torch.from_numpy(frame.grid_coordinates(grid, inside_mask=True))
    return Trainer(network, samples, mi_points, params, seed=3, checkpoint=checkpoint,
                   fingerprint=fingerprint)


def test_resumed_fit_ends_with_the_same_weights_as_an_uninterrupted_one(tmp_path):
    uninterrupted = tiny_trainer(None)
    uninterrupted.run()
    interrupted = tiny_trainer(tmp_path / "checkpoint")
    for record in interrupted.epochs():
        if record.epoch == 2:
            break  # the process dies here: epoch 2 is checkpointed, epoch 3 never starts
    resumed = tiny_trainer(tmp_path / "checkpoint")
    resumed.run()
    assert resumed.resumed_at == 2
    final = resumed.network.state_dict()
    for name, tensor in uninterrupted.network.state_dict().items():
        assert torch.equal(tensor, final[name]), name
    assert [r.loss for r in resumed.records] == [r.loss for r in uninterrupted.records]
    assert [r.mi for r in resumed.records] == [r.mi for r in uninterrupted.records]
    # a checkpoint of another fit (other inputs or parameters) is ignored, not resumed
    other = tiny_trainer(tmp_path / "checkpoint", fingerprint="another case")
    other.run()
    assert other.resumed_at == 0


def test_training_is_bit_for_bit_repeatable_on_the_cpu():
    first, second = tiny_trainer(None), tiny_trainer(None)
    first.run()
    second.run()
    for name, tensor in first.network.state_dict().items():
        assert torch.equal(tensor, second.network.state_dict()[name]), name


@pytest.mark.parametrize("build", [split_head_inr, vanilla_inr])
def test_own_outputs_are_each_points_column_of_the_full_output(build):
    params = SplitHeadParams(head_width=8, early_stopping=False, **TINY_NETWORK)
    network = build(params, 3, NetworkGeometry(20.0, 2.0))
    points = torch.rand(9, 3) * 2 - 1
    counts = [2, 0, 7]  # grouped by contrast, one contrast absent
    contrast = torch.repeat_interleave(torch.arange(3), torch.tensor(counts))
    expected = network(points).gather(1, contrast[:, None])[:, 0]
    torch.testing.assert_close(network.own_outputs(points, counts), expected)


def test_each_contrast_supervises_only_its_own_output():
    trainer = tiny_trainer(None)
    batch = torch.arange(len(trainer.samples))
    mse = trainer.batch_mse(batch)
    outputs = trainer.network(trainer.samples.coordinates).detach()
    for position in range(2):
        own = trainer.samples.contrast_index == position
        expected = ((outputs[own, position] - trainer.samples.targets[own]) ** 2).mean()
        assert mse[position].item() == pytest.approx(expected.item(), rel=1e-5)


# --- quality -------------------------------------------------------------------------------

def template_block(size: int = 32) -> tuple[dict[str, np.ndarray], Grid]:
    """A central block of ICBM152 at 2 mm: its T1w and a T2w synthesised from its tissues."""
    maps, affine = template_maps(2.0)
    corner = [n // 2 - size // 2 for n in maps["T1w"].shape]
    box = tuple(slice(c, c + size) for c in corner)
    block_affine = affine.copy()
    block_affine[:3, 3] += affine[:3, :3] @ np.asarray(corner, dtype=np.float64)
    t2w = sum(maps[t][box] * tissue_signal("T2w", TISSUES[t]) for t in ("GM", "WM", "CSF"))
    mask = maps["T1w"][box] > 0.02
    hr = {c: np.clip(v / np.percentile(v[mask], 99.5), 0, 1).astype(np.float32)
          for c, v in {"T1w": maps["T1w"][box], "T2w": t2w}.items()}
    return hr, Grid(mask.shape, block_affine, mask)


def test_split_head_inr_beats_cubic_on_both_contrasts():
    hr, grid = template_block()
    views = {"T1w": "axial", "T2w": "coronal"}  # 6 mm slices: 3x through-plane, McGinnis model
    lr = {c: LRImage(*simulate_lr(hr[c], grid.affine, Acquisition(views[c], 6.0, "spline")),
                     views[c], 6.0) for c in hr}
    # a small network with the paper's frequencies in cycles/mm (the same on a 64 mm block)
    params = {"fourier_features": 64, "hidden_width": 128,
              "hidden_layers": 2, "head_width": 64, "learning_rate": 2e-3, "batch_size": 256,
              "epochs": 10, "early_stopping": False, "device": "cpu"}
    inr = create_method("inr-splithead", params, seed=0).fit_predict(lr, grid).images
    cubic = create_method("cubic").fit_predict(lr, grid).images
    for contrast in hr:
        gain = psnr(inr[contrast], hr[contrast], grid.mask) - psnr(cubic[contrast], hr[contrast],
                                                                   grid.mask)
        assert gain > 0.5, (contrast, gain)


def test_fast_split_head_inr_beats_cubic_on_both_contrasts():
    hr, grid = template_block()
    views = {"T1w": "axial", "T2w": "coronal"}  # 6 mm slices: 3x through-plane, Gaussian profile
    lr = {c: LRImage(*simulate_lr(hr[c], grid.affine, Acquisition(views[c], 6.0)), views[c], 6.0)
          for c in hr}
    # the fast profile; smaller batches for the 24 k voxels of a 64 mm block (more steps)
    params = {"profile": "fast", "batch_size": 512, "epochs": 8, "device": "cpu"}
    inr = create_method("inr-splithead", params, seed=0).fit_predict(lr, grid).images
    cubic = create_method("cubic").fit_predict(lr, grid).images
    for contrast in hr:
        gain = psnr(inr[contrast], hr[contrast], grid.mask) - psnr(cubic[contrast], hr[contrast],
                                                                   grid.mask)
        assert gain > 0.5, (contrast, gain)


# --- slice-profile forward model ---------------------------------------------------------------

def test_slice_profile_mean_matches_the_analytic_profile():
    """Mean of cos(2 pi f d) over the samples of a voxel = the Gaussian's (through-plane) or the
    box's (in-plane) attenuation of that wave: exp(-2 pi^2 f^2 sigma^2) and sinc(f * width)."""
    affine = oblique_affine(1.0) @ np.diag([1.5, 2.0, 5.0, 1.0])  # 5 mm slices along axis 2
    image = LRImage(np.zeros((4, 4, 4), np.float32), affine, "axial", 5.0)
    frame = CoordinateFrame(np.zeros(3), 50.0)
    profile = SliceProfile.of({"T1w": image}, frame, samples=4096, device=torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    offsets = profile.offsets(torch.zeros(3, dtype=torch.int64), generator).double().numpy()
    offsets_mm = offsets * frame.half_extent  # (3 voxels, samples, 3) world mm
    columns = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)
    sigma = 5.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    for frequency in (0.05, 0.1, 0.2):  # cycles/mm
        along_normal = np.cos(2 * np.pi * frequency * offsets_mm @ columns[:, 2]).mean(axis=1)
        np.testing.assert_allclose(along_normal, np.exp(-2 * (np.pi * frequency * sigma) ** 2),
                                   atol=0.01)
        for axis, width in ((0, 1.5), (1, 2.0)):
            in_plane = np.cos(2 * np.pi * frequency * offsets_mm @ columns[:, axis]).mean(axis=1)
            np.testing.assert_allclose(in_plane, np.sinc(frequency * width), atol=0.01)


@pytest.mark.parametrize("model", ["spline", "decimate"])
def test_slice_profile_follows_a_point_sampling_acquisition_model(model):
    """spline and decimate sample the image at the slice centre: no through-plane spread, the
    in-plane box of one voxel as for every model."""
    affine = oblique_affine(1.0) @ np.diag([1.5, 2.0, 5.0, 1.0])
    image = LRImage(np.zeros((4, 4, 4), np.float32), affine, "axial", 5.0, model)
    frame = CoordinateFrame(np.zeros(3), 50.0)
    profile = SliceProfile.of({"T1w": image}, frame, samples=256, device=torch.device("cpu"))
    offsets = profile.offsets(torch.zeros(2, dtype=torch.int64), torch.Generator().manual_seed(0))
    offsets_mm = offsets.double().numpy() * frame.half_extent
    columns = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)
    np.testing.assert_allclose(offsets_mm @ columns[:, 2], 0.0, atol=1e-5)
    assert np.abs(offsets_mm @ columns[:, 0]).max() == pytest.approx(0.75, abs=0.02)


def test_slice_profile_refuses_the_kspace_model_by_name():
    image = LRImage(np.zeros((4, 4, 4), np.float32), np.diag([2.0, 2.0, 5.0, 1.0]), "axial", 5.0,
                    "kspace")
    with pytest.raises(InputError, match="cannot follow FLAIR's acquisition model 'kspace'"):
        SliceProfile.of({"FLAIR": image}, CoordinateFrame(np.zeros(3), 50.0), 4,
                        torch.device("cpu"))


def test_slice_profile_predicts_a_voxel_as_the_mean_of_the_network_over_its_samples():
    trainer = tiny_trainer(None)
    lr, grid = smooth_case()
    frame = CoordinateFrame.for_fit([(im.data.shape, im.affine) for im in lr.values()], grid)
    scales = {c: IntensityScale.of(im.data, c) for c, im in lr.items()}
    samples = TrainingSet.from_images(lr, frame, scales, torch.device("cpu"), profile_samples=5)
    trainer.samples = samples
    batch = torch.cat([torch.arange(4), torch.arange(len(samples) - 3, len(samples))])
    assert samples.counts(batch) == [4, 3]  # both contrasts
    state = trainer.generator.get_state()
    predicted = trainer.predict_voxels(batch, samples.counts(batch))
    trainer.generator.set_state(state)
    offsets = samples.profile.offsets(samples.contrast_index[batch], trainer.generator)
    points = samples.coordinates[batch, None, :] + offsets
    expected = torch.stack([trainer.network(p).mean(dim=0)[c]
                            for p, c in zip(points, samples.contrast_index[batch], strict=True)])
    torch.testing.assert_close(predicted, expected)


# --- single-contrast INRs ------------------------------------------------------------------------

def test_single_contrast_inr_output_depends_only_on_its_own_input():
    lr, grid = smooth_case()
    flair = LRImage(lr["T2w"].data[::-1].copy() * 2.0 + 1.0, lr["T2w"].affine, "coronal", 4.0)
    params = {**TINY_NETWORK, "epochs": 2}
    with_t2w = create_method("inr-single", params, seed=5).fit_predict(lr, grid).images
    with_flair = create_method("inr-single", params, seed=5).fit_predict(
        {"T1w": lr["T1w"], "FLAIR": flair}, grid).images
    np.testing.assert_array_equal(with_t2w["T1w"], with_flair["T1w"])
    alone = create_method("inr-single", params, seed=5).fit_predict({"T1w": lr["T1w"]},
                                                                     grid).images
    np.testing.assert_array_equal(alone["T1w"], with_t2w["T1w"])
    other_seed = create_method("inr-single", params, seed=6).fit_predict({"T1w": lr["T1w"]},
                                                                          grid).images
    assert not np.array_equal(other_seed["T1w"], alone["T1w"])


def test_single_contrast_fit_records_each_network():
    lr, grid = smooth_case()
    history = create_method("inr-single", {**TINY_NETWORK, "epochs": 2}).fit_predict(lr,
                                                                                      grid).history
    assert set(history["networks"]) == {"T1w", "T2w"} and history["epochs"] == 2
    assert history["training_coordinates"] == sum(im.data.size for im in lr.values())
    assert history["mi"] == [None, None] and history["coordinates_per_second"] > 0


# --- resume of a fast fit from the command line ----------------------------------------------

def test_fast_fit_killed_from_the_command_line_resumes_to_identical_outputs(tmp_path):
    lr, _ = smooth_case((24, 22, 26))
    arguments = []
    for contrast, image in lr.items():
        save_nifti(tmp_path / f"{contrast}.nii.gz", image.data, image.affine)
        arguments += ["--lr", f"{contrast}={tmp_path / f'{contrast}.nii.gz'}"]
    params = ["--param", "profile=fast", "--param", "epochs=40", "--param", "batch_size=256",
              "--param", "device=cpu", "--resolution", "2"]

    def command(out_dir: Path, checkpoint: Path | None = None) -> list[str]:
        extra = [] if checkpoint is None else ["--checkpoint-dir", str(checkpoint)]
        return ["fit", "--method", "inr-splithead", *arguments, *params, "--out-dir",
                str(out_dir), *extra]

    killed, checkpoint = tmp_path / "killed", tmp_path / "state"
    process = subprocess.Popen([sys.executable, "-m", "isosr.cli", *command(killed, checkpoint)],
                               env={**os.environ, "OMP_NUM_THREADS": "1"},
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (checkpoint / "state.pt").exists() and process.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the fit ended before it could be killed"
    assert cli_main(command(killed, checkpoint)) == 0
    resumed = json.loads((killed / "fit.json").read_text())
    assert 1 <= resumed["resumed_after_epoch"] < 40 and not checkpoint.exists()
    reference = tmp_path / "reference"
    assert cli_main(command(reference)) == 0
    assert not (reference / "checkpoint").exists()  # the default, inside --out-dir, removed
    for contrast in lr:
        np.testing.assert_array_equal(load_nifti(killed / f"{contrast}.nii.gz")[0],
                                      load_nifti(reference / f"{contrast}.nii.gz")[0])


def test_training_set_refuses_samples_not_ordered_by_contrast():
    coordinates, targets = torch.zeros(4, 3), torch.zeros(4)
    with pytest.raises(ValueError, match="ordered by contrast"):
        TrainingSet(coordinates, targets, torch.tensor([0, 1, 0, 1]), ("T1w", "T2w"))
