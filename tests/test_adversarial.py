"""Hostile submissions, graded end to end by the real CLI: the proof that the sandboxed grader holds.

The submissions are committed under tests/adversarial/submissions/<case>/ (built by tests/adversarial/make_cases.py,
whose docstrings say what each one attacks). One module-scoped batch grades every fixture case (--workers 2) while
this test listens on 127.0.0.1 and has a secret in the grader's environment; a second small batch grades a Canvas zip
twice (resubmissions, idempotent regrading). Then each test asserts one case.

Scores: R = 5 (the solution: 4 points + 1 bonus), E = 0 (the blank exercise). Cases whose attack only a sandbox can
stop (reading files, the environment or the network, daemons, resource bombs) are not even run when bubblewrap is
missing (they would succeed, and some are heavy): their tests skip with the reason.
"""

import csv
import hashlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from pathlib import Path

import pytest

from tests.adversarial import make_cases as cases

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "tests" / "fixtures" / "course"
SUBMISSIONS = ROOT / "tests" / "adversarial" / "submissions"
R, E = 5.0, 0.0
CELL_TIMEOUT, NOTEBOOK_TIMEOUT = 5, 20
SANDBOX = shutil.which("bwrap") is not None
NO_SANDBOX_REASON = "bubblewrap (bwrap) is not installed: grading ran with --no-sandbox and this attack would succeed"
# attacks only an OS sandbox can stop; graded only when bwrap is present
SANDBOX_ONLY = {"read_solutions", "read_gradebook", "read_other_student", "read_env_secret", "daemon_writer",
                "network", "memory_bomb", "fork_bomb", "big_file", "env_probe", "crash_kill_worker", "answer_key",
                "shm_hog"}
MARKERS = (cases.DAEMON_MARKER, cases.FORK_MARKER)
sandbox_only = pytest.mark.skipif(not SANDBOX, reason=NO_SANDBOX_REASON)


