"""``python -m autograder release [ID]``: regenerate exercises/<id>/ from solutions/<id>/ with nbgrader."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .course import Assignment, find_assignment, known_assignments
from .nbgrader_cli import generate_assignment


def release(assignment: Assignment, exercises_dir: Path | None = None) -> Path:
    """Write the release of ``assignment`` to ``exercises_dir/<id>/`` (default: the course's exercises/)."""
    target = (exercises_dir or assignment.root / "exercises") / assignment.id
    with tempfile.TemporaryDirectory(prefix="autograder-release-") as tmp:
        notebook = generate_assignment(assignment, Path(tmp) / assignment.id)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(notebook.parent, target)
    return target / assignment.notebook_name


def release_command(assignment_id: str | None, root: Path, exercises_dir: Path | None = None) -> list[Path]:
    ids = [assignment_id] if assignment_id else known_assignments(root)
    assignments = [find_assignment(i, root) for i in ids]  # validate every id before writing anything
    return [release(a, exercises_dir) for a in assignments]
