"""Per-epoch training checkpoints, so a killed fit resumes from its last finished epoch.

A checkpoint holds everything the next epoch depends on (weights, optimiser and scheduler state,
the batch-sampling generator, the per-epoch history) and the fingerprint of the fit's inputs and
hyper-parameters: a checkpoint of a different fit is ignored, never resumed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from isosr.checkpoint_dir import STATE_FILE
from isosr.io import Grid, LRImage


def fingerprint(description: dict[str, Any], lr: dict[str, LRImage], grid: Grid) -> str:
    """SHA-256 of the method description (with the training device: a generator state does not
    move between devices) and every array and affine the fit depends on."""
    digest = hashlib.sha256(json.dumps(description, sort_keys=True, default=str).encode())
    arrays = [grid.affine, np.asarray(grid.shape),
              np.zeros(0) if grid.mask is None else np.asarray(grid.mask, dtype=bool)]
    for contrast in sorted(lr):
        digest.update(contrast.encode())
        arrays += [lr[contrast].data, lr[contrast].affine]
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def save_checkpoint(directory: Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically (temporary file, then rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{STATE_FILE}.partial"
    torch.save(state, partial)
    os.replace(partial, directory / STATE_FILE)


def load_checkpoint(directory: Path | None, expected_fingerprint: str) -> dict[str, Any] | None:
    """The saved state if it belongs to this fit, else None (a stale one is logged and ignored)."""
    if directory is None or not (directory / STATE_FILE).is_file():
        return None
    state = torch.load(directory / STATE_FILE, map_location="cpu", weights_only=True)
    if state.get("fingerprint") != expected_fingerprint:
        logging.warning("%s: checkpoint of a different fit (inputs or parameters changed); "
                        "starting afresh", directory / STATE_FILE)
        return None
    return state


def optimisation_state(network: torch.nn.Module, optimizer: torch.optim.Optimizer,
                       scheduler: Any, generator: torch.Generator) -> dict[str, Any]:
    """What a training loop's next epoch depends on besides its own history."""
    return {"network": network.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "generator": generator.get_state()}


def restore_optimisation_state(state: dict[str, Any], network: torch.nn.Module,
                               optimizer: torch.optim.Optimizer, scheduler: Any,
                               generator: torch.Generator) -> None:
    """Put ``optimisation_state``'s parts back in place."""
    network.load_state_dict(state["network"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    generator.set_state(state["generator"])
