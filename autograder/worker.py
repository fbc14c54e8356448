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
import shutil
import signal
import sys
import tempfile
import time

MAX_RESULT_BYTES = 64 * 1024 * 1024  # what the worker accepts from one child in total
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # one cell's message; larger records are dropped by the child
CELL_GRACE_S = 5.0  # beyond a cell's limit before the worker stops a cell that ignores the interrupt
DONE = b'{"done": true}\n'
_protocol_fd: int | None = None
_tmp_at_start: set[str] = set()  # what the sandbox's /tmp held before any student code ran


def preload():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import numpy  # noqa: F401
    import scipy.special  # noqa: F401
    import torch  # noqa: F401

    import autograder.checks  # noqa: F401  (registers the probes)

    from .student.cellrunner import make_shell

    return make_shell()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def child_main(job: dict, shell, write_fd: int, ack_fd: int | None = None) -> None:
    """Runs in the forked child; never returns. After each cell's message it waits for the worker's
    acknowledgement on ``ack_fd``, so a later cell that kills the worker cannot lose the message in the pipe."""
    code = 0
    try:
        os.setsid()
        if _protocol_fd is not None:
            os.close(_protocol_fd)  # the student's code cannot write into the worker's answers
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # C-level output never reaches the worker's protocol stream
            os.dup2(devnull, fd)
        os.chdir(job["workdir"])
        import torch

        torch.set_num_threads(max(1, int(job.get("threads", 1))))
        from autograder.student import probes

        from .student.cellrunner import run_cells

        context = probes.GradingContext(int(job["master_seed"]))
        probes.set_grading_context(context)

        def emit(message: dict) -> None:
            line = json.dumps(message, allow_nan=True)
            if len(line) > MAX_MESSAGE_BYTES:
                message["records"] = []
                message["dropped"] = f"the values returned in this cell were too large to grade ({len(line)} bytes)"
                line = json.dumps(message)
            _write_all(write_fd, line.encode() + b"\n")
            if ack_fd is not None:
                try:
                    os.read(ack_fd, 1)  # the worker has relayed it (b"" if the worker is gone)
                except OSError:
                    pass

        run_cells(shell, job["cells"], float(job["cell_timeout_s"]), emit, context=context)
        _write_all(write_fd, DONE)
    except BaseException:  # noqa: BLE001
        code = 70
    finally:
        os._exit(code)


def prepare_workdir(job: dict) -> str:
    """A fresh private working directory holding the release's data files (never the student's other files)."""
    workdir = tempfile.mkdtemp(prefix="work-")
    files_dir = job.get("files_dir")
    if files_dir and os.path.isdir(files_dir):
        for name in os.listdir(files_dir):
            source = os.path.join(files_dir, name)
            if name.endswith(".ipynb") or name.startswith("."):
                continue
            if os.path.isdir(source):
                shutil.copytree(source, os.path.join(workdir, name))
            else:
                shutil.copy2(source, os.path.join(workdir, name))
    return workdir


def _other_processes() -> int:
    """Processes of this uid in the sandbox other than this one (zombies included)."""
    me, uid, count = os.getpid(), os.getuid(), 0
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != me:
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


