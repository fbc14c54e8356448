"""nbgrader's own layout as grading input, without grading: an nbgrader course folder, its submitted/ filled as
``nbgrader collect`` fills it (submitted/<student>/<assignment>/<notebook>.ipynb with timestamp.txt), due dates;
and where feedback links point by default. The real `grade` on such a course is in test_nbgrader_course.py."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from autograder.course import UsageError
from autograder.exchange import nbgrader_time, parse_due_date, read_timestamp, submissions_of_course
from autograder.judging.sections import book_url, local_link_warning, published_book_url
from autograder.submissions import discover
from tests.grading_cli import EXERCISE, SOLUTION

DUE = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)


def hand_in(course: Path, student: str, assignment: str, stamp: str | None, text: str = "") -> Path:
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True)
    (folder / f"{assignment}.ipynb").write_text(text or SOLUTION.read_text())
    if stamp is not None:
        (folder / "timestamp.txt").write_text(stamp)
    return folder


@pytest.fixture
def course(tmp_path) -> Path:
    """An nbgrader course after `nbgrader collect` of fx_kl (and of another assignment)."""
    course = tmp_path / "course"
    (course / "source" / "fx_kl").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text("c = get_config()\n")
    hand_in(course, "ann", "fx_kl", "2026-03-01 10:00:00.000000 UTC")  # nbgrader's own form
    hand_in(course, "bob", "fx_kl", "2026-03-02 01:30:00 CET", EXERCISE.read_text())  # a zone: 00:30 UTC, late
    hand_in(course, "bob", "ps_other", "2026-02-01 10:00:00 UTC")  # his other assignment sits beside it
    hand_in(course, "carol", "ps_other", "2026-02-01 10:00:00 UTC")  # carol handed in only the other one
    hand_in(course, "dan", "fx_kl", "yesterday-ish")  # a timestamp nobody can read
    hand_in(course, "eve", "fx_kl", None)  # no timestamp at all
    return course


def test_a_course_folder_is_graded_from_its_submitted_folder(course):
    given = submissions_of_course(course)
    assert given.submissions == course / "submitted" and given.course == course
    assert "grading its submitted/" in given.notes[0]
    assert submissions_of_course(course / "submitted").course == course  # submitted/ itself: the same course
    plain = course / "submitted" / "ann"
    assert submissions_of_course(plain).course is None


def test_a_course_folder_without_submissions_is_refused_with_the_command_to_run(tmp_path):
    course = tmp_path / "course"
    (course / "source" / "fx_kl").mkdir(parents=True)
    (course / "release" / "fx_kl").mkdir(parents=True)
    with pytest.raises(UsageError) as refused:
        submissions_of_course(course)
    assert "nbgrader collect" in str(refused.value) and str(course / "submitted") in str(refused.value)


def test_a_class_with_a_student_called_source_is_not_a_course(tmp_path):
    (tmp_path / "source").mkdir()
    (tmp_path / "ann").mkdir()
    assert submissions_of_course(tmp_path).course is None


def test_the_exchange_layout_gives_each_submission_its_time_and_lateness(course, tmp_path):
    found = {s.student_id: s for s in discover(course / "submitted", "fx_kl.ipynb", tmp_path / "work", "fx_kl", DUE)}
    assert sorted(found) == ["ann", "bob", "carol", "dan", "eve"]
    ann, bob, carol, dan, eve = (found[s] for s in sorted(found))
    assert ann.notebook.parent.name == "fx_kl" and not ann.late and ann.submitted_at == "2026-03-01 10:00:00.000000 UTC"
    assert bob.notebook == course / "submitted/bob/fx_kl/fx_kl.ipynb"  # never his other assignment's notebook
    assert bob.late and bob.submitted_at == "2026-03-02 00:30:00.000000 UTC"
    assert "Submitted 2026-03-02 00:30 UTC, 31 min after the due date (2026-03-01 23:59 UTC)" in bob.notes
    assert carol.notebook is None and carol.problem_status == "missing"
    assert "nothing handed in for fx_kl" in carol.problem and "ps_other" in carol.problem
    assert not dan.late and dan.submitted_at == "" and "timestamp.txt holds 'yesterday-ish'" in " ".join(dan.notes)
    assert not eve.late and eve.submitted_at == "" and eve.notes == []


def test_without_a_due_date_nothing_is_late_but_the_time_is_kept(course, tmp_path):
    found = {s.student_id: s for s in discover(course / "submitted", "fx_kl.ipynb", tmp_path / "work", "fx_kl")}
    assert not found["bob"].late and found["bob"].submitted_at.startswith("2026-03-02 00:30")


def test_a_folder_per_student_without_assignment_folders_is_read_as_before(tmp_path):
    (tmp_path / "subs" / "ann").mkdir(parents=True)
    (tmp_path / "subs" / "ann" / "fx_kl.ipynb").write_text(SOLUTION.read_text())
    (found,) = discover(tmp_path / "subs", "fx_kl.ipynb", tmp_path / "work", "fx_kl", DUE)
    assert found.notebook.name == "fx_kl.ipynb" and not found.late and found.submitted_at == ""


def test_timestamps_read_as_nbgrader_reads_them(tmp_path):
    (tmp_path / "timestamp.txt").write_text("2026-03-01 10:00:00.123456 UTC\n")
    moment, problem = read_timestamp(tmp_path)
    assert problem is None and nbgrader_time(moment) == "2026-03-01 10:00:00.123456 UTC"
    (tmp_path / "timestamp.txt").write_text("")
    assert read_timestamp(tmp_path) == (None, "timestamp.txt is empty")
    (tmp_path / "timestamp.txt").unlink()
    assert read_timestamp(tmp_path) == (None, None)


def test_due_dates_are_iso_8601_and_utc_without_an_offset():
    assert parse_due_date("2026-03-01T23:59") == DUE
    assert parse_due_date("2026-03-02T00:59+01:00") == DUE
    assert parse_due_date("2026-03-01T23:59:00Z") == DUE
    with pytest.raises(UsageError, match="ISO 8601"):
        parse_due_date("March 1st")


def test_feedback_links_go_to_the_published_book_by_default(monkeypatch):
    """Not to file:// pages of _build/html on the grader's machine, which no student can open."""
    import yaml

    monkeypatch.delenv("VAE_BOOK_URL", raising=False)
    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "_config.yml").read_text())
    owner, name = config["repository"]["url"].rstrip("/").split("/")[-2:]
    assert book_url() == published_book_url() == f"https://{owner.lower()}.github.io/{name}"
    assert local_link_warning(book_url()) is None
    assert book_url("https://example.org/vae/") == "https://example.org/vae"
    monkeypatch.setenv("VAE_BOOK_URL", "file:///home/me/vae/_build/html")
    assert "local folder" in local_link_warning(book_url())
    assert local_link_warning("/srv/book") is not None


def test_the_published_address_follows_the_configuration(tmp_path):
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/Some-Org/vae-notes.git\n")
    assert published_book_url(tmp_path) == "https://some-org.github.io/vae-notes"
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/some-org/some-org.github.io\n")
    assert published_book_url(tmp_path) == "https://some-org.github.io"
    (tmp_path / "_config.yml").write_text("html:\n  baseurl: https://vae.example.edu/book/\n"
                                          "repository:\n  url: https://github.com/a/b\n")
    assert published_book_url(tmp_path) == "https://vae.example.edu/book"
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://gitlab.com/a/b\n")
    assert published_book_url(tmp_path) is None
