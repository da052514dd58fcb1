"""Blind settings of the methods that can be told the degradation (LRTV, ECLARE, the INRs'
slice-profile forward model): blind they assume a Gaussian slice profile at the nominal
thickness, whatever the scenario simulated, and the tables label them so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from test_inr import smooth_case
from test_lrtv import SHAPE, head_affine

from isosr.io import Grid, InputError, LRImage
from isosr.methods import create_method, method_spec
from isosr.methods.degradation import as_assumed
from isosr.methods.eclare.method import eclare_command
from isosr.methods.eclare.params import ECLAREParams
from isosr.methods.lrtv.method import ThroughPlaneOperator
from isosr.simulate import Acquisition, simulate_lr


def test_blind_keeps_view_and_thickness_and_assumes_the_gaussian_profile():
    image = LRImage(np.zeros((2, 2, 2), np.float32), np.eye(4), "coronal", 5.0, "kspace", 0.1)
    assert as_assumed(image, "informed") is image
    blind = as_assumed(image, "blind")
    assert (blind.view, blind.thickness, blind.noise, blind.model) == ("coronal", 5.0, 0.1,
                                                                      "slice-profile")


def test_blind_lrtv_uses_a_gaussian_at_the_nominal_thickness_not_the_scenarios_operator():
    affine = head_affine(False)
    hr = 1.0 + np.random.default_rng(0).random(SHAPE).astype(np.float32)
    lr, lr_affine = simulate_lr(hr, affine, Acquisition("axial", 4.0, "spline"))
    image = LRImage(lr, lr_affine, "axial", 4.0, "spline")
    grid = Grid(SHAPE, affine)
    informed = ThroughPlaneOperator(as_assumed(image, "informed"), grid).forward(
        torch.from_numpy(hr)).numpy()
    blind = ThroughPlaneOperator(as_assumed(image, "blind"), grid).forward(
        torch.from_numpy(hr)).numpy()
    gaussian, _ = simulate_lr(hr, affine, Acquisition("axial", 4.0, "slice-profile"))
    np.testing.assert_allclose(informed, lr, atol=1e-5)  # the scenario's own operator
    np.testing.assert_allclose(blind, gaussian, atol=1e-5)  # the assumed one
    assert np.abs(blind - informed).max() > 0.05


def test_blind_eclare_passes_no_thickness_or_profile_so_eclare_estimates_them():
    informed = eclare_command(ECLAREParams(), "run-eclare", Path("lr.nii.gz"), Path("out"), 4.0,
                              Path("profile.npy"), -1)
    blind = eclare_command(ECLAREParams(degradation="blind"), "run-eclare", Path("lr.nii.gz"),
                           Path("out"), 4.0, None, -1)
    assert informed[informed.index("--relative-slice-profile-fpath") + 1] == "profile.npy"
    assert informed[informed.index("--relative-slice-thickness") + 1] == "4"
    # ECLARE runs ESPRESO only when no thickness is given
    assert "--relative-slice-profile-fpath" not in blind
    assert "--relative-slice-thickness" not in blind


def test_a_blind_inr_fits_a_kspace_scan_an_informed_one_refuses():
    lr, grid = smooth_case()
    kspace = {c: LRImage(i.data, i.affine, i.view, i.thickness, "kspace") for c, i in lr.items()}
    params = {"profile": "fast", "epochs": 1, "hash_log2_table_size": 10, "device": "cpu"}
    with pytest.raises(InputError, match="cannot follow T1w's acquisition model 'kspace'"):
        create_method("inr-splithead", params).fit_predict(kspace, grid)
    result = create_method("inr-splithead", {**params, "degradation": "blind"}).fit_predict(
        kspace, grid)
    assert all(np.isfinite(image).all() for image in result.images.values())


@pytest.mark.parametrize("method, params, knowledge", [
    ("lrtv", {}, "informed"), ("lrtv", {"degradation": "blind"}, "blind"),
    ("eclare", {}, "informed"), ("eclare", {"degradation": "blind"}, "blind"),
    ("inr-splithead", {"profile": "fast"}, "informed"),
    ("inr-splithead", {"profile": "fast", "degradation": "blind"}, "blind"),
    ("inr-splithead", {}, "blind"), ("cubic", {}, "blind"), ("arssr", {}, "informed")])
def test_every_row_is_labelled_by_what_its_method_was_told(method, params, knowledge):
    assert method_spec(method).degradation_knowledge(params) == knowledge


def test_degradation_takes_only_informed_or_blind():
    with pytest.raises(InputError, match="degradation: 'exact' is not one of"):
        create_method("lrtv", {"degradation": "exact"})
