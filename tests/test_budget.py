"""Equal-compute mode: config ``budget_seconds`` gives every learned method the same training
seconds; each stops at the first epoch end that reaches its (share of the) budget."""

from __future__ import annotations

import copy
import time
from types import SimpleNamespace

import pytest
import torch
import yaml
from conftest import REPO
from test_arssr import TINY, cohort, pair
from test_inr import TINY_NETWORK, smooth_case

from isosr.config import Plan
from isosr.io import InputError
from isosr.methods import create_method, method_names, method_spec
from isosr.methods.base import TrainingContext
from isosr.methods.cohort_training import EpochTrainer

TINY_BUDGET = 1e-9  # reached by any first epoch


def test_an_inr_fit_stops_at_the_first_epoch_end_that_reaches_its_budget():
    lr, grid = smooth_case()
    params = {**TINY_NETWORK, "epochs": 2, "early_stopping": False}
    unbounded = create_method("inr-splithead", params).fit_predict(lr, grid).history
    assert unbounded["epochs"] == 2 and unbounded["stopped_by_budget"] is False
    bounded = create_method("inr-splithead", {**params, "budget_seconds": TINY_BUDGET}
                            ).fit_predict(lr, grid).history
    assert bounded["epochs"] == 1 and bounded["stopped_by_budget"] is True
    assert bounded["budget_seconds"] == TINY_BUDGET


def test_an_inr_fit_trains_past_its_epochs_until_the_budget_is_spent():
    """Equal compute: a budget of 20 of its epochs' seconds runs more epochs than the 2
    configured (unless epochs became 10x slower), ending at the first that reaches it."""
    lr, grid = smooth_case()
    params = {**TINY_NETWORK, "epochs": 2, "early_stopping": False}
    unbounded = create_method("inr-splithead", params).fit_predict(lr, grid).history
    budget = 10 * sum(unbounded["epoch_seconds"])
    history = create_method("inr-splithead", {**params, "budget_seconds": budget}
                            ).fit_predict(lr, grid).history
    spent = history["epoch_seconds"]  # training seconds, without the (empty) MI passes'
    assert history["epochs"] > 2 and history["stopped_by_budget"] is True
    assert sum(spent) + history["mi_seconds"] >= budget > sum(spent[:-1])


def test_a_budget_maps_the_inr_cosine_annealing_onto_its_seconds():
    """After a fraction f of the budget each group's rate is base x (1 + cos(pi f)) / 2."""
    lr, grid = smooth_case()
    fit = create_method("inr-splithead", {**TINY_NETWORK, "budget_seconds": 100.0}
                        ).prepare(lr, grid, torch.device("cpu"), 0, None, "t")
    trainer = fit.trainer
    base = trainer.scheduler.base_lrs
    rates = {}
    for spent in (0.0, 50.0, 100.0, 150.0):
        trainer.records = [SimpleNamespace(seconds=spent, mi_seconds=0.0)]
        rates[spent] = trainer.budget_learning_rates()
    assert rates[0.0] == pytest.approx(base)
    assert rates[50.0] == pytest.approx([b / 2 for b in base])
    assert rates[100.0] == pytest.approx([0.0] * len(base), abs=1e-12)
    assert rates[150.0] == rates[100.0]


def test_one_network_per_contrast_splits_the_budget_evenly():
    lr, grid = smooth_case()
    history = create_method("inr-single", {**TINY_NETWORK, "budget_seconds": 0.5}
                            ).fit_predict(lr, grid).history
    assert {c: h["budget_seconds"] for c, h in history["networks"].items()} == {"T1w": 0.25,
                                                                                  "T2w": 0.25}


