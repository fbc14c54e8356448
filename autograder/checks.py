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
# Checks. (Assignment-specific checks are added below / in further sections by assignment.)
# ----------------------------------------------------------------------------------------------------------
BOOK = "the book"


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
    section=f"{BOOK}, chapter 5 (The ELBO), the closed-form KL between a diagonal Gaussian and N(0, I)",
    what="KL(N(mu, diag(exp(log_var))) || N(0, I)) summed over the latent dimensions, one value per row",
))
