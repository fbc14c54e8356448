"""Time that belongs to one submission: limits count CPU time, the notebooks say what they are, a wall-clock timeout
on a busy machine is run again alone, and the judges are limited by CPU time too.

The grading runs under load are in tests/test_grade_under_load.py; the sandbox's own CPU accounting in
tests/test_executor.py.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from autograder.assignments import config_for
from autograder.executor import Gate
from autograder.grading import run_with_restarts
from autograder.student.cases.common import SCALING_CALLS
from autograder.student.probes import PROBES, draw_cases
from tests.submissions.make_submissions import ASSIGNMENTS as IDS
from tests.submissions.make_submissions import load_solution
from tests.test_assignments_solutions import graded_cells, parsed_checks

STATED_FROM = 1000  # Monte Carlo checks that draw at least this many samples in all are named in the notebook


def samples_drawn(name: str) -> int:
    """Samples a check's cases ask the student's function for, visible and hidden tests together."""
    total = 0
    for kind in ("visible", "hidden"):
        for case in draw_cases(name, 7, kind):
            calls = case.get("calls", 1)
            if "sample_sizes" in case:
                total += sum(case["sample_sizes"]) * SCALING_CALLS
            elif "rows" in case:
                total += case["rows"] * calls
            elif "n_samples" in case and "z" not in case:  # z given: the student draws nothing
                total += case["n_samples"] * calls
    return total


def about(count: int) -> str:
    """How the notebooks write a sample count: two significant digits ("94,000", "1.9 million")."""
    if count >= 1_000_000:
        return f"{count / 1e6:.1f} million"
    digits = len(str(count)) - 2
    return f"{round(count, -digits):,}"


@pytest.mark.parametrize("assignment", IDS)
def test_the_notebook_states_its_cpu_limits_and_sample_counts(assignment):
    notebook = load_solution(assignment)
    intro = " ".join(notebook.cells[0].source.split())  # line breaks as spaces
    config = config_for(assignment)
    assert "CPU time" in intro and f"{config.cell_timeout_s:g} s per cell" in intro, intro
    assert f"{config.notebook_timeout_s:,.0f} s for the whole notebook" in intro, intro
    for cell in graded_cells(notebook):
        limit = cell.metadata.get("autograder", {}).get("cpu_limit_s")
        if limit:
            assert f"{limit:g} s" in intro, (cell.metadata["nbgrader"]["grade_id"], limit)
        for name, _, kind in parsed_checks(cell.source):
            count = samples_drawn(name)
            if kind == "visible" and count >= STATED_FROM and name != "vae_heldout_elbo":
                assert f"`{name}` about {about(count)}" in intro, (name, about(count))


def test_about_rounds_to_two_significant_digits():
    assert [about(n) for n in (5080, 94120, 262144, 1265120, 1881120)] == [
        "5,100", "94,000", "260,000", "1.3 million", "1.9 million"]
    assert "score_function_gradient" in PROBES


def test_an_alone_job_waits_for_the_running_ones_and_holds_back_the_rest():
    gate, log, started = Gate(), [], threading.Event()

    def shared(name, hold):
        with gate.shared():
            log.append(f"{name} start")
            started.set()
            time.sleep(hold)
            log.append(f"{name} end")

    def alone():
        with gate.alone():
            log.append("alone start")
            time.sleep(0.2)
            log.append("alone end")

    first = threading.Thread(target=shared, args=("a", 0.5))
    first.start()
    started.wait()
    loner = threading.Thread(target=alone)
    loner.start()
    time.sleep(0.1)
    later = threading.Thread(target=shared, args=("b", 0.0))  # arrives while the alone job waits
    later.start()
    for thread in (first, loner, later):
        thread.join(5)
    assert log == ["a start", "a end", "alone start", "alone end", "b start", "b end"], log


def _run(status="ok", contended=False, cpu=1.0, cells=()):
    return {"job": "s", "status": status, "ended": None, "cells": list(cells), "seconds": 2.0, "cpu_seconds": cpu,
            "contended": contended, "cpu_counted": True}


def test_the_notebook_budget_counts_the_cpu_seconds_of_every_attempt():
    """A crash in a cell runs the rest again (run_with_restarts); the budget left for the retry is the CPU budget
    minus the CPU the first attempt used, not its wall-clock seconds."""
    calls = []
    job = {"job": "s", "notebook_timeout_s": 100.0,
           "cells": [{"position": 0, "source": "a", "grade_id": None}, {"position": 1, "source": "b",
                                                                         "grade_id": None}]}

    def run_job(sent):
        calls.append(sent)
        if len(calls) == 1:
            return dict(_run("crashed", cpu=30.0), seconds=300.0)  # slow machine: 300 s of wall, 30 s of CPU
        return _run(cpu=5.0, cells=[{"position": 1, "status": "ok"}])

    merged = run_with_restarts(job, run_job)
    assert calls[1]["notebook_timeout_s"] == pytest.approx(70.0)
    assert merged["cpu_seconds"] == pytest.approx(35.0) and merged["status"] == "crashed"


def test_a_contended_wall_clock_timeout_runs_the_notebook_again_alone(tmp_path):
    """grade_submission: a run that hit a wall-clock cap while it waited for a CPU (run["contended"]) is run again
    with job["alone"]; the second run's result counts and the row says it ran alone."""
    from autograder.grading import GradingKit, grade_submission
    from autograder.source import load_source
    from autograder.submissions import Submission

    root = Path(__file__).resolve().parents[1]
    released = root / "exercises" / "ps1_likelihood" / "ps1_likelihood.ipynb"
    source = load_source("ps1_likelihood", root / "solutions" / "ps1_likelihood" / "ps1_likelihood.ipynb", released)
    kit = GradingKit("ps1_likelihood", "ps1", source, tmp_path, 30.0, 180.0)
    submission = Submission("s", notebook=released)
    jobs = []

    def run_job(job):
        jobs.append(job)
        cells = [{"position": c["position"], "grade_id": c["grade_id"], "status": "ok", "records": []}
                 for c in job["cells"]]
        if not job.get("alone"):
            cells[-1].update(status="timeout", timeout_kind="wall", contended=True, cpu_seconds=1.0, seconds=60.0)
            return _run(contended=True, cells=cells)
        return _run(cells=cells)

    result = grade_submission(submission, kit, run_job, master_seed=5)
    assert [bool(j.get("alone")) for j in jobs] == [False, True]
    assert any("ran again alone" in note for note in result.attention), result.attention
    assert "ran again alone" in result.message


def test_judging_is_limited_by_cpu_time():
    """A judge child stops at its CPU time (RLIMIT_CPU), with its own message; the server goes on judging."""
    from autograder.judge_server import JudgeFailed, JudgePool

    pool = JudgePool(timeout_s=1.0)
    try:
        start = time.monotonic()
        with pytest.raises(JudgeFailed, match="CPU time"):
            pool.call(_spin)
        assert time.monotonic() - start < 30
        assert pool.call(_answer) == 42
    finally:
        pool.close()


def _spin():
    while True:
        pass


def _answer():
    return 42
