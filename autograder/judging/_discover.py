"""The judge modules: one per assignment, named like the assignment's case module on the student side
(autograder/student/cases/<assignment>.py), so that a new assignment needs no import line anywhere."""

from __future__ import annotations

import importlib
from pathlib import Path


def import_judge_modules() -> tuple[str, ...]:
    """Import autograder/judging/<name>.py for every assignment module of autograder/student/cases/; a missing
    partner is an ImportError that says which file to write."""
    from ..student.cases import ASSIGNMENT_MODULES

    package = __name__.rsplit(".", 1)[0]
    here = Path(__file__).resolve().parent
    for name in ASSIGNMENT_MODULES:
        if not (here / f"{name}.py").is_file():
            raise ImportError(
                f"autograder/student/cases/{name}.py (how the checks of {name} draw their cases, student side) has no "
                f"partner autograder/judging/{name}.py (how they are judged, grader side): every assignment has one "
                f"module on each side, named like the assignment. Write it (see the guide 'Adding an exercise'), "
                f"or let `python -m autograder new {name} --function NAME` write both.")
        importlib.import_module(f"{package}.{name}")
    return ASSIGNMENT_MODULES
