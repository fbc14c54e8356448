"""Grading on a Dask cluster: ``DaskPool.run(job) -> run dict``, the same unit as autograder.executor.SandboxPool.

``python -m autograder grade ... --scheduler tcp://HOST:PORT`` swaps the local pool for this one; grading itself
(autograder.grading) does not change. Two sides:

* The grader (:class:`DaskPool`) submits one Dask task per run of a notebook and waits for its run dict, then one
  Dask task that judges it (:func:`judge_on_node`): the judging of a large class is spread over the nodes as the
  runs are. It is the only writer of the gradebook and the outputs. It
  ships the release's data files to the cluster once (``scatter(broadcast=True)``). It keeps twice as many runs in
  flight as the cluster has task slots right now (one running and one queued per slot; refreshed every few
  seconds, so workers that join or leave change it), and asks for the Dask resource ``GPU`` when grading with
  ``--device cuda``.
* A Dask worker (:func:`run_on_node`) never runs student code in its own process: it keeps a node-local
  SandboxPool (one pre-warmed zygote per worker thread, each in its own bubblewrap sandbox and cgroup, created on
  the first task of the batch) and hands it the job, exactly as local grading does. The data files are written once
  per worker, in a folder named by their content hash. A node that cannot sandbox (no bubblewrap, a zygote that
  does not start, another version of the autograder or of torch, no GPU device for ``--device cuda``) raises
  :class:`NodeRefused`; the grader says so on stderr and runs the submission on another node, or, when no node
  can, gives it an ``error`` row naming the reason.
* Judging on a node is trusted: the worker process (which never runs student code) keeps a judge server of its own
  (autograder.judge_server.JudgePool: one limited child per submission, as on the grader), fed only the run dict
  that already passed the trust boundary. A node that cannot judge (another copy of the judges or of vaelib:
  :func:`judging_digest`; a judge server that does not start) raises :class:`NodeCannotJudge`, and the grader
  judges that submission in its own judge server.

Faults: a worker that dies mid-run is Dask's to handle: the scheduler runs its tasks again elsewhere, and after
``distributed.scheduler.allowed-failures`` (3) deaths the task fails with KilledWorker, which becomes that
submission's ``error`` row. A lost scheduler raises :class:`ClusterLost` (a BaseException, like
KeyboardInterrupt, so that no per-submission handler turns it into an error row): the batch stops without writing
outputs for the submissions it did not finish, and the same command grades them once a cluster is back.

Security: the sandbox has no network, so student code cannot reach the cluster's (unauthenticated, pickle-based)
protocol; ``--no-sandbox`` is refused here for that reason. Keep the scheduler's and workers' ports away from
untrusted networks, or use TLS (Dask's ``tls://`` addresses and security settings).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import socket
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from distributed import Client, WorkerPlugin, get_worker

from . import sandbox
from .course import UsageError
from .executor import READY_TIMEOUT_S, ClusterLost, ForkServerDied, SandboxPool, check_device
from .judge_server import JUDGE_TIMEOUT_S, JudgeFailed, JudgePool
from .sandbox import Limits
from .student.cellrunner import wall_cap

CONNECT_TIMEOUT_S = 30.0  # reaching the scheduler at the start of a batch
REFRESH_S = 2.0  # how often the grader reads the cluster's workers (task slots, departures)
NODE_CHECK_TIMEOUT_S = 60.0  # the first look at every worker (bubblewrap, versions, cgroups)
MIN_GRADER_THREADS = 256  # grader threads wait for a task slot; the cluster may grow after the start
QUEUED_PER_SLOT = 1  # runs waiting in Dask's queue per task slot: a worker starts its next run without a round trip
MAX_SUBMITS = 100  # tries of one run (each refusal moves it to another node)
WAITING_NOTE_S = 60.0  # how often "waiting for Dask workers" is repeated
IDLE_POOL_S = 600.0  # a node closes another batch's idle pool after this long
GPU = "GPU"  # the Dask resource a GPU worker advertises: dask worker ... --resources GPU=1


class NodeRefused(RuntimeError):
    """Raised on a Dask worker that cannot grade (the reason names it); the grader tries another worker."""

    def __init__(self, address: str, reason: str):
        super().__init__(address, reason)
        self.address, self.reason = address, reason

    def __str__(self) -> str:
        return self.reason


class TaskOverdue(Exception):
    """A Dask task ran far longer than any run of the notebook can (see DaskPool._wait)."""


class NoNode(Exception):
    """No worker of the cluster can run a submission (every one refused, or none offers the GPU)."""


# ------------------------------------------------------------------------------------------------------------
# what both sides agree on
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AssignmentFiles:
    """The release's data files (what a sandbox sees read-only at /assignment), shipped once to every worker."""

    digest: str
    files: dict = field(hash=False)  # relative POSIX path -> bytes
    folders: tuple = ()

    @classmethod
    def read(cls, folder: Path | None) -> AssignmentFiles:
        files, folders = {}, []
        if folder is not None:
            for path in sorted(folder.rglob("*")):
                relative = path.relative_to(folder).as_posix()
                if path.is_dir() and not path.is_symlink():
                    folders.append(relative)
                elif path.is_file():
                    files[relative] = path.read_bytes()
        return cls(files_digest(files, folders), files, tuple(folders))


