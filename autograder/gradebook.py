"""The nbgrader gradebook, written by ONE trusted writer after grading, read back for the rows of grades.csv.

The assignment, notebook, grade/solution/source cells and checksums are created by nbgrader itself (the real
``nbgrader generate_assignment``, see :mod:`autograder.nbgrader_cli`). This module adds students, submissions and
scores through :class:`nbgrader.api.Gradebook`, following nbgrader's SaveAutoGrades:

* a test cell gets ``auto_score``; a bonus test cell (max_score 0 in the gradebook) gets its points as
  ``extra_credit``, so nbgrader's score includes the bonus and its maximum does not;
* an answered hand-marked cell (written answer, task) gets ``auto_score`` None and ``needs_manual_grade``; an
  answer left as released gets 0 and "No response." (nbgrader's rule);
* a score a person entered (``manual_score``, through formgrader or the API) is never touched. When a regrade
  changes what that person marked (the answer's text, the autograded points, or the notebook for a task), the cell
  is flagged for review (``needs_manual_grade``), as nbgrader does; an unchanged answer keeps its mark unflagged.

:func:`planned_marks` computes what a cell will hold after the write, without writing, so grades.csv can be written
first and equal what nbgrader's own ``export`` reports afterwards.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from .grading import GradeResult

NO_RESPONSE = "No response."


def db_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


@dataclass(frozen=True)
class Mark:
    """One grade cell of one submission, as the gradebook holds it."""

    auto: float | None = None
    manual: float | None = None
    extra: float | None = None
    needs_manual: bool = False
    comment: str | None = None  # what a person wrote in formgrader
    auto_comment: str | None = None

    @property
    def score(self) -> float:
        """nbgrader's ``Grade.score``: the manual score if given, else the autograded one, plus extra credit."""
        base = self.manual if self.manual is not None else (self.auto or 0.0)
        return base + (self.extra or 0.0)


@dataclass
class Student:
    last_name: str | None = None
    first_name: str | None = None
    marks: dict[str, Mark] | None = None  # grade_id -> Mark; None when the student has no submission
    penalty: float = 0.0


@contextmanager
def _quiet():
    with warnings.catch_warnings():  # nbgrader's add_submission triggers harmless SQLAlchemy autoflush warnings
        warnings.simplefilter("ignore")
        yield


def read_gradebook(db_path: Path, assignment_id: str) -> dict[str, Student]:
    """Every student of the gradebook, with the marks of their submission of ``assignment_id`` (one notebook,
    named like the assignment)."""
    from nbgrader.api import Gradebook, MissingEntry

    students: dict[str, Student] = {}
    if not Path(db_path).is_file():
        return students
    with _quiet(), Gradebook(db_url(db_path)) as gradebook:
        for student in gradebook.students:
            students[student.id] = Student(student.last_name, student.first_name)
        try:
            submissions = gradebook.find_assignment(assignment_id).submissions
        except MissingEntry:
            return students
        for submission in submissions:
            entry = students.setdefault(submission.student.id, Student())
            entry.penalty = submission.late_submission_penalty or 0.0
            entry.marks = {}
            for notebook in submission.notebooks:
                entry.marks.update(_marks(notebook))
    return students


def impossible_marks(students: dict[str, Student], max_points: dict[str, float]) -> list[str]:
    """Points given by hand that no cell can hold: not a finite number, below 0, or above the cell's points
    (extra credit: not finite or below 0). One line per mark, "student / cell: what"."""
    found = []
    for student_id, student in sorted(students.items()):
        for name, mark in sorted((student.marks or {}).items()):
            top = max_points.get(name)
            if mark.manual is not None and not (math.isfinite(mark.manual) and 0 <= mark.manual
                                                and (top is None or mark.manual <= top)):
                found.append(f"{student_id} / {name}: {mark.manual!r} points given by hand (the cell has "
                             f"{top:g})" if top is not None else f"{student_id} / {name}: {mark.manual!r}")
            if mark.extra is not None and not (math.isfinite(mark.extra) and mark.extra >= 0):
                found.append(f"{student_id} / {name}: extra credit {mark.extra!r}")
    return found


def _marks(notebook) -> dict[str, Mark]:
    comments = {c.name: c for c in notebook.comments}
    marks = {}
    for grade in notebook.grades:
        comment = comments.get(grade.name)
        marks[grade.name] = Mark(grade.auto_score, grade.manual_score, grade.extra_credit,
                                 bool(grade.needs_manual_grade), comment.manual_comment if comment else None,
                                 comment.auto_comment if comment else None)
    return marks


