"""The grading sandbox, host side: the bubblewrap command a zygote runs in, and the cgroup that limits it.

Layers, from the outside in (what each one stops is in the README's threat model):

* bubblewrap, once per zygote: its own PID, network, IPC and UTS namespaces, ``--die-with-parent``, a cleared
  environment, and a read-only view of only what a notebook needs: /usr and the system libraries, the Python
  installation, the virtual environment (at /opt/venv), the STUDENT SIDE of the autograder (autograder/__init__.py,
  checks.py and student/, at /opt/autograder; never judging/ or anything else of the grader) and the student-facing
  modules of vaelib (not the reference implementations). The zygote runs as a non-root uid of its own
  (``SANDBOX_UID_BASE + n``) with no capabilities and ``no_new_privs``, under rlimits and a cgroup.
* per submission, made by the zygote's monitor (autograder.student.isolation): new user, PID, mount, IPC, network
  and UTS namespaces, a fresh tmpfs on /tmp (working directory, HOME, caches) and /dev/shm, a fresh session
  keyring, every capability dropped. The Python interpreter runs with ``-I`` and the only entries of ``sys.path``
  are read-only, so no file a submission writes is ever imported by another.
* a cgroup per zygote (v1 or v2, whichever is writable) caps memory (shared memory and tmpfs included, which
  RLIMIT_AS does not count) and the number of processes; the submission's processes are the OOM killer's first
  choice. Where no cgroup can be made, ``grade`` says so and the rlimits remain.
"""

from __future__ import annotations

import fcntl
import glob
import os
import resource
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from .student.zygote import FONT_CACHE

SANDBOX_UID_BASE = 61000
ASSIGNMENT_FILES = "/assignment"  # where the release's data files appear (read-only) inside the sandbox
SANDBOX_CODE = "/opt/autograder"  # the student side of the autograder and vaelib, read-only
SANDBOX_VENV = "/opt/venv"  # the virtual environment, read-only
# what of the autograder package the sandbox sees: test cells call check(), the rest is the student side
AUTOGRADER_STUDENT_SIDE = ("__init__.py", "checks.py", "student")
# the parts of vaelib a notebook may import in the sandbox: data, device choice, run mode, model classes, plots;
# the reference implementations (probability, estimators, linear_gaussian, pca) stay outside
VAELIB_STUDENT_MODULES = ("__init__.py", "device.py", "runmode.py", "data.py", "models.py", "plotting.py")
ZYGOTE_MEMORY_BYTES = 1 << 30  # the zygote's own share of its cgroup (torch and IPython imported: ~0.4 GiB)
ZYGOTE_PROCESSES = 64  # the zygote's threads and the monitor, on top of the submission's processes

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
    memory_bytes: int = 4 << 30  # RLIMIT_AS per process, and the cgroup's memory for the submission
    processes: int = 64  # RLIMIT_NPROC (per sandbox uid) and the cgroup's pids for the submission
    file_bytes: int = 64 << 20  # RLIMIT_FSIZE: largest file the code may write
    open_files: int = 512  # RLIMIT_NOFILE
    tmp_bytes: int = 512 << 20  # the submission's private /tmp (tmpfs)
    shm_bytes: int = 64 << 20  # the submission's private /dev/shm (tmpfs)


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def sandbox_available() -> bool:
    return bwrap_path() is not None and shutil.which("setpriv") is not None