def files_digest(files: dict, folders) -> str:
    digest = hashlib.sha256()
    for name in sorted(folders):
        digest.update(b"d\0" + name.encode() + b"\0")
    for name in sorted(files):
        digest.update(b"f\0" + name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


@dataclass(frozen=True)
class NodeSettings:
    """What a node needs to build its pool for one batch (the pool's identity on the node)."""

    batch: str  # the grader's id: its pools on each node are its own and end with it
    device: str  # cpu, cuda or cuda:N
    limits: Limits
    code_digest: str  # the sandbox's code and the numeric libraries: a node must run the same as the grader
    preload: tuple[str, ...] = ()  # what the zygotes import before forking (autograder.source.notebook_imports)
    judging_digest: str = ""  # everything that decides a verdict: a node judges only with the grader's copy


VERSIONED = ("torch", "numpy", "scipy", "ipython")


@lru_cache(maxsize=1)
def code_digest() -> str:
    """The student side of the autograder, vaelib's student modules, Python's and the numeric libraries' versions:
    the cases a node draws must be the ones the grader's judges expect."""
    digest = hashlib.sha256(sys.version.encode())
    for name in VERSIONED:
        try:
            digest.update(f"{name}={importlib.metadata.version(name)}".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f"{name}=absent".encode())
    for package, names in (("autograder", sandbox.AUTOGRADER_STUDENT_SIDE), ("vaelib", sandbox.VAELIB_STUDENT_MODULES)):
        base = sandbox.package_dir(package)
        for name in names:
            path = base / name
            for source in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
                digest.update(f"{package}/{source.relative_to(base).as_posix()}".encode() + b"\0")
                digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=1)
def judging_digest() -> str:
    """code_digest, scikit-learn's version and every source file of the autograder and vaelib (the judges, their
    references, the scoring): a node whose copy differs from the grader's does not judge, so one bug gets one grade
    on any node."""
    digest = hashlib.sha256(code_digest().encode())
    try:  # ps4's judge holds out scikit-learn's digits
        digest.update(f"scikit-learn={importlib.metadata.version('scikit-learn')}".encode())
    except importlib.metadata.PackageNotFoundError:
        digest.update(b"scikit-learn=absent")
    for package in ("autograder", "vaelib"):
        base = sandbox.package_dir(package)
        for source in sorted(base.rglob("*.py")):
            digest.update(f"{package}/{source.relative_to(base).as_posix()}".encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:16]


# ------------------------------------------------------------------------------------------------------------
# node side: runs in a Dask worker's process (never student code: that runs in the pool's sandboxes)
# ------------------------------------------------------------------------------------------------------------
_POOLS: dict[tuple, NodePool] = {}
_POOLS_LOCK = threading.Lock()
_SPAWNER: list[ThreadPoolExecutor] = []
_SPAWNER_LOCK = threading.Lock()


def _spawner() -> ThreadPoolExecutor:
    """One long-lived thread per worker process that starts every zygote: bwrap's --die-with-parent follows the
    THREAD that started it, and a Dask worker's task threads may end (secede) while the sandbox should live on."""
    with _SPAWNER_LOCK:
        if not _SPAWNER:
            _SPAWNER.append(ThreadPoolExecutor(1, thread_name_prefix="autograder-sandbox-spawner"))
        return _SPAWNER[0]


class NodePool(SandboxPool):
    """A SandboxPool whose zygotes are started by the worker process's spawner thread."""

    active = 0
    last_used = 0.0

    def _spawn(self):
        return _spawner().submit(super()._spawn).result()


def describe_node(worker) -> str:
    return f"Dask worker {worker.address} on {socket.gethostname()}"


