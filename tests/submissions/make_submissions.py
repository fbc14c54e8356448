"""Realistic submissions built from the solution notebooks: one function's source replaced.

The small API used by the grading-correctness tests, the engine's end-to-end tests and the benchmark:

* ``load_solution(assignment) -> NotebookNode``: the nbgrader source notebook ``solutions/<id>/<id>.ipynb``.
* ``apply_replacement(nb, function_name, new_source) -> NotebookNode``: a copy of ``nb`` in which the top-level
  ``def function_name`` (found with ``ast``) is replaced by ``new_source``; everything else is unchanged.
* ``make_variant(variant) -> NotebookNode``: the solution with a :class:`Variant`'s replacement applied.
* ``MUTANTS`` / ``ALTERNATIVES``: lists of :class:`Variant` (realistic bugs that must lose points / other correct
  implementations that must keep them), from ``mutants.py`` and ``alternatives.py`` next to this file.
* ``namespace(assignment, variant=None, also=()) -> dict``: the solution's setup cell and solution cells executed in
  a fresh namespace (test cells and demonstration cells skipped), with the variants' functions swapped in: fast,
  in-process access to the graded functions for ``autograder.student.probes.probe`` / ``autograder.judging.judge``.
* ``make_submissions(assignment, target)``: writes ``target/<variant name>/<assignment>.ipynb`` for every mutant and
  alternative of the assignment (the benchmark and end-to-end tests use it).

This file is also loaded by path (``importlib.util.spec_from_file_location``), so it imports its siblings by path.
"""

from __future__ import annotations

import ast
import copy
import sys
import textwrap
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from alternatives import ALTERNATIVES  # noqa: E402, I001
from mutants import MUTANTS  # noqa: E402
from variants import Variant  # noqa: E402  (the sibling modules, imported by path)

# every assignment of the course: solutions/<id>/<id>.ipynb (never a list kept by hand)
ASSIGNMENTS = tuple(sorted(p.name for p in (ROOT / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file()))

SETUP_CELL = "setup"

__all__ = ["ALTERNATIVES", "ASSIGNMENTS", "MUTANTS", "Variant", "apply_replacement", "load_solution",
           "make_submissions", "make_variant", "namespace", "solution_path"]


def solution_path(assignment: str) -> Path:
    return ROOT / "solutions" / assignment / f"{assignment}.ipynb"


def load_solution(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(str(solution_path(assignment)), as_version=4)


def _defines(source: str, function_name: str) -> tuple[int, int] | None:
    """(first line, last line), 1-based, of the top-level ``def function_name`` in ``source``, or None."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == function_name:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            return first, node.end_lineno
    return None


def apply_replacement(nb: nbformat.NotebookNode, function_name: str, new_source: str) -> nbformat.NotebookNode:
    """A copy of ``nb`` with the code cell defining ``function_name`` rewritten: the function's lines are replaced
    by ``new_source`` (dedented; it may define helpers or import modules too). Raises KeyError if no cell defines
    the function."""
    result = copy.deepcopy(nb)
    for cell in result.cells:
        if cell.cell_type != "code":
            continue
        span = _defines(cell.source, function_name)
        if span is None:
            continue
        lines = cell.source.split("\n")
        first, last = span
        replacement = textwrap.dedent(new_source).strip("\n").split("\n")
        cell.source = "\n".join(lines[: first - 1] + replacement + lines[last:])
        return result
    raise KeyError(f"no code cell defines {function_name!r}")


def make_variant(variant: Variant) -> nbformat.NotebookNode:
    return apply_replacement(load_solution(variant.assignment), variant.function, variant.source)


def _is_test_cell(cell) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("grade")) and cell.cell_type == "code"


def namespace(assignment: str, variant: Variant | None = None, extra_cells: tuple[str, ...] = (),
              also: tuple[Variant, ...] = ()) -> dict:
    """Execute the setup cell and every solution cell (plus the locked cells named in ``extra_cells``) of the
    solution notebook, with ``variant`` (and the further variants ``also``) applied, in a fresh namespace; return
    the namespace."""
    nb = load_solution(assignment) if variant is None else make_variant(variant)
    for other in also:
        nb = apply_replacement(nb, other.function, other.source)
    scope: dict = {"__name__": f"submission_{assignment}"}
    for cell in nb.cells:
        if cell.cell_type != "code" or _is_test_cell(cell):
            continue
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") or cell.get("id") == SETUP_CELL or cell.get("id") in extra_cells:
            exec(compile(cell.source, f"<{assignment}:{cell.get('id')}>", "exec"), scope)  # noqa: S102
    return scope


def make_submissions(assignment: str, target: Path | str, include: str = "both") -> list[Path]:
    """Write one notebook per mutant / alternative of ``assignment`` to ``target/<name>/<assignment>.ipynb``.

    include: "mutants", "alternatives" or "both". Returns the paths written.
    """
    target = Path(target)
    chosen = []
    if include in ("mutants", "both"):
        chosen += [("mutant", v) for v in MUTANTS if v.assignment == assignment]
    if include in ("alternatives", "both"):
        chosen += [("alt", v) for v in ALTERNATIVES if v.assignment == assignment]
    written = []
    for prefix, variant in chosen:
        folder = target / f"{prefix}_{variant.name}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{assignment}.ipynb"
        nbformat.write(make_variant(variant), str(path))
        written.append(path)
    return written
