"""Shared by the tests that drive the real ``python -m autograder`` CLI on the fixture course.

Every grading run prints the master seed each submission was graded with and the command that replays it
(``--seeds-from`` reads the seeds from a grades.csv): pytest shows it when a test fails.
"""

from __future__ import annotations

import csv
import json
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "tests" / "fixtures" / "course"
SOLUTION = COURSE / "solutions/fx_kl/fx_kl.ipynb"
EXERCISE = COURSE / "exercises/fx_kl/fx_kl.ipynb"
CORRECT = "def gaussian_kl(mu, log_var):\n    return 0.5 * (mu**2 + log_var.exp() - 1.0 - log_var).sum(-1)\n"
WRONG_SIGN = CORRECT.replace("0.5 *", "-0.5 *")
# fx_kl: 4 autograded points (test_gaussian_kl 3 + test_gaussian_kl_visible 1), 2 for the written derivation and 1
# for the task (both graded by hand), and 1 bonus point (test_kl_bonus)
AUTOGRADED, MANUAL, BONUS = 4, 3, 1
MAX_SCORE = AUTOGRADED + MANUAL


def autograder(*args, cwd=None, env=None, timeout=1200) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def read_rows(path: Path) -> dict[str, dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def with_answer(code: str, grade_id: str = "gaussian_kl_answer", base: Path = SOLUTION) -> str:
    nb = json.loads(base.read_text())
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            cell["source"] = code
    return json.dumps(nb)


def put(folder: Path, student: str, text: str, name: str = "fx_kl.ipynb") -> None:
    (folder / student).mkdir(parents=True, exist_ok=True)
    (folder / student / name).write_text(text)


def grade(submissions: Path, output: Path, *extra, cwd=None, env=None, check=True) -> tuple:
    """Run ``grade`` on the fixture course; print the seeds and the replay command; return (process, rows)."""
    args = ["grade", "--assignment", "fx_kl", submissions, "--output", output, "--course-root", COURSE,
            "--no-progress", *extra]
    process = autograder(*args, cwd=cwd, env=env)
    if check:
        assert process.returncode == 0, process.stdout[-2000:] + process.stderr[-4000:]
    grades = Path(cwd or ".") / output / "grades.csv"
    rows = read_rows(grades) if grades.is_file() else {}
    print_replay(args, grades, rows)
    return process, rows


def print_replay(args: list, grades: Path, rows: dict) -> None:
    seeds = ", ".join(f"{student}={row['seed']}" for student, row in rows.items() if row.get("seed"))
    kept = [str(a) for a in args]
    if "--output" in kept:
        index = kept.index("--output")
        del kept[index:index + 2]
    command = " ".join(shlex.quote(a) for a in kept if a != "--regrade")
    print(f"graded with master seeds: {seeds or '(none)'}\n"
          f"replay: python -m autograder {command} --output NEW_FOLDER --seeds-from {grades}\n"
          f"(grades.csv keeps each submission's seed; pytest keeps the last runs' temporary folders)")