def clean_sandbox(keep: set[str]) -> None:
    """Inside the sandbox, after each submission: end every other process of this uid (daemons, setsid children,
    anything the student started) and wipe /tmp (``keep`` folders come back empty), so nothing of one submission
    reaches the next."""
    deadline = time.monotonic() + 5.0
    while True:
        try:
            os.kill(-1, signal.SIGKILL)  # every process we may signal except ourselves (and bwrap, PID 1, as root)
        except ProcessLookupError:
            pass
        while True:  # reap our own children; bwrap (PID 1) reaps the orphans
            try:
                if os.waitpid(-1, os.WNOHANG) == (0, 0):
                    break
            except ChildProcessError:
                break
        # until they are gone (zombies still count against RLIMIT_NPROC, so the next fork could fail)
        if _other_processes() == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    tmp = tempfile.gettempdir()
    for name in os.listdir(tmp):
        if name in _tmp_at_start:  # read-only mount points of the sandbox (a checkout that lives in /tmp)
            continue
        path = os.path.join(tmp, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass
    for path in keep:  # HOME and the cache folders come back empty
        os.makedirs(path, exist_ok=True)


def run_job(job: dict, shell, relay=None) -> dict:
    """Fork a child for the job, collect its messages within the budget, and describe how it ended.
    ``relay(message)`` gets each cell's message as soon as the cell finishes."""
    job = dict(job, workdir=prepare_workdir(job))
    try:
        return _run_forked(job, shell, relay)
    finally:
        shutil.rmtree(job["workdir"], ignore_errors=True)


def _parse(line: bytes) -> dict | None:
    if not line.strip():
        return None
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def _run_forked(job: dict, shell, relay=None) -> dict:
    read_fd, write_fd = os.pipe()
    ack_read, ack_write = os.pipe()
    start = time.monotonic()
    for _attempt in range(50):  # a fork can fail for a moment while the last submission's processes are reaped
        try:
            pid = os.fork()
            break
        except BlockingIOError:
            time.sleep(0.1)
    else:
        for fd in (read_fd, write_fd, ack_read, ack_write):
            os.close(fd)
        return {"job": job.get("job"), "status": "error", "ended": "the grader could not start a process for it",
                "cells": [], "seconds": round(time.monotonic() - start, 3)}
    if pid == 0:
        os.close(read_fd)
        os.close(ack_write)
        child_main(job, shell, write_fd, ack_read)
    os.close(write_fd)
    os.close(ack_read)
    deadline = start + float(job["notebook_timeout_s"])
    # A cell that swallows its interrupt (catching BaseException in a loop) is stopped from here: one message per
    # cell arrives on the pipe, so no message for the cell limit plus a grace period means the cell is stuck.
    cell_limit = float(job["cell_timeout_s"]) + CELL_GRACE_S
    cell_deadline = start + cell_limit
    pending, cells, total = bytearray(), [], 0
    status, eof, stuck, done = "ok", False, False, False
    while not eof and not done:
        now = time.monotonic()
        if now >= deadline:
            status = "timeout"
            break
        if now >= cell_deadline:
            status, stuck = "crashed", True
            break
        ready, _, _ = select.select([read_fd], [], [], min(deadline, cell_deadline) - now)
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
        pending.extend(chunk)
        *lines, rest = bytes(pending).split(b"\n")
        pending = bytearray(rest)
        for line in lines:  # each finished cell goes to the grader at once, so a crash later loses nothing
            message = _parse(line)
            if message is None:
                continue
            if message.get("done") is True:
                done = True  # finished, even if something it started still holds the pipe open
                break
            cells.append(message)
            cell_deadline = time.monotonic() + cell_limit
            if relay is not None:
                relay(message)
            try:
                os.write(ack_write, b"a")  # the child may run its next cell
            except OSError:
                pass
    exit_code = None
    if status == "ok":
        limit = min(deadline, time.monotonic() + 5.0) if done else deadline
        while True:
            waited, code = os.waitpid(pid, os.WNOHANG)
            if waited:
                exit_code = code
                break
            if time.monotonic() > limit:
                if not done:
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
    os.close(ack_write)
    if status == "ok" and not done:
        status = "crashed"
    ended = None
    if exit_code is not None:
        ended = (f"exit code {os.waitstatus_to_exitcode(exit_code)}" if os.WIFEXITED(exit_code)
                 else f"killed by signal {os.WTERMSIG(exit_code)}" if os.WIFSIGNALED(exit_code) else None)
    if stuck:
        ended = f"a cell ignored its time limit of {job['cell_timeout_s']:g} s and was stopped"
    return {"job": job.get("job"), "status": status, "ended": ended, "cells": cells,
            "seconds": round(time.monotonic() - start, 3)}


def make_undumpable() -> None:
    """PR_SET_DUMPABLE = 0: a process of the same uid (the student's child) can neither ptrace this worker nor open
    its /proc/<pid>/fd or mem, so it cannot reach the worker's protocol pipe or memory."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(4, 0, 0, 0, 0) != 0:  # 4 = PR_SET_DUMPABLE
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def main() -> None:
    global _protocol_fd
    sandboxed = "--sandboxed" in sys.argv[1:]
    if sandboxed and os.getuid() == 0:
        raise SystemExit("the sandboxed worker must not run as root")
    _protocol_fd = os.dup(1)
    protocol = os.fdopen(_protocol_fd, "w", buffering=1)
    os.dup2(2, 1)  # stray prints while importing go to stderr, not into the protocol
    if sandboxed:
        _tmp_at_start.update(os.listdir(tempfile.gettempdir()))
        os.makedirs(os.environ.get("HOME", "/tmp/home"), exist_ok=True)
        make_undumpable()
    shell = preload()
    keep = {os.environ[name] for name in ("HOME", "IPYTHONDIR", "MPLCONFIGDIR") if os.environ.get(name)}
    protocol.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        if job.get("quit"):
            break
        answer = run_job(job, shell, relay=lambda message: protocol.write(json.dumps({"cell": message}) + "\n"))
        if sandboxed:
            clean_sandbox(keep)
        answer["cells"] = []  # already relayed, one line each
        protocol.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
