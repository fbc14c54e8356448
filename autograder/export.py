"""``python -m autograder export --assignment ID --output DIR [--canvas EXPORT.csv] [--canvas-column NAME]``.

After hand marking in formgrader, re-reads ``DIR/gradebook.db`` and rewrites ``DIR/grades.csv`` (and the
feedback, summary and histogram): score = autograded + bonus + points given by hand, max_score = every graded cell
but bonus cells (the totals of ``nbgrader export``). With ``--canvas``, writes ``DIR/canvas_import.csv``.
The assignment is read from the folder itself (``source/`` and ``release/``, the version that was graded).
"""

from __future__ import annotations

import sys
from pathlib import Path

from .assignments import config_for
from .course import ASSIGNMENT_ID, UsageError
from .journal import Journal
from .text import clean


def export_command(assignment_id: str, output: Path, canvas: Path | None, canvas_column: str | None,
                   book_url: str | None) -> int:
    from .canvas import fill
    from .gradebook import impossible_marks, read_gradebook
    from .outputs import write_outputs
    from .report import points
    from .source import load_source

    if not ASSIGNMENT_ID.match(assignment_id or ""):
        raise UsageError(f"invalid assignment id {assignment_id!r}")
    if not output.is_dir():
        raise UsageError(f"--output {output} does not exist (it is the folder `grade --output` wrote)")
    source_notebook = output / "source" / assignment_id / f"{assignment_id}.ipynb"
    release_notebook = output / "release" / assignment_id / f"{assignment_id}.ipynb"
    with Journal.open(output, create=False) as journal:
        if journal.assignment != assignment_id or not source_notebook.is_file() or not release_notebook.is_file():
            raise UsageError(f"{output} holds grades of {journal.assignment or 'nothing yet'}, not {assignment_id}")
        if canvas is not None and not canvas.is_file():
            raise UsageError(f"--canvas {canvas} does not exist")
        source = load_source(assignment_id, source_notebook, release_notebook)
        impossible = impossible_marks(read_gradebook(output / "gradebook.db", assignment_id),
                                      {cell.grade_id: cell.points for cell in source.cells if cell.points})
        if impossible:
            shown = "\n  ".join(clean(line) for line in impossible[:20])
            more = f"\n  and {len(impossible) - 20} more" if len(impossible) > 20 else ""
            raise UsageError(f"the gradebook holds points no cell can hold; fix them in formgrader, then export "
                             f"again (nothing was written):\n  {shown}{more}")
        title = config_for(assignment_id).title or assignment_id
        rows, failures = write_outputs(output, journal, source, title, book_url)
    pending = [row for row in rows if row.pending]
    print(f"wrote {output / 'grades.csv'}: {len(rows)} row(s); score = autograded + bonus + graded by hand, "
          f"max_score {points(source.max_score + source.manual_max)} (bonus excluded)")
    if pending:
        print(f"{len(pending)} submission(s) still wait for manual grading "
              f"({points(sum(r.pending for r in pending))} points): see summary.md")
    if failures:
        print(f"{failures} output(s) could not be written: see the messages in grades.csv", file=sys.stderr)
    if canvas is not None:
        destination = output / "canvas_import.csv"
        result = fill(canvas, rows, assignment_id, canvas_column, destination)
        print(f"wrote {destination}: column {result.column!r} filled for {len(result.filled)} student(s); "
              f"import it in Canvas (Grades > Import)")
        from .gradebook import set_names

        named = set_names(output / "gradebook.db", {key: clean(name) for key, name in result.names.items()})
        if named:
            print(f"formgrader now shows the Canvas names of {named} student(s) (Student column)")
        for warning in result.warnings:
            print(f"warning: {warning}")
        if result.nothing_handed_in:
            print(f"{len(result.nothing_handed_in)} student(s) handed in no notebook and got 0 in the file:")
            for name, canvas_id in result.nothing_handed_in:
                print(f"  {clean(name)} (ID {clean(canvas_id)})")
        if result.above_possible:
            maximum = result.possible or points(source.max_score + source.manual_max)
            print(f"{len(result.above_possible)} student(s) scored above the column's Points Possible "
                  f"({clean(maximum)}) with bonus points (extra credit); Canvas shows them above 100%:")
            for name, canvas_id, score in result.above_possible:
                print(f"  {clean(name)} (ID {clean(canvas_id)}): {score}")
        if result.no_submission:
            print(f"{len(result.no_submission)} student(s) in the Canvas file have no graded submission (their "
                  f"cell is left as it was):")
            for name, canvas_id in result.no_submission:
                print(f"  {clean(name)} (ID {clean(canvas_id)})")
        if result.no_student:
            print(f"{len(result.no_student)} graded submission(s) match no student ID of the Canvas file:")
            for student_id in result.no_student:
                print(f"  {student_id}")
    return 1 if failures else 0