def package_dir(name: str) -> Path:
    """Where a package's files are, without importing it (vaelib would import torch into the grader: ~2 CPU-s)."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"the package {name} is not installed")
    return Path(spec.origin).resolve().parent


def _parents(path: str, made: set[str]) -> list[str]:
    """``--dir`` for every missing parent, world-readable (bwrap would make them 0700 otherwise)."""
    args = []
    for parent in reversed(Path(path).parents):
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
    base = str(Path(sys.base_prefix).resolve())
    if base.startswith("/tmp/"):
        raise RuntimeError(f"the Python installation lives under /tmp ({base}); the sandbox mounts a private /tmp "
                           "over it: install Python elsewhere or grade with --no-sandbox")
    binds.append((base, base))
    if Path(sys.prefix).resolve() != Path(base):
        binds.append((str(Path(sys.prefix).resolve()), SANDBOX_VENV))
    autograder_dir = package_dir("autograder")
    for name in AUTOGRADER_STUDENT_SIDE:
        binds.append((str(autograder_dir / name), f"{SANDBOX_CODE}/autograder/{name}"))
    vaelib_dir = package_dir("vaelib")
    for name in VAELIB_STUDENT_MODULES:
        binds.append((str(vaelib_dir / name), f"{SANDBOX_CODE}/vaelib/{name}"))
    return binds


SANDBOX_DIGITS = "/opt/autograder-data/digits-training.npz"  # vaelib.data.TRAINING_ONLY_FILE (not imported: torch)


def sandbox_path(host: Path) -> str:
    """Where a file of the Python installation or the virtual environment appears inside the sandbox."""
    venv = Path(sys.prefix).resolve()
    if venv != Path(sys.base_prefix).resolve() and host.is_relative_to(venv):
        return f"{SANDBOX_VENV}/{host.relative_to(venv)}"
    return str(host)


def bundled_digits_file() -> Path | None:
    """scikit-learn's copy of the digits (train and test split), hidden inside the sandbox; None if absent."""
    try:
        path = package_dir("sklearn") / "datasets" / "data" / "digits.csv.gz"
    except ModuleNotFoundError:
        return None
    return path if path.is_file() else None


def training_digits() -> Path:
    """An .npz of the digits' TRAINING split only (what vaelib.data.digits reads in the sandbox), made once per
    version of the data and of vaelib/data.py in the grader's cache (the first time: imports scikit-learn and
    torch, 2-3 s)."""
    import hashlib

    from .nbgrader_cli import cache_root

    source = bundled_digits_file()
    digest = hashlib.sha256(source.read_bytes() + (package_dir("vaelib") / "data.py").read_bytes()).hexdigest()[:16]
    path = cache_root() / "data" / f"digits-training-{digest}.npz"
    if not path.is_file():
        import numpy as np
        from sklearn.datasets import load_digits

        from vaelib.data import split_indices

        bunch = load_digits()
        test, train = split_indices(len(bunch.data))
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.npz")
        np.savez(partial, data=bunch.data[train], target=bunch.target[train], n_test=len(test))
        os.replace(partial, path)  # atomic: several workers may make it at once
    return path


def sandbox_python() -> str:
    """The interpreter inside the sandbox: the virtual environment's, at its sandbox path."""
    if Path(sys.prefix).resolve() != Path(sys.base_prefix).resolve():
        return f"{SANDBOX_VENV}/bin/python"
    return sys.executable


def zygote_argv(config_json: str, sandboxed: bool) -> list[str]:
    """``python -I``: no current folder, PYTHONPATH or user site on sys.path; the student side comes first."""
    code_root = SANDBOX_CODE if sandboxed else str(package_dir("autograder").parent)
    bootstrap = (f"import sys; sys.path.insert(0, {code_root!r}); "
                 "from autograder.student.zygote import main; main()")
    python = sandbox_python() if sandboxed else sys.executable
    return [python, "-I", "-c", bootstrap, config_json]


def host_font_lists() -> list[Path]:
    """matplotlib's font lists in the grader's own cache (fontlist-v*.json, written by any matplotlib of this user).
    Bound read-only into the sandbox so that a zygote does not scan every font on the system when it imports
    matplotlib (about 0.4 CPU-s per zygote); matplotlib itself reads only the file named for its version."""
    if os.environ.get("MPLCONFIGDIR"):
        folder = Path(os.environ["MPLCONFIGDIR"])
    else:
        folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "matplotlib"
    return [path for path in sorted(folder.glob("fontlist-v*.json")) if path.is_file()]


def gpu_device_nodes() -> list[str]:
    """The NVIDIA device nodes a CUDA program opens: /dev/nvidiactl, /dev/nvidia-uvm (and -uvm-tools), one
    /dev/nvidiaN per GPU, /dev/nvidia-modeset, and /dev/nvidia-caps/ (MIG) where the driver made them."""
    return sorted(glob.glob("/dev/nvidia*"))


