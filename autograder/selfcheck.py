"""``python -m autograder check NOTEBOOK``: a student's self-check with the VISIBLE tests.

The notebook runs in this process the way the grader runs it (the instructor's test cells, the student's answers;
``check()`` records what the student's functions return) and each test cell is judged by the grader's own code
(autograder.scoring). When the notebook belongs to a known assignment, its test cells come from the released
assignment (an edited test cannot pass by accident); otherwise the notebook's own test cells run as they are.

For a student the output names every cell as Jupyter shows it (grade_id and the heading above it), shows the
inputs of a failed visible case with a line that reproduces it (the visible cases are drawn from the fixed
VISIBLE_SEED, so nothing hidden is revealed), links to the book section to read, and lists what is not checked
here: answers graded by hand and bonus cells. Exit code 0 when every visible test passes, 1 otherwise.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from .assemble import Assembled, InvalidNotebook, assemble, code_cells_for_run, read_notebook
from .course import REPO_ROOT, UsageError
from .source import MANUAL, TASK, TEST, load_source
from .text import clean

INDENT = "      "


def _source_for(notebook_path: Path, course_root: Path | None):
    roots = [Path(course_root)] if course_root else [REPO_ROOT]
    stem = notebook_path.stem
    for root in roots:
        release = root / "exercises" / stem / f"{stem}.ipynb"
        if release.is_file():
            return load_source(stem, release, release), f"the released {stem}"
    return load_source(stem, notebook_path, notebook_path), "the notebook's own test cells"


def headings(assembled: Assembled) -> dict[int, str]:
    """position -> the last Markdown heading above that cell (as the notebook shows it)."""
    found, current = {}, ""
    for cell in assembled.cells:
        found[cell.position] = current
        if cell.cell_type == "markdown" and cell.origin == "source":  # the instructor's text, not an answer
            for line in cell.source.splitlines():
                if line.lstrip().startswith("#"):
                    current = line.strip().lstrip("#").strip()
    return found


def _called_functions(test_source: str) -> dict[tuple[str, str], str]:
    """(check name, kind) -> the source of the function argument of that ``check(...)`` call in a test cell."""
    try:
        tree = ast.parse(test_source)
    except SyntaxError:
        return {}
    found = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "check"
                and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant)):
            kind = "visible"
            if len(node.args) >= 3 and isinstance(node.args[2], ast.Constant):
                kind = node.args[2].value
            kind = next((k.value.value for k in node.keywords if k.arg == "kind" and isinstance(k.value, ast.Constant)),
                        kind)
            found.setdefault((str(node.args[0].value), str(kind)), ast.unparse(node.args[1]))
    return found


def first_failing_case(name: str, seed: int, kind: str, outcomes: list) -> int | None:
    """The index of the first case the judge fails (what ``judge`` reports as "case N of M")."""
    from .judging import JUDGES, CheckFailure, prepared_cases
    from .judging.records import RecordError, decode_outcome

    try:
        decoded = sorted((decode_outcome(o) for o in outcomes), key=lambda o: o.case)
    except RecordError:
        return None
    cases = prepared_cases(name, seed, kind)
    for outcome in decoded:
        if not 0 <= outcome.case < len(cases):
            return None
        if outcome.error is not None:
            return outcome.case
        try:
            JUDGES[name].assess(cases[outcome.case], outcome.value)
        except CheckFailure:
            return outcome.case
        except Exception:  # noqa: BLE001 - a value the assessment did not expect: this case
            return outcome.case
    return None


def describe_value(value, limit: int = 12) -> str:
    import numpy as np
    import torch

    if isinstance(value, (bool, int, float, str)) or value is None:
        return repr(value)
    if isinstance(value, torch.nn.Module):
        return f"a {type(value).__name__} module: " + repr(value).splitlines()[0][:120]
    if callable(value) and not isinstance(value, torch.Tensor):
        return "a function the test gives your code (it works elementwise on tensors)"
    try:
        array = np.asarray(value.detach() if isinstance(value, torch.Tensor) else value)
    except Exception:  # noqa: BLE001
        return repr(value)[:200]
    if array.dtype == object:
        return repr(value)[:200]
    text = np.array2string(array, precision=4, threshold=limit, edgeitems=2, max_line_width=96)
    text = text.replace("\n", "\n" + INDENT + "    ")
    kind = "tensor " if isinstance(value, torch.Tensor) else ""
    return f"{text}  ({kind}shape {tuple(array.shape)})" if array.ndim else text


def parameters_of(assembled: Assembled, function: str) -> list[str]:
    """The parameter names of the student's own ``def function(...)`` (empty when it cannot be parsed)."""
    for cell in assembled.code_cells():
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == function:
                return [a.arg for a in node.args.posonlyargs + node.args.args]
    return []


