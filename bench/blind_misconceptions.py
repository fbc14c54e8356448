"""Measure how well feedback names misconceptions on submissions written blind to the grader.

    python bench/blind_misconceptions.py [--blind tests/submissions/blind] [--workers 2] [--keep DIR]
    python bench/blind_misconceptions.py --keep DIR --only ps4_gradients   (one problem set at a time, then:)
    python bench/blind_misconceptions.py --graded DIR --label NAME        (measure the kept journals)

tests/submissions/blind holds realistic submissions of the four problem sets written by someone who never saw the
grader, its catalogue of misconceptions or its mutants, with an answer key (answers.json: per student the kind,
correct / buggy / messy, and per function whether it is correct and, if not, a TA's description of the bug). This
grades every problem set's folder with the real ``python -m autograder grade`` (sandboxed where bubblewrap is
there), reads what was named from the grading journal, and reports:

* **named**: of the buggy submissions whose bugs the tests catch (a check of a buggy function failed), the share
  that got at least one named misconception; and of the buggy functions that failed a check, the share named;
* **right**: of the names given, the share that are the bug the answer key describes. That is a reading, not a
  string match: bench/blind_judgements.json records, for each (student, function, misconception), whether the
  misconception's text describes the key's bug, and why; a name not judged there yet is listed for reading and
  counted apart;
* **correct submissions named**: any name given to a student of kind "correct", or to a function the key marks
  correct (it must be 0); and whether correct students kept every autograded point.

Writes bench/results/blind_misconceptions.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
JUDGEMENTS = ROOT / "bench" / "blind_judgements.json"


def grade(blind: Path, assignment: str, output: Path, workers: int) -> dict:
    """Grade one problem set's folder; {student: GradeResult} from the grading journal."""
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", "--assignment", assignment,
                           str(blind / assignment), "--output", str(output), "--workers", str(workers),
                           "--no-progress"], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"grading {assignment} failed:\n{done.stderr[-3000:]}")
    return journal_results(output)


def journal_results(output: Path) -> dict:
    from autograder.journal import Journal

    with Journal.open(output, create=False) as journal:
        return {student: record.result for student, record in journal.current().items()}


