"""Runs the real ``nbgrader generate_assignment`` in a temporary course directory.

Used twice: ``release`` copies the generated release into exercises/, and ``grade`` needs the release and a
gradebook in which nbgrader itself created the assignment, notebook, grade cells and source cells (with its
checksums). The grader then only adds students, submissions and scores through :class:`nbgrader.api.Gradebook`.

For ``grade`` the result depends only on the assignment's source folder and the nbgrader version, so it is cached
by their digest (:func:`prepared_assignment`): the first batch of an assignment pays nbgrader's 5-10 s, later ones
copy a folder. The cached gradebook already holds one change of ours: a bonus test cell's ``max_score`` is 0 (its
points are given as extra credit), so nbgrader's own totals (``nbgrader export``, formgrader) exclude the bonus
from the maximum, as grades.csv does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .course import Assignment
from .student.cellrunner import wall_cap

CACHE_FORMAT = 1  # bump when what a cache entry holds changes

NBGRADER_TIMEOUT_S = 300  # CPU seconds for one nbgrader command (about 18 s); 5x that of wall-clock time as the
# backstop against a hang, so that a busy machine slows nbgrader down without failing the batch


def cpu_limited(seconds: float):
    """A preexec_fn that limits a subprocess to ``seconds`` of CPU time (it is killed beyond)."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (int(seconds), int(seconds) + 5))

    return limit


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
                                preexec_fn=cpu_limited(NBGRADER_TIMEOUT_S), timeout=wall_cap(NBGRADER_TIMEOUT_S))
        released = course / "release" / assignment.id
        if result.returncode != 0 or not (released / assignment.notebook_name).is_file():
            raise NbgraderError(f"nbgrader generate_assignment {assignment.id} failed (exit {result.returncode}):\n"
                                f"{result.stdout[-3000:]}{result.stderr[-3000:]}")
        if release_to.exists():
            shutil.rmtree(release_to)
        shutil.copytree(released, release_to)
    return release_to / assignment.notebook_name


def source_digest(assignment: Assignment) -> str:
    """Digest of everything ``generate_assignment`` reads: the source folder's files and the nbgrader version."""
    from importlib.metadata import version

    digest = hashlib.sha256(f"format={CACHE_FORMAT};nbgrader={version('nbgrader')};id={assignment.id}".encode())
    for path in sorted(assignment.source_dir.rglob("*")):
        relative = path.relative_to(assignment.source_dir)
        if path.is_file() and not any(p in (".ipynb_checkpoints", "__pycache__") for p in relative.parts):
            digest.update(f"\0{relative.as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:24]


def cache_root() -> Path:
    configured = os.environ.get("AUTOGRADER_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "autograder"


def prepared_assignment(assignment: Assignment, bonus_cells: list[str], digest: str) -> tuple[Path, bool]:
    """A folder with ``release/<id>/`` (nbgrader's release) and ``gradebook.db`` (nbgrader's records of the
    assignment, bonus cells at max_score 0), made once per source digest. Returns (folder, whether it was cached)."""
    folder = cache_root() / "assignments" / f"{assignment.id}-{digest}"
    if (folder / "gradebook.db").is_file() and (folder / "release" / assignment.id).is_dir():
        return folder, True
    folder.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{assignment.id}-", dir=folder.parent))
    try:
        generate_assignment(assignment, building / "release" / assignment.id, db_path=building / "gradebook.db")
        mark_bonus_cells(building / "gradebook.db", assignment.id, bonus_cells)
        try:
            building.rename(folder)  # atomic: a concurrent batch either sees the whole entry or none
        except OSError:  # another batch made it first
            if not (folder / "gradebook.db").is_file():
                raise
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    return folder, False


def mark_bonus_cells(db_path: Path, assignment_id: str, bonus_cells: list[str]) -> None:
    """Bonus test cells count 0 towards nbgrader's maximum; the grader writes their points as extra credit."""
    if not bonus_cells:
        return
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{Path(db_path).resolve()}") as gradebook:
        for name in bonus_cells:
            gradebook.find_grade_cell(name, assignment_id, assignment_id).max_score = 0.0
        gradebook.db.commit()
