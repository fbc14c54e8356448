"""Each student's own code, as the similarity tool compares it.

A student's code is what they wrote into the notebook: the code answer cells (nbgrader's solution cells, matched by
``grade_id`` as grading matches them: the first cell with an answer's id), minus the lines of the released stub they
kept (the ``def`` line, the docstring, ``# YOUR CODE HERE``), and the code cells they added (no nbgrader id, an id
the assignment does not know, or a second copy of an answer's id: grading runs those as the student's own cells).
Copies of the instructor's cells (setup, tests, demonstrations) are left out: grading replaces them with the
instructor's. Cells are taken in the student's order. Written (Markdown) answers are not compared.

The released notebook's code is also handed to the tool as the shared template (its fingerprints are never a
match), so code every student was given never makes two notebooks alike, wherever a student pasted it.

A notebook that cannot be read is listed with the reason (:class:`Unreadable`), never skipped in silence.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..assemble import InvalidNotebook, read_notebook
from ..source import MANUAL, SOLUTION
from ..text import clean

MAX_CODE_CHARS = 200_000  # a whole ps3 answer is about 3,000; past this a student's code is cut (and noted)


@dataclass(frozen=True)
class Line:
    cell: str  # the cell's label: its grade_id, or "your cell after <grade_id>" for a cell the student added
    number: int  # 1-based line number within that cell of the student's notebook
    text: str


@dataclass
class StudentCode:
    """One student's code: the lines the tool sees, each with where it stands in the student's notebook."""

    key: str  # unique in a run: the student id, or "<archive label>/<student id>"
    student_id: str
    origin: str  # "current" or the archive's label
    lines: list[Line] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    name: str = ""  # the student's name where the download carries one (Canvas)

    @functools.cached_property
    def text(self) -> str:
        """The code the tool reads (computed once, after extraction: lines do not change afterwards)."""
        return "".join(line.text + "\n" for line in self.lines)

    @functools.cached_property
    def line_starts(self) -> list[int]:
        """The character offset at which each line of :attr:`text` starts (for mapping matches to lines)."""
        starts, offset = [], 0
        for line in self.lines:
            starts.append(offset)
            offset += len(line.text) + 1
        return starts

    @functools.cached_property
    def code_chars(self) -> tuple[list[int], list[int]]:
        """(offset, line index) of every character of :attr:`text` that is not a space, in order. Every line holds
        one (blank lines are dropped), so a matched range covers exactly the lines from its first such character's
        to its last's."""
        offsets, lines = [], []
        for index, start in enumerate(self.line_starts):
            for column, character in enumerate(self.lines[index].text):
                if not character.isspace():
                    offsets.append(start + column)
                    lines.append(index)
        return offsets, lines


    def matched_lines(self, spans: list[tuple[int, int]]) -> list[int]:
        """Indexes (into :attr:`lines`) of the lines holding a matched character that is not a space."""
        offsets, lines = self.code_chars
        found: set[int] = set()
        for start, end in spans:
            first, last = bisect.bisect_left(offsets, start), bisect.bisect_left(offsets, end)
            if last > first:
                found.update(range(lines[first], lines[last - 1] + 1))
        return sorted(found)

    def describe(self, indexes: list[int]) -> str:
        """``elbo:4-7, 9; iwae_bound:3-12``: lines as numbered in the student's own cells."""
        by_cell: dict[str, list[int]] = {}
        for index in indexes:
            line = self.lines[index]
            by_cell.setdefault(line.cell, []).append(line.number)
        parts = []
        for cell, numbers in by_cell.items():
            runs, first, previous = [], numbers[0], numbers[0]
            for number in numbers[1:] + [None]:
                if number is not None and number == previous + 1:
                    previous = number
                    continue
                runs.append(f"{first}" if first == previous else f"{first}-{previous}")
                if number is not None:
                    first = previous = number
            parts.append(f"{cell}:{', '.join(runs)}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Unreadable:
    """A student whose code could not be compared: no notebook, an invalid one, or a notebook that is not one."""

    key: str
    student_id: str
    origin: str
    status: str  # "missing" or "invalid"
    reason: str


@dataclass(frozen=True)
class Template:
    """What every student was given: each answer cell's released stub, the ids of the instructor's other cells,
    and the released notebook's code (the tool's boilerplate)."""

    stubs: dict[str, str]  # grade_id of a code answer cell -> its released source
    answer_ids: frozenset[str]  # every answer cell's grade_id (code and Markdown)
    instructor_ids: frozenset[str]  # grade ids of the locked, test and task cells
    code: str  # every code cell of the release, one after another

    @classmethod
    def from_release(cls, release_notebook: Path, source_notebook: Path | None = None) -> Template:
        """Read the release (generated by nbgrader from the source). The roles come from the source notebook's
        cell metadata where given (the instructor's truth), else from the release's (nbgrader keeps it)."""
        release = json.loads(Path(release_notebook).read_text(encoding="utf-8"))
        roles_from = json.loads(Path(source_notebook).read_text(encoding="utf-8")) if source_notebook else release
        from ..source import role_of

        roles = {}
        for cell in roles_from["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade_id"):
                roles[meta["grade_id"]] = (role_of(meta, cell["cell_type"]), cell["cell_type"])
        stubs, code = {}, []
        for cell in release["cells"]:
            if cell["cell_type"] != "code":
                continue
            text = _text(cell.get("source"))
            code.append(text)
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if grade_id and roles.get(grade_id, ("", ""))[0] in (SOLUTION, MANUAL):
                stubs.setdefault(grade_id, text)
        answers = frozenset(g for g, (role, _) in roles.items() if role in (SOLUTION, MANUAL))
        return cls(stubs, answers, frozenset(roles) - answers, "\n\n".join(code) + "\n")


def _text(value) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return value if isinstance(value, str) else ""


def _grade_id(cell: dict) -> str | None:
    metadata = cell.get("metadata")
    nbgrader = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return grade_id if isinstance(grade_id, str) and grade_id else None


def own_lines(answer: str, stub: str) -> list[tuple[int, str]]:
    """(line number, text) of the lines of ``answer`` that are not the released ``stub``'s: the stub's lines the
    student kept in place are dropped (compared without any spaces, so re-spacing or re-indenting the stub does not
    make it the student's)."""
    mine = answer.split("\n")
    given = ["".join(line.split()) for line in stub.split("\n")]
    matcher = difflib.SequenceMatcher(None, given, ["".join(line.split()) for line in mine], autojunk=False)
    kept = set(range(len(mine)))
    for block in matcher.get_matching_blocks():
        kept -= set(range(block.b, block.b + block.size))
    return [(index + 1, mine[index]) for index in sorted(kept)]


def student_code(notebook: dict, template: Template, key: str, student_id: str, origin: str) -> StudentCode:
    """The student's own code lines (see the module's docstring) from a parsed notebook."""
    code = StudentCode(key, student_id, origin)
    seen: set[str] = set()
    anchor = "the top"
    for cell in notebook.get("cells", []):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            continue
        grade_id = _grade_id(cell)
        if grade_id is not None and (grade_id in template.instructor_ids or
                                     (grade_id in template.answer_ids and grade_id not in seen)):
            anchor = clean(grade_id)
            if grade_id in template.instructor_ids or cell.get("cell_type") != "code":
                seen.add(grade_id)
                continue  # the instructor's cell (grading uses the instructor's copy), or a written answer
            seen.add(grade_id)
            stub = template.stubs.get(grade_id, "")
            lines = own_lines(clean(_text(cell.get("source")), keep_control=False), stub)
            code.lines += [Line(anchor, number, text) for number, text in lines]
            continue
        if cell.get("cell_type") != "code":
            continue
        label = f"your cell after {anchor}"
        source = clean(_text(cell.get("source")), keep_control=False)
        code.lines += [Line(label, number, text) for number, text in enumerate(source.split("\n"), 1)]
    _drop_blank_lines(code)
    total = sum(len(line.text) + 1 for line in code.lines)
    if total > MAX_CODE_CHARS:
        kept, size = [], 0
        for line in code.lines:
            size += len(line.text) + 1
            if size > MAX_CODE_CHARS:
                break
            kept.append(line)
        code.lines = kept
        code.notes.append(f"only the first {MAX_CODE_CHARS:,} characters of {total:,} were compared")
    return code


def _drop_blank_lines(code: StudentCode) -> None:
    """Lines with nothing but spaces carry no code: dropped (they only shift what the tool reads)."""
    code.lines = [line for line in code.lines if line.text.strip()]


def read_student(path: Path, template: Template, key: str, student_id: str,
                 origin: str) -> StudentCode | Unreadable:
    """One notebook file read as grading reads it (autograder.assemble.read_notebook): its code, or why not."""
    try:
        notebook = read_notebook(path)
    except InvalidNotebook as error:
        return Unreadable(key, student_id, origin, "invalid", str(error))
    except OSError as error:
        return Unreadable(key, student_id, origin, "invalid", f"the notebook could not be read ({error.strerror})")
    return student_code(notebook, template, key, student_id, origin)
