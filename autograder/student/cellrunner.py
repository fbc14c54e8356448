"""Run a notebook's code cells in order in an IPython shell (magics work), with a per-cell time limit and output
captured by BYTES. Used inside the forked grading child and, in-process, by the student self-check.

Everything returned is plain JSON-able data: per cell its status ("ok", "error", "timeout"), the error as text,
the head of stdout/stderr and how much was written, the seconds, and (when grading) the check records made while
the cell ran. stderr and warnings are captured like stdout and never decide anything.
"""

from __future__ import annotations

import io
import signal
import sys
import time
import traceback
from collections.abc import Callable

OUTPUT_LIMIT_BYTES = 16 * 1024  # kept per stream per cell
ERROR_LIMIT_CHARS = 2000


class CellTimeout(BaseException):  # noqa: N818 - BaseException so that `except Exception` in student code misses it
    """Raised in the running cell by the interval timer."""


class CappedStream(io.TextIOBase):
    """A text stream that keeps the first ``limit`` bytes and only counts the rest (memory stays bounded even for
    a single 100 MB line)."""

    def __init__(self, limit: int = OUTPUT_LIMIT_BYTES, name: str = "<captured>"):
        super().__init__()
        self.limit = limit
        self.name = name
        self._kept: list[bytes] = []
        self._kept_bytes = 0
        self.total = 0  # characters written (bytes for ASCII)

    def write(self, text) -> int:
        if not isinstance(text, str):
            text = str(text)
        length = len(text)
        self.total += length
        room = self.limit - self._kept_bytes
        if room > 0:
            piece = text[:room].encode("utf-8", "replace")[:room]
            self._kept.append(piece)
            self._kept_bytes += len(piece)
        return length

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return "utf-8"

    def flush(self) -> None:
        pass

    def text(self) -> str:
        return b"".join(self._kept).decode("utf-8", "ignore")

    @property
    def truncated(self) -> bool:
        return self.total > self._kept_bytes


def make_shell():
    """A fresh IPython shell: no history database, no colours, ``%matplotlib`` a no-op (the backend is Agg)."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "nocolor"
    config.InteractiveShell.xmode = "Plain"
    shell = InteractiveShell.instance(config=config)
    shell.register_magic_function(lambda line="": None, "line", "matplotlib")
    return shell


def describe_error(error: BaseException) -> str:
    try:
        text = "".join(traceback.format_exception_only(type(error), error)).strip()
    except Exception:  # noqa: BLE001 - a student's exception with a broken __str__
        text = type(error).__name__
    return text[:ERROR_LIMIT_CHARS]


def _on_alarm(signum, frame):
    raise CellTimeout()


def run_cell(shell, source: str, timeout_s: float, output_limit: int = OUTPUT_LIMIT_BYTES) -> dict:
    """Run one cell; never raises (except for a cell that exits the process)."""
    stdout, stderr = CappedStream(output_limit, "<stdout>"), CappedStream(output_limit, "<stderr>")
    saved = sys.stdout, sys.stderr
    previous_handler = signal.signal(signal.SIGALRM, _on_alarm)
    status, error = "ok", None
    start = time.perf_counter()
    try:
        sys.stdout, sys.stderr = stdout, stderr
        signal.setitimer(signal.ITIMER_REAL, max(timeout_s, 0.001))
        try:
            result = shell.run_cell(source, store_history=False, silent=False)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        failure = result.error_in_exec or result.error_before_exec
        if isinstance(failure, CellTimeout):
            status, error = "timeout", f"the cell ran longer than its time limit of {timeout_s:g} s"
        elif failure is not None:
            status, error = "error", describe_error(failure)
    except CellTimeout:
        status, error = "timeout", f"the cell ran longer than its time limit of {timeout_s:g} s"
    except BaseException as failure:  # noqa: BLE001 - whatever the cell did, the run goes on
        status, error = "error", describe_error(failure)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        sys.stdout, sys.stderr = saved
    return {"status": status, "error": error, "seconds": round(time.perf_counter() - start, 4),
            "stdout": stdout.text(), "stdout_total": stdout.total,
            "stderr": stderr.text(), "stderr_total": stderr.total}


def run_cells(shell, cells: list[dict], cell_timeout_s: float, emit: Callable[[dict], None],
              context=None, output_limit: int = OUTPUT_LIMIT_BYTES) -> None:
    """Run ``cells`` ({"position", "source", "grade_id"}) in order; ``emit`` gets one plain dict per cell.

    With a grading ``context`` (autograder.student.probes.GradingContext), ``context.current_cell`` is the test cell's
    grade_id while it runs (None for every other cell) and the records made during a test cell are attached.
    """
    for cell in cells:
        grade_id = cell.get("grade_id")
        first_record = len(context.records) if context is not None else 0
        if context is not None:
            context.current_cell = grade_id
        outcome = run_cell(shell, cell["source"], cell_timeout_s, output_limit)
        outcome["position"] = cell["position"]
        outcome["grade_id"] = grade_id
        if context is not None:
            made = context.records[first_record:]
            outcome["records"] = [r for r in made if grade_id is not None and r.get("cell") == grade_id]
            context.current_cell = None
        emit(outcome)
