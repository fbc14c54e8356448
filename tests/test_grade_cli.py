"""End to end: the real `python -m autograder grade|check` on the fixture assignment, in a temporary directory.

Batch-grading tests are marked slow. Each grading run prints its master seeds and the command that replays it.
"""

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.grading_cli import (
    AUTOGRADED,
    BONUS,
    CORRECT,
    COURSE,
    EXERCISE,
    MAX_SCORE,
    SOLUTION,
    WRONG_SIGN,
    autograder,
    grade,
    put,
    read_rows,
    with_answer,
)

FULL = AUTOGRADED + BONUS  # the autograded points of a perfect submission


def make_batch(folder: Path) -> None:
    put(folder, "solution", SOLUTION.read_text())
    put(folder, "exercise", EXERCISE.read_text())
    put(folder, "empty", "")
    put(folder, "badjson", '{"cells": [')
    put(folder, "notanotebook", '{"hello": "world"}')
    put(folder, "renamed", SOLUTION.read_text(), name="my work (1).ipynb")
    (folder / "nothing").mkdir()
    (folder / "nothing" / "notes.txt").write_text("forgot to upload")
    put(folder, "infiniteloop", with_answer("while True:\n    pass\n"))
    put(folder, "crash", with_answer("import os\nos._exit(3)\n"))
    put(folder, "noisy", with_answer(
        "import sys, warnings\nprint('debug', file=sys.stderr)\nwarnings.warn('careful')\n"
        "print('x' * 100_000_000)\n" + CORRECT.replace("    return", "    warnings.warn('inside'); "
                                                       "print('err', file=sys.stderr)\n    return")))
    put(folder, "wrongsign", with_answer(WRONG_SIGN))
    nb = json.loads(SOLUTION.read_text())  # duplicated grade ids and stripped ids
    nb["cells"].append(dict(nb["cells"][3]))
    nb["cells"][1]["metadata"] = {}
    put(folder, "duplicated", json.dumps(nb))
    nb = json.loads(SOLUTION.read_text())  # every cell within its CPU limit, the notebook over its CPU budget
    burn = "import time\nend = time.process_time() + 2.5\nwhile time.process_time() < end:\n    pass"
    nb["cells"] += [{"cell_type": "code", "metadata": {}, "source": burn, "outputs": [],
                     "execution_count": None} for _ in range(8)]
    put(folder, "slow", json.dumps(nb))
    put(folder, "forker", with_answer("import os, time\nif os.fork() == 0:\n    time.sleep(10**6)\n" + CORRECT))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grade")
    make_batch(tmp / "submissions")
    result, rows = grade("submissions", "out", "--workers", 2, "--cell-timeout", 3, "--notebook-timeout", 15,
                         cwd=tmp)
    return tmp / "out", rows, result



@pytest.mark.slow
def test_every_submission_has_a_row_with_the_contract_columns(graded):
    out, rows, result = graded
    assert len(rows) == 14
    columns = list(next(iter(rows.values())))
    assert columns[:6] == ["student_id", "assignment", "score", "max_score", "status", "message"]
    assert columns[6:] == ["bonus", "manual_pending", "late", "seconds", "notebook", "seed", "autograded", "manual",
                           "name", "misconceptions"]
    assert {r["status"] for r in rows.values()} <= {"ok", "timeout", "error", "invalid", "missing"}
    assert all(r["max_score"] == str(MAX_SCORE) for r in rows.values())  # bonus excluded, hand-marked included
    for step in ("loading the grader", "finding the submissions", "starting 2 grading worker(s)",
                 "preparing the assignment", "writing grades.csv"):
        assert step in result.stderr, (step, result.stderr[-3000:])


@pytest.mark.slow
def test_solution_full_marks_exercise_zero(graded):
    _, rows, _ = graded
    solution, exercise = rows["solution"], rows["exercise"]
    assert float(solution["score"]) == FULL and solution["status"] == "ok"
    assert (solution["autograded"], solution["bonus"], solution["manual"]) == ("4", "1", "0")
    assert solution["manual_pending"] == "3" and "3 points await manual grading" in solution["message"]
    # the blank exercise: its written answer is the released text (0 points, nothing to mark), the task still waits
    assert float(exercise["score"]) == 0 and exercise["manual_pending"] == "1"
    assert solution["seed"].isdigit()


@pytest.mark.slow
def test_broken_submissions_get_zero_with_a_reason(graded):
    _, rows, _ = graded
    expect = {"empty": ("invalid", "empty"), "badjson": ("invalid", "not valid JSON"),
              "notanotebook": ("invalid", "not a Jupyter notebook"), "nothing": ("missing", "no notebook")}
    for student, (status, reason) in expect.items():
        assert rows[student]["status"] == status, rows[student]
        assert float(rows[student]["score"]) == 0 and reason in rows[student]["message"], rows[student]
    crash = rows["crash"]  # the answer cell kills the process; the cells after it run again in a fresh process
    assert crash["status"] == "error" and "exit code 3" in crash["message"], crash
    assert "the cell starting 'import os'" in crash["message"] and "fresh process" in crash["message"], crash
    assert float(crash["score"]) == 1, crash  # the bonus cell still ran
    loop = rows["infiniteloop"]  # the answer cell is interrupted; later cells still run (the bonus passes)
    assert loop["status"] == "ok" and float(loop["score"]) == 1 and "time limit" in loop["message"]
    assert float(rows["wrongsign"]["score"]) == 1  # only the bonus
    forker = rows["forker"]  # a process left holding the result pipe neither blocks nor outlives the grading
    assert forker["status"] == "ok" and float(forker["score"]) == FULL and float(forker["seconds"]) < 10
    slow = rows["slow"]  # killed at the notebook budget; the tests that ran before still count
    assert slow["status"] == "timeout" and float(slow["score"]) == FULL and "budget" in slow["message"]


