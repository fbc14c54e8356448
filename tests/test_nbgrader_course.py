"""nbgrader's own course, exchange and formgrader around `grade`, through the real CLIs (nbgrader's and ours).

* A course runs nbgrader's exchange: `release_assignment`, each student's `fetch_assignment` and `submit`, the
  instructor's `collect`. `grade` is handed the course folder: it grades submitted/ (not source/ or release/ as
  students), takes the due date from the course's gradebook or --due-date, judges lateness from timestamp.txt and
  keeps each real submission time in the output's gradebook.
* Every formgrader button of an output folder, run as the nbgrader command it runs (and Autograde through the
  live formgrader), does the right thing or explains, and no graded notebook is ever lost.
"""

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.grading_cli import (
    CORRECT,
    COURSE,
    EXERCISE,
    SOLUTION,
    WRONG_SIGN,
    autograder,
    grade,
    put,
    read_rows,
    with_answer,
)
from tests.test_formgrader import Server
from tests.test_grade_cli import nbgrader_export

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def nbgrader(*args, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    done = subprocess.run([sys.executable, "-m", "nbgrader", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    if check:
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def gradebook_submissions(db: Path) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gradebook:
        assignment = gradebook.find_assignment("fx_kl")
        return {"duedate": assignment.duedate,
                **{s.student.id: (s.timestamp, s.student.last_name, s.student.first_name)
                   for s in assignment.submissions}}


# ------------------------------------------------------------------------------------------- the exchange
@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """An nbgrader course whose students submitted through nbgrader's exchange (each from the released notebook,
    as `fetch_assignment` gives it), collected by the instructor."""
    tmp = tmp_path_factory.mktemp("exchange")
    course, exchange = tmp / "course", tmp / "exchange"
    (course / "source").mkdir(parents=True)
    exchange.mkdir()
    shutil.copytree(COURSE / "solutions" / "fx_kl", course / "source" / "fx_kl")
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.course_id = 'vae'\nc.Exchange.root = {str(exchange)!r}\n"
        "c.ExchangeCollect.check_owner = False\n")
    nbgrader("db", "assignment", "add", "fx_kl", "--duedate=2100-01-01 00:00:00 UTC", cwd=course)
    nbgrader("generate_assignment", "fx_kl", cwd=course)
    nbgrader("release_assignment", "fx_kl", cwd=course)
    released = json.loads((course / "release" / "fx_kl" / "fx_kl.ipynb").read_text())
    for student, answer in {"ann": CORRECT, "bob": WRONG_SIGN}.items():
        home = tmp / student / "fx_kl"  # what `nbgrader fetch_assignment` gives the student
        home.mkdir(parents=True)
        for cell in released["cells"]:
            if cell["metadata"].get("nbgrader", {}).get("grade_id") == "gaussian_kl_answer":
                cell["source"] = answer
        (home / "fx_kl.ipynb").write_text(json.dumps(released))
        nbgrader("submit", "fx_kl", "--course=vae", f"--Exchange.root={exchange}", f"--student={student}",
                 cwd=home.parent)
    nbgrader("collect", "fx_kl", cwd=course)
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["ann", "bob"]
    return tmp, course


def test_the_course_folder_is_graded_from_submitted_with_the_real_submission_times(collected):
    tmp, course = collected
    process, rows = grade(course, tmp / "out", "--workers", 2)
    assert "is an nbgrader course folder: grading its submitted/ folder" in process.stderr
    assert "due date 2100-01-01 00:00:00 UTC (from " in process.stderr  # the course's gradebook
    assert sorted(rows) == ["ann", "bob"]  # not source, release, autograded as students
    assert (rows["ann"]["autograded"], rows["bob"]["autograded"]) == ("4", "0")
    assert rows["ann"]["late"] == rows["bob"]["late"] == "no"
    held = gradebook_submissions(tmp / "out" / "gradebook.db")
    assert str(held["duedate"]) == "2100-01-01 00:00:00"
    for student in ("ann", "bob"):
        stamp = (course / "submitted" / student / "fx_kl" / "timestamp.txt").read_text().strip()
        kept = (tmp / "out" / "submitted" / student / "fx_kl" / "timestamp.txt").read_text().strip()
        from nbgrader.utils import parse_utc

        assert held[student][0] == parse_utc(stamp) == parse_utc(kept)  # the submission time, not the grading time


def test_due_date_on_the_command_line_makes_late_submissions_late(collected):
    tmp, course = collected
    copy = tmp / "course-due"
    shutil.copytree(course, copy)
    (copy / "submitted" / "ann" / "fx_kl" / "timestamp.txt").write_text("2026-03-01 10:00:00.000000 UTC")
    (copy / "submitted" / "bob" / "fx_kl" / "timestamp.txt").write_text("2026-03-02 12:30:00.000000 UTC")
    process, rows = grade(copy, tmp / "out-due", "--workers", 2, "--due-date", "2026-03-01T23:59")
    assert "due date 2026-03-01 23:59:00 UTC (from --due-date)" in process.stderr
    assert (rows["ann"]["late"], rows["bob"]["late"]) == ("no", "yes")
    assert "12 h 31 min after the due date" in rows["bob"]["message"] and ".;" not in rows["bob"]["message"]
    assert "(submitted late)" in (tmp / "out-due" / "feedback" / "bob.html").read_text()
    assert str(gradebook_submissions(tmp / "out-due" / "gradebook.db")["duedate"]) == "2026-03-01 23:59:00"
    summary = (tmp / "out-due" / "summary.md").read_text()
    assert "- late: 1" in summary


def test_a_course_folder_with_nothing_collected_is_refused(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(COURSE / "solutions" / "fx_kl", course / "source" / "fx_kl")
    (course / "release" / "fx_kl").mkdir(parents=True)
    process, _ = grade(course, tmp_path / "out", check=False)
    assert process.returncode == 2 and "nbgrader collect" in process.stderr
    assert str(course / "submitted") in process.stderr and not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------- formgrader's buttons
@pytest.fixture(scope="module")
def graded_folder(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("buttons")
    put(tmp / "subs", "ann", SOLUTION.read_text())
    put(tmp / "subs", "bob", EXERCISE.read_text())
    put(tmp / "subs", "carol", with_answer(WRONG_SIGN))
    grade(tmp / "subs", tmp / "out", "--workers", 2)
    return tmp, tmp / "out"


def autograded(out: Path) -> dict[str, dict]:
    """student -> their graded notebook (what formgrader shows)."""
    import nbformat

    return {p.parts[-3]: nbformat.reads(p.read_text(), as_version=4)
            for p in sorted((out / "autograded").glob("*/fx_kl/fx_kl.ipynb"))}


def results_of(out: Path, student: str) -> int:
    lines = (out / "grading-journal.jsonl").read_text().splitlines()
    return sum(1 for line in lines if '"type":"result"' in line and f'"student_id":"{student}"' in line)


def assert_every_graded_notebook_is_there(out: Path) -> None:
    notebooks = autograded(out)
    assert sorted(notebooks) == ["ann", "bob", "carol"]
    assert all("[autograder] " in json.dumps(nb) for nb in notebooks.values()), "a graded notebook was replaced"


def test_formgrader_shows_no_exchange_banner_and_a_name_for_every_student(graded_folder):
    _, out = graded_folder
    server = Server(out)
    try:
        page = server.get("/formgrader/manage_assignments")
        assert "warning-exchange" not in page and "warning-course-id" not in page
        assignment = json.loads(server.get("/formgrader/api/assignment/fx_kl"))
        assert assignment["max_score"] == 7.0 and assignment["status"] == "draft"
        students = json.loads(server.get("/formgrader/api/submissions/fx_kl"))
        assert {(s["student"], s["last_name"], s["first_name"]) for s in students} == {
            ("ann", "ann", ""), ("bob", "bob", ""), ("carol", "carol", "")}  # never "None"
        # the Autograde button itself: the student is graded again by the course's grader
        before = results_of(out, "carol")
        status, text = server.request("/formgrader/api/submission/fx_kl/carol/autograde", "POST", {})
        assert status == 200 and json.loads(text)["success"], text
        assert results_of(out, "carol") == before + 1
        assert_every_graded_notebook_is_there(out)
        carol = json.loads(server.get("/formgrader/api/submission/fx_kl/carol"))
        assert carol["autograded"] and carol["score"] == 1.0  # the bonus cell: her KL's sign is wrong
        status, text = server.request("/formgrader/api/assignment/fx_kl/release_feedback", "POST", {})
        assert status == 200 and not json.loads(text)["success"] and "no nbgrader exchange" in text
    finally:
        server.close()


def test_each_button_as_its_nbgrader_command_loses_no_graded_notebook(graded_folder):
    tmp, out = graded_folder
    folder = tmp / "commands"
    shutil.copytree(out, folder)
    marks_before = read_rows(folder / "grades.csv")

    done = nbgrader("autograde", "fx_kl", "--student", "bob", "--force", cwd=folder)
    assert "Grading bob again" in done.stderr and results_of(folder, "bob") == results_of(out, "bob") + 1
    assert_every_graded_notebook_is_there(folder)

    nbgrader("generate_feedback", "fx_kl", "--force", cwd=folder)
    for student in ("ann", "bob", "carol"):
        page = (folder / "feedback" / student / "fx_kl" / "fx_kl.html").read_text()
        assert page == (folder / "feedback" / f"{student}.html").read_text()  # the grader's own page
        assert "BEGIN HIDDEN" not in page and "check(" not in page
    assert_every_graded_notebook_is_there(folder)

    nbgrader("generate_assignment", "fx_kl", "--force", cwd=folder)  # Generate
    exported = nbgrader_export(folder)
    assert {s: r["max_score"] for s, r in exported.items()} == {"ann": 7.0, "bob": 7.0, "carol": 7.0}
    assert exported["ann"]["score"] == float(marks_before["ann"]["score"])  # bonus still extra credit
    assert_every_graded_notebook_is_there(folder)

    for command, says in (("release_assignment", "python -m autograder release"), ("collect", "nbgrader collect"),
                          ("release_feedback", "feedback/<student>.html")):
        refused = nbgrader(command, "fx_kl", cwd=folder, check=False)
        assert refused.returncode != 0 and "no nbgrader exchange" in refused.stderr and says in refused.stderr
    assert_every_graded_notebook_is_there(folder)


def test_autograde_that_cannot_regrade_keeps_the_graded_notebook(graded_folder):
    """While a `grade` run holds the folder, Autograde cannot grade: nbgrader has already removed the notebook, so
    it is written again from the journal, and the log says so."""
    tmp, out = graded_folder
    folder = tmp / "locked"
    shutil.copytree(out, folder)
    before = autograded(folder)["ann"]
    with open(folder / "grading-journal.jsonl", "rb") as journal:
        fcntl.flock(journal, fcntl.LOCK_EX)
        done = nbgrader("autograde", "fx_kl", "--student", "ann", "--force", cwd=folder, check=False)
    assert "ann was NOT graded again" in done.stderr and "as they were" in done.stderr
    assert autograded(folder)["ann"] == before


def test_a_removed_graded_notebook_comes_back_with_export(graded_folder):
    tmp, out = graded_folder
    folder = tmp / "removed"
    shutil.copytree(out, folder)
    before = autograded(folder)["bob"]
    shutil.rmtree(folder / "autograded" / "bob")
    exported = autograder("export", "--assignment", "fx_kl", "--output", folder)
    assert exported.returncode == 0, exported.stderr
    assert "graded notebooks of bob again" in exported.stderr and autograded(folder)["bob"] == before


def test_summary_gives_the_whole_export_command(graded_folder):
    _, out = graded_folder
    summary = (out / "summary.md").read_text()
    assert f"python -m autograder export --assignment fx_kl --output {out.resolve()}" in summary
    assert "formgrader's Code Score" in summary
    assert not any(".;" in row["message"] for row in read_rows(out / "grades.csv").values())
