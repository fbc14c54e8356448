"""Rebuild a submission from the instructor's source.

* Every nbgrader cell comes in the INSTRUCTOR's order. Answer cells (solution / manually graded) take the student's
  source, matched by ``grade_id`` (first match wins); a missing answer cell gets the released stub back. Locked,
  task and test cells always come from the instructor's source (with hidden tests); missing ones are added back.
  Points and grade flags come from the source only.
* Cells the student added (no nbgrader metadata, unknown or duplicated ``grade_id``) are kept, right after the
  nbgrader cell they followed in the student's notebook, so helper functions still run before the tests.
* Nothing here raises on a malformed student notebook: problems become notes for the feedback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .source import MANUAL, SOLUTION, TEST, AssignmentSource, SourceCell
from .text import clean, clean_tree, has_surrogate_escape

MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024
MAX_CELLS = 10_000  # a course notebook has a few hundred; the trust boundary numbers cells up to 100,000
STUDENT = "student"  # role of a cell the student added


class InvalidNotebook(Exception):
    """The file cannot be read as a notebook; the message is the reason shown to the student."""


@dataclass
class AssembledCell:
    position: int
    cell_type: str
    source: str
    role: str  # a source role, or "student"
    grade_id: str | None = None
    origin: str = "source"  # "source", "student" or "stub"
    cpu_limit_s: float | None = None  # an instructor's cell's own CPU-time limit (SourceCell.cpu_limit_s)
    skip_when_graded: bool = False  # an instructor's cell not run when graded (SourceCell.skip_when_graded)


@dataclass
class Assembled:
    cells: list[AssembledCell]
    notes: list[str] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)  # grade_id -> the student's source of answer cells
    unanswered: set[str] = field(default_factory=set)  # answer cells left as released ("no response")

    def code_cells(self) -> list[AssembledCell]:
        return [c for c in self.cells if c.cell_type == "code"]


def _text(value) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return value if isinstance(value, str) else ""


def read_notebook(path: Path) -> dict:
    """Parse a student's file into a v4 notebook dict, or raise InvalidNotebook with a reason."""
    size = path.stat().st_size
    if size == 0:
        raise InvalidNotebook("the notebook file is empty (0 bytes)")
    if size > MAX_NOTEBOOK_BYTES:
        raise InvalidNotebook(f"the notebook file is too large ({size / 1e6:.0f} MB; the limit is "
                              f"{MAX_NOTEBOOK_BYTES / 1e6:.0f} MB)")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
        data = json.loads(text)
    except UnicodeDecodeError:
        raise InvalidNotebook("the notebook file is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise InvalidNotebook(f"the notebook file is not valid JSON ({error.msg} at line {error.lineno}, "
                              f"column {error.colno}); was it saved completely?") from None
    except RecursionError:
        raise InvalidNotebook("the notebook file is nested too deeply to be a notebook") from None
    except ValueError as error:  # e.g. an integer of more than 4,300 digits
        raise InvalidNotebook(f"the notebook file holds a value no notebook has ({clean(str(error))[:120]})") \
            from None
    if not isinstance(data, dict) or not ("cells" in data or "worksheets" in data):
        raise InvalidNotebook("the file is JSON but not a Jupyter notebook (no cells)")
    if "worksheets" in data and "cells" not in data:  # nbformat 3
        try:
            import nbformat

            data = nbformat.reads(raw.decode("utf-8-sig"), as_version=4)
        except Exception as error:  # noqa: BLE001 - any conversion problem makes the file invalid
            raise InvalidNotebook(f"an old-format notebook that could not be converted ({error})") from None
    if not isinstance(data.get("cells"), list):
        raise InvalidNotebook("the notebook's 'cells' is not a list")
    if len(data["cells"]) > MAX_CELLS:
        raise InvalidNotebook(f"the notebook has {len(data['cells']):,} cells (the limit is {MAX_CELLS:,})")
    if has_surrogate_escape(text):  # "\ud800" decodes to a lone surrogate, which no UTF-8 writer accepts
        data = clean_tree(data)
    return data


def _grade_id(cell: dict) -> str | None:
    metadata = cell.get("metadata")
    nbgrader = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return grade_id if isinstance(grade_id, str) and grade_id else None


LISTED_IDS, LISTED_ID_CHARS = 10, 60  # a note names at most this many ids, each cut to this length


def listed(ids: set[str]) -> str:
    """At most LISTED_IDS of the student's grade ids, each cut to LISTED_ID_CHARS characters: the note goes into
    grades.csv, the feedback and formgrader, and a notebook with thousands of long unknown ids must not make a
    multi-megabyte CSV cell (csv readers refuse fields over 128 KiB; spreadsheets cut cells at 32,767 characters)."""
    shown = [i if len(i) <= LISTED_ID_CHARS else i[:LISTED_ID_CHARS] + "..." for i in sorted(ids)[:LISTED_IDS]]
    more = len(ids) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _checksum(source: SourceCell, student_source: str) -> str:
    """nbgrader's checksum of the student's answer, computed as if the cell carried the source's metadata."""
    from nbformat import NotebookNode
    from nbgrader.utils import compute_checksum

    cell = NotebookNode({"cell_type": source.cell_type, "source": student_source, "metadata": NotebookNode(
        {"nbgrader": NotebookNode({"grade": source.role == MANUAL, "solution": True, "locked": False,
                                   "grade_id": source.grade_id, "points": source.points})})})
    return compute_checksum(cell)


def assemble(notebook: dict, source: AssignmentSource) -> Assembled:
    by_id = source.by_id()
    notes: list[str] = []
    matched: dict[str, dict] = {}  # grade_id -> the student's cell (first match)
    segments: dict[str | None, list[dict]] = {None: []}  # cells added by the student, by the anchor they follow
    anchor: str | None = None
    duplicates, unknown, malformed = set(), set(), 0
    for cell in notebook["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            malformed += 1
            continue
        grade_id = _grade_id(cell)
        if grade_id in by_id and grade_id not in matched:
            matched[grade_id] = cell
            anchor = grade_id
            segments.setdefault(anchor, [])
            continue
        if grade_id in by_id:
            duplicates.add(grade_id)
        elif grade_id is not None:
            unknown.add(grade_id)
        segments.setdefault(anchor, []).append(cell)
    if malformed:
        notes.append(f"{malformed} malformed cell(s) in your notebook were skipped.")
    if duplicates:
        notes.append("Cell id(s) used more than once in your notebook: " + listed(duplicates) +
                     ". The first copy was graded; later copies ran as your own cells.")
    if unknown:
        notes.append("Cell id(s) the assignment does not know: " + listed(unknown) +
                     ". They ran as your own cells.")

    cells: list[AssembledCell] = []
    answers, unanswered, missing = {}, set(), []

    def add(cell_type, text, role, grade_id=None, origin="source", cpu_limit_s=None, skip=False):
        cells.append(AssembledCell(len(cells), cell_type, text, role, grade_id, origin, cpu_limit_s, skip))

    def add_segment(key):
        for extra in segments.get(key, []):
            add(extra["cell_type"], _text(extra.get("source")), STUDENT, None, "student")

    add_segment(None)
    for source_cell in source.cells:
        student_cell = matched.get(source_cell.grade_id)
        if source_cell.role in (SOLUTION, MANUAL):
            if student_cell is None:
                missing.append(source_cell.grade_id)
                text, origin = source_cell.stub, "stub"
            else:
                text, origin = _text(student_cell.get("source")), "student"
                answers[source_cell.grade_id] = text
            if text == source_cell.stub or (source_cell.checksum and _checksum(source_cell, text) ==
                                            source_cell.checksum):
                unanswered.add(source_cell.grade_id)
            add(source_cell.cell_type, text, source_cell.role, source_cell.grade_id, origin)
        else:
            if student_cell is None and source_cell.role == TEST:
                missing.append(source_cell.grade_id)
            add(source_cell.cell_type, source_cell.source, source_cell.role, source_cell.grade_id, "source",
                source_cell.cpu_limit_s, source_cell.skip_when_graded)
        add_segment(source_cell.grade_id)
    if missing:
        notes.append("Cell(s) missing from your notebook were restored from the assignment: " +
                     ", ".join(missing) + ".")
    return Assembled(cells, notes, answers, unanswered)


def code_cells_for_run(assembled: Assembled) -> list[dict]:
    """Plain data handed to the process that runs the notebook (a cell's own CPU-time limit where it has one; the
    instructor's cells marked skip_when_graded left out)."""
    return [{"position": c.position, "source": c.source, "grade_id": c.grade_id if c.role == TEST else None,
             **({"cpu_limit_s": c.cpu_limit_s} if c.cpu_limit_s else {})}
            for c in assembled.code_cells() if not c.skip_when_graded]