def planned_marks(result: GradeResult, previous: GradeResult | None, existing: dict[str, Mark] | None,
                  cell_names: list[str]) -> dict[str, Mark]:
    """The marks of ``result``'s submission once written over ``existing`` (the gradebook's, possibly holding a
    person's scores). ``previous`` is the result those scores were given for, if any."""
    existing = existing or {}
    marks = {}
    for cell in result.cells:
        old = existing.get(cell.grade_id, Mark())
        auto, extra = (0.0, float(cell.points)) if cell.bonus else (float(cell.points), old.extra)
        changed = (old.auto, old.extra) != (auto, extra)
        marks[cell.grade_id] = replace(old, auto=auto, extra=extra,
                                       needs_manual=old.manual is not None and (old.needs_manual or changed))
    previous_manual = {m.grade_id: m for m in previous.manual} if previous else {}
    for manual in result.manual:
        old = existing.get(manual.grade_id, Mark())
        before = previous_manual.get(manual.grade_id)
        if manual.task:
            changed = previous is None or previous.fingerprint != result.fingerprint
        else:
            changed = before is None or (before.answered, before.digest) != (manual.answered, manual.digest)
        review = old.manual is not None and (old.needs_manual or changed)
        if manual.answered:
            marks[manual.grade_id] = replace(old, auto=None, needs_manual=old.manual is None or review,
                                             auto_comment=None)
        else:
            marks[manual.grade_id] = replace(old, auto=0.0, needs_manual=review, auto_comment=NO_RESPONSE)
    for name in cell_names:  # cells this result says nothing about (a task of a notebook that could not be run)
        if name not in marks:
            old = existing.get(name, Mark())
            marks[name] = replace(old, auto=0.0, needs_manual=old.manual is not None and old.needs_manual)
    return marks


class GradebookWriter:
    """The one writer of the gradebook: one session, one transaction per student. ``write`` reads the student's
    current marks (a person's scores included), plans the new ones (:func:`planned_marks`) and writes them; it
    raises after a rollback, leaving the other students untouched."""

    def __init__(self, db_path: Path, assignment_id: str, cell_names: list[str]):
        from nbgrader.api import Gradebook

        self.assignment_id, self.cell_names = assignment_id, cell_names
        with _quiet():
            self.gradebook = Gradebook(db_url(db_path))

    def existing(self, student_id: str) -> dict[str, Mark] | None:
        from nbgrader.api import MissingEntry

        try:
            notebook = self.gradebook.find_submission_notebook(self.assignment_id, self.assignment_id, student_id)
        except MissingEntry:
            return None
        return _marks(notebook)

    def write(self, result: GradeResult, previous: GradeResult | None, timestamp: str,
              marks: dict[str, Mark] | None = None) -> dict[str, Mark]:
        with _quiet():
            try:
                if marks is None:
                    marks = planned_marks(result, previous, self.existing(result.student_id), self.cell_names)
                _write_one(self.gradebook, self.assignment_id, result, marks, timestamp)
                self.gradebook.db.commit()
            except Exception:
                self.gradebook.db.rollback()
                raise
        return marks

    def close(self) -> None:
        self.gradebook.close()


def _write_one(gradebook, assignment_id: str, result: GradeResult, marks: dict[str, Mark], timestamp: str) -> None:
    student = gradebook.update_or_create_student(result.student_id)
    if student.last_name is None and student.first_name is None:  # never a name someone entered in formgrader
        student.last_name, student.first_name = shown_name(result.name or result.student_id)
    # the submission time (nbgrader's timestamp.txt, else when it was graded); nothing handed in: no time, not late
    gradebook.update_or_create_submission(assignment_id, result.student_id,
                                          timestamp=None if result.status == "missing" else timestamp)
    notebook = gradebook.find_submission_notebook(assignment_id, assignment_id, result.student_id)
    comments = {c.name: c for c in notebook.comments}
    for grade in notebook.grades:
        mark = marks.get(grade.name)
        if mark is None:
            continue
        grade.auto_score, grade.extra_credit = mark.auto, mark.extra
        grade.needs_manual_grade = mark.needs_manual
        if grade.name in comments:
            comments[grade.name].auto_comment = mark.auto_comment


def shown_name(name: str) -> tuple[str, str]:
    """(last name, first name) for nbgrader's student record, which formgrader shows as "last, first" (and as
    "None" for a name left unset): "Smith, Ann" and "Ann Smith" are split; a name in one piece (a Canvas file
    name's "smithann", or the student id when nothing else is known) is the last name, with an empty first name."""
    name = " ".join(name.split())
    if "," in name:
        last, first = (part.strip() for part in name.split(",", 1))
        return last, first
    if " " in name:
        first, last = name.rsplit(" ", 1)
        return last, first
    return name, ""


def set_names(db_path: Path, names: dict[str, str]) -> int:
    """Give students the names of a roster (e.g. the Canvas gradebook's "Smith, Ann") where the gradebook holds
    only what the grader derived itself (the id, a Canvas file name's name, or nothing); a name entered in
    formgrader is kept. Returns how many changed."""
    from nbgrader.api import Gradebook, MissingEntry

    changed = 0
    with _quiet(), Gradebook(db_url(db_path)) as gradebook:
        for student_id, name in names.items():
            try:
                student = gradebook.find_student(student_id)
            except MissingEntry:
                continue
            derived = student.first_name in (None, "") and (student.last_name is None or " " not in
                                                            student.last_name.strip())
            wanted = shown_name(name)
            if name.strip() and derived and (student.last_name, student.first_name) != wanted:
                student.last_name, student.first_name = wanted
                changed += 1
        gradebook.db.commit()
    return changed


def cell_names(db_path: Path, assignment_id: str) -> list[str]:
    """The graded cells (grade and task cells) nbgrader recorded for the assignment's notebook."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url(db_path)) as gradebook:
        notebook = gradebook.find_notebook(assignment_id, assignment_id)
        return [c.name for c in notebook.grade_cells] + [c.name for c in notebook.task_cells
                                                         if c.name not in {g.name for g in notebook.grade_cells}]
