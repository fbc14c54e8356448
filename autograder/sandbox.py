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

import contextlib
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


GRADER_MEMORY_BYTES = 2 << 30  # what the grader, its judge server and the gradebook need beside the workers


def machine_memory_bytes() -> int:
    """The memory of this machine (or of the cgroup this process is limited to, when that is smaller)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def workers_for_memory(workers: int, limits: Limits, total_bytes: int | None = None) -> tuple[int, str | None]:
    """(how many workers may run at once, why fewer than asked or None): every worker's submission may use its
    memory limit and its zygote ZYGOTE_MEMORY_BYTES, and all of them together must fit in the machine's memory
    beside GRADER_MEMORY_BYTES; otherwise the kernel, not the limits, would decide which submission fails.
    Raises ValueError when not even one worker fits."""
    total = machine_memory_bytes() if total_bytes is None else total_bytes
    per_worker = limits.memory_bytes + ZYGOTE_MEMORY_BYTES
    fits = (total - GRADER_MEMORY_BYTES) // per_worker
    gib = 1 << 30
    if fits < 1:
        raise ValueError(f"one grading worker needs {per_worker / gib:.0f} GiB (a submission's "
                         f"{limits.memory_bytes / gib:.0f} GiB and its zygote's {ZYGOTE_MEMORY_BYTES / gib:.0f} GiB) "
                         f"beside {GRADER_MEMORY_BYTES / gib:.0f} GiB for the grader, and this machine has "
                         f"{total / gib:.1f} GiB")
    if workers <= fits:
        return workers, None
    return int(fits), (f"{workers} workers would let {workers} submissions use {per_worker / gib:.0f} GiB each "
                       f"({workers * per_worker / gib:.0f} GiB) on a machine with {total / gib:.1f} GiB: grading "
                       f"with {fits} worker(s) at once")


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


def command(inner: list[str], uid: int | None, assignment_files: Path | None = None, gpu: bool = False) -> list[str]:
    """The bwrap command line that runs ``inner`` as ``uid`` inside a fresh sandbox. ``gpu``: the NVIDIA device
    nodes are bound into the sandbox's /dev (the driver's libraries come with /usr), and CUDA_VISIBLE_DEVICES is
    passed on when the grader's environment sets it. ``uid`` None: a user's own sandbox (the student's `check`,
    not root): bubblewrap maps the user into a user namespace of its own, with no capability and no_new_privs."""
    bwrap, setpriv = bwrap_path(), shutil.which("setpriv")
    if bwrap is None or (setpriv is None and uid is not None):
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
    if uid is None:
        return args + inner
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
# cgroups: memory (shared memory and tmpfs included) and processes, per zygote; and CPU: an equal share for every
# running submission, its CPU time counted (what the time limits count), and the time it waited to run
# ------------------------------------------------------------------------------------------------------------
CGROUP_ROOT = Path("/sys/fs/cgroup")
# The CPU weight of each running submission, and of the judge server, against everything else on the machine: every
# submission gets the same share as its neighbours (one bulk weight per zygote), and a batch of N workers weighs as
# much as N x CPU_WEIGHT_PER_WORKER / 1024 ordinary processes of other users (each process session of another user
# weighs 1024 under the kernel's autogroup scheduling). The limits count CPU time, so the weight only decides how
# fast a loaded machine grades, never a grade (docs: the threat model, bench/RESULTS.md for the measurement).
CPU_WEIGHT_PER_WORKER = 4096  # cgroup v1 cpu.shares (v2 cpu.weight: / 1024 * 100)
CPU_PERIOD_US = 100_000  # the quota's period: a submission may use `threads` cores in every 100 ms, no more


class ResourceGroup:
    """One zygote's cgroups (v1: memory, pids, cpu and cpuacct groups; v2: one group with the controllers)."""

    def __init__(self, directories: list[Path], procs_files: list[Path], version: str = "v1",
                 cpu_dir: Path | None = None, cpuacct_dir: Path | None = None):
        self.directories = directories
        self.procs_files = procs_files
        self.version = version
        self.cpu_dir = cpu_dir  # v1 cpu (cpu.stat: throttling); v2: the group itself
        self.cpuacct_dir = cpuacct_dir  # v1 cpuacct (cpuacct.usage); v2: the group itself

    @property
    def counts_cpu(self) -> bool:
        return self.cpuacct_dir is not None

    def processes(self) -> set[int]:
        """The processes in the group now (host pids)."""
        found: set[int] = set()
        for procs in self.procs_files:
            try:
                found.update(int(line) for line in procs.read_text().split())
            except OSError:
                pass
        return found

    def cpu_seconds(self) -> float | None:
        """CPU time used by every process that ever ran in the group (children included), or None."""
        if self.cpuacct_dir is None:
            return None
        try:
            if self.version == "v1":
                return int((self.cpuacct_dir / "cpuacct.usage").read_text()) / 1e9
            return _stat_field(self.cpuacct_dir / "cpu.stat", "usage_usec") / 1e6
        except (OSError, ValueError):
            return None

    def throttled_seconds(self) -> float:
        """How long the group was held back by its CPU quota (it wanted more than its share), or 0."""
        if self.cpu_dir is None:
            return 0.0
        try:
            if self.version == "v1":
                return _stat_field(self.cpu_dir / "cpu.stat", "throttled_time") / 1e9
            return _stat_field(self.cpu_dir / "cpu.stat", "throttled_usec") / 1e6
        except (OSError, ValueError):
            return 0.0

    def waited_seconds(self) -> dict[int, float]:
        """Per thread of the group's processes (host tid): the time it waited on a run queue, ready to run but not
        running (/proc/TID/schedstat, field 2). A submission that waited long was held back by the machine."""
        waited = {}
        for pid in self.processes():
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in tids:
                try:
                    with open(f"/proc/{pid}/task/{tid}/schedstat") as handle:
                        waited[int(tid)] = int(handle.read().split()[1]) / 1e9
                except (OSError, ValueError, IndexError):
                    pass
        return waited

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


