"""A pre-warmed worker: ``python -m autograder.worker``.

It imports torch, numpy, matplotlib (Agg) and IPython ONCE, then reads jobs (one JSON line each) on stdin. For every
job it forks a child that runs the assembled notebook's code cells in a fresh IPython namespace with the grading
context installed, and streams one JSON line per cell back through a pipe. The worker enforces the per-notebook
budget (it kills the child's whole process group), caps the bytes it accepts, and answers with one JSON line on
stdout. Nothing is judged here: the grader process judges the records.

Being a separate program (not a fork of the grader), the worker can later be started inside a sandbox unchanged.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time

MAX_RESULT_BYTES = 64 * 1024 * 1024  # what the worker accepts from one child in total
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # one cell's message; larger records are dropped by the child
DONE = b'{"done": true}\n'
_protocol_fd: int | None = None


def preload():
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import numpy  # noqa: F401
    import scipy.special  # noqa: F401
    import torch  # noqa: F401

    import autograder.checks  # noqa: F401  (also registers the checks)

    from .cellrunner import make_shell

    return make_shell()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def child_main(job: dict, shell, write_fd: int) -> None:
    """Runs in the forked child; never returns."""
    code = 0
    try:
        os.setsid()
        if _protocol_fd is not None:
            os.close(_protocol_fd)  # the student's code cannot write into the worker's answers
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # C-level output never reaches the worker's protocol stream
            os.dup2(devnull, fd)
        os.chdir(job["workdir"])
        sys.path.insert(0, job["workdir"])
        import torch

        torch.set_num_threads(max(1, int(job.get("threads", 1))))
        from autograder import checks

        from .cellrunner import run_cells

        context = checks.GradingContext(int(job["master_seed"]))
        checks.set_grading_context(context)

        def emit(message: dict) -> None:
            line = json.dumps(message, allow_nan=True)
            if len(line) > MAX_MESSAGE_BYTES:
                message["records"] = []
                message["dropped"] = f"the values returned in this cell were too large to grade ({len(line)} bytes)"
                line = json.dumps(message)
            _write_all(write_fd, line.encode() + b"\n")

        run_cells(shell, job["cells"], float(job["cell_timeout_s"]), emit, context=context)
        _write_all(write_fd, DONE)
    except BaseException:  # noqa: BLE001
        code = 70
    finally:
        os._exit(code)


def run_job(job: dict, shell) -> dict:
    """Fork a child for the job, collect its messages within the budget, and describe how it ended."""
    read_fd, write_fd = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        child_main(job, shell, write_fd)
    os.close(write_fd)
    deadline = start + float(job["notebook_timeout_s"])
    buffer, total, status, eof = bytearray(), 0, "ok", False
    while not eof:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            status = "timeout"
            break
        ready, _, _ = select.select([read_fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(read_fd, 1 << 20)
        if not chunk:
            eof = True
            break
        total += len(chunk)
        if total > MAX_RESULT_BYTES:
            status = "too_large"
            break
        buffer.extend(chunk)
        if buffer.endswith(DONE):  # finished, even if something it started still holds the pipe open
            break
    exit_code = None
    if status == "ok":
        finished = buffer.endswith(DONE)
        limit = min(deadline, time.monotonic() + 5.0) if finished else deadline
        while True:
            waited, code = os.waitpid(pid, os.WNOHANG)
            if waited:
                exit_code = code
                break
            if time.monotonic() > limit:
                if not finished:
                    status = "timeout"
                break
            time.sleep(0.01)
    try:
        os.killpg(pid, signal.SIGKILL)  # the child and anything it started
    except (ProcessLookupError, PermissionError):
        pass
    if exit_code is None:
        try:
            _, exit_code = os.waitpid(pid, 0)
        except ChildProcessError:
            exit_code = None
    os.close(read_fd)
    cells, done = [], False
    for line in bytes(buffer).split(b"\n"):
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("done") is True:
            done = True
        elif isinstance(message, dict):
            cells.append(message)
    if status == "ok" and not done:
        status = "crashed"
    ended = None
    if exit_code is not None:
        ended = (f"exit code {os.waitstatus_to_exitcode(exit_code)}" if os.WIFEXITED(exit_code)
                 else f"killed by signal {os.WTERMSIG(exit_code)}" if os.WIFSIGNALED(exit_code) else None)
    return {"job": job.get("job"), "status": status, "ended": ended, "cells": cells,
            "seconds": round(time.monotonic() - start, 3)}


def main() -> None:
    global _protocol_fd
    _protocol_fd = os.dup(1)
    protocol = os.fdopen(_protocol_fd, "w", buffering=1)
    os.dup2(2, 1)  # stray prints while importing go to stderr, not into the protocol
    shell = preload()
    protocol.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        if job.get("quit"):
            break
        protocol.write(json.dumps(run_job(job, shell)) + "\n")


if __name__ == "__main__":
    main()
