"""Dual-ArbNet on the cohort contract: slice geometry, held-out training, kill-and-resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_arssr import kill_training_after_its_first_checkpoint
from test_inr import one_torch_thread  # noqa: F401 (autouse fixture)

from isosr.data.embedded import TISSUES, template_maps, tissue_signal
from isosr.fit import run_fit, run_train
from isosr.io import Grid, InputError, LRImage, load_nifti, save_nifti, voxel_to_world
from isosr.methods import create_method
from isosr.methods.base import TrainingContext, TrainingPair
from isosr.methods.dualarbnet.method import (
    DualArbNetwork,
    FusionLayer,
    Slice,
    align,
    kspace_loss,
    nearest,
    plane,
    slicing_axis,
)
from isosr.methods.dualarbnet.params import DualArbNetParams
from isosr.metrics import psnr
from isosr.simulate import Acquisition, simulate_lr

ACQUISITIONS = {"T1w": Acquisition("axial", 4.0, "slice-profile"),
                "T2w": Acquisition("coronal", 4.0, "slice-profile")}
TINY = {"encoder_blocks": 1, "encoder_layers": 2, "encoder_width": 8, "feature_size": 8,
        "fusion_layers": 2, "fusion_convs": 1, "decoder_width": 16, "lr_patch": 8,
        "patches_per_step": 2, "steps_per_epoch": 5, "epochs": 6, "learning_rate": 2e-3,
        "lr_halving_epochs": 3, "warmup_epochs": 1, "hr_reference_epochs": 2, "device": "cpu"}
LEARNING = {**TINY, "encoder_width": 16, "feature_size": 16, "decoder_width": 32,
            "fusion_layers": 3, "lr_patch": 12, "patches_per_step": 4, "steps_per_epoch": 20,
            "epochs": 15, "lr_halving_epochs": 8, "hr_reference_epochs": 4}


def cohort(size: int = 24) -> list[tuple[str, dict[str, np.ndarray], Grid]]:
    """Five 48 mm blocks of ICBM152 at 2 mm, from different places of the brain, as T1w (the
    template) and T2w (synthesised from its tissue fractions)."""
    maps, affine = template_maps(2.0)
    t2w = sum(maps[t] * tissue_signal("T2w", TISSUES[t]) for t in ("GM", "WM", "CSF"))
    centre = np.asarray(maps["T1w"].shape) // 2 - size // 2
    subjects = []
    for n, shift in enumerate([(0, 0, 0), (-8, 6, 4), (8, -6, -4), (6, 8, -6), (-6, -8, 6)]):
        corner = centre + np.asarray(shift)
        box = tuple(slice(c, c + size) for c in corner)
        block_affine = affine.copy()
        block_affine[:3, 3] += affine[:3, :3] @ corner.astype(np.float64)
        mask = maps["T1w"][box] > 0.02
        images = {}
        for contrast, image in (("T1w", maps["T1w"][box]), ("T2w", t2w[box])):
            images[contrast] = np.clip(image / np.percentile(image[mask], 99.5), 0, 1
                                       ).astype(np.float32)
        subjects.append((f"{n:02d}", images, Grid(mask.shape, block_affine, mask)))
    return subjects


def scans(hr: dict[str, np.ndarray], grid: Grid) -> dict[str, LRImage]:
    lr = {}
    for contrast, acquisition in ACQUISITIONS.items():
        data, affine = simulate_lr(hr[contrast], grid.affine, acquisition)
        lr[contrast] = LRImage(data, affine, acquisition.view, acquisition.thickness,
                               acquisition.model)
    return lr


def test_plane_pixels_are_the_world_points_of_their_hr_voxels():
    _, hr, grid = cohort()[1]
    lr = scans(hr, grid)
    thick, normal = slicing_axis(grid, lr["T1w"], lr["T2w"])
    assert (thick, normal) == (2, 1)  # axial T1w: coronal planes, normal to T2w's slices
    stack = align(lr["T1w"].data, lr["T1w"].affine, grid.affine, "T1w")
    np.testing.assert_allclose(stack.step, [1.0, 1.0, 2.0])
    target = plane(stack, normal, 7)
    hr_rows, hr_cols = np.arange(24), np.arange(24)
    rows, cols, _, col_offsets = nearest(target, hr_rows, hr_cols)
    # the nearest target pixel of each HR voxel of the plane lies at most half a slice away, in
    # world coordinates, along the thick axis; offsets are the rest, in half LR pixels
    lr_voxels = np.stack([rows, np.full(24, 7), np.zeros(24)], 1)
    lr_voxels[:, 2] = cols
    hr_voxels = np.stack([hr_rows, np.full(24, 7), hr_cols], 1)
    distance = voxel_to_world(lr["T1w"].affine, lr_voxels) - voxel_to_world(grid.affine,
                                                                             hr_voxels)
    np.testing.assert_allclose(distance[:, :2], 0, atol=1e-5)
    np.testing.assert_allclose(-distance[:, 2], col_offsets * 4.0 / 2, atol=1e-5)
    assert np.abs(col_offsets).max() <= 1.0 + 1e-6
    # the target plane is the LR stack's own coronal slice; the reference plane is the T2w
    # stack interpolated between its two nearest coronal slices, at full in-plane resolution
    np.testing.assert_array_equal(target.data, lr["T1w"].data[:, 7, :])
    reference = plane(align(lr["T2w"].data, lr["T2w"].affine, grid.affine, "T2w"), normal, 7)
    assert reference.data.shape == (24, 24) and tuple(reference.step) == (1.0, 1.0)
    position = np.linalg.solve(lr["T2w"].affine, grid.affine @ [0, 7, 0, 1])[1]
    below = int(np.floor(position))
    weight = position - below
    np.testing.assert_allclose(reference.data, (1 - weight) * lr["T2w"].data[:, below]
                               + weight * lr["T2w"].data[:, below + 1], atol=1e-6)


def test_unaligned_scans_are_refused_in_one_line():
    _, hr, grid = cohort()[0]
    lr = scans(hr, grid)["T1w"]
    rotation = np.eye(4)
    rotation[:2, :2] = [[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]]
    with pytest.raises(InputError, match="T1w LR: its voxel axes are not parallel"):
        align(lr.data, rotation @ lr.affine, grid.affine, "T1w LR")


def test_paper_profile_builds_the_papers_network():
    network = DualArbNetwork(DualArbNetParams())
    assert len(network.encoder.blocks) == 5
    assert all(len(b.layers) == 10 for b in network.encoder.blocks)
    assert network.encoder.output.out_channels == 64
    # the shared RDN (isosr.methods.layers) keeps the keys of the models trained before
    assert {k.rsplit(".", 1)[0] for k in network.encoder.state_dict()} == {
        "shallow1", "shallow2", "fusion.0", "fusion.1", "output",
        *(f"blocks.{b}.layers.{i}.0" for b in range(5) for i in range(10)),
        *(f"blocks.{b}.fusion" for b in range(5))}
    assert len(network.fusion) == 5 and len(network.modulated) == 5
    assert all(isinstance(f, FusionLayer) and len(f.convs) == 4 for f in network.fusion)
    assert network.fusion[0].project[0].in_channels == 2 * 9 * 64  # unfolded target + reference
    assert network.first.in_channels == 6  # 2 scales each of target and reference, 2 coordinates
    params = DualArbNetParams()
    assert (params.lr_patch, params.patches_per_step, params.learning_rate,
            params.lr_halving_epochs, params.kspace_weight) == (32, 6, 1e-4, 40, 0.05)


@pytest.mark.parametrize(("values", "message"), [
    ({"kspace_mask": "all"}, r"methods.dual-arbnet.kspace_mask: 'all' is not one of"),
    ({"max_scale": 0.5}, r"methods.dual-arbnet.max_scale: expected a number >= 1"),
    ({"warmup_epochs": -1}, r"methods.dual-arbnet.warmup_epochs: expected an integer >= 0"),
    ({"profile": "gpu"}, r"methods.dual-arbnet.profile: unknown profile 'gpu'"),
])
def test_bad_hyper_parameters_are_one_line_naming_the_key(values, message):
    with pytest.raises(InputError, match=message):
        create_method("dual-arbnet", values)


def test_kspace_loss_sees_only_its_band():
    truth = torch.zeros(16, 16)
    rows = torch.arange(16.0)[:, None].expand(16, 16)
    slow = 0.1 * torch.cos(2 * torch.pi * rows / 16)  # 1/16 cycle per pixel: kept at scale 4
    fast = 0.1 * torch.cos(2 * torch.pi * 6 * rows / 16)  # 6/16: removed at scale 4
    scales = torch.tensor([4.0, 1.0])
    assert float(kspace_loss(fast, truth, scales, "kept")) < 1e-5
    assert float(kspace_loss(slow, truth, scales, "removed")) < 1e-5
    # orthonormal FFT: the band's RMS equals the image RMS when the error is all in the band
    expected = float(slow.square().mean().sqrt())
    assert float(kspace_loss(slow, truth, scales, "kept")) == pytest.approx(expected, rel=1e-4)


def test_a_flipped_or_rotated_slice_describes_the_flipped_or_rotated_plane():
    _, hr, grid = cohort()[2]
    lr = scans(hr, grid)
    _, normal = slicing_axis(grid, lr["T1w"], lr["T2w"])
    stacks = [align(lr[c].data, lr[c].affine, grid.affine, c) for c in ("T1w", "T2w")]
    s = Slice.build(plane(stacks[0], normal, 9), plane(stacks[1], normal, 9), np.arange(24),
                    np.arange(24), torch.device("cpu"))

    def upsampled(s: Slice) -> tuple[torch.Tensor, ...]:
        """Each HR pixel's nearest target and reference values and its offsets."""
        return (s.target[s.target_rows][:, s.target_cols],
                s.reference[s.reference_rows][:, s.reference_cols],
                s.row_offsets[:, None].expand(24, 24), s.col_offsets[None, :].expand(24, 24))

    target, reference, rows, cols = upsampled(s)
    # 2x along axis 1: HR voxel centres a quarter of a slice (half of half a slice) away
    assert float(rows.abs().max()) == 0 and float(cols.abs().max()) == 0.5
    for axis in (0, 1):
        flipped = upsampled(s.flipped(axis))
        torch.testing.assert_close(flipped[0], target.flip(axis))
        torch.testing.assert_close(flipped[1], reference.flip(axis))
        offsets = (rows, cols)[axis].flip(axis)
        torch.testing.assert_close(flipped[2 + axis], -offsets)
    rotated = s.transposed()
    torch.testing.assert_close(upsampled(rotated)[0], target.T)
    torch.testing.assert_close(upsampled(rotated)[3], rows.T)
    torch.testing.assert_close(rotated.scales, s.scales[[1, 0, 3, 2]])
    assert tuple(s.scales) == (1.0, 2.0, 1.0, 1.0)
    network = DualArbNetwork(DualArbNetParams(**TINY))
    assert network(rotated).shape == (24, 24)


