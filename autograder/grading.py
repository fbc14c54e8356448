"""Grade ONE submission: (submission files, assignment kit) -> result row + feedback data.

The function knows nothing about how the notebook's code is run: it gets a ``run_job(job) -> dict`` callable (today
the pre-warmed worker pool, later a sandboxed runner), hands it plain data (cells, seed, limits) and judges the
plain records that come back, here, in the trusted process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .assemble import Assembled, InvalidNotebook, assemble, code_cells_for_run, read_notebook
from .scoring import CellResult, score_test_cell
from .source import MANUAL, SOLUTION, TASK, AssignmentSource
from .submissions import Submission

STATUSES = ("ok", "timeout", "error", "invalid", "missing")
STUDENT_ERROR_CHARS = 600


@dataclass
class GradingKit:
    """Everything about the assignment that grading one submission needs (read once per batch)."""

    assignment_id: str
    title: str
    source: AssignmentSource
    files_dir: Path  # the release folder: its non-notebook files are copied next to each run
    cell_timeout_s: float
    notebook_timeout_s: float
    threads: int = 1


@dataclass
class ManualCell:
    grade_id: str
    max_points: float
    answered: bool
    answer: str = ""


@dataclass
class GradeResult:
    student_id: str
    assignment: str
    score: float
    max_score: float
    status: str
    message: str
    bonus: float = 0.0
    manual_pending: float = 0.0
    late: bool = False
    seconds: float = 0.0
    seed: int | None = None
    notebook: str = ""
    cells: list[CellResult] = field(default_factory=list)
    manual: list[ManualCell] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    student_errors: list[str] = field(default_factory=list)

    def row(self) -> dict:
        return {"student_id": self.student_id, "assignment": self.assignment, "score": _num(self.score),
                "max_score": _num(self.max_score), "status": self.status, "message": self.message,
                "bonus": _num(self.bonus), "manual_pending": _num(self.manual_pending),
                "late": "yes" if self.late else "no", "seconds": f"{self.seconds:.2f}",
                "notebook": self.notebook, "seed": "" if self.seed is None else str(self.seed)}


CSV_COLUMNS = ["student_id", "assignment", "score", "max_score", "status", "message", "bonus", "manual_pending",
               "late", "seconds", "notebook", "seed"]


def _num(value: float) -> str:
    return f"{value:g}"


def new_master_seed() -> int:
    """Chosen by the grader, per submission, from the OS (never from the environment)."""
    return int.from_bytes(os.urandom(8), "little") >> 1


def _failed_row(submission: Submission, kit: GradingKit, status: str, reason: str) -> GradeResult:
    result = GradeResult(submission.student_id, kit.assignment_id, 0.0, kit.source.max_score, status, reason,
                         late=submission.late, notebook=submission.notebook.name if submission.notebook else "")
    result.notes = list(submission.notes)
    result.cells = [CellResult(c.grade_id, c.points, 0.0, False, c.bonus, [f"Not graded: {reason}."])
                    for c in kit.source.test_cells]
    result.manual = [ManualCell(c.grade_id, c.points, False) for c in kit.source.cells if c.role in (MANUAL, TASK)]
    return result


def judge_here(function, *args):
    """Judge in this process (tests, and the student's self-check)."""
    return function(*args)


def grade_submission(submission: Submission, kit: GradingKit, run_job: Callable[[dict], dict],
                     master_seed: int | None = None, judge_with: Callable = judge_here) -> GradeResult:
    """Run the submission with ``run_job`` (its own sandbox) and judge what came back with ``judge_with``
    (autograder.judge_server.JudgePool.call in a batch: a limited process of its own)."""
    start = time.perf_counter()
    if submission.problem is not None:
        result = _failed_row(submission, kit, submission.problem_status, submission.problem)
        result.seconds = time.perf_counter() - start
        return result
    try:
        notebook = read_notebook(submission.notebook)
    except InvalidNotebook as error:
        result = _failed_row(submission, kit, "invalid", f"{submission.notebook.name}: {error}")
        result.seconds = time.perf_counter() - start
        return result
    except OSError as error:
        result = _failed_row(submission, kit, "invalid", f"{submission.notebook.name} could not be read ({error})")
        result.seconds = time.perf_counter() - start
        return result
    assembled = assemble(notebook, kit.source)
    seed = master_seed if master_seed is not None else new_master_seed()
    job = {"job": submission.student_id, "cells": code_cells_for_run(assembled), "master_seed": seed,
           "cell_timeout_s": kit.cell_timeout_s, "notebook_timeout_s": kit.notebook_timeout_s,
           "threads": kit.threads, "files_dir": str(kit.files_dir)}
    run = run_with_restarts(job, run_job)
    try:
        result = judge_with(judge_run, submission, kit, assembled, run, seed)
    except Exception as error:  # noqa: BLE001 - JudgeFailed, or anything else: this submission only
        result = _failed_row(submission, kit, "error", f"the grader could not assess this submission ({error})")
        result.seed = seed
    result.seconds = time.perf_counter() - start
    return result


MAX_RESTARTS = 3
CRASHED = ("crashed", "error")


def run_with_restarts(job: dict, run_job: Callable[[dict], dict], max_restarts: int = MAX_RESTARTS) -> dict:
    """Run the notebook; if its process dies in a cell (os._exit, a signal, a segfault), mark that cell as crashed
    and run the rest again in a fresh process: every cell except the crashed ones and the test cells that already
    reported (the answer cells run again to rebuild the functions). The notebook budget covers all attempts: the
    seconds their processes ran (each run dict's "seconds"), not time spent waiting for a free sandbox or node.

    A run marked ``"final": True`` (e.g. a submission whose Dask workers kept dying) is not run again.
    Returns one run dict as ``run_job`` does, with the messages of all attempts merged."""
    cells = job["cells"]
    budget = float(job["notebook_timeout_s"])
    start = time.monotonic()
    used = 0.0
    messages: dict[int, dict] = {}
    crashes: list[str] = []
    skip: set[int] = set()
    run: dict = {}
    for attempt in range(max_restarts + 1):
        remaining = budget - used
        todo = [c for c in cells if c["position"] not in skip
                and not (c.get("grade_id") and c["position"] in messages)]
        if remaining <= 0 or not todo:
            break
        run = run_job(dict(job, cells=todo, notebook_timeout_s=remaining))
        used += float(run.get("seconds") or 0.0)
        reported = [m for m in run.get("cells") or [] if isinstance(m, dict) and isinstance(m.get("position"), int)]
        for message in reported:
            messages.setdefault(message["position"], message)
        if run.get("status") not in CRASHED or run.get("final"):  # final: running it again cannot help
            break
        done = {m["position"] for m in reported}
        crashed = next((c for c in todo if c["position"] not in done), None)
        if crashed is None:
            break
        why = run.get("ended") or run.get("status")
        label = crashed.get("grade_id") or f"cell {crashed['position'] + 1}"
        crashes.append(f"{label} ({why})")
        messages[crashed["position"]] = {"position": crashed["position"], "grade_id": crashed.get("grade_id"),
                                         "status": "crashed", "records": [],
                                         "error": f"the notebook's process ended while this cell ran ({why})"}
        skip.add(crashed["position"])
        if attempt == max_restarts:
            break
    merged = dict(run, cells=[messages[p] for p in sorted(messages)], seconds=round(time.monotonic() - start, 3))
    if crashes:
        merged["status"] = "crashed"
        merged["ended"] = ("the process crashed in " + ", ".join(crashes)
                           + "; the remaining cells were run again in a fresh process")
        if run.get("status") == "timeout":
            merged["status"] = "timeout"
    return merged


def judge_run(submission: Submission, kit: GradingKit, assembled: Assembled, run: dict, seed: int) -> GradeResult:
    """Points from the plain data a run returned (trusted side)."""
    by_position = {}
    for message in run.get("cells") or []:
        if isinstance(message, dict) and isinstance(message.get("position"), int):
            by_position.setdefault(message["position"], message)
    run_status, ended = run.get("status", "error"), run.get("ended")
    source_by_id = kit.source.by_id()
    cells, manual, student_errors = [], [], []
    for cell in assembled.cells:
        message = by_position.get(cell.position)
        if cell.grade_id in source_by_id and source_by_id[cell.grade_id].role == "test":
            cells.append(score_test_cell(source_by_id[cell.grade_id], message, seed, run_status, ended,
                                         kit.notebook_timeout_s))
        elif cell.role in (MANUAL, TASK):
            answered = cell.role == TASK or cell.grade_id not in assembled.unanswered
            manual.append(ManualCell(cell.grade_id, source_by_id[cell.grade_id].points, answered,
                                     assembled.answers.get(cell.grade_id, "")))
        if message is not None and message.get("status") in ("error", "timeout", "crashed") and cell.role != "test":
            label = f"answer cell {cell.grade_id}" if cell.role == SOLUTION else \
                f"cell {cell.position + 1}" + (f" ({cell.grade_id})" if cell.grade_id else "")
            student_errors.append(f"{label}: {str(message.get('error'))[:STUDENT_ERROR_CHARS]}")
    base = sum(c.points for c in cells if not c.bonus)
    bonus = sum(c.points for c in cells if c.bonus)
    status = {"ok": "ok", "timeout": "timeout"}.get(run_status, "error")
    passed = sum(c.passed for c in cells)
    parts = [f"{passed} of {len(cells)} test cells passed"]
    if status == "timeout":
        parts.append(f"the notebook hit its time budget of {kit.notebook_timeout_s:g} s; results so far count")
    elif status == "error":
        parts.append(f"the notebook's process ended early ({ended or run_status}); results so far count")
    names = {c.position: c.grade_id or f"cell {c.position + 1}" for c in assembled.cells}
    timeouts = [names.get(m["position"], "?") for m in by_position.values() if m.get("status") == "timeout"]
    if timeouts:
        parts.append("cell time limit exceeded in " + ", ".join(str(t) for t in timeouts))
    pending = sum(m.max_points for m in manual if m.answered)
    if pending:
        parts.append(f"{pending:g} points await manual grading")
    notes = list(submission.notes) + list(assembled.notes)
    if notes:
        parts.append("notes: " + " ".join(notes))
    return GradeResult(submission.student_id, kit.assignment_id, base + bonus, kit.source.max_score, status,
                       "; ".join(parts), bonus=bonus, manual_pending=pending, late=submission.late, seed=seed,
                       notebook=submission.notebook.name, cells=cells, manual=manual, notes=notes,
                       student_errors=student_errors)
