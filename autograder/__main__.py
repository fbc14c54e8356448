"""``python -m autograder release|grade|export|check|similarity`` (the command-line contract; see the README)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

COURSE_MODULES = ("nbformat", "nbgrader", "numpy", "torch", "IPython")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder",
                                     description="nbgrader-based grading for the VAE course.")
    commands = parser.add_subparsers(dest="command", required=True)

    release = commands.add_parser("release", help="regenerate exercises/<id>/ from solutions/<id>/ with nbgrader")
    release.add_argument("assignment", nargs="?", help="assignment id (default: all)")
    release.add_argument("--course-root", help="folder with solutions/ and exercises/ (default: this repository)")
    release.add_argument("--exercises-dir", help="write the releases here instead of <course root>/exercises")

    grade = commands.add_parser("grade", help="grade a folder or zip of submissions (resumable)")
    grade.add_argument("--assignment", required=True, help="assignment id, e.g. ps3_elbo")
    grade.add_argument("submissions", help="a folder with one sub-folder per student, a zip of it, a Canvas zip, or "
                                           "an nbgrader course folder (its submitted/, as `nbgrader collect` "
                                           "fills it)")
    grade.add_argument("--output", help="output folder, an nbgrader course folder for formgrader "
                                        "(default: ./grading-output/<id>); an earlier run's folder is resumed")
    grade.add_argument("--regrade", action="store_true",
                       help="grade every submission again (points given by hand are kept)")
    grade.add_argument("--workers", type=int, default=None, help="parallel workers (default: number of cores)")
    grade.add_argument("--cell-timeout", type=float, default=None, help="seconds per cell (default: assignment's)")
    grade.add_argument("--notebook-timeout", type=float, default=None,
                       help="seconds per notebook (default: assignment's)")
    grade.add_argument("--course-root", help="folder with solutions/ (default: this repository)")
    grade.add_argument("--seeds-from", help="reuse the master seeds of an earlier grades.csv (reproduce a grading)")
    grade.add_argument("--book-url", help="where feedback links to the book (default: $VAE_BOOK_URL, else the "
                                          "published book derived from repository.url in _config.yml)")
    grade.add_argument("--due-date", help="ISO 8601, e.g. 2026-03-01T23:59+01:00 (UTC without an offset): a "
                                          "submission whose nbgrader timestamp.txt is later is late (default: the "
                                          "due date in the gradebook, if any)")
    grade.add_argument("--student", action="append", default=[], metavar="ID",
                       help="grade only this student again (repeatable); the other rows are kept")
    grade.add_argument("--no-progress", action="store_true", help="no progress bar")
    grade.add_argument("--scheduler", help="grade on a running Dask cluster, e.g. tcp://HOST:8786 (see the README); "
                                           "--workers is then ignored: the cluster's workers decide")
    grade.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                       help="the notebooks' VAE_DEVICE; cuda gives each sandbox the GPU (on a cluster: workers "
                            "started with --resources GPU=1)")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="run student code WITHOUT the bubblewrap sandbox (only for trusted submissions; "
                            "needed where bwrap is not installed)")
    grade.add_argument("--similarity", action="store_true",
                       help="then write the similarity report of the upload into <output>/similarity/ (see "
                            "`similarity --help`)")

    export = commands.add_parser("export", help="after hand marking: rewrite grades.csv from the gradebook, and "
                                                "fill a Canvas/Quercus gradebook export")
    export.add_argument("--assignment", required=True, help="assignment id, e.g. ps3_elbo")
    export.add_argument("--output", required=True, help="the folder `grade --output` wrote")
    export.add_argument("--canvas", help="the Canvas gradebook export (CSV) to fill: writes canvas_import.csv")
    export.add_argument("--canvas-column", help="the Canvas column to fill (default: the one naming the assignment)")
    export.add_argument("--book-url", help="where feedback links to the book")

    new = commands.add_parser("new", help="write the files of a new exercise to fill in (see the guide 'Adding "
                                          "an exercise')")
    new.add_argument("assignment", nargs="?", help="the new assignment's id, e.g. ps5_kl")
    new.add_argument("--function", action="append", default=[], metavar="NAME",
                     help="a graded function: NAME or \"NAME(arg, ...)\" (repeatable)")
    new.add_argument("--title", help="the problem set's title, e.g. \"Problem set 5: the KL divergence\"")
    new.add_argument("--section", action="append", default=[], metavar="LABEL",
                     help="the book section a failed check sends the student to (repeatable; see --sections)")
    new.add_argument("--points", type=float, default=2.0, help="points of each test cell (default 2)")
    new.add_argument("--written-points", type=float, default=2.0, help="points of the written answer (default 2)")
    new.add_argument("--sections", action="store_true", help="list the book sections feedback can link to, and stop")
    new.add_argument("--course-root", help="where solutions/ is (default: this repository)")

    check = commands.add_parser("check", help="self-check a notebook with its visible tests")
    check.add_argument("notebook")
    check.add_argument("--course-root", help="folder with exercises/ (default: this repository)")
    check.add_argument("--cell-timeout", type=float, default=None,
                       help="CPU seconds per cell (default: the assignment's, as when graded)")
    check.add_argument("--book-url", help="where the check links to the book")

    from .similarity.cli import add_similarity_parser

    add_similarity_parser(commands)
    return parser


def course_environment_problem(argv: list[str]) -> str | None:
    """None in the course environment; else the exact command to run instead."""
    import importlib.util

    missing = [m for m in COURSE_MODULES if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    repo = Path(__file__).resolve().parents[1]
    python = repo / ".venv" / "bin" / "python"
    arguments = " ".join(_absolute_arguments(argv))
    fix = (f"  {python} -m autograder {arguments}" if python.exists() else
           f"  cd {repo} && make setup\n  {python} -m autograder {arguments}")
    return (f"This Python ({sys.executable}) is not the course environment (it lacks {', '.join(missing)}).\n"
            f"Run instead:\n{fix}")


def _absolute_arguments(argv: list[str]) -> list[str]:
    """The arguments with existing relative paths made absolute (so the command works from any folder)."""
    import shlex

    shown = []
    for argument in argv:
        path = Path(argument)
        shown.append(shlex.quote(str(path.resolve()) if not argument.startswith("-") and path.exists() else
                                 argument))
    return shown


def read_seeds(path: Path) -> dict[str, int]:
    import csv

    from .course import UsageError
    from .text import from_csv

    if not path.is_file():
        raise UsageError(f"--seeds-from: {path} does not exist")
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))  # an older grades.csv may hold a huge message
    with open(path, newline="", encoding="utf-8") as handle:
        return {from_csv(row["student_id"]): int(row["seed"]) for row in csv.DictReader(handle)
                if row.get("seed")}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    problem = course_environment_problem(argv)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if args.command == "grade":  # say something before the slow imports
        import time

        start = time.perf_counter()
        print(f"autograder: grading {args.assignment} from {args.submissions}: loading the grader (nbformat, "
              f"nbgrader, the judges) ...", file=sys.stderr, flush=True, end="")
        import autograder.batch  # noqa: F401

        print(f" ({time.perf_counter() - start:.1f} s)", file=sys.stderr, flush=True)
    from .course import UsageError
    from .executor import ClusterLost
    from .nbgrader_cli import NbgraderError

    try:
        return run(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except NbgraderError as error:
        print(f"error: {error}\n(an existing gradebook.db whose assignment has submissions cannot take changed "
              f"cells: grade into a new --output folder)", file=sys.stderr)
        return 1
    except ClusterLost as error:
        print(f"error: {error}\nEvery submission graded so far is recorded in the output folder's "
              f"grading-journal.jsonl; run the same command again once the Dask cluster is back.", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        if args.command == "grade":
            print("\nautograder: interrupted. Every submission graded so far is recorded in the output folder's "
                  "grading-journal.jsonl; run the same command again to grade the rest.", file=sys.stderr)
        return 130


def run(args) -> int:
    from .course import REPO_ROOT as REPO
    from .course import UsageError

    if args.command == "release":
        from .course import course_root
        from .release import release_command

        written = release_command(args.assignment, course_root(args.course_root),
                                  Path(args.exercises_dir) if args.exercises_dir else None)
        for path in written:
            print(f"released {path}")
        return 0
    if args.command == "grade":
        from .batch import grade_batch
        from .course import course_root, find_assignment

        assignment = find_assignment(args.assignment, course_root(args.course_root))
        if not Path(args.submissions).exists():
            raise UsageError(f"submissions path {args.submissions} does not exist")
        if args.workers is not None and args.workers < 1:
            raise UsageError("--workers must be at least 1")
        output = Path(args.output) if args.output else Path("grading-output") / assignment.id
        seeds = read_seeds(Path(args.seeds_from)) if args.seeds_from else None
        due_date = None
        if args.due_date:
            from .exchange import parse_due_date

            due_date = parse_due_date(args.due_date)
        pool_factory = None
        if args.scheduler:  # the sandboxes run on a Dask cluster's workers (autograder.distributed)
            from .distributed import DaskPoolFactory

            pool_factory = DaskPoolFactory(args.scheduler, args.device)
        elif args.device != "cpu":
            from functools import partial

            from .batch import local_pool

            pool_factory = partial(local_pool, device=args.device)
        batch = grade_batch(assignment, Path(args.submissions), output, args.workers, args.cell_timeout,
                            args.notebook_timeout, progress=not args.no_progress, seeds=seeds,
                            use_sandbox=not args.no_sandbox, regrade=args.regrade, book_url=args.book_url,
                            pool_factory=pool_factory, due_date=due_date, students=tuple(args.student))
        statuses: dict[str, int] = {}
        for row in batch.rows:
            statuses[row.result.status] = statuses.get(row.result.status, 0) + 1
        print(f"graded {batch.graded_now} submission(s) now, {batch.resumed} earlier; {len(batch.rows)} row(s) of "
              f"{assignment.id} ({', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))}); wrote "
              f"{output}/grades.csv")
        pending = sum(1 for row in batch.rows if row.pending)
        if pending:
            print(f"{pending} submission(s) have answers to grade by hand: open formgrader in {output} (see "
                  f"summary.md), then run `python -m autograder export --assignment {assignment.id} --output "
                  f"{output}`")
        if args.similarity:
            from .similarity.cli import after_grade

            return after_grade(assignment, Path(args.submissions), output)
        return 0
    if args.command == "export":
        from .export import export_command

        return export_command(args.assignment, Path(args.output), Path(args.canvas) if args.canvas else None,
                              args.canvas_column, args.book_url)
    if args.command == "similarity":
        from .similarity.cli import similarity_main

        return similarity_main(args)
    if args.command == "new":
        from .scaffold import describe_sections, new_assignment

        if args.sections:
            print(describe_sections())
            return 0
        if not args.assignment:
            raise UsageError("give the new assignment's id: python -m autograder new ps5_kl --function NAME")
        written = new_assignment(args.assignment, args.function, args.title, args.section, args.points,
                                 args.written_points, course_root=Path(args.course_root or REPO))
        print("wrote:\n" + "\n".join(f"  {path}" for path in written))
        print(f"Fill in every TODO (the guide 'Adding an exercise' says how), then run\n"
              f"  .venv/bin/python -m autograder release {args.assignment}\n"
              f"  .venv/bin/python -m pytest tests/test_assignment_completeness.py -k {args.assignment}")
        return 0
    if args.command == "check":
        from .selfcheck import self_check

        return self_check(Path(args.notebook), Path(args.course_root) if args.course_root else None,
                          args.cell_timeout, book_url=args.book_url)
    return 2


if __name__ == "__main__":
    sys.exit(main())
