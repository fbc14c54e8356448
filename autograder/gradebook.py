"""The nbgrader gradebook, written by ONE trusted writer after grading.

The assignment, notebook, grade/solution/source cells and checksums are created by nbgrader itself (the real
``nbgrader generate_assignment`` with ``--db`` pointing at the output folder, see :mod:`autograder.nbgrader_cli`).
This module adds students, submissions and scores through :class:`nbgrader.api.Gradebook`, following nbgrader's
SaveAutoGrades: ``auto_score`` per grade cell, a manual score already given is kept and flagged for review, and
manually graded answers are left for a person (``auto_score`` None, ``needs_manual_grade`` True), except an answer
left as released, which nbgrader scores 0 ("No response.").
"""

from __future__ import annotations

import warnings
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from .grading import GradeResult


def db_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def write_results(db_path: Path, assignment_id: str, results: list[GradeResult]) -> None:
    notebook_id = assignment_id
    with warnings.catch_warnings():  # nbgrader's add_submission triggers harmless SQLAlchemy autoflush warnings
        warnings.simplefilter("ignore")
        _write(db_path, assignment_id, notebook_id, results)


def _write(db_path: Path, assignment_id: str, notebook_id: str, results: list[GradeResult]) -> None:
    with Gradebook(db_url(db_path)) as gradebook:
        for result in results:
            gradebook.update_or_create_student(result.student_id)
            gradebook.update_or_create_submission(assignment_id, result.student_id)
            for cell in result.cells:
                grade = gradebook.find_grade(cell.grade_id, notebook_id, assignment_id, result.student_id)
                grade.auto_score = float(cell.points)
                grade.needs_manual_grade = grade.manual_score is not None
            for manual in result.manual:
                grade = gradebook.find_grade(manual.grade_id, notebook_id, assignment_id, result.student_id)
                if manual.answered:
                    grade.auto_score = None
                    grade.needs_manual_grade = True
                else:
                    grade.auto_score = 0.0
                    grade.needs_manual_grade = grade.manual_score is not None
                try:
                    comment = gradebook.find_comment(manual.grade_id, notebook_id, assignment_id, result.student_id)
                    comment.auto_comment = None if manual.answered else "No response."
                except MissingEntry:
                    pass
            gradebook.db.commit()
