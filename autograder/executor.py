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

import contextlib
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
from .student.cellrunner import wall_cap

READY_TIMEOUT_S = 600.0  # a zygote imports torch and IPython: 2-3 CPU-s, which a busy machine may stretch to minutes
# (a zygote that cannot start dies at once: this only bounds a hang)
END_TIMEOUT_S = 15.0  # after a job's kill, until its monitor has been reaped
CELL_GRACE_S = 5.0  # beyond a cell's limit (CPU, or the wall-clock cap) before a cell that ignores its interrupt is
# stopped


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


POLL_S = 0.25  # how often a running job's CPU time is read while no message arrives
CONTENDED_SHARE = 0.5  # a wall-clock timeout is "contended" when a thread of the submission spent at least this
# share of its non-running time waiting for a CPU (ready to run) rather than sleeping or waiting for input
HOG_DEMAND = 3.0  # runnable threads on average (running or waiting), per thread given: it wanted far more than its
# share; a timeout it caused that way is never "contended", and its row names it (autograder.grading)


class RunClock:
    """The time a job has used: CPU seconds of every process of the submission, read by the grader from its
    zygote's cgroup or, without one, from /proc (sandbox.ProcessTree); wall-clock seconds; the time it waited for a
    CPU while ready to run (/proc); and how long the group's CPU quota held it back (it wanted more than its share).
    With neither (``group`` None: a test's fake pool) the cells' own reports are summed."""

    def __init__(self, group: ResourceGroup | sandbox.ProcessTree | None):
        self.group = group if group is not None and group.counts_cpu else None
        self.counts_cpu = self.group is not None
        self.start = time.monotonic()
        self.start_cpu = self._cpu()
        self.start_throttled = self.group.throttled_seconds() if self.group else 0.0
        self.reported_cpu = 0.0  # without a cgroup: the finished cells' own reports
        self.timeout: str | None = None  # "cpu" or "wall" when the notebook's budget ended the job
        self.contended = False
        self.waited = 0.0

    def _cpu(self) -> float:
        if self.group is not None:
            value = self.group.cpu_seconds()
            if value is not None:
                return value
        return 0.0

    def _waits(self) -> dict[int, float]:
        return self.group.waited_seconds() if self.group is not None else {}

    def start_cell(self) -> None:
        self.cell_start, self.cell_cpu = time.monotonic(), self._cpu()
        self.cell_waits = self._waits()

    def cell_usage(self) -> tuple[float, float]:
        return self._cpu() - self.cell_cpu, time.monotonic() - self.cell_start

    def notebook_usage(self) -> tuple[float, float]:
        if self.counts_cpu:
            return self._cpu() - self.start_cpu, time.monotonic() - self.start
        return self.reported_cpu, time.monotonic() - self.start

    def _waited_in_cell(self) -> tuple[float, float]:
        if self.group is None:
            return 0.0, 0.0
        return sandbox.waited_since(self.cell_waits, self._waits())

    def end_cell(self, message: dict, limit: float) -> None:
        """Put the host's measurements on a cell's message and start timing the next cell."""
        cpu, wall = self.cell_usage()
        waited, most = self._waited_in_cell()
        self.waited += waited
        if self.counts_cpu:
            message["cpu_seconds"] = round(cpu, 3)
        else:
            cpu = float(message.get("cpu_seconds") or 0.0)
            self.reported_cpu += cpu
        message["seconds"] = round(wall, 3)
        message["waited_seconds"] = round(waited, 3)
        if message.get("status") == "timeout" and message.get("timeout_kind") == "wall":
            # the host's own clock must agree that the cap was reached (a cell's message can say anything)
            reached = wall >= wall_cap(limit) - POLL_S
            message["contended"] = reached and self._contended(cpu, wall, waited, most)
            self.contended = self.contended or message["contended"]
        self.start_cell()

    def _contended(self, cpu: float, wall: float, waited: float, most: float) -> bool:
        """Did the machine hold the submission back, rather than the submission sleep or crowd itself? A thread of
        it waited for a CPU for at least CONTENDED_SHARE of the time it was not running, and the submission did not
        want far more than its share (its threads' running and waiting: a herd of its own processes)."""
        if not self.counts_cpu:  # no measurement of waiting: assume the machine, so that a rerun alone decides
            return True
        crowded = wall > 0 and (cpu + waited) / wall > HOG_DEMAND
        return not crowded and most >= CONTENDED_SHARE * max(0.0, wall - cpu)

    def note_wall_timeout(self, cpu: float, wall: float, notebook: bool = False) -> None:
        waited, most = sandbox.waited_since({}, self._waits()) if notebook else self._waited_in_cell()
        self.timeout = "wall"
        self.contended = self.contended or self._contended(cpu, wall, waited, most)

    def summary(self) -> dict:
        """What the run dict says about time (trusted: measured here, or marked as reported)."""
        cpu, wall = self.notebook_usage()
        throttled = (self.group.throttled_seconds() - self.start_throttled) if self.group else 0.0
        return {"cpu_seconds": round(cpu, 3), "cpu_counted": self.counts_cpu, "waited_seconds": round(self.waited, 3),
                "throttled_seconds": round(max(0.0, throttled), 3), "contended": self.contended,
                "budget_timeout": self.timeout}


