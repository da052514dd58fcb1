"""SA-INR on the cohort contract: geometry in world coordinates, training on held-out data,
kill-and-resume, refusing a model trained otherwise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_arssr import cohort, kill_training_after_its_first_checkpoint, pair, write_cohort
from test_inr import one_torch_thread  # noqa: F401 (autouse fixture)

from isosr.fit import run_fit, run_train
from isosr.io import LRImage, load_nifti, voxel_to_world
from isosr.methods import create_method
from isosr.methods.base import TrainingContext
from isosr.methods.cohort_sampling import positions_in_lr
from isosr.methods.cohort_training import EpochTrainer
from isosr.methods.sainr import method as sainr_method
from isosr.methods.sainr.method import LocalAttention, SAINRNetwork, slices_last
from isosr.methods.sainr.params import SAINRParams
from isosr.metrics import psnr
from isosr.simulate import Acquisition

TINY = {"profile": "cpu", "encoder_blocks": 1, "features": 8, "decoder_width": 32,
        "lr_patch": 12, "lr_slices": 4, "points_per_patch": 256, "patches_per_step": 2,
        "steps_per_epoch": 5, "epochs": 6, "mask_ce_halving_epochs": 2, "device": "cpu"}
# 400 steps (about 2 min on one core): enough to learn more than interpolation on 4 blocks
LEARNING = {**TINY, "features": 16, "decoder_width": 64, "lr_patch": 16, "lr_slices": 6,
            "points_per_patch": 512, "patches_per_step": 4, "steps_per_epoch": 10,
            "epochs": 40, "mask_ce_halving_epochs": 5, "lr_halving_epochs": 20}
# 5 mm coronal slices on the 2 mm grid: a real-valued spacing factor (2.5) along array axis 1
CORONAL = Acquisition("coronal", 5.0, "slice-profile")


def test_paper_profile_builds_the_papers_network():
    network = SAINRNetwork(SAINRParams())
    assert len(network.encoder.body) == 8 + 1  # 8 residual blocks, then the body's last conv
    assert network.encoder.head.out_channels == 64
    assert network.attention.steps.shape == (7 * 7 * 2, 3)
    linears = [m for m in network.decoder if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (67, 256), (256, 256), (256, 256), (256, 256), (256, 1)]
    # the keys of the models trained before the decoder was built by isosr.methods.layers.mlp
    assert [k for k in network.state_dict() if k.startswith("decoder.")] == [
        f"decoder.{i}.{p}" for i in (0, 2, 4, 6, 8) for p in ("weight", "bias")]


def test_learning_rate_follows_the_released_schedule(tmp_path, monkeypatch):
    """The paper gives Adam 1e-4 and no decay; the released train_SA_INR.yaml halves it at
    epochs 200, 400, 600 and 800 (MultiStepLR, stepped after each epoch): epoch k (from 0)
    trains at 1e-4 x 0.5^(milestones <= k). The paper profile trains with that schedule,
    also when mapped onto an equal-compute budget."""
    captured = {}

    def capture(method, contrasts, job_of, **settings):
        captured.update(settings)
        raise StopIteration

    monkeypatch.setattr(sainr_method, "train_each_contrast", capture)
    with pytest.raises(StopIteration):
        create_method("sa-inr", {"device": "cpu"}).train(
            [pair(*s) for s in cohort()[1:3]], TrainingContext(tmp_path / "model.pt"))
    schedule = {k: captured[k] for k in ("learning_rate", "halving_epochs", "halvings", "epochs")}
    assert schedule == {"learning_rate": 1e-4, "halving_epochs": 200, "halvings": 4,
                        "epochs": 2000}

    def trainer(budget_seconds=None):
        return EpochTrainer(torch.nn.Linear(1, 1), **schedule, steps=1, seed=0,
                            device=torch.device("cpu"), checkpoint_dir=None, fingerprint="",
                            label="", budget_seconds=budget_seconds)

    def released(epoch):
        return 1e-4 * 0.5 ** sum(m <= epoch for m in (200, 400, 600, 800))

    stepped, rates = trainer(), []
    for _ in range(2000):
        rates.append(stepped.optimizer.param_groups[0]["lr"])
        stepped.optimizer.step()
        stepped.scheduler.step()
    for epoch in (0, 199, 200, 399, 400, 799, 800, 1999):
        assert rates[epoch] == pytest.approx(released(epoch), rel=1e-12), epoch
    assert rates[1999] == pytest.approx(1e-4 / 16)
    budgeted = trainer(budget_seconds=100.0)
    for fraction in (0.05, 0.15, 0.35, 0.5, 0.95):
        budgeted.epoch_seconds = [fraction * 100.0]
        assert budgeted.budget_learning_rate() == pytest.approx(released(fraction * 2000))


def test_queries_attend_to_the_two_lr_slices_around_them_in_world_coordinates():
    _, hr, grid = cohort()[1]
    lr = pair("x", hr, grid, CORONAL).lr["T1w"]
    voxels = np.array([[12, 5, 12], [3, 9, 20], [20, 14, 7], [11, 16, 11]])
    world = voxel_to_world(grid.affine, voxels)
    positions = torch.from_numpy(positions_in_lr(grid, lr.affine, voxels))[None]
    shape = (lr.data.shape[0], lr.data.shape[2], lr.data.shape[1])  # slice axis (1) last
    _, permuted = slices_last(torch.zeros((1, 1, *lr.data.shape)), positions, axis=1)
    _, neighbours = LocalAttention(4, 7).neighbours(shape, permuted)
    neighbours = neighbours[0].numpy()[..., [0, 2, 1]]  # back to LR array axes
    for query, around in zip(world, neighbours, strict=True):
        around = voxel_to_world(lr.affine, around)
        slices = np.unique(np.round(around[:, 1], 6))
        assert len(slices) == 2 and np.isclose(slices[1] - slices[0], 5.0)
        assert slices[0] <= query[1] <= slices[1]
        in_plane = np.abs(around[:, [0, 2]] - query[[0, 2]])
        assert in_plane.max() <= 3.5 * 2.0 + 1e-6 and len(np.unique(around, axis=0)) == 98


def test_without_its_residual_the_network_is_trilinear_interpolation_in_world_coordinates(
        tmp_path):
    """A linear function of world position, sampled on the LR stack (5 mm coronal slices),
    comes out exact at the HR voxel centres once the decoder's residual is zeroed."""
    subjects = cohort()
    method = create_method("sa-inr", {**TINY, "epochs": 1})
    method.train([pair(*s, CORONAL) for s in subjects[1:3]], TrainingContext(tmp_path / "m.pt"))
    saved = torch.load(tmp_path / "m.pt", weights_only=True)
    last = max(int(k.split(".")[1]) for k in saved["states"]["T1w"] if k.startswith("decoder"))
    for name in ("weight", "bias"):
        saved["states"]["T1w"][f"decoder.{last}.{name}"].zero_()
    torch.save(saved, tmp_path / "m.pt")

    _, hr, grid = subjects[0]
    lr = pair("00", hr, grid, CORONAL).lr["T1w"]

    def ramp(xyz: np.ndarray) -> np.ndarray:
        return 0.5 + xyz @ np.array([0.004, -0.007, 0.003])

    lr_world = voxel_to_world(lr.affine, np.indices(lr.data.shape).reshape(3, -1).T)
    image = LRImage(ramp(lr_world).reshape(lr.data.shape).astype(np.float32), lr.affine,
                    "coronal", 5.0)
    predicted = method.predict(tmp_path / "m.pt", {"T1w": image}, grid).images["T1w"]
    expected = ramp(grid.world_coordinates().reshape(-1, 3)).reshape(grid.shape)
    positions = positions_in_lr(grid, lr.affine).reshape(*grid.shape, 3)
    inside = np.all((positions >= 0) & (positions <= np.array(lr.data.shape) - 1), axis=-1)
    assert inside.mean() > 0.8
    np.testing.assert_allclose(predicted[inside], expected[inside], atol=1e-5)


