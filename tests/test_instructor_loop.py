"""The instructor's whole loop through the real CLI and the real nbgrader: a Canvas download is graded, a TA marks
the written answers through nbgrader's API (what formgrader calls), `export --canvas` fills the Canvas gradebook
export, a regrade keeps the TA's marks; grades.csv, canvas_import.csv and `nbgrader export` agree to the point."""

import csv
import io
import zipfile
from pathlib import Path

import pytest

from tests.grading_cli import EXERCISE, MAX_SCORE, SOLUTION, WRONG_SIGN, autograder, grade, read_rows, with_answer
from tests.test_grade_cli import nbgrader_export

pytestmark = pytest.mark.slow

CANVAS_EXPORT = """\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,ps2_autoencoders (4444),fx_kl (5555),Current Score
    Points Possible,,,,,10,7,(read only)
"Smith, Ann",1001,S1,ann,A,8,,80
"Jones, Bob",1002,S2,bob,A,-1,,70
"Wu, Carol",1003,S3,carol,B,,,0
"=Dave HYPERLINK(1)",1004,S4,dave,B,5,,50
"Eve, No Submission",1006,S6,eve,B,9,,90
"""


def canvas_zip(path: Path, bob_answer: str = "Jensen: KL >= 0 since -log is convex.") -> Path:
    bob = with_answer(WRONG_SIGN)
    bob = bob.replace("Jensen's inequality applied to -log gives KL >= 0, with equality iff q = p.", bob_answer)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("smithann_1001_501_fx_kl.ipynb", SOLUTION.read_text())
        zf.writestr("jonesbob_LATE_1002_502_fx_kl.ipynb", bob)
        zf.writestr("wucarol_1003_503_fx_kl.ipynb", EXERCISE.read_text())
        zf.writestr("davedave_1004_504_notes.txt", "no notebook")
        zf.writestr("franknotincanvas_1005_505_fx_kl.ipynb", SOLUTION.read_text())
    return path


