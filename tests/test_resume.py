"""Resumable and never destructive, through the real CLI: kill -9, a torn journal line (power loss) and Ctrl-C in
the middle of a batch; the same command afterwards grades only what is missing and every submission ends with
exactly one row and the same scores. An output folder is never silently replaced."""

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.grading_cli import COURSE, EXERCISE, SOLUTION, autograder, grade, put, read_rows

pytestmark = pytest.mark.slow

COUNT = 8
SLOW_CELL = "import time\ntime.sleep(1.5)\n"  # so that the batch is still running when it is interrupted


def slow_batch(folder: Path) -> dict[str, float]:
    """COUNT submissions, each spending 1.5 s in a cell of the student's; the expected autograded score of each."""
    expected = {}
    for index in range(COUNT):
        base = SOLUTION if index % 2 == 0 else EXERCISE
        nb = json.loads(base.read_text())
        nb["cells"].insert(2, {"cell_type": "code", "metadata": {}, "source": SLOW_CELL, "outputs": [],
                               "execution_count": None})
        student = f"s{index}_{'solution' if index % 2 == 0 else 'blank'}"
        put(folder, student, json.dumps(nb))
        expected[student] = 5.0 if index % 2 == 0 else 0.0
    return expected


def results_in(journal: Path) -> list[dict]:
    if not journal.is_file():
        return []
    lines = journal.read_bytes().split(b"\n")
    found = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event["type"] == "result":
            found.append(event)
    return found


