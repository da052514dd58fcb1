"""Where LPIPS's two weight files are (light: no PyTorch, so the workflow can resolve them
while it builds the DAG). See ``isosr.lpips`` for the network."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from isosr.io import InputError

ALEXNET_CHECKPOINT = "alexnet-owt-7be5be79.pth"
LINEAR_WEIGHTS = Path("weights", "v0.1", "alex.pth")


@dataclass(frozen=True)
class LpipsWeights:
    """Where the two weight files are; a None path means it was not found."""

    alexnet: Path | None
    linear: Path | None

    @property
    def missing_reason(self) -> str | None:
        """Why LPIPS cannot be computed, or None when both files are there."""
        missing = []
        if self.alexnet is None:
            missing.append(f"the AlexNet ImageNet checkpoint {ALEXNET_CHECKPOINT} is not in "
                           f"{hub_checkpoints()} and lpips.alexnet_weights is not set")
        if self.linear is None:
            missing.append("the LPIPS v0.1 linear weights (alex.pth) are not installed "
                           "(pip install --no-deps lpips==0.1.4) and lpips.linear_weights is "
                           "not set")
        return "; ".join(missing) or None


def hub_checkpoints() -> Path:
    """torch's checkpoint cache, found as ``torch.hub.get_dir()`` finds it (without importing
    torch): $TORCH_HOME/hub/checkpoints, TORCH_HOME defaulting to $XDG_CACHE_HOME/torch."""
    cache = os.environ.get("XDG_CACHE_HOME", "~/.cache")
    home = os.environ.get("TORCH_HOME", os.path.join(cache, "torch"))
    return Path(os.path.expanduser(home), "hub", "checkpoints")


def find_weights(alexnet: str | Path | None = None, linear: str | Path | None = None
                 ) -> LpipsWeights:
    """Resolve both weight files; a configured path that does not exist is an InputError."""
    for key, path in (("lpips.alexnet_weights", alexnet), ("lpips.linear_weights", linear)):
        if path is not None and not Path(path).is_file():
            raise InputError(f"{key}: {path}: file not found")
    if alexnet is None:
        cached = hub_checkpoints() / ALEXNET_CHECKPOINT
        alexnet = cached if cached.is_file() else None
    if linear is None:
        spec = importlib.util.find_spec("lpips")  # finds the package without importing it
        if spec is not None and spec.submodule_search_locations:
            shipped = Path(list(spec.submodule_search_locations)[0], LINEAR_WEIGHTS)
            linear = shipped if shipped.is_file() else None
    return LpipsWeights(None if alexnet is None else Path(alexnet),
                        None if linear is None else Path(linear))
