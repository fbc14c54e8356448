"""Where an assignment lives: ``<course root>/solutions/<id>/<id>.ipynb`` is the nbgrader source (with solutions and
hidden tests), ``<course root>/exercises/<id>/`` the release generated from it. The course root is the repository
by default; tests point it at a fixture course."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .assignments import AssignmentConfig, config_for

REPO_ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class UsageError(Exception):
    """Bad input on the command line (unknown assignment, missing path): exit code 2 with this message."""


@dataclass(frozen=True)
class Assignment:
    id: str
    root: Path  # course root

    @property
    def source_dir(self) -> Path:
        return self.root / "solutions" / self.id

    @property
    def source_notebook(self) -> Path:
        return self.source_dir / f"{self.id}.ipynb"

    @property
    def release_dir(self) -> Path:
        return self.root / "exercises" / self.id

    @property
    def notebook_name(self) -> str:
        return f"{self.id}.ipynb"

    @property
    def config(self) -> AssignmentConfig:
        return config_for(self.id)


def course_root(path: str | Path | None) -> Path:
    root = Path(path).resolve() if path else REPO_ROOT
    if not (root / "solutions").is_dir():
        raise UsageError(f"{root} has no solutions/ folder (give the course root with --course-root)")
    return root


def known_assignments(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "solutions").iterdir()
                  if p.is_dir() and (p / f"{p.name}.ipynb").is_file())


def find_assignment(assignment_id: str, root: Path) -> Assignment:
    known = known_assignments(root)
    if not ASSIGNMENT_ID.match(assignment_id or "") or assignment_id not in known:
        raise UsageError(f"unknown assignment {assignment_id!r}; known in {root / 'solutions'}: "
                         f"{', '.join(known) or '(none)'}")
    return Assignment(assignment_id, root)
