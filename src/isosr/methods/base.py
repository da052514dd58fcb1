"""The method contract every super-resolution method implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from isosr.io import Grid, LRImage


@dataclass
class NoParams:
    """Hyper-parameters of a method that has none."""


class SubjectMethod(ABC):
    """A method fitted on the LR scans of one subject and predicting that subject's HR grid.

    ``Params`` is a dataclass whose defaults are the paper's hyper-parameters. ``uses_gpu``
    says whether the method trains on a GPU when one is present (the workflow then reserves a
    card for it). A method that trains checkpoints into ``checkpoint_dir`` when it is set, and
    resumes from there. After ``fit_predict`` the method reports ``device`` and ``history``
    (epochs run, loss and MI curves, ...), which go into fit.json.
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams
    uses_gpu: ClassVar[bool] = False

    def __init__(self, params: Any | None = None, seed: int = 0) -> None:
        self.params = params if params is not None else self.Params()
        self.seed = seed
        self.device = "cpu"
        self.checkpoint_dir: Path | None = None
        self.history: dict[str, Any] = {}

    @abstractmethod
    def fit_predict(self, lr: dict[str, LRImage], grid: Grid) -> dict[str, np.ndarray]:
        """Fit on the LR images of every contrast; return each contrast on ``grid``."""

    @classmethod
    def required_files(cls, params: dict[str, Any]) -> list[str]:
        """Files the workflow must make before a fit with ``params`` (e.g. a tool's environment)."""
        return []

    def describe(self) -> dict[str, Any]:
        """Name, hyper-parameters and seed, for fit.json."""
        return {"method": self.name, "params": asdict(self.params), "seed": self.seed}
