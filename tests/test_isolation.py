"""Nothing one submission does reaches the next: a leaker and a searcher graded one after the other by the same
zygote (--workers 1). The leaker (tests/adversarial/channels/leaker.py) leaves a marker through every channel it
can think of: files in every writable folder, a read-only folder, HOME and caches, a module planted on sys.path,
the zygote's /tmp through /proc, the environment, System V shared memory, message queues and semaphores, POSIX
shared memory and message queues, keyrings, a daemon holding an abstract unix socket, a TCP port and a file lock,
a lowered rlimit, and 64 MB of its own memory. The searcher (channels/searcher.py) looks in all of them, its own
inherited memory included; its functions are right only if it finds nothing.

The control run grades the same pair WITHOUT the sandbox: there the searcher must find the leaker's file in /tmp
and its System V segment, which shows the searcher would see a leak.
"""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "tests" / "fixtures" / "course"
PAIR = ROOT / "tests" / "adversarial" / "isolation"
SANDBOX = shutil.which("bwrap") is not None
pytestmark = pytest.mark.slow


def grade_pair(tmp_path: Path, *extra: str) -> tuple[dict, Path]:
    shutil.copytree(PAIR, tmp_path / "subs")
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", "--assignment", "fx_kl", "subs",
                             "--output", "out", "--course-root", str(COURSE), "--workers", "1", "--cell-timeout",
                             "120", "--no-progress", *extra], cwd=tmp_path, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    with open(tmp_path / "out" / "grades.csv", newline="") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}, tmp_path / "out" / "feedback"


@pytest.mark.skipif(not SANDBOX, reason="bubblewrap is not installed")
def test_nothing_of_one_submission_reaches_the_next(tmp_path):
    rows, feedback = grade_pair(tmp_path)
    leaker_page = (feedback / "a_leaker.html").read_text()
    assert "LEFT: " in leaker_page, "the leaker did not run to its end"
    left = leaker_page.split("LEFT: ")[1].split("<")[0]
    for channel in ("file in /tmp", "SysV shared memory", "keyrings", "daemon", "POSIX shared memory"):
        assert channel in left, f"the leaker could not even use {channel!r} in its own domain: {left}"
    searcher_page = (feedback / "b_searcher.html").read_text()
    assert "LEAKED" not in searcher_page, searcher_page[searcher_page.find("LEAKED"):][:600]
    assert float(rows["b_searcher"]["score"]) == 5.0 and rows["b_searcher"]["status"] == "ok", rows["b_searcher"]


def test_control_without_the_sandbox_the_searcher_sees_the_leak(tmp_path):
    rows, feedback = grade_pair(tmp_path, "--no-sandbox")
    page = (feedback / "b_searcher.html").read_text()
    assert "LEAKED" in page, "the searcher found nothing even without the sandbox: it cannot see a leak"
    found = page.split("LEAKED: ")[1].split("<")[0]
    assert "a file in /tmp" in found and "SysV shared memory" in found, found
    assert float(rows["b_searcher"]["score"]) < 5.0
