"""Where ``python -m autograder check`` runs the student's notebook: never in the process that scores it.

A notebook handed around by a classmate is as hostile as any submission, so ``check`` runs it the way ``grade``
does, in a child process that cannot reach the checker: the grading sandbox where bubblewrap works (as root the
grader's own; otherwise bubblewrap in the user's own user namespace: the course's files read-only, a private /tmp
as the only place to write, no network); else the sandbox's isolation domain without bubblewrap (user, PID, mount,
network and IPC namespaces, a private /tmp, /run hidden) with Landlock (Linux 5.13+) allowing writes only to the
private /tmp; else Landlock alone (writes beneath a temporary folder only, no TCP, no signals or ptrace outside,
but the user's own service sockets reachable: it says so); else a plain child process in a temporary folder with
its own HOME, which ``check`` says cannot stop code written to change the student's files.

Either way the child gets the notebook's cells over a socket (never its path), its results come back through the
trust boundary (autograder.boundary) as plain data, and this process imports everything it judges with before the
child runs one line of the notebook (the zygote preloads torch meanwhile, autograder.student.zygote), so nothing the
notebook writes can change what judges it.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import sandbox
from .course import UsageError
from .executor import ForkServerDied, SandboxPool
from .grading import new_master_seed, run_with_restarts

PROTECTION = {
    "sandbox": "in the grading sandbox (bubblewrap): it can read the course's files but write none of yours, and "
               "it has no network",
    "namespaces": "in a separate process with namespaces of its own (no network, no other process in sight, a private "
                  "/tmp, /run hidden) that Landlock allows to write only there",
    "landlock": "in a separate process that Landlock allows to write only to a temporary folder of its own, with no "
                "TCP network; it could still reach sockets of your own services (such as a desktop's session bus), "
                "so check only notebooks you trust",
    "none": "in a separate process, in a temporary folder with its own home folder",
}
UNPROTECTED = ("WARNING: neither bubblewrap nor Landlock works here, so code in the notebook that is written to do "
               "so could still change your files (it runs with your rights). Check only notebooks you trust, or "
               "install bubblewrap (Linux: apt-get install bubblewrap). What check reports cannot be changed by "
               "the notebook either way: it is judged in this process.")


@dataclass
class CheckRun:
    run: dict  # the run dict (autograder.executor), messages through the trust boundary
    master_seed: int
    protection: str  # a key of PROTECTION


def protections() -> list[str]:
    """What can protect the student's files here, strongest first."""
    from .student.isolation import landlock_version

    found = ["sandbox"] if sandbox.bwrap_path() else []
    try:
        if landlock_version() >= 1:
            found += ["namespaces", "landlock"] if user_namespaces() else ["landlock"]
    except OSError:
        pass
    return found + ["none"]


def user_namespaces() -> bool:
    """Whether this kernel lets this user make the namespaces of an isolation domain (a child tries, and exits)."""
    import os

    from .student.isolation import IsolationError, new_namespaces

    pid = os.fork()
    if pid == 0:
        try:
            new_namespaces()
            os._exit(0)
        except (IsolationError, OSError):
            os._exit(1)
        finally:
            os._exit(2)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def run_notebook(job: dict, release_dir: Path | None, preload: tuple[str, ...], say) -> CheckRun:
    """Run ``job``'s cells (autograder.assemble.code_cells_for_run) under the strongest protection that starts, and
    return what came back. ``say`` prints a line for the student."""
    seed = new_master_seed()
    job = dict(job, master_seed=seed, files_dir=str(release_dir) if release_dir else None)
    for protection in protections():
        with tempfile.NamedTemporaryFile(prefix="autograder-check-", suffix=".log") as log:
            try:
                pool = SandboxPool(1, log_path=Path(log.name), sandboxed=protection == "sandbox",
                                   assignment_files=release_dir if protection == "sandbox" else None,
                                   preload=preload, landlock=protection == "landlock",
                                   namespaces=protection == "namespaces")
            except (OSError, RuntimeError) as error:
                say(f"(could not start the {protection} protection: {error}; trying the next)")
                continue
            try:
                _import_judging()  # while the child imports torch, before it runs any of the notebook's code
                try:
                    pool.wait_ready()
                except ForkServerDied:
                    say(f"(could not start the {protection} protection: {_tail(Path(log.name))}; trying the next)")
                    continue
                say(f"check runs your notebook's code {PROTECTION[protection]}.")
                if protection == "none":
                    say(UNPROTECTED)
                return CheckRun(run_with_restarts(job, pool.run), seed, protection)
            finally:
                pool.close()
    raise UsageError("check could not start a process to run the notebook in (see the lines above): is this the "
                     "course's Python, and can it start itself again (sys.executable)?")


def _import_judging() -> None:
    from . import judging, scoring  # noqa: F401  (every judge, its references' modules)
    from .judge_server import preload_judging_imports

    preload_judging_imports()


def _tail(path: Path, size: int = 300) -> str:
    try:
        text = path.read_bytes()[-size:].decode("utf-8", "replace").strip()
    except OSError:
        return "no log"
    return text.splitlines()[-1] if text else "no message"
