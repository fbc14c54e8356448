"""The grading sandbox's zygote: ``python -I -c '...zygote.main()' CONFIG`` inside bubblewrap (autograder.sandbox).

It imports torch, numpy, IPython, the student-side checks and what the assignment's notebook imports ONCE, makes
itself non-dumpable, and then serves jobs (autograder.student.forkserver): per submission it forks a monitor, which
creates the submission's own namespaces (autograder.student.isolation) and forks the submission's first process.
The zygote never reads a submission's data, so nothing of one student is in the memory the next one is forked from.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import tempfile

from . import forkserver, isolation

DEFAULT_TMP_BYTES = 512 << 20
DEFAULT_SHM_BYTES = 64 << 20
FONT_CACHE = "/opt/fontcache"  # matplotlib's font list, bound read-only by the grader (autograder.sandbox.command)


def copy_font_list() -> None:
    """The grader's matplotlib font list (FONT_CACHE), copied where matplotlib looks for it
    (MPLCONFIGDIR, the zygote's own /tmp) before matplotlib is imported; without it matplotlib scans every font."""
    import shutil

    source = FONT_CACHE
    if not os.path.isdir(source) or not os.environ.get("MPLCONFIGDIR"):
        return
    os.makedirs(os.environ["MPLCONFIGDIR"], exist_ok=True)
    for name in os.listdir(source):
        try:
            shutil.copyfile(os.path.join(source, name), os.path.join(os.environ["MPLCONFIGDIR"], name))
        except OSError:
            pass  # matplotlib then builds its own list


def preload(modules: list[str] | tuple[str, ...] = ()):
    """Import, once, what every submission needs (torch, numpy, IPython, the checks) and ``modules``: what the
    assignment's notebook imports (autograder.source.notebook_imports). A module that cannot be imported here is left
    for the notebook to fail on, with its own error."""
    import importlib

    copy_font_list()
    import numpy  # noqa: F401
    import torch  # noqa: F401

    import autograder.checks  # noqa: F401  (registers the probes)

    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - the notebook reports it when it imports the module itself
            print(f"zygote: could not preload {name}: {type(error).__name__}: {error}", file=sys.stderr)
    from .cellrunner import make_shell

    return make_shell()


def report_fatal(job: socket.socket, error: BaseException) -> None:
    """Tell the grader why this submission could not be run (e.g. the kernel refuses user namespaces)."""
    import traceback

    text = "".join(traceback.format_exception_only(type(error), error)).strip()[:2000]
    try:
        job.sendall(json.dumps({"fatal": text}).encode() + b"\n")
    except OSError:
        pass


# The submission's PID namespace needs an init (PID 1), which the kernel treats specially (it ignores every
# signal it has no handler for) and which must die with the monitor. A tiny program is spawned for it, cheaply
# (no copy of the zygote's memory), with no capability and killed by the kernel when the monitor dies; the
# submission itself is then an ordinary process of that namespace.
NAMESPACE_INIT = ["/usr/bin/setpriv", "--pdeathsig", "KILL", "--inh-caps=-all", "--bounding-set=-all",
                  "--securebits=+noroot,+noroot_locked,+no_setuid_fixup,+no_setuid_fixup_locked,+keep_caps_locked",
                  "--", "/usr/bin/sleep", "infinity"]


def isolated_monitor(shell, config: dict):
    """The per-job handler of a sandboxed zygote. The monitor (this forked child) makes the submission's
    namespaces and file systems, spawns the namespace's init, forks the submission and waits for it. Killing the
    monitor ends the submission: the init dies with its parent, and with the init every process of the PID
    namespace; the submission's own process also dies with the monitor. Also used outside bubblewrap by `check`
    (``config["namespaces"]``): then the file system is the real one, so the folders in ``config["hide"]`` (/run:
    the session bus and other sockets of the user's services) are covered by empty file systems and Landlock
    (``config["landlock"]``) allows writes only to the private /tmp and /dev/shm."""

    def handle(job: socket.socket) -> int:
        isolation.new_namespaces()
        isolation.enter_private_filesystem(config["tmp_bytes"], config["shm_bytes"], hide=config.get("hide", ()))
        init = os.posix_spawn(NAMESPACE_INIT[0], NAMESPACE_INIT, {"PATH": "/usr/bin:/bin"})
        alive_read, alive_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                os.close(alive_write)
                isolation.die_with_parent(signal.SIGKILL)
                if select.select([alive_read], [], [], 0)[0] and not os.read(alive_read, 1):
                    os._exit(code)  # the monitor died before the line above took effect
                os.close(alive_read)
                isolation.set_dumpable(True)  # its own /proc files (oom_score_adj) become its own
                isolation.prefer_oom_kill()  # inherited by the submission's processes
                isolation.set_dumpable(False)
                isolation.new_session_keyring()
                isolation.drop_privileges()
                os.setsid()
                if config.get("landlock"):  # `check` outside bubblewrap: the real file system, read-only but /tmp
                    isolation.restrict_writes(["/tmp", "/dev/shm"])
                from .child import run_submission

                code = run_submission(job, shell, "/tmp")
            except BaseException as error:  # noqa: BLE001
                report_fatal(job, error)
                code = 70
            finally:
                os._exit(code)
        os.close(alive_read)
        job.close()
        isolation.drop_privileges()  # the monitor only waits from here on
        _, status = os.waitpid(pid, 0)
        os.kill(init, signal.SIGKILL)  # and with the init, whatever the submission left running
        os.waitpid(init, 0)
        os.close(alive_write)
        code = os.waitstatus_to_exitcode(status)
        return code if code >= 0 else 128 - code

    return handle


def plain_monitor(shell, config: dict):
    """--no-sandbox: the submission runs in a forked process group with a private temporary folder, nothing more. The
    monitor dies with the zygote and the submission with the monitor (the grader ends a job by killing its monitor),
    though processes the submission starts in sessions of their own may outlive it (the README says so). With
    ``config["landlock"]`` (the student's `check` where no bubblewrap sandbox exists) the submission may write only
    beneath its private folder and cannot signal or ptrace anything outside it (isolation.restrict_writes)."""

    def handle(job: socket.socket) -> int:
        isolation.die_with_parent(signal.SIGKILL)
        root = tempfile.mkdtemp(prefix="autograder-job-")
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                isolation.die_with_parent(signal.SIGKILL)
                os.setsid()
                if config.get("landlock"):  # `check` without bubblewrap: writes only beneath its own folder
                    isolation.restrict_writes([root])
                from .child import run_submission

                code = run_submission(job, shell, root)
            except BaseException as error:  # noqa: BLE001
                report_fatal(job, error)
                code = 70
            finally:
                os._exit(code)
        job.close()
        _, status = os.waitpid(pid, 0)
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        import shutil

        shutil.rmtree(root, ignore_errors=True)
        code = os.waitstatus_to_exitcode(status)
        return code if code >= 0 else 128 - code

    return handle


def main() -> None:
    config = json.loads(sys.argv[1])
    config.setdefault("tmp_bytes", DEFAULT_TMP_BYTES)
    config.setdefault("shm_bytes", DEFAULT_SHM_BYTES)
    control = socket.socket(fileno=int(config["control_fd"]))
    os.dup2(2, 1)  # stray prints while importing go to the log, never into a protocol
    if config.get("sandboxed"):
        if os.getuid() == 0:
            raise SystemExit("the sandboxed zygote must not run as root")
        isolation.set_dumpable(False)  # no process of the same uid can ptrace the zygote or open its /proc files
    shell = preload(config.get("preload", ()))
    monitor = isolated_monitor if config.get("sandboxed") or config.get("namespaces") else plain_monitor
    forkserver.serve(control, monitor(shell, config))
