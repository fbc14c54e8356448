"""Benchmark: grading on Dask (autograder.distributed) on this machine, through the grader's own API.

    python bench/bench_dask.py [--ps4 24] [--ps3 40] [--repeats 2]

1. Scaling: ps4_gradients submissions (solution and correct alternative implementations: each trains a VAE, the
   heaviest job of the course) on ONE versus TWO Dask workers, each worker a "node" of one core (`taskset -c N`,
   `--nthreads 1`), so each submission runs single-threaded in both cases; the nodes judge as with `grade`.
   Reported: the speed-up of two workers, and the same at equal run speed (this VM's speed drifts by about 10%
   between two measurements a minute apart: each wall time divided by that measurement's mean run time). A batch
   ends with one worker idle while the other finishes its last run (half a run on average), so use enough
   submissions that this is small (24: about 4% of the two-worker time).
2. Overhead: 40 ps3_elbo submissions (solution, exercise, mutants, alternatives) through the local SandboxPool
   (2 zygotes) and through DaskPool on two unpinned Dask workers (`--nthreads 1` each), with the same seeds and
   the same thread count per submission. Reported: seconds per submission and Dask's extra share.

Each measurement grades through ``grading.grade_submission`` with the pool's ``run`` and the judge server, as
`grade` does, after warming every pool (zygotes started) so that only the per-submission cost is timed; run and
judge times are recorded separately (on a cluster the nodes judge, as `grade` does). The load average is
recorded before and after each measurement: this 2-core machine is shared, so repeat (``--repeats``) and report the
spread. Writes bench/results/dask.json and prints markdown rows for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from autograder.assemble import assemble, code_cells_for_run, read_notebook  # noqa: E402
from autograder.course import Assignment, course_root  # noqa: E402
from autograder.distributed import DaskPool  # noqa: E402
from autograder.executor import SandboxPool  # noqa: E402
from autograder.grading import GradingKit, grade_submission, run_with_restarts  # noqa: E402
from autograder.judge_server import JudgePool  # noqa: E402
from autograder.nbgrader_cli import generate_assignment  # noqa: E402
from autograder.source import check_names, load_source, notebook_imports  # noqa: E402
from autograder.submissions import discover  # noqa: E402


def load_by_path(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cluster_module = load_by_path("dask_cluster", ROOT / "tests" / "dask_cluster.py")
sys.path.insert(0, str(ROOT / "tests" / "submissions"))
make_submissions = load_by_path("make_submissions", ROOT / "tests" / "submissions" / "make_submissions.py")


def load() -> float:
    return os.getloadavg()[0]


def write_submissions(assignment: str, folder: Path, count: int, include: str) -> None:
    """``count`` notebooks: the solution (and, for "both", the exercise), then the variants, cycled."""
    variants = [("solution", (ROOT / "solutions" / assignment / f"{assignment}.ipynb").read_text())]
    if include == "both":
        variants.append(("exercise", (ROOT / "exercises" / assignment / f"{assignment}.ipynb").read_text()))
    generated = folder.parent / f"generated-{assignment}"
    variants += [(p.parent.name, p.read_text()) for p in make_submissions.make_submissions(assignment, generated,
                                                                                           include=include)]
    for index in range(count):
        name, text = variants[index % len(variants)]
        student = folder / f"s{index:03d}_{name}"[:60]
        student.mkdir(parents=True)
        (student / f"{assignment}.ipynb").write_text(text)


class Batch:
    """An assignment's kit and submissions, prepared as `grade` prepares them."""

    def __init__(self, assignment_id: str, scratch: Path, count: int, include: str):
        self.assignment = Assignment(assignment_id, course_root(None))
        folder = scratch / assignment_id
        write_submissions(assignment_id, folder / "submitted", count, include)
        self.submissions = discover(folder / "submitted", self.assignment.notebook_name, folder / "work")
        released = generate_assignment(self.assignment, folder / "release")
        self.files = folder / "files"
        self.files.mkdir(mode=0o755)
        source = load_source(assignment_id, self.assignment.source_notebook, released)
        config = self.assignment.config
        self.kit = GradingKit(assignment_id, assignment_id, source, self.files, config.cell_timeout_s,
                              config.notebook_timeout_s, threads=1)
        self.seeds = {s.student_id: 1000 + i for i, s in enumerate(self.submissions)}
        self.checks = tuple(check_names(self.assignment.source_notebook))
        self.judges = JudgePool(warm=list(self.checks))
        self.preload = tuple(notebook_imports(self.assignment.source_notebook))  # as `grade` gives its pools

    def grade(self, pool, threads: int) -> dict:
        """Grade every submission with ``threads`` grader threads; wall time and per-phase sums."""
        run_s, judge_s = [], []

        def timed_run(job):
            run = pool.run(job)
            run_s.append(float(run.get("seconds") or 0.0))  # the notebook's own time (no wait for a slot)
            return run

        # as `grade` judges (autograder.batch.LocalExecutor): on the nodes on a cluster, else in the grader's judges
        judge = pool.judge_with(self.judges.call, self.checks) if hasattr(pool, "judge_with") else self.judges.call

        def timed_judge(function, *args):
            start = time.perf_counter()
            try:
                return judge(function, *args)
            finally:
                judge_s.append(time.perf_counter() - start)

        before = load()
        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as executor:
            results = list(executor.map(lambda s: grade_submission(s, self.kit, timed_run, self.seeds[s.student_id],
                                                                   timed_judge), self.submissions))
        wall = time.perf_counter() - start
        return {"wall_s": round(wall, 2), "per_submission_s": round(wall / len(results), 3),
                "run_s_mean": round(sum(run_s) / len(results), 3), "judge_s_mean": round(statistics.mean(judge_s), 3),
                "scores": {r.student_id: r.score for r in results},
                "statuses": sorted({r.status for r in results}), "load_before": round(before, 2),
                "load_after": round(load(), 2)}

    def run_only(self, pool, threads: int) -> dict:
        """Only the runs (what moves to the cluster), no judging: each submission's job as grade_submission builds
        it, through run_with_restarts."""
        jobs = []
        for submission in self.submissions:
            if submission.problem is not None:
                continue
            assembled = assemble(read_notebook(submission.notebook), self.kit.source)
            jobs.append({"job": submission.student_id, "cells": code_cells_for_run(assembled),
                         "master_seed": self.seeds[submission.student_id], "cell_timeout_s": self.kit.cell_timeout_s,
                         "notebook_timeout_s": self.kit.notebook_timeout_s, "threads": 1,
                         "files_dir": str(self.files)})
        before = load()
        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as executor:
            runs = list(executor.map(lambda job: run_with_restarts(job, pool.run), jobs))
        wall = time.perf_counter() - start
        return {"runs_wall_s": round(wall, 2), "runs_per_submission_s": round(wall / len(jobs), 3),
                "runs_statuses": sorted({r["status"] for r in runs}), "runs_load_before": round(before, 2),
                "runs_load_after": round(load(), 2)}

    def close(self) -> None:
        self.judges.close()


