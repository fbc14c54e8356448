"""Runs jobs on a pool of pre-warmed worker processes (``python -m autograder.worker``).

``WorkerPool.run(job)`` is safe to call from several threads at once; each call borrows one idle worker. A worker
that dies or stops answering is replaced, and the job comes back with status "error" (the batch goes on).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from . import sandbox
from .sandbox import Limits

ANSWER_GRACE_S = 60.0  # beyond the notebook budget, before the worker itself is considered stuck
PACKAGE_PARENT = str(Path(__file__).resolve().parents[1])


class WorkerDied(RuntimeError):
    """The worker ended or broke its protocol mid-job; ``cells`` holds the cells it reported before that."""

    def __init__(self, message: str, cells: list[dict]):
        super().__init__(message)
        self.cells = cells


class Worker:
    def __init__(self, argv: list[str], env: dict, log, preexec=None):
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env,
                                        start_new_session=True, preexec_fn=preexec)
        self.ready = False

    def wait_ready(self) -> None:
        if not self.ready:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("a grading worker failed to start (see worker.log)")
            self.ready = True

    def run(self, job: dict) -> dict:
        """Send the job; collect the cells' messages (one line each, as they finish) and the final answer."""
        self.wait_ready()
        watchdog = threading.Timer(float(job["notebook_timeout_s"]) + ANSWER_GRACE_S, self.kill)
        watchdog.start()
        cells: list[dict] = []
        try:
            self.process.stdin.write(json.dumps(job).encode() + b"\n")
            self.process.stdin.flush()
            while True:
                line = self.process.stdout.readline()
                if not line:
                    raise WorkerDied("the grading worker stopped", cells)
                message = json.loads(line)
                if "cell" in message:
                    cells.append(message["cell"])
                    continue
                message["cells"] = cells
                return message
        except (OSError, ValueError) as error:
            raise WorkerDied(f"the grading worker failed ({error})", cells) from error
        finally:
            watchdog.cancel()

    def kill(self) -> None:
        try:  # the whole session: bwrap (PID 1 of the sandbox, whose exit ends every process in it) or the worker
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.kill()
        except ProcessLookupError:
            pass

    def close(self) -> None:
        try:
            self.process.stdin.write(b'{"quit": true}\n')
            self.process.stdin.close()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            self.kill()


class WorkerPool:
    """``size`` workers. With ``sandbox`` each runs inside its own bubblewrap sandbox (autograder.sandbox) as its own
    non-root uid, and ``assignment_files`` (a host folder) appears read-only at /assignment inside."""

    def __init__(self, size: int, threads_per_worker: int = 1, log_path: Path | None = None, sandbox: bool = True,
                 limits: Limits | None = None, assignment_files: Path | None = None):
        self.size = max(1, size)
        self.sandbox = sandbox
        self.limits = limits or Limits()
        self.assignment_files = assignment_files
        self._ipython_dir = tempfile.TemporaryDirectory(prefix="ipython-")
        if sandbox:  # bwrap clears the environment; the sandbox sets its own (autograder.sandbox.command)
            self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        else:
            self.env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS=str(threads_per_worker),
                            MKL_NUM_THREADS=str(threads_per_worker), IPYTHONDIR=self._ipython_dir.name,
                            PYTHONPATH=os.pathsep.join(filter(None, [PACKAGE_PARENT,
                                                                     os.environ.get("PYTHONPATH")])))
        self._log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self._idle: queue.Queue[Worker] = queue.Queue()
        self._all: list[Worker] = []
        self._slots: dict[int, int] = {}  # id(worker) -> slot
        self._spawned = 0  # workers started so far; picks each one's sandbox uid
        self._lock = threading.Lock()
        for slot in range(self.size):  # start them all now: they import torch in parallel
            self._idle.put(self._spawn(slot))

    def _spawn(self, slot: int) -> Worker:
        inner = [sys.executable, "-m", "autograder.worker"]
        if self.sandbox:
            with self._lock:  # a replacement never shares a uid (and so RLIMIT_NPROC) with a sandbox still dying
                self._spawned += 1
                uid = sandbox.uid_for_slot(self._spawned)
            argv = sandbox.command(inner + ["--sandboxed"], uid, self.limits, self.assignment_files)
            worker = Worker(argv, self.env, self._log, preexec=sandbox.apply_limits(self.limits))
        else:
            worker = Worker(inner, self.env, self._log)
        with self._lock:
            self._all.append(worker)
            self._slots[id(worker)] = slot
        return worker

    def run(self, job: dict) -> dict:
        worker = self._idle.get()
        try:
            result = worker.run(job)
        except (WorkerDied, RuntimeError) as error:  # the cells that finished before it died still count
            worker.kill()
            with self._lock:
                slot = self._slots.pop(id(worker), 0)
            worker = self._spawn(slot)
            return {"job": job.get("job"), "status": "error", "ended": f"grading worker failure: {error}",
                    "cells": getattr(error, "cells", []), "seconds": 0.0}
        finally:
            self._idle.put(worker)
        return result

    def close(self) -> None:
        with self._lock:
            workers = list(self._all)
        for worker in workers:
            worker.close()
        if self._log is not subprocess.DEVNULL:
            self._log.close()
        self._ipython_dir.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
