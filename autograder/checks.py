"""``check(name, func, kind="visible")``: what a test cell calls. A test cell only NAMES a check.

Inside the grader's sandbox a grading context is installed: ``check`` calls the student's function on cases drawn
from the grader's seed (autograder.student.probes) and records what came back, as plain data, for the grader to
judge in its own process. Nothing here decides a grade there, and the judging code is not even present.

Anywhere else (a student's self-check, ``python -m autograder check``, stock ``nbgrader autograde``) ``check``
probes and judges in this process (autograder.judging) and raises ``AssertionError(message)`` on failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .student import cases as _cases  # noqa: F401  (registers every probe)
from .student.probes import PROBES, VISIBLE_SEED, grading_context, probe, seed_for


def check(name: str, func: Callable, kind: str = "visible") -> None:
    if name not in PROBES:
        raise KeyError(f"unknown check {name!r}; known: {sorted(PROBES)}")
    if kind not in ("visible", "hidden"):
        raise ValueError("kind must be 'visible' or 'hidden'")
    context = grading_context()
    if context is not None:
        seed = seed_for(context.master_seed, name, kind)
        context.record(name, kind, probe(name, func, seed, kind))
        return
    try:
        from .judging import judge
    except ImportError:
        raise RuntimeError("this copy of the course has no judging code (autograder/judging): run the check "
                           "where the course is installed") from None
    seed = VISIBLE_SEED if kind == "visible" else int.from_bytes(os.urandom(8), "little") >> 1
    verdict = judge(name, seed, kind, probe(name, func, seed, kind))
    if not verdict.passed:
        raise AssertionError(verdict.message)
    print(f"ok: {verdict.message}")
