"""Comparison helpers of the judges (grader side only): exact comparisons, the statistical z-tests with the
variance known to the grader, and quadrature rules for computing expected values.

Statistical checks describe each case with a :class:`StatSpec`: the truth, the sd a correct estimate has, and a
false-failure budget split Bonferroni-style from ``DELTA`` = 1e-6 per check call.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..student.values import Value
from .base import CheckFailure


def expect_tensor(value: Value, shape: tuple[int, ...] | None = None, what: str = "the result") -> np.ndarray:
    """The value must be an exact torch.Tensor of a floating dtype with the given shape and finite entries."""
    if value is None or value.kind != "tensor":
        got = value.type_name if value is not None else "nothing"
        raise CheckFailure(f"Expected {what} to be a torch.Tensor, got {got}.")
    if value.dtype not in ("float32", "float64"):
        raise CheckFailure(f"Expected {what} to have a floating dtype (float32 or float64), got {value.dtype}.")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise CheckFailure(f"Expected {what} to have shape {tuple(shape)}, got {tuple(value.shape)}.")
    array = np.asarray(value.array, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise CheckFailure(f"{sentence(what)} contains NaN or infinite entries.")
    return array


def expect_close(actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-4, atol: float = 1e-5,
                 what: str = "the result") -> None:
    """Exact comparison (up to float32 rounding). The message shows the worst entry, not the whole array."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    error = np.abs(actual - expected)
    bound = atol + rtol * np.abs(expected)
    if np.all(error <= bound):
        return
    worst = np.unravel_index(np.argmax(error - bound), error.shape) if error.ndim else ()
    raise CheckFailure(f"{sentence(what)} is wrong at index {tuple(int(i) for i in worst)}: "
                       f"expected {expected[worst]:.6g}, got {actual[worst]:.6g} "
                       f"({int(np.sum(error > bound))} of {error.size} entries off).")


def normal_quantile(p: float) -> float:
    """Inverse standard normal CDF."""
    from scipy.stats import norm

    return float(norm.ppf(p))


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def z_test(estimate: float, truth: float, variance_single: float, n: int, delta: float, what: str) -> None:
    """Fail when |estimate - truth| > z_{1-delta/2} sqrt(V/n), with V the single-sample variance known to the
    grader (analytic or a trusted reference run), never the student's own spread. False-failure rate: delta."""
    z = normal_quantile(1 - delta / 2)
    tolerance = z * math.sqrt(variance_single / n)
    if not abs(estimate - truth) <= tolerance:
        raise CheckFailure(f"{sentence(what)}: expected {truth:.5g} on average, got {estimate:.5g}; "
                           f"a correct estimator lands within ±{tolerance:.3g} of it with probability "
                           f"{1 - delta:.7f}.")


# ----------------------------------------------------------------------------------------------------------
# Statistical judging: a z-test per component, variance known to the grader, Bonferroni over everything
# ----------------------------------------------------------------------------------------------------------
DELTA = 1e-6  # false-failure budget of ONE statistical check() call, split (Bonferroni) over its cases x components
POWER = 0.999  # required probability of failing each listed bug (verified by tests/test_grading_correctness_power.py)


@dataclass
class StatSpec:
    """What a correct implementation's estimate looks like for one case.

    truth: the expected value of the estimate, per component (analytic, quadrature or a trusted reference run).
    sd: its standard deviation under a correct implementation, sqrt(V / n) with V the single-sample variance known
        to the grader (plus the reference run's own error where there is one). Never the student's spread.
    delta: this case's share of DELTA; each of its m components is tested at delta / m (two-sided).
    labels: a readable name per component, used in messages.
    """

    truth: np.ndarray
    sd: np.ndarray
    delta: float
    labels: list[str]

    def threshold(self) -> float:
        """z_{1 - delta / (2 m)}: a correct estimate exceeds it in any component with probability <= delta."""
        return normal_quantile(1 - self.delta / (2 * np.size(self.truth)))