def start(tmp: Path, *extra) -> subprocess.Popen:
    command = [sys.executable, "-m", "autograder", "grade", "--assignment", "fx_kl", "subs", "--output", "out",
               "--course-root", str(COURSE), "--workers", "2", "--no-progress", *extra]
    return subprocess.Popen(command, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_results(tmp: Path, process: subprocess.Popen, at_least: int, timeout_s: float = 900) -> None:
    deadline = time.monotonic() + timeout_s
    while len(results_in(tmp / "out" / "grading-journal.jsonl")) < at_least:
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the batch recorded nothing in time"
        time.sleep(0.2)


def assert_complete(tmp: Path, expected: dict[str, float], rows: dict) -> None:
    """Every submission exactly once, in grades.csv and in the journal, with its score."""
    assert sorted(rows) == sorted(expected)
    assert {s: float(r["score"]) for s, r in rows.items()} == expected
    recorded = [e["result"]["student_id"] for e in results_in(tmp / "out" / "grading-journal.jsonl")]
    assert sorted(recorded) == sorted(expected), "a submission was graded twice or not at all"


def test_kill_9_mid_batch_then_the_same_command_grades_only_the_rest(tmp_path):
    expected = slow_batch(tmp_path / "subs")
    process = start(tmp_path)
    wait_for_results(tmp_path, process, 2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = {e["result"]["student_id"]: e["result"]["seed"] for e in
              results_in(tmp_path / "out" / "grading-journal.jsonl")}
    assert 2 <= len(before) < COUNT, f"the kill did not land mid-batch: {len(before)} recorded"
    again, rows = grade("subs", "out", "--workers", 2, cwd=tmp_path)
    assert f"{len(before)} of {COUNT} submission(s) were already graded" in again.stderr
    assert f"graded {COUNT - len(before)} submission(s) now, {len(before)} earlier" in again.stdout
    assert_complete(tmp_path, expected, rows)
    assert {s: int(rows[s]["seed"]) for s in before} == before  # the earlier results were kept, not redone
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{tmp_path / 'out' / 'gradebook.db'}") as gradebook:
        assert {s.id for s in gradebook.students} == set(expected)
        assert {s: gradebook.find_submission("fx_kl", s).score for s in expected} == expected


def test_a_torn_journal_line_from_a_power_loss_is_graded_again(tmp_path):
    expected = slow_batch(tmp_path / "subs")
    grade("subs", "out", "--workers", 2, cwd=tmp_path)
    journal = tmp_path / "out" / "grading-journal.jsonl"
    data = journal.read_bytes()
    lines = data.split(b"\n")
    results = [i for i, line in enumerate(lines) if b'"type":"result"' in line]
    cut = results[3]  # the 4th result was being written when the power went: half of it reached the disk
    torn_student = json.loads(lines[cut])["result"]["student_id"]
    journal.write_bytes(b"\n".join(lines[:cut]) + b"\n" + lines[cut][:len(lines[cut]) // 2])
    again, rows = grade("subs", "out", "--workers", 2, cwd=tmp_path)
    assert "incomplete line(s)" in again.stderr
    assert f"graded {COUNT - 3} submission(s) now, 3 earlier" in again.stdout
    assert torn_student in rows
    assert_complete(tmp_path, expected, rows)


def test_ctrl_c_stops_soon_and_the_same_command_finishes(tmp_path):
    expected = slow_batch(tmp_path / "subs")
    process = start(tmp_path)
    wait_for_results(tmp_path, process, 1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr[-3000:]
    assert "interrupted" in stderr and "run the same command again" in stderr
    recorded = len(results_in(tmp_path / "out" / "grading-journal.jsonl"))
    assert recorded < COUNT, "Ctrl-C did not stop the batch"
    again, rows = grade("subs", "out", "--workers", 2, cwd=tmp_path)
    assert f"graded {COUNT - recorded} submission(s) now, {recorded} earlier" in again.stdout
    assert_complete(tmp_path, expected, rows)


def small_batch(folder: Path) -> None:
    put(folder, "ann", SOLUTION.read_text())
    put(folder, "bob", EXERCISE.read_text())


def test_a_folder_that_is_not_an_output_is_refused(tmp_path):
    small_batch(tmp_path / "subs")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tex").write_text("years of work")
    result = autograder("grade", "--assignment", "fx_kl", "subs", "--output", "out", "--course-root", COURSE,
                        cwd=tmp_path)
    assert result.returncode == 2 and "not an autograder output folder" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["thesis.tex"]


def test_an_output_without_journal_needs_regrade_and_keeps_hand_marks(tmp_path):
    small_batch(tmp_path / "subs")
    grade("subs", "out", "--workers", 1, cwd=tmp_path)
    from nbgrader.api import Gradebook

    db = f"sqlite:///{tmp_path / 'out' / 'gradebook.db'}"
    with Gradebook(db) as gradebook:
        grade_ = gradebook.find_grade("derivation", "fx_kl", "fx_kl", "ann")
        grade_.manual_score, grade_.needs_manual_grade = 1.0, False
        gradebook.db.commit()
    (tmp_path / "out" / "grading-journal.jsonl").unlink()  # as an output of the autograder before journals
    before = (tmp_path / "out" / "grades.csv").read_text()
    refused = autograder("grade", "--assignment", "fx_kl", "subs", "--output", "out", "--course-root", COURSE,
                         cwd=tmp_path)
    assert refused.returncode == 2 and "--regrade" in refused.stderr
    assert (tmp_path / "out" / "grades.csv").read_text() == before
    _, rows = grade("subs", "out", "--workers", 1, "--regrade", cwd=tmp_path)
    assert rows["ann"]["score"] == "6" and rows["ann"]["manual"] == "1"
    with Gradebook(db) as gradebook:
        assert gradebook.find_grade("derivation", "fx_kl", "fx_kl", "ann").manual_score == 1.0


def test_a_changed_assignment_needs_regrade(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(COURSE, course)
    small_batch(tmp_path / "subs")
    args = ["grade", "--assignment", "fx_kl", "subs", "--output", "out", "--course-root", course, "--no-progress",
            "--workers", 1]
    assert autograder(*args, cwd=tmp_path).returncode == 0
    source = course / "solutions/fx_kl/fx_kl.ipynb"
    source.write_text(source.read_text().replace("A tiny assignment", "A small assignment"))
    refused = autograder(*args, cwd=tmp_path)
    assert refused.returncode == 2 and "changed since" in refused.stderr and "--regrade" in refused.stderr
    regraded = autograder(*args, "--regrade", cwd=tmp_path)
    assert regraded.returncode == 0, regraded.stderr[-3000:]
    assert "updating gradebook.db with the changed assignment" in regraded.stderr
    assert "A small assignment" in (tmp_path / "out/source/fx_kl/fx_kl.ipynb").read_text()
    rows = read_rows(tmp_path / "out" / "grades.csv")
    assert {s: r["score"] for s, r in rows.items()} == {"ann": "5", "bob": "0"}


def test_one_run_at_a_time_per_output_folder(tmp_path):
    small_batch(tmp_path / "subs")
    (tmp_path / "out").mkdir()
    with open(tmp_path / "out" / "grading-journal.jsonl", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = autograder("grade", "--assignment", "fx_kl", "subs", "--output", "out", "--course-root", COURSE,
                            cwd=tmp_path)
    assert result.returncode == 2 and "another `python -m autograder` run is using" in result.stderr
    assert os.path.getsize(tmp_path / "out" / "grading-journal.jsonl") == 0


def test_an_interrupted_regrade_is_finished_by_the_same_command(tmp_path):
    expected = slow_batch(tmp_path / "subs")
    _, first = grade("subs", "out", "--workers", 2, cwd=tmp_path)
    process = start(tmp_path, "--regrade")
    wait_for_results(tmp_path, process, COUNT + 2)  # the first grading's results, then two of the regrade
    process.send_signal(signal.SIGKILL)
    process.wait()
    regraded = len(results_in(tmp_path / "out" / "grading-journal.jsonl")) - COUNT
    assert 2 <= regraded < COUNT
    again, rows = grade("subs", "out", "--workers", 2, "--regrade", cwd=tmp_path)
    assert "continued the interrupted --regrade" in again.stderr
    assert f"graded {COUNT - regraded} submission(s) now, {regraded} earlier" in again.stdout
    assert {s: float(r["score"]) for s, r in rows.items()} == expected
    assert all(rows[s]["seed"] != first[s]["seed"] for s in expected), "a submission kept its first grading"
    finished, _ = grade("subs", "out", "--workers", 2, "--regrade", cwd=tmp_path)  # a finished regrade: a new one
    assert f"graded {COUNT} submission(s) now, 0 earlier" in finished.stdout
