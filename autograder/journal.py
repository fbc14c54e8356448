"""The grading journal: what makes a batch resumable and every submission end with exactly one row.

``<output>/grading-journal.jsonl`` is append-only. Each event is ONE line of JSON written with a single ``write``
on a file opened for appending, then ``fsync``-ed, so after Ctrl-C, ``kill -9`` or a power loss the file holds
whole lines plus, at worst, one torn last line, which :meth:`Journal.open` cuts off. Events:

* ``batch``: a run started (assignment, digest of its source, whether it is a ``--regrade``);
* ``result``: one submission's finished :class:`~autograder.grading.GradeResult`, recorded the moment the executor
  hands it back (whichever executor: local workers today, Dask later), with a fresh id;
* ``synced``: that result is in the nbgrader gradebook (written by the one trusted gradebook writer);
* ``done``: the run wrote every output.

The rows of ``grades.csv`` are the LAST result of each student, so each submission has exactly one row however
often it was graded. A rerun skips every student whose last result graded the same file (same fingerprint); a
``--regrade`` run skips only what it already regraded itself, so repeating an interrupted ``--regrade`` finishes it.
Only one process may write a journal at a time (an exclusive ``flock``, released by the kernel when the process
dies).
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .course import UsageError
from .grading import GradeResult

JOURNAL_NAME = "grading-journal.jsonl"


def utc_now() -> str:
    """A timestamp nbgrader's ``parse_utc`` reads back exactly (formgrader compares them)."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


@dataclass
class Record:
    id: str
    batch: int
    at: str  # when it was recorded (UTC); also the submission's timestamp in the gradebook
    result: GradeResult


@dataclass
class Journal:
    path: Path
    assignment: str | None = None
    source_digest: str | None = None
    course_root: str | None = None  # where the last batch found solutions/ (formgrader's Autograde grades from it)
    sandboxed: bool = True  # whether the last batch ran the submissions in the sandbox
    batches: list[dict] = field(default_factory=list)
    done: set[int] = field(default_factory=set)
    records: dict[str, list[Record]] = field(default_factory=dict)  # student_id -> results, oldest first
    synced: set[str] = field(default_factory=set)
    dropped_lines: int = 0
    _fd: int | None = None

    # ---------------------------------------------------------------- reading
    @classmethod
    def open(cls, folder: Path, create: bool) -> Journal:
        """Open (and lock) the journal in ``folder``; with ``create`` a missing one is created."""
        path = Path(folder) / JOURNAL_NAME
        if not path.exists() and not create:
            raise UsageError(f"{folder} has no {JOURNAL_NAME}: it is not a folder written by `python -m autograder "
                             f"grade`")
        journal = cls(path)
        flags = os.O_RDWR | os.O_APPEND | (os.O_CREAT if create else 0)
        journal._fd = os.open(path, flags, 0o644)
        try:
            fcntl.flock(journal._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(journal._fd)
            raise UsageError(f"another `python -m autograder` run is using {folder} right now; wait for it to finish "
                             f"(or stop it) and run this command again") from None
        journal._load()
        return journal

    @classmethod
    def snapshot(cls, folder: Path) -> Journal:
        """The journal as it is now, read without the lock and without repairing it (a torn last line is left
        out): for a reader that must not wait for, or disturb, a run that holds it (formgrader's buttons)."""
        path = Path(folder) / JOURNAL_NAME
        if not path.is_file():
            raise UsageError(f"{folder} has no {JOURNAL_NAME}: it is not a folder written by `python -m autograder "
                             f"grade`")
        journal = cls(path)
        data = path.read_bytes()
        for line in data[:data.rfind(b"\n") + 1].splitlines():
            try:
                journal._apply(json.loads(line))
            except (ValueError, TypeError, KeyError):
                journal.dropped_lines += 1
        return journal

    def _load(self) -> None:
        size = os.fstat(self._fd).st_size
        data = os.pread(self._fd, size, 0) if size else b""
        complete = data.rfind(b"\n") + 1
        if complete < len(data):  # a torn last line (the process died while writing it): cut it off
            os.ftruncate(self._fd, complete)
            os.fsync(self._fd)
            self.dropped_lines += 1
        for line in data[:complete].splitlines():
            try:
                self._apply(json.loads(line))
            except (ValueError, TypeError, KeyError):
                self.dropped_lines += 1

    def _apply(self, event: dict) -> None:
        kind = event["type"]
        if kind == "batch":
            self.batches.append(event)
            self.assignment = event["assignment"]
            self.source_digest = event["source"]
            self.course_root = event.get("course_root", self.course_root)
            self.sandboxed = event.get("sandbox", True)
        elif kind == "result":
            record = Record(event["id"], event["batch"], event["at"], GradeResult.from_json(event["result"]))
            self.records.setdefault(record.result.student_id, []).append(record)
        elif kind == "synced":
            self.synced.add(event["id"])
        elif kind == "done":
            self.done.add(event["batch"])

    # ---------------------------------------------------------------- questions
    def current(self) -> dict[str, Record]:
        """The last result of every student: one row each."""
        return {student: records[-1] for student, records in sorted(self.records.items())}

    def previous(self, student_id: str) -> Record | None:
        """The result before the student's last one (what a hand-marker saw, if they marked before a regrade)."""
        records = self.records.get(student_id, [])
        return records[-2] if len(records) > 1 else None

    def unfinished_regrade(self) -> int | None:
        """The number of a ``--regrade`` batch that never finished, if the last regrade is one."""
        regrades = [b["batch"] for b in self.batches if b.get("regrade")]
        if regrades and regrades[-1] not in self.done:
            return regrades[-1]
        return None

    # ---------------------------------------------------------------- writing
    def _append(self, event: dict) -> None:
        line = (json.dumps(event, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")
        written = os.write(self._fd, line)
        if written != len(line):  # a short write (disk full): leave a torn line that the next open cuts off
            raise OSError(f"could not write the grading journal {self.path} (disk full?)")
        os.fsync(self._fd)
        self._apply(event)

    def start_batch(self, assignment: str, source_digest: str, regrade: bool, course_root: str | None = None,
                    sandbox: bool = True) -> int:
        number = len(self.batches) + 1
        self._append({"type": "batch", "batch": number, "assignment": assignment, "source": source_digest,
                      "regrade": regrade, "started": utc_now(), "course_root": course_root, "sandbox": sandbox})
        return number

    def record(self, batch: int, result: GradeResult, at: str | None = None) -> Record:
        record_id = uuid.uuid4().hex
        self._append({"type": "result", "id": record_id, "batch": batch, "at": at or utc_now(),
                      "result": result.to_json()})
        return self.records[result.student_id][-1]

    def mark_synced(self, record: Record) -> None:
        self._append({"type": "synced", "id": record.id})

    def finish_batch(self, batch: int) -> None:
        self._append({"type": "done", "batch": batch})

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
