"""The method contracts: subject-specific methods and cohort-trained methods.

A subject-specific method fits the LR scans of one subject and predicts that subject's HR grid:
``fit_predict(lr, grid) -> FitResult``. A cohort method is trained once on the training subjects
(``train(pairs, context) -> TrainResult``, writing its model file) and then predicts unseen
subjects from that file (``predict(model_file, lr, grid) -> FitResult``). Both return what they
did (device, epochs, loss curve...) as part of their result, which goes into fit.json or
train.json; nothing is set on the method object from outside but its checkpoint directory.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from isosr.io import Grid, LRImage


@dataclass
class NoParams:
    """Hyper-parameters of a method that has none."""


@dataclass
class FitResult:
    """Every contrast on the HR grid, the device that computed it and the fit's history."""

    images: dict[str, np.ndarray]
    device: str = "cpu"
    history: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainResult:
    """The device a cohort method trained on and its history (epochs, loss curve...)."""

    device: str
    history: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainingPair:
    """One training subject: its HR ground truth (on ``grid``, which carries the brain mask)
    and its LR scans simulated with the scenario's own models."""

    subject: str
    hr: dict[str, np.ndarray]
    grid: Grid
    lr: dict[str, LRImage]


@dataclass
class TrainingContext:
    """Where a cohort method writes its model, and where it checkpoints every epoch."""

    model_file: Path
    checkpoint_dir: Path | None = None


class Method:
    """What both contracts share: hyper-parameters (``Params``: defaults = the paper's), seed,
    and the directory a method that trains checkpoints into and resumes from (None: none)."""

    name: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams

    def __init__(self, params: Any | None = None, *, seed: int = 0,
                 checkpoint_dir: Path | None = None) -> None:
        self.params = params if params is not None else self.Params()
        self.seed = seed
        self.checkpoint_dir = checkpoint_dir

    def describe(self) -> dict[str, Any]:
        """Name, hyper-parameters and seed, for fit.json and train.json."""
        return {"method": self.name, "params": asdict(self.params), "seed": self.seed}


class SubjectMethod(Method, ABC):
    """Fitted on the LR images of one subject; predicts that subject's HR grid."""

    @abstractmethod
    def fit_predict(self, lr: dict[str, LRImage], grid: Grid) -> FitResult:
        """Fit on the LR images of every contrast; return each contrast on ``grid``."""


class CohortMethod(Method, ABC):
    """Trained once on a cohort's training subjects, then applied to unseen subjects."""

    @abstractmethod
    def train(self, pairs: list[TrainingPair], context: TrainingContext) -> TrainResult:
        """Train on ``pairs``; write the model to ``context.model_file``."""

    @abstractmethod
    def predict(self, model_file: Path, lr: dict[str, LRImage], grid: Grid) -> FitResult:
        """Super-resolve one unseen subject's LR images onto ``grid`` with a trained model."""
