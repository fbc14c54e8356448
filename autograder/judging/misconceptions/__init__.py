"""The catalogue of misconceptions: for each graded function, the wrong ideas students of this lecture have, each
defined by a wrong implementation (grader side only; like the rest of autograder/judging it is never mounted in the
grading sandbox).

A :class:`Misconception` has an id (``kl_wrong_sign``), one or two sentences for the student (what they probably did
and why it is wrong), the book section to read, and the source of the wrong implementation that defines it. The same
sources are the realistic mutants the grading-correctness tests grade (tests/submissions/mutants.py builds them from
this catalogue): one definition for both.

When a check fails, :mod:`.diagnosis` runs the catalogue's implementations of that function on the same cases the
grader drew and compares the student's recorded outputs with theirs; a match on every case names the misconception
(autograder.judging.base.judge adds it to the verdict). One module per assignment registers its misconceptions.

Adding one: write the wrong implementation as a student would (it may call the notebook's other graded functions,
which the module's ``HELPERS`` provide, correct), its text and its reading, and :func:`register` it: here, in the
module named like the assignment (found by its name), or in the assignment's judge module (what ``python -m
autograder new`` writes for a new exercise). tests/test_misconceptions.py then checks that a submission with exactly
that bug is named under 20 grading seeds and that no other mutant is given its name.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sections import Reading


@dataclass(frozen=True)
class Misconception:
    """One wrong idea about one graded function.

    id: short unique slug (also the mutant's name in tests/submissions/mutants.py).
    assignment, function: where it lives (the function's name in the notebook).
    checks: the checks a submission with this bug fails on every grading seed (the tests diagnose it on each).
    summary: one line for instructors (the class report, the mutant's description).
    text: for the student: what they probably did, and why it is wrong.
    reading: the book section that explains the right idea.
    source: the wrong implementation (a ``def`` of ``function``; it may call the assignment's HELPERS).
    statistical: judged by a statistical check (the mutant's power is measured by the power tests).
    frozen: its calls repeat one draw of the noise (a seed fixed inside the function): on statistical cases a
        student matches it when every call returned the same value, whatever that value is (plausible for the
        estimator the docstring asks for), since the value depends on which seed they fixed.
    """

    id: str
    assignment: str
    function: str
    checks: tuple[str, ...]
    summary: str
    text: str
    reading: Reading
    source: str
    statistical: bool = False
    frozen: bool = False

    def describe(self) -> str:
        """The student's feedback line: the id, the text."""
        return f"[{self.id}] {self.text}"


CATALOGUE: dict[str, Misconception] = {}
HELPERS: dict[str, str] = {}  # assignment -> the source of the correct functions the wrong implementations may call

# the function a check tests, where the check is not named after it
CHECK_FUNCTIONS = {"mc_log_marginal_given_z": "mc_log_marginal", "vae_heldout_elbo": "train_vae"}


def function_of(check: str) -> str:
    """The graded function a check tests (a check's name is its function's, except where CHECK_FUNCTIONS says)."""
    return CHECK_FUNCTIONS.get(check, check)


def register(assignment: str, helpers: str, entries: list[Misconception]) -> None:
    HELPERS[assignment] = helpers
    for entry in entries:
        if entry.id in CATALOGUE:
            raise ValueError(f"misconception {entry.id!r} registered twice")
        if entry.assignment != assignment:
            raise ValueError(f"misconception {entry.id!r} belongs to {entry.assignment}, not {assignment}")
        CATALOGUE[entry.id] = entry


def for_check(check: str) -> list[Misconception]:
    """The misconceptions about the function that ``check`` tests, in catalogue order."""
    function = function_of(check)
    return [m for m in CATALOGUE.values() if m.function == function]


def _import_modules() -> None:
    """Every assignment's module here (named like the assignment, as its judge module is: optional), registered."""
    import importlib
    from pathlib import Path

    from ...student.cases import ASSIGNMENT_MODULES

    here = Path(__file__).resolve().parent
    for name in ASSIGNMENT_MODULES:
        if (here / f"{name}.py").is_file():
            importlib.import_module(f"{__name__}.{name}")


_import_modules()

__all__ = ["CATALOGUE", "CHECK_FUNCTIONS", "HELPERS", "Misconception", "for_check", "function_of", "register"]
