"""Benchmark: grade 40 submissions with stock `nbgrader autograde` (serial, the real CLI, a course directory) and
with `python -m autograder grade --workers 2`, on the same machine, one run each.

    python bench/bench_grading.py [--assignment ps3_elbo] [--count 40] [--workers 2]

Prints both wall times and the ratio, writes bench/results/grading.json and a markdown line for the notes.
``--diagnosis`` measures instead what naming misconceptions costs: a class where half the submissions fail (the
solution and correct alternatives, and the assignment's mutants), graded with diagnosis off and on
(AUTOGRADER_DIAGNOSE=0/1), alternately, ``--repeats`` times each (bench/results/diagnosis.json): wall time, the sum
of the submissions' own seconds, and the CPU time of the grade command and every process it reaped (the measure
that least depends on what else the machine runs). A third
run grades one submission alone: with the batch of --count, wall = fixed cost + count x marginal cost per submission.
It stops without a timing when stock nbgrader fails, grades fewer notebooks, or gives any submission other
autograded points than `autograder grade` does. Our setup steps' times (loading, preparing the assignment, writing
the outputs) are reported from the grader's own progress lines.
The submissions are the solution, the released exercise and, when tests/submissions/make_submissions.py exists,
the mutants and alternative implementations it writes (cycled to reach --count).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import platform
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_COURSE = ROOT / "tests" / "fixtures" / "course"
RESULTS = ROOT / "bench" / "results"


def env() -> dict:
    bin_dir = str(Path(sys.executable).parent)
    return dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")


def variants(course: Path, assignment: str, scratch: Path) -> list[tuple[str, str]]:
    """(name, notebook text) pairs: solution, exercise, then mutants if the assignments' generator exists."""
    found = [("solution", (course / "solutions" / assignment / f"{assignment}.ipynb").read_text()),
             ("exercise", (course / "exercises" / assignment / f"{assignment}.ipynb").read_text())]
    maker = ROOT / "tests" / "submissions" / "make_submissions.py"
    if maker.is_file() and course == ROOT:
        spec = importlib.util.spec_from_file_location("make_submissions", maker)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        target = scratch / "generated"
        try:
            module.make_submissions(assignment, target)
            for notebook in sorted(target.rglob("*.ipynb")):
                found.append((notebook.parent.name if notebook.stem == assignment else notebook.stem,
                              notebook.read_text()))
        except Exception as error:  # noqa: BLE001 - the benchmark still runs on solution + exercise
            print(f"make_submissions failed ({error}); using solution/exercise copies", file=sys.stderr)
    return found


def build(count: int, course: Path, assignment: str, scratch: Path) -> dict[str, str]:
    pool = variants(course, assignment, scratch)
    return {f"s{i:03d}_{pool[i % len(pool)][0]}"[:60]: pool[i % len(pool)][1] for i in range(count)}


def run_stock(submissions: dict[str, str], course: Path, assignment: str, scratch: Path) -> tuple[float, dict]:
    """Stock ``nbgrader autograde``; its autograded points per student (bonus cells count as ordinary ones there).
    Exits (no speed-up is reported) when nbgrader fails or grades fewer notebooks than there are submissions."""
    course_dir = scratch / "stock-course"
    shutil.copytree(course / "solutions" / assignment, course_dir / "source" / assignment)
    for student, text in submissions.items():
        folder = course_dir / "submitted" / student / assignment
        folder.mkdir(parents=True)
        (folder / f"{assignment}.ipynb").write_text(text)
    base = [sys.executable, "-m", "nbgrader"]
    options = [f"--CourseDirectory.root={course_dir}", "--log-level=ERROR"]
    subprocess.run([*base, "generate_assignment", assignment, *options], cwd=course_dir, env=env(), check=True,
                   capture_output=True)
    start = time.perf_counter()
    done = subprocess.run([*base, "autograde", assignment, *options], cwd=course_dir, env=env(),
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"stock nbgrader autograde failed (exit {done.returncode}); no comparison:\n"
                         f"{done.stderr[-3000:]}")
    with sqlite3.connect(course_dir / "gradebook.db") as db:
        scores = dict(db.execute(
            "select submitted_assignment.student_id, sum(coalesce(grade.auto_score, 0)) from grade "
            "join submitted_notebook on grade.notebook_id = submitted_notebook.id "
            "join submitted_assignment on submitted_notebook.assignment_id = submitted_assignment.id "
            "group by submitted_assignment.student_id"))
    if set(scores) != set(submissions):
        raise SystemExit(f"stock nbgrader graded {len(scores)} of {len(submissions)} submissions; missing: "
                         f"{sorted(set(submissions) - set(scores))[:10]}")
    return seconds, {"exit": done.returncode, "graded_notebooks": len(scores), "scores": scores}


