"""Grade ONE submission: (submission files, assignment kit) -> result row + feedback data.

The function knows nothing about how the notebook's code is run: it gets a ``run_job(job) -> dict`` callable (today
the pre-warmed worker pool, later a sandboxed runner), hands it plain data (cells, seed, limits) and judges the
plain records that come back, here, in the trusted process.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .assemble import Assembled, InvalidNotebook, assemble, code_cells_for_run, read_notebook
from .executor import HOG_DEMAND
from .judging.sections import Reading
from .scoring import CellResult, score_test_cells
from .source import MANUAL, SOLUTION, TASK, AssignmentSource
from .submissions import Submission
from .text import clean

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
    digest: str = ""  # of the student's answer: a regrade flags a hand-marked answer for review only if it changed
    task: bool = False  # an nbgrader task cell (the instructor's text; the whole notebook is marked)


@dataclass
class GradeResult:
    """One submission's autograding outcome: plain data (``to_json``), whichever executor produced it.

    ``score`` is the autograded points earned, bonus included; ``max_score`` the autograded maximum without bonus.
    Hand-marked points live in the gradebook; autograder.report combines both into the grades.csv row."""

    student_id: str
    assignment: str
    score: float
    max_score: float
    status: str
    message: str  # what autograding found; the hand-marking state is added when the row is written
    bonus: float = 0.0
    manual_pending: float = 0.0  # points of answered hand-marked cells (before anyone marked them)
    late: bool = False
    seconds: float = 0.0
    seed: int | None = None
    notebook: str = ""
    cells: list[CellResult] = field(default_factory=list)
    manual: list[ManualCell] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    student_errors: list[str] = field(default_factory=list)
    name: str = ""  # the student's name when the download carries one (Canvas)
    fingerprint: str = ""  # Submission.fingerprint(): what was graded
    cell_errors: list[dict] = field(default_factory=list)  # {"position", "grade_id", "error"} of non-test cells
    output_errors: list[str] = field(default_factory=list)  # outputs that could not be written for this student
    cpu_seconds: float = 0.0  # CPU time the submission's processes used (all attempts)
    attention: list[str] = field(default_factory=list)  # why an instructor should look, even when status is ok

    @property
    def autograded(self) -> float:
        """Autograded points without bonus."""
        return self.score - self.bonus

    def to_json(self) -> dict:
        data = asdict(self)
        for cell in data["cells"]:
            cell["readings"] = [[r["label"], r["title"]] for r in cell["readings"]]
        return data

    @classmethod
    def from_json(cls, data: dict) -> GradeResult:
        data = dict(data)
        cells = []
        for cell in data.pop("cells", []):
            readings = [Reading(label, title) for label, title in cell.pop("readings", [])]
            cells.append(CellResult(**cell, readings=readings))
        manual = [ManualCell(**m) for m in data.pop("manual", [])]
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known}, cells=cells, manual=manual)


def new_master_seed() -> int:
    """Chosen by the grader, per submission, from the OS (never from the environment)."""
    return int.from_bytes(os.urandom(8), "little") >> 1


def _manual_cells(kit: GradingKit, assembled: Assembled | None = None) -> list[ManualCell]:
    manual = []
    for cell in kit.source.cells:
        if cell.role == TASK:
            manual.append(ManualCell(cell.grade_id, cell.points, True, task=True))
        elif cell.role == MANUAL:
            answered = assembled is not None and cell.grade_id not in assembled.unanswered
            answer = assembled.answers.get(cell.grade_id, "") if assembled is not None else ""
            manual.append(ManualCell(cell.grade_id, cell.points, answered, _digest(answer) if answered else ""))
    return manual


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]


def _failed_row(submission: Submission, kit: GradingKit, status: str, reason: str) -> GradeResult:
    """Nothing could be run: every test cell scores 0; the reason is said once (in the message), not per cell."""
    result = GradeResult(submission.student_id, kit.assignment_id, 0.0, kit.source.max_score, status, reason,
                         late=submission.late, notebook=submission.notebook.name if submission.notebook else "",
                         name=submission.name)
    result.notes = list(submission.notes)
    result.cells = [CellResult(c.grade_id, c.points, 0.0, False, c.bonus) for c in kit.source.test_cells]
    result.manual = [m for m in _manual_cells(kit) if not m.task]  # a task is marked on the notebook: none here
    return result


def judge_here(function, *args):
    """Judge in this process (tests, and the student's self-check)."""
    return function(*args)


def grade_submission(submission: Submission, kit: GradingKit, run_job: Callable[[dict], dict],
                     master_seed: int | None = None, judge_with: Callable = judge_here) -> GradeResult:
    """Run the submission with ``run_job`` (its own sandbox) and judge what came back with ``judge_with``
    (autograder.judge_server.JudgePool.call in a batch: a limited process of its own)."""
    start = time.perf_counter()
    fingerprint = submission.fingerprint()
    notebook, result = read_submission(submission, kit)
    if result is not None:
        result.seconds, result.fingerprint = time.perf_counter() - start, fingerprint
        return result
    assembled = assemble(notebook, kit.source)
    seed = master_seed if master_seed is not None else new_master_seed()
    job = {"job": submission.student_id, "cells": code_cells_for_run(assembled), "master_seed": seed,
           "cell_timeout_s": kit.cell_timeout_s, "notebook_timeout_s": kit.notebook_timeout_s,
           "threads": kit.threads, "files_dir": str(kit.files_dir)}
    run = run_with_restarts(job, run_job)
    if run.get("contended"):  # a wall-clock cap was hit while the machine held the submission back: not its fault
        again = run_with_restarts(dict(job, alone=True), run_job)
        again["ran_alone"] = True
        again["first_try"] = run.get("ended") or "a cell ran past its wall-clock cap"
        run = again
    try:
        result = judge_with(judge_run, submission, kit, assembled, run, seed)
    except Exception as error:  # noqa: BLE001 - JudgeFailed, or anything else: this submission only
        result = _failed_row(submission, kit, "error", f"the grader could not assess this submission ({error})")
        result.seed = seed
    result.seconds, result.fingerprint = time.perf_counter() - start, fingerprint
    return result


def read_submission(submission: Submission, kit: GradingKit) -> tuple[dict | None, GradeResult | None]:
    """(the parsed notebook, None), or (None, the row of a submission with nothing to run)."""
    if submission.problem is not None:
        return None, _failed_row(submission, kit, submission.problem_status, submission.problem)
    name = clean(submission.notebook.name)
    try:
        return read_notebook(submission.notebook), None
    except InvalidNotebook as error:
        return None, _failed_row(submission, kit, "invalid", f"{name}: {error}")
    except OSError as error:
        return None, _failed_row(submission, kit, "invalid", f"{name} could not be read ({clean(str(error))})")


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
    totals = {"cpu_seconds": 0.0, "waited_seconds": 0.0, "throttled_seconds": 0.0}
    contended, counted = False, True
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
        used += float(run["cpu_seconds"] if "cpu_seconds" in run else run.get("seconds") or 0.0)
        for key in totals:
            totals[key] += float(run.get(key) or 0.0)
        contended = contended or bool(run.get("contended"))
        counted = counted and run.get("cpu_counted", True)
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
        first_line = next((line.strip() for line in str(crashed.get("source", "")).splitlines() if line.strip()), "")
        label = crashed.get("grade_id") or f"the cell starting {first_line[:60]!r}"
        crashes.append(f"{label} ({why})")
        messages[crashed["position"]] = {"position": crashed["position"], "grade_id": crashed.get("grade_id"),
                                         "status": "crashed", "records": [],
                                         "error": f"the notebook's process ended while this cell ran ({why})"}
        skip.add(crashed["position"])
        if attempt == max_restarts:
            break
    merged = dict(run, cells=[messages[p] for p in sorted(messages)], seconds=round(time.monotonic() - start, 3),
                  contended=contended, cpu_counted=counted, **{k: round(v, 3) for k, v in totals.items()})
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
    tests, student_errors, cell_errors = [], [], []
    for cell in assembled.cells:
        message = by_position.get(cell.position)
        if cell.grade_id in source_by_id and source_by_id[cell.grade_id].role == "test":
            tests.append((source_by_id[cell.grade_id], message))
        if message is not None and message.get("status") in ("error", "timeout", "crashed") and cell.role != "test":
            error = str(message.get("error"))[:STUDENT_ERROR_CHARS]
            student_errors.append(f"{cell_label(assembled, cell)}: {error}")
            cell_errors.append({"position": cell.position, "grade_id": cell.grade_id, "error": error})
    cells = score_test_cells(tests, seed, run_status, ended, kit.notebook_timeout_s)
    base = sum(c.points for c in cells if not c.bonus)
    bonus = sum(c.points for c in cells if c.bonus)
    status = {"ok": "ok", "timeout": "timeout"}.get(run_status, "error")
    passed = sum(c.passed for c in cells)
    parts = [f"{passed} of {len(cells)} test cells passed"]
    if status == "timeout":
        parts.append(f"the notebook hit its time budget ({ended or f'{kit.notebook_timeout_s:g} s of CPU time'}); "
                     "results so far count")
    elif status == "error":
        parts.append(f"the notebook's process ended early ({ended or run_status}); results so far count")
    names = {c.position: c.grade_id or f"cell {c.position + 1}" for c in assembled.cells}
    timeouts = [m for m in by_position.values() if m.get("status") == "timeout"]
    if timeouts:
        parts.append("cell time limit exceeded in " + ", ".join(
            f"{names.get(m['position'], '?')} ({_used(m)})" for m in timeouts))
    attention = time_attention(run, timeouts, names, kit)
    parts += [note for note in attention if note.startswith(("ran again alone", "wanted far more"))]
    manual = _manual_cells(kit, assembled)
    pending = sum(m.max_points for m in manual if m.answered)
    notes = list(submission.notes) + list(assembled.notes)
    if notes:
        parts.append("notes: " + " ".join(notes))
    return GradeResult(submission.student_id, kit.assignment_id, base + bonus, kit.source.max_score, status,
                       "; ".join(parts), bonus=bonus, manual_pending=pending, late=submission.late, seed=seed,
                       notebook=clean(submission.notebook.name), cells=cells, manual=manual, notes=notes,
                       student_errors=student_errors, name=submission.name, cell_errors=cell_errors,
                       cpu_seconds=round(float(run.get("cpu_seconds") or 0.0), 3), attention=attention)


HOG_MIN_S = 10.0  # (only once its CPU and waiting add up to this many seconds)


def _used(message: dict) -> str:
    cpu, wall = float(message.get("cpu_seconds") or 0.0), float(message.get("seconds") or 0.0)
    limit = "wall-clock cap" if message.get("timeout_kind") == "wall" else "CPU time limit"
    return f"{limit}; {cpu:.1f} s of CPU time in {wall:.1f} s"


def time_attention(run: dict, timeouts: list[dict], names: dict[int, str], kit: GradingKit) -> list[str]:
    """What about the submission's time an instructor should look at, whatever its status: every timeout that
    stood (with the CPU time it used), a rerun alone, and a submission that wanted far more CPU than its share (its
    threads' running and run-queue waiting, measured by the grader, add up to several cores: its cgroup holds it to
    its share, so it slowed only itself, but it is worth a look)."""
    notes = [f"{names.get(m['position'], '?')} timed out ({_used(m)})" for m in timeouts]
    if run.get("budget_timeout"):
        notes.append(f"the notebook's budget ended the run ({run.get('ended')})")
    if run.get("ran_alone"):
        notes.append(f"ran again alone after its first run hit a wall-clock cap while the machine was busy "
                     f"({run.get('first_try')})")
    cpu, wall = float(run.get("cpu_seconds") or 0.0), float(run.get("seconds") or 0.0)
    wanted = cpu + float(run.get("waited_seconds") or 0.0)  # running, or ready to run and waiting for a CPU
    if wall > 0 and wanted >= HOG_MIN_S and wanted / wall > HOG_DEMAND * kit.threads:
        notes.append(f"wanted far more CPU than its share of {kit.threads} core(s): {wanted / wall:.0f} processes or "
                     f"threads ready to run on average over {wall:.0f} s ({cpu:.1f} s of CPU time used); it starts "
                     f"busy processes or threads, which only slow itself down")
    return notes


def cell_label(assembled: Assembled, cell) -> str:
    """How the student finds a cell: its grade_id, or (a cell they added) the graded cell it follows."""
    if cell.role == SOLUTION:
        return f"answer cell {cell.grade_id}"
    if cell.grade_id:
        return f"cell {cell.grade_id}"
    before = next((c.grade_id for c in reversed(assembled.cells[:cell.position]) if c.grade_id), None)
    first_line = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")[:60]
    where = f"after {before}" if before else "at the top"
    return f"your cell {where} ({first_line!r})" if first_line else f"your cell {where}"