def test_trained_dual_arbnet_beats_interpolation_on_a_held_out_subject(tmp_path):
    subjects = cohort()
    pairs = [TrainingPair(name, hr, grid, scans(hr, grid)) for name, hr, grid in subjects[1:]]
    method = create_method("dual-arbnet", LEARNING, seed=0)
    trained = method.train(pairs, TrainingContext(tmp_path / "model.pt"))
    assert trained.history["references"] == {"T1w": "T2w", "T2w": "T1w"}
    _, hr, grid = subjects[0]  # never seen in training
    lr = scans(hr, grid)
    predicted = method.predict(tmp_path / "model.pt", lr, grid).images
    nearest_images = create_method("nearest").fit_predict(lr, grid).images
    cubic = create_method("cubic").fit_predict(lr, grid).images
    for contrast in ("T1w", "T2w"):
        loss = trained.history["loss"][contrast]
        assert len(loss) == 15 and np.mean(loss[-3:]) < 0.5 * np.mean(loss[:3]), loss
        scores = {name: psnr(images[contrast], hr[contrast], grid.mask) for name, images in
                  {"dual-arbnet": predicted, "nearest": nearest_images, "cubic": cubic}.items()}
        # measured: T1w 31.6 dB (nearest 26.7, cubic 29.5); T2w 33.9 (nearest 30.3, cubic 34.6)
        assert scores["dual-arbnet"] > scores["nearest"] + 1.0, (contrast, scores)


