"""End to end: the real `python -m autograder grade|check` on the fixture assignment, in a temporary directory."""

import csv
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "tests" / "fixtures" / "course"
SOLUTION = COURSE / "solutions/fx_kl/fx_kl.ipynb"
EXERCISE = COURSE / "exercises/fx_kl/fx_kl.ipynb"
FULL = 4 + 1  # max_score plus the bonus cell


def autograder(*args, cwd=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def with_answer(code: str, grade_id: str = "gaussian_kl_answer") -> str:
    nb = json.loads(SOLUTION.read_text())
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            cell["source"] = code
    return json.dumps(nb)


CORRECT = "def gaussian_kl(mu, log_var):\n    return 0.5 * (mu**2 + log_var.exp() - 1.0 - log_var).sum(-1)\n"


def make_batch(folder: Path) -> None:
    def put(student, text, name="fx_kl.ipynb"):
        (folder / student).mkdir(parents=True, exist_ok=True)
        (folder / student / name).write_text(text)

    put("solution", SOLUTION.read_text())
    put("exercise", EXERCISE.read_text())
    put("empty", "")
    put("badjson", '{"cells": [')
    put("notanotebook", '{"hello": "world"}')
    put("renamed", SOLUTION.read_text(), name="my work (1).ipynb")
    (folder / "nothing").mkdir()
    (folder / "nothing" / "notes.txt").write_text("forgot to upload")
    put("infiniteloop", with_answer("while True:\n    pass\n"))
    put("crash", with_answer("import os\nos._exit(3)\n"))
    put("noisy", with_answer(
        "import sys, warnings\nprint('debug', file=sys.stderr)\nwarnings.warn('careful')\n"
        "print('x' * 100_000_000)\n" + CORRECT.replace("    return", "    warnings.warn('inside'); "
                                                       "print('err', file=sys.stderr)\n    return")))
    put("wrongsign", with_answer(CORRECT.replace("0.5 *", "-0.5 *")))
    nb = json.loads(SOLUTION.read_text())  # duplicated grade ids and stripped ids
    nb["cells"].append(dict(nb["cells"][3]))
    nb["cells"][1]["metadata"] = {}
    put("duplicated", json.dumps(nb))
    nb = json.loads(SOLUTION.read_text())  # every cell within its limit, the notebook over its budget
    nb["cells"] += [{"cell_type": "code", "metadata": {}, "source": "import time\ntime.sleep(2.5)", "outputs": [],
                     "execution_count": None} for _ in range(8)]
    put("slow", json.dumps(nb))
    put("forker", with_answer("import os, time\nif os.fork() == 0:\n    time.sleep(10**6)\n" + CORRECT))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grade")
    make_batch(tmp / "submissions")
    result = autograder("grade", "--assignment", "fx_kl", "submissions", "--output", "out", "--workers", 2,
                        "--course-root", COURSE, "--cell-timeout", 3, "--notebook-timeout", 15, cwd=tmp)
    assert result.returncode == 0, result.stderr[-4000:]
    with open(tmp / "out" / "grades.csv") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    return tmp / "out", rows, result


def test_every_submission_has_a_row_with_the_contract_columns(graded):
    out, rows, result = graded
    assert len(rows) == 14
    columns = list(next(iter(rows.values())))
    assert columns[:6] == ["student_id", "assignment", "score", "max_score", "status", "message"]
    assert {r["status"] for r in rows.values()} <= {"ok", "timeout", "error", "invalid", "missing"}
    assert all(r["max_score"] == "4" for r in rows.values())
    assert "grading fx_kl" in result.stderr  # the progress bar


def test_solution_full_marks_exercise_zero(graded):
    _, rows, _ = graded
    assert float(rows["solution"]["score"]) == FULL and rows["solution"]["status"] == "ok"
    assert rows["solution"]["bonus"] == "1" and rows["solution"]["manual_pending"] == "2"
    assert float(rows["exercise"]["score"]) == 0 and rows["exercise"]["manual_pending"] == "0"
    assert rows["solution"]["seed"].isdigit()


def test_broken_submissions_get_zero_with_a_reason(graded):
    _, rows, _ = graded
    expect = {"empty": ("invalid", "empty"), "badjson": ("invalid", "not valid JSON"),
              "notanotebook": ("invalid", "not a Jupyter notebook"), "nothing": ("missing", "no notebook")}
    for student, (status, reason) in expect.items():
        assert rows[student]["status"] == status, rows[student]
        assert float(rows[student]["score"]) == 0 and reason in rows[student]["message"], rows[student]
    crash = rows["crash"]  # the answer cell kills the process; the cells after it run again in a fresh process
    assert crash["status"] == "error" and "exit code 3" in crash["message"], crash
    assert "fresh process" in crash["message"] and float(crash["score"]) == 1, crash  # the bonus cell still ran
    loop = rows["infiniteloop"]  # the answer cell is interrupted; later cells still run (the bonus passes)
    assert loop["status"] == "ok" and float(loop["score"]) == 1 and "time limit" in loop["message"]
    assert float(rows["wrongsign"]["score"]) == 1  # only the bonus
    forker = rows["forker"]  # a process left holding the result pipe neither blocks nor outlives the grading
    assert forker["status"] == "ok" and float(forker["score"]) == FULL and float(forker["seconds"]) < 10
    slow = rows["slow"]  # killed at the notebook budget; the tests that ran before still count
    assert slow["status"] == "timeout" and float(slow["score"]) == FULL and "budget" in slow["message"]


def test_renamed_and_duplicated_notebooks_are_graded_with_a_note(graded):
    _, rows, _ = graded
    assert float(rows["renamed"]["score"]) == FULL and "my work (1).ipynb" in rows["renamed"]["message"]
    assert float(rows["duplicated"]["score"]) == FULL and "more than once" in rows["duplicated"]["message"]


def test_stderr_warnings_and_huge_output_cost_nothing(graded):
    out, rows, _ = graded
    assert float(rows["noisy"]["score"]) == FULL and rows["noisy"]["status"] == "ok"
    assert (out / "feedback" / "noisy.html").stat().st_size < 100_000


def test_feedback_is_escaped_and_never_shows_test_code(graded):
    out, rows, _ = graded
    assert sorted(p.stem for p in (out / "feedback").glob("*.html")) == sorted(rows)
    for page in (out / "feedback").glob("*.html"):
        html = page.read_text()
        assert "BEGIN HIDDEN" not in html and "kind=" not in html and "check(" not in html
    wrong = (out / "feedback" / "wrongsign.html").read_text()
    assert "failed" in wrong and "Read: " in wrong and "expected" in wrong


def test_gradebook_rows(graded):
    from nbgrader.api import Gradebook

    out, rows, _ = graded
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gradebook:
        assert {s.id for s in gradebook.students} == set(rows)
        notebook = gradebook.find_submission_notebook("fx_kl", "fx_kl", "solution")
        scores = {g.name: (g.auto_score, g.needs_manual_grade) for g in notebook.grades}
        assert scores["test_gaussian_kl"] == (3.0, False) and scores["derivation"] == (None, True)
        empty = gradebook.find_submission_notebook("fx_kl", "fx_kl", "exercise")
        assert {g.name: g.auto_score for g in empty.grades}["derivation"] == 0.0
        assert gradebook.find_submission("fx_kl", "badjson").score == 0


def test_summary_and_histogram(graded):
    out, _, _ = graded
    assert "| test_gaussian_kl | 3 |" in (out / "summary.md").read_text()
    assert (out / "histogram.png").read_bytes()[:4] == b"\x89PNG"


def test_zip_and_canvas_zip_inputs(tmp_path):
    wrapped = tmp_path / "zip" / "class-submissions"
    for student, source in [("ann", SOLUTION), ("bob", EXERCISE)]:
        (wrapped / student).mkdir(parents=True)
        shutil.copy(source, wrapped / student / "fx_kl.ipynb")
    archive = shutil.make_archive(str(tmp_path / "class"), "zip", tmp_path / "zip")
    canvas = tmp_path / "canvas.zip"
    with zipfile.ZipFile(canvas, "w") as zf:
        zf.writestr("annsmith_1001_501_fx_kl.ipynb", EXERCISE.read_text())
        zf.writestr("annsmith_LATE_1001_777_fx_kl-1.ipynb", SOLUTION.read_text())  # newest wins
        zf.writestr("bobjones_1002_502_fx_kl.ipynb", EXERCISE.read_text())
    for source, expected in [(archive, {"ann": (FULL, "no"), "bob": (0, "no")}),
                             (canvas, {"1001": (FULL, "yes"), "1002": (0, "no")})]:
        out = tmp_path / "out"  # the second run grades into the first run's gradebook
        result = autograder("grade", "--assignment", "fx_kl", source, "--output", out, "--course-root", COURSE,
                            "--workers", 2, "--no-progress")
        assert result.returncode == 0, result.stderr[-3000:]
        with open(out / "grades.csv") as handle:
            rows = {r["student_id"]: (float(r["score"]), r["late"]) for r in csv.DictReader(handle)}
        assert rows == expected
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{tmp_path / 'out' / 'gradebook.db'}") as gradebook:
        assert {s.id for s in gradebook.students} == {"ann", "bob", "1001", "1002"}


@pytest.mark.parametrize("args, message", [
    (["grade", "--assignment", "nope", "."], "unknown assignment"),
    (["grade", "--assignment", "fx_kl", "does-not-exist"], "does not exist"),
    (["grade", "--assignment", "fx_kl", ".", "--workers", "0"], "at least 1"),
    (["release", "nope"], "unknown assignment"),
    (["check", "missing.ipynb"], "does not exist"),
])
def test_bad_command_lines_exit_non_zero(tmp_path, args, message):
    result = autograder(*args, "--course-root", COURSE, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr


def test_self_check(tmp_path):
    shutil.copy(SOLUTION, tmp_path / "fx_kl.ipynb")
    good = autograder("check", "fx_kl.ipynb", "--course-root", COURSE, cwd=tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "PASS  test_gaussian_kl" in good.stdout and "HIDDEN test_kl_bonus" in good.stdout
    (tmp_path / "fx_kl.ipynb").write_text(with_answer(CORRECT.replace("0.5 *", "-0.5 *")))
    bad = autograder("check", "fx_kl.ipynb", "--course-root", COURSE, cwd=tmp_path)
    assert bad.returncode == 1 and "FAIL  test_gaussian_kl" in bad.stdout and "Read: " in bad.stdout
