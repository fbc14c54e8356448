"""The Canvas / Quercus round trip: fill one assignment column of the instructor's gradebook export.

Canvas's export (Grades > Export) has the columns Student, ID, SIS User ID, SIS Login ID, Section, then one column
per assignment ("ps3_elbo (123456)") and some totals; a row whose first cell is "Points Possible" (and sometimes
rows of read-only markers) follows the header. Canvas imports the same file back (Grades > Import) and takes the
changed cells. ``ID`` is the Canvas user id, which is also the number in the file names of a Canvas submissions
download, and so the student_id of grades.csv.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from .course import UsageError
from .report import Row, points, write_atomically
from .text import for_csv

FIXED_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
TOTAL_MARKERS = ("Current Score", "Unposted Current Score", "Final Score", "Unposted Final Score",
                 "Current Grade", "Final Grade", "Current Points", "Final Points")


@dataclass
class CanvasResult:
    column: str
    filled: list[str] = field(default_factory=list)  # Canvas IDs that got a score
    no_submission: list[tuple[str, str]] = field(default_factory=list)  # (name, ID) in Canvas, no row here
    no_student: list[str] = field(default_factory=list)  # student_ids graded here, not in the Canvas file
    nothing_handed_in: list[tuple[str, str]] = field(default_factory=list)  # (name, ID) given 0: no notebook
    above_possible: list[tuple[str, str, str]] = field(default_factory=list)  # (name, ID, score) over the maximum
    possible: str = ""  # the column's Points Possible in Canvas
    names: dict[str, str] = field(default_factory=dict)  # Canvas ID -> the Student column ("Smith, Ann")
    warnings: list[str] = field(default_factory=list)


def read_export(path: Path) -> tuple[list[list[str]], bool]:
    if not path.is_file():
        raise UsageError(f"--canvas {path} does not exist")
    raw = path.read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"--canvas {path} is not UTF-8 text (Canvas exports are)") from None
    table = list(csv.reader(io.StringIO(text, newline="")))
    if not table or not {"Student", "ID"} <= set(table[0]):
        raise UsageError(f"--canvas {path} is not a Canvas gradebook export (no Student and ID columns in its "
                         f"first row)")
    return table, bom


def choose_column(header: list[str], assignment_id: str, requested: str | None) -> int:
    candidates = [i for i, name in enumerate(header) if name not in FIXED_COLUMNS
                  and not any(name.startswith(m) for m in TOTAL_MARKERS)]
    listing = "\n  ".join(header[i] for i in candidates) or "(none)"
    if requested is not None:
        exact = [i for i in candidates if header[i] == requested]
        if len(exact) == 1:
            return exact[0]
        raise UsageError(f"--canvas-column {requested!r} is not a column of the Canvas file; its assignment "
                         f"columns are:\n  {listing}")
    matching = [i for i in candidates if assignment_id.lower() in header[i].lower()]
    if len(matching) == 1:
        return matching[0]
    if not matching:
        raise UsageError(f"no column of the Canvas file names {assignment_id}; pass --canvas-column with one of:\n"
                         f"  {listing}")
    names = "\n  ".join(header[i] for i in matching)
    raise UsageError(f"several columns of the Canvas file name {assignment_id}; pass --canvas-column with one of:\n"
                     f"  {names}")


def fill(canvas_path: Path, rows: list[Row], assignment_id: str, column_name: str | None,
         destination: Path) -> CanvasResult:
    """Write ``destination``: the Canvas export with the assignment's column set to each student's score."""
    table, bom = read_export(canvas_path)
    header = table[0]
    column = choose_column(header, assignment_id, column_name)
    id_column = header.index("ID")
    student_column = header.index("Student")
    scores = {row.result.student_id: row for row in rows}
    result = CanvasResult(header[column])
    seen = set()
    for line in table[1:]:
        if len(line) <= max(column, id_column):
            line.extend([""] * (max(column, id_column) + 1 - len(line)))
        canvas_id = line[id_column].strip()
        if "Points Possible" in line[student_column]:
            possible = result.possible = line[column].strip()
            max_score = rows[0].max_score if rows else None
            if possible and max_score is not None and _number(possible) != max_score:
                result.warnings.append(f"Canvas says {header[column]!r} is out of {possible}; the maximum here is "
                                       f"{points(max_score)} (bonus excluded): Canvas computes percentages from "
                                       f"its own value")
            continue
        if not canvas_id:
            continue
        row = scores.get(canvas_id)
        if row is None:
            result.no_submission.append((line[student_column], canvas_id))
            continue
        line[column] = points(row.score)
        seen.add(canvas_id)
        result.filled.append(canvas_id)
        result.names[canvas_id] = line[student_column].strip()
        if row.result.status == "missing":
            result.nothing_handed_in.append((line[student_column], canvas_id))
        maximum = _number(result.possible) if result.possible else row.max_score
        if maximum is not None and row.score > maximum:
            result.above_possible.append((line[student_column], canvas_id, points(row.score)))
    result.no_student = sorted(s for s in scores if s not in seen)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for index, line in enumerate(table):
        writer.writerow(line if index == 0 else [for_csv(cell) for cell in line])
    write_atomically(destination, ("\ufeff" if bom else "") + buffer.getvalue())
    return result


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