def node_problem(settings: NodeSettings) -> str | None:
    """Why this node cannot run submissions for this grader, or None."""
    missing = [tool for tool in ("bwrap", "setpriv") if sandbox.shutil.which(tool) is None]
    if missing:
        return (f"{' and '.join(missing)} not found on its PATH ({os.environ.get('PATH', '')}): the grading sandbox "
                f"needs bubblewrap (apt-get install bubblewrap) on every node")
    if os.geteuid() != 0:
        return (f"the worker runs as uid {os.geteuid()}, but the grading sandbox runs each zygote as a uid of its "
                f"own and in a cgroup, which needs root: start the Dask worker as root")
    if settings.code_digest != code_digest():
        return (f"it runs another version of the autograder's sandbox side or of {', '.join(VERSIONED)} than the "
                f"grader (digest {code_digest()} here, {settings.code_digest} on the grader): install the same "
                f"commit and requirements on every node")
    try:
        sandbox.workers_for_memory(1, settings.limits)
    except ValueError as error:
        return f"not enough memory for the grading sandbox: {error}"
    if settings.device.startswith("cuda") and not sandbox.gpu_device_nodes():
        return "--device cuda, but this node has no NVIDIA device nodes (/dev/nvidia*)"
    return None


def node_report(settings: NodeSettings, dask_worker=None) -> dict:
    """The grader's first look at a worker (Client.run): can it grade, how many cores, are cgroups usable."""
    factory = sandbox.CgroupFactory(settings.limits)
    return {"host": socket.gethostname(), "problem": node_problem(settings),
            "cgroups": None if factory.available else factory.reason}


def materialise(files: AssignmentFiles, root: Path) -> Path:
    """The files in ``root/<digest>`` (world-readable for the sandbox's uid), written once per worker."""
    if files_digest(files.files, files.folders) != files.digest:
        raise ValueError("the assignment files arrived damaged (digest mismatch)")
    target = root / files.digest
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    scratch = root / f".{files.digest}.{uuid.uuid4().hex}"
    scratch.mkdir(mode=0o755)
    for name in files.folders:
        (scratch / _safe(name)).mkdir(mode=0o755, parents=True, exist_ok=True)
    for name, data in files.files.items():
        path = scratch / _safe(name)
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        path.write_bytes(data)
    for path in [scratch, *scratch.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    try:
        scratch.rename(target)
    except OSError:  # another task of this worker got there first
        sandbox.shutil.rmtree(scratch, ignore_errors=True)
    return target


def _safe(name: str) -> str:
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or ".." in parts:
        raise ValueError(f"unsafe file name in the assignment files: {name!r}")
    return name


def _slots_here(worker, device: str) -> int:
    threads = worker.state.nthreads
    if device.startswith("cuda"):
        return max(1, min(threads, int(worker.state.total_resources.get(GPU, 1))))
    return max(1, threads)


def _pool_for(worker, files: AssignmentFiles, settings: NodeSettings) -> NodePool:
    key = (settings, files.digest)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            problem = node_problem(settings)
            if problem:
                raise NodeRefused(worker.address, f"{describe_node(worker)} cannot grade: {problem}")
            _close_idle_pools()
            local = Path(worker.local_directory)
            log = local / "autograder-sandbox.log"
            pool = None
            try:
                folder = materialise(files, local / "autograder-files")
                # as many sandboxes as the node's memory holds; Dask threads beyond that wait for a free one
                slots, _ = sandbox.workers_for_memory(_slots_here(worker, settings.device), settings.limits)
                pool = NodePool(slots, log_path=log, sandboxed=True,
                                limits=settings.limits, assignment_files=folder, device=settings.device,
                                preload=settings.preload)
                pool.wait_ready()
            except (ForkServerDied, OSError, RuntimeError, ValueError) as error:
                if pool is not None:
                    pool.close()
                raise NodeRefused(worker.address, f"{describe_node(worker)} cannot grade: its sandbox did not "
                                                  f"start ({error}); {log} ends with: {_tail(log)}") from None
            _POOLS[key] = pool
        pool.active += 1
        return pool


def _close_idle_pools() -> None:
    now = time.monotonic()
    for key, pool in list(_POOLS.items()):
        if pool.active == 0 and now - pool.last_used > IDLE_POOL_S:
            del _POOLS[key]
            pool.close()


def _tail(path: Path, size: int = 600) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - size))
            return handle.read().decode("utf-8", "replace").strip() or "(nothing)"
    except OSError:
        return "(no log)"


