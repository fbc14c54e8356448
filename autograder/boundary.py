"""The trust boundary, receiving side: everything that comes out of a submission's process passes here first.

The submission's process writes one JSON line per finished cell on its job socket. The reader (the grader's
executor, never the submission) enforces, before anything else looks at the data:

* a size limit per message (``MAX_MESSAGE_BYTES``) and per submission (``MAX_SUBMISSION_BYTES``): a line that is
  too long is not even buffered whole; the run ends as "too_large" and what came before still counts;
* JSON that parses within Python's recursion limit and nests at most ``MAX_DEPTH`` deep;
* the shape of each message (field names, types, allowed values, list lengths); anything else is dropped;
* clean text: every string has lone surrogates replaced (they cannot be written as UTF-8) and control characters
  other than newline and tab removed, so no writer downstream (CSV, HTML, Markdown, the gradebook) can fail on it.
Arrays inside the records are validated later, where they are decoded (autograder.judging.records).
"""

from __future__ import annotations

import json
import math
import re
import select
import socket
import time

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_SUBMISSION_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 16
MAX_RECORDS = 64  # check() calls recorded in one cell
MAX_OUTCOMES = 1000  # cases of one check
MAX_TEXT_CHARS = 20_000
CELL_STATUSES = ("ok", "error", "timeout")
CHECK_KINDS = ("visible", "hidden")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class BoundaryError(ValueError):
    """A message that breaks the protocol; the reason is shown to the instructor and the student."""


def clean_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Lone surrogates become U+FFFD, control characters other than \\n and \\t are removed, length is capped."""
    if not isinstance(text, str):
        text = str(text)
    return _CONTROL.sub("", _SURROGATE.sub("\ufffd", text[:limit]))


def clean_strings(value, depth: int = 0):
    """A copy of a JSON value with every string cleaned; raises BoundaryError beyond MAX_DEPTH."""
    if depth > MAX_DEPTH:
        raise BoundaryError(f"a message nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        return clean_text(value, limit=MAX_MESSAGE_BYTES)
    if isinstance(value, list):
        return [clean_strings(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {clean_text(str(key), 200): clean_strings(item, depth + 1) for key, item in value.items()}
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise BoundaryError(f"unexpected value of type {type(value).__name__}")


def _int(value, what: str, low: int = 0, high: int = 10**12) -> int:
    if type(value) is not int or not low <= value <= high:
        raise BoundaryError(f"{what} is not an integer in [{low}, {high}]")
    return value


def _optional_text(value, what: str, limit: int = MAX_TEXT_CHARS) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BoundaryError(f"{what} is not text")
    return clean_text(value, limit)


def clean_cell_message(message, expected_positions: set[int]) -> dict:
    """The one cell message the grader accepts: known fields only, each of the right type, strings cleaned."""
    if not isinstance(message, dict):
        raise BoundaryError("a message is not an object")
    position = _int(message.get("position"), "a cell position", 0, 100_000)
    if position not in expected_positions:
        raise BoundaryError(f"a message names cell {position}, which was not run")
    status = message.get("status")
    if status not in CELL_STATUSES:
        raise BoundaryError("a message has an unknown cell status")
    timeout_kind = message.get("timeout_kind")
    if status == "timeout" and timeout_kind not in ("cpu", "wall"):
        timeout_kind = "cpu"
    records = message.get("records") or []
    if not isinstance(records, list) or len(records) > MAX_RECORDS:
        raise BoundaryError(f"a cell recorded more than {MAX_RECORDS} checks")
    cleaned_records = []
    for record in records:
        if not isinstance(record, dict):
            raise BoundaryError("a check record is not an object")
        outcomes = record.get("outcomes")
        if not isinstance(outcomes, list) or len(outcomes) > MAX_OUTCOMES:
            raise BoundaryError("a check record's outcomes are not a short list")
        if record.get("kind") not in CHECK_KINDS:
            raise BoundaryError("a check record has an unknown kind")
        cleaned_records.append({"cell": _optional_text(record.get("cell"), "a record's cell", 200),
                                "name": _optional_text(record.get("name"), "a record's check name", 200),
                                "kind": record["kind"], "outcomes": clean_strings(outcomes, depth=2)})
    return {"position": position, "grade_id": _optional_text(message.get("grade_id"), "a grade id", 200),
            "status": status, "error": _optional_text(message.get("error"), "an error message"),
            "timeout_kind": timeout_kind if status == "timeout" else None,
            "seconds": _seconds(message.get("seconds")), "cpu_seconds": _seconds(message.get("cpu_seconds")),
            "stdout": _optional_text(message.get("stdout"), "stdout") or "",
            "stderr": _optional_text(message.get("stderr"), "stderr") or "",
            "stdout_total": message.get("stdout_total") if type(message.get("stdout_total")) is int else 0,
            "stderr_total": message.get("stderr_total") if type(message.get("stderr_total")) is int else 0,
            "dropped": _optional_text(message.get("dropped"), "a note"),
            "records": cleaned_records}


def _seconds(value) -> float:
    """A duration the submission reports about itself (only shown, or used where no cgroup counts CPU time): a
    finite number of seconds from 0 to a day, else 0."""
    if type(value) not in (int, float) or not math.isfinite(value):
        return 0.0
    return float(min(max(value, 0.0), 86_400.0))


def parse_line(line: bytes):
    """JSON from one line; BoundaryError for anything that is not (including nesting past the recursion limit)."""
    try:
        return json.loads(line)
    except RecursionError:
        raise BoundaryError("a message nests too deeply to parse") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise BoundaryError(f"a message is not JSON ({type(error).__name__})") from None


class LineReader:
    """Reads newline-terminated messages from a socket under the size limits; never buffers more than one
    message plus one chunk."""

    def __init__(self, sock: socket.socket, max_message: int = MAX_MESSAGE_BYTES,
                 max_total: int = MAX_SUBMISSION_BYTES):
        self.sock = sock
        self.max_message = max_message
        self.max_total = max_total
        self.total = 0
        self.pending = bytearray()
        self.lines: list[bytes] = []
        self.eof = False

    def next_line(self, deadline: float) -> bytes | None:
        """The next complete line, or None at end of stream. Raises TimeoutError at ``deadline`` (monotonic) and
        BoundaryError when a message or the submission is too large."""
        while not self.lines:
            if self.eof:
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            poller = select.poll()
            poller.register(self.sock, select.POLLIN | select.POLLHUP | select.POLLERR)
            if not poller.poll(max(1, int(remaining * 1000))):
                continue
            try:
                chunk = self.sock.recv(1 << 20)
            except (ConnectionResetError, OSError):
                chunk = b""
            if not chunk:
                self.eof = True
                continue
            self.total += len(chunk)
            if self.total > self.max_total:
                raise BoundaryError(f"the notebook sent more than {self.max_total >> 20} MB of results")
            searched = len(self.pending)
            self.pending.extend(chunk)
            while (index := self.pending.find(b"\n", searched)) >= 0:
                line = bytes(self.pending[:index])
                del self.pending[:index + 1]
                searched = 0
                if len(line) > self.max_message:
                    raise BoundaryError(f"one cell's results are larger than {self.max_message >> 20} MB")
                if line.strip():
                    self.lines.append(line)
            if len(self.pending) > self.max_message:
                raise BoundaryError(f"one cell's results are larger than {self.max_message >> 20} MB")
        return self.lines.pop(0)