def _stat_field(path: Path, name: str) -> int:
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == name:
            return int(value)
    raise ValueError(f"{path} has no {name}")


def waited_since(before: dict[int, float], after: dict[int, float]) -> tuple[float, float]:
    """Run-queue waiting between two readings of ResourceGroup.waited_seconds: (the sum over the threads, the most any
    one thread waited). Threads that started in between count from 0; threads that ended in between are lost, a
    small undercount. The sum measures how much the submission wanted to run (many busy threads: a lot); the
    maximum, whether a thread that wanted to run was held back by the machine (a herd of the submission's own
    processes that each wake briefly makes the sum large, never the maximum)."""
    deltas = [max(0.0, value - before.get(tid, 0.0)) for tid, value in after.items()]
    return sum(deltas), max(deltas, default=0.0)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ProcessTree:
    """Where no CPU cgroup can be made (not root, --no-sandbox): the CPU time of a zygote's process tree, read from
    /proc (utime + stime of every descendant, and what they reaped: cutime + cstime). Trusted like a cgroup (the
    grader reads it), but a process that leaves the tree before it is counted (a double fork whose orphan is reaped
    by the sandbox's init) takes its time with it, and nothing holds a neighbour to its share."""

    counts_cpu = True

    def __init__(self, root_pid: int):
        self.root_pid = root_pid

    def processes(self) -> set[int]:
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                fields = _proc_stat(int(entry))
                if fields is not None:
                    parents[int(entry)] = int(fields[1])
        found, frontier = {self.root_pid}, [self.root_pid]
        while frontier:
            parent = frontier.pop()
            children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in found]
            found.update(children)
            frontier += children
        return found

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.processes():
            fields = _proc_stat(pid)
            if fields is not None:  # fields after the name: utime, stime, cutime, cstime are 12-15
                total += sum(int(value) for value in fields[11:15])
        return total / CLOCK_TICKS

    def throttled_seconds(self) -> float:
        return 0.0

    waited_seconds = ResourceGroup.waited_seconds


def _proc_stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (state, ppid, ...), or None for a process that is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


