"""A grade depends only on the student's own code: correct notebooks keep every point on a busy machine and beside
a hostile neighbour (issue 17).

The host is made busy the way other users' jobs make it busy: busy processes, each in a process session of its own
(the kernel's autogroup scheduling then gives each session its own share). Limits count CPU time, every running
submission has an equal CPU share (its zygote's cgroup) and the batch is weighted by its size (autograder.sandbox),
so neither can push a correct notebook past its limit. Runs through the real ``grade`` command, with the sandbox.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.grading_cli import print_replay, read_rows

ROOT = Path(__file__).resolve().parents[1]
BUSY_PER_CORE = 20  # the load: today's wall-clock limits cost 3 of 5 correct ps4 students 4 points there
SANDBOX = shutil.which("bwrap") is not None and os.geteuid() == 0

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not SANDBOX, reason="needs bubblewrap and root (the sandbox's cgroups)")]


@contextlib.contextmanager
def busy_host(per_core: int = BUSY_PER_CORE):
    """``per_core`` busy processes per core, each in a session of its own, for the duration of the block."""
    count = per_core * (os.cpu_count() or 1)
    processes = [subprocess.Popen(["sh", "-c", "while :; do :; done"], start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(count)]
    try:
        yield count
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait()


def correct_students(folder: Path, assignment: str, count: int) -> list[str]:
    names = [f"{assignment.split('_')[0]}_correct_{i}" for i in range(count)]
    for name in names:
        (folder / name).mkdir(parents=True)
        shutil.copy(ROOT / "solutions" / assignment / f"{assignment}.ipynb", folder / name)
    return names


def grade(folder: Path, output: Path, assignment: str) -> dict[str, dict]:
    args = ["grade", "--assignment", assignment, str(folder), "--output", str(output), "--workers", "2",
            "--no-progress"]
    done = subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, timeout=1800,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr[-4000:]
    rows = read_rows(output / "grades.csv")
    print_replay(args, output / "grades.csv", rows)
    return rows


def full_marks(row: dict) -> bool:
    """Every autograded point and the bonus (the hand-marked points wait for a person)."""
    return (row["status"] == "ok" and float(row["autograded"]) == float(row["max_score"]) - float(row["manual_pending"])
            and float(row["score"]) == float(row["autograded"]) + float(row["bonus"]))


@pytest.mark.parametrize(("assignment", "students"), [("ps1_likelihood", 3), ("ps4_gradients", 5)])
def test_correct_notebooks_keep_every_point_on_a_busy_host(tmp_path, assignment, students):
    names = correct_students(tmp_path / "subs", assignment, students)
    with busy_host() as busy:
        rows = grade(tmp_path / "subs", tmp_path / "out", assignment)
    lost = {name: rows[name]["message"] for name in names if not full_marks(rows[name])}
    assert not lost, f"correct notebooks lost points beside {busy} busy processes: {lost}"
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "timed out" not in summary, summary


HOG = """import os, subprocess, sys, time
# a hostile neighbour: dozens of busy processes, each in a process session of its own, then sleep through the cells
for _ in range(40):
    subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
time.sleep(20)
"""


def hostile_notebook(path: Path) -> None:
    notebook = json.loads((ROOT / "solutions" / "ps1_likelihood" / "ps1_likelihood.ipynb").read_text())
    notebook["cells"].insert(1, {"cell_type": "code", "execution_count": None, "id": "hog", "metadata": {},
                                 "outputs": [], "source": HOG})
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(notebook))


def test_a_hostile_neighbour_takes_no_point_and_is_named(tmp_path):
    """A submission that starts 40 busy processes in sessions of their own gets its one-core share, no more: its
    classmates on the other worker keep every point, and its own row names it (its cgroup's quota held it back)."""
    names = correct_students(tmp_path / "subs", "ps1_likelihood", 3)
    hostile_notebook(tmp_path / "subs" / "aaa_hog" / "ps1_likelihood.ipynb")  # graded first, beside the others
    rows = grade(tmp_path / "subs", tmp_path / "out", "ps1_likelihood")
    lost = {name: rows[name]["message"] for name in names if not full_marks(rows[name])}
    assert not lost, f"correct notebooks lost points beside a hostile neighbour: {lost}"
    assert "more CPU than its share" in rows["aaa_hog"]["message"], rows["aaa_hog"]
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "aaa_hog" in summary.split("## Submissions that need a look")[1], summary
