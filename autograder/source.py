"""The instructor's side of an assignment, read once per batch: which cells exist (by nbgrader ``grade_id``), their
roles and points, the released stub of every answer cell, and the checks each test cell runs (parsed with ``ast``
from the INSTRUCTOR's source, never from a student's copy)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

# roles of the cells that carry nbgrader metadata
SOLUTION = "solution"  # autograded answer cell: the student's code is kept
MANUAL = "manual"  # manually graded answer (solution + grade): the student's text is kept, graded by a person
TASK = "task"  # manually graded task description: instructor's cell, graded by a person
TEST = "test"  # autograded test cell: instructor's cell, points come from its checks
LOCKED = "locked"  # any other instructor cell (read-only text, imports, helpers)


@dataclass(frozen=True)
class ExpectedCheck:
    name: str
    kind: str  # "visible" or "hidden"


@dataclass
class SourceCell:
    index: int
    grade_id: str
    cell_type: str
    role: str
    source: str  # the instructor's source (with solutions and hidden tests)
    stub: str  # what the release shows (solutions and hidden tests removed)
    checksum: str | None  # nbgrader's checksum of the released cell ("no response" when a student's cell matches)
    points: float = 0.0
    bonus: bool = False
    expected: list[ExpectedCheck] = field(default_factory=list)
    cpu_limit_s: float | None = None  # the cell's own CPU-time limit (metadata autograder.cpu_limit_s), or the default
    skip_when_graded: bool = False  # metadata autograder.skip_when_graded: a cell for the student only (a training
    # run the test cell repeats with the grader's data), not run when the notebook is graded or checked

    @property
    def graded(self) -> bool:
        return self.role in (TEST, MANUAL, TASK)


@dataclass
class AssignmentSource:
    assignment_id: str
    cells: list[SourceCell]  # the nbgrader cells, in the instructor's order
    kernel_metadata: dict

    def by_id(self) -> dict[str, SourceCell]:
        return {cell.grade_id: cell for cell in self.cells}

    @property
    def test_cells(self) -> list[SourceCell]:
        return [c for c in self.cells if c.role == TEST]

    @property
    def max_score(self) -> float:
        """Autograded points, bonus excluded."""
        return sum(c.points for c in self.test_cells if not c.bonus)

    @property
    def bonus_max(self) -> float:
        return sum(c.points for c in self.test_cells if c.bonus)

    @property
    def manual_max(self) -> float:
        return sum(c.points for c in self.cells if c.role in (MANUAL, TASK))


def role_of(nbgrader: dict, cell_type: str) -> str:
    solution, grade, task = bool(nbgrader.get("solution")), bool(nbgrader.get("grade")), bool(nbgrader.get("task"))
    if task:
        return TASK
    if solution and grade:
        return MANUAL
    if solution:
        return SOLUTION
    if grade and cell_type == "code":
        return TEST
    if grade:  # a graded markdown cell that is not an answer: graded by a person
        return TASK
    return LOCKED


def parse_expected_checks(source: str) -> list[ExpectedCheck]:
    """The ``check(name, func, kind=...)`` calls of a test cell, in order (names and kinds must be literals)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        from IPython.core.inputtransformer2 import TransformerManager

        tree = ast.parse(TransformerManager().transform_cell(source))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if called != "check" or not node.args or not isinstance(node.args[0], ast.Constant):
            continue
        kind = "visible"
        if len(node.args) >= 3 and isinstance(node.args[2], ast.Constant):
            kind = node.args[2].value
        for keyword in node.keywords:
            if keyword.arg == "kind" and isinstance(keyword.value, ast.Constant):
                kind = keyword.value.value
        found.append((node.lineno, node.col_offset, ExpectedCheck(str(node.args[0].value), str(kind))))
    return [expected for *_, expected in sorted(found, key=lambda item: item[:2])]


def load_source(assignment_id: str, source_path: Path, release_path: Path) -> AssignmentSource:
    """Read the instructor's notebook and its nbgrader release (for the stubs and checksums)."""
    source_nb = nbformat.read(str(source_path), as_version=4)
    release_nb = nbformat.read(str(release_path), as_version=4)
    released = {}
    for cell in release_nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None:
            released.setdefault(grade_id, cell)
    cells, seen = [], set()
    for index, cell in enumerate(source_nb.cells):
        meta = cell.metadata.get("nbgrader")
        if not meta or not meta.get("grade_id"):
            continue
        grade_id = meta["grade_id"]
        if grade_id in seen:
            raise ValueError(f"{source_path}: grade_id {grade_id!r} is used twice")
        seen.add(grade_id)
        role = role_of(meta, cell.cell_type)
        release_cell = released.get(grade_id)
        points = float(meta.get("points", 0) or 0) if (meta.get("grade") or meta.get("task")) else 0.0
        bonus = bool(cell.metadata.get("autograder", {}).get("bonus", False))
        cells.append(SourceCell(
            index=index, grade_id=grade_id, cell_type=cell.cell_type, role=role, source=cell.source,
            stub=release_cell.source if release_cell is not None else "",
            checksum=release_cell.metadata.get("nbgrader", {}).get("checksum") if release_cell is not None else None,
            points=points, bonus=bonus,
            expected=parse_expected_checks(cell.source) if role == TEST else [],
            cpu_limit_s=cpu_limit_of(cell.metadata, source_path, grade_id),
            skip_when_graded=bool(cell.metadata.get("autograder", {}).get("skip_when_graded", False))))
    return AssignmentSource(assignment_id, cells, dict(source_nb.metadata.get("kernelspec", {})))


def cpu_limit_of(metadata: dict, source_path: Path, grade_id: str) -> float | None:
    """A cell's own CPU-time limit in seconds (``"autograder": {"cpu_limit_s": 300}`` in its metadata), for a test
    whose checks draw many samples (a correct estimator written as a loop over samples needs minutes)."""
    value = metadata.get("autograder", {}).get("cpu_limit_s")
    if value is None:
        return None
    if type(value) not in (int, float) or not 0 < value <= 3600:
        raise ValueError(f"{source_path}: cell {grade_id}: autograder.cpu_limit_s must be seconds from 0 to 3600, "
                         f"not {value!r}")
    return float(value)


def _code_cells(source_path: Path) -> list[tuple[dict, str]]:
    """(metadata, source text) of each code cell, read without nbformat (cheap: for the batch's start)."""
    import json

    notebook = json.loads(Path(source_path).read_text(encoding="utf-8"))
    return [(cell.get("metadata", {}), "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"])
            for cell in notebook.get("cells", []) if cell.get("cell_type") == "code"]


def check_names(source_path: Path) -> list[str]:
    """The names of the checks the instructor's test cells call (for warming up the judges)."""
    names = []
    for metadata, text in _code_cells(source_path):
        if metadata.get("nbgrader", {}).get("grade"):
            names += [check.name for check in parse_expected_checks(text) if check.name not in names]
    return names


def notebook_imports(source_path: Path) -> list[str]:
    """The modules the instructor's notebook imports (``import a.b``, ``from a.b import c``: "a.b"), except the
    autograder's own: the grading sandbox's zygotes import them once before forking, so that no submission pays for
    them (vaelib.data brings scikit-learn: ~0.9 CPU-s). Cells that do not parse (magics) are skipped."""
    found: list[str] = []
    for _, text in _code_cells(source_path):
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found += [name for name in names if name.split(".")[0] != "autograder" and name not in found]
    return found
