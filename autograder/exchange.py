"""nbgrader's own course layout as ``grade`` input: an nbgrader course folder, its ``submitted/`` (what
``nbgrader collect`` fills from the exchange), each submission's ``timestamp.txt`` and the assignment's due date.

* ``submitted/<student>/<assignment>/<notebook>.ipynb`` with ``timestamp.txt`` beside it is the exchange layout:
  :func:`autograder.submissions.discover` looks for a student's notebook only in ``<student>/<assignment>/`` there
  (a student folder also holds the other assignments the student handed in) and reads the submission time.
* A course folder (``nbgrader_config.py``, ``source/``, ``release/``, ``gradebook.db`` ... beside ``submitted/``) is
  graded from its ``submitted/`` (:func:`submissions_of_course`); one without ``submitted/`` is refused with the
  command that fills it.
* Lateness: a submission is late when its ``timestamp.txt`` is after the due date, which is ``grade --due-date``,
  else the due date of the assignment in the output folder's gradebook (set in formgrader: Manage Assignments >
  Edit), else the one in the course folder's gradebook. Times are kept in nbgrader's own form (UTC), so the
  gradebook and formgrader show the real submission time and nbgrader computes the same lateness.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .course import UsageError
from .text import clean

TIMESTAMP_FILE = "timestamp.txt"
COURSE_MARKERS = ("nbgrader_config.py", "source", "release", "autograded", "gradebook.db", "feedback")
MAX_TIMESTAMP_BYTES = 200


@dataclass
class CourseInput:
    """What ``grade`` grades when handed ``path``: the submissions folder, the nbgrader course it belongs to (if
    any: its gradebook may hold the due date) and what to tell the instructor."""

    submissions: Path
    course: Path | None = None
    notes: list[str] = field(default_factory=list)


def is_course_folder(path: Path) -> bool:
    """An nbgrader course folder: its config or gradebook, or source/ beside release/ or submitted/ (a class
    folder with a student called "source" is not one)."""
    if not path.is_dir():
        return False
    if (path / "nbgrader_config.py").is_file() or (path / "gradebook.db").is_file():
        return True
    return (path / "source").is_dir() and ((path / "release").is_dir() or (path / "submitted").is_dir())


def submissions_of_course(path: Path) -> CourseInput:
    """``path`` itself, or the ``submitted/`` of the nbgrader course folder ``path`` (never its source/, release/
    and autograded/ folders as if they were students)."""
    path = Path(path)
    if not is_course_folder(path):
        if path.is_dir() and path.name == "submitted" and is_course_folder(path.parent):
            return CourseInput(path, path.parent)
        return CourseInput(path)
    submitted = path / "submitted"
    if submitted.is_dir():
        return CourseInput(submitted, path, [f"{clean(str(path))} is an nbgrader course folder: grading its "
                                             f"submitted/ folder"])
    found = ", ".join(marker for marker in COURSE_MARKERS if (path / marker).exists())
    raise UsageError(f"{path} is an nbgrader course folder (it has {found}) without a submitted/ folder, so "
                     f"there is nothing to grade: collect the submissions first "
                     f"(`nbgrader collect ASSIGNMENT` in {path}), then grade {path / 'submitted'}")


def parse_due_date(text: str) -> datetime:
    """``--due-date``: ISO 8601 (``2026-03-01T23:59``, ``2026-03-01 23:59+01:00``, ``...Z``); without an offset
    it is UTC, as nbgrader's own due dates are. Returns an aware datetime in UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--due-date {text!r} is not an ISO 8601 date and time (e.g. 2026-03-01T23:59 or "
                         f"2026-03-01T23:59+01:00; without an offset it is UTC)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def nbgrader_time(moment: datetime) -> str:
    """The form nbgrader writes and reads back exactly (formgrader compares timestamp.txt with the gradebook)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def read_timestamp(folder: Path) -> tuple[datetime | None, str | None]:
    """(the time in ``folder/timestamp.txt`` as an aware UTC datetime, None), (None, why it could not be read), or
    (None, None) when there is no such file. Read as nbgrader reads it (nbgrader.utils.parse_utc)."""
    path = folder / TIMESTAMP_FILE
    if path.is_symlink() or not path.is_file():
        return None, None
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_TIMESTAMP_BYTES + 1)
    except OSError as error:
        return None, f"{TIMESTAMP_FILE} could not be read ({error.strerror})"
    text = raw.decode("utf-8", "replace").strip()
    if len(raw) > MAX_TIMESTAMP_BYTES or not text:
        return None, f"{TIMESTAMP_FILE} is {'empty' if not text else 'too long'}"
    from nbgrader.utils import parse_utc

    try:
        moment = parse_utc(text)  # naive, in UTC
    except (ValueError, OverflowError, TypeError):
        return None, f"{TIMESTAMP_FILE} holds {clean(text)[:60]!r}, not a time"
    return moment.replace(tzinfo=UTC), None


def gradebook_due_date(db_path: Path, assignment_id: str) -> datetime | None:
    """The due date the nbgrader gradebook at ``db_path`` holds for the assignment (None if none, or no such
    gradebook or assignment)."""
    if not Path(db_path).is_file():
        return None
    from nbgrader.api import Gradebook, MissingEntry

    try:
        with Gradebook(f"sqlite:///{Path(db_path).resolve()}") as gradebook:
            duedate = gradebook.find_assignment(assignment_id).duedate
    except MissingEntry:
        return None
    except Exception:  # noqa: BLE001 - an unreadable gradebook of someone else's course: no due date from it
        return None
    return duedate.replace(tzinfo=UTC) if duedate is not None else None


def set_gradebook_due_date(db_path: Path, assignment_id: str, due: datetime) -> None:
    """Record the due date in the output folder's gradebook, so formgrader shows it and nbgrader computes the same
    lateness from the submission times."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{Path(db_path).resolve()}") as gradebook:
        gradebook.find_assignment(assignment_id).duedate = due.astimezone(UTC).replace(tzinfo=None)
        gradebook.db.commit()


def describe_lateness(submitted: datetime, due: datetime) -> str:
    seconds = int((submitted - due).total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = max(1, rest // 60) if not (days or hours) else rest // 60
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"] * bool(minutes)
    return " ".join(parts)
