"""The command line of ``python -m autograder similarity`` and ``grade --similarity`` (imported by
autograder.__main__; nothing heavy is imported until a command runs)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

SUBFOLDER = "similarity"  # grade --similarity writes the report into <grade output>/similarity/


def add_similarity_parser(commands) -> None:
    similarity = commands.add_parser(
        "similarity", help="which submissions share code beyond the released template (a screening aid: "
                           "it never changes a grade)")
    similarity.add_argument("--assignment", required=True, help="assignment id, e.g. ps3_elbo")
    similarity.add_argument("submissions", help="what `grade` reads: a folder with one sub-folder per student, a "
                                                "zip of it, a Canvas zip, or nbgrader's submitted/ folder")
    similarity.add_argument("--output", required=True, help="folder for similarity.csv, students.csv and "
                                                            "report.html (new, empty, or an earlier report's)")
    similarity.add_argument("--archive", action="append", default=[], metavar="OLD_SUBMISSIONS",
                            help="submissions of an earlier term, read the same way (repeatable): each student of "
                                 "this class is compared with them too; they are not compared with each other")
    similarity.add_argument("--top", type=int, default=None, help="pairs shown side by side in report.html "
                                                                  "(default 40; similarity.csv has every pair)")
    similarity.add_argument("--workers", type=int, default=None, help="processes (default: number of cores)")
    similarity.add_argument("--course-root", help="folder with solutions/ and exercises/ (default: this repository)")


def similarity_main(args) -> int:
    from ..course import UsageError, course_root, find_assignment

    assignment = find_assignment(args.assignment, course_root(args.course_root))
    if not Path(args.submissions).exists():
        raise UsageError(f"submissions path {args.submissions} does not exist")
    for archive in args.archive:
        if not Path(archive).exists():
            raise UsageError(f"--archive {archive} does not exist")
    if args.top is not None and args.top < 0:
        raise UsageError("--top must be 0 or more")
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    return _run(assignment, Path(args.submissions), Path(args.output), [Path(a) for a in args.archive],
                args.top, args.workers)


def after_grade(assignment, submissions: Path, output: Path) -> int:
    """``grade --similarity``: the report of the graded upload into <output>/similarity/ (grades are already
    written; a failure here is reported and leaves them as they are)."""
    print(f"autograder: grades written; now the similarity report of {submissions}", file=sys.stderr, flush=True)
    return _run(assignment, submissions, output / SUBFOLDER, [], None, None)


def _run(assignment, submissions: Path, output: Path, archives: list[Path], top: int | None,
         workers: int | None) -> int:
    import time

    from .command import DEFAULT_TOP, run_similarity
    from .engine import SimilarityToolError

    start = time.perf_counter()
    try:
        result = run_similarity(assignment, submissions, output, archives, DEFAULT_TOP if top is None else top,
                                workers or os.cpu_count() or 1)
    except SimilarityToolError as error:
        print(f"error: the similarity report could not be made: {error}", file=sys.stderr)
        return 1
    compared = sum(1 for s in result.students if getattr(s, "text", "").strip()) - len(result.failed)
    best = result.pairs[0] if result.pairs else None
    highest = f"; highest score {best.score:.2f} ({best.a} and {best.b})" if best else ""
    print(f"compared {compared} submission(s) of {assignment.id} ({len(result.pairs):,} pairs) in "
          f"{time.perf_counter() - start:.1f} s{highest}; wrote {output}/report.html and similarity.csv (a "
          f"screening aid: look before concluding anything)")
    return 0