def z_test_components(estimate: np.ndarray, spec: StatSpec, what: str) -> None:
    """Fail when any component is further than z * sd from the truth (z from StatSpec.threshold)."""
    estimate = np.asarray(estimate, np.float64).reshape(-1)
    truth, sd = np.asarray(spec.truth, np.float64).reshape(-1), np.asarray(spec.sd, np.float64).reshape(-1)
    z = spec.threshold()
    excess = np.abs(estimate - truth) - z * sd
    worst = int(np.argmax(excess))
    if excess[worst] > 0:
        raise CheckFailure(
            f"{sentence(what)}, {spec.labels[worst]}: expected {truth[worst]:.5g} on average, got "
            f"{estimate[worst]:.5g}. A correct estimator lands within ±{z * sd[worst]:.3g} of the expected value "
            f"with probability above {1 - spec.delta:.7f}, so this is not bad luck: look for a bias.")


def statistical_assess(statistics: Callable[[dict], StatSpec | None], estimate: Callable[[dict, Value], np.ndarray],
                       what: str, exact: Callable[[dict, Value], None] | None = None):
    """assess() of a statistical check: validate and extract the estimate, then z-test it. Cases for which
    ``statistics`` returns None are exact and go to ``exact``."""

    def assess(case: dict, value: Value) -> None:
        spec = statistics(case)
        if spec is None:
            exact(case, value)
            return
        z_test_components(estimate(case, value), spec, what)

    return assess


def case_delta(n_cases: int) -> float:
    """Each of a check call's n cases gets DELTA / n."""
    return DELTA / n_cases


# ----------------------------------------------------------------------------------------------------------
# Shared helpers for the checks below
# ----------------------------------------------------------------------------------------------------------
def expect_scalar(value: Value, what: str = "the result") -> float:
    """A 0-dim (or one-element) floating tensor, or a Python float."""
    if value is not None and value.kind == "float":
        result = float(value.array)
    elif value is not None and value.kind == "tensor" and value.shape in ((), (1,)):
        result = float(expect_tensor(value, what=what).reshape(-1)[0])
    else:
        got = "nothing" if value is None else (f"a tensor of shape {tuple(value.shape)}" if value.kind == "tensor"
                                               else value.type_name)
        raise CheckFailure(f"Expected {what} to be a single number (a 0-dim torch.Tensor), got {got}.")
    if not math.isfinite(result):
        raise CheckFailure(f"{sentence(what)} is {result} (not finite).")
    return result


def expect_items(value: Value, n: int, what: str) -> list[Value]:
    if value is None or value.kind != "tuple" or len(value.items) != n:
        got = "nothing" if value is None else (f"a {value.type_name} of {len(value.items)} items"
                                               if value.kind == "tuple" else value.type_name)
        raise CheckFailure(f"Expected {what} to be a tuple of {n} items, got {got}.")
    return value.items


def expect_array(value: Value, shape: tuple[int, ...] | None = None, what: str = "the result") -> np.ndarray:
    """Like expect_tensor, but a numpy array is accepted too (for the numpy-friendly PCA functions)."""
    if value is not None and value.kind == "ndarray":
        value = Value("tensor", value.type_name, value.dtype, value.shape, value.array)
    return expect_tensor(value, shape=shape, what=what)


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


def normal_grid(dim: int, step: float = 0.07, limit: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (m, dim) and weights (m,) of the trapezoid rule for E[g(eps)], eps ~ N(0, I_dim), on [-limit, limit]^dim.

    For integrands analytic in a strip of half-width a around the real axis the error is ~exp(-2 pi a / step)
    (Trefethen & Weideman 2014); a tanh or sigmoid layer of slope s has a >= pi / (2 s), so step 0.07 keeps the
    relative error near 1e-7 for slopes up to 8 in eps units (those of the checks' networks, |W1| sigma, stay
    below 8): far below the statistical tolerances (~1e-3 relative). Unlike Gauss-Hermite, the nodes stay dense
    where a saturating unit switches. The mass beyond 6 is 2e-9 per coordinate.
    """
    axis = np.arange(-limit, limit + step / 2, step)
    density = np.exp(-0.5 * axis**2)
    grids = np.meshgrid(*([axis] * dim), indexing="ij")
    weights = np.prod(np.stack([g.reshape(-1) for g in np.meshgrid(*([density] * dim), indexing="ij")]), 0)
    return np.stack([g.reshape(-1) for g in grids], -1), weights / weights.sum()


def case_key(case: dict) -> str:
    """A digest of a case's content: the key of the in-process caches of expensive references."""
    digest = hashlib.sha256()
    for key in sorted(case):
        digest.update(key.encode() + np.ascontiguousarray(np.asarray(case[key], np.float64)).tobytes())
    return digest.hexdigest()
