"""The training device every learned method resolves its ``device`` parameter with."""

from __future__ import annotations

import torch

from isosr.io import InputError


def select_device(choice: str) -> torch.device:
    """``auto``: CUDA when available, otherwise the CPU."""
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise InputError("device: 'cuda' requested, but PyTorch sees no CUDA device here")
    return torch.device(choice)