class Gate:
    """Jobs run side by side (``shared``) or ``alone``: an alone job waits until the running ones end, and holds
    back every job that would start meanwhile (a notebook that hit its wall-clock cap on a busy machine runs again
    alone before its timeout stands: autograder.grading)."""

    def __init__(self):
        self._changed = threading.Condition()
        self._running = 0
        self._alone = False
        self._waiting_alone = 0

    @contextlib.contextmanager
    def shared(self):
        with self._changed:
            self._changed.wait_for(lambda: not self._alone and not self._waiting_alone)
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    @contextlib.contextmanager
    def alone(self):
        with self._changed:
            self._waiting_alone += 1
            self._changed.wait_for(lambda: not self._alone and self._running == 0)
            self._waiting_alone -= 1
            self._alone = True
        try:
            yield
        finally:
            with self._changed:
                self._alone = False
                self._changed.notify_all()


class SandboxPool:
    """``size`` zygotes, each in its own bubblewrap sandbox as its own uid and in its own cgroup (when sandboxed).
    ``run(job)`` is safe to call from several threads; each call borrows one idle zygote."""

    def __init__(self, size: int, threads_per_job: int = 1, log_path: Path | None = None, sandboxed: bool = True,
                 limits: Limits | None = None, assignment_files: Path | None = None, device: str = "cpu",
                 preload: tuple[str, ...] = (), landlock: bool = False, namespaces: bool = False):
        self.size = max(1, size)
        # not root (a student's `check`): bubblewrap in the user's own user namespace, no uid of its own, no cgroup
        self.user_sandbox = sandboxed and os.geteuid() != 0
        # outside bubblewrap (`check`): Landlock lets the job write only beneath its folder; with ``namespaces`` the
        # job also gets the sandbox's own namespaces (autograder.student.zygote.isolated_monitor), /run hidden
        self.landlock = (landlock or namespaces) and not sandboxed
        self.namespaces = namespaces and not sandboxed
        self.preload = tuple(preload)  # what the zygotes import before forking (autograder.source.notebook_imports)
        self.sandboxed = sandboxed
        self.limits = limits or Limits()
        self.assignment_files = assignment_files
        self.threads_per_job = threads_per_job
        self.device = check_device(device)  # the notebook's VAE_DEVICE; "cuda": the sandbox gets the GPU's devices
        self.gpu = self.device.startswith("cuda")
        # one equal CPU share per zygote, at most threads_per_job cores each, and the batch weighted by its size; the
        # memory and process limits only for the sandbox (--no-sandbox: CPU shares and accounting only)
        self.cgroups = CgroupFactory(self.limits if sandboxed else None, workers=self.size)
        self._gate = Gate()
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
        """Why memory, process or CPU limits are weaker than intended (shown once per batch), or None."""
        if not self.sandboxed:
            return None
        if self.cgroups.available and not self.cgroups.counts_cpu:
            return (f"no CPU cgroup for the sandbox ({self.cgroups.cpu_reason}): a submission's CPU time is read "
                    "from /proc (a process that leaves its process tree is not counted) and its CPU share is not "
                    "protected from its neighbours")
        if not self.cgroups.available:
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
                  "shm_bytes": self.limits.shm_bytes, "preload": list(self.preload), "landlock": self.landlock,
                  "namespaces": self.namespaces, "hide": ["/run"] if self.namespaces else []}
        if self.sandboxed:
            # a uid no other zygote on this machine holds (another batch, another Dask worker), and a replacement
            # never shares a uid with a sandbox still dying; a user's own sandbox runs as the user
            claim = None if self.user_sandbox else sandbox.claim_uid(number)
            group = (self.cgroups.make(f"zygote-{number}", threads=self.threads_per_job) if self.cgroups.available
                     else None)

            def argv_for(fd: int) -> list[str]:
                inner = sandbox.zygote_argv(json.dumps(dict(config, control_fd=fd)), sandboxed=True)
                return sandbox.command(inner, claim.uid if claim else None, self.assignment_files, gpu=self.gpu)

            def preexec() -> None:
                if group is not None:
                    group.attach_self()
                sandbox.apply_rlimits(self.limits, address_space=not self.gpu, processes=claim is not None)

            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}  # bwrap clears it and sets its own
            server = ForkServer(argv_for, env, self._log, preexec, name="grading sandbox")
            with self._lock:
                if claim is not None:
                    self._uids[id(server)] = claim
                if group is not None:
                    self._groups[id(server)] = group
        else:
            group = (self.cgroups.make(f"zygote-{number}", threads=self.threads_per_job) if self.cgroups.counts_cpu
                     else None)

            def argv_for(fd: int) -> list[str]:
                return sandbox.zygote_argv(json.dumps(dict(config, control_fd=fd)), sandboxed=False)

            env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS=str(self.threads_per_job))
            server = ForkServer(argv_for, env, self._log, group.attach_self if group is not None else None,
                                name="grading process")
            if group is not None:
                with self._lock:
                    self._groups[id(server)] = group
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
            with self._gate.alone() if job.get("alone") else self._gate.shared():
                result, healthy = self._run_on(server, job)
            if not healthy:
                server = self._replace(server)
            return result
        finally:
            self._idle.put(server)

    def _run_on(self, server: ForkServer, job: dict) -> tuple[dict, bool]:
        number = next(self._numbers)
        start = time.monotonic()
        group = self._groups.get(id(server))
        clock = RunClock(group if group is not None and group.counts_cpu else sandbox.ProcessTree(server.process.pid))
        try:
            sock = server.start_job(number)
        except ForkServerDied as error:
            return {"job": job.get("job"), "status": "error", "ended": str(error), "cells": [], "seconds": 0.0}, False
        cells, status, note = [], "ok", None
        try:
            payload = dict(job, threads=job.get("threads", self.threads_per_job), device=self.device,
                           files_dir=sandbox.ASSIGNMENT_FILES if self.sandboxed else job.get("files_dir"))
            sock.sendall(json.dumps(payload).encode() + b"\n")
            status, note = self._collect(sock, job, cells, clock)
        except OSError as error:  # the process died before it read its job
            status, note = "crashed", f"the notebook's process could not be reached ({error.strerror})"
        timing = clock.summary()  # now: a process tree read from /proc is gone once the job is ended
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
        return dict({"job": job.get("job"), "status": status, "ended": how, "cells": cells,
                     "seconds": round(time.monotonic() - start, 3)}, **timing), healthy

    def _collect(self, sock: socket.socket, job: dict, cells: list, clock: RunClock) -> tuple[str, str | None]:
        """Read cell messages until {"done": true}, the end of the stream, or a limit. Returns (status, note).

        Limits count CPU time (the zygote's cgroup: every process of the submission; without a cgroup, what the
        submission reports), each with a wall-clock cap (cellrunner.wall_cap) as the backstop against code that
        sleeps. A cell interrupts itself at its limit (cellrunner); one that does not, or that spends its CPU in
        processes it started, is stopped here CELL_GRACE_S later. The host's own measurements (CPU seconds, time
        spent waiting to run) replace what the messages say about them."""
        reader = LineReader(sock)
        order = [cell["position"] for cell in job["cells"]]
        limits = {cell["position"]: float(cell.get("cpu_limit_s") or job["cell_timeout_s"]) for cell in job["cells"]}
        positions = set(order)
        budget = float(job["notebook_timeout_s"])
        clock.start_cell()
        while True:
            current = next((p for p in order if p in positions), None)
            limit = limits.get(current, float(job["cell_timeout_s"]))
            cell_cpu, cell_wall = clock.cell_usage()
            if clock.counts_cpu and cell_cpu > limit + CELL_GRACE_S:
                return "crashed", (f"a cell used more than its CPU time limit of {limit:g} s (in processes it started, "
                                   f"or ignoring its interrupt) and was stopped")
            if cell_wall > wall_cap(limit) + CELL_GRACE_S:
                clock.note_wall_timeout(cell_cpu, cell_wall)
                return "crashed", (f"a cell ignored its wall-clock cap of {wall_cap(limit):g} s and was stopped "
                                   f"(it had used {cell_cpu:.1f} s of CPU time)")
            used, wall = clock.notebook_usage()
            if used > budget:
                clock.timeout = "cpu"
                return "timeout", f"the notebook used up its CPU time budget of {budget:g} s"
            if wall > wall_cap(budget):
                clock.note_wall_timeout(used, wall, notebook=True)
                return "timeout", (f"the notebook ran past its wall-clock cap of {wall_cap(budget):g} s, having used "
                                   f"{used:.1f} of its {budget:g} s of CPU time")
            try:
                line = reader.next_line(time.monotonic() + POLL_S)
            except TimeoutError:
                continue
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
            clock.end_cell(message, limits.get(message["position"], float(job["cell_timeout_s"])))
            cells.append(message)

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
        self.cgroups.remove_all()
        if self._log is not subprocess.DEVNULL:
            self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
