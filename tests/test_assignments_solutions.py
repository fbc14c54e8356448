"""The four assignments: well-formed nbgrader source notebooks whose solutions pass every check.

Runs the graded functions in-process (setup and solution cells exec'd in a namespace) and calls
autograder.student.probes.probe and autograder.judging.judge directly; the CLI end to end is tested elsewhere.
"""

from __future__ import annotations

import ast

import nbformat
import pytest

from autograder.assignments import ASSIGNMENTS
from autograder.judging import JUDGES as REGISTRY
from autograder.student.probes import PROBES, VISIBLE_SEED
from tests.submissions.harness import argument_for, run_check, solution_namespace
from tests.submissions.make_submissions import ASSIGNMENTS as IDS
from tests.submissions.make_submissions import load_solution


def graded_cells(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]


def parsed_checks(source: str) -> list[tuple[str, str, str]]:
    """(check name, argument expression, kind) of every check() call in a test cell; asserts nothing else is there."""
    calls = []
    for statement in ast.parse(source).body:
        if isinstance(statement, ast.ImportFrom):
            assert statement.module == "autograder.checks" and [a.name for a in statement.names] == ["check"]
            continue
        assert isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call), ast.dump(statement)
        call = statement.value
        assert isinstance(call.func, ast.Name) and call.func.id == "check"
        kind = "visible"
        for keyword in call.keywords:
            assert keyword.arg == "kind"
            kind = keyword.value.value
        calls.append((call.args[0].value, ast.unparse(call.args[1]), kind))
    return calls


def all_checks(assignment):
    cells = graded_cells(load_solution(assignment))
    return sorted({name for cell in cells for name, _, _ in parsed_checks(cell.source)})


@pytest.mark.parametrize("assignment", IDS)
def test_notebook_is_a_valid_nbgrader_source(assignment):
    from nbgrader.nbgraderformat import MetadataValidator

    nb = load_solution(assignment)
    MetadataValidator().validate_nb(nb)  # nbgrader's own checks (grade ids, points, markdown grade+solution)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)) == len(nb.cells), "every cell has a unique grade_id"
    for cell in nb.cells:
        meta = cell.metadata["nbgrader"]
        assert meta["schema_version"] == 3
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{meta['grade_id']} has outputs"
        if meta["solution"] and cell.cell_type == "code":
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
            assert '"""' in cell.source, f"{meta['grade_id']}: the function needs a docstring"
        if meta["grade"]:
            assert meta["points"] > 0 and meta["locked"] != meta["solution"]
    written = [c for c in nb.cells if c.cell_type == "markdown" and c.metadata["nbgrader"]["grade"]]
    assert written, "at least one manually graded written answer"
    rubric_cell = nb.cells[nb.cells.index(written[0]) - 1]
    assert rubric_cell.metadata["nbgrader"]["locked"] and "How this will be marked" in rubric_cell.source
    assert assignment in ASSIGNMENTS and ASSIGNMENTS[assignment].title


@pytest.mark.parametrize("assignment", IDS)
def test_test_cells_only_call_registered_checks_visible_and_hidden(assignment):
    for cell in graded_cells(load_solution(assignment)):
        calls = parsed_checks(cell.source)
        assert calls, cell.metadata["nbgrader"]["grade_id"]
        names = {name for name, _, _ in calls}
        assert names <= set(REGISTRY)
        for name in names:
            kinds = sorted(kind for n, _, kind in calls if n == name)
            # a check whose visible cases are drawn at grading time (the grader's data) needs no hidden twin
            expected = ["visible"] if PROBES[name].drawn_at_grading else ["hidden", "visible"]
            assert kinds == expected, (name, kinds)
        if "### BEGIN HIDDEN TESTS" in cell.source:
            hidden_block = cell.source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
            assert all(kind == "hidden" for _, _, kind in parsed_checks(hidden_block))


def test_every_registered_check_is_used_by_exactly_one_assignment():
    used = [name for assignment in IDS for name in all_checks(assignment)]
    assert sorted(used) == sorted(REGISTRY)


def test_bonus_cell_is_marked():
    bonus = [c for c in load_solution("ps3_elbo").cells if c.metadata.get("autograder", {}).get("bonus")]
    assert [c.metadata["nbgrader"]["grade_id"] for c in bonus] == ["test_iwae_bound"]


@pytest.mark.parametrize("assignment", IDS)
def test_solution_passes_every_check(assignment):
    scope = solution_namespace(assignment)
    failures = []
    for cell in graded_cells(load_solution(assignment)):
        for name, expression, kind in parsed_checks(cell.source):
            func = eval(expression, scope)  # noqa: S307 - the instructor's own test cell
            seeds = [VISIBLE_SEED] if kind == "visible" else [11, 12, 13]
            for seed in seeds:
                verdict = run_check(name, func, seed, kind)
                if not verdict.passed:
                    failures.append(verdict.message)
    assert not failures, "\n\n".join(failures)


def test_argument_names_match_the_test_cells():
    for assignment in IDS:
        for cell in graded_cells(load_solution(assignment)):
            for name, expression, _ in parsed_checks(cell.source):
                assert argument_for(name) == expression or expression == name, (name, expression)
