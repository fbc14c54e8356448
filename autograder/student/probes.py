"""Calling the student's functions on drawn cases, in the student's process; deciding nothing.

A :class:`Probe` says, for one check, how to draw its cases from a seed (``cases(rng, kind)``, plain data) and how
to call the student's function on one case (``call(func, case)``). :func:`probe` runs them and returns
:class:`~autograder.student.values.Outcome` records. The grader re-draws the same cases from the same seed and
judges the records (:mod:`autograder.judging`).
"""

from __future__ import annotations

import hashlib
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .values import MAX_ERROR_CHARS, Outcome, to_value

VISIBLE_SEED = 20261126  # visible cases are fixed so students see the same numbers every time


@dataclass(frozen=True)
class Probe:
    name: str
    cases: Callable[[np.random.Generator, str], list[dict]]
    call: Callable[[Callable, dict], Any]
    # its visible cases too are drawn from the grader's seed when graded (VISIBLE_SEED only outside grading): for a
    # check whose point is that nothing prepared in advance fits the data (ps4's training on transformed digits)
    drawn_at_grading: bool = False


PROBES: dict[str, Probe] = {}


def register_probe(probe_def: Probe) -> Probe:
    if probe_def.name in PROBES:
        raise ValueError(f"probe {probe_def.name!r} registered twice")
    PROBES[probe_def.name] = probe_def
    return probe_def


def derive_seed(master_seed: int, name: str, kind: str) -> int:
    """Per-check seed from a submission's master seed (so checks do not share random streams)."""
    digest = hashlib.sha256(f"{master_seed}:{name}:{kind}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def seed_for(master_seed: int, name: str, kind: str) -> int:
    """The seed a check's cases are drawn from while a submission is graded with ``master_seed``."""
    probe_def = PROBES.get(name)
    if kind == "visible" and not (probe_def is not None and probe_def.drawn_at_grading):
        return VISIBLE_SEED
    return derive_seed(master_seed, name, kind)


def draw_cases(name: str, seed: int, kind: str) -> list[dict]:
    return PROBES[name].cases(np.random.default_rng(seed), kind)


def describe_exception(error: BaseException) -> str:
    try:
        text = "".join(traceback.format_exception_only(type(error), error)).strip()
    except Exception:  # noqa: BLE001 - a student's exception with a broken __str__
        text = type(error).__name__
    return text[:MAX_ERROR_CHARS]


def call_case(probe_def: Probe, func: Callable, case: dict):
    """One case: the probe's call, or, for a scaling case (cases.common.scaling_case), the call at each of its two
    sample sizes."""
    sizes = case.get("sample_sizes")
    if sizes is None:
        return probe_def.call(func, case)
    return tuple(probe_def.call(func, dict(case, n_samples=n)) for n in sizes)


def probe(name: str, func: Callable, seed: int, kind: str) -> list[Outcome]:
    """Call ``func`` on every case and record what came back. Never raises for student errors."""
    probe_def = PROBES[name]
    outcomes = []
    for index, case in enumerate(draw_cases(name, seed, kind)):
        start = time.perf_counter()
        try:
            value = to_value(call_case(probe_def, func, case))
            outcomes.append(Outcome(index, value=value, seconds=time.perf_counter() - start))
        except Exception as error:  # the student's exception becomes data
            outcomes.append(Outcome(index, error=describe_exception(error), seconds=time.perf_counter() - start))
    return outcomes


class _Captured(Exception):  # noqa: N818 - not an error: stops a probe's call at its first call of the function
    pass


def arguments_of(name: str, case: dict) -> tuple[tuple, dict]:
    """The arguments (positional, keyword) the check ``name`` calls the student's function with on ``case`` (its
    first call: a statistical case calls it many times with the same arguments). Raises LookupError when the check
    does not call a function on it directly."""
    captured: list[tuple[tuple, dict]] = []

    def spy(*args, **kwargs):
        captured.append((args, kwargs))
        raise _Captured

    try:
        call_case(PROBES[name], spy, case)
    except _Captured:
        return captured[0]
    except Exception as error:  # noqa: BLE001 - a probe that needs a real function's result first
        raise LookupError(f"the check {name} does not call the function on its inputs directly") from error
    raise LookupError(f"the check {name} does not call the function on its inputs directly")


class GradingContext:
    """Installed by the grading runner in the student's process: ``check`` records instead of judging."""

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


def grading_context() -> GradingContext | None:
    return _context
