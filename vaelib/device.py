"""One way of choosing the device, used by every chapter, exercise and test.

``VAE_DEVICE`` overrides the choice: ``cpu``, ``cuda``, ``cuda:1``, ``mps`` or ``auto`` (the default).
``auto`` takes CUDA when present and falls back to the CPU otherwise; it never assumes CUDA.
"""

import os

import torch


def get_device(preference: str | None = None) -> torch.device:
    """Return the torch device to compute on.

    ``preference`` wins over the ``VAE_DEVICE`` environment variable; both default to
    ``auto``. Asking explicitly for an accelerator that is absent is an error, not a
    silent fallback.
    """
    choice = (preference or os.environ.get("VAE_DEVICE") or "auto").strip().lower()
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    device = torch.device(choice)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"VAE_DEVICE={choice!r} asks for CUDA, "
                           "but torch sees no CUDA device here")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(f"VAE_DEVICE={choice!r} asks for MPS, "
                           "but it is not available here")
    return device


def to_device(*tensors, device: torch.device | None = None):
    """Move tensors to ``device`` (default: :func:`get_device`); returns one tensor or a tuple."""
    device = device or get_device()
    moved = tuple(t.to(device) for t in tensors)
    return moved[0] if len(moved) == 1 else moved
