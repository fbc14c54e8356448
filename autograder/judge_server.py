"""Judging in processes of its own, under memory and time limits (grader side; never mounted in the sandbox).

The judge server imports the judges (torch, scipy, vaelib) once, computes the references of the assignment's
VISIBLE cases once (they are the same for every student), and then forks one child per submission
(autograder.student.forkserver). The child limits its own address space and CPU time (with a wall-clock cap as the
backstop, so that a busy machine cannot fail a judging that a quiet one finishes), reads the request from its own
socket, judges, and writes the result back. The server runs in a CPU cgroup of its own where one can be made, with
the weight of one grading worker. A record crafted to exhaust memory or time therefore ends one child,
which fails that one submission with the reason; the batch and the grader go on.

Requests and answers are pickles exchanged only between the grader and its own judge children (never with the
student's process, whose records reach the judges as validated JSON-shaped data).
"""

from __future__ import annotations

import json
import os
import pickle
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

from .executor import ForkServer, ForkServerDied, describe_end
from .student.cellrunner import wall_cap

JUDGE_TIMEOUT_S = 120.0  # CPU seconds for one submission's judging; the references of the heaviest check take a few
JUDGE_MEMORY_BYTES = 3 << 30  # address space a judge child may add to what it inherits
HEADER = struct.Struct("!Q")


class JudgeFailed(RuntimeError):
    """The judging of one submission did not finish; the message says why."""


