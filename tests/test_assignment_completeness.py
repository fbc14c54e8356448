"""Every assignment is complete: for each one in solutions/ (found there, never listed), ONE failure message that
names everything still missing, what to write where, and why. This is the checklist a teaching assistant who
added an exercise with `python -m autograder new` works through (the guide "Adding an exercise")."""

from __future__ import annotations

import ast
import importlib
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from autograder.assignments import ASSIGNMENTS
from autograder.judging import JUDGES
from autograder.judging.sections import CHAPTERS
from autograder.scaffold import book_sections
from autograder.source import load_source, parse_expected_checks
from autograder.student.probes import PROBES
from tests.submissions.make_submissions import ASSIGNMENTS as IDS
from tests.submissions.make_submissions import MUTANTS

ROOT = Path(__file__).resolve().parents[1]
WHY = {
    "settings": "the title heads the feedback and summary; the limits stop a notebook that never ends",
    "todo": "`python -m autograder new` left them",
    "check": "a test cell's check() calls the probe (student side: draws the cases, calls the function) and the "
             "judge of that name (grader side: decides)",
    "hidden": "the visible check runs on fixed cases the student sees; the hidden one on cases drawn when grading, "
              "so that a function cannot be fitted to the visible answers",
    "section": "every failed check links the student to this section of the book",
    "written": "each problem set has a written answer graded by hand against a rubric the students see",
    "mutants": "each misconception is a wrong implementation a student would write: as a mutant it must fail its "
               "check under 20 grading seeds, which shows that the judge catches the bug; a student whose outputs "
               "match it is told so in their feedback",
    "link": "students find the notebook in the exercises section of its chapter (book_site adds the link)",
    "release": "students get exercises/ (nbgrader's release of solutions/, no solutions or hidden tests)",
}


def _placeholders(path: Path) -> list[str]:
    if not path.is_file():
        return []
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if re.search(r"\bTODO\b|\btodo\b", line):
            found.append(f"{path.relative_to(ROOT)} line {number}: {line.strip()[:110]}")
    return found


def _notebook_placeholders(path: Path) -> list[str]:
    import json

    found = []
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for line in text.splitlines():
            if re.search(r"\bTODO\b", line):
                grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", cell.get("id"))
                found.append(f"{path.relative_to(ROOT)}, cell {grade_id}: {line.strip()[:100]}")
    return found


