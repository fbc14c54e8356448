"""Without bubblewrap, `grade` refuses to run unless given --no-sandbox, and then says loudly what is unprotected."""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "tests" / "fixtures" / "course"
SOLUTION = COURSE / "solutions" / "fx_kl" / "fx_kl.ipynb"


def grade_without_bwrap_on_path(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    shutil.copy(SOLUTION, tmp_path / "subs" / "alice")
    empty_bin = tmp_path / "bin"  # a PATH on which neither bwrap nor setpriv can be found
    empty_bin.mkdir()
    return subprocess.run([sys.executable, "-m", "autograder", "grade", "--assignment", "fx_kl", "subs", "--output",
                           "out", "--workers", "1", "--course-root", str(COURSE), "--no-progress", *extra],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600, env={"PATH": str(empty_bin)})


@pytest.mark.slow
def test_grade_refuses_without_bubblewrap(tmp_path):
    result = grade_without_bwrap_on_path(tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "bubblewrap" in result.stderr and "--no-sandbox" in result.stderr
    assert not (tmp_path / "out" / "grades.csv").exists()


@pytest.mark.slow
def test_no_sandbox_grades_and_warns_what_is_unprotected(tmp_path):
    result = grade_without_bwrap_on_path(tmp_path, "--no-sandbox")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "WITHOUT a sandbox" in result.stderr and "network" in result.stderr and "gradebook" in result.stderr
    with open(tmp_path / "out" / "grades.csv") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["student_id"] == "alice" and row["status"] == "ok" and float(row["score"]) == 5
