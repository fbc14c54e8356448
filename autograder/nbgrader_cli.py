"""Runs the real ``nbgrader generate_assignment`` in a temporary course directory.

Used twice: ``release`` copies the generated release into exercises/, and ``grade`` runs it with the gradebook in
the output folder so that nbgrader itself creates the assignment, notebook, grade cells and source cells (with its
checksums). The grader then only adds students, submissions and scores through :class:`nbgrader.api.Gradebook`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .course import Assignment

NBGRADER_TIMEOUT_S = 300


class NbgraderError(RuntimeError):
    pass


def _env() -> dict[str, str]:
    # nbgrader runs `alembic` from PATH to create the gradebook schema: put this interpreter's bin folder first.
    bin_dir = str(Path(sys.executable).parent)
    return dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")


def generate_assignment(assignment: Assignment, release_to: Path, db_path: Path | None = None) -> Path:
    """Generate the student version of ``assignment`` into ``release_to`` (a folder that must not exist yet).

    ``db_path``: the SQLite gradebook nbgrader records the assignment in (a throwaway one when None).
    Returns the path of the released notebook.
    """
    with tempfile.TemporaryDirectory(prefix="autograder-course-") as tmp:
        course = Path(tmp)
        shutil.copytree(assignment.source_dir, course / "source" / assignment.id,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        db = Path(db_path).resolve() if db_path else course / "gradebook.db"
        command = [sys.executable, "-m", "nbgrader", "generate_assignment", assignment.id, "--force",
                   f"--CourseDirectory.root={course}", f"--CourseDirectory.db_url=sqlite:///{db}",
                   "--log-level=WARN"]
        result = subprocess.run(command, cwd=course, env=_env(), capture_output=True, text=True,
                                timeout=NBGRADER_TIMEOUT_S)
        released = course / "release" / assignment.id
        if result.returncode != 0 or not (released / assignment.notebook_name).is_file():
            raise NbgraderError(f"nbgrader generate_assignment {assignment.id} failed (exit {result.returncode}):\n"
                                f"{result.stdout[-3000:]}{result.stderr[-3000:]}")
        if release_to.exists():
            shutil.rmtree(release_to)
        shutil.copytree(released, release_to)
    return release_to / assignment.notebook_name
