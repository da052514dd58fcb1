"""LPIPS: the network on random weights in the torchvision / lpips file layouts, and its weights."""

import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from isosr.io import InputError
from isosr.lpips import (
    ALEXNET_CHECKPOINT,
    CHANNELS,
    SCALE,
    SHIFT,
    Lpips,
    LpipsWeights,
    brain_slices,
    find_weights,
    lpips_volume,
)

# torchvision's AlexNet: features.{0,3,6,8,10} convolutions and a classifier we must ignore.
ALEXNET_LAYERS = {0: (64, 3, 11), 3: (192, 64, 5), 6: (384, 192, 3), 8: (256, 384, 3),
                  10: (256, 256, 3)}


def save_random_weights(folder, linear_layer=None, seed=0):
    """Random AlexNet and LPIPS linear weights in their published state-dict layouts.

    With ``linear_layer`` only that LPIPS layer has non-zero (all-one) weights.
    """
    generator = torch.Generator().manual_seed(seed)
    backbone = {}
    for index, (out, inp, kernel) in ALEXNET_LAYERS.items():
        backbone[f"features.{index}.weight"] = torch.randn(out, inp, kernel, kernel,
                                                           generator=generator) * 0.05
        backbone[f"features.{index}.bias"] = torch.randn(out, generator=generator) * 0.05
    backbone["classifier.1.weight"] = torch.zeros(8, 8)  # (4096, 9216) in the real file
    backbone["classifier.6.bias"] = torch.zeros(1000)
    linear = {f"lin{k}.model.1.weight": (torch.rand(1, c, 1, 1, generator=generator)
                                         if linear_layer is None
                                         else torch.full((1, c, 1, 1), float(k == linear_layer)))
              for k, c in enumerate(CHANNELS)}
    torch.save(backbone, folder / ALEXNET_CHECKPOINT)
    torch.save(linear, folder / "alex.pth")
    return LpipsWeights(folder / ALEXNET_CHECKPOINT, folder / "alex.pth")


def test_distance_is_zero_for_equal_images_symmetric_and_batch_independent(tmp_path):
    model = Lpips().load_weights(save_random_weights(tmp_path))
    generator = torch.Generator().manual_seed(1)
    a = torch.rand(3, 1, 48, 40, generator=generator) * 2 - 1
    b = torch.rand(3, 1, 48, 40, generator=generator) * 2 - 1
    with torch.no_grad():
        ab, ba, aa = model(a, b), model(b, a), model(a, a)
        single = model(a[1:2], b[1:2])
    assert ab.shape == (3,)
    assert torch.all(ab > 0)
    assert torch.allclose(ab, ba)
    assert torch.equal(aa, torch.zeros(3))
    assert torch.allclose(single, ab[1:2])


def test_first_layer_distance_matches_a_direct_computation(tmp_path):
    weights = save_random_weights(tmp_path, linear_layer=0)
    model = Lpips().load_weights(weights)
    generator = torch.Generator().manual_seed(2)
    a, b = (torch.rand(1, 1, 40, 36, generator=generator) * 2 - 1 for _ in range(2))
    conv = torch.load(weights.alexnet, weights_only=True)
    shift, scale = torch.tensor(SHIFT).view(1, 3, 1, 1), torch.tensor(SCALE).view(1, 3, 1, 1)

    def unit_relu1(x):
        x = (x.repeat(1, 3, 1, 1) - shift) / scale
        feature = F.relu(F.conv2d(x, conv["features.0.weight"], conv["features.0.bias"],
                                  stride=4, padding=2))
        return feature / (feature.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)

    expected = ((unit_relu1(a) - unit_relu1(b)) ** 2).sum(dim=1).mean()
    with torch.no_grad():
        assert model(a, b).item() == pytest.approx(expected.item(), rel=1e-5)