def test_a_cohort_training_stops_at_its_budget(tmp_path):
    torch.set_num_threads(1)
    pairs = [pair(*subject) for subject in cohort()[:2]]
    model = create_method("arssr", {**TINY, "epochs": 5, "steps_per_epoch": 2,
                                    "budget_seconds": TINY_BUDGET})
    result = model.train(pairs, TrainingContext(tmp_path / "model.pt"))
    history = result.history["per_contrast"]["T1w"]
    assert history["epochs"] == 1 and history["stopped_by_budget"] is True
    network = torch.nn.Linear(1, 1)
    trainer = EpochTrainer(network, learning_rate=1e-3, halving_epochs=5, epochs=3, steps=1,
                           seed=0, device=torch.device("cpu"), checkpoint_dir=None,
                           fingerprint="", label="t", budget_seconds=None)
    unbounded = trainer.run(lambda generator: network(torch.ones(1, 1)).square().sum())
    assert unbounded["epochs"] == 3 and unbounded["stopped_by_budget"] is False


def slow_step(network: torch.nn.Module, seconds: float):
    """A training step that takes at least ``seconds`` of wall time."""
    def step(generator: torch.Generator) -> torch.Tensor:
        time.sleep(seconds)
        return network(torch.ones(1, 1)).square().sum()
    return step


def test_a_budgeted_training_runs_past_its_epochs_until_the_budget_is_spent():
    """Equal compute: the budget, not ``epochs``, ends the training: 2 configured epochs of
    >= 20 ms, a 200 ms budget: at most 10 epochs, ended by the first that reaches it."""
    network = torch.nn.Linear(1, 1)
    trainer = EpochTrainer(network, learning_rate=1e-3, halving_epochs=1, epochs=2, steps=1,
                           seed=0, device=torch.device("cpu"), checkpoint_dir=None,
                           fingerprint="", label="t", budget_seconds=0.2)
    history = trainer.run(slow_step(network, 0.02))
    spent = history["epoch_seconds"]
    assert 2 < history["epochs"] <= 10 and history["stopped_by_budget"] is True
    assert sum(spent) >= 0.2 > sum(spent[:-1])


def test_a_budget_maps_the_learning_rate_schedule_onto_its_seconds():
    """After a fraction f of the budget the rate is the schedule's at epoch f x epochs: 10
    epochs halving every 4, so 0-39 % of the budget at 1e-3, 40-79 % at 5e-4, 80 % on 2.5e-4."""
    trainer = EpochTrainer(torch.nn.Linear(1, 1), learning_rate=1e-3, halving_epochs=4,
                           epochs=10, steps=1, seed=0, device=torch.device("cpu"),
                           checkpoint_dir=None, fingerprint="", label="t", budget_seconds=100.0)
    rates = {}
    for spent in (0.0, 39.0, 40.0, 79.0, 80.0, 99.0):
        trainer.epoch_seconds = [spent]
        rates[spent] = trainer.budget_learning_rate()
    assert rates == pytest.approx({0.0: 1e-3, 39.0: 1e-3, 40.0: 5e-4, 79.0: 5e-4, 80.0: 2.5e-4,
                                   99.0: 2.5e-4})


def test_the_config_key_gives_every_learned_method_the_same_budget():
    config = yaml.safe_load((REPO / "configs" / "cohort.yaml").read_text())
    config["methods"] = {name: {} for name in method_names()}
    config["reference_method"] = "cubic"
    budgeted = copy.deepcopy(config) | {"budget_seconds": 120.0}
    plan = Plan(budgeted)
    learned = {m for m in method_names() if plan.method_params(m).get("budget_seconds") == 120.0}
    assert learned == {"inr-single", "inr-vanilla", "inr-splithead", "arssr", "sa-inr",
                       "dual-arbnet"}
    assert all("budget_seconds" not in Plan(config).method_params(m) for m in method_names())


@pytest.mark.parametrize("value", [0, -1.0, float("inf"), "ten"])
def test_a_budget_must_be_a_positive_finite_number(value):
    with pytest.raises(InputError, match="budget_seconds"):
        method_spec("inr-splithead").make_params({"budget_seconds": value})
