"""Runs one submission's notebook in its own sandbox, on a pool of pre-warmed zygotes (host side).

A zygote (autograder.student.zygote) runs inside bubblewrap (autograder.sandbox) and forks a monitor per job; the
monitor isolates the submission (autograder.student.isolation). This module starts the zygotes, hands each job a
socket of its own (passed to the zygote as a file descriptor; the zygote never reads it), sends the job through
it, reads the cell messages back through the trust boundary (autograder.boundary) under the time and size limits,
and ends the job. ``SandboxPool.run(job) -> run dict`` is the unit "one submission, one sandbox, on this
machine" that any executor (the local thread pool, a Dask worker) calls the same way.

The run dict: {"job", "status": ok|timeout|crashed|too_large|error, "ended": how the process ended or None,
"cells": [clean cell messages], "seconds"}.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from . import sandbox
from .boundary import BoundaryError, LineReader, clean_cell_message, clean_text, parse_line
from .sandbox import CgroupFactory, Limits, ResourceGroup

READY_TIMEOUT_S = 180.0  # a zygote imports torch and IPython: seconds on an idle machine, more under load
END_TIMEOUT_S = 15.0  # after a job's kill, until its monitor has been reaped
CELL_GRACE_S = 5.0  # beyond a cell's limit before a cell that ignores its interrupt is stopped


class ForkServerDied(RuntimeError):
    pass


class PoolClosed(RuntimeError):
    """The pool was closed while a grading thread still needed a new zygote (the batch is stopping)."""


class ClusterLost(BaseException):  # ends the batch, like KeyboardInterrupt
    """The machines that run the sandboxes are gone (a Dask cluster's scheduler: autograder.distributed). Not an
    Exception on purpose: the batch's per-submission handlers must let it through instead of writing an error row;
    the command catches it, says what happened, and a later run of the same command grades what is missing."""


class ForkServer:
    """The host's handle on a process running autograder.student.forkserver.serve (a zygote, the judge server)."""

    def __init__(self, argv_for: callable, env: dict, log, preexec=None, name: str = "fork server"):
        control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.name = name
        self.control = control
        self.process = subprocess.Popen(argv_for(theirs.fileno()), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                        env=env, pass_fds=(theirs.fileno(),), start_new_session=True,
                                        preexec_fn=preexec)
        theirs.close()
        self._lock = threading.Lock()  # one sender at a time on the control socket
        self._changed = threading.Condition()
        self._ended: dict[int, dict] = {}
        self.ready = False
        self.dead = False
        self._reader = threading.Thread(target=self._read_control, daemon=True, name=f"{name} control")
        self._reader.start()

    def _read_control(self) -> None:
        try:
            while True:
                data = self.control.recv(4096)
                if not data:
                    break
                message = json.loads(data)
                with self._changed:
                    if message.get("ready"):
                        self.ready = True
                    elif "ended" in message:
                        self._ended[int(message["ended"])] = message
                    self._changed.notify_all()
        except (OSError, ValueError):
            pass
        with self._changed:
            self.dead = True
            self._changed.notify_all()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self.ready or self.dead, timeout):
                raise ForkServerDied(f"the {self.name} did not start within {timeout:g} s (see worker.log)")
            if self.dead:
                raise ForkServerDied(f"the {self.name} failed to start (see worker.log)")

    def start_job(self, number: int) -> socket.socket:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with self._lock:
                socket.send_fds(self.control, [json.dumps({"run": number}).encode()], [theirs.fileno()])
        except OSError as error:
            ours.close()
            raise ForkServerDied(f"the {self.name} is gone ({error})") from error
        finally:
            theirs.close()
        return ours

    def kill_job(self, number: int) -> None:
        try:
            with self._lock:
                self.control.send(json.dumps({"kill": number}).encode())
        except OSError:
            pass

    def wait_ended(self, number: int, timeout: float) -> dict | None:
        with self._changed:
            self._changed.wait_for(lambda: number in self._ended or self.dead, timeout)
            return self._ended.pop(number, None)

    def kill(self, wait: bool = True) -> None:
        try:  # the whole session: bwrap, whose exit ends every process in its PID namespace
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.kill()
        except ProcessLookupError:
            pass
        if wait:
            self.process.wait()

    def close(self) -> None:
        """Ends the server at once: it holds nothing to save (a job still running is killed with it), and a torch
        process takes most of a second to exit by itself."""
        self.kill()
        self.control.close()


DEVICE = re.compile(r"^(cpu|cuda(:[0-9]+)?)$")


