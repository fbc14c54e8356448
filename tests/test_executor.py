"""The host side of the sandbox on its own: SandboxPool runs jobs, keeps limits, and replaces a zygote whose
cgroup still holds processes of a finished job (a defence in depth: the PID namespace should have ended them)."""

import shutil

import pytest

from autograder.executor import SandboxPool

SANDBOX = shutil.which("bwrap") is not None


def job(*sources: str, cell_timeout: float = 20, notebook_timeout: float = 60) -> dict:
    return {"job": "t", "master_seed": 1, "cell_timeout_s": cell_timeout, "notebook_timeout_s": notebook_timeout,
            "files_dir": None, "cells": [{"position": i, "source": s, "grade_id": None} for i, s in enumerate(sources)]}


@pytest.fixture(scope="module", params=[True, False], ids=["sandboxed", "plain"])
def pool(request):
    if request.param and not SANDBOX:
        pytest.skip("bubblewrap is not installed")
    with SandboxPool(1, sandboxed=request.param) as made:
        yield made


def test_cells_run_in_order_and_report_their_output(pool):
    run = pool.run(job("x = 41", "print(x + 1)"))
    assert run["status"] == "ok" and [c["stdout"] for c in run["cells"]] == ["", "42\n"], run


def test_a_process_exit_is_a_crash_with_its_code(pool):
    run = pool.run(job("import os; os._exit(3)", "print('never')"))
    assert run["status"] == "crashed" and run["ended"] == "exit code 3" and run["cells"] == [], run


def test_the_notebook_budget_counts_cpu_time(pool):
    """The notebook's budget is CPU time: a busy loop ends the run once it has used it (plus the poll interval)."""
    run = pool.run(job("x = 1", "while True: pass", cell_timeout=60, notebook_timeout=3))
    assert run["status"] == "timeout" and len(run["cells"]) == 1 and run["budget_timeout"] == "cpu", run
    assert 3.0 <= run["cpu_seconds"] < 6.0, run


def test_a_cell_is_interrupted_at_its_cpu_limit_and_the_next_runs(pool):
    run = pool.run(job("x = 0\nwhile True: x += 1", "print('next')", cell_timeout=1.5))
    first, second = run["cells"]
    assert run["status"] == "ok" and first["status"] == "timeout" and first["timeout_kind"] == "cpu", run
    assert "CPU time limit of 1.5 s" in first["error"] and 1.4 <= first["cpu_seconds"] < 3.5, first
    assert second["stdout"] == "next\n", run


def test_a_sleeping_cell_stops_at_the_wall_clock_cap_without_cpu(pool):
    """A cell that sleeps uses no CPU; the wall-clock cap (cellrunner.wall_cap: 5 x the limit, at least +10 s)
    stops it, and the message says it was waiting. Sleeping is not contention: no rerun alone is asked for."""
    from autograder.student.cellrunner import wall_cap

    run = pool.run(job("import time; time.sleep(60)", "print('next')", cell_timeout=1))
    first = run["cells"][0]
    assert first["status"] == "timeout" and first["timeout_kind"] == "wall", run
    assert wall_cap(1) <= first["seconds"] < wall_cap(1) + 3 and first["cpu_seconds"] < 0.5, first
    assert "sleeping or waiting" in first["error"] and run["cells"][1]["stdout"] == "next\n", run
    if pool.sandboxed and run["cpu_counted"]:
        assert not first["contended"] and not run["contended"], run


def test_cpu_used_by_processes_a_cell_starts_counts_against_it():
    """CPU that a cell spends in child processes (which its own interval timer does not see) is counted from the
    zygote's cgroup: the cell is stopped CELL_GRACE_S after its limit."""
    if not SANDBOX:
        pytest.skip("bubblewrap is not installed")
    spin = ("import subprocess, sys\n"
            "procs = [subprocess.Popen([sys.executable, '-c', 'while True: pass']) for _ in range(2)]\n"
            "for p in procs: p.wait()")
    with SandboxPool(1, sandboxed=True) as pool:
        if not pool.cgroups.counts_cpu:
            pytest.skip(f"no CPU cgroup here: {pool.cgroups.cpu_reason}")
        run = pool.run(job(spin, "print('never')", cell_timeout=2, notebook_timeout=60))
    assert run["status"] == "crashed" and "CPU time limit of 2 s" in run["ended"], run
    assert run["cpu_seconds"] >= 2.0, run


