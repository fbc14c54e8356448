"""Outputs that cannot be turned against the instructor, and bad archives that are one student's problem (issue 7),
through the real CLI with the committed hostile submissions of tests/adversarial/outputs and archives
(written by tests/adversarial/make_output_cases.py)."""

import csv
import os
import shutil

import pytest
from markdown_it import MarkdownIt

from autograder.submissions import folder_student_id
from autograder.text import from_csv
from tests.adversarial.make_output_cases import CASES, CSV_FOLDERS, MARKER
from tests.grading_cli import COURSE, ROOT, SOLUTION, autograder, grade
from tests.test_formgrader import LiveMarkup

pytestmark = pytest.mark.slow
HOSTILE = ROOT / "tests" / "adversarial"
BYTES_NAMES = {b"bad\xff\xfename": "fx_kl.ipynb", b"renamed": b"my\xffwork.ipynb"}  # not UTF-8: surrogates
# ids of folders whose names had to be cleaned carry a digest of the name (submissions.folder_student_id); in the
# CSV, behind an apostrophe where they start like a formula
BAD_NAME_ID = folder_student_id(os.fsdecode(b"bad\xff\xfename"))
PLUS_ID, AT_ID = ("'" + folder_student_id(name) for name in ("+SUM(1+1)", "@SUM(1)"))


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("outputs")
    shutil.copytree(HOSTILE / "outputs", tmp / "subs")
    shutil.copytree(COURSE / "solutions" / "fx_kl", tmp / "subs" / "control")
    for folder, name in BYTES_NAMES.items():
        target = os.path.join(os.fsencode(tmp / "subs"), folder)
        os.mkdir(target)
        shutil.copyfile(SOLUTION, os.path.join(target, name if isinstance(name, bytes) else name.encode()))
    process, rows = grade("subs", "out", "--workers", 2, cwd=tmp)
    return tmp / "out", rows, process


def test_every_hostile_submission_has_a_row_and_the_batch_completes(batch):
    out, rows, process = batch
    expected = set(CASES) | {"control", BAD_NAME_ID, "renamed", "'-cmd", PLUS_ID, AT_ID, "eqname"}
    assert len(CSV_FOLDERS) == 4 and set(rows) == expected  # CSV ids as written: behind an apostrophe
    assert float(rows["control"]["score"]) == 5
    for student in rows:  # every per-student output was written
        assert (out / "feedback" / f"{from_csv(student)}.html").is_file(), student
        assert "OUTPUTS NOT WRITTEN" not in rows[student]["message"], rows[student]


def test_lone_surrogates_never_stop_a_writer(batch):
    out, rows, _ = batch
    assert rows["surrogates"]["status"] == "ok" and float(rows["surrogates"]["score"]) == 5
    assert "mine\ufffdHOSTILE" in rows["surrogates"]["message"]  # the grade_id, cleaned where it entered
    assert rows["renamed"]["notebook"] == "my\ufffdwork.ipynb"  # a file name that is not UTF-8
    for path in [out / "grades.csv", out / "summary.md", *(out / "feedback").glob("*.html"),
                 *(out / "autograded").rglob("*.ipynb"), out / "grading-journal.jsonl"]:
        path.read_bytes().decode("utf-8")  # valid UTF-8 everywhere
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gradebook:
        assert gradebook.find_submission("fx_kl", "surrogates").score == 5


def test_csv_cells_never_start_a_formula(batch):
    out, rows, _ = batch
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        cells = [cell for line in csv.reader(handle) for cell in line]
    numbers = {c for c in cells if c.replace(".", "", 1).lstrip("-").isdigit()}
    dangerous = [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r")) and c not in numbers]
    assert not dangerous, dangerous
    assert {"'-cmd", PLUS_ID, AT_ID} <= set(rows)  # ids keep their text behind the apostrophe
    assert rows["eqname"]["notebook"] == "'=HYPERLINK(1).ipynb"


def test_summary_markdown_renders_student_text_as_text(batch):
    out, _, _ = batch
    html = MarkdownIt("gfm-like").render((out / "summary.md").read_text())
    assert MARKER in html  # the row is there...
    live = LiveMarkup()
    live.feed(html)
    assert not [s for s in live.scripts if MARKER in s]  # ...as text: no script, heading, link or forged cell
    assert not [a for a in live.attributes if a[1] == "href" and MARKER in a[2]]
    assert not [line for line in html.splitlines() if line.startswith("<h") and MARKER in line]
    rows = [line for line in html.split("<tr>") if "markdown_summary" in line]
    assert len(rows) == 1 and rows[0].count("<td>") == 4, rows  # student, status, why, message


def test_feedback_html_shows_markup_as_text(batch):
    out, _, _ = batch
    page = (out / "feedback" / "html_feedback.html").read_text()
    assert MARKER in page and "&lt;script&gt;alert(" in page
    live = LiveMarkup()
    live.feed(page)
    assert not [s for s in live.scripts if MARKER in s]
    assert not [a for a in live.attributes if a[1].startswith("on")]
    assert "img" not in live.tags


def test_bad_archive_members_are_their_students_problem(tmp_path):
    _, rows = grade(HOSTILE / "archives" / "canvas_bad_members.zip", tmp_path / "out", "--workers", 2)
    assert rows["2004"]["status"] == "ok" and float(rows["2004"]["score"]) == 5
    expect = {"2001": "could not be extracted (File name too long)",
              "2002": "data.bin: the file is 600 MB uncompressed; the limit per file is 512 MB",
              "2003": "fx_kl.ipynb: the file is damaged in the zip"}
    for student, reason in expect.items():
        row = rows[student]
        assert row["status"] == "invalid" and float(row["score"]) == 0, row
        assert "the upload could not be unpacked" in row["message"] and reason in row["message"], row


def test_only_the_batch_wide_cap_refuses_an_upload(tmp_path):
    result = autograder("grade", "--assignment", "fx_kl", HOSTILE / "archives" / "canvas_over_total.zip", "--output",
                        tmp_path / "out", "--course-root", COURSE)
    assert result.returncode == 2 and "the limit for one upload is 4 GB" in result.stderr, result.stderr
    assert not (tmp_path / "out" / "grades.csv").exists()