def _send(sock: socket.socket, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(HEADER.pack(len(data)) + data)


def _receive(sock: socket.socket, deadline: float | None = None) -> object:
    def read(count: int) -> bytes:
        chunks, remaining = [], count
        while remaining:
            if deadline is not None:
                sock.settimeout(max(0.001, deadline - time.monotonic()))
            chunk = sock.recv(min(remaining, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    (size,) = HEADER.unpack(read(HEADER.size))
    return pickle.loads(read(size))


def _virtual_memory_bytes() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _judge_child(config: dict):
    def handle(job: socket.socket) -> int:
        limit = _virtual_memory_bytes() + int(config["memory_bytes"])
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        cpu = int(config["timeout_s"]) + 1  # a fork's CPU time starts at 0; SIGXCPU's default action ends this child
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        signal.alarm(int(wall_cap(config["timeout_s"])) + 1)  # the wall-clock backstop: SIGALRM ends it too
        function, args = _receive(job)
        try:
            result = (True, function(*args))
        except BaseException as error:  # noqa: BLE001 - reported to the grader, which fails this one submission
            text = "".join(traceback.format_exception_only(type(error), error)).strip()[:2000]
            result = (False, text)
        _send(job, result)
        return 0

    return handle


# What the judges import lazily (the grader's own process never needs them). The server imports them before it
# forks: a judge child is a fresh fork per submission, and one `import scipy.stats` there costs ~0.8 CPU-s, which
# was most of a ps3 submission's judging. tests/test_judge_warm_up.py checks that judging imports nothing more.
# (Cheap ones only: each costs little beyond torch. vaelib.data brings scikit-learn, ~0.9 CPU-s: no judge reads the
# digits; ps4's trained VAE is judged on images of the grader's own model, ps4_gradients.teacher_images.)
JUDGING_IMPORTS = ("scipy.special", "vaelib.linear_gaussian", "vaelib.models", "vaelib.pca", "vaelib.probability")


def preload_judging_imports() -> None:
    import importlib

    for name in JUDGING_IMPORTS:
        importlib.import_module(name)


def warm_up(check_names: list[str]) -> None:
    """Compute and cache the references that are the same for every submission: those of the visible cases, and
    those a judge names itself (Judge.warm: ps3's pool of hidden IWAE networks)."""
    from .judging import JUDGES, prepared_cases
    from .student.probes import VISIBLE_SEED

    for name in check_names:
        judge_def = JUDGES.get(name)
        if judge_def is not None and judge_def.warm is not None:
            judge_def.warm()
        if judge_def is None or judge_def.statistics is None:
            continue
        for case in prepared_cases(name, VISIBLE_SEED, "visible"):
            if judge_def.statistical is None or judge_def.statistical(case):
                judge_def.statistics(case)


def _reference_caches() -> dict[str, dict]:
    """Every judge module's in-process reference cache (module-level dicts named ``*_CACHE``)."""
    import types

    from . import judging

    found = {}
    for module in vars(judging).values():
        if isinstance(module, types.ModuleType) and module.__name__.startswith(judging.__name__ + "."):
            for name, value in vars(module).items():
                if name.endswith("_CACHE") and isinstance(value, dict):
                    found[f"{module.__name__}.{name}"] = value
    return found


def _references_file(check_names: list[str]) -> Path:
    """Where the warm-up's references are kept between batches: named by a digest of everything that computes them
    (the judges, the case drawers, vaelib, the torch and numpy versions) and of the checks."""
    import hashlib

    import numpy
    import torch

    from .nbgrader_cli import cache_root

    root = Path(__file__).resolve().parent
    digest = hashlib.sha256(f"{torch.__version__}:{numpy.__version__}:{sorted(check_names)}".encode())
    for folder in (root / "judging", root / "student", root.parent / "vaelib"):
        for path in sorted(folder.rglob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return cache_root() / "references" / f"{digest.hexdigest()[:24]}.pickle"


def warm_up_cached(check_names: list[str]) -> None:
    """warm_up, reusing the references of an earlier batch with the same code (they are computed from fixed seeds,
    so a verdict never depends on whether they came from the file: ~2 CPU-s saved per batch for ps3)."""
    caches = _reference_caches()
    try:
        path = _references_file(check_names)
        saved = pickle.loads(path.read_bytes())
    except Exception:  # noqa: BLE001 - no file yet, or an unreadable one: compute
        saved, path = None, locals().get("path")
    if isinstance(saved, dict) and set(saved) == set(caches):
        for name, cache in caches.items():
            cache.update(saved[name])
        return
    warm_up(check_names)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_bytes(pickle.dumps(caches, protocol=pickle.HIGHEST_PROTOCOL))
        partial.replace(path)  # atomic: a concurrent batch reads the whole file or none
    except OSError:
        pass  # a read-only cache folder: the next batch computes them again


def prepare_server(check_names: list[str]) -> None:
    """Everything the server does once before it forks judges: imports, and the references shared by every
    submission. A judge child then computes only what is its own submission's."""
    import torch

    torch.set_num_threads(1)  # judging works on small tensors; extra threads only spin on a loaded machine
    from . import grading, judging  # noqa: F401  (the judges and the function the grader sends)

    preload_judging_imports()
    warm_up_cached(check_names)


def main() -> None:
    from .student import forkserver

    config = json.loads(sys.argv[1])
    control = socket.socket(fileno=int(config["control_fd"]))
    prepare_server(config.get("warm", []))
    forkserver.serve(control, _judge_child(config))


class JudgePool:
    """The grader's handle on its judge server. ``call(function, *args)`` runs ``function(*args)`` in a fresh,
    limited child and returns its result, or raises JudgeFailed."""

    def __init__(self, warm: list[str] | None = None, log_path: Path | None = None,
                 timeout_s: float = JUDGE_TIMEOUT_S, memory_bytes: int = JUDGE_MEMORY_BYTES,
                 parallel: int | None = None):
        self.timeout_s = timeout_s
        # at most one judging per core at once: with runs on a cluster, finished runs can arrive faster than they are
        # judged, and dozens of judges sharing a few cores would all run past their time limit
        self._parallel = threading.BoundedSemaphore(parallel or len(os.sched_getaffinity(0)))
        self._numbers = iter(range(1, 1 << 62))
        package_parent = str(Path(__file__).resolve().parents[1])
        config = {"warm": warm or [], "timeout_s": timeout_s, "memory_bytes": memory_bytes}

        def argv_for(fd: int) -> list[str]:
            bootstrap = (f"import sys; sys.path.insert(0, {package_parent!r}); "
                         "from autograder.judge_server import main; main()")
            return [sys.executable, "-I", "-c", bootstrap, json.dumps(dict(config, control_fd=fd))]

        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
        self._log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        from .sandbox import CgroupFactory

        self._cgroups = CgroupFactory(None, workers=1, quota_cores=None, label="autograder-judges")
        group = self._cgroups.make("server") if self._cgroups.counts_cpu else None
        self.server = ForkServer(argv_for, env, self._log, group.attach_self if group is not None else None,
                                 name="judge server")

    def call(self, function, *args):
        with self._parallel:
            return self._call(function, *args)

    def _call(self, function, *args):
        self.server.wait_ready()
        number = next(self._numbers)
        try:
            sock = self.server.start_job(number)
        except ForkServerDied as error:
            raise JudgeFailed(str(error)) from error
        deadline = time.monotonic() + wall_cap(self.timeout_s) + 5.0  # the child's own limits come first
        try:
            _send(sock, (function, args))
            ok, result = _receive(sock, deadline)
        except TimeoutError:
            self.server.kill_job(number)
            raise JudgeFailed(f"judging ran past its wall-clock cap of {wall_cap(self.timeout_s):g} s") from None
        except (EOFError, OSError):
            ended = self.server.wait_ended(number, 10.0)
            if ended and ended.get("signal") == signal.SIGXCPU:
                raise JudgeFailed(f"judging used more than its {self.timeout_s:g} s of CPU time") from None
            if ended and ended.get("signal") == signal.SIGALRM:
                raise JudgeFailed(f"judging ran past its wall-clock cap of {wall_cap(self.timeout_s):g} s") from None
            raise JudgeFailed(f"the judging process ended without an answer ({describe_end(ended) or 'unknown'}; "
                              "a returned value may have exhausted its memory or CPU time)") from None
        finally:
            sock.close()
        self.server.wait_ended(number, 10.0)
        if not ok:
            raise JudgeFailed(f"judging raised {result}")
        return result

    def close(self) -> None:
        self.server.close()
        self._cgroups.remove_all()
        if self._log is not subprocess.DEVNULL:
            self._log.close()