def mark(out: Path, student: str, grade_id: str, score: float, comment: str | None = None) -> None:
    """What formgrader's "save" does (nbgrader/server_extensions/formgrader/apihandlers.py GradeHandler.put)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gradebook:
        grade = gradebook.find_grade(grade_id, "fx_kl", "fx_kl", student)
        grade.manual_score = score
        grade.needs_manual_grade = False
        if comment is not None:
            gradebook.find_comment(grade_id, "fx_kl", "fx_kl", student).manual_comment = comment
        gradebook.db.commit()


def grades(out: Path, student: str) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook("fx_kl", "fx_kl", student)
        return {g.name: (g.manual_score, g.needs_manual_grade) for g in notebook.grades}


def read_canvas(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("loop")
    _, rows = grade(canvas_zip(tmp / "canvas.zip"), tmp / "out", "--workers", 2)
    out = tmp / "out"
    before = read_rows(out / "grades.csv")
    mark(out, "1001", "derivation", 1.5, comment="Right idea; (c) skips a step.")
    mark(out, "1001", "task_units", 1.0)
    mark(out, "1002", "derivation", 2.0)
    mark(out, "1002", "task_units", 0.5)
    (tmp / "canvas.csv").write_text(CANVAS_EXPORT, encoding="utf-8")
    exported = autograder("export", "--assignment", "fx_kl", "--output", out, "--canvas", tmp / "canvas.csv")
    assert exported.returncode == 0, exported.stdout + exported.stderr
    return tmp, out, before, exported


def test_grades_keep_canvas_ids_and_names(loop):
    _, _, before, _ = loop
    assert {s: (r["name"], r["late"], r["status"]) for s, r in before.items()} == {
        "1001": ("smithann", "no", "ok"), "1002": ("jonesbob", "yes", "ok"), "1003": ("wucarol", "no", "ok"),
        "1004": ("davedave", "no", "missing"), "1005": ("franknotincanvas", "no", "ok")}
    assert before["1001"]["score"] == "5" and "3 points await manual grading" in before["1001"]["message"]


def test_export_adds_the_hand_marked_points(loop):
    _, out, _, exported = loop
    rows = read_rows(out / "grades.csv")
    table = {s: (r["score"], r["max_score"], r["autograded"], r["bonus"], r["manual"], r["manual_pending"])
             for s, r in rows.items()}
    assert table == {"1001": ("7.5", "7", "4", "1", "2.5", "0"),  # 4 + 1 bonus + 1.5 + 1
                     "1002": ("3.5", "7", "0", "1", "2.5", "0"),  # the bonus + 2 + 0.5
                     "1003": ("0", "7", "0", "0", "0", "1"),  # blank: the task still waits
                     "1004": ("0", "7", "0", "0", "0", "0"),  # nothing handed in
                     "1005": ("5", "7", "4", "1", "0", "3")}
    assert "graded by hand: 2.5 of 3 points" in rows["1001"]["message"]
    assert "await manual grading" not in rows["1001"]["message"]
    assert all(float(r["score"]) <= float(r["max_score"]) + float(r["bonus"]) for r in rows.values())
    assert "2 submission(s) still wait for manual grading (4 points)" in exported.stdout
    feedback = (out / "feedback" / "1001.html").read_text()
    assert "Score: <b>7.5 / 7</b> (autograded 4 of 4; graded by hand 2.5 of 3; bonus 1 of 1)" in feedback
    assert "<td>derivation</td><td>1.5 / 2</td><td>Right idea; (c) skips a step.</td>" in feedback


def test_totals_equal_nbgrader_export(loop):
    _, out, _, _ = loop
    rows = read_rows(out / "grades.csv")
    theirs = nbgrader_export(out)
    assert {s: (r["score"], r["max_score"]) for s, r in theirs.items()} == \
        {s: (float(r["score"]), float(r["max_score"])) for s, r in rows.items()}
    assert {r["max_score"] for r in theirs.values()} == {float(MAX_SCORE)}


def test_canvas_import_fills_the_column_and_lists_the_unmatched(loop):
    tmp, out, _, exported = loop
    original = read_canvas(tmp / "canvas.csv")
    written = read_canvas(out / "canvas_import.csv")
    assert written[0] == original[0] and written[1] == original[1]  # header and Points Possible untouched
    column = original[0].index("fx_kl (5555)")
    assert {line[1]: line[column] for line in written[2:]} == {"1001": "7.5", "1002": "3.5", "1003": "0",
                                                               "1004": "0", "1006": ""}
    others = [i for i in range(len(original[0])) if i not in (0, column)]
    assert [[line[i] for i in others] for line in written] == [[line[i] for i in others] for line in original]
    assert written[5][0] == "'=Dave HYPERLINK(1)"  # a name that a spreadsheet would run as a formula
    assert (out / "canvas_import.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # Canvas's BOM kept
    assert "column 'fx_kl (5555)' filled for 4 student(s)" in exported.stdout
    assert "Eve, No Submission (ID 1006)" in exported.stdout  # a student without a submission
    assert "1 graded submission(s) match no student ID of the Canvas file:\n  1005" in exported.stdout
    assert "warning" not in exported.stdout  # Points Possible equals max_score
    # a 0 for handing in nothing is named, and so is a score above Points Possible (the bonus)
    assert "1 student(s) handed in no notebook and got 0 in the file:\n  =Dave HYPERLINK(1) (ID 1004)" in \
        exported.stdout
    assert "1 student(s) scored above the column's Points Possible (7)" in exported.stdout
    assert "Smith, Ann (ID 1001): 7.5" in exported.stdout


def test_export_gives_formgrader_the_canvas_names(loop):
    """formgrader shows "last, first": the Canvas file's names replace the file-name names ("smithann")."""
    _, out, _, exported = loop
    from nbgrader.api import Gradebook

    assert "formgrader now shows the Canvas names of 4 student(s)" in exported.stdout
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gradebook:
        names = {s.id: (s.last_name, s.first_name) for s in gradebook.students}
    assert names["1001"] == ("Smith", "Ann") and names["1002"] == ("Jones", "Bob")
    assert names["1005"] == ("franknotincanvas", "")  # not in the Canvas file: the file name's name, never None


def test_canvas_column_choice(loop):
    tmp, out, _, _ = loop
    ambiguous = tmp / "ambiguous.csv"
    ambiguous.write_text(CANVAS_EXPORT.replace("Current Score", "fx_kl resubmission (5556)"), encoding="utf-8")
    result = autograder("export", "--assignment", "fx_kl", "--output", out, "--canvas", ambiguous)
    assert result.returncode == 2
    assert "several columns" in result.stderr and "fx_kl (5555)" in result.stderr
    assert "fx_kl resubmission (5556)" in result.stderr
    chosen = autograder("export", "--assignment", "fx_kl", "--output", out, "--canvas", ambiguous,
                        "--canvas-column", "fx_kl resubmission (5556)")
    assert chosen.returncode == 0, chosen.stderr
    lines = read_canvas(out / "canvas_import.csv")
    column = lines[0].index("fx_kl resubmission (5556)")
    assert lines[2][column] == "7.5" and lines[2][lines[0].index("fx_kl (5555)")] == ""
    assert "out of 0" not in chosen.stdout
    wrong = autograder("export", "--assignment", "fx_kl", "--output", out, "--canvas", ambiguous,
                       "--canvas-column", "nope")
    assert wrong.returncode == 2 and "not a column" in wrong.stderr