def run_on_node(job: dict, files: AssignmentFiles, settings: NodeSettings, host_threads: dict) -> dict:
    """The Dask task: run one job in this node's sandbox pool and return the run dict (plain data, already through
    the trust boundary, autograder.boundary)."""
    worker = get_worker()
    try:
        pool = _pool_for(worker, files, settings)
    except NodeRefused:
        raise
    except Exception as error:  # noqa: BLE001 - sent back as plain text: Dask cannot ship every exception
        raise NodeRefused(worker.address, f"{describe_node(worker)} cannot grade: {type(error).__name__}: "
                                          f"{error}") from None
    try:
        cpus = len(os.sched_getaffinity(0))  # the cores this worker may use (a Slurm allocation, taskset)
        sharing = host_threads.get(worker.ip) or worker.state.nthreads  # the Dask threads of this host
        run = pool.run(dict(job, threads=max(1, cpus // max(1, sharing))))
    except Exception as error:  # noqa: BLE001
        raise RuntimeError(f"{describe_node(worker)}: {type(error).__name__}: {error}") from None
    finally:
        with _POOLS_LOCK:
            pool.active -= 1
            pool.last_used = time.monotonic()
    run["node"] = describe_node(worker)
    return run


def close_node_pools(batch: str | None = None, wait: bool = False) -> int:
    """Close this worker's pools of one grader (all with None). Returns how many there were. Without ``wait`` the
    zygotes end in a thread of their own: Client.run calls this on the worker's event loop, which must not block."""
    with _POOLS_LOCK:
        keys = [key for key in _POOLS if batch is None or key[0].batch == batch]
        pools = [_POOLS.pop(key) for key in keys]

    def close_all() -> None:
        for pool in pools:
            pool.close()

    if wait:
        close_all()
    else:
        threading.Thread(target=close_all, name="autograder-close-pools").start()
    return len(pools)


class NodePoolsPlugin(WorkerPlugin):
    """Closes the worker's sandbox pools (zygotes, cgroups) when the worker shuts down."""

    idempotent = True
    name = "autograder-node-pools"

    def teardown(self, worker) -> None:
        close_node_pools(wait=True)
        close_node_judges()


class NodeCannotJudge(RuntimeError):
    """This node cannot judge (another version of the autograder, a judge server that did not start or died): the
    grader judges the submission itself."""


_JUDGES: dict[tuple, JudgePool] = {}  # (judging digest, check names) -> this worker's judge server


def _judges_here(worker, settings: NodeSettings, checks: tuple[str, ...]) -> JudgePool:
    """This worker's judge server for these checks, started at the first call (its imports and references then load
    in the background). Kept across batches of the same code: judge servers hold no student data."""
    if settings.judging_digest != judging_digest():
        raise NodeCannotJudge(f"{describe_node(worker)} has another version of the autograder's judges or of vaelib "
                              f"than the grader (digest {judging_digest()} there, {settings.judging_digest} here)")
    key = (settings.judging_digest, checks)
    with _POOLS_LOCK:
        judges = _JUDGES.get(key)
        if judges is None:
            log = Path(worker.local_directory) / "autograder-judge.log"
            judges = _JUDGES[key] = JudgePool(warm=list(checks), log_path=log, parallel=max(1, worker.state.nthreads))
        return judges


def start_node_judges(settings: NodeSettings, checks: tuple[str, ...], dask_worker=None) -> bool:
    """Client.run at the start of a batch: start this worker's judge server now, while the grader prepares."""
    try:
        _judges_here(dask_worker, settings, checks)
    except NodeCannotJudge:
        return False
    return True


def judge_on_node(function, args: tuple, settings: NodeSettings, checks: tuple[str, ...]):
    """The Dask task that judges one submission: ``function(*args)`` (autograder.grading.judge_run) in a limited
    child of this worker's judge server. JudgeFailed (the submission's records broke a limit) goes back to the
    grader as it would locally; a judge server that cannot serve raises NodeCannotJudge."""
    worker = get_worker()
    judges = _judges_here(worker, settings, checks)
    try:
        judges.server.wait_ready()
        return judges.call(function, *args)
    except (ForkServerDied, JudgeFailed) as error:
        if not (judges.server.dead or judges.server.process.poll() is not None):
            raise  # the server is alive: this submission's judging failed (its limits), as it would locally
        with _POOLS_LOCK:  # the next task on this worker starts a new one
            if _JUDGES.get((settings.judging_digest, checks)) is judges:
                del _JUDGES[(settings.judging_digest, checks)]
        judges.close()
        raise NodeCannotJudge(f"{describe_node(worker)}: its judge server ended ({error})") from None


def node_judges_ready(dask_worker=None) -> int:
    """How many judge servers this worker has started (they are ready: this waits for them)."""
    with _POOLS_LOCK:
        servers = list(_JUDGES.values())
    for judges in servers:
        judges.server.wait_ready()
    return len(servers)


def close_node_judges() -> None:
    with _POOLS_LOCK:
        servers = list(_JUDGES.values())
        _JUDGES.clear()
    for judges in servers:
        judges.close()


# ------------------------------------------------------------------------------------------------------------
# grader side
# ------------------------------------------------------------------------------------------------------------
def say(message: str) -> None:
    print(f"autograder: {message}", file=sys.stderr, flush=True)


class DaskPoolFactory:
    """The ``pool_factory`` of autograder.batch.grade_batch for ``grade --scheduler``: ``remote`` tells the batch
    that the sandboxes run on the cluster's nodes (this machine needs no bubblewrap)."""

    remote = True

    def __init__(self, scheduler: str, device: str = "cpu"):
        self.scheduler, self.device = scheduler, device

    def __call__(self, size: int, use_sandbox: bool, log_path: Path, files_host: Path,
                 preload: tuple[str, ...] = ()) -> DaskPool:
        return DaskPool(self.scheduler, log_path=log_path, sandboxed=use_sandbox, assignment_files=files_host,
                        device=self.device, preload=preload)


class DaskPool:
    """``run(job) -> run dict`` on a Dask cluster; safe to call from many threads (see the module's docstring).

    ``size``: how many grader threads should call ``run``. ``limits_note``: what the nodes' first look found
    weaker than intended (no cgroups), or None."""

    def __init__(self, scheduler: str, log_path: Path | None = None, sandboxed: bool = True,
                 limits: Limits | None = None, assignment_files: Path | None = None, device: str = "cpu",
                 connect_timeout_s: float = CONNECT_TIMEOUT_S, preload: tuple[str, ...] = ()):
        if not sandboxed:
            raise UsageError("--no-sandbox cannot be used with --scheduler: without the sandbox, student code "
                             "could reach the Dask cluster's network protocol and run code on every node")
        self.address = scheduler
        self.assignment_files = assignment_files
        self.settings = NodeSettings(uuid.uuid4().hex, check_device(device), limits or Limits(), code_digest(),
                                     tuple(preload), judging_digest())
        self.resources = {GPU: 1} if self.settings.device.startswith("cuda") else {}
        self._log = open(log_path, "a", encoding="utf-8") if log_path else None  # noqa: SIM115
        self._cond = threading.Condition()
        self._workers: dict[str, dict] = {}
        self._refused: dict[str, str] = {}  # worker address -> reason
        self._cannot_judge: set[str] = set()  # workers that run submissions but judge with other code
        self._gone: set[str] = set()
        self._in_flight = 0
        self._again_waiting = 0  # later runs of a submission waiting for a slot (they go first)
        self._started: set = set()  # the submissions (job ids) that had a run already
        self._lost: str | None = None
        self._closing = False
        self._files_future = None
        self._files_lock = threading.Lock()
        self._waiting_note = 0.0
        self.limits_note = None
        unreachable = (f"cannot reach the Dask scheduler at {scheduler}: start it (dask scheduler) and its workers "
                       f"(dask worker {scheduler}), then run the same command again")
        try:
            self.client = Client(scheduler, timeout=connect_timeout_s, set_as_default=False)
        except Exception as error:  # noqa: BLE001 - OSError, TimeoutError, a bad address: all mean "no cluster"
            raise ClusterLost(f"{unreachable} ({type(error).__name__}: {error})") from None
        try:
            try:
                self.client.register_plugin(NodePoolsPlugin(), name=NodePoolsPlugin.name)
            except Exception as error:  # noqa: BLE001 - a worker that cannot import us: its first look says so
                self._note(f"could not register the pool plugin on every worker ({type(error).__name__}: {error})")
            self._refresh()
            self._first_look()
        except Exception as error:  # noqa: BLE001 - the scheduler went away while we looked
            self.client.close()
            raise ClusterLost(f"{unreachable} ({type(error).__name__}: {error})") from None
        self._refresher = threading.Thread(target=self._refresh_loop, daemon=True, name="autograder-dask-refresh")
        self._refresher.start()

    # -- the cluster's state -------------------------------------------------------------------------------
    def _note(self, message: str) -> None:
        if self._log is not None:
            self._log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
            self._log.flush()

    def _first_look(self) -> None:
        reports = self.client.run(node_report, self.settings, on_error="return")
        weak = []
        for address, report in sorted(reports.items()):
            if isinstance(report, BaseException):
                self._refuse(address, f"Dask worker {address} cannot grade: it could not run the autograder "
                                      f"({type(report).__name__}: {report}); is the course installed on it?")
                continue
            if report["problem"]:
                self._refuse(address, f"Dask worker {address} on {report['host']} cannot grade: {report['problem']}")
            elif report["cgroups"]:
                weak.append(f"{report['host']} ({report['cgroups']})")
        if weak:
            self.limits_note = (f"no cgroup for the sandbox on {len(weak)} Dask worker(s): {'; '.join(weak[:5])}; "
                                f"memory there is limited per process only (RLIMIT_AS)")
            say(self.limits_note)
        slots = self._slots()
        say(f"grading on the Dask cluster at {self.address}: {len(self._workers)} worker(s), {sum(slots.values())} "
            f"submission(s) at once" + (" (each on a GPU)" if self.resources else ""))

    def _refresh(self) -> None:
        if self.client.status != "running":
            raise ConnectionError(f"the client is {self.client.status}")
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        with self._cond:
            for address in set(self._workers) - set(workers):
                if address not in self._gone and address not in self._refused:
                    self._gone.add(address)
                    say(f"Dask worker {address} left the cluster; Dask runs its submissions again on other workers")
                    self._note(f"worker {address} left")
            self._workers = dict(workers)
            self._cond.notify_all()

    def _refresh_loop(self) -> None:
        while True:
            with self._cond:
                if self._closing or self._lost:
                    return
            time.sleep(REFRESH_S)
            try:
                self._refresh()
            except Exception as error:  # noqa: BLE001 - the client lost its scheduler
                self._lose(f"{type(error).__name__}: {error}")
                return

    def _lose(self, why: str) -> None:
        with self._cond:
            if self._lost is None and not self._closing:
                self._lost = f"lost the Dask scheduler at {self.address} ({why})"
                self._note(self._lost)
            self._cond.notify_all()

    def _refuse(self, address: str, reason: str) -> None:
        with self._cond:
            if address not in self._refused:
                self._refused[address] = reason
                say(f"{reason}; its submissions go to other workers")
                self._note(reason)
            self._cond.notify_all()

    def _slots(self) -> dict[str, int]:
        """Task slots per worker that can run this grader's submissions now."""
        slots = {}
        for address, info in self._workers.items():
            if address in self._refused:
                continue
            threads = int(info.get("nthreads") or 0)
            if self.resources:
                threads = min(threads, int((info.get("resources") or {}).get(GPU, 0)))
            if threads > 0:
                slots[address] = threads
        return slots

    def _host_threads(self) -> dict[str, int]:
        """Dask threads per host: a node gives each submission its cores divided by them."""
        with self._cond:
            hosts: dict[str, int] = {}
            for info in self._workers.values():
                host = info.get("host")
                if host:
                    hosts[host] = hosts.get(host, 0) + int(info.get("nthreads") or 0)
            return hosts

    @property
    def size(self) -> int:
        """How many grader threads should call ``run``: more than the cluster's slots (a thread waits at the gate
        for a free one, and the cluster may grow)."""
        with self._cond:
            return max(MIN_GRADER_THREADS, 2 * (1 + QUEUED_PER_SLOT) * sum(self._slots().values()))

    def _no_node_reason(self) -> str:
        reasons = [self._refused[a] for a in sorted(self._refused) if a in self._workers]
        if self.resources and not any((info.get("resources") or {}).get(GPU) for a, info in self._workers.items()
                                      if a not in self._refused):
            reasons.append(f"no other worker offers the {GPU} resource that --device cuda asks for (start GPU "
                           f"workers with `dask worker ... --resources {GPU}=1`)")
        return "no Dask worker can run it: " + "; ".join(reasons)

    # -- the gate: runs in flight, at most (1 + QUEUED_PER_SLOT) per task slot of the cluster --------------
    def _take_slot(self, again: bool) -> list[str] | None:
        """Blocks until a slot is free; ``again`` (a submission's later run, after a crash) goes before first runs.
        Returns the workers the task may run on (None: any). Raises NoNode when workers exist but none can run it,
        ClusterLost when the scheduler is gone."""
        with self._cond:
            self._again_waiting += again
            try:
                while True:
                    if self._lost:
                        raise ClusterLost(self._lost)
                    if self._closing:
                        raise ClusterLost("the grader closed its connection to the Dask cluster")
                    slots = self._slots()
                    capacity = (1 + QUEUED_PER_SLOT) * sum(slots.values())
                    if slots and self._in_flight < capacity and (again or not self._again_waiting):
                        self._in_flight += 1
                        return sorted(slots) if self._refused else None
                    if not slots and self._workers:
                        raise NoNode(self._no_node_reason())
                    if not self._workers and time.monotonic() - self._waiting_note > WAITING_NOTE_S:
                        self._waiting_note = time.monotonic()
                        say(f"no Dask worker in the cluster at {self.address} yet: waiting for one to join")
                    self._cond.wait(REFRESH_S)
            finally:
                self._again_waiting -= again
                if again:
                    self._cond.notify_all()  # first runs held back for it may go now

    def _give_slot(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def _files(self):
        with self._files_lock:
            if self._files_future is None:
                files = AssignmentFiles.read(self.assignment_files)
                self._files_future = self.client.scatter(files, broadcast=True, hash=False)
            return self._files_future

    def _forget_files(self, future) -> None:
        with self._files_lock:
            if self._files_future is future:
                self._files_future = None

    # -- one run -------------------------------------------------------------------------------------------
    def run(self, job: dict) -> dict:
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        with self._cond:
            again = job.get("job") in self._started
            self._started.add(job.get("job"))
        for _ in range(MAX_SUBMITS):
            try:
                allowed = self._take_slot(again)
            except NoNode as error:
                return self._final(job, str(error))
            files = future = None
            try:
                files = self._files()
                future = self.client.submit(run_on_node, job, files, self.settings, self._host_threads(),
                                            pure=False, workers=allowed, allow_other_workers=False,
                                            resources=self.resources or None)
                # the budget's wall-clock cap, once more for a wait in Dask's queue (a dead worker's runs queue
                # elsewhere, a job run alone waits for the node's others), and the start of a node's zygotes
                run = self._wait(future, allowed, 2 * wall_cap(float(job["notebook_timeout_s"])) + READY_TIMEOUT_S
                                 + 60)
            except NodeRefused as error:
                self._refuse(error.address, error.reason)
                continue
            except KilledWorker as error:
                return self._final(job, f"the Dask workers running this submission died {error.allowed_failures + 1} "
                                        f"time(s) (last: {error.last_worker.address}); a node may have too little "
                                        f"memory for {self.settings.limits.memory_bytes >> 30} GiB per submission "
                                        f"and task slot, or the node's jobs were ended")
            except FutureCancelledError as error:
                if error.reason == "scheduler-connection-lost":
                    self._lose("the connection to it closed")
                    raise ClusterLost(self._lost) from None
                self._forget_files(files)  # e.g. every worker holding the files died: send them again
                self._note(f"run of {job.get('job')} cancelled ({error.reason}); submitted again")
                continue
            except ClusterLost:
                raise
            except (OSError, RuntimeError) as error:  # ClosedClientError, CommClosedError: the client is gone
                if self.client.status != "running":
                    self._lose(f"{type(error).__name__}: {error}")
                    raise ClusterLost(self._lost) from None
                return self._final(job, f"the Dask task failed ({type(error).__name__}: {error})")
            except TaskOverdue as error:
                return self._final(job, str(error))
            except Exception as error:  # noqa: BLE001 - a failure on the node that is not a refusal
                return self._final(job, f"the Dask task failed ({type(error).__name__}: {error})")
            finally:
                if future is not None:  # at once: a result still held would be computed again if its worker died
                    try:
                        future.release()
                    except Exception:  # noqa: BLE001 - a closed client has nothing left to release
                        pass
                self._give_slot()
            if run is None:  # its workers left before it started: choose again
                continue
            self._note(f"{job.get('job')}: {run.get('status')} in {run.get('seconds')} s on {run.get('node')}")
            return run
        return self._final(job, f"it could not be run on the Dask cluster after {MAX_SUBMITS} tries")

    # -- judging on the nodes -----------------------------------------------------------------------------
    def judge_with(self, fallback, checks: tuple[str, ...]):
        """The ``judge_with`` of grade_submission for this cluster: judge on a node (judge_on_node), or with
        ``fallback`` (the grader's own JudgePool.call) where no node can. Starts the nodes' judge servers now."""
        checks = tuple(checks)
        try:
            started = self.client.run(start_node_judges, self.settings, checks, on_error="return")
        except Exception as error:  # noqa: BLE001 - they start with the first judging instead
            self._note(f"could not start the judge servers on the workers ({type(error).__name__}: {error})")
        else:
            refusing = sorted(a for a, ok in started.items() if ok is not True)
            if refusing:  # their runs are fine; their judging would come back to the grader every time
                self._note(f"workers that cannot judge (another copy of the judges, or an error): "
                           f"{', '.join(refusing)}")
                with self._cond:
                    self._cannot_judge.update(refusing)

        def judge(function, *args):
            try:
                return self._judge_on_cluster(function, args, checks)
            except NodeCannotJudge as error:
                self._note(f"judged on the grader: {error}")
                return fallback(function, *args)

        return judge

    def warm_judges(self) -> int:
        """Wait until every worker's judge server is ready (a benchmark times judging without their start)."""
        return sum(n for n in self.client.run(node_judges_ready, on_error="return").values() if isinstance(n, int))

    def _judge_on_cluster(self, function, args: tuple, checks: tuple[str, ...]):
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        with self._cond:
            if self._lost:
                raise ClusterLost(self._lost)
            barred = set(self._refused) | self._cannot_judge
            allowed = sorted(a for a in self._workers if a not in barred) if barred else None
        if allowed == []:
            raise NodeCannotJudge("no Dask worker can judge it")
        # before queued runs: a node judges what it ran while its next run waits
        future = self.client.submit(judge_on_node, function, args, self.settings, checks, pure=False,
                                    workers=allowed, allow_other_workers=False, priority=1)
        try:
            result = self._wait(future, allowed, wall_cap(JUDGE_TIMEOUT_S) + READY_TIMEOUT_S + 60, judging=True)
        except (NodeCannotJudge, JudgeFailed, ClusterLost):
            raise
        except KilledWorker as error:  # the grader's own judge child, under the same limits, cannot take it down
            raise NodeCannotJudge(f"the Dask workers judging it died {error.allowed_failures + 1} time(s)") from None
        except TaskOverdue as error:
            raise NodeCannotJudge(str(error)) from None
        except FutureCancelledError as error:
            if error.reason == "scheduler-connection-lost":
                self._lose("the connection to it closed")
                raise ClusterLost(self._lost) from None
            raise NodeCannotJudge(f"its judging was cancelled ({error.reason})") from None
        except Exception as error:  # noqa: BLE001 - the client is gone, or a failure on the node that is not judging's
            if self.client.status != "running":
                self._lose(f"{type(error).__name__}: {error}")
                raise ClusterLost(self._lost) from None
            raise NodeCannotJudge(f"the Dask task failed ({type(error).__name__}: {error})") from None
        finally:
            try:
                future.release()
            except Exception:  # noqa: BLE001 - a closed client has nothing left to release
                pass
        if result is None:  # every worker it could run on left before it started
            raise NodeCannotJudge("the workers it could run on left the cluster")
        return result

    def _wait(self, future, allowed: list[str] | None, limit_s: float, judging: bool = False) -> dict | None:
        """The task's result, or None when the task can no longer start (every worker it may run on has left).
        Raises TaskOverdue after ``limit_s``: a node enforces the notebook's (and the judging's) budget itself, so a
        task that outlives it by far is stuck on a broken node; the batch must still end with a row for it."""
        deadline = time.monotonic() + limit_s
        while True:
            try:
                return future.result(timeout=REFRESH_S)
            except TimeoutError:
                pass
            if time.monotonic() > deadline:
                future.cancel()
                raise TaskOverdue(f"the Dask task did not finish within {limit_s:.0f} s, far beyond its budget "
                                  f"(a node may be stuck; see the Dask workers' logs)")
            with self._cond:
                if self._lost:
                    future.cancel()
                    raise ClusterLost(self._lost)
                if judging:  # any worker that did not refuse may judge; judging asks for no resource
                    stranded = allowed is not None and not set(allowed) & set(self._workers)
                else:
                    stranded = allowed is not None and not set(allowed) & set(self._slots())
                    stranded = stranded or (bool(self.resources) and not self._slots() and bool(self._workers))
            if stranded and future.status == "pending":
                future.cancel()
                return None

    def _final(self, job: dict, why: str) -> dict:
        """A run that ended without the notebook's results, and that running again cannot help."""
        self._note(f"{job.get('job')}: not run: {why}")
        return {"job": job.get("job"), "status": "error", "final": True, "ended": why, "cells": [], "seconds": 0.0}

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        try:
            if self.client.status == "running" and not self._lost:
                self.client.run(close_node_pools, self.settings.batch, on_error="ignore")
        except Exception:  # noqa: BLE001 - the nodes close idle pools themselves later
            pass
        try:
            self.client.close(timeout=10)
        except Exception:  # noqa: BLE001
            pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
