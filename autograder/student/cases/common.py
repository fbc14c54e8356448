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


def repeated_calls(calls: int, call_once):
    """Call ``call_once()`` (one call of the student's function on fresh copies of the inputs) ``calls`` times and
    collect the results for the grader (statistical checks judge the spread between calls as well as their mean)."""
    from ..values import Calls

    return Calls(call_once() for _ in range(calls))


def upstream_value(func, name: str, *args):
    """The student's own function ``name`` (a graded function that ``func`` may call, looked up in ``func``'s
    notebook namespace) on the given inputs, or None when it is missing or raises: the judge uses it to charge a bug
    in ``name`` to ``name``'s cell only (one bug, one loss)."""
    upstream = getattr(func, "__globals__", {}).get(name)
    if not callable(upstream):
        return None
    try:
        return upstream(*args)
    except Exception:  # noqa: BLE001 - the student's upstream function failing is judged in its own cell
        return None