def autograder(*args, cwd, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def sandbox_args():
    return [] if SANDBOX else ["--no-sandbox"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def marked_processes() -> list:
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            line = " ".join(process.info["cmdline"] or [])
        except (psutil.Error, TypeError):
            continue
        if any(marker in line for marker in MARKERS):
            found.append(process)
    return found


class Listener:
    """A TCP listener on 127.0.0.1 (the first free port of cases.NET_PORTS) that records whatever arrives."""

    def __init__(self):
        self.received: list[bytes] = []
        self.connections = 0
        self.sock = None
        for port in cases.NET_PORTS:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                sock.close()
                continue
            sock.listen(8)
            sock.settimeout(0.2)
            self.sock, self.port = sock, port
            break
        if self.sock is None:
            pytest.fail(f"none of the ports {cases.NET_PORTS} is free on 127.0.0.1")
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            with connection:
                connection.settimeout(2)
                try:
                    self.received.append(connection.recv(4096))
                except OSError:
                    pass

    def close(self):
        self.stopping = True
        self.thread.join(timeout=5)
        self.sock.close()


class Batch:
    def __init__(self, tmp: Path, out: Path, rows: dict, result, secret: str):
        self.tmp, self.out, self.rows, self.result, self.secret = tmp, out, rows, result, secret
        self.changed_after_return: list[str] = []
        self.leftover: list[str] = []
        self.received: list[bytes] = []
        self.connections = 0

    def feedback(self, student: str) -> str:
        return (self.out / "feedback" / f"{student}.html").read_text()

    def cells(self, student: str) -> dict[str, float]:
        """Points per test cell, as written to the nbgrader gradebook."""
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{self.out / 'gradebook.db'}") as gradebook:
            notebook = gradebook.find_submission_notebook("fx_kl", "fx_kl", student)
            return {g.name: g.score for g in notebook.grades if g.name.startswith("test_")}  # bonus: extra credit

    def row(self, student: str) -> dict:
        assert student in self.rows, f"{student} has no row in grades.csv (the batch stopped?): {sorted(self.rows)}"
        return self.rows[student]

    def score(self, student: str) -> float:
        return float(self.row(student)["score"])


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("adversarial")
    names = sorted(p.name for p in SUBMISSIONS.iterdir() if p.is_dir())
    assert set(names) == set(cases.CASES), "tests/adversarial/submissions is stale: run tests/adversarial/make_cases.py"
    for name in names:
        if SANDBOX or name not in SANDBOX_ONLY:
            shutil.copytree(SUBMISSIONS / name, tmp / "submissions" / name)
    secret = f"grader-secret-{uuid.uuid4().hex}"
    env = dict(os.environ, **{cases.SECRET_ENV: secret})
    listener = Listener()
    try:
        result = autograder("grade", "--assignment", "fx_kl", "submissions", "--output", "out", "--workers", 2,
                            "--course-root", COURSE, "--cell-timeout", CELL_TIMEOUT, "--notebook-timeout",
                            NOTEBOOK_TIMEOUT, "--no-progress", *sandbox_args(), cwd=tmp, env=env)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
        out = tmp / "out"
        files = [out / "gradebook.db", out / "grades.csv", out / "summary.md"]
        before = {f.name: digest(f) for f in files}
        time.sleep(3)  # a daemon that escaped would write now
        with open(out / "grades.csv", newline="") as handle:
            rows = {row["student_id"]: row for row in csv.DictReader(handle)}
        state = Batch(tmp, out, rows, result, secret)
        state.changed_after_return = [f.name for f in files if digest(f) != before[f.name]]
        leftover = marked_processes()
        state.leftover = [" ".join(p.info["cmdline"] or [])[-120:] for p in leftover]
        for process in leftover:  # our own attack processes, found by their marker: do not let them linger
            try:
                process.kill()
            except Exception:  # noqa: BLE001
                pass
    finally:
        listener.close()
    state.received, state.connections = listener.received, listener.connections
    return state


# ------------------------------------------------------------------------------------------------------------
# The batch as a whole
# ------------------------------------------------------------------------------------------------------------
def test_every_case_has_a_row(batch):
    expected = {n for n in cases.CASES if SANDBOX or n not in SANDBOX_ONLY}
    assert set(batch.rows) == expected, f"missing rows: {expected - set(batch.rows)}"
    # points come from the source: 4 autograded + 3 graded by hand (bonus excluded, as in `nbgrader export`)
    assert {r["max_score"] for r in batch.rows.values()} == {"7"}, "points must come from the source"
    if SANDBOX:
        assert "WARNING" not in batch.result.stderr, "graded without the sandbox although bwrap is installed"


def test_controls_solution_full_marks_exercise_zero(batch):
    for student, score in [("solution", R), ("victim", R), ("exercise", E)]:
        row = batch.row(student)
        assert batch.score(student) == score and row["status"] == "ok", f"{student}: {row}"


# ------------------------------------------------------------------------------------------------------------
# 1-5: tampering with the judging inside the student's process
# ------------------------------------------------------------------------------------------------------------
def test_1_patched_comparisons_do_not_help(batch):
    assert batch.score("patch_compare") == E, batch.row("patch_compare")


def test_2_ipython_transformers_do_not_skip_the_tests(batch):
    for student in ("ipython_transformers", "ipython_run_cell"):
        assert batch.score(student) == E, batch.row(student)
        assert "no result was recorded" in batch.feedback(student), student


def test_3_silenced_tracebacks_do_not_hide_failures(batch):
    assert batch.score("traceback_hooks") == E, batch.row("traceback_hooks")


def test_4_fake_passed_output_and_forged_results_count_for_nothing(batch):
    assert batch.score("fake_results") == E, batch.row("fake_results")
    with open(batch.out / "grades.csv") as handle:
        assert sum(line.startswith("fake_results,") for line in handle) == 1


def test_5_always_equal_object_and_tensor_subclass_fail_only_their_tests(batch):
    assert batch.cells("always_equal") == {"test_gaussian_kl": 0, "test_gaussian_kl_visible": 0, "test_kl_bonus": 1}
    assert batch.score("always_equal") == 1
    assert batch.cells("tensor_subclass") == {"test_gaussian_kl": 3, "test_gaussian_kl_visible": 1,
                                              "test_kl_bonus": 0}
    assert batch.score("tensor_subclass") == 4


# ------------------------------------------------------------------------------------------------------------
# 6-7: the student's files and the student's copy of the tests
# ------------------------------------------------------------------------------------------------------------
def test_6_modules_shipped_beside_the_notebook_are_not_imported(batch):
    row = batch.row("shipped_modules")
    assert batch.score("shipped_modules") == R and row["status"] == "ok", row


def test_7_edited_deleted_duplicated_tests_and_points_come_from_the_source(batch):
    wrong, right = batch.row("edited_tests_wrong"), batch.row("edited_tests_right")
    assert batch.score("edited_tests_wrong") == E and wrong["max_score"] == "7", wrong
    assert batch.score("edited_tests_right") == R and right["status"] == "ok", right
    for student in ("edited_tests_wrong", "edited_tests_right"):
        assert set(batch.cells(student)) == {"test_gaussian_kl", "test_gaussian_kl_visible", "test_kl_bonus"}
    assert "test_extra_credit" in wrong["message"]  # noted as unknown, ran as the student's own cell


# ------------------------------------------------------------------------------------------------------------
# 8-10: escaping the sandbox
# ------------------------------------------------------------------------------------------------------------
@sandbox_only
@pytest.mark.parametrize("student, leak", [("read_solutions", "BEGIN SOLUTION"), ("read_gradebook", "SQLite format"),
                                           ("read_other_student", cases.VICTIM_MARKER),
                                           ("read_env_secret", None), ("read_test_split", None)])
def test_8_solutions_gradebook_other_students_and_secrets_are_unreadable(batch, student, leak):
    assert batch.score(student) == E, f"{student} read what it must not: {batch.row(student)}"
    page = batch.feedback(student)
    assert cases.LEAK_PREFIX not in page, f"{student} found something: {page[page.find(cases.LEAK_PREFIX):][:300]}"
    if leak:
        assert leak not in page
    for path in [*(batch.out / "feedback").glob("*.html"), batch.out / "grades.csv", batch.out / "summary.md"]:
        assert batch.secret not in path.read_text(errors="replace"), f"the grader's secret is in {path.name}"


@sandbox_only
def test_9_daemons_and_threads_die_with_the_submission(batch):
    assert batch.score("daemon_writer") == E, batch.row("daemon_writer")
    assert not batch.changed_after_return, f"written after grading returned: {batch.changed_after_return}"
    assert not batch.leftover, f"processes of the sandbox survived grading: {batch.leftover}"
    grades_csv = (batch.out / "grades.csv").read_text()
    assert cases.DAEMON_MARKER not in grades_csv, grades_csv[-2000:]
    with sqlite3.connect(batch.out / "gradebook.db") as db:
        assert db.execute("SELECT count(*) FROM grade WHERE manual_score = 999").fetchone()[0] == 0


@sandbox_only
def test_10_no_network_to_the_host_loopback(batch):
    assert batch.connections == 0 and not batch.received, f"the sandbox reached 127.0.0.1: {batch.received}"
    assert batch.score("network") == E, batch.row("network")


# ------------------------------------------------------------------------------------------------------------
# 11-14: time, crashes, resources, output
# ------------------------------------------------------------------------------------------------------------
def test_11_an_infinite_loop_zeroes_only_the_tests_that_call_it(batch):
    row = batch.row("infinite_loop")
    assert batch.cells("infinite_loop") == {"test_gaussian_kl": 0, "test_gaussian_kl_visible": 0, "test_kl_bonus": 1}
    # status ok: each looping cell was stopped at its own limit, not by the notebook budget (status "timeout")
    assert row["status"] == "ok" and "time limit" in row["message"], row


def test_11_a_cell_that_disarms_its_timer_is_stopped_and_the_rest_still_runs(batch):
    """The host stops a cell that disarms its interrupt once its CPU time passes the cell limit + grace, records it
    as a crash, and the remaining cells run in a fresh process within the notebook budget (tests/test_grade_cli.py
    checks the budget itself with cells that each stay within their limit)."""
    row = batch.row("budget_evader")
    assert row["status"] == "error" and "more than its CPU time limit" in row["message"] \
        and "was stopped" in row["message"], row
    assert batch.cells("budget_evader") == {"test_gaussian_kl": 3, "test_gaussian_kl_visible": 1,
                                            "test_kl_bonus": 1}


@pytest.mark.parametrize("student, how", [("crash_exit", "exit code 7"), ("crash_sigkill", "signal 9"),
                                          ("crash_segfault", "signal 11")])
def test_12_a_crash_is_recorded_and_the_remaining_tests_run_in_a_fresh_process(batch, student, how):
    row = batch.row(student)
    assert how in row["message"] and row["status"] == "error", row
    assert batch.cells(student) == {"test_gaussian_kl": 0, "test_gaussian_kl_visible": 0, "test_kl_bonus": 1}, row


@sandbox_only
def test_12_the_processes_that_run_a_submission_cannot_be_killed_from_it(batch):
    row = batch.row("crash_kill_worker")
    assert batch.cells("crash_kill_worker") == {"test_gaussian_kl": 0, "test_gaussian_kl_visible": 0,
                                                "test_kl_bonus": 1}, row
    assert "sandbox did not report" not in (batch.out / "grades.csv").read_text(), "a zygote was killed"


@sandbox_only
@pytest.mark.parametrize("student", ["memory_bomb", "fork_bomb", "big_file"])
def test_13_resource_bombs_are_stopped_by_the_limits(batch, student):
    row = batch.row(student)
    cells = batch.cells(student)
    assert cells["test_gaussian_kl"] == 0 and cells["test_gaussian_kl_visible"] == 0, \
        f"{student}: the bomb was not stopped (its function is right only if it was not): {row}"
    assert cells["test_kl_bonus"] == 1, f"{student}: the later cells did not run: {row}"
    assert not batch.leftover, f"bomb processes survived grading: {batch.leftover}"


def test_14_a_100_mb_line_is_truncated_and_the_feedback_stays_small(batch):
    row = batch.row("huge_print")
    assert batch.score("huge_print") == R and row["status"] == "ok", row
    assert (batch.out / "feedback" / "huge_print.html").stat().st_size < 1_000_000
    assert (batch.out / "grades.csv").stat().st_size < 100_000


# ------------------------------------------------------------------------------------------------------------
# 15-16: gaming the tests, detecting the grader
# ------------------------------------------------------------------------------------------------------------
def test_15_hard_coded_visible_answers_fail_the_hidden_tests(batch):
    assert batch.cells("hardcoded") == {"test_gaussian_kl": 0, "test_gaussian_kl_visible": 1, "test_kl_bonus": 0}


@sandbox_only
def test_16_no_environment_variable_reveals_grading(batch):
    page = batch.feedback("env_probe")
    assert batch.score("env_probe") == R, \
        f"revealing variables: {page[page.find(cases.LEAK_PREFIX):][:400]}"


# ------------------------------------------------------------------------------------------------------------
# 17: resubmissions and regrading
# ------------------------------------------------------------------------------------------------------------
def test_17_newest_resubmission_wins_and_regrading_is_idempotent(tmp_path):
    solution = (SUBMISSIONS / "solution" / "fx_kl.ipynb").read_text()
    blank = (SUBMISSIONS / "exercise" / "fx_kl.ipynb").read_text()
    canvas = tmp_path / "canvas.zip"
    with zipfile.ZipFile(canvas, "w") as zf:
        zf.writestr("annsmith_1001_501_fx_kl.ipynb", blank)
        zf.writestr("annsmith_LATE_1001_777_fx_kl-1.ipynb", solution)  # a later attachment, renamed by Canvas
        zf.writestr("bobjones_1002_502_fx_kl.ipynb", solution)
        zf.writestr("bobjones_1002_503_fx_kl.ipynb", blank)  # newer attachment id: the blank one wins
        zf.writestr("carolwu_1003_600_fx_kl.ipynb", solution)
        zf.writestr("carolwu_1003_600_fx_kl-2.ipynb", blank)  # same attachment, higher resubmission suffix
    expected = {"1001": (R, "yes"), "1002": (E, "no"), "1003": (E, "no")}
    out = tmp_path / "out"
    for attempt in (1, 2):  # the same batch twice into the same output folder
        result = autograder("grade", "--assignment", "fx_kl", canvas, "--output", out, "--course-root", COURSE,
                            "--workers", 2, "--no-progress", *sandbox_args(), cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        with open(out / "grades.csv", newline="") as handle:
            rows = {r["student_id"]: (float(r["score"]), r["late"]) for r in csv.DictReader(handle)}
        assert rows == expected, f"grading #{attempt}: {rows}"
    with sqlite3.connect(out / "gradebook.db") as db:
        per_student = dict(db.execute("SELECT student_id, count(*) FROM submitted_assignment GROUP BY student_id"))
    assert per_student == {"1001": 1, "1002": 1, "1003": 1}, per_student
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gradebook:
        scores = {s: gradebook.find_submission("fx_kl", s).score for s in expected}
    assert scores == {"1001": 4.0 + 1.0, "1002": 0.0, "1003": 0.0}, scores  # the bonus included, as in grades.csv


# ------------------------------------------------------------------------------------------------------------
# Issue 7: the answer key, forged records, lone surrogates, shared memory past the limit
# ------------------------------------------------------------------------------------------------------------
@sandbox_only
def test_the_answer_key_is_not_in_the_sandbox(batch):
    assert batch.score("answer_key") == E, batch.row("answer_key")


def test_forged_records_fail_their_checks_with_a_reason(batch):
    row = batch.row("forged_records")
    assert batch.score("forged_records") == E and row["status"] == "ok", row
    page = batch.feedback("forged_records")
    assert "could not be read" in page, page[-3000:]
    assert "claims (2,)" in page  # the first forgery each check meets; tests/test_boundary.py has every kind


def test_lone_surrogates_do_not_stop_the_batch(batch):
    row = batch.row("surrogates")
    assert batch.score("surrogates") == E and row["status"] == "ok", row
    for path in [batch.out / "grades.csv", batch.out / "summary.md", batch.out / "feedback" / "surrogates.html"]:
        path.read_bytes().decode("utf-8")  # valid UTF-8 throughout
    assert "\ufffd" in batch.feedback("surrogates")  # the surrogate shown as a replacement character


@sandbox_only
def test_shared_memory_counts_against_the_memory_limit(batch):
    row = batch.row("shm_hog")
    assert batch.cells("shm_hog") == {"test_gaussian_kl": 0, "test_gaussian_kl_visible": 0, "test_kl_bonus": 1}, row
