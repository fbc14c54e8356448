"""Grading on a Dask cluster (autograder.distributed, `grade --scheduler`).

The slow tests start real `dask scheduler` / `dask worker` processes on 127.0.0.1 (tests/dask_cluster.py) and run
the real `python -m autograder grade`; the fast ones check the pieces that need no cluster (the GPU sandbox's bwrap
arguments and limits, the notebook's VAE_DEVICE, uid claims, the shipped data files, the error paths).
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.executor import ClusterLost
from autograder.grading import run_with_restarts
from tests.dask_cluster import LocalDaskCluster, free_port

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "tests" / "fixtures" / "course"
FX_SOLUTION = COURSE / "solutions" / "fx_kl" / "fx_kl.ipynb"
FX_EXERCISE = COURSE / "exercises" / "fx_kl" / "fx_kl.ipynb"
PRELOAD = ROOT / "tests" / "dask_worker_preload.py"
GRADE_TIMEOUT_S = 1500


# ------------------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------------------
def grade_command(submissions: Path, output: Path, assignment: str, *options: str) -> list[str]:
    course = [] if assignment.startswith("ps") else ["--course-root", str(COURSE)]
    return [sys.executable, "-m", "autograder", "grade", "--assignment", assignment, str(submissions), "--output",
            str(output), *course, *options]


def grade(submissions: Path, output: Path, assignment: str, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(grade_command(submissions, output, assignment, "--no-progress", *options),
                          capture_output=True, text=True, timeout=GRADE_TIMEOUT_S)


def rows(output: Path) -> dict[str, dict]:
    with open(output / "grades.csv", newline="") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def put(folder: Path, student: str, text: str, name: str) -> None:
    (folder / student).mkdir(parents=True, exist_ok=True)
    (folder / student / name).write_text(text)


def with_sleep_cell(notebook_text: str, seconds: float) -> str:
    notebook = json.loads(notebook_text)
    notebook["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                              "source": f"import time\ntime.sleep({seconds})"})
    return json.dumps(notebook)


def ps3_batch(folder: Path, count: int) -> list[str]:
    """``count`` ps3_elbo submissions: the solution, the released exercise, a notebook whose process dies in a test
    cell, and every mutant and alternative implementation of tests/submissions (cycled)."""
    sys.path.insert(0, str(ROOT / "tests" / "submissions"))
    try:
        import make_submissions
    finally:
        sys.path.remove(str(ROOT / "tests" / "submissions"))
    generated = folder.parent / "generated"
    variants = [("solution", (ROOT / "solutions/ps3_elbo/ps3_elbo.ipynb").read_text()),
                ("exercise", (ROOT / "exercises/ps3_elbo/ps3_elbo.ipynb").read_text())]
    crash = make_submissions.apply_replacement(make_submissions.load_solution("ps3_elbo"), "gaussian_kl",
                                               "def gaussian_kl(mu, log_var):\n    import os\n    os._exit(3)\n")
    variants.append(("crash", json.dumps(crash)))
    variants += [(path.parent.name, path.read_text())
                 for path in make_submissions.make_submissions("ps3_elbo", generated)]
    students = []
    for index in range(count):
        name, text = variants[index % len(variants)]
        student = f"s{index:02d}_{name}"[:50]
        put(folder, student, text, "ps3_elbo.ipynb")
        students.append(student)
    return students


class Progress:
    """Reads a running `grade`'s stderr (its tqdm bar) and knows how many submissions are done."""

    def __init__(self, process: subprocess.Popen, total: int):
        self.process, self.total, self.text, self.done = process, total, "", 0
        self.pattern = re.compile(rf"(\d+)/{total} \[")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for chunk in iter(lambda: self.process.stderr.read1(4096), b""):
            self.text += chunk.decode(errors="replace")
            counts = self.pattern.findall(self.text[-2000:])
            if counts:
                self.done = int(counts[-1])

    def wait_for(self, done: int, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while self.done < done and self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.done

    def finish(self, timeout_s: float) -> int:
        code = self.process.wait(timeout=timeout_s)
        self._reader.join(timeout=10)
        return code


def run_lines(log: Path) -> list[str]:
    """The grader's worker.log lines of finished runs ("<student>: <status> in <s> s on Dask worker ...")."""
    return [line for line in log.read_text().splitlines() if " s on Dask worker " in line] if log.exists() else []


def wait_for_runs(log: Path, count: int, process: subprocess.Popen) -> list[str]:
    deadline = time.monotonic() + GRADE_TIMEOUT_S
    while len(run_lines(log)) < count and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return run_lines(log)


def job(student: str, *sources: str, seconds: float = 120.0) -> dict:
    return {"job": student, "cells": [{"position": i, "source": s, "grade_id": None} for i, s in enumerate(sources)],
            "master_seed": 1, "cell_timeout_s": 60.0, "notebook_timeout_s": seconds, "threads": 1, "files_dir": ""}


# ------------------------------------------------------------------------------------------------------------
# a worker killed mid-batch loses nothing; every row equals a local run's with the same seeds
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_dask_batch_survives_a_killed_worker_and_matches_the_local_run(tmp_path):
    submissions = tmp_path / "submissions"
    students = ps3_batch(submissions, 40)
    local = grade(submissions, tmp_path / "local", "ps3_elbo", "--workers", "2")
    assert local.returncode == 0, local.stderr[-3000:]
    expected = rows(tmp_path / "local")
    assert sorted(expected) == sorted(students)
    assert {r["status"] for r in expected.values()} >= {"ok", "error"}  # the crash notebook's row is an error

    with LocalDaskCluster(tmp_path / "cluster") as cluster:
        doomed = cluster.add_worker(name="doomed")
        cluster.add_worker(name="survivor")
        doomed_address = cluster.address_of("doomed")
        output = tmp_path / "dask"
        process = subprocess.Popen(grade_command(submissions, output, "ps3_elbo", "--scheduler", cluster.address,
                                                 "--seeds-from", str(tmp_path / "local" / "grades.csv")),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        progress = Progress(process, len(students))
        runs_at_kill = wait_for_runs(output / "worker.log", 4, process)  # runs done (judging follows on the grader)
        doomed.kill()  # SIGKILL: its running submission and its sandboxes die with it
        code = progress.finish(GRADE_TIMEOUT_S)
        stdout = process.stdout.read().decode()
        survivor_judged = list((tmp_path / "cluster" / "survivor").rglob("autograder-judge.log"))  # (gone at its exit)
    assert code == 0, progress.text[-4000:]
    assert 4 <= len(runs_at_kill) <= len(students) - 10, f"not killed mid-batch ({len(runs_at_kill)} runs done)"
    assert f"Dask worker {doomed_address} left the cluster" in progress.text
    runs = run_lines(output / "worker.log")
    assert any(f"on Dask worker {doomed_address} " in line for line in runs_at_kill), "the doomed worker ran nothing"
    after = runs[len(runs_at_kill) + 2:]  # (two runs may have ended while it was being killed)
    assert after and not any(doomed_address in line for line in after), "runs went on on the killed worker"
    got = rows(output)
    assert sorted(got) == sorted(students), stdout  # exactly one row per submission
    # the nodes judged (each started a judge server of its own); none had to hand its judging back to the grader
    assert "judged on the grader" not in (output / "worker.log").read_text()
    assert survivor_judged, "the surviving worker never started a judge server"
    for student in students:
        want = {k: v for k, v in expected[student].items() if k != "seconds"}
        have = {k: v for k, v in got[student].items() if k != "seconds"}
        assert have == want, student


# ------------------------------------------------------------------------------------------------------------
# a node without bubblewrap refuses loudly; with no node able to run, every submission gets an error row
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_worker_without_bubblewrap_refuses_loudly(tmp_path):
    submissions = tmp_path / "submissions"
    put(submissions, "solution", FX_SOLUTION.read_text(), "fx_kl.ipynb")
    put(submissions, "exercise", FX_EXERCISE.read_text(), "fx_kl.ipynb")
    empty_bin = tmp_path / "bin"  # a PATH on which neither bwrap nor setpriv can be found
    empty_bin.mkdir()
    with LocalDaskCluster(tmp_path / "cluster") as cluster:
        cluster.add_worker(name="nobwrap", env={"PATH": str(empty_bin)})
        nobwrap = cluster.address_of("nobwrap")
        alone = grade(submissions, tmp_path / "alone", "fx_kl", "--scheduler", cluster.address)
        assert alone.returncode == 0, alone.stderr[-3000:]
        refusal = f"Dask worker {nobwrap} on "
        assert refusal in alone.stderr and "bwrap and setpriv not found on its PATH" in alone.stderr
        for row in rows(tmp_path / "alone").values():
            assert row["status"] == "error" and float(row["score"]) == 0, row
            assert "no Dask worker can run it" in row["message"] and "bubblewrap" in row["message"], row
            assert nobwrap in row["message"], row

        cluster.add_worker(name="sandboxed")
        mixed = grade(submissions, tmp_path / "mixed", "fx_kl", "--scheduler", cluster.address)
        assert mixed.returncode == 0, mixed.stderr[-3000:]
        assert refusal in mixed.stderr and "its submissions go to other workers" in mixed.stderr
        graded = rows(tmp_path / "mixed")
        assert graded["solution"]["status"] == "ok" and float(graded["solution"]["score"]) == 5, graded
        assert graded["exercise"]["status"] == "ok" and float(graded["exercise"]["score"]) == 0, graded


@pytest.mark.slow
def test_a_node_that_cannot_judge_hands_its_judging_back_to_the_grader(tmp_path):
    submissions = tmp_path / "submissions"
    put(submissions, "solution", FX_SOLUTION.read_text(), "fx_kl.ipynb")
    put(submissions, "exercise", FX_EXERCISE.read_text(), "fx_kl.ipynb")
    with LocalDaskCluster(tmp_path / "cluster") as cluster:
        cluster.add_worker("--preload", str(PRELOAD), name="nojudge", env={"AUTOGRADER_TEST_NO_JUDGE": "1"})
        result = grade(submissions, tmp_path / "out", "fx_kl", "--scheduler", cluster.address)
    assert result.returncode == 0, result.stderr[-3000:]
    graded = rows(tmp_path / "out")
    assert graded["solution"]["status"] == "ok" and float(graded["solution"]["score"]) == 5, graded
    assert graded["exercise"]["status"] == "ok" and float(graded["exercise"]["score"]) == 0, graded
    log = (tmp_path / "out" / "worker.log").read_text()
    assert log.count("judged on the grader") == 2 and "its judge server ended" in log, log[-3000:]


# ------------------------------------------------------------------------------------------------------------
# GPU resource annotation; a submission whose workers keep dying (KilledWorker) gets one error row
# ------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gpu_cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpu-cluster")
    with LocalDaskCluster(folder, scheduler_env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}) as cluster:
        preload = ("--preload", str(PRELOAD))
        cluster.add_worker(*preload, "--resources", "GPU=1", name="gpu", nanny=True,
                           env={"AUTOGRADER_TEST_FAKE_GPU": "1"})
        cluster.add_worker(*preload, name="cpu", nanny=True)
        yield cluster


@pytest.mark.slow
def test_device_cuda_asks_dask_for_a_gpu_worker_and_tells_the_notebook(gpu_cluster):
    from autograder.distributed import DaskPool

    gpu = gpu_cluster.address_of("gpu")
    with DaskPool(gpu_cluster.address, device="cuda") as pool:
        assert pool.resources == {"GPU": 1}
        assert sum(pool._slots().values()) == 1  # only the worker started with --resources GPU=1
        check = "import os\nassert os.environ['VAE_DEVICE'] == 'cuda', os.environ.get('VAE_DEVICE')"
        with ThreadPoolExecutor(3) as threads:
            runs = list(threads.map(pool.run, [job(f"gpu{i}", check) for i in range(3)]))
    for run in runs:
        assert run["status"] == "ok" and run["cells"][0]["status"] == "ok", run
        assert run["node"].startswith(f"Dask worker {gpu} "), run
    with DaskPool(gpu_cluster.address) as pool:  # --device cpu (the default): any worker, VAE_DEVICE=cpu
        run = pool.run(job("cpu0", "import os\nassert os.environ['VAE_DEVICE'] == 'cpu'"))
    assert run["status"] == "ok" and run["cells"][0]["status"] == "ok", run


@pytest.mark.slow
def test_a_submission_that_keeps_killing_its_workers_gets_one_error_row(gpu_cluster, tmp_path):
    submissions = tmp_path / "submissions"
    for student in ("solution_a", "solution_b", "killer"):
        put(submissions, student, FX_SOLUTION.read_text(), "fx_kl.ipynb")
    result = grade(submissions, tmp_path / "out", "fx_kl", "--scheduler", gpu_cluster.address)
    assert result.returncode == 0, result.stderr[-3000:]
    graded = rows(tmp_path / "out")
    assert sorted(graded) == ["killer", "solution_a", "solution_b"]
    assert graded["killer"]["status"] == "error" and float(graded["killer"]["score"]) == 0
    assert "the Dask workers running this submission died 2 time(s)" in graded["killer"]["message"]
    for student in ("solution_a", "solution_b"):
        assert graded[student]["status"] == "ok" and float(graded[student]["score"]) == 5, graded[student]


# ------------------------------------------------------------------------------------------------------------
# a lost scheduler: a clear error, nothing half-written, and the same command works once a cluster is back
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_lost_scheduler_stops_the_batch_clearly_and_the_same_command_runs_again(tmp_path):
    submissions = tmp_path / "submissions"
    slow = with_sleep_cell(FX_SOLUTION.read_text(), 2)
    students = [f"student{i}" for i in range(8)]
    for student in students:
        put(submissions, student, slow, "fx_kl.ipynb")
    port = free_port()
    output = tmp_path / "out"
    with LocalDaskCluster(tmp_path / "cluster", port=port) as cluster:
        cluster.add_worker(name="only")
        command = grade_command(submissions, output, "fx_kl", "--scheduler", cluster.address)
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        progress = Progress(process, len(students))
        assert progress.wait_for(1, GRADE_TIMEOUT_S) < len(students), progress.text[-3000:]
        cluster.scheduler.kill()
        started = time.monotonic()
        code = progress.finish(GRADE_TIMEOUT_S)
        assert code == 3, progress.text[-3000:]
        assert time.monotonic() - started < 120
        assert f"error: lost the Dask scheduler at {cluster.address}" in progress.text
        assert "run the same command again once the Dask cluster is back" in progress.text
        assert not (output / "grades.csv").exists()  # nothing half-written

    with LocalDaskCluster(tmp_path / "cluster-again", port=port) as cluster:  # the cluster is back
        cluster.add_worker(name="again")
        again = subprocess.run([*command, "--no-progress"], capture_output=True, text=True, timeout=GRADE_TIMEOUT_S)
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = re.search(r"(\d+) of 8 submission\(s\) were already graded into .*; grading the (\d+) missing",
                        again.stderr)
    assert resumed and int(resumed.group(1)) >= 1, again.stderr[-3000:]  # the journal kept what was finished
    graded = rows(output)
    assert sorted(graded) == students
    assert all(r["status"] == "ok" and float(r["score"]) == 5 for r in graded.values()), graded


def test_an_unreachable_scheduler_is_a_clear_error_at_once():
    from autograder.distributed import DaskPool

    address = f"tcp://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(ClusterLost, match=f"cannot reach the Dask scheduler at {address}"):
        DaskPool(address, connect_timeout_s=2)
    assert time.monotonic() - started < 30


def test_no_sandbox_is_refused_on_a_cluster():
    from autograder.course import UsageError
    from autograder.distributed import DaskPool

    with pytest.raises(UsageError, match="--no-sandbox cannot be used with --scheduler"):
        DaskPool("tcp://127.0.0.1:1", sandboxed=False)


# ------------------------------------------------------------------------------------------------------------
# pieces without a cluster
# ------------------------------------------------------------------------------------------------------------
GPU_NODES = ["/dev/nvidia-caps", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia0", "/dev/nvidiactl"]


@pytest.mark.skipif(not sandbox.sandbox_available(), reason="bubblewrap is not installed")
def test_a_gpu_sandbox_binds_the_nvidia_device_nodes_after_its_fresh_dev(monkeypatch):
    monkeypatch.setattr(sandbox, "gpu_device_nodes", lambda: GPU_NODES)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    args = sandbox.command(["true"], 61001, gpu=True)
    dev = args.index("--dev")
    assert args[dev + 1] == "/dev"
    for node in GPU_NODES:
        position = args.index(node)
        assert args[position - 1] == "--dev-bind-try" and args[position + 1] == node and position > dev
    variable = args.index("CUDA_VISIBLE_DEVICES")
    assert args[variable - 1] == "--setenv" and args[variable + 1] == "1"
    cpu = sandbox.command(["true"], 61001)
    assert "--dev-bind-try" not in cpu and "CUDA_VISIBLE_DEVICES" not in cpu
    assert not any("nvidia" in a for a in cpu)


def run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_gpu_sandbox_keeps_every_rlimit_but_the_address_space():
    code = ("import resource; from autograder.sandbox import Limits, apply_rlimits; limits = Limits(); "
            "apply_rlimits(limits, address_space={}); "
            "print(resource.getrlimit(resource.RLIMIT_AS)[0], resource.getrlimit(resource.RLIMIT_FSIZE)[0], "
            "limits.memory_bytes, limits.file_bytes)")
    address, size, memory, file_bytes = map(int, run_python(code.format(False)).split())
    assert address == resource_infinity() and size == file_bytes
    address, size, memory, file_bytes = map(int, run_python(code.format(True)).split())
    assert address == memory and size == file_bytes


def resource_infinity() -> int:
    import resource

    return resource.RLIM_INFINITY


def test_the_notebook_gets_vae_device_and_only_the_grader_s_cuda_visible_devices(tmp_path):
    code = ("import os, json; from autograder.student.child import reset_environment; "
            "os.environ['CUDA_VISIBLE_DEVICES'] = '2'; os.environ['SECRET'] = 'x'; "
            "reset_environment({root!r}, 1, {device!r}); print(json.dumps(dict(os.environ)))")
    cuda = json.loads(run_python(code.format(root=str(tmp_path), device="cuda")))
    assert cuda["VAE_DEVICE"] == "cuda" and cuda["CUDA_VISIBLE_DEVICES"] == "2" and "SECRET" not in cuda
    cpu = json.loads(run_python(code.format(root=str(tmp_path), device="cpu")))
    assert cpu["VAE_DEVICE"] == "cpu" and "CUDA_VISIBLE_DEVICES" not in cpu


def test_sandbox_uids_are_exclusive_across_processes():
    """Two graders (or two Dask workers) on one machine never share a sandbox uid (RLIMIT_NPROC is per uid)."""
    claim_in_child = "from autograder import sandbox; print(sandbox.claim_uid(7).uid)"
    claim = sandbox.claim_uid(7)
    try:
        assert sandbox.SANDBOX_UID_BASE <= claim.uid < sandbox.SANDBOX_UID_BASE + sandbox.SANDBOX_UIDS
        other = int(run_python(claim_in_child))  # another process skips the held uid
        again = sandbox.claim_uid(7)  # and so does this process
        assert other != claim.uid and again.uid != claim.uid
        again.release()
    finally:
        claim.release()
    assert int(run_python(claim_in_child)) == claim.uid  # free again (a dead process's locks are dropped too)


def test_assignment_files_arrive_intact_and_world_readable(tmp_path):
    from autograder.distributed import AssignmentFiles, materialise

    source = tmp_path / "release"
    (source / "data" / "empty").mkdir(parents=True)
    (source / "data" / "x.npy").write_bytes(b"\x93NUMPY" + bytes(range(256)))
    (source / "notes.txt").write_text("hello")
    files = AssignmentFiles.read(source)
    assert files == AssignmentFiles.read(source)  # the digest depends on the content only
    target = materialise(files, tmp_path / "node")
    assert target.name == files.digest and materialise(files, tmp_path / "node") == target
    assert (target / "data" / "x.npy").read_bytes() == (source / "data" / "x.npy").read_bytes()
    assert (target / "notes.txt").read_text() == "hello" and (target / "data" / "empty").is_dir()
    assert all(p.stat().st_mode & 0o777 == (0o755 if p.is_dir() else 0o644) for p in [target, *target.rglob("*")])
    damaged = AssignmentFiles(files.digest, dict(files.files, **{"notes.txt": b"changed"}), files.folders)
    with pytest.raises(ValueError, match="damaged"):
        materialise(damaged, tmp_path / "elsewhere")
    escaping = {"../outside": b"x"}
    from autograder.distributed import files_digest

    with pytest.raises(ValueError, match="unsafe"):
        materialise(AssignmentFiles(files_digest(escaping, ()), escaping), tmp_path / "elsewhere")
    assert not (tmp_path / "outside").exists()


def test_a_final_run_is_not_run_again():
    calls = []

    def run_job(job):
        calls.append(job)
        return {"job": job["job"], "status": "error", "final": True, "ended": "no node", "cells": [], "seconds": 0}

    run = run_with_restarts(job("x", "1", "2", "3"), run_job)
    assert len(calls) == 1 and run["status"] == "error" and run["ended"] == "no node" and run["cells"] == []


def test_the_notebook_budget_counts_the_seconds_runs_took_not_the_wait_for_a_node():
    budgets = []

    def run_job(job):  # every run crashes in its first cell after 3 s of running, after a wait for a free node
        budgets.append(job["notebook_timeout_s"])
        time.sleep(0.3)
        return {"job": job["job"], "status": "crashed", "ended": "exit code 3", "cells": [], "seconds": 3.0}

    run = run_with_restarts(dict(job("x", *["1"] * 6), notebook_timeout_s=10.0), run_job)
    assert budgets == [10.0, 7.0, 4.0, 1.0], budgets
    assert run["status"] == "crashed" and run["ended"].count("exit code 3") == 4


def test_the_grade_command_offers_scheduler_and_device():
    from autograder.__main__ import build_parser

    args = build_parser().parse_args(["grade", "--assignment", "x", "subs", "--scheduler", "tcp://h:8786",
                                      "--device", "cuda"])
    assert args.scheduler == "tcp://h:8786" and args.device == "cuda"
    assert build_parser().parse_args(["grade", "--assignment", "x", "subs"]).device == "cpu"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["grade", "--assignment", "x", "subs", "--device", "tpu"])


def test_a_node_refuses_without_bubblewrap_with_other_code_or_without_a_gpu(monkeypatch):
    """The node's own check (run by the grader's first look and by every new pool on a worker)."""
    from autograder import distributed

    settings = distributed.NodeSettings("b", "cpu", sandbox.Limits(), distributed.code_digest())
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    assert "bwrap and setpriv not found on its PATH" in distributed.node_problem(settings)
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(distributed.os, "geteuid", lambda: 1000)
    assert "needs root" in distributed.node_problem(settings)
    monkeypatch.setattr(distributed.os, "geteuid", lambda: 0)
    monkeypatch.setattr(sandbox, "gpu_device_nodes", lambda: [])
    assert distributed.node_problem(settings) is None
    other = distributed.NodeSettings("b", "cpu", sandbox.Limits(), "0" * 16)
    assert "another version of the autograder" in distributed.node_problem(other)
    gpu = distributed.NodeSettings("b", "cuda", sandbox.Limits(), distributed.code_digest())
    assert "no NVIDIA device nodes" in distributed.node_problem(gpu)
    monkeypatch.setattr(sandbox, "gpu_device_nodes", lambda: ["/dev/nvidia0"])
    assert distributed.node_problem(gpu) is None


def test_a_node_judges_only_with_the_grader_s_judges(tmp_path, monkeypatch):
    """Another copy of the judges (or of vaelib) on a node would give the same bug another grade there: such a node
    hands its judging back to the grader (NodeCannotJudge) before it starts a judge server."""
    from types import SimpleNamespace

    from autograder import distributed

    worker = SimpleNamespace(address="tcp://10.0.0.9:1", local_directory=str(tmp_path),
                             state=SimpleNamespace(nthreads=1))
    monkeypatch.setattr(distributed, "_JUDGES", {})
    theirs = distributed.NodeSettings("b", "cpu", sandbox.Limits(), distributed.code_digest(), (), "0" * 16)
    with pytest.raises(distributed.NodeCannotJudge, match="another version of the autograder's judges"):
        distributed._judges_here(worker, theirs, ("kl_divergence",))
    assert distributed.start_node_judges(theirs, ("kl_divergence",), dask_worker=worker) is False
    assert distributed._JUDGES == {} and not (tmp_path / "autograder-judge.log").exists()


def test_the_judging_digest_changes_with_any_judge_but_the_code_digest_does_not(tmp_path, monkeypatch):
    import shutil

    from autograder import distributed

    copies = {}
    for package in ("autograder", "vaelib"):
        copies[package] = tmp_path / package
        shutil.copytree(sandbox.package_dir(package), copies[package], ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(sandbox, "package_dir", lambda package: copies[package])

    def digests() -> tuple[str, str]:
        distributed.code_digest.cache_clear()
        distributed.judging_digest.cache_clear()
        return distributed.code_digest(), distributed.judging_digest()

    try:
        code, judging = digests()
        judge_file = next((copies["autograder"] / "judging").glob("ps*.py"))
        judge_file.write_text(judge_file.read_text() + "\n# a TA's local change\n")
        code_after, judging_after = digests()
        assert code_after == code and judging_after != judging
    finally:
        monkeypatch.undo()
        digests()


class _FakeJudgingClient:
    """Client.run and Client.submit as DaskPool.judge_with uses them, with a verdict or an error per submit."""

    status = "running"

    def __init__(self, can_judge: dict[str, bool], outcomes: list):
        self.can_judge, self.outcomes, self.submitted = can_judge, outcomes, []

    def run(self, function, *args, on_error="raise"):
        return dict(self.can_judge)

    def submit(self, function, *args, **options):
        self.submitted.append(options)
        outcome = self.outcomes.pop(0)

        class Future:
            status = "finished"

            def result(self, timeout=None):
                if isinstance(outcome, BaseException):
                    raise outcome
                return outcome

            def release(self):
                pass

        return Future()


def test_judging_skips_nodes_that_cannot_judge_and_comes_back_to_the_grader_when_none_can(tmp_path):
    """A node with another copy of the judges never gets a judging; a judging whose workers keep dying, or that no
    node can take, is judged by the grader's own judges (the fallback), never lost."""
    from types import SimpleNamespace

    from distributed.scheduler import KilledWorker

    from autograder import distributed

    pool = distributed.DaskPool.__new__(distributed.DaskPool)
    pool._cond, pool._lost, pool._log, pool.settings = threading.Condition(), None, None, None
    pool._workers, pool._refused, pool._cannot_judge = {"tcp://a:1": {}, "tcp://b:1": {}}, {}, set()
    died = KilledWorker("judge-key", SimpleNamespace(address="tcp://a:1"), 3)
    pool.client = _FakeJudgingClient({"tcp://a:1": True, "tcp://b:1": False}, ["node verdict", died])
    on_grader = []
    judge = pool.judge_with(lambda function, *args: on_grader.append(args) or "grader verdict", ("kl",))
    assert pool._cannot_judge == {"tcp://b:1"}
    assert judge(len, "submission 1") == "node verdict" and on_grader == []
    assert pool.client.submitted[0]["workers"] == ["tcp://a:1"] and pool.client.submitted[0]["priority"] > 0
    assert judge(len, "submission 2") == "grader verdict" and on_grader == [("submission 2",)]
    pool._cannot_judge.add("tcp://a:1")  # now no node may judge: nothing is submitted at all
    assert judge(len, "submission 3") == "grader verdict" and len(pool.client.submitted) == 2