def warm(pool, slots: int) -> None:
    """Start every zygote (a node's pool starts with its first task) before timing."""
    job = {"job": "warm-up", "cells": [{"position": 0, "source": "1", "grade_id": None}], "master_seed": 1,
           "cell_timeout_s": 60.0, "notebook_timeout_s": 120.0, "threads": 1, "files_dir": ""}
    with ThreadPoolExecutor(slots) as executor:
        list(executor.map(pool.run, [dict(job, job=f"warm-{i}") for i in range(4 * slots)]))


def dask_pool(cluster, batch: Batch, slots: int) -> DaskPool:
    pool = DaskPool(cluster.address, assignment_files=batch.files, preload=batch.preload)
    warm(pool, slots)
    pool.judge_with(batch.judges.call, batch.checks)  # starts every node's judge server ...
    pool.warm_judges()  # ... and waits for them
    return pool


def scaling(batch: Batch, scratch: Path, repeats: int) -> list[dict]:
    rows = []
    with cluster_module.LocalDaskCluster(scratch / "scaling-cluster") as cluster:
        cluster.add_worker(name="core0", prefix=("taskset", "-c", "0"))
        for repeat in range(repeats):
            for workers in (1, 2):
                if workers == 2:
                    second = cluster.add_worker(name=f"core1-{repeat}", prefix=("taskset", "-c", "1"))
                pool = dask_pool(cluster, batch, workers)
                try:
                    measured = batch.grade(pool, pool.size)
                finally:
                    pool.close()
                if workers == 2:
                    second.stop()
                    cluster.wait_for(lambda info: len(info["workers"]) == 1)
                rows.append(dict(measured, workers=workers, repeat=repeat))
                print(f"ps4 on {workers} worker(s), repeat {repeat}: {measured['wall_s']} s "
                      f"(load {measured['load_before']} -> {measured['load_after']})", file=sys.stderr)
    return rows


