"""The similarity report's committed cases for ps3_elbo, written as submission folders.

``write_cases(target)`` writes ``target/<student>/ps3_elbo.ipynb`` for:

* every independent student of students.py (``independent_*``: correct answers written independently);
* for each of them, one copy per disguise of disguises.py (``<student>__<disguise>``, ``__all`` combining every
  disguise): the copier starts from the student's notebook and disguises every answer cell; the ``reorder`` and
  ``all`` copies also move the answer cells around in the notebook (grading matches cells by id, not by place);
* four blank notebooks: the release as handed out; saved again with outputs and an empty cell added; and twice the
  release with every cell's nbgrader metadata lost (as when a student pastes the cells into a new notebook: every
  cell, the instructor's included, then counts as the student's own), once with the cells' outputs.

A student's family is the student and their copies: a pair of one family is a copy pair, a pair of two families is
independent. Every notebook here would be graded like a real submission (tests/test_similarity_cases.py checks the
answers of each family against the solution, disguised or not).
"""

from __future__ import annotations

import copy
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from disguises import DISGUISES  # noqa: E402
from students import ASSIGNMENT, FUNCTIONS, ROOT, STUDENTS, body_lines  # noqa: E402

RELEASE = ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
STUB_BODY = ["    # YOUR CODE HERE", "    raise NotImplementedError()"]
BLANKS = ("blank_1", "blank_2", "blank_3", "blank_4")


def release() -> dict:
    return json.loads(RELEASE.read_text(encoding="utf-8"))


def _grade_id(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def fill(stub: str, function: str, answer: str) -> str:
    """The released cell with the student's answer: helpers above the ``def``, the body in place of the stub's."""
    before, body, after = body_lines(answer, function)
    lines = stub.rstrip("\n").split("\n")
    start = next(i for i, line in enumerate(lines) if line.strip() == STUB_BODY[0].strip())
    filled = lines[:start] + body + lines[start + len(STUB_BODY):]
    return "\n".join([*before, *filled, *after]).strip("\n") + "\n"


def notebook_for(answers: dict[str, str], cells_reversed: bool = False) -> dict:
    """The release with each answer cell's source replaced by ``answers[grade_id]`` (a full cell source)."""
    notebook = release()
    positions = []
    for index, cell in enumerate(notebook["cells"]):
        grade_id = _grade_id(cell)
        if grade_id in answers:
            cell["source"] = answers[grade_id]
            positions.append(index)
    if cells_reversed:  # the answer cells swap places (first with last, ...)
        moved = [notebook["cells"][i] for i in positions]
        for index, cell in zip(positions, reversed(moved), strict=True):
            notebook["cells"][index] = cell
    return notebook


def student_cells(student: str) -> dict[str, str]:
    stubs = {_grade_id(cell): "".join(cell["source"]) for cell in release()["cells"] if _grade_id(cell) in FUNCTIONS}
    return {f: fill(stubs[f], f, STUDENTS[student][f]) for f in FUNCTIONS}


def disguised_cells(student: str, disguise: str) -> dict[str, str]:
    """Every answer cell of ``student`` disguised; what the disguise draws (dead code) depends on the student, the
    disguise and the cell, and is the same on every run."""
    change = DISGUISES[disguise]
    return {f: change(code, random.Random(f"{student}/{disguise}/{f}")) for f, code in student_cells(student).items()}


def families() -> dict[str, list[str]]:
    """Family name -> the submission folders of the student and their copies."""
    return {student: [student] + [f"{student}__{d}" for d in DISGUISES] for student in STUDENTS}


def write_cases(target: Path) -> list[str]:
    """Write every case under ``target``; return the folder names."""
    target = Path(target)
    written = []

    def put(name: str, notebook: dict) -> None:
        (target / name).mkdir(parents=True, exist_ok=True)
        (target / name / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(notebook, indent=1), encoding="utf-8")
        written.append(name)

    for student in STUDENTS:
        put(student, notebook_for(student_cells(student)))
        for disguise in DISGUISES:
            put(f"{student}__{disguise}", notebook_for(disguised_cells(student, disguise),
                                                       cells_reversed=disguise in ("reorder", "all")))
    put(BLANKS[0], release())
    blank = copy.deepcopy(release())
    for cell in blank["cells"]:
        if cell["cell_type"] == "code":
            cell["execution_count"] = 3
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "ran\n"}]
    blank["cells"].insert(2, {"cell_type": "code", "metadata": {}, "source": "", "outputs": [],
                              "execution_count": None})
    put(BLANKS[1], blank)
    stripped = release()
    for cell in stripped["cells"]:
        cell["metadata"] = {}
    put(BLANKS[2], stripped)
    for cell in blank["cells"]:
        cell["metadata"] = {}
    put(BLANKS[3], blank)
    return written


if __name__ == "__main__":
    print("\n".join(write_cases(Path(sys.argv[1]))))