def test_regrade_keeps_the_hand_marks(loop):
    """--regrade grades everything again: a TA's marks stay, unflagged where the answer did not change; a student
    whose answer changed (a new download) has the mark kept but flagged for review."""
    tmp, out, _, _ = loop
    before = grades(out, "1001")
    _, rows = grade(tmp / "canvas.zip", out, "--workers", 2, "--regrade")
    assert grades(out, "1001") == before
    assert rows["1001"]["score"] == "7.5" and rows["1001"]["manual_pending"] == "0"
    assert rows["1002"]["score"] == "3.5"
    # Bob's written answer changes in a new download: graded again (without --regrade), his mark flagged for review
    changed = canvas_zip(tmp / "canvas2.zip", bob_answer="A different derivation.")
    process, rows = grade(changed, out, "--workers", 2)
    assert "graded again because the submitted file changed: 1002" in process.stderr
    assert "4 of 5 submission(s) were already graded" in process.stderr
    assert grades(out, "1002")["derivation"] == (2.0, True) and grades(out, "1002")["task_units"] == (0.5, True)
    assert grades(out, "1001") == before
    assert rows["1002"]["manual_pending"] == "3" and rows["1002"]["score"] == "3.5"


def test_export_refuses_points_no_cell_can_hold(loop, tmp_path):
    """Red team, round 2: 1000, -50 and infinite hand marks on a 2-point cell reached grades.csv and Canvas. export
    now lists them and writes nothing until they are fixed."""
    import shutil

    _, out, _, _ = loop
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    before = (copy / "grades.csv").read_text()
    mark(copy, "1001", "derivation", 1000.0)
    mark(copy, "1002", "derivation", float("inf"))
    mark(copy, "1003", "task_units", -50.0)
    refused = autograder("export", "--assignment", "fx_kl", "--output", copy)
    assert refused.returncode != 0
    said = refused.stdout + refused.stderr
    assert "1001 / derivation: 1000.0" in said and "1002 / derivation: inf" in said and "1003 / task_units" in said
    assert (copy / "grades.csv").read_text() == before
    mark(copy, "1001", "derivation", 2.0)
    mark(copy, "1002", "derivation", 0.0)
    mark(copy, "1003", "task_units", 0.0)
    assert autograder("export", "--assignment", "fx_kl", "--output", copy).returncode == 0


def test_export_keeps_the_class_report_current(loop, tmp_path):
    """issue 20: Bob's KL with the wrong sign is named in grades.csv, first on his feedback page (its text, the
    section's link) and in summary.md's 'What to re-teach' with misconceptions.png; when he hands in a fixed
    notebook and it is graded again, export writes the class report as the journal now stands."""
    import shutil

    from autograder.judging.misconceptions import CATALOGUE
    from autograder.judging.sections import book_url

    _, out, _, _ = loop
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    rows = read_rows(copy / "grades.csv")
    assert {s: r["misconceptions"] for s, r in rows.items()} == {"1001": "", "1002": "kl_wrong_sign", "1003": "",
                                                                 "1004": "", "1005": ""}
    entry = CATALOGUE["kl_wrong_sign"]
    feedback = (copy / "feedback" / "1002.html").read_text()
    assert feedback.index("What probably went wrong") < feedback.index(entry.text) < feedback.index("Autograded tests")
    assert entry.reading.url(book_url(None)) in feedback
    summary = (copy / "summary.md").read_text()
    assert "| ` gaussian_kl ` | ` kl_wrong_sign ` | 1 |" in summary
    assert "| ` gaussian_kl ` | none named | 1 |" in summary  # the blank notebook (1003)
    figure = (copy / "misconceptions.png").read_bytes()
    fixed = tmp_path / "fixed.zip"
    with zipfile.ZipFile(canvas_zip(tmp_path / "canvas.zip")) as original, zipfile.ZipFile(fixed, "w") as updated:
        for name in original.namelist():
            text = original.read(name).decode()
            updated.writestr(name, text.replace("-0.5 *", "0.5 *") if name.startswith("jonesbob") else text)
    grade(fixed, copy, "--workers", 2)
    (copy / "summary.md").write_text(summary)  # what the class report said before (a stale copy)
    (copy / "misconceptions.png").write_bytes(figure)
    exported = autograder("export", "--assignment", "fx_kl", "--output", copy)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    assert read_rows(copy / "grades.csv")["1002"]["misconceptions"] == ""
    now = (copy / "summary.md").read_text()
    assert "kl_wrong_sign" not in now and "| ` gaussian_kl ` | none named | 1 |" in now
    assert (copy / "misconceptions.png").read_bytes() != figure
    assert "What probably went wrong" not in (copy / "feedback" / "1002.html").read_text()
