"""``python -m autograder grade``: grade a whole class in parallel and write every output."""

from __future__ import annotations

import getpass
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from . import sandbox
from .course import Assignment, UsageError
from .executor import SandboxPool
from .feedback import write_feedback
from .gradebook import write_results
from .grading import GradeResult, GradingKit, grade_submission
from .judge_server import JudgePool
from .nbgrader_cli import generate_assignment
from .report import write_csv, write_histogram, write_summary
from .source import check_names, load_source
from .submissions import discover


def grade_batch(assignment: Assignment, submissions_path: Path, output: Path, workers: int | None = None,
                cell_timeout_s: float | None = None, notebook_timeout_s: float | None = None,
                progress: bool = True, seeds: dict[str, int] | None = None,
                use_sandbox: bool = True, scheduler: str | None = None, device: str = "cpu") -> list[GradeResult]:
    workers = workers or os.cpu_count() or 1
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    if use_sandbox and not scheduler and not sandbox.sandbox_available():
        raise UsageError("the grading sandbox needs bubblewrap (bwrap) and setpriv, and they are not installed: "
                         "install them (apt-get install bubblewrap), or pass --no-sandbox to grade without "
                         "protection (only for trusted submissions)")
    if not use_sandbox:
        print(sandbox.UNPROTECTED_WARNING.format(user=getpass.getuser()), file=sys.stderr)
    config = assignment.config
    output.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="autograder-grade-") as tmp:
        tmp_path = Path(tmp)
        submissions = discover(Path(submissions_path), assignment.notebook_name, tmp_path / "submissions")
        files_host = tmp_path / "assignment_files"  # the release's data files; read-only at /assignment in a sandbox
        files_host.mkdir(mode=0o755)
        files_host.chmod(0o755)
        if scheduler:  # the sandboxes run on a Dask cluster (autograder.distributed), which decides how many at once
            from .distributed import DaskPool

            pool = DaskPool(scheduler, log_path=output / "worker.log", sandboxed=use_sandbox,
                            assignment_files=files_host, device=device)
            workers = pool.grader_threads
        else:
            pool = SandboxPool(min(workers, len(submissions)), threads_per_job=max(1, (os.cpu_count() or 1) // workers),
                               log_path=output / "worker.log", sandboxed=use_sandbox, assignment_files=files_host,
                               device=device)
        judges = JudgePool(warm=check_names(assignment.source_notebook))
        try:
            if pool.limits_note:
                print(f"autograder: {pool.limits_note}", file=sys.stderr)
            # nbgrader itself records the assignment and its cells in the gradebook (and gives us the release)
            released = generate_assignment(assignment, tmp_path / "release", db_path=output / "gradebook.db")
            source = load_source(assignment.id, assignment.source_notebook, released)
            _copy_data_files(released.parent, files_host)
            kit = GradingKit(assignment.id, config.title or assignment.id, source, files_host,
                             cell_timeout_s or config.cell_timeout_s, notebook_timeout_s or config.notebook_timeout_s,
                             threads=max(1, (os.cpu_count() or 1) // workers))
            results = _run_all(submissions, kit, pool, judges, workers, progress, seeds or {})
        finally:
            pool.close()
            judges.close()
    results.sort(key=lambda r: r.student_id)
    write_results(output / "gradebook.db", assignment.id, results)
    for result in results:
        write_feedback(output / "feedback", result, kit.title)
    write_csv(output / "grades.csv", results)
    write_histogram(output / "histogram.png", results, source.max_score, f"{assignment.id}: autograded scores")
    write_summary(output / "summary.md", results, assignment.id, source.max_score, time.perf_counter() - start,
                  pool.peak_slots if scheduler else workers)
    return results


def _copy_data_files(release_dir: Path, destination: Path) -> None:
    """The release's files other than notebooks (data a notebook reads), world-readable for the sandbox uid."""
    for item in release_dir.iterdir():
        if item.suffix == ".ipynb" or item.name.startswith("."):
            continue
        target = destination / item.name
        if item.is_dir():
            shutil.copytree(item, target)
        else:
            shutil.copy2(item, target)
    for path in [destination, *destination.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _run_all(submissions, kit: GradingKit, pool: SandboxPool, judges: JudgePool, workers: int, progress: bool,
             seeds: dict[str, int]) -> list[GradeResult]:
    from tqdm import tqdm

    results = []
    bar = tqdm(total=len(submissions), unit="nb", desc=f"grading {kit.assignment_id}", file=sys.stderr,
               disable=not progress)
    with ThreadPoolExecutor(max_workers=workers) as threads:
        futures = {threads.submit(grade_submission, s, kit, pool.run, seeds.get(s.student_id), judges.call): s
                   for s in submissions}
        for future in as_completed(futures):
            submission = futures[future]
            try:
                results.append(future.result())
            except Exception as error:  # noqa: BLE001 - one submission never stops the batch
                results.append(GradeResult(submission.student_id, kit.assignment_id, 0.0, kit.source.max_score,
                                           "error", f"internal grading error: {type(error).__name__}: {error}",
                                           late=submission.late))
            bar.update(1)
    bar.close()
    return results