def case_lines(name: str, seed: int, kind: str, index: int, total: int, function: str | None,
               parameters: list[str]) -> list[str]:
    """The arguments a failed visible case called the student's function with, named as in their own def, and the
    line that calls it again on them in the student's notebook (autograder.checks.visible_case)."""
    from .student.probes import PROBES, arguments_of, draw_cases

    try:
        args, kwargs = arguments_of(name, draw_cases(name, seed, kind)[index])
    except LookupError:
        return []
    lines = [f"Your {function or 'function'} was called with (case {index + 1} of {total}):"]
    for position, value in enumerate(args):
        label = parameters[position] if position < len(parameters) else f"argument {position + 1}"
        lines.append(f"  {label} = {describe_value(value)}")
    lines += [f"  {key} = {describe_value(value)}" for key, value in kwargs.items()]
    if function and not PROBES[name].drawn_at_grading:
        lines += ["To see what it returns, run this in a new cell of your notebook (delete the cell when done):",
                  f'  from autograder.checks import visible_case; visible_case("{name}", {index + 1}, {function})']
    return lines


NOT_WRITTEN = "NotImplementedError"


def not_written(verdict) -> bool:
    """Every failed check of the cell only says that the student's function raises NotImplementedError (the
    released stub): one line is enough."""
    failed = [m for m in verdict.messages if not m.startswith("Passed: ")]
    return bool(failed) and all(f"Your function raised: {NOT_WRITTEN}" in m for m in failed)


def _with_links(message: str, readings, book_url: str) -> list[str]:
    links = {str(r): r.url(book_url) for r in readings}
    lines = []
    for line in message.split("\n"):
        lines.append(line)
        if line.startswith("Read: "):
            lines += [f"      {links[part]}" for part in line.removeprefix("Read: ").split("; ") if part in links]
    return lines


def release_dir(notebook_path: Path, course_root: Path | None) -> Path | None:
    """The released assignment's folder the notebook belongs to (its data files are the run's), or None."""
    root = Path(course_root) if course_root else REPO_ROOT
    folder = root / "exercises" / notebook_path.stem
    return folder if (folder / f"{notebook_path.stem}.ipynb").is_file() else None


