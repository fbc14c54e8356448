"""Per-assignment grading settings: time limits and titles. The notebooks themselves live in solutions/<id>/."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AssignmentConfig:
    cell_timeout_s: float = 60.0  # one cell; the cell fails, later cells still run
    notebook_timeout_s: float = 600.0  # the whole notebook; status "timeout", results so far still count
    title: str = ""


ASSIGNMENTS: dict[str, AssignmentConfig] = {}

DEFAULT_CONFIG = AssignmentConfig()


def config_for(assignment_id: str) -> AssignmentConfig:
    """The settings of an assignment (defaults for one not listed, e.g. a test fixture)."""
    return ASSIGNMENTS.get(assignment_id, DEFAULT_CONFIG)
