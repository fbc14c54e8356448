"""The batch outputs besides feedback: the rows of grades.csv, summary.md and a score histogram (PNG).

A row combines a student's last autograding result (the journal) with the gradebook's marks (a person's scores
from formgrader included), so that, as in ``nbgrader export``: score = autograded + bonus + hand-marked points
(minus nbgrader's late penalty, if one was set), and max_score = every graded cell except bonus cells. Every
student-derived string is escaped for its medium: CSV cells (no formulas), Markdown (code spans).
"""

from __future__ import annotations

import csv
import io
import math
import os
import shlex
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .gradebook import Mark
from .grading import GradeResult
from .misconception_report import misconceptions_of, summary_lines
from .source import MANUAL, TASK, TEST, AssignmentSource
from .text import for_csv, for_markdown

COLUMNS = ["student_id", "assignment", "score", "max_score", "status", "message", "bonus", "manual_pending",
           "late", "seconds", "notebook", "seed", "autograded", "manual", "name", "misconceptions"]


def points(value: float) -> str:
    return f"{round(value, 6):g}"


@dataclass
class Row:
    """One submission's line of grades.csv (and what its feedback and the summary show)."""

    result: GradeResult
    marks: dict[str, Mark]
    source: AssignmentSource
    penalty: float = 0.0
    name: str = ""
    problems: list[str] = field(default_factory=list)  # outputs that could not be written for this student

    def _sum(self, roles: tuple[str, ...], bonus: bool | None = None) -> float:
        return sum(self.marks[c.grade_id].score for c in self.source.cells
                   if c.role in roles and c.grade_id in self.marks and (bonus is None or c.bonus == bonus))

    @property
    def autograded(self) -> float:
        return self._sum((TEST,), bonus=False)

    @property
    def bonus(self) -> float:
        return self._sum((TEST,), bonus=True)

    @property
    def manual(self) -> float:
        return self._sum((MANUAL, TASK))

    @property
    def pending(self) -> float:
        """Points of cells that wait for a person (unmarked answers, marks flagged for review)."""
        return sum(c.points for c in self.source.cells
                   if c.graded and c.grade_id in self.marks and self.marks[c.grade_id].needs_manual)

    @property
    def score(self) -> float:
        return max(0.0, sum(m.score for m in self.marks.values()) - self.penalty)

    @property
    def max_score(self) -> float:
        return self.source.max_score + self.source.manual_max

    @property
    def message(self) -> str:
        parts = [self.result.message]
        if self.pending:
            parts.append(f"{points(self.pending)} point{'' if self.pending == 1 else 's'} await manual grading")
        elif self.source.manual_max and any(self.marks.get(c.grade_id, Mark()).manual is not None
                                            for c in self.source.cells if c.role in (MANUAL, TASK)):
            parts.append(f"graded by hand: {points(self.manual)} of {points(self.source.manual_max)} points")
        if self.penalty:
            parts.append(f"late penalty {points(self.penalty)}")
        if self.problems:
            parts.append("OUTPUTS NOT WRITTEN: " + "; ".join(self.problems))
        return join_clauses(parts)

    def csv_row(self) -> dict[str, str]:
        r = self.result
        values = {"student_id": r.student_id, "assignment": r.assignment, "score": points(self.score),
                  "max_score": points(self.max_score), "status": r.status, "message": self.message,
                  "bonus": points(self.bonus), "manual_pending": points(self.pending),
                  "late": "yes" if r.late else "no", "seconds": f"{r.seconds:.2f}", "notebook": r.notebook,
                  "seed": "" if r.seed is None else str(r.seed), "autograded": points(self.autograded),
                  "manual": points(self.manual), "name": self.name or r.name,
                  "misconceptions": ";".join(misconceptions_of(r))}
        return {key: for_csv(value) for key, value in values.items()}


def join_clauses(parts: list[str]) -> str:
    """Clauses joined by "; ", without the ".;" of a clause that ends a sentence."""
    return "; ".join(part.rstrip().rstrip(".") for part in parts if part.strip())


