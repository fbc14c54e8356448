"""The bubblewrap sandbox that every grading worker (and so every student's code) runs in.

One sandbox per worker process; the worker forks one child per submission inside it and, after each submission,
kills every other process of its uid and wipes its private /tmp, so nothing of one student reaches the next.

What the sandbox gives the student's code (see /work/shared/notes/grading-sandbox.md for the measurements):

* its own PID, network, IPC and UTS namespaces: no network at all (only its own loopback), nothing outlives the
  sandbox (bwrap is PID 1 there and ``--die-with-parent``), no view of the grader's processes;
* a non-root uid on the host (``SANDBOX_UID_BASE + n``, a new one per worker started), so RLIMIT_NPROC is enforced
  per sandbox and the grader's
  files are not writable; no capabilities, ``no_new_privs``;
* a read-only view of only what a notebook needs: /usr, the Python installation, the virtual environment, the
  ``autograder`` package and the student-facing part of ``vaelib`` (not the reference implementations, not
  ``solutions/``, ``tests/``, the gradebook, the output folder or other submissions). The ``autograder`` package
  is there because test cells call ``check``; its judging code holds formulas the book prints anyway, but no
  expected value or solution; the seed the worker receives only draws the inputs the student's functions are
  called on, and what they return is judged outside the sandbox;
* a private, size-limited /tmp (the working directory and $HOME), wiped after every submission;
* rlimits: address space, processes, file size, open files, no core dumps;
* a cleared environment: PATH, HOME, LANG and two cache folders, none of which mentions grading.
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

SANDBOX_UID_BASE = 61000
ASSIGNMENT_FILES = "/assignment"  # where the release's data files appear (read-only) inside the sandbox
# The parts of vaelib a notebook may import in the sandbox: data, device choice, run mode and the model classes.
# The reference implementations (probability, estimators, linear_gaussian, pca) stay outside.
VAELIB_STUDENT_MODULES = ("__init__.py", "device.py", "runmode.py", "data.py", "models.py", "plotting.py")

UNPROTECTED_WARNING = """\
WARNING: grading WITHOUT a sandbox (--no-sandbox). Student code runs as {user} with:
  - full network access;
  - read access to everything this user can read: solutions/, hidden tests, the gradebook, other submissions,
    this process's environment variables and secrets;
  - write access to everything this user can write, including the gradebook and the output folder;
  - no memory, process or file-size limits beyond the per-cell and per-notebook time limits;
  - processes it starts with setsid may outlive grading.
Judging still happens outside the student's code path, but only grade trusted submissions this way.
Install bubblewrap (apt-get install bubblewrap) to grade safely."""


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 4 << 30  # RLIMIT_AS: torch imports in about 1.5 GiB of address space
    processes: int = 64  # RLIMIT_NPROC, counted per sandbox uid
    file_bytes: int = 64 << 20  # RLIMIT_FSIZE: largest file the code may write
    open_files: int = 512  # RLIMIT_NOFILE
    tmp_bytes: int = 512 << 20  # size of the private /tmp (tmpfs)


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def sandbox_available() -> bool:
    return bwrap_path() is not None and shutil.which("setpriv") is not None


def _package_dir(name: str) -> Path:
    module = __import__(name)
    return Path(module.__file__).resolve().parent


def _mount_parents(path: Path, made: set[str]) -> list[str]:
    """``--dir`` for every missing parent, world-readable (bwrap would make them 0700 otherwise)."""
    args = []
    for parent in reversed(path.parents):
        text = str(parent)
        if text == "/" or text in made:
            continue
        made.add(text)
        args += ["--perms", "0755", "--dir", text]
    return args


def readonly_binds() -> list[tuple[str, str]]:
    """(host path, sandbox path) pairs bound read-only."""
    binds = []
    for top in ("/usr", "/etc/alternatives", "/etc/ld.so.cache", "/etc/fonts", "/etc/ssl/certs"):
        if os.path.exists(top):
            binds.append((top, top))
    for system_dir in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.isdir(system_dir) and not os.path.islink(system_dir):
            binds.append((system_dir, system_dir))
    base = Path(sys.base_prefix).resolve()
    binds.append((str(base), str(base)))
    if Path(sys.prefix).resolve() != base:
        binds.append((str(Path(sys.prefix)), str(Path(sys.prefix))))
    autograder_dir = _package_dir("autograder")
    binds.append((str(autograder_dir), str(autograder_dir)))
    vaelib_dir = _package_dir("vaelib")
    for name in VAELIB_STUDENT_MODULES:
        binds.append((str(vaelib_dir / name), str(vaelib_dir / name)))
    return binds


def command(inner: list[str], uid: int, limits: Limits, assignment_files: Path | None = None) -> list[str]:
    """The bwrap command line that runs ``inner`` as ``uid`` inside a fresh sandbox."""
    bwrap = bwrap_path()
    setpriv = shutil.which("setpriv")
    if bwrap is None or setpriv is None:
        raise RuntimeError("bubblewrap (bwrap) and setpriv are needed for the grading sandbox")
    args = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--clearenv"]
    # the private /tmp first: binds that live under /tmp on the host (a checkout in /tmp) are mounted on top of it
    args += ["--size", str(limits.tmp_bytes), "--perms", "1777", "--tmpfs", "/tmp"]
    made: set[str] = {"/tmp"}
    for system_link in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(system_link):
            args += ["--symlink", os.readlink(system_link), system_link]
            made.add(system_link)
    for host, inside in readonly_binds():
        args += _mount_parents(Path(inside), made)
        args += ["--ro-bind", host, inside]
        made.add(inside)
    if assignment_files is not None:
        args += ["--ro-bind", str(assignment_files), ASSIGNMENT_FILES]
    args += ["--proc", "/proc", "--dev", "/dev", "--chdir", "/tmp",
             "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin",
             "--setenv", "HOME", "/tmp/home",
             "--setenv", "LANG", "C.UTF-8",
             "--setenv", "IPYTHONDIR", "/tmp/.ipython",
             "--setenv", "MPLCONFIGDIR", "/tmp/.matplotlib"]
    args += [setpriv, "--reuid", str(uid), "--regid", str(uid), "--clear-groups", "--inh-caps=-all",
             "--bounding-set=-all", "--no-new-privs"]
    return args + inner


def apply_limits(limits: Limits):
    """A ``preexec_fn`` setting the rlimits; they are inherited by bwrap, the worker and every child."""

    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return preexec


def uid_for_slot(number: int) -> int:
    """The host uid of the ``number``-th sandbox of a batch (cycling through 1,000 uids)."""
    return SANDBOX_UID_BASE + number % 1000
