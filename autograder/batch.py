"""``python -m autograder grade``: grade a whole class, resumably, and write every output.

The flow, each step announced on stderr as it starts:

1. check the output folder (never silently replaced: an earlier run's folder is resumed, anything else refused)
   and open its journal (autograder.journal);
2. find the submissions; decide what to grade: everything the journal does not already hold for the same file
   (``--regrade``: everything, continuing an interrupted regrade);
3. prepare the assignment: nbgrader's release and gradebook records, cached by the source's digest
   (autograder.nbgrader_cli), and the nbgrader course tree formgrader opens (autograder.coursetree);
4. grade: an executor hands back each finished GradeResult; its course-tree files are written, it is recorded
   in the journal at once, then written to the gradebook (a bar with an ETA covers the whole class);
5. the outputs from the journal and the gradebook (autograder.outputs): grades.csv first, then the gradebook,
   feedback, summary and histogram. A failure writing one student's outputs is noted on that student's row.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from . import coursetree, sandbox
from .course import Assignment, UsageError
from .exchange import gradebook_due_date, set_gradebook_due_date, submissions_of_course
from .executor import SandboxPool
from .gradebook import GradebookWriter
from .grading import GradeResult, GradingKit, grade_submission
from .journal import JOURNAL_NAME, Journal, utc_now
from .judge_server import JudgePool
from .nbgrader_cli import generate_assignment, mark_bonus_cells, prepared_assignment, source_digest
from .source import check_names, notebook_imports
from .submissions import Submission, discover

OUTPUT_FILES = {JOURNAL_NAME, "grades.csv", "gradebook.db", "summary.md", "histogram.png", "misconceptions.png",
                "worker.log",
                "nbgrader_config.py", "canvas_import.csv", "nbgrader_export.csv", "feedback", "source", "release",
                "submitted", "autograded", "similarity"}  # similarity/: grade --similarity's report


def say(message: str) -> None:
    print(f"autograder: {message}", file=sys.stderr, flush=True)


class Step:
    """``with Step("finding submissions"):`` prints what starts now and, at the end, how long it took."""

    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        self.start = time.perf_counter()
        print(f"autograder: {self.what} ...", file=sys.stderr, flush=True, end="")
        return self

    def done(self, detail: str = "") -> None:
        self.detail = detail

    def __exit__(self, kind, *rest):
        seconds = time.perf_counter() - self.start
        detail = getattr(self, "detail", "")
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            ending = "stopped (Ctrl-C)"
        else:
            ending = "failed" if kind else (detail + " " if detail else "") + f"({seconds:.1f} s)"
        print(f" {ending}", file=sys.stderr, flush=True)


@dataclass
class BatchResult:
    rows: list  # autograder.report.Row
    graded_now: int
    resumed: int
    output: Path
    notes: list[str] = field(default_factory=list)


class LocalExecutor:
    """Grades submissions from ``threads`` threads: each runs one submission with ``pool.run`` (one submission, one
    sandbox: autograder.executor.SandboxPool on this machine, autograder.distributed.DaskPool on a cluster) and
    judges what came back in the judge pool (autograder.judge_server; on a cluster, the nodes' judge servers through
    ``pool.judge_with``, with this one as the fallback), yielding each GradeResult as soon as it is
    finished. An executor is anything with ``grade(submissions, kit, seeds)`` yielding one GradeResult per
    submission (never raising for a submission) and ``close()``."""

    def __init__(self, pool, judges: JudgePool, threads: int, checks: tuple[str, ...] = ()):
        self.pool, self.judges, self.threads = pool, judges, threads
        # on a cluster the nodes judge too (autograder.distributed.judge_on_node); this machine's judges are the
        # fallback for a node that cannot
        judge_with = getattr(pool, "judge_with", None)
        self.judge = judge_with(judges.call, checks) if judge_with is not None else judges.call

    def grade(self, submissions: list[Submission], kit: GradingKit, seeds: dict[str, int]) -> Iterator[GradeResult]:
        threads = ThreadPoolExecutor(max_workers=self.threads)
        try:
            futures = {threads.submit(grade_submission, s, kit, self.pool.run, seeds.get(s.student_id),
                                      self.judge): s for s in submissions}
            for future in as_completed(futures):
                submission = futures[future]
                try:
                    yield future.result()
                except Exception as error:  # noqa: BLE001 - one submission never stops the batch
                    yield internal_error_row(submission, kit, error)
        finally:  # interrupted (Ctrl-C): what has not started never starts; what runs ends when the pool closes
            threads.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        try:
            self.pool.close()
        finally:
            self.judges.close()


def local_pool(size: int, use_sandbox: bool, log_path: Path, files_host: Path, device: str = "cpu",
               preload: tuple[str, ...] = ()) -> SandboxPool:
    """``size`` pre-warmed zygotes on this machine (each in its own sandbox unless ``use_sandbox`` is False), which
    import ``preload`` (the notebook's modules) before forking."""
    pool = SandboxPool(size, threads_per_job=max(1, (os.cpu_count() or 1) // size), log_path=log_path,
                       sandboxed=use_sandbox, assignment_files=files_host, device=device, preload=preload)
    if pool.limits_note:
        say(pool.limits_note)
    return pool


def internal_error_row(submission: Submission, kit: GradingKit, error: BaseException) -> GradeResult:
    from .scoring import CellResult

    result = GradeResult(submission.student_id, kit.assignment_id, 0.0, kit.source.max_score, "error",
                         f"internal grading error: {type(error).__name__}: {error}", late=submission.late,
                         name=submission.name, fingerprint=submission.fingerprint())
    result.cells = [CellResult(c.grade_id, c.points, 0.0, False, c.bonus) for c in kit.source.test_cells]
    return result


def check_output_folder(output: Path, regrade: bool) -> None:
    """Refuse to write into a folder that holds something else, or an earlier output that cannot be resumed."""
    if not output.exists():
        return
    if not output.is_dir():
        raise UsageError(f"--output {output} exists and is not a folder")
    entries = {p.name for p in output.iterdir()}
    if not entries or JOURNAL_NAME in entries:
        return
    if "gradebook.db" in entries and entries <= OUTPUT_FILES | {".grades.csv.tmp"}:
        if regrade:
            return
        raise UsageError(f"{output} holds grades from an earlier autograder without a {JOURNAL_NAME}, so it "
                         f"cannot be resumed: pass --regrade to grade everything again into it (points given by "
                         f"hand in its gradebook.db are kept), or choose a new --output folder")
    raise UsageError(f"--output {output} is not empty and is not an autograder output folder "
                     f"({', '.join(sorted(entries)[:5])}...): choose a new or empty folder")


def grade_batch(assignment: Assignment, submissions_path: Path, output: Path, workers: int | None = None,
                cell_timeout_s: float | None = None, notebook_timeout_s: float | None = None,
                progress: bool = True, seeds: dict[str, int] | None = None, use_sandbox: bool = True,
                regrade: bool = False, book_url: str | None = None,
                pool_factory: Callable[..., object] | None = None, due_date: datetime | None = None,
                students: tuple[str, ...] = ()) -> BatchResult:
    """Grade every submission under ``submissions_path`` into ``output`` (resumable: see autograder.journal).
    ``pool_factory(size, use_sandbox, log_path, files_host, preload=modules)`` makes the pool that runs one
    submission per call (default: :func:`local_pool`). ``submissions_path`` may be an nbgrader course folder (its
    submitted/ is graded) or nbgrader's exchange layout (timestamp.txt gives each submission's time: late after
    ``due_date``, else after the gradebook's due date; autograder.exchange). ``students``: grade only these (the
    others keep their rows)."""
    workers = workers or os.cpu_count() or 1
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    if use_sandbox and not getattr(pool_factory, "remote", False):
        try:
            workers, lowered = sandbox.workers_for_memory(workers, sandbox.Limits())
        except ValueError as error:
            raise UsageError(f"not enough memory to grade in the sandbox: {error}") from None
        if lowered:
            say(lowered)
    if use_sandbox and not getattr(pool_factory, "remote", False) and not sandbox.sandbox_available():
        raise UsageError("the grading sandbox needs bubblewrap (bwrap) and setpriv, and they are not installed: "
                         "install them (apt-get install bubblewrap), or pass --no-sandbox to grade without "
                         "protection (only for trusted submissions)")
    if not use_sandbox:
        print(sandbox.UNPROTECTED_WARNING.format(user=getpass.getuser()), file=sys.stderr)
    start = time.perf_counter()
    given = submissions_of_course(Path(submissions_path))  # refused before anything is written
    check_output_folder(output, regrade)
    adopting = output.is_dir() and (output / "gradebook.db").exists() and not (output / JOURNAL_NAME).exists()
    output.mkdir(parents=True, exist_ok=True)
    share = sandbox.grader_cpu_share() if use_sandbox else contextlib.nullcontext()
    with share, Journal.open(output, create=True) as journal, \
            tempfile.TemporaryDirectory(prefix="autograder-grade-") as tmp:
        if journal.dropped_lines:
            say(f"the journal had {journal.dropped_lines} incomplete line(s) from an interrupted run: ignored "
                f"(those submissions are graded again)")
        if journal.assignment not in (None, assignment.id):
            raise UsageError(f"{output} holds grades of {journal.assignment}; grade {assignment.id} into its own "
                             f"--output folder")
        for note in given.notes:
            say(note)
        due = _due_date(assignment.id, output, given.course, due_date)
        with Step(f"finding the submissions in {given.submissions}") as step:
            submissions = discover(_outside(given.submissions, output, Path(tmp)), assignment.notebook_name,
                                   Path(tmp) / "submissions", assignment.id,
                                   due if due_date is not None or not students else None)
            step.done(_count(submissions))
        digest = source_digest(assignment)
        if students:
            submissions = _only(submissions, students, journal, digest)
        if journal.source_digest not in (None, digest) and not regrade:
            raise UsageError(f"solutions/{assignment.id} changed since {output} was graded: pass --regrade to grade "
                             f"every submission again with the new version (points given by hand are kept), or "
                             f"choose a new --output folder")
        if students:  # graded again, whatever the journal holds; every other row is kept as it is
            todo, notes = list(submissions), []
            say(f"grading {', '.join(s.student_id for s in todo)} again; the other rows are kept")
        else:
            todo, notes = plan(journal, submissions, regrade)
            tell_plan(journal, submissions, todo, notes, output)

        tmp_path = Path(tmp)
        files_host = tmp_path / "assignment_files"  # the release's data files; read-only at /assignment in a sandbox
        files_host.mkdir(mode=0o755)
        files_host.chmod(0o755)
        executor = None
        if todo:  # start the workers and the judges now: they import torch while the assignment is prepared
            size = min(workers, len(todo))
            say(f"starting {size} grading worker(s) " + ("in the bubblewrap sandbox" if use_sandbox else
                                                          "WITHOUT a sandbox") + " and the judges (they load in the "
                                                                                 "background)")
            checks = tuple(check_names(assignment.source_notebook))
            judges = JudgePool(warm=list(checks), log_path=output / "worker.log")
            try:
                pool = (pool_factory or local_pool)(size, use_sandbox, output / "worker.log", files_host,
                                                    preload=tuple(notebook_imports(assignment.source_notebook)))
            except BaseException:
                judges.close()
                raise
            executor = LocalExecutor(pool, judges, getattr(pool, "size", size), checks)
        try:
            kit, release = prepare_assignment(assignment, output, digest, files_host, workers, use_sandbox,
                                              cell_timeout_s, notebook_timeout_s, refresh_gradebook=adopting or (
                                                  journal.source_digest not in (None, digest)))
            if due is not None and due != gradebook_due_date(output / "gradebook.db", assignment.id):
                set_gradebook_due_date(output / "gradebook.db", assignment.id, due)
            batch = journal.start_batch(assignment.id, digest, regrade and not students, str(assignment.root),
                                        use_sandbox)
            graded_now = 0
            if todo:
                with Step("loading the gradebook while the workers start"):
                    _load("nbgrader.api", "matplotlib.pyplot")
                graded_now = run_batch(executor, todo, kit, seeds or {}, journal, batch, output, release,
                                       len(submissions), progress)
        finally:
            if executor is not None:
                executor.close()
        from .outputs import write_outputs

        with Step("writing grades.csv, gradebook.db, feedback/, summary.md and histogram.png") as step:
            rows, problems = write_outputs(output, journal, kit.source, kit.title, book_url,
                                           seconds=time.perf_counter() - start, workers=workers, notes=notes)
            step.done(f"{len(rows)} rows" + (f"; {problems} output problem(s), see grades.csv" if problems else ""))
        journal.finish_batch(batch)
    _tidy_worker_log(output / "worker.log")
    return BatchResult(rows, graded_now, len(submissions) - len(todo), output, notes)


def _due_date(assignment_id: str, output: Path, course: Path | None, given: datetime | None) -> datetime | None:
    """``--due-date``, else the output gradebook's (formgrader: Manage Assignments > Edit), else the nbgrader
    course's; said on the terminal."""
    due, origin = given, "--due-date"
    if due is None:
        due, origin = gradebook_due_date(output / "gradebook.db", assignment_id), f"{output}/gradebook.db"
    if due is None and course is not None:
        due, origin = gradebook_due_date(course / "gradebook.db", assignment_id), f"{course}/gradebook.db"
    if due is not None:
        say(f"due date {due:%Y-%m-%d %H:%M:%S} UTC (from {origin}): a submission whose timestamp.txt is later is late")
    return due


def _outside(submissions: Path, output: Path, tmp: Path) -> Path:
    """The submissions, copied first when they lie inside the output folder (e.g. its own submitted/, which
    grading rewrites)."""
    inside = submissions.resolve() == output.resolve() or output.resolve() in submissions.resolve().parents
    if not inside:
        return submissions
    copy = tmp / "input" / submissions.name
    shutil.copytree(submissions, copy, symlinks=True)
    return copy


def _only(submissions: list[Submission], students: tuple[str, ...], journal: Journal, digest: str) -> list:
    """The submissions of ``students`` (e.g. formgrader's Autograde button: one student graded again)."""
    if journal.source_digest not in (None, digest):
        raise UsageError("the assignment changed since this folder was graded: grade every student again "
                         "(--regrade without --student), so that the whole class is graded with one version")
    found = {s.student_id: s for s in submissions}
    unknown = [s for s in students if s not in found]
    if unknown:
        raise UsageError(f"--student: no submission of {', '.join(unknown)} (known: "
                         f"{', '.join(sorted(found)[:10])}{' ...' if len(found) > 10 else ''})")
    chosen = [found[s] for s in dict.fromkeys(students)]
    current = journal.current()
    for submission in chosen:  # graded again, not handed in again: the name and lateness stay what they were
        previous = current.get(submission.student_id)
        if previous is not None:
            submission.name = submission.name or previous.result.name
            if previous.result.late and not submission.late:
                submission.late = True
                submission.notes += [n for n in previous.result.notes if n.startswith("Submitted ")]
    return chosen


def _count(submissions: list[Submission]) -> str:
    with_notebook = sum(s.problem is None for s in submissions)
    parts = [f"{len(submissions)} student(s)", f"{with_notebook} with a notebook"]
    for status in ("missing", "invalid"):
        count = sum(s.problem is not None and s.problem_status == status for s in submissions)
        if count:
            parts.append(f"{count} {status}")
    return ", ".join(parts)


def plan(journal: Journal, submissions: list[Submission], regrade: bool) -> tuple[list[Submission], list[str]]:
    """Which submissions to grade now, and what to tell the instructor about the rest."""
    notes: list[str] = []
    current = journal.current()
    if regrade:
        continuing = journal.unfinished_regrade()
        if continuing is None:
            return list(submissions), notes
        done = {s for s, r in current.items() if r.batch >= continuing}
        todo = [s for s in submissions if not (s.student_id in done and
                                               current[s.student_id].result.fingerprint == s.fingerprint())]
        notes.append(f"continued the interrupted --regrade: {len(submissions) - len(todo)} submission(s) had "
                     f"been regraded before the interruption")
        return todo, notes
    todo, changed = [], []
    for submission in submissions:
        record = current.get(submission.student_id)
        if record is None:
            todo.append(submission)
        elif record.result.fingerprint != submission.fingerprint():
            todo.append(submission)
            changed.append(submission.student_id)
    if changed:
        notes.append(f"graded again because the submitted file changed: {', '.join(changed)}")
    if journal.unfinished_regrade() is not None:
        notes.append("an earlier --regrade was interrupted: rows of students it had not reached yet are from the "
                     "grading before it; run with --regrade to finish it")
    return todo, notes


def tell_plan(journal: Journal, submissions: list[Submission], todo: list[Submission], notes: list[str],
              output: Path) -> None:
    current = journal.current()
    resumed = len(submissions) - len(todo)
    if resumed:
        say(f"{resumed} of {len(submissions)} submission(s) were already graded into {output} (its {JOURNAL_NAME}); "
            f"grading the {len(todo)} missing")
    present = {s.student_id for s in submissions}
    kept = sorted(s for s in current if s not in present)
    if kept:
        notes.append(f"kept the rows of {len(kept)} student(s) graded earlier into this folder but not in this "
                     f"upload: {', '.join(kept[:20])}" + (" ..." if len(kept) > 20 else ""))
    for note in notes:
        say(note)


def prepare_assignment(assignment: Assignment, output: Path, digest: str, files_host: Path, workers: int,
                       use_sandbox: bool, cell_timeout_s: float | None, notebook_timeout_s: float | None,
                       refresh_gradebook: bool) -> tuple[GradingKit, tuple]:
    from .source import load_source

    config = assignment.config
    with Step("preparing the assignment (nbgrader generate_assignment)") as step:
        bonus = _bonus_cells(assignment)
        prepared, cached = prepared_assignment(assignment, bonus, digest)
        step.done("cached" if cached else "done, now cached")
    released = prepared / "release" / assignment.id / assignment.notebook_name
    source = load_source(assignment.id, assignment.source_notebook, released)
    _copy_data_files(released.parent, files_host)
    coursetree.prepare(output, assignment.id, assignment.source_dir, prepared)
    if refresh_gradebook:  # an existing gradebook learns the new version of the assignment from nbgrader itself
        with Step("updating gradebook.db with the changed assignment (nbgrader generate_assignment)"):
            with tempfile.TemporaryDirectory(prefix="autograder-regenerate-") as scratch:
                generate_assignment(assignment, Path(scratch) / "release", db_path=output / "gradebook.db")
            mark_bonus_cells(output / "gradebook.db", assignment.id, bonus)
    threads = max(1, (os.cpu_count() or 1) // workers)
    kit = GradingKit(assignment.id, config.title or assignment.id, source, files_host,
                     cell_timeout_s or config.cell_timeout_s, notebook_timeout_s or config.notebook_timeout_s,
                     threads=threads)
    return kit, coursetree.release_metadata(released)


def _bonus_cells(assignment: Assignment) -> list[str]:
    import json

    notebook = json.loads(assignment.source_notebook.read_text(encoding="utf-8"))
    return [c["metadata"]["nbgrader"]["grade_id"] for c in notebook["cells"]
            if c.get("metadata", {}).get("autograder", {}).get("bonus")
            and c["metadata"].get("nbgrader", {}).get("grade_id")]


def run_batch(executor, todo: list[Submission], kit: GradingKit, seeds: dict[str, int], journal: Journal,
              batch: int, output: Path, release: tuple, total: int, progress: bool) -> int:
    """Grade ``todo``; write each result's course-tree files and record it in the journal as it arrives."""
    from tqdm import tqdm

    by_student = {s.student_id: s for s in todo}
    done = total - len(todo)
    bar = tqdm(total=total, initial=done, unit="nb", desc=f"grading {kit.assignment_id}", file=sys.stderr,
               disable=not progress, smoothing=0.1, dynamic_ncols=True)
    graded, writer = 0, None
    try:
        for result in executor.grade(todo, kit, seeds):
            submission = by_student[result.student_id]
            result.fingerprint = result.fingerprint or submission.fingerprint()
            result.name = result.name or submission.name
            timestamp = submission.submitted_at or utc_now()  # the gradebook keeps the real submission time
            try:
                coursetree.write_submission(output, kit, submission, result, release, timestamp)
            except Exception as error:  # noqa: BLE001 - recorded on the student's row, the batch goes on
                result.output_errors.append(f"submitted/autograded notebooks: {type(error).__name__}: {error}")
            record = journal.record(batch, result, at=timestamp)
            previous = journal.previous(result.student_id)
            try:  # the gradebook entry now, while the workers grade; the end writes what fails here
                writer = writer or GradebookWriter(output / "gradebook.db", kit.assignment_id,
                                                   [c.grade_id for c in kit.source.cells if c.graded])
                writer.write(result, previous.result if previous else None, timestamp)
                journal.mark_synced(record)
            except Exception:  # noqa: BLE001 - retried (and reported on the row) when the outputs are written
                pass
            graded += 1
            bar.update(1)
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    return graded


def _copy_data_files(release_dir: Path, destination: Path) -> None:
    """The release's files other than notebooks (data a notebook reads), world-readable for the sandbox uid."""
    for item in release_dir.iterdir():
        if item.suffix == ".ipynb" or item.name.startswith("."):
            continue
        target = destination / item.name
        if item.is_dir():
            shutil.copytree(item, target, dirs_exist_ok=True)
        else:
            shutil.copy2(item, target)
    for path in [destination, *destination.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _load(*modules: str) -> None:
    """Import, in the main thread, what the outputs use, before the grading threads start (imports racing in
    several threads can meet nbgrader's circular imports half done)."""
    import importlib

    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            pass  # the real import later reports it


def _tidy_worker_log(path: Path) -> None:
    """worker.log is kept only when a worker wrote something to it."""
    try:
        if path.is_file() and path.stat().st_size == 0:
            path.unlink()
    except OSError:
        pass