def self_check(notebook_path: Path, course_root: Path | None = None, cell_timeout_s: float | None = None,
               out=sys.stdout, book_url: str | None = None) -> int:
    from .assignments import config_for
    from .check_sandbox import run_notebook
    from .judging.sections import book_url as resolve_book_url
    from .scoring import score_test_cells
    from .source import notebook_imports
    from .student.probes import seed_for

    notebook_path = Path(notebook_path)
    if not notebook_path.is_file() and Path(notebook_path.name).is_file():  # typed from inside the notebook's folder
        print(f"({notebook_path} is not here; checking {notebook_path.name} in this folder)", file=out)
        notebook_path = Path(notebook_path.name)
    if not notebook_path.is_file():
        raise UsageError(f"notebook {notebook_path} does not exist (in {Path.cwd()})")
    try:
        notebook = read_notebook(notebook_path)
    except InvalidNotebook as error:
        print(f"Cannot check {notebook_path.name}: {error}", file=out)
        return 1
    try:
        source, origin = _source_for(notebook_path.resolve(), course_root)
    except (ValueError, InvalidNotebook, OSError) as error:  # e.g. a renamed notebook whose own grade ids clash
        print(f"Cannot check {notebook_path.name}: {clean(str(error))}. Keep the notebook's name as it was "
              "released (e.g. ps3_elbo.ipynb) so that its tests come from the course.", file=out)
        return 1
    assembled = assemble(notebook, source)
    by_id = source.by_id()
    where = headings(assembled)
    url = resolve_book_url(book_url)
    print(f"Checking {notebook_path.name} with the visible tests of {origin} (save the notebook first: the file on "
          f"disk is checked) ...\n", file=out)
    for note in assembled.notes:
        print(f"note: {note}", file=out)

    def named(cell) -> str:
        return f'{cell.grade_id} in "{where[cell.position]}"' if where.get(cell.position) else cell.grade_id

    config = config_for(source.assignment_id)
    job = {"job": "check", "cells": code_cells_for_run(assembled), "threads": 1,
           "cell_timeout_s": cell_timeout_s or config.cell_timeout_s,
           "notebook_timeout_s": max(config.notebook_timeout_s, cell_timeout_s or 0)}
    release = release_dir(notebook_path.resolve(), course_root)
    checked = run_notebook(job, release, tuple(notebook_imports(release / f"{release.name}.ipynb"))
                           if release else (), lambda line: print(line, file=out))
    print(file=out)
    messages: dict[int, dict] = {}
    for message in checked.run.get("cells") or []:
        messages.setdefault(message["position"], message)
    master_seed = checked.master_seed

    from .grading import cell_label

    tested = [cell for cell in assembled.cells if cell.role == TEST and by_id[cell.grade_id].expected]
    results = score_test_cells([(by_id[c.grade_id], messages.get(c.position)) for c in tested], master_seed,
                               checked.run.get("status", "error"), checked.run.get("ended") or "the notebook stopped "
                               "before this cell", job["notebook_timeout_s"])
    scored = {cell.position: result for cell, result in zip(tested, results, strict=True)}
    passed = failed = 0
    errors = []
    for cell in assembled.cells:
        message = messages.get(cell.position)
        if cell.role != TEST:
            if message is not None and message["status"] != "ok":
                label = cell_label(assembled, cell)
                heading = f' in "{where[cell.position]}"' if where.get(cell.position) else ""
                errors.append(f"{label}{heading}: {message['error']}")
            continue
        source_cell = by_id[cell.grade_id]
        unit = "bonus point" if source_cell.bonus else "point"
        points = f"{source_cell.points:g} {unit}{'' if source_cell.points == 1 else 's'}"
        if not source_cell.expected:
            print(f"HIDDEN {named(cell)} ({points}): tested only when your work is graded", file=out)
            continue
        verdict = scored[cell.position]
        tag = "PASS " if verdict.passed else "FAIL "
        passed += verdict.passed
        failed += not verdict.passed
        if not verdict.passed and not_written(verdict):
            print(f"{tag} {named(cell)} ({points}): not written yet (your function raises NotImplementedError)",
                  file=out)
            continue
        print(f"{tag} {named(cell)} ({points})", file=out)
        if verdict.passed:
            continue
        functions = _called_functions(source_cell.source)
        records = [r for r in (message or {}).get("records") or [] if r.get("cell") == cell.grade_id]
        for expected, text in zip(source_cell.expected, verdict.messages, strict=False):
            if text.startswith("Passed: "):
                continue
            lines = _with_links(text.removeprefix("Failed: "), verdict.readings, url)
            record = next((r for r in records if r.get("name") == expected.name and r.get("kind") == expected.kind),
                          None)
            if record is not None and expected.kind == "visible":
                seed = seed_for(master_seed, expected.name, expected.kind)
                index = first_failing_case(expected.name, seed, expected.kind, record.get("outcomes") or [])
                if index is not None:
                    from .student.probes import draw_cases

                    total = len(draw_cases(expected.name, seed, expected.kind))
                    # before the check's own "Read:" (the last; a named misconception's comes first)
                    reading = max((i for i, line in enumerate(lines) if line.startswith("Read: ")), default=len(lines))
                    function = functions.get((expected.name, expected.kind))
                    lines[reading:reading] = case_lines(expected.name, seed, expected.kind, index, total, function,
                                                        parameters_of(assembled, function) if function else [])
            print(INDENT + ("\n" + INDENT).join(lines), file=out)
    _print_not_checked(assembled, source, named, out)
    if errors:
        print("\nErrors in other cells (fix these first: later cells may depend on them):", file=out)
        for error in errors:
            print("  " + error.replace("\n", "\n    "), file=out)
    print(f"\n{passed} of {passed + failed} visible test cells passed."
          + (" Hidden tests run when your work is graded." if passed and not failed else ""), file=out)
    from .judging.sections import guide_url

    print(f"What this report says and how to read it: {guide_url(url, 'guide_students', 'guide-check')}", file=out)
    return 0 if failed == 0 and passed > 0 else 1


def _print_not_checked(assembled: Assembled, source, named, out) -> None:
    by_position = {c.grade_id: c for c in assembled.cells if c.grade_id}
    manual = [c for c in source.cells if c.role in (MANUAL, TASK)]
    if manual:
        print("\nGraded by hand after you submit (not checked here):", file=out)
        for cell in manual:
            assembled_cell = by_position.get(cell.grade_id)
            label = named(assembled_cell) if assembled_cell else cell.grade_id
            if cell.role == TASK:
                state = "a task: your work in the notebook is marked"
            elif cell.grade_id in assembled.unanswered:
                state = "NOT ANSWERED yet (still the released text)"
            else:
                state = "answered"
            print(f"  {label} ({cell.points:g} points): {state}", file=out)
    bonus = [c for c in source.test_cells if c.bonus]
    if bonus:
        total = sum(c.points for c in bonus)
        print(f"\nBonus (on top of the maximum score): {', '.join(c.grade_id for c in bonus)} "
              f"({total:g} point{'' if total == 1 else 's'})", file=out)
