"""Every judgement the autograder makes lives here: test cells only *name* a check.

A test cell in an assignment calls ``check("gaussian_kl", gaussian_kl)`` (visible cases) or
``check("gaussian_kl", gaussian_kl, kind="hidden")``. A check is split in two halves so that judging can run
in a different process from the student's code:

* ``probe(name, func, seed, kind)`` runs where the student's function lives. It draws the cases from ``seed``,
  calls the function and turns what came back into plain data (:class:`Outcome`: numpy arrays, type names,
  error strings). It decides nothing.
* ``judge(name, seed, kind, outcomes)`` runs in the trusted grader. It draws the same cases from the same seed,
  computes the reference (vaelib or an analytic formula, never the student's numbers), and returns a
  :class:`Verdict`: passed or not, and a message that says what was checked, what came back and where in the book
  to read. Hidden cases are described by what they test, never by their code or their expected numbers.

Layout: the plain-data types and probe/judge/check; the exact and statistical comparison helpers (statistical
checks describe each case with a :class:`StatSpec`: the truth, the sd a correct estimate has, a false-failure
budget split Bonferroni-style from ``DELTA`` = 1e-6 per check call); then one section per assignment
(ps1_likelihood, ps2_autoencoders, ps3_elbo, ps4_gradients) registering its checks. Each statistical check's
docstring states its variance source, n, delta and its measured power against the bugs it must catch
(tests/test_grading_correctness_power.py re-measures it).

``check`` runs both halves in one process (a student's self-check, or stock ``nbgrader autograde``) and raises
``AssertionError(message)`` on failure. Inside the grader a :class:`GradingContext` is installed instead: ``check``
then only records the probe's outcomes for the trusted process to judge.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

VISIBLE_SEED = 20261126  # visible cases are fixed so students see the same numbers every time
MAX_ERROR_CHARS = 2000


# ----------------------------------------------------------------------------------------------------------
# Plain data crossing the boundary between the student's process and the grader
# ----------------------------------------------------------------------------------------------------------
@dataclass
class Value:
    """What a student function returned, as plain data: ``kind`` is "tensor", "ndarray", "float", "int",
    "bool", "tuple" or "other"; arrays travel as .npy bytes (never pickle)."""

    kind: str
    type_name: str
    dtype: str | None = None
    shape: tuple[int, ...] | None = None
    array: np.ndarray | None = None
    items: list[Value] | None = None
    requires_grad: bool | None = None

    def to_json(self) -> dict:
        data = {"kind": self.kind, "type_name": self.type_name, "dtype": self.dtype,
                "shape": list(self.shape) if self.shape is not None else None, "requires_grad": self.requires_grad}
        if self.array is not None:
            buffer = io.BytesIO()
            np.save(buffer, self.array, allow_pickle=False)
            data["npy"] = base64.b64encode(buffer.getvalue()).decode("ascii")
        if self.items is not None:
            data["items"] = [item.to_json() for item in self.items]
        return data

    @classmethod
    def from_json(cls, data: dict) -> Value:
        array = None
        if data.get("npy") is not None:
            array = np.load(io.BytesIO(base64.b64decode(data["npy"])), allow_pickle=False)
        items = [cls.from_json(item) for item in data["items"]] if data.get("items") is not None else None
        shape = tuple(data["shape"]) if data.get("shape") is not None else None
        return cls(data["kind"], str(data["type_name"]), data.get("dtype"), shape, array, items,
                   data.get("requires_grad"))


def to_value(obj: Any) -> Value:
    """Convert a returned object into plain data. Only exact torch.Tensor / np.ndarray / Python numbers and
    tuples/lists of those are accepted; subclasses and other objects are recorded by type name only."""
    import torch

    if type(obj) is torch.Tensor:
        tensor = torch.Tensor.detach(obj)
        return Value("tensor", "torch.Tensor", str(tensor.dtype).replace("torch.", ""), tuple(tensor.shape),
                     np.array(tensor.cpu().tolist() if tensor.dtype == torch.bfloat16 else tensor.cpu().numpy()),
                     requires_grad=bool(obj.requires_grad))
    if type(obj) is np.ndarray:
        if obj.dtype == object:
            return Value("other", "numpy.ndarray[object]")
        return Value("ndarray", "numpy.ndarray", str(obj.dtype), tuple(obj.shape), np.array(obj))
    if type(obj) is bool:
        return Value("bool", "bool", array=np.array(obj))
    if type(obj) is int:
        return Value("int", "int", array=np.array(float(obj)))
    if type(obj) is float:
        return Value("float", "float", array=np.array(obj))
    if type(obj) in (tuple, list):
        return Value("tuple", type(obj).__name__, items=[to_value(item) for item in obj])
    return Value("other", f"{type(obj).__module__}.{type(obj).__qualname__}")


@dataclass
class Outcome:
    """The result of calling the student's function on one case: a value or an error message."""

    case: int
    value: Value | None = None
    error: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"case": self.case, "value": self.value.to_json() if self.value else None,
                "error": self.error, "seconds": self.seconds}

    @classmethod
    def from_json(cls, data: dict) -> Outcome:
        value = Value.from_json(data["value"]) if data.get("value") else None
        return cls(int(data["case"]), value, data.get("error"), float(data.get("seconds", 0.0)))


@dataclass
class Verdict:
    passed: bool
    message: str
    details: list[str] = field(default_factory=list)


class CheckFailure(Exception):
    """Raised inside a judge to fail a check with a readable message."""


# ----------------------------------------------------------------------------------------------------------
# The registry: one Check per graded function
# ----------------------------------------------------------------------------------------------------------
@dataclass
class Check:
    """How one function is graded.

    cases(rng, kind) -> list of case dicts (plain data: numbers, numpy arrays, strings), drawn from rng.
    call(func, case) -> whatever the student's function returns for that case (runs in the student's process;
        builds tensors/modules from the case deterministically).
    assess(case, value) -> None, or raises CheckFailure("what was expected, what came back"). Runs in the grader.
    section: where in the book to read (a page and anchor), shown with every failure.
    what: one sentence saying what the check tests, shown in feedback (never the hidden code).
    """

    name: str
    cases: Callable[[np.random.Generator, str], list[dict]]
    call: Callable[[Callable, dict], Any]
    assess: Callable[[dict, Value], None]
    section: str
    what: str
    # Statistical checks only (None for exact ones): statistics(case) -> StatSpec | None (None for an exact case
    # of a mixed check) and estimate(case, value) -> the estimate array compared with StatSpec.truth. assess is
    # then built from them, and tests/test_grading_correctness_power.py measures the stated power with them.
    statistics: Callable[[dict], StatSpec | None] | None = None
    estimate: Callable[[dict, Value], np.ndarray] | None = None


REGISTRY: dict[str, Check] = {}


def register(check: Check) -> Check:
    if check.name in REGISTRY:
        raise ValueError(f"check {check.name!r} registered twice")
    REGISTRY[check.name] = check
    return check


