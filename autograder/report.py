"""The batch outputs besides feedback: grades.csv, summary.md and a score histogram (PNG)."""

from __future__ import annotations

import csv
import statistics
from collections import Counter
from pathlib import Path

from .grading import CSV_COLUMNS, GradeResult


def write_csv(path: Path, results: list[GradeResult]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for result in results:
            writer.writerow(result.row())


def write_histogram(path: Path, results: list[GradeResult], max_score: float, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5))
    scores = [r.score for r in results]
    upper = max([max_score, *scores]) if scores else max_score
    axes.hist(scores, bins=min(20, max(5, int(upper) + 1)), range=(0, max(upper, 1)), color="#4477aa",
              edgecolor="white")
    axes.set_xlabel(f"autograded score (max {max_score:g})")
    axes.set_ylabel("submissions")
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_summary(path: Path, results: list[GradeResult], assignment_id: str, max_score: float,
                  seconds: float, workers: int) -> None:
    scores = [r.score for r in results]
    statuses = Counter(r.status for r in results)
    lines = [f"# Grading summary: {assignment_id}", "",
             f"- submissions: {len(results)} ({', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))})",
             f"- max autograded score: {max_score:g}"]
    if scores:
        lines += [f"- mean {statistics.fmean(scores):.2f}, median {statistics.median(scores):g}, "
                  f"min {min(scores):g}, max {max(scores):g}",
                  f"- late: {sum(r.late for r in results)}; points awaiting manual grading in "
                  f"{sum(r.manual_pending > 0 for r in results)} submission(s)"]
    lines += [f"- wall time {seconds:.1f} s with {workers} worker(s)", "", "![score histogram](histogram.png)", "",
              "## Test cells", "", "| test cell | points | passed |", "|---|---|---|"]
    graded = [r for r in results if r.cells]
    if graded:
        for index, cell in enumerate(graded[0].cells):
            passed = sum(r.cells[index].passed for r in graded if len(r.cells) > index)
            label = cell.grade_id + (" (bonus)" if cell.bonus else "")
            lines.append(f"| {label} | {cell.max_points:g} | {passed} / {len(graded)} |")
    problems = [r for r in results if r.status != "ok"]
    if problems:
        lines += ["", "## Submissions that need a look", "", "| student | status | message |", "|---|---|---|"]
        lines += [f"| {r.student_id} | {r.status} | {r.message.replace('|', '/')} |" for r in problems]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
