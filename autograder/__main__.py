"""``python -m autograder release|grade|check`` (the command-line contract; see the README)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .course import UsageError
from .executor import ClusterLost
from .nbgrader_cli import NbgraderError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder",
                                     description="nbgrader-based grading for the VAE course.")
    commands = parser.add_subparsers(dest="command", required=True)

    release = commands.add_parser("release", help="regenerate exercises/<id>/ from solutions/<id>/ with nbgrader")
    release.add_argument("assignment", nargs="?", help="assignment id (default: all)")
    release.add_argument("--course-root", help="folder with solutions/ and exercises/ (default: this repository)")
    release.add_argument("--exercises-dir", help="write the releases here instead of <course root>/exercises")

    grade = commands.add_parser("grade", help="grade a folder or zip of submissions")
    grade.add_argument("--assignment", required=True, help="assignment id, e.g. ps3_elbo")
    grade.add_argument("submissions", help="a folder with one sub-folder per student, a zip of it, or a Canvas zip")
    grade.add_argument("--output", help="output folder (default: ./grading-output/<id>)")
    grade.add_argument("--workers", type=int, default=None, help="parallel workers (default: number of cores)")
    grade.add_argument("--cell-timeout", type=float, default=None, help="seconds per cell (default: assignment's)")
    grade.add_argument("--notebook-timeout", type=float, default=None,
                       help="seconds per notebook (default: assignment's)")
    grade.add_argument("--course-root", help="folder with solutions/ (default: this repository)")
    grade.add_argument("--seeds-from", help="reuse the master seeds of an earlier grades.csv (reproduce a regrade)")
    grade.add_argument("--no-progress", action="store_true", help="no progress bar")
    grade.add_argument("--scheduler", help="grade on a running Dask cluster, e.g. tcp://HOST:8786 (see the README); "
                                           "--workers is then ignored: the cluster's workers decide")
    grade.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                       help="the notebooks' VAE_DEVICE; cuda gives each sandbox the GPU (on a cluster: workers "
                            "started with --resources GPU=1)")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="run student code WITHOUT the bubblewrap sandbox (only for trusted submissions; "
                            "needed where bwrap is not installed)")

    check = commands.add_parser("check", help="self-check a notebook with its visible tests")
    check.add_argument("notebook")
    check.add_argument("--course-root", help="folder with exercises/ (default: this repository)")
    check.add_argument("--cell-timeout", type=float, default=300.0)
    return parser


def read_seeds(path: Path) -> dict[str, int]:
    import csv

    if not path.is_file():
        raise UsageError(f"--seeds-from: {path} does not exist")
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["student_id"]: int(row["seed"]) for row in csv.DictReader(handle) if row.get("seed")}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
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
            results = grade_batch(assignment, Path(args.submissions), output, args.workers, args.cell_timeout,
                                  args.notebook_timeout, progress=not args.no_progress, seeds=seeds,
                                  use_sandbox=not args.no_sandbox, scheduler=args.scheduler, device=args.device)
            statuses = {}
            for result in results:
                statuses[result.status] = statuses.get(result.status, 0) + 1
            print(f"graded {len(results)} submission(s) of {assignment.id} "
                  f"({', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))}); wrote {output}/grades.csv")
            return 0
        if args.command == "check":
            from .selfcheck import self_check

            return self_check(Path(args.notebook), Path(args.course_root) if args.course_root else None,
                              args.cell_timeout)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ClusterLost as error:
        print(f"error: {error}\n(nothing was recorded for the submissions not finished; run the same command "
              f"again once the Dask cluster is back)", file=sys.stderr)
        return 3
    except NbgraderError as error:
        print(f"error: {error}\n(an existing gradebook.db whose assignment has submissions cannot take changed "
              f"cells: grade into a new --output folder)", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