def derive_seed(master_seed: int, name: str, kind: str) -> int:
    """Per-check seed from a submission's master seed (so checks do not share random streams)."""
    digest = hashlib.sha256(f"{master_seed}:{name}:{kind}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def draw_cases(name: str, seed: int, kind: str) -> list[dict]:
    return REGISTRY[name].cases(np.random.default_rng(seed), kind)


def probe(name: str, func: Callable, seed: int, kind: str) -> list[Outcome]:
    """Student side: call ``func`` on every case and record what came back. Never raises for student errors."""
    import time

    check_def = REGISTRY[name]
    outcomes = []
    for index, case in enumerate(draw_cases(name, seed, kind)):
        start = time.perf_counter()
        try:
            value = to_value(check_def.call(func, case))
            outcomes.append(Outcome(index, value=value, seconds=time.perf_counter() - start))
        except Exception as error:  # the student's exception becomes data
            text = "".join(traceback.format_exception_only(type(error), error)).strip()
            outcomes.append(Outcome(index, error=text[:MAX_ERROR_CHARS], seconds=time.perf_counter() - start))
    return outcomes


def judge(name: str, seed: int, kind: str, outcomes: list[Outcome]) -> Verdict:
    """Grader side: re-draw the cases from ``seed`` and assess each outcome against the reference."""
    check_def = REGISTRY[name]
    cases = draw_cases(name, seed, kind)
    label = f"{name} ({kind} tests)"
    if len(outcomes) != len(cases) or sorted(o.case for o in outcomes) != list(range(len(cases))):
        return Verdict(False, f"{label}: the test did not run to the end (got {len(outcomes)} of {len(cases)} "
                              f"results). Read: {check_def.section}")
    for outcome in sorted(outcomes, key=lambda o: o.case):
        case = cases[outcome.case]
        where = f"case {outcome.case + 1} of {len(cases)}"
        if outcome.error is not None:
            return Verdict(False, f"{label}, {where}: {check_def.what}\nYour function raised: {outcome.error}\n"
                                  f"Read: {check_def.section}")
        try:
            check_def.assess(case, outcome.value)
        except CheckFailure as failure:
            return Verdict(False, f"{label}, {where}: {check_def.what}\n{failure}\nRead: {check_def.section}")
    return Verdict(True, f"{label}: passed {len(cases)} case(s).")


# ----------------------------------------------------------------------------------------------------------
# What test cells call
# ----------------------------------------------------------------------------------------------------------
class GradingContext:
    """Installed by the grader's runner in the student's process: ``check`` records instead of judging."""

    def __init__(self, master_seed: int):
        self.master_seed = master_seed
        self.records: list[dict] = []
        self.current_cell: str | None = None

    def record(self, name: str, kind: str, outcomes: list[Outcome]) -> None:
        self.records.append({"cell": self.current_cell, "name": name, "kind": kind,
                             "outcomes": [o.to_json() for o in outcomes]})


_context: GradingContext | None = None


def set_grading_context(context: GradingContext | None) -> None:
    global _context
    _context = context


def check(name: str, func: Callable, kind: str = "visible") -> None:
    """Test cells call this. Self-check / stock nbgrader: probe, judge, raise AssertionError on failure."""
    if name not in REGISTRY:
        raise KeyError(f"unknown check {name!r}; known: {sorted(REGISTRY)}")
    if kind not in ("visible", "hidden"):
        raise ValueError("kind must be 'visible' or 'hidden'")
    if _context is not None:
        seed = VISIBLE_SEED if kind == "visible" else derive_seed(_context.master_seed, name, kind)
        _context.record(name, kind, probe(name, func, seed, kind))
        return
    seed = VISIBLE_SEED if kind == "visible" else int.from_bytes(__import__("os").urandom(8), "little") >> 1
    verdict = judge(name, seed, kind, probe(name, func, seed, kind))
    if not verdict.passed:
        raise AssertionError(verdict.message)
    print(f"ok: {verdict.message}")


# ----------------------------------------------------------------------------------------------------------
# Comparison helpers used by the assess functions (exact and statistical)
# ----------------------------------------------------------------------------------------------------------
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
        raise CheckFailure(f"{_sentence(what)} contains NaN or infinite entries.")
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
    raise CheckFailure(f"{_sentence(what)} is wrong at index {tuple(int(i) for i in worst)}: "
                       f"expected {expected[worst]:.6g}, got {actual[worst]:.6g} "
                       f"({int(np.sum(error > bound))} of {error.size} entries off).")


def normal_quantile(p: float) -> float:
    """Inverse standard normal CDF."""
    from scipy.stats import norm

    return float(norm.ppf(p))


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def z_test(estimate: float, truth: float, variance_single: float, n: int, delta: float, what: str) -> None:
    """Fail when |estimate - truth| > z_{1-delta/2} sqrt(V/n), with V the single-sample variance known to the
    grader (analytic or a trusted reference run), never the student's own spread. False-failure rate: delta."""
    z = normal_quantile(1 - delta / 2)
    tolerance = z * math.sqrt(variance_single / n)
    if not abs(estimate - truth) <= tolerance:
        raise CheckFailure(f"{_sentence(what)}: expected {truth:.5g} on average, got {estimate:.5g}; "
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
            f"{_sentence(what)}, {spec.labels[worst]}: expected {truth[worst]:.5g} on average, got "
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
        raise CheckFailure(f"{_sentence(what)} is {result} (not finite).")
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


def _tensor(array, dtype: str = "float32"):
    import torch

    return torch.tensor(np.asarray(array), dtype=getattr(torch, dtype))


def _softplus(a: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, a)


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    from scipy.special import logsumexp

    return logsumexp(a, axis=axis)


def _gauss_hermite(n_nodes: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (m, dim) and weights (m,) with sum_i w_i g(node_i) = E[g(eps)], eps ~ N(0, I_dim); exact for
    polynomials of degree < 2 n_nodes in each coordinate (probabilists' Gauss-Hermite)."""
    from numpy.polynomial.hermite_e import hermegauss

    nodes, weights = hermegauss(n_nodes)
    weights = weights / math.sqrt(2 * math.pi)
    grids = np.meshgrid(*([nodes] * dim), indexing="ij")
    wgrids = np.meshgrid(*([weights] * dim), indexing="ij")
    return np.stack([g.reshape(-1) for g in grids], -1), np.prod(np.stack([w.reshape(-1) for w in wgrids]), 0)


def _normal_grid(dim: int, step: float = 0.07, limit: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
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


def _split_signs(rng: np.random.Generator, low: float, high: float, size=None) -> np.ndarray:
    """Uniform magnitudes in [low, high] with random signs (keeps parameters away from special values)."""
    return rng.choice([-1.0, 1.0], size=size) * rng.uniform(low, high, size=size)


def _away_from_one(rng: np.random.Generator, size=None) -> np.ndarray:
    """A standard deviation in [0.4, 0.75] or [1.35, 2.2]: far enough from 1 that sigma and sigma^2 differ."""
    return np.where(rng.random(size) < 0.5, rng.uniform(0.4, 0.75, size), rng.uniform(1.35, 2.2, size))


CH1 = "Chapter 1 (Probabilistic modelling and maximum likelihood)"
CH2 = "Chapter 2 (Latent-variable models)"
CH3 = "Chapter 3 (Auto encoders and PCA)"
CH4 = "Chapter 4 (Variational auto encoders)"
CH5 = "Chapter 5 (The ELBO)"
CH6 = "Chapter 6 (The reparameterization trick)"
BOOK = "the book"


# ==========================================================================================================
# ps1_likelihood
# ==========================================================================================================
def _gaussian_log_likelihood_cases(rng, kind):
    if kind == "visible":
        return [{"x": np.array([0.0]), "mu": 0.0, "sigma": 1.0},
                {"x": np.array([1.0, 2.0, 3.0]), "mu": 2.0, "sigma": 0.5}]
    return [{"x": rng.normal(0, 3, size=n), "mu": float(rng.normal(0, 2)), "sigma": float(_away_from_one(rng))}
            for n in (1, 12, 300)]


def _gaussian_log_likelihood_call(func, case):
    return func(_tensor(case["x"]), _tensor(case["mu"]), _tensor(case["sigma"]))


def _gaussian_log_likelihood_assess(case, value):
    x, mu, sigma = np.float32(case["x"]).astype(np.float64), case["mu"], case["sigma"]
    expected = np.sum(-0.5 * np.log(2 * np.pi * sigma**2) - (x - mu) ** 2 / (2 * sigma**2))
    expect_close(expect_scalar(value, "the log-likelihood"), expected, rtol=1e-4, atol=1e-4,
                 what="the log-likelihood")


register(Check(
    name="gaussian_log_likelihood",
    cases=_gaussian_log_likelihood_cases, call=_gaussian_log_likelihood_call, assess=_gaussian_log_likelihood_assess,
    section=f"{BOOK}, {CH1}, section 'The log-likelihood'",
    what="sum_i log N(x_i | mu, sigma^2) with sigma a standard deviation, one number for the whole data set",
))


def _log_sum_exp_cases(rng, kind):
    if kind == "visible":
        return [{"a": np.array([[0.0, 0.0]]), "dim": 1},
                {"a": np.array([[1000.0, 1000.0], [-1000.0, -1000.0]]), "dim": 1}]
    cases = [{"a": rng.normal(0, 400, size=(rng.integers(2, 6), rng.integers(2, 9))), "dim": int(rng.integers(0, 2))},
             {"a": rng.normal(-900, 50, size=(3, 4, 5)), "dim": 2},
             {"a": rng.normal(800, 5, size=(6,)), "dim": 0}]
    with_minus_inf = rng.normal(0, 3, size=(4, 5))
    with_minus_inf[:, 0] = -np.inf  # log 0: must not produce NaN
    cases.append({"a": with_minus_inf, "dim": 1})
    return cases


def _log_sum_exp_call(func, case):
    return func(_tensor(case["a"]), case["dim"])


def _log_sum_exp_assess(case, value):
    a = np.float32(case["a"]).astype(np.float64)
    expected = _logsumexp(a, axis=case["dim"])
    actual = expect_tensor(value, shape=expected.shape, what=f"log-sum-exp over dim {case['dim']}")
    expect_close(actual, expected, rtol=1e-5, atol=1e-4, what="the log-sum-exp")


register(Check(
    name="log_sum_exp",
    cases=_log_sum_exp_cases, call=_log_sum_exp_call, assess=_log_sum_exp_assess,
    section=f"{BOOK}, {CH1}, section 'Adding probabilities in log space: log-sum-exp'",
    what="log(sum(exp(a))) along one dimension, without overflow for entries near ±1000 and with -inf entries",
))


def _gaussian_mle_cases(rng, kind):
    if kind == "visible":
        return [{"x": np.array([1.0, 2.0, 3.0, 4.0])}]
    return [{"x": rng.normal(rng.normal(0, 3), _away_from_one(rng), size=n)} for n in (3, 5, 40)]


def _gaussian_mle_call(func, case):
    return func(_tensor(case["x"]))


def _gaussian_mle_assess(case, value):
    x = np.float32(case["x"]).astype(np.float64)
    mu_hat, sigma_hat = expect_items(value, 2, "(mu_hat, sigma_hat)")
    expect_close(expect_scalar(mu_hat, "mu_hat"), x.mean(), rtol=1e-4, atol=1e-5, what="mu_hat")
    expect_close(expect_scalar(sigma_hat, "sigma_hat"), x.std(), rtol=1e-4, atol=1e-5,
                 what="sigma_hat (a standard deviation, the maximum-likelihood one)")


register(Check(
    name="gaussian_mle",
    cases=_gaussian_mle_cases, call=_gaussian_mle_call, assess=_gaussian_mle_assess,
    section=f"{BOOK}, {CH1}, section 'Maximum likelihood by gradient ascent' (the closed form)",
    what="the maximum-likelihood (mu, sigma) of a Gaussian: the sample mean and the 1/n standard deviation",
))


def _mixture_cases(rng, kind):
    if kind == "visible":
        return [{"x": np.array([0.0, 1.0]), "log_weights": np.log([0.5, 0.5]), "means": np.array([-1.0, 1.0]),
                 "sigmas": np.array([1.0, 1.0])}]
    cases = []
    for n, k in [(5, 2), (20, 4)]:
        weights = rng.dirichlet(np.ones(k) * 2)
        cases.append({"x": rng.normal(0, 4, size=n), "log_weights": np.log(weights),
                      "means": rng.normal(0, 3, size=k), "sigmas": _away_from_one(rng, size=k)})
    far = cases[-1].copy()  # points far out in the tails: every component's density underflows float32
    far["x"] = np.array([60.0, -80.0, 150.0])
    cases.append(far)
    return cases


def _mixture_call(func, case):
    return func(_tensor(case["x"]), _tensor(case["log_weights"]), _tensor(case["means"]), _tensor(case["sigmas"]))


def _mixture_assess(case, value):
    x = np.float32(case["x"]).astype(np.float64)[:, None]
    lw, mu, sigma = (np.float32(case[k]).astype(np.float64) for k in ("log_weights", "means", "sigmas"))
    log_joint = lw - 0.5 * np.log(2 * np.pi * sigma**2) - (x - mu) ** 2 / (2 * sigma**2)  # (n, K)
    expected = _logsumexp(log_joint, axis=1)
    actual = expect_tensor(value, shape=expected.shape, what="log p(x) (one number per data point)")
    expect_close(actual, expected, rtol=1e-4, atol=1e-4, what="log p(x)")


register(Check(
    name="mixture_log_marginal",
    cases=_mixture_cases, call=_mixture_call, assess=_mixture_assess,
    section=f"{BOOK}, {CH2}, section 'A discrete latent: the mixture of Gaussians'",
    what="log p(x) = log sum_c pi_c N(x | mu_c, sigma_c^2) per data point (sigmas are standard deviations), "
         "computed stably in log space",
))


def _linear_latent_model(rng) -> dict:
    """A 1-D latent model z ~ N(0, 1), x | z ~ N(w z + b, s^2) (s a standard deviation), and x drawn from it."""
    w, b, s = float(_split_signs(rng, 0.8, 2.0)), float(rng.normal(0, 1)), float(rng.uniform(0.5, 1.0))
    z = rng.normal(size=4)
    return {"w": w, "b": b, "s": s, "x": w * z + b + s * rng.normal(size=4)}


def _linear_log_likelihood(case):
    w, b, s = case["w"], case["b"], case["s"]

    def log_likelihood(x, z):  # log N(x | w z + b, s^2), broadcasting x against z
        return -0.5 * math.log(2 * math.pi * s**2) - (x - (w * z + b)) ** 2 / (2 * s**2)

    return log_likelihood


def _mc_given_z_cases(rng, kind):
    if kind == "visible":
        return [{"w": 1.0, "b": 0.0, "s": 1.0, "x": np.array([0.0, 1.0]), "z": np.array([-1.0, 0.0, 1.0])}]
    cases = []
    for n_samples in (1, 50):
        case = _linear_latent_model(rng)
        case["z"] = rng.normal(size=n_samples)
        cases.append(case)
    tiny = _linear_latent_model(rng)  # p(x | z) ~ exp(-1000): a naive mean of exp(log p) underflows to log 0
    tiny.update(s=0.05, x=np.array([tiny["b"] + 6 * abs(tiny["w"]), tiny["b"] - 5 * abs(tiny["w"])]),
                z=rng.normal(size=30) * 0.5)
    cases.append(tiny)
    return cases


def _mc_given_z_call(func, case):
    return func(_tensor(case["x"]), _linear_log_likelihood(case), len(case["z"]), z=_tensor(case["z"]))


def _mc_given_z_assess(case, value):
    x = np.float32(case["x"]).astype(np.float64)
    z = np.float32(case["z"]).astype(np.float64)[:, None]
    s = case["s"]
    log_lik = -0.5 * np.log(2 * np.pi * s**2) - (x - (case["w"] * z + case["b"])) ** 2 / (2 * s**2)  # (S, batch)
    expected = _logsumexp(log_lik, axis=0) - np.log(len(z))
    actual = expect_tensor(value, shape=expected.shape, what="the estimate of log p(x) (one per data point)")
    expect_close(actual, expected, rtol=1e-4, atol=1e-3, what="the estimate of log p(x) from the given z")


register(Check(
    name="mc_log_marginal_given_z",
    cases=_mc_given_z_cases, call=_mc_given_z_call, assess=_mc_given_z_assess,
    section=f"{BOOK}, {CH2}, section 'Naive Monte Carlo over the prior'",
    what="log (1/S) sum_s p(x | z_s) for the given prior samples z_s, computed in log space (log-mean-exp)",
))

MC_MARGINAL_N = 20_000


def _mc_marginal_cases(rng, kind):
    if kind == "visible":
        cases = [{"w": 1.0, "b": 0.0, "s": 1.0, "x": np.array([0.0, 1.0])}]
    else:
        cases = [_linear_latent_model(rng) for _ in range(3)]
    for case in cases:
        case["n_samples"] = MC_MARGINAL_N
        case["delta"] = case_delta(len(cases))
    return cases


def _mc_marginal_call(func, case):
    return func(_tensor(case["x"]), _linear_log_likelihood(case), case["n_samples"])


def _mc_marginal_statistics(case):
    """Estimate: p_hat(x) = exp(returned value) = (1/n) sum_s p(x | z_s), unbiased for p(x) when z_s ~ p(z).

    Truth p(x) = N(x | b, w^2 + s^2). Single-sample variance (analytic): E[p(x|z)^2] - p(x)^2 with
    E_z[N(x | w z + b, s^2)^2] = N(x | b, w^2 + s^2 / 2) / (2 sqrt(pi) s). n = 20,000 prior samples.
    delta = 1e-6 over 3 cases x 4 points (z = 5.7). Power against 'z from torch.rand instead of N(0, 1)', measured
    by tests/test_grading_correctness_power.py (worst of 10 case draws, best point): |b| = 0.027 against a tolerance
    z sd = 0.0069 (the mutant's own sd 0.0009): power 1 - 1e-12 or better."""
    x, w, b, s = np.float32(case["x"]).astype(np.float64), case["w"], case["b"], case["s"]

    def normal(v, var):
        return np.exp(-0.5 * (v - b) ** 2 / var) / np.sqrt(2 * np.pi * var)

    p = normal(x, w**2 + s**2)
    second = normal(x, w**2 + s**2 / 2) / (2 * np.sqrt(np.pi) * s)
    return StatSpec(p, np.sqrt((second - p**2) / case["n_samples"]), case["delta"],
                    [f"data point {i + 1} (x = {v:.3g})" for i, v in enumerate(x)])


def _mc_marginal_estimate(case, value):
    return np.exp(expect_tensor(value, shape=(len(case["x"]),), what="the estimate of log p(x)"))


register(Check(
    name="mc_log_marginal",
    cases=_mc_marginal_cases, call=_mc_marginal_call,
    assess=statistical_assess(_mc_marginal_statistics, _mc_marginal_estimate, "exp(your estimate of log p(x))"),
    statistics=_mc_marginal_statistics, estimate=_mc_marginal_estimate,
    section=f"{BOOK}, {CH2}, section 'Naive Monte Carlo over the prior'",
    what="with z drawn from the prior N(0, 1) by your function, exp(estimate) is an unbiased estimate of p(x)",
))


# ==========================================================================================================
# ps2_autoencoders
# ==========================================================================================================
def _pca_data(rng, n: int, eigenvalues, offset_scale: float) -> np.ndarray:
    """n points in d = len(eigenvalues) dimensions: covariance Q diag(eigenvalues) Q^T (random rotation Q, a clear
    gap after the top directions) and a mean of size ~offset_scale (0: the data is centred exactly)."""
    d = len(eigenvalues)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    x = rng.normal(size=(n, d)) * np.sqrt(np.asarray(eigenvalues)) @ q.T
    if offset_scale == 0:
        return x - x.mean(0, keepdims=True)
    return x + rng.normal(0, offset_scale, size=d)


def _pca_basis_cases(rng, kind):
    if kind == "visible":
        return [{"x": np.array([[4.0, 4.0], [6.0, 6.0], [5.5, 5.4], [4.5, 4.6]]), "k": 1},
                {"x": _pca_data(rng, 50, [5.0, 2.0, 0.3, 0.1], 3.0), "k": 2}]
    return [{"x": _pca_data(rng, 200, [8.0, 4.0, 2.0, 0.5, 0.3, 0.2][: d], 6.0), "k": k}
            for d, k in [(5, 2), (6, 3), (4, 1)]]


def _pca_basis_call(func, case):
    return func(_tensor(case["x"], "float64"), case["k"])


def _pca_basis_assess(case, value):
    from vaelib.pca import pca_basis, principal_angles

    x, k = case["x"], case["k"]
    basis = expect_array(value, shape=(x.shape[1], k), what="the basis (one column per principal direction)")
    gram_error = np.abs(basis.T @ basis - np.eye(k)).max()
    if gram_error > 1e-4:
        raise CheckFailure(f"The columns of your basis are not orthonormal: B^T B differs from the identity by "
                           f"{gram_error:.3g}.")
    worst = principal_angles(basis, pca_basis(x, k)).max()
    if worst > 1e-3:
        raise CheckFailure(f"Your basis spans a different subspace from the top-{k} principal subspace of the "
                           f"(centred) data: the largest principal angle between them is {worst:.3g} rad.")


register(Check(
    name="pca_basis",
    cases=_pca_basis_cases, call=_pca_basis_call, assess=_pca_basis_assess,
    section=f"{BOOK}, {CH3}, section 'The linear auto encoder' (PCA by SVD of the centred data)",
    what="an orthonormal basis (d, k) of the top-k principal subspace of the centred data",
))


def _angles_cases(rng, kind):
    if kind == "visible":
        s = 1 / np.sqrt(2)
        return [{"a": np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), "b": np.array([[1.0, 0.0], [0.0, s], [0.0, s]])}]
    cases = []
    for d, k, m in [(6, 2, 3), (5, 2, 2), (7, 3, 1)]:
        a = rng.normal(size=(d, k)) * rng.uniform(0.2, 3.0, size=k)  # neither normalised nor orthogonal
        b = np.concatenate([a @ rng.normal(size=(k, min(k, m))) + 0.4 * rng.normal(size=(d, min(k, m))),
                            rng.normal(size=(d, m - min(k, m)))], axis=1) * rng.uniform(0.2, 3.0, size=m)
        cases.append({"a": a, "b": b})
    return cases


def _angles_call(func, case):
    return func(_tensor(case["a"], "float64"), _tensor(case["b"], "float64"))


def _angles_assess(case, value):
    from vaelib.pca import principal_angles

    expected = principal_angles(case["a"], case["b"])[: min(case["a"].shape[1], case["b"].shape[1])]
    actual = expect_array(value, shape=expected.shape, what="the principal angles (ascending, in radians)")
    expect_close(actual, expected, rtol=0, atol=2e-3, what="the principal angles (radians, ascending)")


register(Check(
    name="principal_angles",
    cases=_angles_cases, call=_angles_call, assess=_angles_assess,
    section=f"{BOOK}, {CH3}, section 'The subspace is unique, the matrices are not'",
    what="the principal angles (radians, ascending) between the column spaces of two matrices whose columns "
         "need not be orthonormal",
))


def _recon_cases(rng, kind):
    if kind == "visible":
        return [{"x": np.array([[1.0, 2.0]]), "U": np.array([[1.0, 0.0]]), "V": np.array([[1.0], [0.0]])}]
    return [{"x": rng.normal(size=(n, d)), "U": rng.normal(size=(k, d)), "V": rng.normal(size=(d, k))}
            for n, d, k in [(10, 4, 2), (30, 6, 3)]]


def _recon_call(func, case):
    return func(_tensor(case["x"], "float64"), _tensor(case["U"], "float64"), _tensor(case["V"], "float64"))


def _recon_assess(case, value):
    x, u, v = case["x"], case["U"], case["V"]
    expected = np.mean(np.sum((x - x @ u.T @ v.T) ** 2, axis=1))
    expect_close(expect_scalar(value, "the reconstruction error"), expected, rtol=1e-5, atol=1e-8,
                 what="the mean squared reconstruction error (summed over features, averaged over data points)")


register(Check(
    name="reconstruction_error",
    cases=_recon_cases, call=_recon_call, assess=_recon_assess,
    section=f"{BOOK}, {CH3}, section 'The linear auto encoder'",
    what="(1/n) sum_i ||x_i - V U x_i||^2 with U (k, d) the encoder and V (d, k) the decoder",
))

LINEAR_AE_MAX_ANGLE = 0.05  # rad; the reference reaches < 1e-3 on these data
LINEAR_AE_EXCESS = 1.02  # reconstruction error at most 2% above the PCA optimum


def _linear_ae_cases(rng, kind):
    eigen = [9.0, 5.0, 3.0, 0.6, 0.4, 0.3, 0.2, 0.1]
    if kind == "visible":
        return [{"x": _pca_data(rng, 300, eigen, 0.0), "k": 2}]
    return [{"x": _pca_data(rng, 300, eigen, 0.0), "k": int(rng.integers(2, 4))}]


def _linear_ae_call(func, case):
    return func(_tensor(case["x"], "float32"), case["k"])


def _linear_ae_assess(case, value):
    from vaelib.pca import pca_basis, principal_angles

    x, k = np.float32(case["x"]).astype(np.float64), case["k"]
    d = x.shape[1]
    u_value, v_value = expect_items(value, 2, "(U, V)")
    u = expect_array(u_value, shape=(k, d), what="the encoder U (code_dim, d)")
    v = expect_array(v_value, shape=(d, k), what="the decoder V (d, code_dim)")
    if np.linalg.svd(v, compute_uv=False).min() < 1e-6:
        raise CheckFailure("The columns of your decoder V are (nearly) linearly dependent: it spans fewer than "
                           f"{k} directions.")
    worst = principal_angles(v, pca_basis(x, k)).max()
    basis = pca_basis(x, k)
    optimum = np.mean(np.sum((x - x @ basis @ basis.T) ** 2, axis=1))
    error = np.mean(np.sum((x - x @ u.T @ v.T) ** 2, axis=1))
    if worst > LINEAR_AE_MAX_ANGLE:
        raise CheckFailure(f"The decoder's column space is not the top-{k} principal subspace: the largest "
                           f"principal angle is {worst:.3g} rad (must be below {LINEAR_AE_MAX_ANGLE}). "
                           "Train longer or with a larger learning rate, and check the loss.")
    if error > LINEAR_AE_EXCESS * optimum:
        raise CheckFailure(f"The reconstruction error of (U, V) is {error:.4g}; PCA reaches {optimum:.4g}. "
                           f"It must be within {100 * (LINEAR_AE_EXCESS - 1):.0f}% of it: U is not yet the "
                           "projection onto the decoder's subspace.")


register(Check(
    name="train_linear_autoencoder",
    cases=_linear_ae_cases, call=_linear_ae_call, assess=_linear_ae_assess,
    section=f"{BOOK}, {CH3}, section 'Training it finds the PCA subspace'",
    what="a linear auto encoder trained by gradient descent reaches the PCA subspace and the PCA reconstruction "
         "error (within 2%)",
))


# ==========================================================================================================
# ps3_elbo
# ==========================================================================================================
def _gaussian_kl_cases(rng: np.random.Generator, kind: str) -> list[dict]:
    if kind == "visible":
        return [{"mu": [[0.0, 0.0]], "log_var": [[0.0, 0.0]]},
                {"mu": [[1.0, -2.0]], "log_var": [[0.5, -1.0]]}]
    return [{"mu": rng.normal(0, 2, size=(b, d)).tolist(), "log_var": rng.normal(0, 1.5, size=(b, d)).tolist()}
            for b, d in [(1, 1), (7, 3), (32, 16)]]


def _gaussian_kl_call(func, case):
    import torch

    return func(torch.tensor(case["mu"], dtype=torch.float32), torch.tensor(case["log_var"], dtype=torch.float32))


def _gaussian_kl_assess(case, value):
    mu, log_var = np.asarray(case["mu"]), np.asarray(case["log_var"])
    expected = 0.5 * (mu**2 + np.exp(log_var) - 1.0 - log_var).sum(-1)  # Kingma & Welling 2014, App. B
    actual = expect_tensor(value, shape=(mu.shape[0],), what="the KL (one number per row of mu)")
    expect_close(actual, expected, what="the KL")


register(Check(
    name="gaussian_kl",
    cases=_gaussian_kl_cases,
    call=_gaussian_kl_call,
    assess=_gaussian_kl_assess,
    section=f"{BOOK}, {CH4}, the closed-form KL between a diagonal Gaussian and N(0, I)",
    what="KL(N(mu, diag(exp(log_var))) || N(0, I)) summed over the latent dimensions, one value per row",
))


def _bernoulli_cases(rng, kind):
    if kind == "visible":
        return [{"x": np.array([[1.0, 0.0]]), "logits": np.array([[0.0, 0.0]])},
                {"x": np.array([[1.0, 0.0, 1.0]]), "logits": np.array([[2.0, -1.0, 0.0]])}]
    x = (rng.random((3, 10)) < 0.5).astype(np.float64)
    logits = rng.normal(0, 3, size=(5, 3, 10))
    logits[0, :, :4] = _split_signs(rng, 40, 80, size=(3, 4))  # saturated pixels: sigmoid rounds to 0 or 1
    grey = rng.random((4, 7))
    return [{"x": x, "logits": logits}, {"x": grey, "logits": rng.normal(0, 2, size=(4, 7))}]


def _bernoulli_call(func, case):
    return func(_tensor(case["x"]), _tensor(case["logits"]))


def _bernoulli_assess(case, value):
    x, logits = np.float32(case["x"]).astype(np.float64), np.float32(case["logits"]).astype(np.float64)
    expected = np.sum(x * logits - _softplus(logits), axis=-1)
    actual = expect_tensor(value, shape=expected.shape,
                           what=f"log p(x|z) (summed over pixels: logits {tuple(logits.shape)} -> "
                                f"{tuple(expected.shape)})")
    expect_close(actual, expected, rtol=1e-4, atol=1e-3, what="log p(x|z)")


register(Check(
    name="bernoulli_log_likelihood",
    cases=_bernoulli_cases, call=_bernoulli_call, assess=_bernoulli_assess,
    section=f"{BOOK}, {CH4}, the Bernoulli decoder (log-likelihood from logits, summed over pixels)",
    what="sum over pixels of x log sigmoid(l) + (1 - x) log(1 - sigmoid(l)), broadcasting x against the logits "
         "and staying finite for logits of size 80",
))

# --- the ELBO and the IWAE bound of a small fixed encoder/decoder ---------------------------------------------
VAE_X_DIM, VAE_Z_DIM, VAE_HIDDEN = 12, 2, 8


def _tiny_vae(rng, batch: int, mu_offset: np.ndarray, log_var_offset: np.ndarray) -> dict:
    """Plain arrays for encoder(x) = (x A + a, x C + c) and decoder(z) = tanh(z W1 + b1) W2 + b2 (logits)."""
    return {
        "x": (rng.random((batch, VAE_X_DIM)) < 0.5).astype(np.float64),
        "A": rng.normal(0, 0.3, (VAE_X_DIM, VAE_Z_DIM)), "a": mu_offset,
        "C": rng.normal(0, 0.1, (VAE_X_DIM, VAE_Z_DIM)), "c": log_var_offset,
        "W1": np.clip(rng.normal(0, 1.0, (VAE_Z_DIM, VAE_HIDDEN)), -2.5, 2.5), "b1": rng.normal(0, 0.5, VAE_HIDDEN),
        "W2": rng.normal(0, 1.5, (VAE_HIDDEN, VAE_X_DIM)), "b2": rng.normal(0, 0.5, VAE_X_DIM),
    }


def _tiny_vae_cases(rng) -> list[dict]:
    """Two hidden cases: q far from the prior and narrow (mean offsets of size 1.5-2.5, log-variances near -2), and
    q wide (log-variances of size 0.8-1.5, either sign): together they expose prior samples, a missing or wrong KL
    and every sigma / sigma^2 / log-variance confusion."""
    far = _tiny_vae(rng, 3, _split_signs(rng, 1.5, 2.5, VAE_Z_DIM), rng.uniform(-2.5, -1.5, VAE_Z_DIM))
    wide = _tiny_vae(rng, 3, rng.normal(0, 0.5, VAE_Z_DIM), _split_signs(rng, 0.8, 1.5, VAE_Z_DIM))
    return [far, wide]


def _tiny_vae_modules(case, dtype: str = "float32"):
    import torch

    p = {k: _tensor(case[k], dtype) for k in ("A", "a", "C", "c", "W1", "b1", "W2", "b2")}

    def encoder(x):
        """x (batch, x_dim) -> (mu, log_var), each (batch, z_dim); log_var is the log-variance."""
        return x @ p["A"] + p["a"], x @ p["C"] + p["c"]

    def decoder(z):
        """z (..., z_dim) -> Bernoulli logits (..., x_dim)."""
        return torch.tanh(z @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]

    return encoder, decoder


def _tiny_vae_q(case):
    """mu, log_var (batch, z_dim) in float64 from the float32 parameters the student's process sees."""
    f32 = {k: np.float32(case[k]).astype(np.float64) for k in ("x", "A", "a", "C", "c")}
    return f32["x"] @ f32["A"] + f32["a"], f32["x"] @ f32["C"] + f32["c"]


def _tiny_vae_log_lik(case, z: np.ndarray, row: int) -> np.ndarray:
    """log p(x_row | z) for z (m, z_dim), float64."""
    f32 = {k: np.float32(case[k]).astype(np.float64) for k in ("x", "W1", "b1", "W2", "b2")}
    logits = np.tanh(z @ f32["W1"] + f32["b1"]) @ f32["W2"] + f32["b2"]
    return np.sum(f32["x"][row] * logits - _softplus(logits), axis=-1)


ELBO_N = 20_000  # samples the student's elbo() is asked for
_ELBO_CACHE: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _elbo_cases(rng, kind):
    if kind == "visible":
        cases = [_tiny_vae(rng, 2, np.array([0.5, -0.5]), np.array([-1.0, 0.5]))]
    else:
        cases = _tiny_vae_cases(rng)
    for case in cases:
        case.update(n_samples=ELBO_N, delta=case_delta(len(cases)))
    return cases


def _elbo_call(func, case):
    encoder, decoder = _tiny_vae_modules(case)
    return func(_tensor(case["x"]), encoder, decoder, case["n_samples"])


def _elbo_moments(case):
    """Per data point: the exact ELBO (quadrature for E_q[log p(x|z)], closed-form KL) and the single-sample
    variances of both textbook estimators: log p(x|z) - KL (analytic KL) and log p(x|z) + log p(z) - log q(z).
    Cached in-process by the case's content."""
    key = _case_key(case)
    if key not in _ELBO_CACHE:
        _ELBO_CACHE[key] = _elbo_moments_uncached(case)
    return _ELBO_CACHE[key]


def _elbo_moments_uncached(case):
    mu, log_var = _tiny_vae_q(case)
    nodes, weights = _normal_grid(VAE_Z_DIM)
    truth, var_analytic, var_sampled = [], [], []
    for i in range(len(mu)):
        sigma = np.exp(0.5 * log_var[i])
        z = mu[i] + sigma * nodes
        g = _tiny_vae_log_lik(case, z, i)
        kl = 0.5 * np.sum(mu[i] ** 2 + np.exp(log_var[i]) - 1.0 - log_var[i])
        h = g - 0.5 * np.sum(z**2, -1) + 0.5 * np.sum(nodes**2 + log_var[i], -1)  # + log p(z) - log q(z)
        e_g, e_h = weights @ g, weights @ h
        truth.append(e_g - kl)
        var_analytic.append(weights @ (g - e_g) ** 2)
        var_sampled.append(weights @ (h - e_h) ** 2)
    return np.array(truth), np.array(var_analytic), np.array(var_sampled)


def _elbo_statistics(case):
    """Truth: exact ELBO per data point (2-D trapezoid rule, step 0.07 on [-6, 6]^2, see _normal_grid; KL analytic).
    V: the larger of the two estimators' single-sample variances (analytic KL, or log p(x,z) - log q sampled),
    so both correct forms pass; sd = sqrt(V / n), n = 20,000. delta = 1e-6 over 2 cases x 3 data points.
    Power (tests/test_grading_correctness_power.py, worst of 10 case draws): bias |b| against the tolerance z sd:
    sigma^2 as the scale 0.33 vs 0.049; log_var as the scale 1.0 vs 0.30; KL added 2.9 vs 0.31; KL missing 5.1 vs
    0.049; prior samples 2.4 vs 0.31; mean over pixels 8.1 vs 0.049; sum over samples 4e5: power > 0.999999.
    (KL without the 1/2 or with log sigma / sigma confusions fail gaussian_kl, which elbo's KL reuses.)"""
    truth, var_analytic, var_sampled = _elbo_moments(case)
    sd = np.sqrt(np.maximum(var_analytic, var_sampled) / case["n_samples"])
    return StatSpec(truth, sd, case["delta"], [f"data point {i + 1}" for i in range(len(truth))])


def _elbo_estimate(case, value):
    return expect_tensor(value, shape=(len(case["x"]),), what="the ELBO (one number per data point)")


register(Check(
    name="elbo",
    cases=_elbo_cases, call=_elbo_call,
    assess=statistical_assess(_elbo_statistics, _elbo_estimate, "your ELBO estimate"),
    statistics=_elbo_statistics, estimate=_elbo_estimate,
    section=f"{BOOK}, {CH5}, section 'The ELBO identity', and {CH4} (the reparameterized Monte Carlo estimate)",
    what="the Monte Carlo ELBO E_q[log p(x|z)] - KL(q(z|x) || p(z)) per data point, with n_samples samples of q",
))

IWAE_K, IWAE_CALLS, IWAE_REFERENCE = 8, 200, 50_000
_IWAE_CACHE: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _iwae_cases(rng, kind):
    if kind == "visible":
        cases = [_tiny_vae(rng, 2, np.array([0.5, -0.5]), np.array([-1.0, 0.5]))]
    else:
        cases = _tiny_vae_cases(rng)
    for case in cases:
        case.update(n_samples=IWAE_K, calls=IWAE_CALLS, delta=case_delta(len(cases)))
    return cases


def _iwae_call(func, case):
    """Calls the student's iwae_bound `calls` times (fresh noise each call) and stacks the results (calls, batch),
    so the grader can average. A result of the wrong kind or shape is returned as it is, for the message."""
    import torch

    encoder, decoder = _tiny_vae_modules(case)
    x = _tensor(case["x"])
    results = []
    for _ in range(case["calls"]):
        result = func(x, encoder, decoder, case["n_samples"])
        if type(result) is not torch.Tensor or tuple(result.shape) != (len(x),):
            return result
        results.append(torch.Tensor.detach(result))
    return torch.stack(results)


def _case_key(case) -> str:
    digest = hashlib.sha256()
    for key in sorted(case):
        digest.update(key.encode() + np.ascontiguousarray(np.asarray(case[key], np.float64)).tobytes())
    return digest.hexdigest()


def _iwae_reference(case) -> tuple[np.ndarray, np.ndarray]:
    """Mean and single-call variance of the K-sample IWAE estimate per data point, from a trusted reference run
    (vaelib.probability.iwae_bound, 50,000 independent estimates per point; cached in-process)."""
    key = _case_key(case)
    if key not in _IWAE_CACHE:
        import torch

        from vaelib.probability import iwae_bound

        encoder, decoder = _tiny_vae_modules(
            {k: np.float32(v) if isinstance(v, np.ndarray) else v for k, v in case.items()}, "float32")
        generator_state, threads = torch.random.get_rng_state(), torch.get_num_threads()
        torch.manual_seed(int(key[:8], 16))
        torch.set_num_threads(1)  # small tensors: on a loaded machine extra intra-op threads only spin (8x slower)
        x = _tensor(np.float32(case["x"]), "float32")
        draws = []
        chunk = 10_000
        try:
            with torch.no_grad():
                for _ in range(IWAE_REFERENCE // chunk):
                    draws.append(iwae_bound(x.repeat(chunk, 1), encoder, decoder, case["n_samples"]).reshape(chunk, -1))
        finally:
            torch.random.set_rng_state(generator_state)
            torch.set_num_threads(threads)
        draws = torch.cat(draws).double().numpy()
        _IWAE_CACHE[key] = (draws.mean(0), draws.var(0, ddof=1))
    return _IWAE_CACHE[key]


def _iwae_statistics(case):
    """Truth: E[IWAE_K] (K = 8) from the reference run; V: its single-estimate variance times 1.1 (slack for the
    reference's own error in V). The student's estimate is the mean of 200 calls; sd = sqrt(1.1 V (1/200 +
    1/50,000)), the second term for the reference mean's error. delta = 1e-6 over 2 cases x 3 data points.
    Power (measured, worst of 10 case draws): averaging the log-weights (the ELBO) |b| = 7.0 vs tolerance 0.57;
    missing -log K 2.2 vs 0.47; missing log q 2.8 vs 0.57: power > 0.999999."""
    mean, variance = _iwae_reference(case)
    sd = np.sqrt(1.1 * variance * (1 / case["calls"] + 1 / IWAE_REFERENCE))
    return StatSpec(mean, sd, case["delta"], [f"data point {i + 1}" for i in range(len(mean))])


def _iwae_estimate(case, value):
    batch = len(case["x"])
    if value is not None and value.kind == "tensor" and tuple(value.shape) != (case["calls"], batch):
        raise CheckFailure(f"Expected the bound to be a tensor of shape ({batch},) (one per data point), got "
                           f"shape {tuple(value.shape)}.")
    return expect_tensor(value, what="the bound (one number per data point)").mean(0)


register(Check(
    name="iwae_bound",
    cases=_iwae_cases, call=_iwae_call,
    assess=statistical_assess(_iwae_statistics, _iwae_estimate, "the average of your IWAE estimates"),
    statistics=_iwae_statistics, estimate=_iwae_estimate,
    section=f"{BOOK}, {CH5}, section 'Aside: a tighter bound with more samples'",
    what="the importance-weighted bound log (1/K) sum_k p(x, z_k) / q(z_k | x) with K samples of q per data point",
))

# --- the linear-Gaussian model: exact quantities ----------------------------------------------------------------


def _lg_cases(rng, kind):
    if kind == "visible":
        return [{"x": np.array([1.0, 0.0]), "W": np.array([[1.0], [0.0]]), "b": np.array([0.0, 0.0]),
                 "noise_std": 1.0, "q_mean": np.array([0.5]), "q_cov": np.array([[0.5]])}]
    cases = []
    for d, k in [(5, 2), (4, 3)]:
        w, b = rng.normal(size=(d, k)), rng.normal(size=d)
        s = float(_away_from_one(rng))
        x = w @ rng.normal(size=k) + b + s * rng.normal(size=d)
        m = rng.normal(size=(k, k))
        cases.append({"x": x, "W": w, "b": b, "noise_std": s, "q_mean": rng.normal(size=k),
                      "q_cov": m @ m.T + 0.2 * np.eye(k)})
    return cases


def _lg_model(case):
    from vaelib.linear_gaussian import LinearGaussianModel

    return LinearGaussianModel(_tensor(case["W"], "float64"), _tensor(case["b"], "float64"), case["noise_std"])


def _lg_args(case):
    return _tensor(case["x"], "float64"), _tensor(case["W"], "float64"), _tensor(case["b"], "float64"), \
        float(case["noise_std"])


def _lg_marginal_assess(case, value):
    expected = float(_lg_model(case).log_marginal(_tensor(case["x"], "float64")))
    expect_close(expect_scalar(value, "log p(x)"), expected, rtol=1e-6, atol=1e-8, what="log p(x)")


register(Check(
    name="lg_log_marginal",
    cases=_lg_cases, call=lambda func, case: func(*_lg_args(case)), assess=_lg_marginal_assess,
    section=f"{BOOK}, {CH5}, section 'The ELBO identity' (the linear-Gaussian model), and {CH2}",
    what="the exact log p(x) = log N(x | b, W W^T + s^2 I) of the linear-Gaussian model (s a standard deviation)",
))


def _lg_posterior_assess(case, value):
    m_ref, s_ref = (t.numpy() for t in _lg_model(case).posterior(_tensor(case["x"], "float64")))
    mean_value, cov_value = expect_items(value, 2, "(posterior mean, posterior covariance)")
    k = len(m_ref)
    expect_close(expect_tensor(mean_value, shape=(k,), what="the posterior mean (k,)"), m_ref, rtol=1e-6,
                 atol=1e-8, what="the posterior mean")
    expect_close(expect_tensor(cov_value, shape=(k, k), what="the posterior covariance (k, k)"), s_ref, rtol=1e-6,
                 atol=1e-8, what="the posterior covariance")


register(Check(
    name="lg_posterior",
    cases=_lg_cases, call=lambda func, case: func(*_lg_args(case)), assess=_lg_posterior_assess,
    section=f"{BOOK}, {CH2}, section 'The posterior: Bayes' rule'",
    what="the exact posterior p(z | x) = N(m, S) of the linear-Gaussian model: S = (I + W^T W / s^2)^-1, "
         "m = S W^T (x - b) / s^2",
))


def _kl_full_cases(rng, kind):
    if kind == "visible":
        return [{"mu0": np.array([1.0]), "cov0": np.array([[2.0]]), "mu1": np.array([0.0]), "cov1": np.array([[1.0]])}]
    cases = []
    for k in (1, 2, 4):
        a, c = rng.normal(size=(k, k)), rng.normal(size=(k, k))
        cases.append({"mu0": rng.normal(size=k), "cov0": a @ a.T + 0.3 * np.eye(k), "mu1": rng.normal(size=k),
                      "cov1": c @ c.T + 0.3 * np.eye(k)})
    return cases


def _kl_full_assess(case, value):
    from vaelib.linear_gaussian import gaussian_kl_full

    expected = float(gaussian_kl_full(*(_tensor(case[k], "float64") for k in ("mu0", "cov0", "mu1", "cov1"))))
    expect_close(expect_scalar(value, "the KL"), expected, rtol=1e-6, atol=1e-8, what="KL(N0 || N1)")


register(Check(
    name="gaussian_kl_full",
    cases=_kl_full_cases,
    call=lambda func, case: func(*(_tensor(case[k], "float64") for k in ("mu0", "cov0", "mu1", "cov1"))),
    assess=_kl_full_assess,
    section=f"{BOOK}, {CH5}, section 'KL ≥ 0, hence a lower bound'",
    what="KL(N(mu0, cov0) || N(mu1, cov1)) for full covariance matrices",
))


def _lg_elbo_assess(case, value):
    q_mean, q_cov = _tensor(case["q_mean"], "float64"), _tensor(case["q_cov"], "float64")
    expected = float(_lg_model(case).elbo(_tensor(case["x"], "float64"), q_mean, q_cov))
    expect_close(expect_scalar(value, "the ELBO"), expected, rtol=1e-6, atol=1e-8, what="the exact ELBO")


register(Check(
    name="lg_elbo",
    cases=_lg_cases,
    call=lambda func, case: func(*_lg_args(case), _tensor(case["q_mean"], "float64"),
                                 _tensor(case["q_cov"], "float64")),
    assess=_lg_elbo_assess,
    section=f"{BOOK}, {CH5}, section 'The ELBO identity'",
    what="the exact ELBO E_q[log p(x, z) - log q(z)] of the linear-Gaussian model for a Gaussian q = N(q_mean, "
         "q_cov) (q_cov a full covariance matrix)",
))


# ==========================================================================================================
# ps4_gradients
# ==========================================================================================================
REPARAM_N = 4096  # rows of mu in the sampling case


def _reparam_cases(rng, kind):
    if kind == "visible":
        cases = [
            {"mode": "eps", "mu": np.array([[0.0, 1.0]]), "log_var": np.array([[0.0, 2 * np.log(2.0)]]),
             "eps": np.array([[[1.0, 1.0]]])},
            {"mode": "grad", "mu": np.array([[0.0]]), "log_var": np.array([[0.0]]), "eps": np.array([[1.0]]),
             "weights": np.array([[1.0]])},
            {"mode": "sample", "mu": np.array([0.0, 3.0]), "log_var": np.array([0.0, -2.0])},
        ]
    else:
        b, d = int(rng.integers(2, 6)), int(rng.integers(1, 4))
        cases = [
            {"mode": "eps", "mu": rng.normal(0, 2, (b, d)), "log_var": _split_signs(rng, 0.5, 2.0, (b, d)),
             "eps": rng.normal(size=(3, b, d))},
            {"mode": "grad", "mu": rng.normal(0, 2, (b, d)), "log_var": _split_signs(rng, 0.5, 2.0, (b, d)),
             "eps": rng.normal(size=(b, d)), "weights": rng.normal(size=(b, d))},
            {"mode": "sample", "mu": rng.normal(0, 2, 4), "log_var": _split_signs(rng, 1.0, 2.0, 4)},
        ]
    n_stat = sum(case["mode"] == "sample" for case in cases)
    for case in cases:
        if case["mode"] == "sample":
            case.update(n=REPARAM_N, delta=case_delta(n_stat))
    return cases


def _reparam_call(func, case):
    import torch

    if case["mode"] == "eps":
        return func(_tensor(case["mu"]), _tensor(case["log_var"]), eps=_tensor(case["eps"]))
    if case["mode"] == "grad":
        mu = _tensor(case["mu"]).requires_grad_(True)
        log_var = _tensor(case["log_var"]).requires_grad_(True)
        z = func(mu, log_var, eps=_tensor(case["eps"]))
        if type(z) is not torch.Tensor or not z.requires_grad:
            return z  # assess explains: no gradient can flow back
        return torch.autograd.grad((z * _tensor(case["weights"])).sum(), (mu, log_var), allow_unused=True)
    n = case["n"]
    return func(_tensor(case["mu"]).expand(n, -1).clone(), _tensor(case["log_var"]).expand(n, -1).clone())


def _reparam_exact(case, value):
    mu, log_var, eps = (np.float32(case[k]).astype(np.float64) for k in ("mu", "log_var", "eps"))
    sigma = np.exp(0.5 * log_var)
    if case["mode"] == "eps":
        expected = mu + sigma * eps
        actual = expect_tensor(value, shape=expected.shape, what="z (the shape of eps broadcast against mu)")
        expect_close(actual, expected, rtol=1e-5, atol=1e-5, what="z = mu + sigma * eps with sigma = exp(log_var/2)")
        return
    if value is not None and value.kind == "tensor":
        raise CheckFailure("The returned z does not depend differentiably on mu and log_var (requires_grad is "
                           "False): was it detached, computed under torch.no_grad(), or rebuilt from numbers?")
    grad_mu_value, grad_lv_value = expect_items(value, 2, "the gradients (d/dmu, d/dlog_var)")
    weights = np.float32(case["weights"]).astype(np.float64)
    for item, expected, label in [(grad_mu_value, weights, "d/dmu"),
                                  (grad_lv_value, weights * eps * 0.5 * sigma, "d/dlog_var")]:
        if item.kind != "tensor":
            raise CheckFailure(f"No gradient reached {label[2:]} through z: it is not used (or used only through "
                               "a detached copy).")
        actual = expect_tensor(item, shape=expected.shape, what=f"the gradient {label} of sum(w * z)")
        expect_close(actual, expected, rtol=1e-4, atol=1e-5, what=f"the gradient {label} of sum(w * z)")


def _reparam_statistics(case):
    """Sampling case (eps=None): e = (z - mu) / sigma computed by the grader must be N(0, 1): per column, the mean
    of e (V = 1) and the mean of e^2 (V = Var(eps^2) = 2), n = 4,096 rows, 2 d components, delta = 1e-6.
    Power (measured, worst of 10 case draws): sigma^2 as the scale in the sampling branch |b| = 0.74 vs tolerance
    0.12 (|log_var| >= 1 makes E[e^2] = sigma^2 >= e or <= 1/e); torch.rand for eps 0.50 vs 0.083: power >
    0.999999. Detach / no_grad / sigma^2 with a given eps fail the exact cases."""
    if case["mode"] != "sample":
        return None
    d = len(case["mu"])
    sd = np.concatenate([np.full(d, 1.0), np.full(d, np.sqrt(2.0))]) / np.sqrt(case["n"])
    labels = [f"mean of (z - mu)/sigma in column {j + 1}" for j in range(d)] + \
             [f"mean of ((z - mu)/sigma)^2 in column {j + 1}" for j in range(d)]
    return StatSpec(np.concatenate([np.zeros(d), np.ones(d)]), sd, case["delta"], labels)


def _reparam_estimate(case, value):
    mu, log_var = (np.float32(case[k]).astype(np.float64) for k in ("mu", "log_var"))
    z = expect_tensor(value, shape=(case["n"], len(mu)), what="z (same shape as mu when eps is None)")
    e = (z - mu) / np.exp(0.5 * log_var)
    return np.concatenate([e.mean(0), (e**2).mean(0)])


register(Check(
    name="reparameterize",
    cases=_reparam_cases, call=_reparam_call,
    assess=statistical_assess(_reparam_statistics, _reparam_estimate, "your samples z", exact=_reparam_exact),
    statistics=_reparam_statistics, estimate=_reparam_estimate,
    section=f"{BOOK}, {CH6}, the reparameterization z = mu + sigma * eps",
    what="z = mu + exp(log_var / 2) * eps, exact for a given eps, differentiable in (mu, log_var), and N(mu, "
         "sigma^2) distributed when eps is drawn by your function",
))

# --- gradient estimators for E_{z ~ N(mu, sigma^2)}[f(z)], f a polynomial ---------------------------------------
SCORE_N, PATHWISE_N = 400_000, 50_000


def _poly(coeffs):
    """f(z) = sum_j c_j z^j as a torch-friendly function (works on tensors, keeps autograd)."""
    coeffs = [float(c) for c in coeffs]

    def f(z):
        return sum(c * z**j for j, c in enumerate(coeffs))

    return f


def _estimator_cases(n):
    def cases(rng, kind):
        if kind == "visible":
            out = [{"coeffs": [0.0, 0.0, 1.0], "mu": 1.0, "sigma": 1.0}]
        else:
            k = float(rng.uniform(-3, 3))
            # sigma > 1.35 in the quadratic case: sigma, sigma^2 and 1/(2 sigma) (the d/dsigma^2 score) all differ
            out = [{"coeffs": [k * k, -2 * k, 1.0], "mu": float(_split_signs(rng, 0.5, 2.0)),
                    "sigma": float(rng.uniform(1.35, 2.2))},
                   {"coeffs": [float(rng.normal()), float(rng.normal()), float(rng.normal()),
                               float(_split_signs(rng, 0.2, 0.5))],
                    "mu": float(_split_signs(rng, 0.5, 1.5)), "sigma": float(_away_from_one(rng))}]
        for case in out:
            case.update(n_samples=n, delta=case_delta(len(out)))
        return out

    return cases


def _estimator_call(func, case):
    return func(_poly(case["coeffs"]), case["mu"], case["sigma"], case["n_samples"])


def _per_sample_estimates(case, eps: np.ndarray) -> dict[str, np.ndarray]:
    """The four single-sample estimates at noise eps (any shape): score-function and pathwise, d/dmu and d/dsigma."""
    c = np.asarray(case["coeffs"], np.float64)
    mu, sigma = case["mu"], case["sigma"]
    z = mu + sigma * eps
    f = np.polynomial.polynomial.polyval(z, c)
    df = np.polynomial.polynomial.polyval(z, np.polynomial.polynomial.polyder(c))
    return {"score_mu": f * eps / sigma, "score_sigma": f * (eps**2 - 1) / sigma,
            "path_mu": df, "path_sigma": df * eps}


def _estimator_statistics(kind_prefix: str):
    def statistics(case):
        """Truth (d/dmu, d/dsigma) = (E f'(z), E[f'(z) eps]) and the single-sample variances of the estimator,
        both by 60-node Gauss-Hermite quadrature (exact for these polynomials; for (z - k)^2 it reproduces the
        table in shared/notes/statistical-grading.md). sd = sqrt(V / n)."""
        nodes, weights = _gauss_hermite(60, 1)
        per = _per_sample_estimates(case, nodes[:, 0])
        truth = np.array([weights @ per["path_mu"], weights @ per["path_sigma"]])
        samples = [per[f"{kind_prefix}_mu"], per[f"{kind_prefix}_sigma"]]
        variance = np.array([weights @ (s - t) ** 2 for s, t in zip(samples, truth, strict=True)])
        return StatSpec(truth, np.sqrt(variance / case["n_samples"]), case["delta"],
                        ["d/dmu", "d/dsigma (sigma a standard deviation)"])

    return statistics


def _estimator_estimate(case, value):
    return expect_tensor(value, shape=(2,), what="the gradient estimate [d/dmu, d/dsigma]")


register(Check(
    name="score_function_gradient",
    cases=_estimator_cases(SCORE_N), call=_estimator_call,
    assess=statistical_assess(_estimator_statistics("score"), _estimator_estimate,
                              "your score-function gradient estimate"),
    statistics=_estimator_statistics("score"), estimate=_estimator_estimate,
    section=f"{BOOK}, {CH6}, the score-function (REINFORCE) estimator",
    what="the score-function estimate of grad_(mu, sigma) E_{z ~ N(mu, sigma^2)}[f(z)] from n_samples samples",
))
# delta = 1e-6 over 2 cases x 2 components (z = 5.6); n = 400,000; V up to ~3e3 (e.g. 2a^4/sigma^2 + 60a^2 +
# 74 sigma^2 for d/dsigma of (z - k)^2). Power (tests/test_grading_correctness_power.py, worst of 10 case draws,
# bias |b| vs tolerance z sd): f(z) missing 8.4 vs 0.16; the score missing 29 vs 0.16; the d/dsigma^2 score
# 2.7 vs 0.31; z in place of eps in the score 7.5 vs 0.11: power > 0.999999.

register(Check(
    name="pathwise_gradient",
    cases=_estimator_cases(PATHWISE_N), call=_estimator_call,
    assess=statistical_assess(_estimator_statistics("path"), _estimator_estimate, "your pathwise gradient estimate"),
    statistics=_estimator_statistics("path"), estimate=_estimator_estimate,
    section=f"{BOOK}, {CH6}, the pathwise (reparameterization) estimator",
    what="the pathwise estimate of grad_(mu, sigma) E_{z ~ N(mu, sigma^2)}[f(z)], differentiating f(mu + sigma "
         "eps) by autograd, from n_samples samples",
))
# delta = 1e-6 over 2 cases x 2 components; n = 50,000; V <= 4 a^2 + 8 sigma^2 (quadratic) or the cubic's analogue.
# .detach() or torch.no_grad raise (no graph: deterministic failure). Power (measured, worst of 10 draws):
# sigma^2 in place of sigma |b| = 22 vs tolerance 0.23; a sum over samples 2e5 vs 0.12: power > 0.999999.

GRADVAR_N = 2000


def _gradvar_cases(rng, kind):
    if kind == "visible":
        return [{"coeffs": [0.0, 0.0, 1.0], "mu": 1.0, "sigma": 1.0, "eps": np.random.default_rng(0).normal(size=8)}]
    k = float(rng.uniform(1, 4))
    return [{"coeffs": [k * k, -2 * k, 1.0], "mu": float(_split_signs(rng, 0.5, 2.0)),
             "sigma": float(_away_from_one(rng)), "eps": rng.normal(size=GRADVAR_N)}]


def _gradvar_call(func, case):
    return func(_poly(case["coeffs"]), case["mu"], case["sigma"], _tensor(case["eps"]))


def _gradvar_assess(case, value):
    eps = np.float32(case["eps"]).astype(np.float64)
    per = _per_sample_estimates(case, eps)
    expected = np.array([[np.var(per["score_mu"], ddof=1), np.var(per["score_sigma"], ddof=1)],
                         [np.var(per["path_mu"], ddof=1), np.var(per["path_sigma"], ddof=1)]])
    actual = expect_tensor(value, shape=(2, 2), what="the variances [[score d/dmu, score d/dsigma], "
                                                     "[pathwise d/dmu, pathwise d/dsigma]]")
    # 1/n or 1/(n-1) are both accepted: they differ by a factor n/(n-1)
    expect_close(actual, expected, rtol=1.5 / (len(eps) - 1) + 1e-4, atol=1e-6,
                 what="the single-sample variances (rows: score function, pathwise; columns: d/dmu, d/dsigma)")


register(Check(
    name="gradient_variances",
    cases=_gradvar_cases, call=_gradvar_call, assess=_gradvar_assess,
    section=f"{BOOK}, {CH6}, comparing the variance of the two estimators",
    what="the variance of one sample's score-function and pathwise gradient estimates, measured on the given eps",
))

# --- the Monte Carlo gradient with respect to the decoder's parameters theta ------------------------------------
DECODER_N = 20_000
DEC_X_DIM, DEC_Z_DIM = 6, 2


def _decoder_case(rng, mu, log_var) -> dict:
    return {"x": (rng.random((len(mu), DEC_X_DIM)) < 0.5).astype(np.float64), "mu": mu, "log_var": log_var,
            "weight": rng.normal(0, 1.0, (DEC_X_DIM, DEC_Z_DIM)), "bias": rng.normal(0, 0.5, DEC_X_DIM)}


def _decoder_cases(rng, kind):
    if kind == "visible":
        cases = [_decoder_case(rng, np.array([[0.5, -0.5]]), np.array([[-1.0, 0.0]]))]
    else:
        cases = [_decoder_case(rng, _split_signs(rng, 1.5, 2.5, (2, DEC_Z_DIM)), rng.uniform(-2, -1, (2, DEC_Z_DIM))),
                 _decoder_case(rng, rng.normal(0, 0.5, (2, DEC_Z_DIM)), _split_signs(rng, 0.8, 1.5, (2, DEC_Z_DIM)))]
    for case in cases:
        case.update(n_samples=DECODER_N, delta=case_delta(len(cases)))
    return cases


def _decoder_call(func, case):
    import torch

    decoder = torch.nn.Linear(DEC_Z_DIM, DEC_X_DIM)
    with torch.no_grad():
        decoder.weight.copy_(_tensor(case["weight"]))
        decoder.bias.copy_(_tensor(case["bias"]))
    result = func(_tensor(case["x"]), _tensor(case["mu"]), _tensor(case["log_var"]), decoder, case["n_samples"])
    return tuple(result) if type(result) is list else result


_DECODER_CACHE: dict[str, StatSpec] = {}


def _decoder_statistics(case):
    """Truth: grad_theta sum_i E_q[log p(x_i | z)] for the linear decoder logits = W z + b (grad_b = x - sigmoid,
    grad_W = (x - sigmoid) z^T) by 2-D quadrature (_normal_grid). V: per component
    (sum_i sd_i)^2, the largest variance the batch sum can have whatever the correlation between data points
    (so sharing eps across the batch is fine too); sd = sqrt(V / n), n = 20,000; delta = 1e-6 over 2 cases x 18
    components (z = 6.2). Power (tests/test_grading_correctness_power.py, worst of 10 case draws, |b| vs z sd):
    samples from the prior 0.19 vs 0.049; the gradient of the loss (sign) 0.32 vs 0.049; mean over pixels 0.13 vs
    0.049: power > 0.999999. Cached in-process by the case's content."""
    key = _case_key(case)
    if key not in _DECODER_CACHE:
        _DECODER_CACHE[key] = _decoder_statistics_uncached(case)
    return _DECODER_CACHE[key]


def _decoder_statistics_uncached(case):
    f32 = {k: np.float32(case[k]).astype(np.float64) for k in ("x", "mu", "log_var", "weight", "bias")}
    nodes, weights = _normal_grid(DEC_Z_DIM)
    truth, sd_sum = 0.0, 0.0
    for i in range(len(f32["x"])):
        z = f32["mu"][i] + np.exp(0.5 * f32["log_var"][i]) * nodes
        residual = f32["x"][i] - 1.0 / (1.0 + np.exp(-(z @ f32["weight"].T + f32["bias"])))  # (m, x_dim)
        per = np.concatenate([(residual[:, :, None] * z[:, None, :]).reshape(len(z), -1), residual], axis=1)
        mean = weights @ per
        truth = truth + mean
        sd_sum = sd_sum + np.sqrt(weights @ (per - mean) ** 2)
    labels = [f"d/dweight[{r}, {c}]" for r in range(DEC_X_DIM) for c in range(DEC_Z_DIM)] + \
             [f"d/dbias[{r}]" for r in range(DEC_X_DIM)]
    return StatSpec(truth, sd_sum / np.sqrt(case["n_samples"]), case["delta"], labels)


def _decoder_estimate(case, value):
    grad_w, grad_b = expect_items(value, 2, "the gradients (one per decoder parameter: weight, bias)")
    return np.concatenate([
        expect_tensor(grad_w, shape=(DEC_X_DIM, DEC_Z_DIM), what="the gradient for decoder.weight").reshape(-1),
        expect_tensor(grad_b, shape=(DEC_X_DIM,), what="the gradient for decoder.bias")])


register(Check(
    name="decoder_gradient",
    cases=_decoder_cases, call=_decoder_call,
    assess=statistical_assess(_decoder_statistics, _decoder_estimate, "your estimate of grad_theta ELBO"),
    statistics=_decoder_statistics, estimate=_decoder_estimate,
    section=f"{BOOK}, {CH5}, section 'The gradient with respect to θ'",
    what="the Monte Carlo estimate of grad_theta of the batch's ELBO (sum over data points), one tensor per decoder "
         "parameter, with n_samples samples of q per data point",
))

# --- training a VAE on the digits -------------------------------------------------------------------------------
VAE_ARCH = {"x_dim": 64, "hidden": 128, "z_dim": 4}  # the notebook tells the student to use exactly this
VAE_ELBO_THRESHOLD = -21.0  # nats per held-out image; the reference reaches -18.4 to -19.4 in ~3 s; a collapsed
# posterior or a decoder that ignores z gives -24.5, an untrained model -44


def _vae_keys() -> list[tuple[str, tuple[int, ...]]]:
    from vaelib.models import VAE

    return [(k, tuple(v.shape)) for k, v in VAE(**VAE_ARCH).state_dict().items()]


def _vae_cases(rng, kind):
    return [{"n_samples": 5 if kind == "visible" else 20, "seed": int(rng.integers(0, 2**31))}]


def _vae_call(model, case):
    """`model` is the student's trained vaelib.models.VAE; hand back its weights as plain tensors, in a fixed order."""
    import torch

    state = model.state_dict()
    missing = [k for k, _ in _vae_keys() if k not in state]
    if missing:
        raise KeyError(f"the model has no parameter {missing[0]!r}: build it as vaelib.models.VAE(x_dim=64, "
                       "hidden=128, z_dim=4)")
    return tuple(torch.Tensor.detach(state[k]).to("cpu", torch.float32).clone() for k, _ in _vae_keys())


def _vae_assess(case, value):
    import torch

    from vaelib.data import digits
    from vaelib.models import VAE
    from vaelib.probability import elbo

    keys = _vae_keys()
    items = expect_items(value, len(keys), "the model's weights")
    state = {k: torch.tensor(expect_tensor(item, shape=shape, what=f"the weights {k}"), dtype=torch.float32)
             for (k, shape), item in zip(keys, items, strict=True)}
    model = VAE(**VAE_ARCH)
    model.load_state_dict(state)
    model.eval()
    _, _, x_test, _ = digits(binarize=True)
    generator_state, threads = torch.random.get_rng_state(), torch.get_num_threads()
    torch.manual_seed(case["seed"])
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            value_elbo = elbo(x_test, model.encode, model.decode, n_samples=case["n_samples"]).mean().item()
    finally:
        torch.random.set_rng_state(generator_state)
        torch.set_num_threads(threads)
    if not value_elbo >= VAE_ELBO_THRESHOLD:
        raise CheckFailure(f"The held-out ELBO of your trained model, evaluated by the grader with "
                           f"{case['n_samples']} samples per image, is {value_elbo:.2f} nats per image; it must be "
                           f"at least {VAE_ELBO_THRESHOLD}. (The reference reaches about -19 in a few seconds.)")


register(Check(
    name="vae_heldout_elbo",
    cases=_vae_cases, call=_vae_call, assess=_vae_assess,
    section=f"{BOOK}, {CH6}, training the VAE with the pathwise estimator, and {CH4}",
    what=f"your trained VAE (vaelib.models.VAE(x_dim=64, hidden=128, z_dim=4)) reaches a held-out ELBO of at "
         f"least {VAE_ELBO_THRESHOLD} nats per image on the binarized digits test split",
))
# The evaluation noise is negligible: the mean over 360 test images x 20 samples has sd < 0.05 nats, against a
# margin of at least 1.6 nats between the reference and the threshold and 3.5 nats to a collapsed model.