def overhead(batch: Batch, scratch: Path, repeats: int) -> list[dict]:
    rows = []
    with cluster_module.LocalDaskCluster(scratch / "overhead-cluster") as cluster:
        cluster.add_worker(name="a")
        cluster.add_worker(name="b")
        for repeat in range(repeats):
            local = SandboxPool(2, threads_per_job=1, assignment_files=batch.files, log_path=scratch / "local.log",
                                preload=batch.preload)
            try:
                warm(local, 2)
                rows.append(dict(batch.grade(local, 2), **batch.run_only(local, 2), pool="local", repeat=repeat))
            finally:
                local.close()
            pool = dask_pool(cluster, batch, 2)
            try:
                rows.append(dict(batch.grade(pool, pool.size), **batch.run_only(pool, pool.size), pool="dask",
                                 repeat=repeat))
            finally:
                pool.close()
            for row in rows[-2:]:
                print(f"ps3 {row['pool']}, repeat {repeat}: {row['wall_s']} s graded, {row['runs_wall_s']} s runs only "
                      f"(load {row['load_before']} -> {row['runs_load_after']})", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ps4", type=int, default=24, help="ps4 submissions per scaling measurement")
    parser.add_argument("--ps3", type=int, default=40, help="ps3 submissions per overhead measurement")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip", choices=["scaling", "overhead"], default=None)
    args = parser.parse_args()
    if shutil.which("taskset") is None:
        raise SystemExit("taskset (util-linux) is needed to give each Dask worker one core")
    result = {"cpu_count": os.cpu_count(), "machine": platform.platform(), "repeats": args.repeats}
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        scratch = Path(tmp)
        if args.skip != "scaling":
            ps4 = Batch("ps4_gradients", scratch, args.ps4, "alternatives")
            try:
                result["scaling"] = scaling(ps4, scratch, args.repeats)
            finally:
                ps4.close()
        if args.skip != "overhead":
            ps3 = Batch("ps3_elbo", scratch, args.ps3, "both")
            try:
                result["overhead"] = overhead(ps3, scratch, args.repeats)
            finally:
                ps3.close()
    summary = []
    if "scaling" in result:
        one = [r["wall_s"] for r in result["scaling"] if r["workers"] == 1]
        two = [r["wall_s"] for r in result["scaling"] if r["workers"] == 2]
        speedups = [a / b for a, b in zip(one, two, strict=True)]
        result["speedup"] = [round(s, 2) for s in speedups]
        runs_one = [r["run_s_mean"] for r in result["scaling"] if r["workers"] == 1]
        runs_two = [r["run_s_mean"] for r in result["scaling"] if r["workers"] == 2]
        equal = [s * r2 / r1 for s, r1, r2 in zip(speedups, runs_one, runs_two, strict=True)]
        result["speedup_at_equal_run_speed"] = [round(s, 2) for s in equal]
        scores = {json.dumps(r["scores"], sort_keys=True) for r in result["scaling"]}
        result["scaling_scores_identical"] = len(scores) == 1
        summary.append(f"| ps4: {args.ps4} submissions, 1 vs 2 one-core Dask workers | {', '.join(map(str, one))} s "
                       f"vs {', '.join(map(str, two))} s | speed-up {', '.join(f'{s:.2f}' for s in speedups)} "
                       f"(at equal run speed {', '.join(f'{s:.2f}' for s in equal)}) | "
                       f"load {_loads(result['scaling'])} |")
    if "overhead" in result:
        local = [r["per_submission_s"] for r in result["overhead"] if r["pool"] == "local"]
        dask = [r["per_submission_s"] for r in result["overhead"] if r["pool"] == "dask"]
        shares = [d / c - 1 for c, d in zip(local, dask, strict=True)]
        result["overhead_share"] = [round(s, 3) for s in shares]
        local_runs = [r["runs_per_submission_s"] for r in result["overhead"] if r["pool"] == "local"]
        dask_runs = [r["runs_per_submission_s"] for r in result["overhead"] if r["pool"] == "dask"]
        run_shares = [d / c - 1 for c, d in zip(local_runs, dask_runs, strict=True)]
        result["overhead_share_runs_only"] = [round(s, 3) for s in run_shares]
        scores = {json.dumps(r["scores"], sort_keys=True) for r in result["overhead"]}
        result["overhead_scores_identical"] = len(scores) == 1
        summary.append(f"| ps3: {args.ps3} submissions, local pool vs Dask (2 slots each) | "
                       f"{', '.join(map(str, local))} s/nb vs {', '.join(map(str, dask))} s/nb | Dask "
                       f"{', '.join(f'{s:+.1%}' for s in shares)} | load {_loads(result['overhead'])} |")
        summary.append(f"| ps3 runs only (no judging): local vs Dask | {', '.join(map(str, local_runs))} s/nb vs "
                       f"{', '.join(map(str, dask_runs))} s/nb | Dask {', '.join(f'{s:+.1%}' for s in run_shares)} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dask.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("scaling", "overhead")}, indent=2))
    print("\n".join(summary))


def _loads(rows: list[dict]) -> str:
    values = [v for r in rows for v in (r["load_before"], r["load_after"])]
    return f"{min(values):.1f}-{max(values):.1f}"


if __name__ == "__main__":
    main()
