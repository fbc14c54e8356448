"""Benchmark: the in-process cost of grading one submission, per assignment: the checks alone (probe + judge) and
the whole notebook (every code cell run as the grader runs it, checks recording, then every record judged).

    python bench/bench_checks.py [--submissions 5] [--assignment ps3_elbo]

The solution notebook is the submission. "checks": every check() of every test cell, visible and hidden, probed on
the solution's functions (setup and solution cells executed once, ps4's model trained once outside the timing) and
judged. "notebook": every code cell of the notebook executed in a fresh namespace with a grading context installed
(so test cells record, as in the sandbox), demonstrations and ps4's training included, then every record judged:
the per-submission work of the grader minus the process start and the imports. Each submission gets a fresh master
seed, and the judges' in-process caches are cleared first (a grading process judges one submission). Times are
CPU seconds of this process (time.process_time, which a loaded machine inflates far less than wall time); the
median over the submissions is reported. torch runs single-threaded, as in the grading worker.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.submissions.harness import run_check, solution_namespace  # noqa: E402
from tests.submissions.make_submissions import ASSIGNMENTS, load_solution  # noqa: E402
from tests.test_assignments_solutions import graded_cells, parsed_checks  # noqa: E402


def clear_caches() -> None:
    from autograder import judging

    for module in vars(judging).values():
        for name, value in vars(module).items() if hasattr(module, "__dict__") else ():
            if name.endswith("_CACHE") and isinstance(value, dict):
                value.clear()


def time_checks(assignment: str, scope: dict, master_seed: int) -> tuple[float, bool]:
    from autograder.student.probes import derive_seed

    clear_caches()
    cpu = time.process_time()
    passed = True
    for cell in graded_cells(load_solution(assignment)):
        for name, expression, kind in parsed_checks(cell.source):
            func = eval(expression, scope)  # noqa: S307 - the instructor's own test cell
            seed = derive_seed(master_seed, name, kind)
            passed &= run_check(name, func, seed, kind).passed
    return time.process_time() - cpu, passed


def time_notebook(assignment: str, master_seed: int) -> tuple[float, bool]:
    import contextlib
    import io

    import torch

    from autograder.judging import judge
    from autograder.student.probes import GradingContext, seed_for, set_grading_context

    clear_caches()
    nb = load_solution(assignment)
    context = GradingContext(master_seed)
    scope: dict = {"__name__": "__main__"}
    cpu = time.process_time()
    set_grading_context(context)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            for cell in nb.cells:
                if cell.cell_type == "code":
                    context.current_cell = cell.get("id")
                    exec(compile(cell.source, f"<{assignment}:{cell.get('id')}>", "exec"), scope)  # noqa: S102
    finally:
        set_grading_context(None)
    passed = all(judge(r["name"], seed_for(master_seed, r["name"], r["kind"]), r["kind"], r["outcomes"]).passed
                 for r in context.records)
    torch.set_num_threads(1)
    return time.process_time() - cpu, passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=5)
    parser.add_argument("--assignment", action="append")
    args = parser.parse_args()
    results = {}
    for assignment in args.assignment or ASSIGNMENTS:
        scope = solution_namespace(assignment, train=assignment == "ps4_gradients")
        time_checks(assignment, scope, 999)  # warm-up: imports, first-call overheads
        checks = [time_checks(assignment, scope, 1000 + i) for i in range(args.submissions)]
        notebook = [time_notebook(assignment, 2000 + i) for i in range(args.submissions)]
        results[assignment] = {
            "checks_cpu_s": round(statistics.median(c for c, _ in checks), 3),
            "notebook_cpu_s": round(statistics.median(c for c, _ in notebook), 3),
            "all_passed": all(p for _, p in checks + notebook)}
        print(assignment, results[assignment], flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