def measure(results: dict, answers: dict, judgements: dict) -> dict:
    from autograder.judging.misconceptions import CATALOGUE, function_of

    summary = {"students": {}, "unjudged": [], "wrong": [], "named_correct": []}
    counts = {"buggy": 0, "buggy_caught": 0, "buggy_named": 0, "functions_caught": 0, "functions_named": 0,
              "names": 0, "names_right": 0, "names_unjudged": 0, "correct": 0, "correct_named": 0,
              "correct_full_marks": 0, "names_on_correct_functions": 0}
    for student, key in sorted(answers.items()):
        result = results.get(student)
        if result is None:
            raise SystemExit(f"{student}: no graded result")
        correct_functions = {f["function"] for f in key["functions"] if f["correct"]}
        buggy_functions = {f["function"]: f.get("bug") or f.get("description") or f.get("note", "")
                           for f in key["functions"] if not f["correct"]}
        failed = {function_of(check) for cell in result.cells for check in cell.failed_checks}
        names = [(CATALOGUE[m].function if m in CATALOGUE else "?", m)
                 for cell in result.cells for m in cell.misconceptions]
        names = list(dict.fromkeys(names))
        line = {"kind": key["kind"], "score": result.score, "max": result.max_score, "failed": sorted(failed),
                "named": [f"{function}: {m}" for function, m in names], "buggy": buggy_functions}
        summary["students"][student] = line
        if key["kind"] == "correct":
            counts["correct"] += 1
            counts["correct_named"] += bool(names)
            counts["correct_full_marks"] += result.autograded >= result.max_score
        if buggy_functions:
            by_kind = summary.setdefault("by_kind", {}).setdefault(key["kind"], {"caught": 0, "named": 0})
            by_kind["caught"] += bool(failed & set(buggy_functions))
            by_kind["named"] += bool(failed & set(buggy_functions)) and any(
                function in failed & set(buggy_functions) for function, _ in names)
            counts["buggy"] += 1
            caught = failed & set(buggy_functions)
            counts["buggy_caught"] += bool(caught)
            counts["buggy_named"] += bool(caught) and any(function in caught for function, _ in names)
            counts["functions_caught"] += len(caught)
            counts["functions_named"] += len({function for function, _ in names} & caught)
        for function, misconception in names:
            counts["names"] += 1
            if function in correct_functions or key["kind"] == "correct":
                counts["names_on_correct_functions"] += 1
                summary["named_correct"].append(f"{student} {function}: {misconception}")
            verdict = judgements.get(f"{student}/{function}/{misconception}")
            if verdict is None:
                counts["names_unjudged"] += 1
                summary["unjudged"].append({"key": f"{student}/{function}/{misconception}",
                                            "bug": buggy_functions.get(function, "(marked correct)"),
                                            "misconception": CATALOGUE[misconception].text
                                            if misconception in CATALOGUE else "?"})
            elif verdict["right"]:
                counts["names_right"] += 1
            else:
                summary["wrong"].append(f"{student} {function}: {misconception} ({verdict['why']})")
    judged = counts["names"] - counts["names_unjudged"]
    summary["counts"] = counts
    summary["rates"] = {
        "buggy_caught_named": counts["buggy_named"] / max(counts["buggy_caught"], 1),
        "functions_caught_named": counts["functions_named"] / max(counts["functions_caught"], 1),
        "names_right": counts["names_right"] / max(judged, 1),
        "correct_named": counts["correct_named"],
    }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blind", type=Path, default=ROOT / "tests" / "submissions" / "blind")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="grade into this folder and keep it (default: a temporary one)")
    parser.add_argument("--label", default="", help="a name for this measurement in the results file")
    parser.add_argument("--graded", type=Path, help="measure the journals of an earlier --keep folder, not grading")
    parser.add_argument("--only", help="with --keep: grade this problem set only (each run stays short), no measure")
    args = parser.parse_args()
    answers = json.loads((args.blind / "answers.json").read_text())["students"]
    judgements = json.loads(JUDGEMENTS.read_text()) if JUDGEMENTS.is_file() else {}
    if args.only is not None:
        if args.keep is None:
            parser.error("--only needs --keep (the folder a later --graded run measures)")
        grade(args.blind, args.only, args.keep / args.only, args.workers)
        print(f"graded {args.only} into {args.keep / args.only}", file=sys.stderr)
        return
    work = Path(tempfile.mkdtemp(prefix="blind-")) if args.keep is None and args.graded is None else args.keep
    try:
        results = {}
        for assignment in sorted({key["problem_set"] for key in answers.values()}):
            if args.graded is not None:
                results.update(journal_results(args.graded / assignment))
                continue
            results.update(grade(args.blind, assignment, work / assignment, args.workers))
            print(f"graded {assignment}", file=sys.stderr, flush=True)
        summary = measure(results, answers, judgements)
    finally:
        if args.keep is None and work is not None:
            shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"blind_misconceptions{'_' + args.label if args.label else ''}.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    counts, rates = summary["counts"], summary["rates"]
    print(json.dumps(summary["students"], indent=1))
    print(json.dumps({"unjudged": summary["unjudged"], "wrong": summary["wrong"],
                      "named_correct": summary["named_correct"]}, indent=1))
    print(f"buggy submissions whose bugs a check caught: {counts['buggy_caught']} of {counts['buggy']}; named: "
          f"{counts['buggy_named']} ({100 * rates['buggy_caught_named']:.0f}%)")
    for kind, line in sorted(summary.get("by_kind", {}).items()):
        print(f"  of kind {kind}: {line['named']} of {line['caught']} named")
    print(f"buggy functions that failed a check: {counts['functions_caught']}; named: {counts['functions_named']} "
          f"({100 * rates['functions_caught_named']:.0f}%)")
    print(f"names: {counts['names']}, judged right {counts['names_right']} of "
          f"{counts['names'] - counts['names_unjudged']} ({100 * rates['names_right']:.0f}%), unjudged "
          f"{counts['names_unjudged']}")
    print(f"correct submissions: {counts['correct']}, named {counts['correct_named']}, full autograded marks "
          f"{counts['correct_full_marks']}; names on functions the key marks correct: "
          f"{counts['names_on_correct_functions']}")


if __name__ == "__main__":
    main()