def write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path``, then rename: readers see the old file or the whole new one."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8", errors="replace", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_csv(path: Path, rows: list[Row]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow(row.csv_row())
    write_atomically(path, buffer.getvalue())


def histogram_figure(scores: list[float], max_score: float, bonus_max: float, title: str):
    """Scores (hand-marked points so far included) on an axis from 0 to the maximum, or to the maximum plus the
    bonus when someone scored above it (a dashed line marks the maximum); whole counts on the y axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    upper = max_score + bonus_max if any(s > max_score for s in scores) else max_score
    upper = max(upper, 1.0)
    width = max(1.0, math.ceil(upper / 25))
    edges = [i * width for i in range(int(math.ceil(upper / width)) + 1)]
    if edges[-1] < upper:
        edges.append(edges[-1] + width)
    figure, axes = plt.subplots(figsize=(6, 3.5))
    axes.hist(scores, bins=edges, color="#4477aa", edgecolor="white")
    axes.set_xlim(0, upper)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    if upper > max_score:
        axes.axvline(max_score, color="#aa3333", linestyle="--", linewidth=1)
    label = f"score (max {points(max_score)}" + (f", bonus up to {points(bonus_max)}" if bonus_max else "") + ")"
    axes.set_xlabel(label)
    axes.set_ylabel("submissions")
    axes.set_title(title)
    figure.tight_layout()
    return figure


def write_histogram(path: Path, rows: list[Row], max_score: float, bonus_max: float, title: str) -> None:
    import matplotlib.pyplot as plt

    figure = histogram_figure([row.score for row in rows], max_score, bonus_max, title)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_summary(path: Path, rows: list[Row], source: AssignmentSource, seconds: float | None, workers: int | None,
                  notes: list[str] = ()) -> None:
    results = [row.result for row in rows]
    scores = [row.score for row in rows]
    statuses = Counter(r.status for r in results)
    max_score = source.max_score + source.manual_max
    md = for_markdown
    lines = [f"# Grading summary: {source.assignment_id}", "",
             f"- submissions: {len(rows)} ({', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))})",
             f"- max score: {points(max_score)} (autograded {points(source.max_score)}, graded by hand "
             f"{points(source.manual_max)})" + (f"; bonus up to {points(source.bonus_max)}, counted as extra "
                                                f"credit: in every score (grades.csv, feedback, Canvas, formgrader's "
                                                f"Code Score, nbgrader export) but in no maximum, so a score may "
                                                f"exceed its maximum by up to {points(source.bonus_max)}"
                                                if source.bonus_max else "")]
    if scores:
        lines += [f"- score: mean {statistics.fmean(scores):.2f}, median {points(statistics.median(scores))}, "
                  f"min {points(min(scores))}, max {points(max(scores))}",
                  f"- late: {sum(r.late for r in results)}"]
    pending = [row for row in rows if row.pending]
    lines.append(f"- waiting for manual grading: {len(pending)} submission(s), "
                 f"{points(sum(row.pending for row in pending))} points in all")
    if seconds is not None:
        lines.append(f"- wall time {seconds:.1f} s with {workers} worker(s)")
    lines += [f"- {md(note)}" for note in notes]
    lines += ["", "![score histogram](histogram.png)", "", "## Test cells", "",
              "| test cell | points | passed |", "|---|---|---|"]
    graded = [r for r in results if r.status in ("ok", "timeout", "error")]
    for cell in source.test_cells:
        passed = sum(any(c.grade_id == cell.grade_id and c.passed for c in r.cells) for r in graded)
        label = md(cell.grade_id) + (" (bonus)" if cell.bonus else "")
        lines.append(f"| {label} | {points(cell.points)} | {passed} / {len(graded)} |")
    lines += summary_lines(results, source)
    manual_cells = [c for c in source.cells if c.role in (MANUAL, TASK)]
    if manual_cells:
        lines += ["", "## Graded by hand", "",
                  "Mark these in nbgrader's formgrader: `cd` into this folder and run `jupyter lab` (or "
                  "`jupyter notebook`) from the course environment, open Nbgrader > Formgrader > Manual Grading, "
                  f"then run `python -m autograder export --assignment {source.assignment_id} --output "
                  f"{shlex.quote(str(path.parent.resolve()))}` to update grades.csv and the feedback.", "",
                  "| cell | points | answered | marked | waiting |", "|---|---|---|---|---|"]
        for cell in manual_cells:
            answered = sum(any(m.grade_id == cell.grade_id and m.answered for m in r.manual) for r in results)
            marked = sum(row.marks.get(cell.grade_id, Mark()).manual is not None for row in rows)
            waiting = sum(row.marks.get(cell.grade_id, Mark()).needs_manual for row in rows)
            kind = " (task)" if cell.role == TASK else ""
            lines.append(f"| {md(cell.grade_id)}{kind} | {points(cell.points)} | {answered} | {marked} | {waiting} |")
    problems = [row for row in rows if row.result.status != "ok" or row.problems or row.result.attention]
    if problems:
        lines += ["", "## Submissions that need a look", "",
                  "Timeouts are listed with the CPU time the submission used (limits count CPU time; a cell that hit "
                  "its wall-clock cap on a busy machine was run again alone first).", "",
                  "| student | status | why | message |", "|---|---|---|---|"]
        lines += [f"| {md(r.result.student_id)} | {md(r.result.status)} | {md('; '.join(r.result.attention))} | "
                  f"{md(r.message)} |" for r in problems]
    write_atomically(path, "\n".join(lines) + "\n")
