"""Judging: every judgement the autograder makes (grader side only; never mounted in the grading sandbox).

:mod:`.base` has :func:`judge` and the registry of :class:`Judge` objects, :mod:`.records` validates what the
student's process sent, :mod:`.compare` holds the exact and statistical comparisons, and one module per assignment,
named like its partner in autograder/student/cases/ (found there, never listed by hand), registers its judges.
Each statistical judge's docstring states its variance source, n, delta and its measured power against the bugs it
must catch (tests/test_grading_correctness_power.py re-measures it).
"""

from ..student import cases as _student_cases  # noqa: F401  (the probes the judges pair with)
from ._discover import import_judge_modules
from .base import (
    JUDGES,
    CheckFailure,
    Judge,
    Verdict,
    judge,
    judge_outcome,
    passed_verdict,
    prepared_cases,
    register_judge,
)
from .misconceptions import diagnosis as _diagnosis  # noqa: F401  (the catalogue, loaded before judges fork)

import_judge_modules()  # one per assignment, paired by name with autograder/student/cases/<assignment>.py

__all__ = ["JUDGES", "CheckFailure", "Judge", "Verdict", "judge", "judge_outcome", "passed_verdict", "prepared_cases",
           "register_judge"]
