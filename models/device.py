"""Turns `MODEL_DEVICE` into a torch device and the dtype that suits it."""

from __future__ import annotations

import torch


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"MODEL_DEVICE={requested} but CUDA is not available")
    return device


def dtype_for(device: torch.device) -> torch.dtype:
    """Half precision on GPUs, full precision on CPUs (where fp16 is slower, not faster)."""
    return torch.float16 if device.type == "cuda" else torch.float32
