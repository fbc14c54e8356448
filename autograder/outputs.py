"""The outputs of a graded folder, from its journal (autograding) and its gradebook (hand marking).

Shared by ``grade`` (at the end of a batch) and ``export`` (after hand marking): one row per student, the last
result of each (autograder.journal); the gradebook's marks, with a person's scores, complete it. Order:

1. grades.csv, first, so that nothing written later can take it away;
2. the gradebook: results not yet in it are written (``grade`` writes each result as it arrives; what is left,
   e.g. after a crash, is written here; a student whose write fails keeps the planned marks in grades.csv and the
   failure in the row's message);
3. feedback/<student>.html, summary.md, histogram.png, misconceptions.png (autograder.misconception_report);
4. grades.csv again only if step 2 or 3 failed for someone (the failure is then on that student's row).
"""

from __future__ import annotations

import sys
from pathlib import Path

from .feedback import write_feedback
from .gradebook import GradebookWriter, planned_marks, read_gradebook
from .journal import Journal
from .judging.sections import book_url as default_book_url
from .judging.sections import local_link_warning
from .misconception_report import FIGURE, write_class_figure
from .report import Row, write_csv, write_histogram, write_summary
from .source import AssignmentSource


def warn(message: str) -> None:
    print(f"autograder: {message}", file=sys.stderr, flush=True)


def build_rows(journal: Journal, students: dict, source: AssignmentSource) -> tuple[list[Row], list]:
    """The rows, and the journal records whose results the gradebook does not hold yet."""
    names = [c.grade_id for c in source.cells if c.graded]
    rows, unsynced = [], []
    for student_id, record in journal.current().items():
        student = students.get(student_id)
        existing = student.marks if student is not None else None
        if record.id in journal.synced and existing is not None:
            marks = existing
        else:
            previous = journal.previous(student_id)
            marks = planned_marks(record.result, previous.result if previous else None, existing, names)
            unsynced.append((record, marks))
        name = " ".join(n for n in (student.first_name, student.last_name) if n) if student else ""
        name = "" if name == student_id else name  # the id stands in for an unknown name in formgrader only
        rows.append(Row(record.result, marks, source, penalty=student.penalty if student else 0.0,
                        name=name or record.result.name, problems=list(record.result.output_errors)))
    return rows, unsynced


def write_outputs(output: Path, journal: Journal, source: AssignmentSource, title: str, book_url: str | None,
                  seconds: float | None = None, workers: int | None = None, notes: list[str] = ()) -> tuple[list, int]:
    """Write every output of ``output``; returns the rows and how many student outputs failed."""
    notes = list(notes)
    db = output / "gradebook.db"
    try:
        students = read_gradebook(db, source.assignment_id)
    except Exception as error:  # noqa: BLE001 - grades.csv is still written, from the journal alone
        warn(f"could not read {db} ({type(error).__name__}: {error}); grades.csv has no points given by hand")
        notes.append(f"gradebook.db could not be read: {type(error).__name__}")
        students = {}
    rows, unsynced = build_rows(journal, students, source)
    write_csv(output / "grades.csv", rows)
    by_student = {row.result.student_id: row for row in rows}
    failures = 0
    writer = None
    for record, marks in unsynced:  # normally done as each result came in (autograder.batch); here what is left
        try:
            writer = writer or GradebookWriter(db, source.assignment_id, [c.grade_id for c in source.cells
                                                                          if c.graded])
            writer.write(record.result, None, record.at, marks)
            journal.mark_synced(record)
        except Exception as error:  # noqa: BLE001 - one student's gradebook entry never stops the others
            by_student[record.result.student_id].problems.append(f"gradebook.db: {type(error).__name__}: {error}")
            failures += 1
    if writer is not None:
        writer.close()
    try:  # a graded notebook a formgrader button (or a hand) removed is written again from the journal
        from .coursetree import restore_missing

        restored = restore_missing(output, journal.current(), source)
        if restored:
            warn(f"wrote the missing graded notebooks of {', '.join(restored)} again (autograded/)")
    except Exception as error:  # noqa: BLE001 - grades.csv is written; formgrader lacks those notebooks
        warn(f"could not check autograded/ ({type(error).__name__}: {error})")
    url = default_book_url(book_url)
    dead_links = local_link_warning(url)
    if dead_links:
        warn(dead_links)
        notes.append(f"feedback {dead_links}")
    for row in rows:
        try:
            write_feedback(output / "feedback", row, title, url)
        except Exception as error:  # noqa: BLE001
            row.problems.append(f"feedback: {type(error).__name__}: {error}")
            failures += 1
    total = source.max_score + source.manual_max
    writers = {"summary.md": lambda: write_summary(output / "summary.md", rows, source, seconds, workers, notes),
               "histogram.png": lambda: write_histogram(output / "histogram.png", rows, total, source.bonus_max,
                                                        f"{source.assignment_id}: scores"),
               FIGURE: lambda: write_class_figure(output / FIGURE, [row.result for row in rows], source,
                                                  f"{source.assignment_id}: misconceptions per function")}
    for what, write in writers.items():
        try:
            write()
        except Exception as error:  # noqa: BLE001 - grades.csv is already written
            warn(f"could not write {what} ({type(error).__name__}: {error})")
    if failures:
        write_csv(output / "grades.csv", rows)
    return rows, failures
