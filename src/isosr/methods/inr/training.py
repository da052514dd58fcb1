"""The one training loop of every INR method, and the batched predictor.

All coordinates and targets live on the training device; each epoch draws a permutation there
from a seeded ``torch.Generator`` and slices batches from it, so no DataLoader, worker process or
host-to-device copy runs per batch (the reference code spends most of its time there). The loss
is sum_c w_c * MSE_c, where MSE_c averages over the batch's samples of contrast c and is computed
on network output c only: each contrast supervises only its own observed voxels, while every
output predicts everywhere. A batch's sample indices are sorted, so its samples come grouped by
contrast (the set is contrast-major) and each head runs only on its own contrast's points.
With the slice-profile forward model a voxel's prediction is the mean of the network over points
drawn from its profile (``forward_model``). Adam with cosine annealing
over the configured epochs, as in the paper (in the equal-compute mode, ``budget_seconds``,
epochs run until the budget is spent and the annealing follows its seconds); a hash grid's
table has Instant-NGP's Adam settings.
The MI of the predicted contrasts is computed after an epoch only when early stopping uses it,
and its time is not counted as training time.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from isosr.methods.inr.checkpoint import (
    load_checkpoint,
    optimisation_state,
    restore_optimisation_state,
    save_checkpoint,
)
from isosr.methods.inr.encoding import HashGridEncoding
from isosr.methods.inr.mi_stopping import MIPlateau, predicted_mutual_information
from isosr.methods.inr.model import MultiOutputINR
from isosr.methods.inr.params import INRParams
from isosr.methods.inr.samples import TrainingSet

PREDICTION_CHUNK = 1 << 13  # 1-16 k points run ~1.7x faster per point than 64 k on one core
GRID_ADAM = {"betas": (0.9, 0.99), "eps": 1e-15}  # Instant-NGP, for the hash tables


@contextmanager
def deterministic(device: torch.device) -> Iterator[None]:
    """Deterministic kernels while the block runs (bit-for-bit repeatable on the CPU)."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=previous_warn_only)


def predict(network: nn.Module, coordinates: torch.Tensor) -> torch.Tensor:
    """Network outputs (M, C) for (M, 3) coordinates, in chunks, without autograd."""
    network.eval()
    with torch.inference_mode():
        outputs = [network(chunk) for chunk in coordinates.split(PREDICTION_CHUNK)]
    network.train()
    return torch.cat(outputs)


def optimizer_for(network: nn.Module, params: INRParams) -> torch.optim.Adam:
    """Adam; hash-grid tables get ``grid_learning_rate`` and Instant-NGP's betas and epsilon."""
    tables = {id(p) for m in network.modules() if isinstance(m, HashGridEncoding)
              for p in m.parameters()}
    groups = [{"params": [p for p in network.parameters() if id(p) not in tables]}]
    if tables:
        groups.append({"params": [p for p in network.parameters() if id(p) in tables],
                       "lr": params.grid_learning_rate, **GRID_ADAM})
    return torch.optim.Adam(groups, lr=params.learning_rate, fused=True)


@dataclass
class EpochRecord:
    """What one epoch did: mean batch loss, per-contrast MSE, MI of the predictions (None when
    not computed), training seconds and the seconds of the MI pass."""

    epoch: int
    loss: float
    mse: list[float]
    mi: float | None
    seconds: float
    mi_seconds: float = 0.0