def missing_pieces(assignment: str) -> list[str]:
    """What the assignment still lacks, one line each: what to write, where, and why."""
    problems: list[str] = []
    notebook = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    released = ROOT / "exercises" / assignment / f"{assignment}.ipynb"
    cases = ROOT / "autograder" / "student" / "cases" / f"{assignment}.py"
    judges = ROOT / "autograder" / "judging" / f"{assignment}.py"
    config = ASSIGNMENTS.get(assignment)
    if config is None or not config.title:
        problems.append(f"autograder/assignments.py: no settings with a title for {assignment}: add "
                        f"\"{assignment}\": AssignmentConfig(cell_timeout_s=30.0, notebook_timeout_s=120.0, "
                        f"title=\"Problem set N: ...\") to ASSIGNMENTS ({WHY['settings']})")
    todos = _notebook_placeholders(notebook) + _placeholders(cases) + _placeholders(judges)
    if config is not None and "TODO" in config.title:
        todos.append(f"autograder/assignments.py: the title of {assignment} ({config.title!r})")
    if todos:
        problems.append(f"placeholders still to fill in ({WHY['todo']}; each says what goes there):\n    "
                        + "\n    ".join(todos))

    source = load_source(assignment, notebook, released if released.is_file() else notebook)
    checks = []
    for cell in source.test_cells:
        kinds = Counter((c.name, c.kind) for c in parse_expected_checks(cell.source))
        for name in sorted({name for name, _ in kinds}):
            checks.append(name)
            if name not in PROBES or name not in JUDGES:
                side = " and ".join(s for s, registry in (("a probe in " + str(cases.relative_to(ROOT)), PROBES),
                                                          ("a judge in " + str(judges.relative_to(ROOT)), JUDGES))
                                    if name not in registry)
                problems.append(f"test cell {cell.grade_id} calls check({name!r}, ...): register {side} under "
                                f"that name ({WHY['check']})")
            if not PROBES.get(name) or not getattr(PROBES[name], "drawn_at_grading", False):
                if kinds[(name, "visible")] != 1 or kinds[(name, "hidden")] != 1:
                    problems.append(f"test cell {cell.grade_id}: check({name!r}, f) once, and check({name!r}, f, "
                                    f"kind=\"hidden\") once between ### BEGIN HIDDEN TESTS and ### END HIDDEN "
                                    f"TESTS ({WHY['hidden']})")

    sections = book_sections(ROOT)
    for name in checks:
        judge = JUDGES.get(name)
        for reading in judge.section if judge else ():
            if sections.get(reading.label, (None, None))[1] != reading.title:
                chapter = re.match(r"ch(\d)-", reading.label)
                document = CHAPTERS.get(int(chapter[1]), (None,))[0] if chapter else None
                listing = "; ".join(f"{label} \"{title}\"" for label, (doc, title) in sections.items()
                                    if doc == document)
                problems.append(f"{judges.relative_to(ROOT)}: the judge {name} sends students to section "
                                f"{reading.label!r} titled {reading.title!r}, which is not a labelled heading of "
                                f"the book: use Reading(label, heading) with one of "
                                f"{listing or 'the labels `python -m autograder new --sections` lists'}, or add a "
                                f"`(label)=` line above a heading in book/ ({WHY['section']})")

    manual = [c for c in source.cells if c.role == "manual"]
    order = [c.grade_id for c in source.cells]
    if not manual:
        problems.append(f"{notebook.relative_to(ROOT)}: no written answer graded by hand: add a locked Markdown "
                        f"cell with the question and 'How this will be marked (N points)', then a Markdown answer "
                        f"cell with nbgrader grade and solution set ({WHY['written']})")
    for cell in manual:
        before = source.by_id().get(order[order.index(cell.grade_id) - 1]) if order.index(cell.grade_id) else None
        if before is None or before.role != "locked" or "How this will be marked" not in before.source:
            problems.append(f"{notebook.relative_to(ROOT)}: the written answer {cell.grade_id} needs its rubric "
                            f"in the cell before it ('How this will be marked (N points)') ({WHY['written']})")

    mutants = [m for m in MUTANTS if m.assignment == assignment]
    per_check = Counter(check for m in mutants for check in m.checks)
    bare = [name for name in checks if not per_check[name]]
    wanted = min(12, 3 * len(checks))
    if bare or len(mutants) < wanted:
        problems.append(f"mutants: {len(mutants)} for {assignment}"
                        + (f", none failing {', '.join(bare)}" if bare else "")
                        + f"; write at least {max(wanted - len(mutants), len(bare))} more, at least one per check, "
                          f"as Misconception(...) in MISCONCEPTIONS of {judges.relative_to(ROOT)} (the worked "
                          f"example there shows one) ({WHY['mutants']})")

    linked = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["sphinx"]["config"].get(
        "exercise_notebooks", {})
    pages = [page for page, ids in linked.items() if assignment in ids and page != "book/intro"]
    if not pages:
        problems.append(f"_config.yml: list {assignment} under exercise_notebooks for its chapter "
                        f"(book/chN_...: [..., {assignment}]) and for book/intro ({WHY['link']})")
    if not released.is_file():
        problems.append(f"exercises/{assignment}/ does not exist: run `python -m autograder release {assignment}` "
                        f"({WHY['release']})")
    return problems


@pytest.mark.parametrize("assignment", IDS)
def test_the_assignment_is_complete(assignment):
    problems = missing_pieces(assignment)
    assert not problems, f"{assignment} is not complete yet:\n- " + "\n- ".join(problems)


def test_the_check_modules_are_found_by_name():
    """A module on each side per assignment, named like it; never an import line written by hand."""
    from autograder.student.cases import ASSIGNMENT_MODULES

    assert set(ASSIGNMENT_MODULES) >= set(IDS), "every assignment in solutions/ has its modules"
    for name in ASSIGNMENT_MODULES:
        assert importlib.import_module(f"autograder.judging.{name}")
    for package in ("autograder/student/cases/__init__.py", "autograder/judging/__init__.py"):
        tree = ast.parse((ROOT / package).read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    for alias in node.names}
        assert not imported & set(ASSIGNMENT_MODULES), f"{package} imports an assignment module by name"