@pytest.mark.slow
def test_renamed_and_duplicated_notebooks_are_graded_with_a_note(graded):
    _, rows, _ = graded
    assert float(rows["renamed"]["score"]) == FULL and "my work (1).ipynb" in rows["renamed"]["message"]
    assert float(rows["duplicated"]["score"]) == FULL and "more than once" in rows["duplicated"]["message"]


@pytest.mark.slow
def test_stderr_warnings_and_huge_output_cost_nothing(graded):
    out, rows, _ = graded
    assert float(rows["noisy"]["score"]) == FULL and rows["noisy"]["status"] == "ok"
    assert (out / "feedback" / "noisy.html").stat().st_size < 100_000


@pytest.mark.slow
def test_feedback_score_line_links_and_sections(graded):
    out, rows, _ = graded
    assert sorted(p.stem for p in (out / "feedback").glob("*.html")) == sorted(rows)
    for page in (out / "feedback").glob("*.html"):
        html = page.read_text()
        assert "BEGIN HIDDEN" not in html and "kind=" not in html and "check(" not in html
    solution = (out / "feedback" / "solution.html").read_text()
    assert (f"Score: <b>{FULL} / {MAX_SCORE}</b> (autograded 4 of 4; graded by hand 0 of 3 (3 points not graded "
            f"yet); bonus 1 of 1)") in solution
    assert "<td>derivation</td><td>not graded yet (out of 2)</td>" in solution
    assert "<td>task_units (task)</td><td>not graded yet (out of 1)</td>" in solution
    exercise = (out / "feedback" / "exercise.html").read_text()
    assert "<td>derivation</td><td>0 / 2: no answer given</td>" in exercise
    wrong = (out / "feedback" / "wrongsign.html").read_text()
    assert "failed" in wrong and "expected" in wrong
    # the "Read:" line links the section in the published book (derived from _config.yml's repository.url)
    assert ("Read: <a href='https://vae-course.github.io/vae-course-companion/book/ch4_variational_autoencoders.html"
            "#ch4-closed-form-kl'>Chapter 4 (Variational auto encoders), "
            "section &#x27;The KL term in closed form") in wrong
    invalid = (out / "feedback" / "badjson.html").read_text()  # the reason once, not once per test cell
    assert invalid.count("not valid JSON") == 1 and "could not be run" in invalid


@pytest.mark.slow
def test_gradebook_rows_and_totals_equal_nbgrader_export(graded):
    """gradebook.db against grades.csv, exactly; and nbgrader's own `export` reports the same totals."""
    from nbgrader.api import Gradebook

    out, rows, _ = graded
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gradebook:
        assert {s.id for s in gradebook.students} == set(rows)
        notebook = gradebook.find_submission_notebook("fx_kl", "fx_kl", "solution")
        grades = {g.name: (g.auto_score, g.extra_credit, g.needs_manual_grade) for g in notebook.grades}
        assert grades["test_gaussian_kl"] == (3.0, None, False) and grades["derivation"] == (None, None, True)
        assert grades["test_kl_bonus"] == (0.0, 1.0, False)  # bonus: extra credit on a cell worth 0
        assert grades["task_units"][0] is None and grades["task_units"][2]
        empty = gradebook.find_submission_notebook("fx_kl", "fx_kl", "exercise")
        assert {g.name: g.auto_score for g in empty.grades}["derivation"] == 0.0
        for student, row in rows.items():
            submission = gradebook.find_submission("fx_kl", student)
            assert (submission.score, submission.max_score) == (float(row["score"]), float(row["max_score"]))
    exported = nbgrader_export(out)
    assert {s: (r["score"], r["max_score"]) for s, r in exported.items()} == \
        {s: (float(r["score"]), float(r["max_score"])) for s, r in rows.items()}


def nbgrader_export(out: Path) -> dict[str, dict]:
    """`nbgrader export` run in the output folder (its config sends it to nbgrader_export.csv)."""
    bin_dir = str(Path(sys.executable).parent)
    import os

    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    done = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--log-level=WARN"], cwd=out, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = read_rows(out / "nbgrader_export.csv")
    return {s: {"score": float(r["score"]), "max_score": float(r["max_score"])} for s, r in rows.items()}


