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


def recording(function, width: int | None = None):
    """(a wrapper of ``function`` that keeps a float64 copy of every tensor it is called with, ``recorded()``): the
    inputs so far, flattened, or as rows (count, width) when ``width`` is given (inputs of another width are
    passed on unrecorded). For a judge that recomputes an answer from exactly the points a function was given."""
    import torch

    seen = []

    def wrapper(z):
        values = torch.as_tensor(z).detach()
        if width is None:
            seen.append(values.reshape(-1).to(torch.float64).clone())
        elif values.ndim >= 1 and values.shape[-1] == width:
            seen.append(values.reshape(-1, width).to(torch.float64).clone())
        return function(z)

    def recorded():
        if seen:
            return torch.cat(seen)
        return torch.zeros((0,) if width is None else (0, width), dtype=torch.float64)

    return wrapper, recorded


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


class Spy:
    """While a student's function runs, records its calls of another graded function of the notebook, ``name``
    (looked up in the function's namespace): the arguments and what came back, for the grader, who can then tell
    a bug in ``name`` from a bug in the function that calls it (one bug, one loss). It calls the student's own
    function and changes nothing it returns; the name is restored afterwards. Calls of the spied function are
    grouped by call of the function under test (:meth:`calling`); at most ``elements`` tensor entries and
    ``per_group`` calls per group are kept, and a group that would exceed them ends with :data:`OVERFLOW`."""

    OVERFLOW = "overflow"

    def __init__(self, func, name: str, elements: int = 20_000, per_group: int = 16):
        scope = getattr(func, "__globals__", None)
        self.scope = scope if isinstance(scope, dict) else {}
        self.name = name
        self.elements = elements
        self.per_group = per_group
        self.used = 0
        self.groups: list[list[tuple]] = []
        self.original = None

    def __enter__(self) -> Spy:
        self.original = self.scope.get(self.name)
        if callable(self.original):
            self.scope[self.name] = self._wrapper
        return self

    def __exit__(self, *exc) -> None:
        if callable(self.original):
            self.scope[self.name] = self.original

    def calling(self, call_once):
        """``call_once`` wrapped so that the spied calls it makes form one group."""
        def wrapped():
            self.groups.append([])
            return call_once()

        return wrapped

    def _wrapper(self, *args, **kwargs):
        result = self.original(*args, **kwargs)
        self._keep((*args, *kwargs.values(), result))
        return result

    def _keep(self, items: tuple) -> None:
        import torch

        if not self.groups or (self.groups[-1] and self.groups[-1][-1] is self.OVERFLOW):
            return
        size = sum(item.numel() for item in items if type(item) is torch.Tensor)
        if len(self.groups[-1]) >= self.per_group or self.used + size > self.elements:
            self.groups[-1].append(self.OVERFLOW)
            return
        self.used += size
        self.groups[-1].append(tuple(torch.Tensor.detach(item).clone() if type(item) is torch.Tensor else item
                                     for item in items))

    def record(self):
        """The groups, as plain data for the grader."""
        from ..values import Calls

        return Calls(tuple(group) for group in self.groups)


SCALING_CALLS = 80  # calls at each of the two sample sizes of a scaling case


def scaling_case(case: dict, sizes: tuple[int, int]) -> dict:
    """A case on which the student's function is called SCALING_CALLS times with n_samples = sizes[0] and as often
    with sizes[1] (autograder.student.probes.probe): an average of n independent samples has a variance that shrinks
    as 1/n, whatever the estimator, so the judge compares the two spreads (autograder.judging.statistics
    .assess_scaling). Catches a function that ignores n_samples, which every other case can miss."""
    return dict(case, n_samples=int(sizes[1]), calls=SCALING_CALLS, sample_sizes=[int(n) for n in sizes])
