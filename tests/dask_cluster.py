"""A real Dask cluster on 127.0.0.1 for tests and benchmarks: `dask scheduler` and `dask worker` subprocesses on
free ports, started with the same commands the README gives instructors.

    with LocalDaskCluster(tmp_path) as cluster:
        worker = cluster.add_worker()              # --nthreads 1 --nworkers 1, no nanny
        ... grade --scheduler cluster.address ...
        worker.kill()                              # SIGKILL, as a node that dies
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DASK = str(Path(sys.executable).parent / "dask")
START_TIMEOUT_S = 120.0  # a worker imports distributed and the autograder: slow on a loaded 2-core machine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Process:
    def __init__(self, argv: list[str], log: Path, env: dict | None = None):
        self.argv, self.log_path = argv, log
        self.log = open(log, "ab")  # noqa: SIM115
        self.popen = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                      start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL to the whole process group (a worker's nanny and its worker, as when a node dies)."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait()
        self.log.close()

    def stop(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        self.kill()


class LocalDaskCluster:
    def __init__(self, folder: Path, port: int | None = None, scheduler_env: dict | None = None):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler_env = scheduler_env
        self.scheduler: Process | None = None
        self.workers: list[Process] = []
        self.start_scheduler()

    def start_scheduler(self) -> None:
        env = dict(os.environ, **(self.scheduler_env or {}))
        self.scheduler = Process([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                  "--no-dashboard"], self.folder / f"scheduler-{time.time_ns()}.log", env)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.scheduler.popen.poll() is not None:
                raise RuntimeError(f"dask scheduler exited:\n{self.scheduler.text()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"dask scheduler did not listen on {self.port}:\n{self.scheduler.text()[-3000:]}")

    def add_worker(self, *options: str, nanny: bool = False, env: dict | None = None, name: str | None = None,
                   wait: bool = True, prefix: tuple[str, ...] = ()) -> Process:
        """`dask worker ADDRESS --nthreads 1 --nworkers 1 [options]`; waits until the scheduler has it. ``prefix``:
        a command to run it under, e.g. ("taskset", "-c", "0") to give it one core as a one-core node."""
        name = name or f"w{len(self.workers)}"
        argv = [*prefix, DASK, "worker", self.address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                "--name", name, "--local-directory", str(self.folder / name), *options]
        if not nanny:
            argv.append("--no-nanny")
        worker = Process(argv, self.folder / f"{name}.log", dict(os.environ, **(env or {})) if env else None)
        self.workers.append(worker)
        if wait:
            self.wait_for(lambda info: name in {w.get("name") for w in info["workers"].values()}, worker)
        return worker

    def info(self) -> dict:
        from distributed import Client

        with Client(self.address, timeout=20, set_as_default=False) as client:
            return client.scheduler_info(n_workers=-1)

    def address_of(self, name: str) -> str:
        return next(a for a, w in self.info()["workers"].items() if w.get("name") == name)

    def wait_for(self, condition, process: Process | None = None) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process is not None and process.popen.poll() is not None:
                raise RuntimeError(f"{process.argv} exited:\n{process.text()[-3000:]}")
            try:
                if condition(self.info()):
                    return
            except OSError:
                pass
            time.sleep(0.5)
        log = (process or self.scheduler).text()[-3000:]
        raise RuntimeError(f"the cluster did not reach the expected state:\n{log}")

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self.scheduler is not None:
            self.scheduler.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