class FakeGroup:
    """A cgroup whose process list the test controls (its CPU time is read from /proc instead)."""

    counts_cpu = False

    def __init__(self):
        self.extra: set[int] = set()

    def processes(self) -> set[int]:
        return {1, 2, 3} | self.extra

    def remove(self) -> None:
        pass


def test_a_zygote_with_leftover_processes_is_replaced_before_its_next_job():
    with SandboxPool(1, sandboxed=False) as pool:
        server = pool._idle.get()
        pool._idle.put(server)
        fake = FakeGroup()
        pool._groups[id(server)] = fake
        assert pool.run(job("x = 1"))["status"] == "ok"  # records the baseline
        fake.extra = {99}  # a process of the finished job is still in the cgroup
        assert pool.run(job("x = 1"))["status"] == "ok"
        replacement = pool._idle.get()
        pool._idle.put(replacement)
        assert replacement is not server and server.process.poll() is not None


PRELOAD_PROBE = "import sys; print(sorted(m for m in ('colorsys', 'wave') if m in sys.modules))"


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "plain"])
def test_zygotes_import_what_the_notebook_imports_before_forking(sandboxed):
    """``preload`` (autograder.source.notebook_imports): imported once in the zygote, so each submission finds it
    loaded; a module that cannot be imported is left for the notebook to fail on, not the zygote."""
    if sandboxed and not SANDBOX:
        pytest.skip("bubblewrap is not installed")
    with SandboxPool(1, sandboxed=sandboxed, preload=("colorsys", "no_such_module_anywhere")) as pool:
        run = pool.run(job(PRELOAD_PROBE, "import no_such_module_anywhere"))
    assert run["status"] == "ok" and run["cells"][0]["stdout"] == "['colorsys']\n", run
    assert "ModuleNotFoundError" in run["cells"][1]["error"], run


def test_the_sandbox_gets_the_graders_matplotlib_font_list(pool):
    """The zygote (and a submission that plots) read matplotlib's font list from the grader's cache instead of
    scanning every font (autograder.sandbox.host_font_lists)."""
    from autograder import sandbox

    if not pool.sandboxed:
        pytest.skip("the plain pool uses the grader's own matplotlib cache")
    lists = sandbox.host_font_lists()
    if not lists:
        pytest.skip("this user has no matplotlib font list yet")
    run = pool.run(job("import os; print(sorted(os.listdir(os.environ['MPLCONFIGDIR'])))"))
    assert run["status"] == "ok" and all(path.name in run["cells"][0]["stdout"] for path in lists), run


HERD = """import os, time
start = time.time()
for _ in range(50):  # a herd of the submission's own processes that wake together every 10 ms and spin briefly
    if os.fork() == 0:
        tick = start + 0.2
        while True:
            time.sleep(max(0.0, tick - time.time()))
            end = time.perf_counter() + 2e-5
            while time.perf_counter() < end:
                pass
            tick += 0.01
time.sleep(60)
"""


def test_a_herd_of_its_own_processes_never_makes_a_timeout_contended():
    """Red team (issue 17): a cell whose own processes crowded each other made the summed run-queue waiting large,
    so its wall-clock timeout counted as "contended" and the notebook ran again alone, stalling every worker. The
    machine's hold on a submission is now read from its most held-back thread, and a submission that wanted far
    more than its share is never contended."""
    if not SANDBOX:
        pytest.skip("bubblewrap is not installed")
    with SandboxPool(1, sandboxed=True) as pool:
        run = pool.run(job(HERD, "print('next')", cell_timeout=1, notebook_timeout=60))
    first = run["cells"][0]
    assert first["status"] == "timeout" and first["timeout_kind"] == "wall", run
    assert not first["contended"] and not run["contended"], run


def test_a_forged_wall_timeout_message_is_not_contended():
    """A cell's message can claim a wall-clock timeout at any time; only the host's own clock says the cap was hit."""
    forged = ("import json, socket, sys, gc\n"
              "job = next(o for o in gc.get_objects() if isinstance(o, socket.socket) and o.fileno() > 2)\n"
              "job.sendall(json.dumps({'position': 0, 'grade_id': None, 'status': 'timeout', "
              "'timeout_kind': 'wall', 'error': 'x'}).encode() + b'\\n')\n"
              "import time; time.sleep(1)")
    with SandboxPool(1, sandboxed=False) as pool:
        run = pool.run(job(forged, "print('next')", cell_timeout=20))
    assert run["cells"][0]["timeout_kind"] == "wall", run  # the forged message was taken as the cell's
    assert not run["cells"][0]["contended"] and not run["contended"], run