def command(inner: list[str], uid: int, assignment_files: Path | None = None, gpu: bool = False) -> list[str]:
    """The bwrap command line that runs ``inner`` as ``uid`` inside a fresh sandbox. ``gpu``: the NVIDIA device
    nodes are bound into the sandbox's /dev (the driver's libraries come with /usr), and CUDA_VISIBLE_DEVICES is
    passed on when the grader's environment sets it."""
    bwrap, setpriv = bwrap_path(), shutil.which("setpriv")
    if bwrap is None or setpriv is None:
        raise RuntimeError("bubblewrap (bwrap) and setpriv are needed for the grading sandbox")
    args = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--clearenv",
            "--size", str(16 << 20), "--perms", "1777", "--tmpfs", "/tmp"]  # the zygote's own scratch space
    made: set[str] = {"/tmp"}
    for system_link in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(system_link):
            args += ["--symlink", os.readlink(system_link), system_link]
            made.add(system_link)
    for host, inside in readonly_binds():
        args += _parents(inside, made)
        args += ["--ro-bind", host, inside]
        made.add(inside)
    if assignment_files is not None:
        args += ["--ro-bind", str(assignment_files), ASSIGNMENT_FILES]
    for font_list in host_font_lists():
        args += _parents(f"{FONT_CACHE}/{font_list.name}", made)
        args += ["--ro-bind", str(font_list), f"{FONT_CACHE}/{font_list.name}"]
    digits_file = bundled_digits_file()
    if digits_file is not None:  # the digits' test split stays with the grader: only the training split is inside
        args += ["--ro-bind", "/dev/null", sandbox_path(digits_file)]
        args += _parents(SANDBOX_DIGITS, made)
        args += ["--ro-bind", str(training_digits()), SANDBOX_DIGITS]
    args += ["--proc", "/proc", "--dev", "/dev"]
    if gpu:
        for node in gpu_device_nodes():
            args += ["--dev-bind-try", node, node]
        if "CUDA_VISIBLE_DEVICES" in os.environ:
            args += ["--setenv", "CUDA_VISIBLE_DEVICES", os.environ["CUDA_VISIBLE_DEVICES"]]
    args += ["--chdir", "/",
             "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "HOME", "/tmp",
             "--setenv", "LANG", "C.UTF-8", "--setenv", "IPYTHONDIR", "/tmp/.ipython",
             "--setenv", "MPLCONFIGDIR", "/tmp/.matplotlib", "--setenv", "MPLBACKEND", "Agg"]
    args += [setpriv, "--reuid", str(uid), "--regid", str(uid), "--clear-groups", "--inh-caps=-all",
             "--bounding-set=-all", "--no-new-privs"]
    return args + inner


def uid_for_slot(number: int) -> int:
    """The host uid of the ``number``-th zygote of a batch (cycling through 1,000 uids)."""
    return SANDBOX_UID_BASE + number % SANDBOX_UIDS


SANDBOX_UIDS = 1000
UID_LOCK_DIR = Path("/run/lock/autograder-sandbox-uids")


class UidClaim:
    """A sandbox uid that no other zygote on this machine holds while the claim is open, whichever process (a
    second `grade`, another Dask worker on the same node) started it: an exclusive flock on a file named after the
    uid. The kernel drops the lock when the claiming process dies, so a killed grader frees its uids."""

    def __init__(self, uid: int, fd: int):
        self.uid = uid
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _uid_lock_dir() -> Path:
    directory = UID_LOCK_DIR if UID_LOCK_DIR.parent.is_dir() else Path("/tmp/autograder-sandbox-uids")
    directory.mkdir(mode=0o700, exist_ok=True)
    info = directory.lstat()
    if not directory.is_dir() or directory.is_symlink() or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise RuntimeError(f"{directory} (the sandbox uid locks) is not a private folder of this user: remove it")
    return directory