def test_trained_sainr_beats_interpolation_on_a_held_out_subject(tmp_path):
    subjects = cohort()
    pairs = [pair(*s, CORONAL) for s in subjects[1:]]
    method = create_method("sa-inr", LEARNING, seed=0)
    trained = method.train(pairs, TrainingContext(tmp_path / "model.pt"))
    terms = trained.history["per_contrast"]["T1w"]["loss_terms"]
    assert set(terms) == {"l1", "mask_ce", "mask_budget"} and len(terms["l1"]) == 40
    np.testing.assert_allclose(trained.history["loss"]["T1w"],
                               np.sum([terms[t] for t in terms], axis=0), rtol=1e-5)
    assert np.mean(terms["l1"][-5:]) < 0.75 * terms["l1"][0], terms["l1"]
    _, hr, grid = subjects[0]  # never seen in training
    lr = pair("00", hr, grid, CORONAL).lr
    result = method.predict(tmp_path / "model.pt", lr, grid)
    assert 0.0 < result.history["attention_fraction"]["T1w"] < 0.5
    nearest = create_method("nearest").fit_predict(lr, grid).images["T1w"]
    cubic = create_method("cubic").fit_predict(lr, grid).images["T1w"]
    scores = {name: psnr(image, hr, grid.mask) for name, image in
              {"sa-inr": result.images["T1w"], "nearest": nearest, "cubic": cubic}.items()}
    assert scores["sa-inr"] > scores["nearest"] + 1.0, scores
    # measured with seeds 0-3: 30.2-30.6 dB vs nearest 27.8 and cubic 30.3 (0.07 below to 0.3
    # above cubic, 0.43 dB or more inside the margin); 800 steps reach 30.7, past cubic
    assert scores["sa-inr"] > scores["cubic"] - 0.5, scores