class Trainer:
    """Trains ``network`` on ``samples``; resumable from per-epoch checkpoints in ``checkpoint``.

    ``mi_coordinates`` are the HR grid points inside the brain mask on which the MI of the
    predicted contrasts is measured after every epoch for early stopping (None: not measured).
    """

    def __init__(self, network: MultiOutputINR, samples: TrainingSet,
                 mi_coordinates: torch.Tensor | None,
                 params: INRParams, seed: int, checkpoint: Path | None = None,
                 fingerprint: str = "", description: str = "INR",
                 budget_seconds: float | None = None) -> None:
        self.network = network
        self.samples = samples
        self.mi_coordinates = mi_coordinates
        self.params = params
        self.checkpoint = checkpoint
        self.fingerprint = fingerprint
        self.description = description
        self.budget_seconds = budget_seconds
        self.device = samples.targets.device
        self.optimizer = optimizer_for(network, params)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer,
                                                                    T_max=params.epochs)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.weights = torch.tensor([params.loss_weights.get(c, 1.0) for c in samples.contrasts],
                                    dtype=torch.float32, device=self.device)
        self.plateau = MIPlateau(params.mi_window, params.mi_tolerance, params.mi_rule)
        self.records: list[EpochRecord] = []
        self.stopped = False
        self.resumed_at = 0

    @property
    def spent_seconds(self) -> float:
        """Seconds of every epoch so far (training and MI pass; resumed ones included)."""
        return sum(r.seconds + r.mi_seconds for r in self.records)

    @property
    def over_budget(self) -> bool:
        return self.budget_seconds is not None and self.spent_seconds >= self.budget_seconds

    @property
    def finished(self) -> bool:
        """Stopped by the MI rule, or its budget spent (equal-compute mode), else its epochs
        run."""
        if self.budget_seconds is not None:
            return self.stopped or self.over_budget
        return self.stopped or len(self.records) >= self.params.epochs

    def budget_learning_rates(self) -> list[float]:
        """Equal-compute mode: the cosine annealing mapped onto the budget, each group's base
        rate x (1 + cos(pi f)) / 2 after a fraction f of the budget's seconds."""
        assert self.budget_seconds is not None
        fraction = min(self.spent_seconds / self.budget_seconds, 1.0)
        return [base * 0.5 * (1.0 + math.cos(math.pi * fraction))
                for base in self.scheduler.base_lrs]

    def run(self) -> list[EpochRecord]:
        """Train to the end (resuming if a checkpoint exists); the records of all epochs."""
        for _ in self.epochs():
            pass
        return self.records

    def epochs(self) -> Iterator[EpochRecord]:
        """Train epoch by epoch; each epoch is checkpointed before it is yielded."""
        self._resume()
        total = None if self.budget_seconds is not None else self.params.epochs * len(self.samples)
        with deterministic(self.device), logging_redirect_tqdm(), tqdm(
                total=total, initial=len(self.records) * len(self.samples), unit="coord",
                unit_scale=True, desc=self.description, mininterval=2.0, smoothing=0.1) as bar:
            while not self.finished:
                record = self._train_epoch(bar)
                self.records.append(record)
                self.stopped = (self.params.early_stopping and record.mi is not None
                                and self.plateau.reached(self.mi_history()))
                mi = "n/a" if record.mi is None else f"{record.mi:.4f}"
                bar.set_postfix(epoch=record.epoch, loss=f"{record.loss:.3g}", MI=mi)
                logging.info("%s epoch %d/%d: loss %.5g, MI %s, %.1f s%s", self.description,
                             record.epoch, self.params.epochs, record.loss, mi, record.seconds,
                             " (MI plateau: stop)" if self.stopped else "")
                self._save()
                yield record

    def mi_history(self) -> list[float]:
        return [r.mi for r in self.records if r.mi is not None]

    def _train_epoch(self, bar: tqdm) -> EpochRecord:
        if self.budget_seconds is not None:
            for group, rate in zip(self.optimizer.param_groups, self.budget_learning_rates(),
                                   strict=True):
                group["lr"] = rate
        start = time.perf_counter()
        count = len(self.samples)
        contrasts = len(self.samples.contrasts)
        order = torch.randperm(count, generator=self.generator, device=self.device)
        loss_sum = torch.zeros((), device=self.device)
        mse_sum = torch.zeros(contrasts, device=self.device)
        batches = 0
        for batch in order.split(self.params.batch_size):
            mse = self.batch_mse(batch.sort().values)
            loss = (self.weights * mse).sum()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            loss_sum += loss.detach()
            mse_sum += mse.detach()
            batches += 1
            bar.update(len(batch))
        if self.budget_seconds is None:
            self.scheduler.step()
        loss, mse = float(loss_sum) / batches, (mse_sum / batches).tolist()
        trained = time.perf_counter()
        mi = self._mutual_information()
        return EpochRecord(len(self.records) + 1, loss, mse, mi, trained - start,
                           time.perf_counter() - trained)

    def _mutual_information(self) -> float | None:
        """MI of the predicted contrasts (outputs clipped to [0, 1]) inside the mask; None
        without early stopping (nothing uses it) or with a single contrast."""
        if (self.mi_coordinates is None or not self.params.early_stopping
                or len(self.samples.contrasts) < 2):
            return None
        outputs = predict(self.network, self.mi_coordinates).clamp(0.0, 1.0)
        return predicted_mutual_information(outputs.cpu().numpy())

    def batch_mse(self, batch: torch.Tensor) -> torch.Tensor:
        """Per-contrast MSE of a batch of sample indices in ascending order (so grouped by
        contrast), each over that contrast's own samples and output."""
        counts = self.samples.counts(batch)
        squared = (self.predict_voxels(batch, counts) - self.samples.targets[batch]) ** 2
        return torch.stack([part.sum() / max(len(part), 1) for part in squared.split(counts)])

    def predict_voxels(self, batch: torch.Tensor, counts: list[int]) -> torch.Tensor:
        """(B,) predictions of the batch's LR voxels, each of its own contrast, under the
        forward model; ``batch`` grouped by contrast, ``counts`` its samples per contrast."""
        centres = self.samples.coordinates[batch]
        profile = self.samples.profile
        if profile is None:
            return self.network.own_outputs(centres, counts)
        offsets = profile.offsets(self.samples.contrast_index[batch], self.generator)
        points = (centres[:, None, :] + offsets).reshape(-1, 3)
        own = self.network.own_outputs(points, [n * profile.samples for n in counts])
        return own.view(len(batch), profile.samples).mean(dim=1)

    def _state(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint,
                **optimisation_state(self.network, self.optimizer, self.scheduler,
                                     self.generator),
                "stopped": self.stopped, "records": [vars(r) for r in self.records]}

    def _save(self) -> None:
        if self.checkpoint is not None:
            save_checkpoint(self.checkpoint, self._state())

    def _resume(self) -> None:
        state = load_checkpoint(self.checkpoint, self.fingerprint)
        if state is None:
            return
        restore_optimisation_state(state, self.network, self.optimizer, self.scheduler,
                                   self.generator)
        self.records = [EpochRecord(**r) for r in state["records"]]
        self.stopped = state["stopped"]
        self.resumed_at = len(self.records)
        logging.info("%s: resumed from %s after epoch %d", self.description, self.checkpoint,
                     self.resumed_at)

    def history(self) -> dict[str, Any]:
        """Per-epoch curves and the stopping decision, for fit.json."""
        trained = self.records[self.resumed_at:]
        seconds = sum(r.seconds for r in trained)
        return {
            "epochs": len(self.records),
            "max_epochs": self.params.epochs,
            "stopping_epoch": len(self.records) if self.stopped else None,
            "budget_seconds": self.budget_seconds,
            "stopped_by_budget": self.over_budget and not self.stopped,
            "resumed_after_epoch": self.resumed_at,
            "loss": [r.loss for r in self.records],
            "mse": {c: [r.mse[i] for r in self.records]
                    for i, c in enumerate(self.samples.contrasts)},
            "mi": [r.mi for r in self.records],
            "epoch_seconds": [r.seconds for r in self.records],
            "training_coordinates": len(self.samples),
            "training_seconds": seconds,
            "mi_seconds": sum(r.mi_seconds for r in trained),
            "coordinates_per_second": (len(trained) * len(self.samples) / seconds
                                       if seconds > 0 else None),
        }
