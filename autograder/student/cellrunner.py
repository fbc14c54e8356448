"""Run a notebook's code cells in order in an IPython shell (magics work), with a per-cell limit on CPU time and
output captured by BYTES. Used inside the forked grading child (and the self-check's).

Time limits count CPU time, which no neighbour and no load on the machine can use up: a cell is interrupted when
its process has used ``cpu_limit_s`` seconds of CPU (ITIMER_PROF: every thread of the process), or, as a backstop
against a cell that sleeps or waits, when it has run for ``wall_cap(cpu_limit_s)`` seconds of wall-clock time. (CPU
used by processes the cell starts is counted by the grader, from the submission's cgroup: autograder.executor.)

Everything returned is plain JSON-able data: per cell its status ("ok", "error", "timeout"), the error as text,
which limit a timeout hit, the head of stdout/stderr and how much was written, the wall-clock seconds and the CPU
seconds, and (when grading) the check records made while the cell ran. stderr and warnings are captured like stdout
and never decide anything.
"""

from __future__ import annotations

import io
import resource
import signal
import sys
import time
import traceback
from collections.abc import Callable

OUTPUT_LIMIT_BYTES = 16 * 1024  # kept per stream per cell
ERROR_LIMIT_CHARS = 2000
WALL_FACTOR = 5.0  # a cell's (and a notebook's) wall-clock cap: this many times its CPU-time limit,
WALL_EXTRA_S = 10.0  # and at least this much longer than it


def wall_cap(cpu_limit_s: float) -> float:
    """The wall-clock backstop of a CPU-time limit: it only stops code that sleeps or waits, never code that a busy
    machine slows down (that one runs again alone before a timeout stands: autograder.grading)."""
    return max(cpu_limit_s * WALL_FACTOR, cpu_limit_s + WALL_EXTRA_S)


class CellTimeout(BaseException):  # noqa: N818 - BaseException so that `except Exception` in student code misses it
    """Raised in the running cell by an interval timer: ``kind`` "cpu" (its CPU-time limit) or "wall" (the cap)."""

    def __init__(self, kind: str = "cpu"):
        super().__init__(kind)
        self.kind = kind


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


def _on_cpu_limit(signum, frame):
    raise CellTimeout("cpu")


def _on_wall_cap(signum, frame):
    raise CellTimeout("wall")


def cpu_seconds() -> float:
    """CPU time of this process (every thread) and of the children it has waited for."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timeout_message(kind: str, cpu_limit_s: float, cpu_used: float) -> str:
    if kind == "wall":
        return (f"the cell ran longer than its wall-clock cap of {wall_cap(cpu_limit_s):g} s while using only "
                f"{cpu_used:.1f} s of its {cpu_limit_s:g} s of CPU time: it was sleeping or waiting")
    return f"the cell used up its CPU time limit of {cpu_limit_s:g} s"


def run_cell(shell, source: str, cpu_limit_s: float, output_limit: int = OUTPUT_LIMIT_BYTES) -> dict:
    """Run one cell under its CPU-time limit (and the wall-clock cap); never raises (except for a cell that exits
    the process)."""
    stdout, stderr = CappedStream(output_limit, "<stdout>"), CappedStream(output_limit, "<stderr>")
    saved = sys.stdout, sys.stderr
    previous = signal.signal(signal.SIGPROF, _on_cpu_limit), signal.signal(signal.SIGALRM, _on_wall_cap)
    status, error, kind = "ok", None, None
    start, start_cpu = time.perf_counter(), cpu_seconds()
    try:
        sys.stdout, sys.stderr = stdout, stderr
        signal.setitimer(signal.ITIMER_PROF, max(cpu_limit_s, 0.001))
        signal.setitimer(signal.ITIMER_REAL, wall_cap(cpu_limit_s))
        try:
            result = shell.run_cell(source, store_history=False, silent=False)
        finally:
            _stop_timers()
        failure = result.error_in_exec or result.error_before_exec
        if isinstance(failure, CellTimeout):
            status, kind = "timeout", failure.kind
        elif failure is not None:
            status, error = "error", describe_error(failure)
    except CellTimeout as timeout:
        status, kind = "timeout", timeout.kind
    except BaseException as failure:  # noqa: BLE001 - whatever the cell did, the run goes on
        status, error = "error", describe_error(failure)
    finally:
        _stop_timers()
        signal.signal(signal.SIGPROF, previous[0])
        signal.signal(signal.SIGALRM, previous[1])
        sys.stdout, sys.stderr = saved
    used = cpu_seconds() - start_cpu
    if status == "timeout":
        error = timeout_message(kind, cpu_limit_s, used)
    return {"status": status, "error": error, "timeout_kind": kind,
            "seconds": round(time.perf_counter() - start, 4), "cpu_seconds": round(used, 4),
            "stdout": stdout.text(), "stdout_total": stdout.total,
            "stderr": stderr.text(), "stderr_total": stderr.total}


def _stop_timers() -> None:
    signal.setitimer(signal.ITIMER_PROF, 0)
    signal.setitimer(signal.ITIMER_REAL, 0)


def run_cells(shell, cells: list[dict], cell_timeout_s: float, emit: Callable[[dict], None],
              context=None, output_limit: int = OUTPUT_LIMIT_BYTES) -> None:
    """Run ``cells`` ({"position", "source", "grade_id"}, and "cpu_limit_s" where a cell has a limit of its own) in
    order, each under its CPU-time limit (``cell_timeout_s`` CPU seconds by default); ``emit`` gets one plain dict per
    cell.

    With a grading ``context`` (autograder.student.probes.GradingContext), ``context.current_cell`` is the test cell's
    grade_id while it runs (None for every other cell) and the records made during a test cell are attached.
    """
    for cell in cells:
        grade_id = cell.get("grade_id")
        first_record = len(context.records) if context is not None else 0
        if context is not None:
            context.current_cell = grade_id
        outcome = run_cell(shell, cell["source"], float(cell.get("cpu_limit_s") or cell_timeout_s), output_limit)
        outcome["position"] = cell["position"]
        outcome["grade_id"] = grade_id
        if context is not None:
            made = context.records[first_record:]
            outcome["records"] = [r for r in made if grade_id is not None and r.get("cell") == grade_id]
            context.current_cell = None
        emit(outcome)