def test_volume_score_uses_brain_slices_of_all_three_views(tmp_path):
    model = Lpips().load_weights(save_random_weights(tmp_path))
    rng = np.random.default_rng(0)
    truth = rng.random((36, 40, 34)).astype(np.float32)
    mask = np.zeros(truth.shape, dtype=bool)
    mask[4:30, 6:34, 5:30] = True
    stacks = brain_slices(truth, mask)
    assert [s.shape for s in stacks] == [(26, 40, 34), (28, 36, 34), (25, 36, 40)]
    assert lpips_volume(model, truth, truth, mask) == 0.0
    noisy = truth + rng.normal(0, 0.2, truth.shape).astype(np.float32)
    outside_only = np.where(mask, truth, 1.0 - truth)  # differs from truth outside the brain only
    assert lpips_volume(model, noisy, truth, mask) > 0.0
    assert lpips_volume(model, outside_only, truth, mask) == 0.0
    small = (truth[:20, :16], noisy[:20, :16], mask[:20, :16])  # padded to AlexNet's minimum
    assert lpips_volume(model, small[0], small[0], small[2]) == 0.0
    assert lpips_volume(model, small[1], small[0], small[2]) > 0.0


def test_weights_in_another_layout_are_rejected(tmp_path):
    weights = save_random_weights(tmp_path)
    torch.save({"lin0.weight": torch.zeros(1, 64, 1, 1)}, tmp_path / "alex.pth")
    with pytest.raises(InputError, match="alex.pth: not the expected linear weights"):
        Lpips().load_weights(weights)
    (tmp_path / "broken.pth").write_text("not a checkpoint")
    with pytest.raises(InputError, match="broken.pth: not a readable torch checkpoint"):
        Lpips().load_weights(LpipsWeights(tmp_path / "broken.pth", weights.linear))


def test_missing_weights_give_a_reason_and_configured_paths_must_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(sys, "path", [p for p in sys.path if "site-packages" not in p])
    weights = find_weights()
    assert weights.alexnet is None and weights.linear is None
    assert "alexnet-owt-7be5be79.pth is not in" in weights.missing_reason
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in weights.missing_reason
    assert "lpips.linear_weights is not set" in weights.missing_reason
    with pytest.raises(InputError, match="lpips.alexnet_weights: .*nothing.pth: file not found"):
        find_weights(alexnet=tmp_path / "nothing.pth")
    with pytest.raises(InputError, match="LPIPS weights missing"):
        Lpips().load_weights(weights)


def test_weights_are_found_in_the_torch_cache_and_the_lpips_package(tmp_path, monkeypatch):
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    save_random_weights(checkpoints)
    package = tmp_path / "site" / "lpips"
    (package / "weights" / "v0.1").mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('lpips must not be imported')\n")
    (checkpoints / "alex.pth").rename(package / "weights" / "v0.1" / "alex.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    weights = find_weights()
    assert weights == LpipsWeights(checkpoints / ALEXNET_CHECKPOINT,
                                   package / "weights" / "v0.1" / "alex.pth")
    assert weights.missing_reason is None
    assert "lpips" not in sys.modules
    Lpips().load_weights(weights)


def test_their_volume_score_averages_every_slice_of_the_unmapped_images(tmp_path):
    """mcginnis2023: every slice of the three views (empty ones score 0 and dilute the mean),
    fed in [0, 1] as they are: the mean over all slices of the per-slice distances."""
    model = Lpips().load_weights(save_random_weights(tmp_path))
    rng = np.random.default_rng(1)
    truth = np.zeros((32, 34, 36), np.float32)
    truth[4:28, 5:29, 6:30] = rng.random((24, 24, 24))
    noisy = truth.copy()
    noisy[4:28, 5:29, 6:30] += rng.normal(0, 0.2, (24, 24, 24)).astype(np.float32)
    mask = truth > 0
    theirs = lpips_volume(model, noisy, truth, mask, mcginnis2023=True)
    expected = []
    for axis in range(3):
        a = torch.from_numpy(np.ascontiguousarray(np.moveaxis(noisy, axis, 0)))[:, None]
        b = torch.from_numpy(np.ascontiguousarray(np.moveaxis(truth, axis, 0)))[:, None]
        with torch.no_grad():
            expected.append(model(a, b))
    assert theirs == pytest.approx(float(torch.cat(expected).mean()), rel=1e-5)
    assert lpips_volume(model, truth, truth, mask, mcginnis2023=True) == 0.0
    assert theirs != pytest.approx(lpips_volume(model, noisy, truth, mask), rel=1e-3)
