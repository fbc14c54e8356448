"""A pre-warmed parent that forks one child per job and never reads a job's data.

The parent (:func:`serve`) reads only control messages on its control socket (a SOCK_SEQPACKET socket, one JSON
object per message): ``{"run": n}`` with exactly one file descriptor attached (SCM_RIGHTS), and ``{"kill": n}``.
For "run" it forks; the child closes every other descriptor and runs ``handle(job_socket)``: the job's data goes
over that socket straight between the child and the grader, so the parent's memory never holds it (and a later
child, a copy of the parent, cannot find it there). The parent answers ``{"ended": n, "code": ..., "signal":
...}`` when the child ends, and ``{"ready": true}`` once at start. The grading sandbox's zygote
(autograder.student.zygote) and the grader's judge server (autograder.judge_server) are both built on it.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
from collections.abc import Callable

CONTROL_MESSAGE_BYTES = 4096


def send_control(control: socket.socket, message: dict, fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(control, [data], fds)
    else:
        control.send(data)


def _child(control: socket.socket, job: socket.socket, handle: Callable[[socket.socket], int]) -> None:
    code = 70
    try:
        control.close()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        keep = sorted({0, 1, 2, job.fileno()})
        for low, high in zip(keep, keep[1:] + [os.sysconf("SC_OPEN_MAX")], strict=True):
            os.closerange(low + 1, high)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        code = handle(job)
    except BaseException:  # noqa: BLE001 - the child never returns into the server's loop
        code = 70
    finally:
        os._exit(code)


def serve(control: socket.socket, handle: Callable[[socket.socket], int]) -> None:
    """Run until the control socket closes (the grader is gone, or killed this server's session)."""
    running: dict[int, tuple[int, int]] = {}  # pidfd -> (job number, pid)
    by_job: dict[int, int] = {}  # job number -> pid
    send_control(control, {"ready": True, "pid": os.getpid()})
    try:
        while True:
            readable, _, _ = select.select([control, *running], [], [])
            for ready in readable:
                if ready is control:
                    try:
                        data, fds, _flags, _addr = socket.recv_fds(control, CONTROL_MESSAGE_BYTES, 4)
                    except OSError:
                        return
                    if not data:
                        return
                    message = json.loads(data)
                    if "kill" in message:
                        pid = by_job.get(message["kill"])
                        if pid is not None:
                            try:
                                os.kill(pid, signal.SIGKILL)
                            except ProcessLookupError:
                                pass
                        continue
                    if "run" in message and len(fds) == 1:
                        job = socket.socket(fileno=fds[0])
                        pid = os.fork()
                        if pid == 0:
                            _child(control, job, handle)
                        job.close()
                        running[os.pidfd_open(pid)] = (message["run"], pid)
                        by_job[message["run"]] = pid
                    else:
                        for fd in fds:
                            os.close(fd)
                else:
                    number, pid = running.pop(ready)
                    os.close(ready)
                    by_job.pop(number, None)
                    _, status = os.waitpid(pid, 0)
                    code = os.waitstatus_to_exitcode(status)
                    send_control(control, {"ended": number, "code": code if code >= 0 else None,
                                           "signal": -code if code < 0 else None})
    finally:
        for _number, pid in running.values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