def write_cohort(folder: Path) -> tuple[dict, dict]:
    """Training subjects as files (run_train's ``subjects``), and one test subject's files."""
    files = {}
    for subject, hr, grid in cohort():
        base = folder / subject
        lr = scans(hr, grid)
        entry = {"hr": {}, "lr": {}, "mask": base / "mask.nii.gz"}
        for contrast in ACQUISITIONS:
            entry["hr"][contrast] = base / f"hr-{contrast}.nii.gz"
            entry["lr"][contrast] = base / f"lr-{contrast}.nii.gz"
            save_nifti(entry["hr"][contrast], hr[contrast], grid.affine)
            save_nifti(entry["lr"][contrast], lr[contrast].data, lr[contrast].affine)
        save_nifti(entry["mask"], grid.mask.astype(np.uint8), grid.affine, dtype=np.uint8)
        files[subject] = entry
    test = files.pop("00")
    return files, test


def acquisitions() -> dict:
    return {c: {"view": a.view, "thickness": a.thickness, "model": a.model}
            for c, a in ACQUISITIONS.items()}


def train_arguments(folder: Path, subjects: dict) -> dict:
    return {"method": "dual-arbnet", "params": TINY, "subjects": subjects,
            "acquisitions": acquisitions(), "model_file": folder / "model.pt",
            "train_json": folder / "train.json", "threads": 1,
            "checkpoint_dir": folder / "checkpoint"}


