"""The training loop every cohort method shares: epochs of optimiser steps, each epoch
checkpointed (weights, optimiser, scheduler, sampling generator, loss curve) and resumed after
a kill, with progress (epoch, loss, ETA) in the log. A method supplies only its step: the loss,
or named loss terms (minimised: their sum; each term's curve is recorded too). Methods with one
network per contrast describe each contrast's training (``ContrastJob``) and
``train_each_contrast`` runs them."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from isosr.io import InputError, LRImage
from isosr.methods.base import Method, TrainingContext, TrainingPair, TrainResult
from isosr.methods.inr.checkpoint import (
    fingerprint,
    load_checkpoint,
    optimisation_state,
    restore_optimisation_state,
    save_checkpoint,
)
from isosr.methods.inr.training import deterministic

Loss = torch.Tensor | Mapping[str, torch.Tensor]  # a step's loss, or its named terms


def cohort_fingerprint(description: dict[str, Any], pairs: list[TrainingPair]) -> str:
    """SHA-256 over the method description and every training subject's LR inputs, HR
    targets and grid: a checkpoint of another training is never resumed."""
    digest = hashlib.sha256()
    for pair in pairs:
        digest.update(fingerprint({**description, "subject": pair.subject}, pair.lr, pair.grid)
                      .encode())
        for contrast in sorted(pair.hr):
            digest.update(pair.hr[contrast].tobytes())
    return digest.hexdigest()


class EpochTrainer:
    """Runs ``epochs`` epochs of ``steps`` calls to ``step(generator) -> loss`` (or
    ``-> {term: loss}``, minimising the sum).

    The learning rate halves every ``halving_epochs`` epochs (ArSSR, Dual-ArbNet), at most
    ``halvings`` times if set (SA-INR's released schedule: 4 times, every 200 epochs). With
    ``budget_seconds`` (equal-compute mode) it trains epochs until they have spent the budget,
    whatever ``epochs`` says, and the schedule is mapped onto the budget: after a fraction f of
    it, the learning rate is the one the schedule has at epoch f x ``epochs``. Every epoch ends
    with a checkpoint in ``checkpoint_dir`` (when set) holding everything the next epoch depends
    on; a checkpoint with the same ``fingerprint`` found there is resumed.
    """

    def __init__(self, network: nn.Module, *, learning_rate: float, halving_epochs: int,
                 epochs: int, steps: int, seed: int, device: torch.device,
                 checkpoint_dir: Path | None, fingerprint: str, label: str,
                 budget_seconds: float | None = None, halvings: int | None = None) -> None:
        self.network = network
        self.learning_rate, self.halving_epochs = learning_rate, halving_epochs
        self.halvings = halvings
        self.optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
        self.scheduler: torch.optim.lr_scheduler.LRScheduler = (
            torch.optim.lr_scheduler.StepLR(self.optimizer, halving_epochs, 0.5)
            if halvings is None else torch.optim.lr_scheduler.MultiStepLR(
                self.optimizer, [halving_epochs * (k + 1) for k in range(halvings)], 0.5))
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.epochs, self.steps, self.device = epochs, steps, device
        self.checkpoint_dir, self.fingerprint, self.label = checkpoint_dir, fingerprint, label
        self.budget_seconds = budget_seconds
        self.losses: list[float] = []
        self.terms: dict[str, list[float]] = {}
        self.epoch_seconds: list[float] = []
        self.resumed_at = 0

    @property
    def over_budget(self) -> bool:
        """Whether the epochs so far (resumed ones included) spent ``budget_seconds``."""
        return self.budget_seconds is not None and sum(self.epoch_seconds) >= self.budget_seconds

    @property
    def finished(self) -> bool:
        """Its budget spent (equal-compute mode), otherwise its epochs run."""
        if self.budget_seconds is not None:
            return self.over_budget
        return len(self.losses) >= self.epochs

    def budget_learning_rate(self) -> float:
        """The schedule's learning rate at the budget's spent fraction (equal-compute mode)."""
        assert self.budget_seconds is not None
        epoch = sum(self.epoch_seconds) / self.budget_seconds * self.epochs
        halvings = math.floor(epoch / self.halving_epochs)
        if self.halvings is not None:
            halvings = min(halvings, self.halvings)
        return self.learning_rate * 0.5 ** halvings

    @property
    def epoch(self) -> int:
        """Epochs completed (the current one's index while it runs)."""
        return len(self.losses)

    def run(self, step: Callable[[torch.Generator], Loss]) -> dict[str, Any]:
        """Train to the last epoch (resuming if possible); the history for train.json."""
        self._resume()
        with deterministic(self.device):
            while not self.finished:
                if self.budget_seconds is not None:
                    for group in self.optimizer.param_groups:
                        group["lr"] = self.budget_learning_rate()
                start = time.perf_counter()
                total = torch.zeros((), device=self.device)
                sums: dict[str, torch.Tensor] = {}
                for _ in range(self.steps):
                    result = step(self.generator)
                    terms = result if isinstance(result, Mapping) else {}
                    loss = sum(terms.values()) if terms else result
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    self.optimizer.step()
                    total += loss.detach()
                    for name, term in terms.items():
                        sums[name] = sums.get(name, 0.0) + term.detach()
                if self.budget_seconds is None:
                    self.scheduler.step()
                self.losses.append(float(total) / self.steps)
                for name, term_sum in sums.items():
                    self.terms.setdefault(name, []).append(float(term_sum) / self.steps)
                self.epoch_seconds.append(time.perf_counter() - start)
                self._save()
                self._log_epoch()
        history = {"epochs": len(self.losses), "steps_per_epoch": self.steps,
                   "budget_seconds": self.budget_seconds,
                   "stopped_by_budget": self.budget_seconds is not None,
                   "resumed_after_epoch": self.resumed_at, "loss": self.losses,
                   "epoch_seconds": self.epoch_seconds}
        return {**history, "loss_terms": self.terms} if self.terms else history

    def _log_epoch(self) -> None:
        done, spent = len(self.losses), sum(self.epoch_seconds)
        if self.budget_seconds is not None:
            logging.info("%s epoch %d: loss %.5g, %.1f s, %.0f of %.0f s spent, lr %.3g",
                         self.label, done, self.losses[-1], self.epoch_seconds[-1], spent,
                         self.budget_seconds, self.optimizer.param_groups[0]["lr"])
            return
        recent = self.epoch_seconds[self.resumed_at:]
        eta = (self.epochs - done) * sum(recent) / len(recent)
        logging.info("%s epoch %d/%d: loss %.5g, %.1f s, ETA %.0f s", self.label, done,
                     self.epochs, self.losses[-1], self.epoch_seconds[-1], eta)

    def _state(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint,
                **optimisation_state(self.network, self.optimizer, self.scheduler,
                                     self.generator),
                "losses": self.losses, "terms": self.terms, "epoch_seconds": self.epoch_seconds}

    def _save(self) -> None:
        if self.checkpoint_dir is not None:
            save_checkpoint(self.checkpoint_dir, self._state())

    def _resume(self) -> None:
        state = load_checkpoint(self.checkpoint_dir, self.fingerprint)
        if state is None:
            return
        restore_optimisation_state(state, self.network, self.optimizer, self.scheduler,
                                   self.generator)
        self.losses, self.epoch_seconds = state["losses"], state["epoch_seconds"]
        self.terms = state["terms"]
        self.resumed_at = len(self.losses)
        logging.info("%s: resumed from %s after epoch %d", self.label, self.checkpoint_dir,
                     self.resumed_at)


@dataclass(frozen=True)
class ContrastJob:
    """One contrast's training: its network, optimiser steps per epoch, the loss of one step
    (given the sampling generator and the trainer, for terms that change with the epoch) and
    the label of its progress lines."""

    network: nn.Module
    steps: int
    loss: Callable[[torch.Generator, EpochTrainer], Loss]
    label: str


@dataclass(frozen=True)
class PerContrastTraining:
    """The networks' final weights (on the CPU) and training histories by contrast, and the
    parameters of one network."""

    states: dict[str, dict[str, torch.Tensor]]
    history: dict[str, dict[str, Any]]
    parameters: int


def train_each_contrast(method: Method, contrasts: list[str],
                        job_of: Callable[[int, str], ContrastJob], *, context: TrainingContext,
                        device: torch.device, fingerprint: str, learning_rate: float,
                        halving_epochs: int, epochs: int, halvings: int | None = None
                        ) -> PerContrastTraining:
    """Train one network per contrast, the i-th with seed ``method.seed + i`` and its
    checkpoints in ``context.checkpoint_dir / contrast``; the method's ``budget_seconds`` (if
    set) is split evenly over the networks."""
    budget = method.params.budget_seconds
    states, history, parameters = {}, {}, 0
    for index, contrast in enumerate(contrasts):
        job = job_of(index, contrast)
        checkpoints = (None if context.checkpoint_dir is None
                       else context.checkpoint_dir / contrast)
        trainer = EpochTrainer(job.network, learning_rate=learning_rate,
                               halving_epochs=halving_epochs, halvings=halvings,
                               epochs=epochs, steps=job.steps,
                               seed=method.seed + index, device=device,
                               checkpoint_dir=checkpoints, fingerprint=fingerprint,
                               label=job.label,
                               budget_seconds=None if budget is None else budget / len(contrasts))
        history[contrast] = trainer.run(lambda generator, job=job, trainer=trainer:
                                        job.loss(generator, trainer))
        states[contrast] = {k: v.cpu() for k, v in job.network.state_dict().items()}
        parameters = sum(p.numel() for p in job.network.parameters())
    return PerContrastTraining(states, history, parameters)


def acquisition_record(image: LRImage) -> dict[str, Any]:
    """How an LR scan was acquired (what a model is trained for): view, thickness, model."""
    return {"view": image.view, "thickness": float(image.thickness), "model": image.model}


def save_model(path: Path, method: Method, acquired: Mapping[str, LRImage],
               states: dict[str, dict[str, torch.Tensor]], **extra: Any) -> None:
    """A cohort method's model file: one network state per contrast, with the method's name and
    hyper-parameters (a model is only ever used with the settings it was trained with) and the
    acquisition of each contrast it was trained for (``acquired``: a training subject's LR
    scans)."""
    torch.save({"method": method.name, "params": asdict(method.params),
                "contrasts": sorted(acquired),
                "acquisitions": {c: acquisition_record(i) for c, i in acquired.items()},
                "states": states, **extra}, path)


def load_model(path: Path, method: Method, lr: Mapping[str, LRImage]) -> dict[str, Any]:
    """The model file ``save_model`` wrote, checked against ``method``'s hyper-parameters and
    the acquisition of every scan to predict from (view, slice thickness within 1 %, model):
    one line naming the file and the scan when it does not fit."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if saved.get("params") != asdict(method.params):
        raise InputError(f"{path}: trained with other hyper-parameters than "
                         f"methods.{method.name} now sets")
    missing = sorted(set(lr) - set(saved["contrasts"]))
    if missing:
        raise InputError(f"{path}: has no model for contrast(s) {missing}")
    trained = saved.get("acquisitions")
    if trained is None:
        raise InputError(f"{path}: records no training acquisition (written by an older "
                         "isosr); train it again")
    for contrast, image in lr.items():
        want, given = trained[contrast], acquisition_record(image)
        if (want["view"] != given["view"] or want["model"] != given["model"]
                or not math.isclose(want["thickness"], given["thickness"], rel_tol=0.01)):
            raise InputError(
                f"{path}: trained for {contrast} {want['view']} {want['thickness']:g} mm "
                f"({want['model']}), but the {contrast} scan is {given['view']} "
                f"{given['thickness']:g} mm ({given['model']}); use a model trained for this "
                "acquisition")
    return saved


def training_result(device: torch.device, epochs: int, trained: PerContrastTraining,
                    **extra: Any) -> TrainResult:
    """train.json's history of one network per contrast: the loss curves side by side, the
    rest of each network's history per contrast."""
    history = trained.history
    return TrainResult(str(device), {
        "epochs": epochs, "parameters_per_contrast": trained.parameters, **extra,
        "loss": {c: h["loss"] for c, h in history.items()},
        "per_contrast": {c: {k: v for k, v in h.items() if k != "loss"}
                         for c, h in history.items()}})
