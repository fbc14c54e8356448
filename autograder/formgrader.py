"""nbgrader's formgrader buttons in an output folder of ``grade``: each does the right thing here, or says where that
thing is done. nbgrader finds these classes through the folder's ``nbgrader_config.py`` (autograder.coursetree
writes it), so the same holds for the nbgrader commands the buttons run, typed in the folder.

=====================================================  ==============================================================
Button (nbgrader command)                              In an output folder
=====================================================  ==============================================================
Manage Assignments > Edit (the due date)               nbgrader's; the next ``grade`` uses the gradebook's due date
Generate (``generate_assignment``)                     nbgrader's release from source/, then the bonus cells are
                                                       worth 0 again (their points are extra credit): same totals
Preview                                                nbgrader's
Release, Collect, Release Feedback (and ``list``,      there is no exchange in a grading folder: an error that says
``fetch_*``, ``submit``)                               what to do instead; no exchange warning banner
Manage Submissions > Autograde (``autograde``)         this student graded again by ``python -m autograder grade
                                                       --student`` (sandboxed, judged as the class was); the graded
                                                       notebook is never lost: when regrading fails it is rewritten
                                                       from the grading journal as it was
Generate Feedback (``generate_feedback``)              the grader's own feedback page, with the current hand marks,
                                                       at feedback/<student>.html and in nbgrader's place
Manual Grading                                         nbgrader's
=====================================================  ==============================================================

nbgrader's own ``autograde`` cannot work here: a bonus cell is worth 0 in the gradebook (so nbgrader's maximum
excludes it), and its checksum check then rejects the cell ("Inconsistent checksums") and deletes the graded
notebook; its ``generate_feedback`` would render the instructor's cells, hidden tests included.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from nbconvert.exporters import Exporter
from nbconvert.preprocessors import Preprocessor
from nbgrader.exchange.abc import (
    ExchangeCollect,
    ExchangeFetchAssignment,
    ExchangeFetchFeedback,
    ExchangeList,
    ExchangeReleaseAssignment,
    ExchangeReleaseFeedback,
    ExchangeSubmit,
)
from traitlets import default

REPOSITORY = Path(__file__).resolve().parents[1]
REGRADE_TIMEOUT_S = 1800
NO_EXCHANGE = ("This folder holds the grades `python -m autograder grade` wrote; it has no nbgrader exchange. ")


def _course_root(configurable) -> Path:
    """The course folder of the nbgrader app that owns ``configurable`` (nbgrader runs converters in it)."""
    owner = configurable
    while owner is not None:
        coursedir = getattr(owner, "coursedir", None)
        if coursedir is not None and getattr(coursedir, "root", None):
            return Path(coursedir.root)
        owner = getattr(owner, "parent", None)
    return Path.cwd()


# ---------------------------------------------------------------------------------------------- Autograde
def regrade_command(root: Path, assignment_id: str, student_id: str) -> list[str]:
    """``python -m autograder grade --student`` for one student of the output folder ``root``, graded from its
    own submitted/ with the course and the sandbox setting of the batch (from the grading journal)."""
    from .journal import Journal

    journal = Journal.snapshot(root)
    course_root, sandboxed = journal.course_root, journal.sandboxed
    command = [sys.executable, "-m", "autograder", "grade", "--assignment", assignment_id, str(root / "submitted"),
               "--output", str(root), "--student", student_id, "--workers", "1", "--no-progress"]
    if course_root:
        command += ["--course-root", course_root]
    if not sandboxed:
        command.append("--no-sandbox")
    return command


class RegradeStudent(Preprocessor):
    """formgrader's Autograde (``nbgrader autograde --student S``): grade the student again with the course's
    grader and hand nbgrader the notebook it wrote. nbgrader has already removed the autograded notebook when this
    runs; if regrading fails, the notebook is written again from the journal (the grades stay as they were) and
    the log says why."""

    @default("enabled")
    def _enabled_default(self):
        return True  # nbconvert's preprocessors are off until enabled

    def preprocess(self, nb, resources):
        import nbformat

        info = resources["nbgrader"]
        student, assignment = info["student"], info["assignment"]
        root = _course_root(self)
        notebook = root / "autograded" / student / assignment / f"{assignment}.ipynb"
        try:
            command = regrade_command(root, assignment, student)
            self.log.info("Grading %s again: %s", student, " ".join(command))
            done = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True,
                                  timeout=REGRADE_TIMEOUT_S)
            if done.stdout.strip():
                self.log.info("%s", done.stdout.strip())
            problem = None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        except Exception as error:  # noqa: BLE001 - the journal is locked, the command could not start, ...
            problem = f"{type(error).__name__}: {error}"
        if problem is not None:
            restored = restore_autograded(root, assignment, student)
            self.log.error("%s was NOT graded again: %s. %s", student, problem,
                           "The graded notebook and the grades are as they were." if restored else
                           "Its row in grades.csv says why it has no graded notebook.")
        if not notebook.is_file():
            raise RuntimeError(f"{student} has no graded notebook (see the row's message in grades.csv)")
        return nbformat.read(str(notebook), as_version=4), resources


def restore_autograded(root: Path, assignment_id: str, student_id: str | None = None) -> list[str]:
    """Write again every missing autograded notebook from the journal's last result and the notebook in
    submitted/, or the notebook of ``student_id`` whatever is there now (nbgrader's Autograde put the bare
    submission there); returns the students whose notebook was written."""
    from . import coursetree
    from .journal import Journal
    from .source import load_source

    source_notebook = root / "source" / assignment_id / f"{assignment_id}.ipynb"
    release_notebook = root / "release" / assignment_id / f"{assignment_id}.ipynb"
    if not source_notebook.is_file() or not release_notebook.is_file():
        return []
    source = load_source(assignment_id, source_notebook, release_notebook)
    release = coursetree.release_metadata(release_notebook)
    records = Journal.snapshot(root).current()  # without the lock: a run that holds it must not stop this
    chosen = [student_id] if student_id is not None else sorted(records)
    return [s for s in chosen if s in records and coursetree.rewrite_autograded(root, source, release, records[s],
                                                                                 replace=student_id is not None)]


# ---------------------------------------------------------------------------------------------- Generate Feedback
class FeedbackExporter(Exporter):
    """formgrader's Generate Feedback (``nbgrader generate_feedback``): the page students get from this grader
    (autograder.feedback: every test's verdict with a link to the book, the hand marks and comments; never the
    test code), written where nbgrader puts feedback (feedback/<student>/<id>/<id>.html, what Release Feedback
    would hand out) and at feedback/<student>.html."""

    output_mimetype = "text/html"

    def _file_extension_default(self):
        return ".html"

    def from_notebook_node(self, nb, resources=None, **kw):
        nb, resources = super().from_notebook_node(nb, resources, **kw)
        root = _course_root(self)
        student, assignment = resources["nbgrader"]["student"], resources["nbgrader"]["assignment"]
        page = feedback_page(root, assignment, student)
        resources["output_extension"] = ".html"
        return page, resources


def feedback_page(root: Path, assignment_id: str, student_id: str) -> str:
    from .assignments import config_for
    from .feedback import render, write_feedback
    from .gradebook import read_gradebook
    from .journal import Journal
    from .judging.sections import book_url
    from .outputs import build_rows
    from .source import load_source

    source = load_source(assignment_id, root / "source" / assignment_id / f"{assignment_id}.ipynb",
                         root / "release" / assignment_id / f"{assignment_id}.ipynb")
    with Journal.open(root, create=False) as journal:
        rows, _ = build_rows(journal, read_gradebook(root / "gradebook.db", assignment_id), source)
    row = next((r for r in rows if r.result.student_id == student_id), None)
    if row is None:
        raise RuntimeError(f"{student_id} was not graded in {root}")
    title = config_for(assignment_id).title or assignment_id
    write_feedback(root / "feedback", row, title, book_url())
    return render(row, title, book_url())


# ---------------------------------------------------------------------------------------------- Generate
def after_generate_assignment(root: Path) -> None:
    """After formgrader's Generate (``nbgrader generate_assignment``) in the folder: nbgrader has given the bonus
    cells their points as maximum again; they are worth 0 here (their points are extra credit), as when graded."""
    import json

    from .nbgrader_cli import mark_bonus_cells

    root = Path(root)
    for source in sorted((root / "source").glob("*/*.ipynb")):
        assignment_id = source.parent.name
        if source.stem != assignment_id:
            continue
        notebook = json.loads(source.read_text(encoding="utf-8"))
        bonus = [c["metadata"]["nbgrader"]["grade_id"] for c in notebook["cells"]
                 if c.get("metadata", {}).get("autograder", {}).get("bonus")
                 and c["metadata"].get("nbgrader", {}).get("grade_id")]
        mark_bonus_cells(root / "gradebook.db", assignment_id, bonus)


# ---------------------------------------------------------------------------------------------- the exchange
class NoExchangeList(ExchangeList):
    """Nothing is released from a grading folder: formgrader lists every assignment as not released (and shows
    no exchange warning)."""

    def start(self):
        if self.remove:
            self.fail(NO_EXCHANGE + "Nothing was released from it, so there is nothing to unrelease.")
        return []


class NoExchangeReleaseAssignment(ExchangeReleaseAssignment):
    def start(self):
        self.fail(NO_EXCHANGE + "Students get the exercise from the course repository (`python -m autograder "
                                "release` writes exercises/; `make lab` copies it into their my-work/ folder).")


class NoExchangeCollect(ExchangeCollect):
    def start(self):
        self.fail(NO_EXCHANGE + "To grade submissions from an nbgrader exchange, run `nbgrader collect ASSIGNMENT` "
                                "in your nbgrader course, then `python -m autograder grade --assignment ASSIGNMENT "
                                "COURSE --output FOLDER` (it grades COURSE/submitted/ with each timestamp.txt).")


class NoExchangeReleaseFeedback(ExchangeReleaseFeedback):
    def start(self):
        self.fail(NO_EXCHANGE + "Each student's feedback page is feedback/<student>.html (Generate Feedback "
                                "brings the hand marks into it); hand the pages out through your LMS, or copy "
                                "feedback/<student>/ into an nbgrader course with an exchange and run `nbgrader "
                                "release_feedback` there.")


class NoExchangeFetchAssignment(ExchangeFetchAssignment):
    def start(self):
        self.fail(NO_EXCHANGE + "Students fetch nothing from it.")


class NoExchangeFetchFeedback(ExchangeFetchFeedback):
    def start(self):
        self.fail(NO_EXCHANGE + "Students fetch nothing from it.")


class NoExchangeSubmit(ExchangeSubmit):
    def start(self):
        self.fail(NO_EXCHANGE + "Students submit to the course's LMS (or its nbgrader exchange), not here.")
