"""Each real assignment through the real grading command: the solution scores full marks (bonus included), the
released exercise scores 0."""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_IDS = sorted(p.name for p in (ROOT / "solutions").glob("*") if (p / f"{p.name}.ipynb").is_file())


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id", REAL_IDS or [pytest.param("(none)", marks=pytest.mark.skip("no "
                                                                                                     "assignments"))])
def test_solution_full_marks_and_exercise_zero(tmp_path, assignment_id):
    for student, folder in [("solution", "solutions"), ("exercise", "exercises")]:
        (tmp_path / "subs" / student).mkdir(parents=True)
        shutil.copy(ROOT / folder / assignment_id / f"{assignment_id}.ipynb", tmp_path / "subs" / student)
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", "--assignment", assignment_id, "subs",
                             "--output", "out", "--workers", "2", "--no-progress"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-4000:]
    with open(tmp_path / "out" / "grades.csv") as handle:
        rows = {r["student_id"]: r for r in csv.DictReader(handle)}
    solution, exercise = rows["solution"], rows["exercise"]
    assert solution["status"] == "ok", solution
    tests = solution["message"].split(" test cells passed")[0].split(" of ")
    assert tests[0] == tests[1], solution["message"]
    assert float(solution["score"]) == float(solution["max_score"]) + float(solution["bonus"]) > 0, solution
    assert exercise["status"] == "ok" and float(exercise["score"]) == 0, exercise