def test_killed_training_resumes_and_ends_as_an_uninterrupted_one(tmp_path):
    subjects, test = write_cohort(tmp_path / "data")
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    kill_training_after_its_first_checkpoint(train_arguments(killed, subjects))

    resumed = run_train(**train_arguments(killed, subjects))
    uninterrupted = run_train(**train_arguments(reference, subjects))
    assert 1 <= resumed["per_contrast"]["T1w"]["resumed_after_epoch"] < 6
    assert resumed["loss"] == uninterrupted["loss"]
    assert resumed["training_subjects"] == ["01", "02", "03", "04"]
    assert not (killed / "checkpoint").exists()
    outputs = {}
    for run in (killed, reference):
        record = run_fit(method="dual-arbnet", params=TINY, lr_paths=test["lr"],
                         acquisitions=acquisitions(), mask_path=test["mask"],
                         output_paths={c: run / f"sr-{c}.nii.gz" for c in ACQUISITIONS},
                         fit_json=run / "fit.json", model_file=run / "model.pt", threads=1)
        assert record["model_file"] == str(run / "model.pt") and record["wall_seconds"] > 0
        outputs[run] = {c: load_nifti(run / f"sr-{c}.nii.gz") for c in ACQUISITIONS}
    for contrast in ACQUISITIONS:
        np.testing.assert_array_equal(outputs[killed][contrast][0],
                                      outputs[reference][contrast][0])
        # written on the HR grid: the mask's world coordinates
        np.testing.assert_array_equal(outputs[killed][contrast][1], load_nifti(test["mask"])[1])
    assert json.loads((killed / "fit.json").read_text())["method"] == "dual-arbnet"


def test_a_model_trained_with_other_hyper_parameters_or_one_contrast_is_refused(tmp_path):
    subjects, test = write_cohort(tmp_path / "data")
    run_train(**{**train_arguments(tmp_path, subjects), "params": {**TINY, "epochs": 1}})
    with pytest.raises(ValueError, match="model.pt: trained with other hyper-parameters"):
        run_fit(method="dual-arbnet", params=TINY, lr_paths=test["lr"],
                acquisitions=acquisitions(), mask_path=test["mask"],
                output_paths={c: tmp_path / f"sr-{c}.nii.gz" for c in ACQUISITIONS},
                fit_json=tmp_path / "fit.json", model_file=tmp_path / "model.pt")
    single = {s: {**f, "hr": {"T1w": f["hr"]["T1w"]}, "lr": {"T1w": f["lr"]["T1w"]}}
              for s, f in subjects.items()}
    with pytest.raises(InputError, match="needs a target and a reference contrast"):
        run_train(**{**train_arguments(tmp_path / "single", single),
                     "acquisitions": {"T1w": acquisitions()["T1w"]}})