class CgroupFactory:
    """Makes one ResourceGroup per zygote under a batch group; ``reason`` says why none can be made, ``cpu_reason``
    why CPU time cannot be counted per submission (the limits then fall back on the submission's own report).
    ``workers``: how many zygotes run at once (the batch group's CPU weight); ``quota_cores``: the most cores one
    zygote's group may use (None: no cap, only the equal weight)."""

    def __init__(self, limits: Limits | None, workers: int = 1, quota_cores: float | None = 1.0,
                 label: str = "autograder"):
        self.limits = limits
        self.workers = max(1, workers)
        self.quota_cores = quota_cores
        self.batch = f"{label}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.version, self.reason = self._detect()
        self.cpu_reason = self._detect_cpu() if self.version else self.reason
        self._made: list[Path] = []

    @property
    def available(self) -> bool:
        return self.version is not None

    @property
    def counts_cpu(self) -> bool:
        return self.available and not self.cpu_reason

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

    def _detect_cpu(self) -> str:
        if self.version == "v2":
            if "cpu" not in (CGROUP_ROOT / "cgroup.controllers").read_text().split():
                return "cgroup v2 without the cpu controller"
            return ""
        cpu, cpuacct = _v1_hierarchy("cpu"), _v1_hierarchy("cpuacct")
        if cpu is None or cpuacct is None:
            return "the cgroup v1 cpu and cpuacct controllers are not mounted"
        if not (os.access(cpu, os.W_OK) and os.access(cpuacct, os.W_OK)):
            return "the cgroup v1 cpu and cpuacct hierarchies are not writable by this user (run as root)"
        return ""

    def _mkdir(self, path: Path) -> Path:
        path.mkdir(exist_ok=True)
        if path not in self._made:
            self._made.append(path)
        return path

    def make(self, name: str, threads: int = 1) -> ResourceGroup:
        """A group for one zygote (memory and processes limited when ``limits`` is set), with an equal CPU share and
        (``quota_cores``) at most ``threads`` x quota_cores cores."""
        if self.version == "v1":
            return self._make_v1(name, threads)
        if self.version == "v2":
            return self._make_v2(name, threads)
        raise RuntimeError(self.reason)

    def _quota_us(self, threads: int) -> int | None:
        if self.quota_cores is None:
            return None
        return max(1000, int(CPU_PERIOD_US * self.quota_cores * max(1, threads)))

    def _make_v1(self, name: str, threads: int) -> ResourceGroup:
        directories, procs = [], []
        if self.limits is not None:
            memory_group = self._mkdir(self._mkdir(CGROUP_ROOT / "memory" / self.batch) / name)
            pids_group = self._mkdir(self._mkdir(CGROUP_ROOT / "pids" / self.batch) / name)
            memory = self.limits.memory_bytes + ZYGOTE_MEMORY_BYTES
            (memory_group / "memory.limit_in_bytes").write_text(str(memory))
            swap = memory_group / "memory.memsw.limit_in_bytes"
            if swap.exists():
                swap.write_text(str(memory))
            (pids_group / "pids.max").write_text(str(self.limits.processes + ZYGOTE_PROCESSES))
            directories += [memory_group, pids_group]
        cpu_group = cpuacct_group = None
        if self.counts_cpu:
            cpu_batch = self._mkdir(_v1_hierarchy("cpu") / self.batch)
            (cpu_batch / "cpu.shares").write_text(str(min(262144, CPU_WEIGHT_PER_WORKER * self.workers)))
            cpu_group = self._mkdir(cpu_batch / name)
            (cpu_group / "cpu.shares").write_text("1024")  # every zygote of the batch the same
            quota = self._quota_us(threads)
            if quota is not None:
                (cpu_group / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
                (cpu_group / "cpu.cfs_quota_us").write_text(str(quota))
            cpuacct_group = self._mkdir(self._mkdir(_v1_hierarchy("cpuacct") / self.batch) / name)
            directories += [cpu_group, cpuacct_group]
        procs = [d / "cgroup.procs" for d in directories]
        return ResourceGroup(directories, procs, "v1", cpu_group, cpuacct_group)

    def _make_v2(self, name: str, threads: int) -> ResourceGroup:
        wanted = ([c for c in ("memory", "pids") if self.limits is not None]
                  + (["cpu"] if self.counts_cpu else []))
        batch = self._mkdir(CGROUP_ROOT / self.batch)
        for parent in (CGROUP_ROOT, batch):
            enabled = (parent / "cgroup.subtree_control").read_text().split()
            missing = [f"+{c}" for c in wanted if c not in enabled]
            if missing:
                (parent / "cgroup.subtree_control").write_text(" ".join(missing))
        group = self._mkdir(batch / name)
        if self.limits is not None:
            (group / "memory.max").write_text(str(self.limits.memory_bytes + ZYGOTE_MEMORY_BYTES))
            if (group / "memory.swap.max").exists():
                (group / "memory.swap.max").write_text("0")
            (group / "pids.max").write_text(str(self.limits.processes + ZYGOTE_PROCESSES))
        if self.counts_cpu:
            weight = max(1, min(10000, CPU_WEIGHT_PER_WORKER * self.workers * 100 // 1024))
            (batch / "cpu.weight").write_text(str(weight))
            (group / "cpu.weight").write_text("100")
            quota = self._quota_us(threads)
            if quota is not None:
                (group / "cpu.max").write_text(f"{quota} {CPU_PERIOD_US}")
        return ResourceGroup([group], [group / "cgroup.procs"], "v2",
                             group if self.counts_cpu else None, group if self.counts_cpu else None)

    def remove_all(self) -> None:
        ResourceGroup(list(reversed(self._made)), []).remove()


def _v1_hierarchy(controller: str) -> Path | None:
    """The mount of a cgroup v1 controller (alone, or joined as in cpu,cpuacct), or None."""
    for candidate in (CGROUP_ROOT / controller, CGROUP_ROOT / "cpu,cpuacct"):
        if (candidate / "cgroup.procs").is_file() and (
                candidate.name == controller or controller in candidate.name.split(",")):
            return candidate.resolve()
    return None


@contextlib.contextmanager
def grader_cpu_share():
    """While ``grade`` runs: this process, and the programs it starts (nbgrader), in a CPU cgroup with the weight of
    one grading worker, so that other users' jobs slow the grader's own steps no more than a worker (without it,
    this process shares its session's one weight with every process session on the machine). Back in its own
    cgroup afterwards. Nothing where no CPU cgroup can be made."""
    factory = CgroupFactory(None, workers=1, quota_cores=None, label="autograder-grader")
    if not factory.counts_cpu:
        yield
        return
    original = _own_cgroups()
    try:
        group = factory.make("grader")
        group.attach_self()
    except OSError:
        factory.remove_all()
        yield
        return
    try:
        yield
    finally:
        for procs in original:
            try:
                procs.write_text(str(os.getpid()))
            except OSError:
                pass
        factory.remove_all()


def _own_cgroups() -> list[Path]:
    """The cgroup.procs files of this process's cpu and cpuacct cgroups (v1) or of its v2 cgroup."""
    found = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        number, controllers, path = line.split(":", 2)
        if number == "0" and (CGROUP_ROOT / "cgroup.controllers").is_file():
            found.append(CGROUP_ROOT / path.lstrip("/") / "cgroup.procs")
        for controller in controllers.split(","):
            if controller in ("cpu", "cpuacct") and _v1_hierarchy(controller) is not None:
                found.append(_v1_hierarchy(controller) / path.lstrip("/") / "cgroup.procs")
    return [path for path in dict.fromkeys(found) if path.is_file()]


def apply_rlimits(limits: Limits, address_space: bool = True, processes: bool = True) -> None:
    """Set in the zygote's bwrap before exec; inherited by the zygote and every submission. ``address_space=False``
    (a GPU sandbox): no RLIMIT_AS, because the CUDA driver reserves far more virtual address space than it uses and
    fails to start under a few GiB; the cgroup's memory limit then bounds what the submission really uses."""
    if address_space:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    if processes:  # not in a user's own sandbox: RLIMIT_NPROC counts every process of the user's uid
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
