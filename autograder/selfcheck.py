"""``python -m autograder check NOTEBOOK``: a student's self-check with the VISIBLE tests.

The notebook runs in this process (no grading context, so every ``check()`` judges and raises on failure). When the
notebook belongs to a known assignment, its test cells are taken from the released assignment (so an edited test
cannot pass by accident); otherwise the notebook's own test cells run as they are.
Exit code 0 when every visible test passes, 1 otherwise.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .assemble import InvalidNotebook, assemble, code_cells_for_run, read_notebook
from .course import REPO_ROOT, UsageError
from .source import TEST, load_source
from .student.cellrunner import make_shell, run_cells


def _source_for(notebook_path: Path, course_root: Path | None):
    roots = [Path(course_root)] if course_root else [REPO_ROOT]
    stem = notebook_path.stem
    for root in roots:
        release = root / "exercises" / stem / f"{stem}.ipynb"
        if release.is_file():
            return load_source(stem, release, release), f"the released {stem}"
    return load_source(stem, notebook_path, notebook_path), "the notebook's own test cells"


def self_check(notebook_path: Path, course_root: Path | None = None, cell_timeout_s: float = 300.0,
               out=sys.stdout) -> int:
    notebook_path = Path(notebook_path)
    if not notebook_path.is_file():
        raise UsageError(f"notebook {notebook_path} does not exist")
    try:
        notebook = read_notebook(notebook_path)
    except InvalidNotebook as error:
        print(f"Cannot check {notebook_path.name}: {error}", file=out)
        return 1
    source, origin = _source_for(notebook_path.resolve(), course_root)
    assembled = assemble(notebook, source)
    by_id = source.by_id()
    print(f"Checking {notebook_path.name} with the visible tests of {origin} ...", file=out)
    for note in assembled.notes:
        print(f"note: {note}", file=out)
    os.environ.setdefault("MPLBACKEND", "Agg")
    messages = []
    cwd = os.getcwd()
    os.chdir(notebook_path.resolve().parent)
    try:
        run_cells(make_shell(), code_cells_for_run(assembled), cell_timeout_s, messages.append)
    finally:
        os.chdir(cwd)
    passed = failed = 0
    for message in messages:
        grade_id = message.get("grade_id")
        if grade_id is None or by_id[grade_id].role != TEST:
            if message["status"] != "ok":
                print(f"  error in cell {message['position'] + 1}: {message['error']}", file=out)
            continue
        points = by_id[grade_id].points
        if not by_id[grade_id].expected:
            print(f"HIDDEN {grade_id} ({points:g} points): tested only when your work is graded", file=out)
            continue
        if message["status"] == "ok":
            passed += 1
            print(f"PASS  {grade_id} ({points:g} points)", file=out)
        else:
            failed += 1
            text = str(message["error"]).removeprefix("AssertionError: ")
            print(f"FAIL  {grade_id} ({points:g} points)\n      " + text.replace("\n", "\n      "), file=out)
    print(f"{passed} of {passed + failed} visible test cells passed."
          + (" Hidden tests run when your work is graded." if passed and not failed else ""), file=out)
    return 0 if failed == 0 and passed > 0 else 1