def train_arguments(folder, subjects: dict, params: dict = TINY) -> dict:
    return {"method": "sa-inr", "params": params, "subjects": subjects,
            "acquisitions": {"T1w": {"view": "axial", "thickness": 4.0}},
            "model_file": folder / "model.pt", "train_json": folder / "train.json",
            "threads": 1, "checkpoint_dir": folder / "checkpoint"}


def predict_arguments(folder, test: dict, params: dict = TINY) -> dict:
    return {"method": "sa-inr", "params": params, "lr_paths": test["lr"],
            "acquisitions": {"T1w": {"view": "axial", "thickness": 4.0}},
            "mask_path": test["mask"], "output_paths": {"T1w": folder / "sr.nii.gz"},
            "fit_json": folder / "fit.json", "model_file": folder / "model.pt", "threads": 1}


def test_killed_training_resumes_and_ends_as_an_uninterrupted_one(tmp_path):
    subjects, test = write_cohort(tmp_path / "data")
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    kill_training_after_its_first_checkpoint(train_arguments(killed, subjects))
    resumed = run_train(**train_arguments(killed, subjects))
    uninterrupted = run_train(**train_arguments(reference, subjects))
    history = resumed["per_contrast"]["T1w"]
    assert 1 <= history["resumed_after_epoch"] < TINY["epochs"]
    assert resumed["loss"] == uninterrupted["loss"]
    assert history["loss_terms"] == uninterrupted["per_contrast"]["T1w"]["loss_terms"]
    assert not (killed / "checkpoint").exists()
    outputs = {}
    for run in (killed, reference):
        record = run_fit(**predict_arguments(run, test))
        assert record["model_file"] == str(run / "model.pt") and record["wall_seconds"] > 0
        outputs[run] = load_nifti(run / "sr.nii.gz")
    np.testing.assert_array_equal(outputs[killed][0], outputs[reference][0])
    np.testing.assert_array_equal(outputs[killed][1], load_nifti(test["mask"])[1])


def test_a_model_trained_with_other_hyper_parameters_or_slices_is_refused(tmp_path):
    subjects, test = write_cohort(tmp_path / "data")
    run_train(**train_arguments(tmp_path, subjects, {**TINY, "epochs": 1}))
    with pytest.raises(ValueError, match="model.pt: trained with other hyper-parameters"):
        run_fit(**predict_arguments(tmp_path, test))
    coronal = {**predict_arguments(tmp_path, test, {**TINY, "epochs": 1}),
               "acquisitions": {"T1w": {"view": "coronal", "thickness": 4.0}}}
    # the acquisition the model file records refuses it first, naming both views
    with pytest.raises(ValueError, match=r"model.pt: trained for T1w axial 4 mm \(slice-profile\), "
                                         r"but the T1w scan is coronal 4 mm"):
        run_fit(**coronal)
