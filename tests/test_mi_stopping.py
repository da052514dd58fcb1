"""MI early stopping: the plateau rule on constructed MI sequences, and its use by the Trainer.

The MI trajectory of a real fit is a float computation whose epoch-to-epoch jitter (bins of a
32-bin histogram crossed by a few voxels) differs between CPUs, so no test here asserts the
epoch at which a real fit plateaus. The rule is tested on sequences built by hand; the Trainer
is tested on properties that hold on any machine: it stops at the first epoch at which the rule
holds on its own recorded MI history, a tolerance far above the late jitter stops it before its
last epoch, tolerance 0 or no early stopping never stops it, and a resumed fit decides as an
uninterrupted one.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from test_inr import TINY_NETWORK, one_torch_thread, smooth_case  # noqa: F401 (autouse fixture)

from isosr.io import InputError
from isosr.methods import create_method
from isosr.methods.inr.mi_stopping import MIPlateau, predicted_mutual_information
from isosr.methods.inr.params import SplitHeadParams
from isosr.methods.inr.training import Trainer

# The tiny 30-epoch fit below, measured with seeds 0-7 (trajectories as different as another
# CPU's): the mean |delta MI| over 4 epochs is 0.05-0.15 nats in the first epochs, falls below
# 0.05 first at epochs 7-11, stays below it in 20-23 of the 27 windows and is <= 0.015 in the
# last 8. So any CPU's fit stops well before epoch 30 with 0.05, while the default 0.001 is of
# the order of the late jitter (0.001-0.015): whether it fires at all is machine-dependent.
WIDE_TOLERANCE = 0.05
CONVERGING = {**TINY_NETWORK, "epochs": 30, "early_stopping": True, "mi_rule": "plateau",
              "mi_window": 4, "mi_tolerance": WIDE_TOLERANCE}


def first_plateau(mi: list[float], rule: MIPlateau) -> int | None:
    """The first epoch (1-based) after which ``rule`` holds on the MI history so far."""
    return next((k for k in range(1, len(mi) + 1) if rule.reached(mi[:k])), None)


# --- the rule on constructed sequences --------------------------------------------------------

def test_defaults_are_the_released_codes_rule_for_paper_and_the_plateau_rule_for_fast():
    paper, fast = SplitHeadParams(), SplitHeadParams(profile="fast")
    assert (paper.early_stopping, paper.mi_rule, paper.mi_window, paper.mi_tolerance) == (
        True, "mcginnis2023", 4, 1e-4)
    assert (fast.early_stopping, fast.mi_rule, fast.mi_tolerance) == (False, "plateau", 1e-3)
    assert SplitHeadParams(mi_rule="plateau").mi_tolerance == 1e-3  # the rule's own default
    with pytest.raises(InputError, match="mi_rule: 'mcginnis' is not one of"):
        SplitHeadParams(mi_rule="mcginnis")


def test_the_released_codes_rule_on_a_halving_mi_increment():
    """MI rises by 0.4, 0.2, 0.1, ... nats. With 4 values, the buffer's mean change moves by
    (d[k-4] - d[k-1]) / 3 = 0.4 * 0.5^(k-5) * 7/24 between histories of k-1 and k values: below
    1e-4 first at k = 16. The plateau rule's mean itself, 0.4 * 0.5^(k-4) * 7/12, is below 1e-3
    first at k = 12."""
    mi = [0.0]
    for n in range(1, 30):
        mi.append(mi[-1] + 0.4 * 0.5 ** (n - 1))
    assert first_plateau(mi, MIPlateau(4, 1e-4, "mcginnis2023")) == 16
    assert first_plateau(mi, MIPlateau(4, 1e-3, "plateau")) == 12


def test_the_released_codes_rule_stops_on_a_steady_slope_the_plateau_rule_does_not():
    slope = [0.3 + 0.01 * n for n in range(20)]  # 0.01 nats per epoch, for ever
    assert first_plateau(slope, MIPlateau(4, 1e-4, "mcginnis2023")) == 5  # window + 1 values
    assert first_plateau(slope, MIPlateau(4, 1e-3, "plateau")) is None
    assert not MIPlateau(4, 1.0, "mcginnis2023").reached(slope[:4])  # needs window + 1 values


def test_plateau_reached_at_a_known_epoch():
    """MI moves by 0.01 nats per epoch up to epoch 10, then not at all: the last 3 changes of a
    4-epoch window are all zero first after epoch 13 (one 0.01 change averages 0.0033)."""
    mi = [0.5 + 0.005 * (-1) ** n for n in range(10)] + [0.5 + 0.005 * (-1) ** 9] * 10
    assert first_plateau(mi, MIPlateau(4, 1e-3)) == 13
    # with a tolerance above one change in three (0.0033) it is reached two epochs earlier
    assert first_plateau(mi, MIPlateau(4, 0.004)) == 12
    # and once reached it stays reached while MI stays flat
    assert all(MIPlateau(4, 1e-3).reached(mi[:k]) for k in range(13, len(mi) + 1))


def test_an_mi_oscillating_above_the_tolerance_never_plateaus():
    oscillating = [0.8 + 0.01 * (-1) ** n for n in range(30)]  # |delta| = 0.02 every epoch
    for tolerance in (1e-3, 0.01, 0.019):
        assert first_plateau(oscillating, MIPlateau(4, tolerance)) is None
    assert first_plateau(oscillating, MIPlateau(4, 0.021)) == 4
    # absolute changes: an up-and-down MI whose mean change is 0 is no plateau
    assert not MIPlateau(3, 0.1).reached([1.0, 0.5, 1.0])


def test_mean_absolute_change_over_the_window_exactly():
    """Dyadic values: the mean is exact, so the strict comparison is tested at its boundary."""
    ramp = [0.0, 0.25, 0.5, 0.75]  # three changes of 0.25
    assert not MIPlateau(4, 0.25).reached(ramp)  # mean 0.25 is not below 0.25
    assert MIPlateau(4, math.nextafter(0.25, 1.0)).reached(ramp)
    mixed = [1.0, 1.5, 1.0, 1.0]  # changes 0.5, 0.5, 0: mean 1/3
    assert not MIPlateau(4, 1 / 3).reached(mixed) and MIPlateau(4, 0.334).reached(mixed)


def test_only_the_last_window_of_epochs_counts():
    """A window of w epochs holds w - 1 changes; a jump just before it does not count."""
    jump_then_flat = [0.0, 1.0, 1.0, 1.0, 1.0]
    assert MIPlateau(4, 1e-9).reached(jump_then_flat)  # the last 4 values are flat
    assert not MIPlateau(5, 0.2).reached(jump_then_flat)  # a 5-epoch window sees the jump
    assert not MIPlateau(4, 0.3).reached(jump_then_flat[:4])  # changes 1, 0, 0: mean 1/3
    assert MIPlateau(4, 0.34).reached(jump_then_flat[:4])
    assert MIPlateau(2, 1e-9).reached([0.0, 5.0, 3.0, 3.0])  # window 2: the last change only


def test_a_history_shorter_than_the_window_never_plateaus():
    flat = [0.7] * 10
    rule = MIPlateau(4, 10.0)  # any MI (<= ln 32 nats) changes by less than 10
    assert [rule.reached(flat[:k]) for k in range(7)] == [False] * 4 + [True] * 3
    assert not MIPlateau(11, 10.0).reached(flat)
    assert not MIPlateau(4, 10.0).reached([])


def test_tolerance_zero_never_stops_even_on_a_constant_mi():
    assert first_plateau([0.7] * 20, MIPlateau(4, 0.0)) is None
    assert first_plateau([0.7] * 20, MIPlateau(4, 1e-300)) == 4


def test_predicted_mutual_information_of_known_columns():
    """Two equiprobable bins: MI ln 2 for identical columns, exactly 0 for independent ones;
    the mean over all column pairs for more than two contrasts; None for one contrast."""
    a = np.repeat([0.1, 0.9], 50)  # bins 3 and 28 of 32, half the voxels each
    independent = np.tile([0.1, 0.9], 50)
    assert predicted_mutual_information(np.stack([a, a], 1)) == pytest.approx(math.log(2),
                                                                               rel=1e-12)
    assert predicted_mutual_information(np.stack([a, independent], 1)) == 0.0
    three = predicted_mutual_information(np.stack([a, a, independent], 1))
    assert three == pytest.approx(math.log(2) / 3, rel=1e-12)  # pairs: ln 2, 0, 0
    assert predicted_mutual_information(a[:, None]) is None


# --- the rule inside the Trainer ----------------------------------------------------------------

def fit_history(params: dict) -> dict:
    lr, grid = smooth_case()
    return create_method("inr-splithead", params, seed=0).fit_predict(lr, grid).history


def test_a_converging_fit_stops_at_the_first_epoch_its_own_mi_history_plateaus():
    history = fit_history(CONVERGING)
    mi = history["mi"]
    assert all(isinstance(value, float) for value in mi)  # measured after every epoch
    stop = history["stopping_epoch"]
    # the decision is the rule applied to the fit's own MI: true on any machine
    assert stop == first_plateau(mi, MIPlateau(4, WIDE_TOLERANCE))
    # a tolerance far above the late jitter stops it, and the fit ends there
    assert stop is not None and 4 <= stop < CONVERGING["epochs"], np.abs(np.diff(mi))
    assert history["epochs"] == len(mi) == len(history["loss"]) == stop
    assert history["max_epochs"] == CONVERGING["epochs"]


def test_tolerance_zero_or_no_early_stopping_runs_every_epoch():
    never = fit_history({**CONVERGING, "epochs": 12, "mi_tolerance": 0.0})
    assert never["stopping_epoch"] is None and never["epochs"] == len(never["mi"]) == 12
    assert all(isinstance(value, float) for value in never["mi"])
    off = fit_history({**CONVERGING, "epochs": 12, "early_stopping": False})
    assert off["stopping_epoch"] is None and off["epochs"] == 12
    assert off["mi"] == [None] * 12  # no MI pass runs without early stopping


def converging_trainer(checkpoint: Path | None) -> Trainer:
    lr, grid = smooth_case()
    method = create_method("inr-splithead", CONVERGING, seed=0)
    return method.prepare(lr, grid, torch.device("cpu"), 0, checkpoint).trainer


def interrupted_after(epoch: int, checkpoint: Path) -> None:
    """Train until ``epoch`` is checkpointed, then stop as a killed process would."""
    for record in converging_trainer(checkpoint).epochs():
        if record.epoch == epoch:
            break


def test_a_resumed_fit_stops_where_an_uninterrupted_one_does(tmp_path):
    uninterrupted = converging_trainer(None)
    uninterrupted.run()
    stop = uninterrupted.history()["stopping_epoch"]
    assert stop is not None and stop >= 4
    # killed one epoch before the stop (the plateau window spans the restart), and killed
    # after the stopping epoch was checkpointed (the resumed fit trains no further epoch)
    for killed_after in (stop - 1, stop):
        checkpoint = tmp_path / f"after-{killed_after}"
        interrupted_after(killed_after, checkpoint)
        resumed = converging_trainer(checkpoint)
        resumed.run()
        assert resumed.resumed_at == killed_after
        assert resumed.history()["stopping_epoch"] == stop
        assert [r.mi for r in resumed.records] == [r.mi for r in uninterrupted.records]
        assert [r.loss for r in resumed.records] == [r.loss for r in uninterrupted.records]
