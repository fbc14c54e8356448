"""Comparison helpers of the judges (grader side only): the docstrings' return contracts checked on the recorded
values (exact torch.Tensor, floating dtype, shape, 0-dim, tuple, gradient attached or not, device), exact
comparisons, and quadrature rules for computing expected values. The statistical tests are in
:mod:`.statistics`.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from ..student.values import Value
from .base import CheckFailure


def expect_tensor(value: Value, shape: tuple[int, ...] | None = None, what: str = "the result",
                  infinite_ok: bool = False) -> np.ndarray:
    """The value must be an exact torch.Tensor of a floating dtype with the given shape and finite entries (or, with
    ``infinite_ok``, entries that are not NaN: the comparison then decides where an infinity belongs)."""
    if value is None or value.kind != "tensor":
        got = _describe(value) if value is not None else "nothing"
        raise CheckFailure(f"Expected {what} to be a torch.Tensor, got {got}.")
    if value.dtype not in ("float32", "float64"):
        raise CheckFailure(f"Expected {what} to have a floating dtype (float32 or float64), got {value.dtype}.")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise CheckFailure(f"Expected {what} to have shape {tuple(shape)}, got {tuple(value.shape)}.")
    array = np.asarray(value.array, dtype=np.float64)
    if np.any(np.isnan(array)):
        raise CheckFailure(f"{sentence(what)} contains NaN entries.")
    if not infinite_ok and not np.all(np.isfinite(array)):
        raise CheckFailure(f"{sentence(what)} contains infinite entries.")
    return array


def expect_close(actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-4, atol: float = 1e-5,
                 what: str = "the result") -> None:
    """Exact comparison (up to float32 rounding). The message shows the worst entry, not the whole array."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    infinite = np.isinf(expected) | np.isinf(actual)
    same = actual == expected  # an infinity matches only the same infinity
    with np.errstate(invalid="ignore"):
        error = np.where(infinite, np.where(same, 0.0, np.inf), np.abs(actual - expected))
    bound = atol + rtol * np.where(infinite, 0.0, np.abs(expected))
    if np.all(error <= bound):
        return
    worst = np.unravel_index(np.argmax(error - bound), error.shape) if error.ndim else ()
    raise CheckFailure(f"{sentence(what)} is wrong at index {tuple(int(i) for i in worst)}: "
                       f"expected {expected[worst]:.6g}, got {actual[worst]:.6g} "
                       f"({int(np.sum(error > bound))} of {error.size} entries off).")


def require_finite(values, what: str) -> np.ndarray:
    """Judgements fail closed: a NaN or an infinity the grader computed from the student's values fails the check
    with a message, before any comparison (``x > limit`` is False for NaN, so a "fail if bad" guard would let it
    through). Returns the values as a float64 array."""
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        bad = array[~np.isfinite(array)].ravel()[0]
        raise CheckFailure(f"{sentence(what)} came out as {bad} (not a finite number), so the check cannot pass: a "
                           f"value of your function overflows or is undefined in the grader's computation.")
    return array


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


# ----------------------------------------------------------------------------------------------------------
# Shared helpers for the checks below
# ----------------------------------------------------------------------------------------------------------
def expect_scalar(value: Value, what: str = "the result") -> float:
    """A 0-dim floating torch.Tensor (shape (), not (1,); not a Python float, not a numpy number), finite."""
    if value is None or value.kind != "tensor" or tuple(value.shape) != ():
        got = "nothing" if value is None else (
            f"a tensor of shape {tuple(value.shape)}" if value.kind == "tensor" else _describe(value))
        raise CheckFailure(f"Expected {what} to be a 0-dim torch.Tensor (shape ()), got {got}. A Python float "
                           "(from .item() or float()) or a tensor of shape (1,) is not what the docstring promises.")
    result = float(expect_tensor(value, shape=(), what=what))
    return result


def _describe(value: Value) -> str:
    if value.kind == "float":
        return "a Python float"
    if value.kind == "ndarray":
        return f"a numpy array of shape {tuple(value.shape)}"
    if value.kind == "tuple":
        return f"a {value.type_name} of {len(value.items)} items"
    return value.type_name


def expect_items(value: Value, n: int, what: str, kinds: tuple[str, ...] = ("tuple",)) -> list[Value]:
    """A tuple of n items (``kinds``: the container types accepted, "tuple" and/or "list")."""
    if value is None or value.kind != "tuple" or len(value.items) != n or value.type_name not in kinds:
        got = "nothing" if value is None else _describe(value)
        accepted = " or a ".join(kinds)
        raise CheckFailure(f"Expected {what} to be a {accepted} of {n} items, got {got}.")
    return value.items


def expect_no_grad(value: Value, what: str) -> None:
    if value.requires_grad:
        raise CheckFailure(f"{sentence(what)} still has a gradient attached (requires_grad=True): the docstring "
                           "promises plain tensors; return them with .detach().")