@pytest.mark.slow
def test_summary_counts_and_histogram(graded):
    out, rows, _ = graded
    summary = (out / "summary.md").read_text()
    assert "- submissions: 14 (error: 1, invalid: 3, missing: 1, ok: 8, timeout: 1)" in summary
    assert f"- max score: {MAX_SCORE} (autograded 4, graded by hand 3); bonus up to 1" in summary
    ran = sum(r["status"] in ("ok", "timeout", "error") for r in rows.values())
    passed = sum(float(r["autograded"]) == 4 for r in rows.values())
    assert f"| ` test_gaussian_kl ` | 3 | {passed} / {ran} |" in summary
    waiting = sum(float(r["manual_pending"]) > 0 for r in rows.values())
    assert f"- waiting for manual grading: {waiting} submission(s)" in summary
    answered = sum(1 for r in rows.values() if r["status"] not in ("invalid", "missing")) - 1  # all but exercise
    assert f"| ` derivation ` | 2 | {answered} | 0 | {answered} |" in summary
    needing = [s for s, r in rows.items() if r["status"] != "ok"]
    assert all(f"| ` {s} ` |" in summary for s in needing)
    # a cell that hit its time limit puts the row under "need a look" whatever its status (issue 19, item 9),
    # with the CPU time it used
    look = summary.split("## Submissions that need a look")[1]
    assert rows["infiniteloop"]["status"] == "ok" and "| ` infiniteloop ` |" in look
    assert "timed out (CPU time limit; " in look.split("| ` infiniteloop ` |")[1].split("\n")[0]
    assert (out / "histogram.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / "worker.log").exists() or (out / "worker.log").stat().st_size > 0


@pytest.mark.slow
def test_course_tree_for_formgrader(graded):
    """submitted/ and autograded/ in nbgrader's layout, with timestamps equal to the gradebook's."""
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc

    out, rows, _ = graded
    assert (out / "source/fx_kl/fx_kl.ipynb").is_file() and (out / "release/fx_kl/fx_kl.ipynb").is_file()
    assert "CourseDirectory.root" in (out / "nbgrader_config.py").read_text()
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gradebook:
        for student in ("solution", "wrongsign", "renamed"):
            stamp = (out / "submitted" / student / "fx_kl" / "timestamp.txt").read_text()
            assert parse_utc(stamp) == gradebook.find_submission("fx_kl", student).timestamp
            assert (out / "autograded" / student / "fx_kl" / "fx_kl.ipynb").is_file()
    assert not (out / "submitted" / "nothing").exists()  # nothing handed in
    assert (out / "submitted" / "badjson" / "fx_kl" / "fx_kl.ipynb").read_text() == '{"cells": ['
    assert not (out / "autograded" / "badjson").exists()
    import nbformat

    notebook = nbformat.read(out / "autograded/wrongsign/fx_kl/fx_kl.ipynb", as_version=4)
    nbformat.validate(notebook)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in notebook.cells}
    assert "FAILED (0 / 3 points)" in cells["test_gaussian_kl"].outputs[0]["text"]
    assert "Jensen" in cells["derivation"].source


@pytest.mark.slow
def test_seeds_from_replays_a_grading_exactly(graded, tmp_path):
    """--seeds-from: the hidden cases are drawn from the same seeds, so every verdict (numbers included) repeats;
    without it new seeds give other hidden cases (so this test can tell)."""
    out, rows, _ = graded
    subs = tmp_path / "subs"
    put(subs, "wrongsign", with_answer(WRONG_SIGN))
    replay, replayed = grade(subs, tmp_path / "replay", "--workers", 1, "--seeds-from", out / "grades.csv")
    fresh, fresh_rows = grade(subs, tmp_path / "fresh", "--workers", 1)
    assert replayed["wrongsign"]["seed"] == rows["wrongsign"]["seed"]
    assert fresh_rows["wrongsign"]["seed"] != rows["wrongsign"]["seed"]

    def hidden_verdicts(folder: Path) -> list[str]:
        lines = [json.loads(line) for line in (folder / "grading-journal.jsonl").read_text().splitlines()]
        result = [e["result"] for e in lines if e["type"] == "result" and e["result"]["student_id"] == "wrongsign"][-1]
        return [m for c in result["cells"] for m in c["messages"] if "hidden" in m]

    original = hidden_verdicts(out)
    assert original and hidden_verdicts(tmp_path / "replay") == original
    assert hidden_verdicts(tmp_path / "fresh") != original


@pytest.mark.slow
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
    _, rows = grade(archive, tmp_path / "out-zip", "--workers", 2)
    assert {s: (float(r["score"]), r["late"]) for s, r in rows.items()} == {"ann": (FULL, "no"), "bob": (0, "no")}
    _, rows = grade(canvas, tmp_path / "out-canvas", "--workers", 2)
    assert {s: (float(r["score"]), r["late"], r["name"]) for s, r in rows.items()} == \
        {"1001": (FULL, "yes", "annsmith"), "1002": (0, "no", "bobjones")}


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


@pytest.mark.parametrize("args, message", [
    (["export", "--assignment", "fx_kl", "--output", "nowhere"], "does not exist"),
    (["export", "--assignment", "fx_kl", "--output", "."], "has no grading-journal.jsonl"),
])
def test_bad_export_command_lines(tmp_path, args, message):
    result = autograder(*args, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr
