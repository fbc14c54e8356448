"""Helpers shared by the assignments' case drawers (student side: inputs only, never an answer)."""

from __future__ import annotations

import numpy as np


def as_tensor(array, dtype: str = "float32"):
    import torch

    return torch.tensor(np.asarray(array), dtype=getattr(torch, dtype))


def split_signs(rng: np.random.Generator, low: float, high: float, size=None) -> np.ndarray:
    """Uniform magnitudes in [low, high] with random signs (keeps parameters away from special values)."""
    return rng.choice([-1.0, 1.0], size=size) * rng.uniform(low, high, size=size)


def away_from_one(rng: np.random.Generator, size=None) -> np.ndarray:
    """A standard deviation in [0.4, 0.75] or [1.35, 2.2]: far enough from 1 that sigma and sigma^2 differ."""
    return np.where(rng.random(size) < 0.5, rng.uniform(0.4, 0.75, size), rng.uniform(1.35, 2.2, size))