def claim_uid(number: int) -> UidClaim:
    """The first free uid from ``uid_for_slot(number)`` on (so a replacement never reuses a dying sandbox's uid)."""
    directory = _uid_lock_dir()
    for offset in range(SANDBOX_UIDS):
        uid = uid_for_slot(number + offset)
        fd = os.open(directory / str(uid), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return UidClaim(uid, fd)
    raise RuntimeError(f"all {SANDBOX_UIDS} sandbox uids ({SANDBOX_UID_BASE}...) are in use on this machine")


# ------------------------------------------------------------------------------------------------------------
# cgroups: memory (shared memory and tmpfs included) and processes, per zygote
# ------------------------------------------------------------------------------------------------------------
CGROUP_ROOT = Path("/sys/fs/cgroup")


class ResourceGroup:
    """One cgroup (v1: a memory and a pids group; v2: one group with both controllers) for one zygote's tree."""

    def __init__(self, directories: list[Path], procs_files: list[Path]):
        self.directories = directories
        self.procs_files = procs_files

    def processes(self) -> set[int]:
        """The processes in the group now (host pids)."""
        found: set[int] = set()
        for procs in self.procs_files:
            try:
                found.update(int(line) for line in procs.read_text().split())
            except OSError:
                pass
        return found

    def attach_self(self) -> None:
        """Called in the child before exec: this process (and so everything it starts) joins the group."""
        for procs in self.procs_files:
            with open(procs, "w") as handle:
                handle.write(str(os.getpid()))

    def remove(self, wait_s: float = 5.0) -> None:
        deadline = time.monotonic() + wait_s
        for directory in self.directories:
            while directory.exists():
                try:
                    directory.rmdir()
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)


class CgroupFactory:
    """Makes one ResourceGroup per zygote under a batch group; ``reason`` says why none can be made."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.batch = f"autograder-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.version, self.reason = self._detect()
        self._made: list[Path] = []

    @property
    def available(self) -> bool:
        return self.version is not None

    def _detect(self) -> tuple[str | None, str]:
        if (CGROUP_ROOT / "cgroup.controllers").is_file():
            controllers = (CGROUP_ROOT / "cgroup.controllers").read_text().split()
            if not {"memory", "pids"} <= set(controllers):
                return None, "cgroup v2 without the memory and pids controllers"
            if not os.access(CGROUP_ROOT, os.W_OK):
                return None, "cgroup v2 is not writable by this user (run as root or delegate a cgroup)"
            return "v2", ""
        memory, pids = CGROUP_ROOT / "memory", CGROUP_ROOT / "pids"
        if memory.is_dir() and pids.is_dir():
            if os.access(memory, os.W_OK) and os.access(pids, os.W_OK):
                return "v1", ""
            return None, "cgroup v1 memory/pids hierarchies are not writable by this user (run as root)"
        return None, "no cgroup memory and pids controllers are mounted"

    def _mkdir(self, path: Path) -> Path:
        path.mkdir(exist_ok=True)
        if path not in self._made:
            self._made.append(path)
        return path

    def make(self, name: str) -> ResourceGroup:
        memory = self.limits.memory_bytes + ZYGOTE_MEMORY_BYTES
        processes = self.limits.processes + ZYGOTE_PROCESSES
        if self.version == "v1":
            memory_group = self._mkdir(self._mkdir(CGROUP_ROOT / "memory" / self.batch) / name)
            pids_group = self._mkdir(self._mkdir(CGROUP_ROOT / "pids" / self.batch) / name)
            (memory_group / "memory.limit_in_bytes").write_text(str(memory))
            swap = memory_group / "memory.memsw.limit_in_bytes"
            if swap.exists():
                swap.write_text(str(memory))
            (pids_group / "pids.max").write_text(str(processes))
            return ResourceGroup([memory_group, pids_group],
                                 [memory_group / "cgroup.procs", pids_group / "cgroup.procs"])
        if self.version == "v2":
            for parent in (CGROUP_ROOT, self._mkdir(CGROUP_ROOT / self.batch)):
                enabled = (parent / "cgroup.subtree_control").read_text().split()
                missing = [f"+{c}" for c in ("memory", "pids") if c not in enabled]
                if missing:
                    (parent / "cgroup.subtree_control").write_text(" ".join(missing))
            group = self._mkdir(CGROUP_ROOT / self.batch / name)
            (group / "memory.max").write_text(str(memory))
            if (group / "memory.swap.max").exists():
                (group / "memory.swap.max").write_text("0")
            (group / "pids.max").write_text(str(processes))
            return ResourceGroup([group], [group / "cgroup.procs"])
        raise RuntimeError(self.reason)

    def remove_all(self) -> None:
        ResourceGroup(list(reversed(self._made)), []).remove()


def apply_rlimits(limits: Limits, address_space: bool = True) -> None:
    """Set in the zygote's bwrap before exec; inherited by the zygote and every submission. ``address_space=False``
    (a GPU sandbox): no RLIMIT_AS, because the CUDA driver reserves far more virtual address space than it uses and
    fails to start under a few GiB; the cgroup's memory limit then bounds what the submission really uses."""
    if address_space:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
