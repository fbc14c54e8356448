"""Benchmark: ``python -m autograder similarity`` on a class of 300 ps3_elbo submissions (the real CLI).

    python bench/bench_similarity.py [--count 300] [--runs 1] [--keep DIR]

The class is drawn with a fixed seed: each student answers each function with one of the implementations the
project holds for it (the independent students of tests/similarity/students.py, the alternatives and the mutants of
tests/submissions/, the model answer), so that many pairs share some code, as a real class does; 5% hand in the
blank release, 10% leave some functions as released, and 5% hand in a disguised copy of another student
(tests/similarity/disguises.py). Prints the wall time of each run with the machine's load average before it, and
writes bench/results/similarity.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "similarity"))
sys.path.insert(0, str(ROOT / "tests" / "submissions"))

from alternatives import ALTERNATIVES  # noqa: E402
from cases import ASSIGNMENT, fill, notebook_for, release  # noqa: E402
from disguises import DISGUISES  # noqa: E402
from mutants import MUTANTS  # noqa: E402
from students import FUNCTIONS, STUDENTS  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def pools() -> dict[str, list[str]]:
    """Every implementation the project holds of each ps3 function."""
    found = {f: [STUDENTS[s][f] for s in STUDENTS] for f in FUNCTIONS}
    for variant in [*ALTERNATIVES, *MUTANTS]:
        if variant.assignment == ASSIGNMENT and variant.function in found:
            found[variant.function].append(variant.source.strip("\n") + "\n")
    return found


def make_class(target: Path, count: int, seed: int = 21) -> dict[str, int]:
    rng = random.Random(seed)
    implementations = pools()
    stubs = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in release()["cells"]
             if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") in FUNCTIONS}
    kinds = {"blank": 0, "partial": 0, "copy": 0, "own": 0}
    answers: list[dict[str, str]] = []
    for number in range(count):
        roll = rng.random()
        if roll < 0.05:
            kind, cells = "blank", {}
        elif roll < 0.10 and answers:
            kind = "copy"
            disguise = rng.choice(list(DISGUISES))
            cells = {f: DISGUISES[disguise](code, rng) for f, code in rng.choice(answers).items()}
        else:
            cells = {f: fill(stubs[f], f, rng.choice(implementations[f])) for f in FUNCTIONS}
            kind = "own"
            if roll < 0.20:
                kind = "partial"
                for f in rng.sample(FUNCTIONS, rng.randint(1, len(FUNCTIONS) - 1)):
                    del cells[f]
            answers.append(cells)
        kinds[kind] += 1
        folder = target / f"student{number:03d}"
        folder.mkdir(parents=True)
        (folder / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(notebook_for(cells), indent=1), encoding="utf-8")
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--keep", help="write the class and the report here instead of a temporary folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-similarity-") as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        kinds = make_class(base / "class", args.count)
        print(f"{args.count} ps3_elbo submissions: {kinds}")
        runs = []
        for run in range(args.runs):
            output = base / f"report{run}"
            load = os.getloadavg()[0]
            start = time.perf_counter()
            process = subprocess.run([sys.executable, "-m", "autograder", "similarity", "--assignment", ASSIGNMENT,
                                      str(base / "class"), "--output", str(output)], cwd=ROOT, capture_output=True,
                                     text=True)
            seconds = time.perf_counter() - start
            if process.returncode != 0:
                sys.exit(f"similarity failed:\n{process.stderr[-3000:]}")
            pairs = sum(1 for _ in open(output / "similarity.csv", encoding="utf-8")) - 1
            runs.append({"seconds": round(seconds, 2), "load_before": load, "pairs": pairs})
            print(f"run {run + 1}: {seconds:.1f} s wall for {pairs:,} pairs (1-minute load before: {load:.1f}); "
                  f"{process.stdout.strip()}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "similarity.json").write_text(json.dumps({"count": args.count, "kinds": kinds, "runs": runs,
                                                         "cores": os.cpu_count()}, indent=1))


if __name__ == "__main__":
    main()