def run_ours(submissions: dict[str, str], course: Path, assignment: str, scratch: Path, workers: int,
             sandboxed: bool = True, extra_env: dict | None = None, tag: str = ""):
    label = ("sandbox" if sandboxed else "nosandbox") + tag
    folder = scratch / f"ours-submissions-{label}"
    for student, text in submissions.items():
        (folder / student).mkdir(parents=True)
        (folder / student / f"{assignment}.ipynb").write_text(text)
    out = scratch / f"ours-output-{label}"
    start, used = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", "--assignment", assignment, str(folder),
                           "--output", str(out), "--workers", str(workers), "--course-root", str(course),
                           "--no-progress", *([] if sandboxed else ["--no-sandbox"])], env=env() | (extra_env or {}),
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the grade process and every process it reaped
    cpu_s = (after.ru_utime - used.ru_utime) + (after.ru_stime - used.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"autograder grade failed:\n{done.stderr[-3000:]}")
    with open(out / "grades.csv") as handle:
        rows = list(csv.DictReader(handle))
    per_nb = sorted(float(r["seconds"]) for r in rows)
    steps = {}
    for line in done.stderr.splitlines():  # "autograder: <step> ... <detail> (<seconds> s)"
        timed = re.search(r"\(([\d.]+) s\)$", line)
        if line.startswith("autograder: ") and " ... " in line and timed:
            step = line.removeprefix("autograder: ").split(" ... ")[0].split(": ")[-1].split(" in /")[0]
            steps[step] = float(timed.group(1))
    return seconds, {"exit": done.returncode, "rows": len(rows), "sum_submission_s": sum(per_nb), "cpu_s": cpu_s,
                     "named": sum(bool(r.get("misconceptions")) for r in rows),
                     "statuses": {s: sum(r["status"] == s for r in rows) for s in {r["status"] for r in rows}},
                     "median_submission_s": per_nb[len(per_nb) // 2] if per_nb else None,
                     "setup_steps_s": steps,
                     "scores": {r["student_id"]: float(r["autograded"]) + float(r["bonus"]) for r in rows}}


def check_agreement(stock: dict, ours: dict, label: str) -> None:
    """Both graders must give every submission the same autograded points (bonus included), else no timing."""
    differ = {s: (stock["scores"][s], ours["scores"].get(s)) for s in stock["scores"]
              if ours["scores"].get(s) != stock["scores"][s]}
    if differ:
        raise SystemExit(f"stock nbgrader and `autograder grade` ({label}) disagree on {len(differ)} submission(s) "
                         f"(stock, ours): {dict(list(differ.items())[:10])}")


def mixed_class(count: int, assignment: str, scratch: Path) -> dict[str, str]:
    """A class where half the submissions fail: the solution and the correct alternatives (cycled) for one half,
    the mutants of the assignment, spread over its list, one bug each, for the other; interleaved."""
    maker = ROOT / "tests" / "submissions" / "make_submissions.py"
    spec = importlib.util.spec_from_file_location("make_submissions", maker)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    correct = [("solution", (ROOT / "solutions" / assignment / f"{assignment}.ipynb").read_text())]
    correct += [(f"alt_{v.name}", module.nbformat.writes(module.make_variant(v))) for v in module.ALTERNATIVES
                if v.assignment == assignment]
    mutants = [v for v in module.MUTANTS if v.assignment == assignment]
    half = count // 2
    step = max(1, len(mutants) // max(1, count - half))
    failing = [(f"mut_{v.name}", module.nbformat.writes(module.make_variant(v))) for v in mutants[::step]]
    chosen = []
    for i in range(count):
        pool, index = (correct, i // 2) if i % 2 == 0 else (failing, i // 2)
        chosen.append(pool[index % len(pool)])
    del scratch
    return {f"s{i:03d}_{name}"[:60]: text for i, (name, text) in enumerate(chosen)}


def diagnosis_ab(args, assignment: str) -> None:
    """The cost of naming misconceptions: the same mixed class graded with diagnosis off and on, alternately."""
    from statistics import median

    runs = {"off": [], "on": []}
    with tempfile.TemporaryDirectory(prefix="bench-diagnosis-") as tmp:
        scratch = Path(tmp)
        submissions = mixed_class(args.count, assignment, scratch)
        for repeat in range(args.repeats):
            for mode in (("off", "on") if repeat % 2 == 0 else ("on", "off")):
                seconds, result = run_ours(submissions, ROOT, assignment, scratch, args.workers,
                                           extra_env={"AUTOGRADER_DIAGNOSE": "0" if mode == "off" else "1"},
                                           tag=f"-{mode}-{repeat}")
                best = max(result["scores"].values())
                runs[mode].append({"wall_s": round(seconds, 2),
                                   "sum_submission_s": round(result["sum_submission_s"], 2),
                                   "cpu_s": round(result["cpu_s"], 2),
                                   "named": result["named"], "statuses": result["statuses"],
                                   "failed": sum(score < best for score in result["scores"].values())})
                print(mode, runs[mode][-1], flush=True)
    wall = {mode: median(r["wall_s"] for r in runs[mode]) for mode in runs}
    per = {mode: median(r["sum_submission_s"] for r in runs[mode]) / args.count for mode in runs}
    cpu = {mode: median(r["cpu_s"] for r in runs[mode]) / args.count for mode in runs}
    result = {"assignment": assignment, "submissions": args.count, "workers": args.workers, "repeats": args.repeats,
              "cpu_count": os.cpu_count(), "machine": platform.platform(), "runs": runs,
              "median_wall_s": wall, "median_seconds_per_submission": per, "median_cpu_s_per_submission": cpu,
              "growth_wall": round(wall["on"] / wall["off"] - 1, 4),
              "growth_per_submission": round(per["on"] / per["off"] - 1, 4),
              "growth_cpu": round(cpu["on"] / cpu["off"] - 1, 4)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "diagnosis.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default=None)
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--diagnosis", action="store_true",
                        help="instead: a class where half the submissions fail, graded with misconception diagnosis "
                             "off and on (AUTOGRADER_DIAGNOSE), alternately --repeats times each")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    assignment = args.assignment
    if assignment is None:
        assignment = "ps3_elbo" if (ROOT / "solutions/ps3_elbo/ps3_elbo.ipynb").is_file() else "fx_kl"
    if args.diagnosis:
        return diagnosis_ab(args, assignment)
    course = ROOT if (ROOT / "solutions" / assignment).is_dir() else FIXTURE_COURSE
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        scratch = Path(tmp)
        submissions = build(args.count, course, assignment, scratch)
        stock_s, stock = run_stock(submissions, course, assignment, scratch)
        ours_s, ours = run_ours(submissions, course, assignment, scratch, args.workers, sandboxed=True)
        bare_s, bare = run_ours(submissions, course, assignment, scratch, args.workers, sandboxed=False)
        first = dict(list(submissions.items())[:1])  # the fixed cost: a batch of one submission (the solution)
        one_s, one = run_ours(first, course, assignment, scratch / "one", args.workers, sandboxed=True)
    check_agreement(stock, ours, "sandbox")
    check_agreement(stock, bare, "no sandbox")
    for result in (stock, ours, bare, one):
        result.pop("scores")
    ratio = stock_s / ours_s
    # wall(n) = fixed + n * marginal, from the batches of 1 and of n (both with the sandbox)
    marginal = (ours_s - one_s) / (len(submissions) - 1) if len(submissions) > 1 else float("nan")
    result = {"assignment": assignment, "submissions": len(submissions), "workers": args.workers,
              "cpu_count": os.cpu_count(), "machine": platform.platform(),
              "stock_nbgrader_autograde_s": round(stock_s, 2), "autograder_grade_s": round(ours_s, 2),
              "speedup": round(ratio, 2), "stock_per_submission_s": round(stock_s / len(submissions), 3),
              "ours_per_submission_s": round(ours_s / len(submissions), 3), "stock": stock, "ours": ours,
              "autograder_grade_no_sandbox_s": round(bare_s, 2), "speedup_no_sandbox": round(stock_s / bare_s, 2),
              "ours_no_sandbox": bare, "one_submission_s": round(one_s, 2),
              "marginal_per_submission_s": round(marginal, 3), "fixed_cost_s": round(one_s - marginal, 2)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "grading.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"| grading {len(submissions)} × {assignment} | stock `nbgrader autograde` serial {stock_s:.1f} s "
          f"({stock_s / len(submissions):.2f} s/nb) | `autograder grade --workers {args.workers}` {ours_s:.1f} s "
          f"({ours_s / len(submissions):.2f} s/nb) with the sandbox, {ratio:.1f}× faster | "
          f"without the sandbox {bare_s:.1f} s, {stock_s / bare_s:.1f}× faster | one submission {one_s:.1f} s: "
          f"fixed cost {one_s - marginal:.1f} s + {marginal:.2f} s per submission |")


if __name__ == "__main__":
    main()