def expect_calls(value: Value, calls: int, shape: tuple[int, ...], what: str) -> np.ndarray:
    """The results of ``calls`` calls of a function on one case (autograder.student.values.Calls), each an exact
    floating torch.Tensor of ``shape`` with finite entries: an array (calls, *shape)."""
    if value is not None and value.kind == "repeated":
        if value.dtype not in ("float32", "float64") or tuple(value.shape[1:]) != tuple(shape):
            return expect_tensor(Value("tensor", value.type_name, value.dtype, tuple(value.shape[1:]),
                                       value.array[0]), shape=shape, what=what)[None]  # raises with the message
        if value.shape[0] != calls:
            raise CheckFailure(f"The test did not get {calls} results for {what} (got {value.shape[0]}).")
        array = np.asarray(value.array, np.float64)
        if not np.all(np.isfinite(array)):
            bad = int(np.argmin(np.isfinite(array).reshape(calls, -1).all(1)))
            raise CheckFailure(f"{sentence(what)} contains NaN or infinite entries (call {bad + 1} of {calls}).")
        return array
    if value is not None and value.kind == "calls" and len(value.items) == calls:
        return np.stack([expect_tensor(item, shape=shape, what=f"{what} (call {i + 1} of {calls})")
                         for i, item in enumerate(value.items)])
    raise CheckFailure(f"The test did not get {calls} results for {what}.")


def expect_calls_of_items(value: Value, calls: int, shapes: list[tuple[int, ...]], what: list[str],
                          kinds: tuple[str, ...] = ("tuple",)) -> list[np.ndarray]:
    """Like expect_calls for functions that return a tuple of tensors: one array (calls, *shape) per position."""
    if value is None or value.kind != "calls" or len(value.items) != calls:
        raise CheckFailure(f"The test did not get {calls} results.")
    per_call = [expect_items(item, len(shapes), f"the result (call {i + 1} of {calls})", kinds)
                for i, item in enumerate(value.items)]
    return [np.stack([expect_tensor(items[j], shape=shape, what=f"{what[j]} (call {i + 1} of {calls})")
                      for i, items in enumerate(per_call)]) for j, shape in enumerate(shapes)]


def softplus(a: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, a)


def logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    from scipy.special import logsumexp

    return logsumexp(a, axis=axis)


def gauss_hermite(n_nodes: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (m, dim) and weights (m,) with sum_i w_i g(node_i) = E[g(eps)], eps ~ N(0, I_dim); exact for
    polynomials of degree < 2 n_nodes in each coordinate (probabilists' Gauss-Hermite)."""
    from numpy.polynomial.hermite_e import hermegauss

    nodes, weights = hermegauss(n_nodes)
    weights = weights / math.sqrt(2 * math.pi)
    grids = np.meshgrid(*([nodes] * dim), indexing="ij")
    wgrids = np.meshgrid(*([weights] * dim), indexing="ij")
    return np.stack([g.reshape(-1) for g in grids], -1), np.prod(np.stack([w.reshape(-1) for w in wgrids]), 0)


def normal_grid(dim: int, step: float = 0.1, limit: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (m, dim) and weights (m,) of the trapezoid rule for E[g(eps)], eps ~ N(0, I_dim), on [-limit, limit]^dim.

    For integrands analytic in a strip of half-width a around the real axis the error is ~exp(-2 pi a / step)
    (Trefethen & Weideman 2014); a tanh or sigmoid layer of slope s has a >= pi / (2 s), so step 0.1 keeps the
    relative error near 5e-6 for slopes up to 8 in eps units (those of the checks' networks, |W1| sigma, stay
    below 8): far below the statistical tolerances (~1e-3 relative; tests/test_grading_correctness_references.py
    compares with step 0.05). Unlike Gauss-Hermite, the nodes stay dense where a saturating unit switches. The
    mass beyond 6 is 2e-9 per coordinate.
    """
    axis = np.arange(-limit, limit + step / 2, step)
    density = np.exp(-0.5 * axis**2)
    grids = np.meshgrid(*([axis] * dim), indexing="ij")
    weights = np.prod(np.stack([g.reshape(-1) for g in np.meshgrid(*([density] * dim), indexing="ij")]), 0)
    return np.stack([g.reshape(-1) for g in grids], -1), weights / weights.sum()


def case_key(case: dict, keys=None) -> str:
    """A digest of a case's content (only ``keys`` when given): the key of the in-process caches of expensive
    references."""
    digest = hashlib.sha256()
    for key in sorted(case if keys is None else keys):
        digest.update(key.encode() + np.ascontiguousarray(np.asarray(case[key], np.float64)).tobytes())
    return digest.hexdigest()


def probe_items(value: Value, n: int) -> list:
    """The items of the tuple a probe built itself (its calls and what it recorded about upstream functions)."""
    if value is None or value.kind != "tuple" or len(value.items) != n:
        raise CheckFailure("The test did not run to the end (its results are incomplete).")
    return value.items