def check_device(device: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N``: what the notebook gets as VAE_DEVICE (vaelib.get_device)."""
    if not DEVICE.match(device or ""):
        raise ValueError(f"device {device!r}: use cpu, cuda or cuda:N")
    return device


def log_line(log, text: str) -> None:
    if log is not subprocess.DEVNULL:
        log.write(f"autograder: {text}\n".encode())
        log.flush()


def describe_end(ended: dict | None) -> str | None:
    if not ended:
        return None
    if ended.get("signal"):
        return f"killed by signal {ended['signal']}"
    code = ended.get("code")
    if code is not None and code > 128:
        return f"killed by signal {code - 128}"
    return f"exit code {code}"


class SandboxPool:
    """``size`` zygotes, each in its own bubblewrap sandbox as its own uid and in its own cgroup (when sandboxed).
    ``run(job)`` is safe to call from several threads; each call borrows one idle zygote."""

    def __init__(self, size: int, threads_per_job: int = 1, log_path: Path | None = None, sandboxed: bool = True,
                 limits: Limits | None = None, assignment_files: Path | None = None, device: str = "cpu",
                 preload: tuple[str, ...] = ()):
        self.size = max(1, size)
        self.preload = tuple(preload)  # what the zygotes import before forking (autograder.source.notebook_imports)
        self.sandboxed = sandboxed
        self.limits = limits or Limits()
        self.assignment_files = assignment_files
        self.threads_per_job = threads_per_job
        self.device = check_device(device)  # the notebook's VAE_DEVICE; "cuda": the sandbox gets the GPU's devices
        self.gpu = self.device.startswith("cuda")
        self.cgroups = CgroupFactory(self.limits) if sandboxed else None
        self._log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self._idle: queue.Queue[ForkServer] = queue.Queue()
        self._all: list[ForkServer] = []
        self._closed = False
        self._groups: dict[int, ResourceGroup] = {}
        self._uids: dict[int, sandbox.UidClaim] = {}
        self._baselines: dict[int, set[int]] = {}  # the processes of each zygote's cgroup between jobs
        self._numbers = itertools.count(1)
        self._spawned = 0
        self._lock = threading.Lock()
        for _ in range(self.size):  # start them all now: they import torch in parallel
            self._idle.put(self._spawn())

    @property
    def limits_note(self) -> str | None:
        """Why memory and process limits are weaker than intended (shown once per batch), or None."""
        if self.cgroups is not None and not self.cgroups.available:
            if self.gpu:
                return (f"no cgroup for the sandbox ({self.cgroups.reason}): with --device cuda the memory of a "
                        f"submission is NOT limited (CUDA cannot start under RLIMIT_AS)")
            return (f"no cgroup for the sandbox ({self.cgroups.reason}): memory is limited per process "
                    f"(RLIMIT_AS {self.limits.memory_bytes >> 20} MiB), which shared memory escapes")
        return None

    def _spawn(self) -> ForkServer:
        with self._lock:
            self._spawned += 1
            number = self._spawned
        config = {"sandboxed": self.sandboxed, "tmp_bytes": self.limits.tmp_bytes,
                  "shm_bytes": self.limits.shm_bytes, "preload": list(self.preload)}
        if self.sandboxed:
            # a uid no other zygote on this machine holds (another batch, another Dask worker), and a replacement
            # never shares a uid with a sandbox still dying
            claim = sandbox.claim_uid(number)
            group = self.cgroups.make(f"zygote-{number}") if self.cgroups.available else None

            def argv_for(fd: int) -> list[str]:
                inner = sandbox.zygote_argv(json.dumps(dict(config, control_fd=fd)), sandboxed=True)
                return sandbox.command(inner, claim.uid, self.assignment_files, gpu=self.gpu)

            def preexec() -> None:
                if group is not None:
                    group.attach_self()
                sandbox.apply_rlimits(self.limits, address_space=not self.gpu)

            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}  # bwrap clears it and sets its own
            server = ForkServer(argv_for, env, self._log, preexec, name="grading sandbox")
            with self._lock:
                self._uids[id(server)] = claim
                if group is not None:
                    self._groups[id(server)] = group
        else:
            def argv_for(fd: int) -> list[str]:
                return sandbox.zygote_argv(json.dumps(dict(config, control_fd=fd)), sandboxed=False)

            env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS=str(self.threads_per_job))
            server = ForkServer(argv_for, env, self._log, name="grading process")
        with self._lock:
            self._all.append(server)
            closed = self._closed
        if closed:  # close() ran meanwhile (Ctrl-C while a crashed zygote was replaced): this one goes too
            self._retire(server)
            raise PoolClosed("the grading pool was closed")
        return server

    @staticmethod
    def _only(group: ResourceGroup, baseline: set[int], wait_s: float = 2.0) -> bool:
        """True when the group holds only the baseline processes again (the last processes of a PID namespace may
        take a moment to finish exiting after its init was reaped)."""
        deadline = time.monotonic() + wait_s
        while group.processes() - baseline:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _retire(self, server: ForkServer) -> None:
        server.kill()
        with self._lock:
            self._baselines.pop(id(server), None)
            group = self._groups.pop(id(server), None)
            claim = self._uids.pop(id(server), None)
            if server in self._all:
                self._all.remove(server)
        if group is not None:
            group.remove()
        if claim is not None:
            claim.release()

    def _replace(self, server: ForkServer) -> ForkServer:
        self._retire(server)
        return self._spawn()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Until every zygote has started; raises ForkServerDied (the first failure) if one cannot start."""
        deadline = time.monotonic() + timeout
        with self._lock:
            servers = list(self._all)
        for server in servers:
            server.wait_ready(max(0.0, deadline - time.monotonic()))

    def run(self, job: dict) -> dict:
        server = self._idle.get()
        try:
            try:
                server.wait_ready()
            except ForkServerDied as error:
                server = self._replace(server)
                return {"job": job.get("job"), "status": "error", "ended": str(error), "cells": [], "seconds": 0.0}
            group = self._groups.get(id(server))
            if group is not None:
                if id(server) not in self._baselines:
                    self._baselines[id(server)] = group.processes()
                elif not self._only(group, self._baselines[id(server)]):
                    # defence in depth: every process of the previous job ends with its PID namespace; if any
                    # survived, the whole sandbox goes before another submission could share its cgroup with them
                    log_line(self._log, "a job left processes in its sandbox's cgroup; the sandbox was replaced")
                    server = self._replace(server)
                    server.wait_ready()
            result, healthy = self._run_on(server, job)
            if not healthy:
                server = self._replace(server)
            return result
        finally:
            self._idle.put(server)

    def _run_on(self, server: ForkServer, job: dict) -> tuple[dict, bool]:
        number = next(self._numbers)
        start = time.monotonic()
        try:
            sock = server.start_job(number)
        except ForkServerDied as error:
            return {"job": job.get("job"), "status": "error", "ended": str(error), "cells": [], "seconds": 0.0}, False
        cells, status, note = [], "ok", None
        try:
            payload = dict(job, threads=job.get("threads", self.threads_per_job), device=self.device,
                           files_dir=sandbox.ASSIGNMENT_FILES if self.sandboxed else job.get("files_dir"))
            sock.sendall(json.dumps(payload).encode() + b"\n")
            status, note = self._collect(sock, job, cells, start)
        except OSError as error:  # the process died before it read its job
            status, note = "crashed", f"the notebook's process could not be reached ({error.strerror})"
        ended = None
        if status == "crashed" and note is None:  # it ended by itself: let its monitor report how
            ended = server.wait_ended(number, 2.0)
        if ended is None:
            server.kill_job(number)  # whatever it left running ends with it
            ended = server.wait_ended(number, END_TIMEOUT_S)
        sock.close()
        healthy = ended is not None
        how = None if status == "ok" else note or describe_end(ended)
        if not healthy:
            how = (how + "; " if how else "") + "the sandbox did not report the end of the job and was restarted"
        return {"job": job.get("job"), "status": status, "ended": how, "cells": cells,
                "seconds": round(time.monotonic() - start, 3)}, healthy

    def _collect(self, sock: socket.socket, job: dict, cells: list, start: float) -> tuple[str, str | None]:
        """Read cell messages until {"done": true}, the end of the stream, or a limit. Returns (status, note)."""
        reader = LineReader(sock)
        positions = {cell["position"] for cell in job["cells"]}
        deadline = start + float(job["notebook_timeout_s"])
        cell_limit = float(job["cell_timeout_s"]) + CELL_GRACE_S
        cell_deadline = time.monotonic() + cell_limit
        while True:
            now = time.monotonic()
            try:
                line = reader.next_line(min(deadline, cell_deadline))
            except TimeoutError:
                if time.monotonic() >= deadline:
                    return "timeout", None
                return "crashed", f"a cell ignored its time limit of {job['cell_timeout_s']:g} s and was stopped"
            except BoundaryError as error:
                return "too_large", str(error)
            if line is None:
                return "crashed", None
            try:
                message = parse_line(line)
                if isinstance(message, dict) and message.get("done") is True:
                    return "ok", None
                if isinstance(message, dict) and isinstance(message.get("fatal"), str):
                    return "error", f"the grading sandbox could not run the notebook: {clean_text(message['fatal'])}"
                message = clean_cell_message(message, positions)
            except BoundaryError as error:
                return "error", f"the notebook's process broke the grading protocol ({error})"
            positions.discard(message["position"])  # each cell reports once
            cells.append(message)
            cell_deadline = max(now, time.monotonic()) + cell_limit

    def close(self) -> None:
        """Ends every zygote and releases their cgroups and uids. Safe while grading threads still run (Ctrl-C):
        a zygote they replace afterwards is ended at once (PoolClosed)."""
        with self._lock:
            self._closed = True
            servers, groups, claims = list(self._all), list(self._groups.values()), list(self._uids.values())
            self._groups.clear()
            self._uids.clear()
        for server in servers:  # all killed first, then waited for: their exits overlap
            server.kill(wait=False)
        for server in servers:
            server.close()
        for group in groups:
            group.remove()
        for claim in claims:
            claim.release()
        if self.cgroups is not None:
            self.cgroups.remove_all()
        if self._log is not subprocess.DEVNULL:
            self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
