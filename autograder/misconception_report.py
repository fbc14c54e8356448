"""What the class misunderstood: per graded function, how many students showed each catalogued misconception
(autograder/judging/misconceptions), and how many failed it without a named one. The part of summary.md that says
what to re-teach next lecture, and its figure (misconceptions.png); ``grade`` and ``export`` write both
(autograder.outputs), so they follow hand marking and regrades like the rest of the outputs.

A student counts once per misconception and once per function, however many of its checks (visible, hidden) failed.
Only submissions that ran are counted (not the invalid or missing ones, which have nothing to diagnose).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .judging.misconceptions import CATALOGUE, function_of
from .source import AssignmentSource
from .text import for_markdown

FIGURE = "misconceptions.png"
RAN = ("ok", "timeout", "error")


def misconceptions_of(result) -> list[str]:
    """A GradeResult's named misconceptions, in the order of its cells, each once."""
    return list(dict.fromkeys(m for cell in result.cells for m in getattr(cell, "misconceptions", [])))


@dataclass
class FunctionCounts:
    """One graded function: students who failed one of its checks, and how many of them each misconception names."""

    function: str
    failed: int = 0
    named: dict[str, int] = field(default_factory=dict)  # misconception id -> students
    unnamed: int = 0  # failed, no misconception of this function named


def class_counts(results: list, source: AssignmentSource) -> list[FunctionCounts]:
    """Per function of the assignment (in the notebook's order), from the graded results that ran."""
    functions = list(dict.fromkeys(function_of(check.name) for cell in source.test_cells for check in cell.expected))
    counts = {name: FunctionCounts(name) for name in functions}
    for result in results:
        if result.status not in RAN:
            continue
        failed = {function_of(check) for cell in result.cells for check in getattr(cell, "failed_checks", [])}
        named: dict[str, list[str]] = {}
        for misconception in misconceptions_of(result):
            entry = CATALOGUE.get(misconception)
            function = entry.function if entry is not None else None
            if function in counts:
                named.setdefault(function, []).append(misconception)
        for function in failed | set(named):
            if function not in counts:
                counts[function] = FunctionCounts(function)
            line = counts[function]
            line.failed += 1
            for misconception in named.get(function, []):
                line.named[misconception] = line.named.get(misconception, 0) + 1
            if not named.get(function):
                line.unnamed += 1
    return [line for line in counts.values() if line.failed]


def summary_lines(results: list, source: AssignmentSource) -> list[str]:
    """The section of summary.md."""
    counts = class_counts(results, source)
    lines = ["", "## What to re-teach: misconceptions", ""]
    if not counts:
        return lines + ["No submission failed a graded function."]
    lines += ["For each function that someone failed: how many students the grader found with each catalogued "
              "misconception (their outputs matched that wrong implementation on every test case), and how many "
              "failed it without a named one. Each student's feedback names theirs with the section to read.", "",
              f"![misconceptions per function]({FIGURE})", "",
              "| function | misconception | students | what it is |", "|---|---|---|---|"]
    for line in counts:
        function = for_markdown(line.function)
        for misconception, students in sorted(line.named.items(), key=lambda item: (-item[1], item[0])):
            entry = CATALOGUE.get(misconception)
            what = f"{entry.summary} ({entry.reading})" if entry is not None else "(no longer in the catalogue)"
            lines.append(f"| {function} | {for_markdown(misconception)} | {students} | {_cell(what)} |")
        if line.unnamed:
            lines.append(f"| {function} | none named | {line.unnamed} | failed with no catalogued misconception |")
    return lines


def _cell(text: str) -> str:
    """The catalogue's own text (trusted) in a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def class_figure(results: list, source: AssignmentSource, title: str):
    """Horizontal bars: per function, the students with each misconception, and (grey) those failed unnamed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    counts = class_counts(results, source)
    labels, values, colours = [], [], []
    for line in counts:
        for misconception, students in sorted(line.named.items(), key=lambda item: (-item[1], item[0])):
            labels.append(f"{line.function}: {misconception}")
            values.append(students)
            colours.append("#aa5533")
        if line.unnamed:
            labels.append(f"{line.function}: none named")
            values.append(line.unnamed)
            colours.append("#999999")
    figure, axes = plt.subplots(figsize=(8, max(2.0, 0.9 + 0.3 * len(labels))))
    if labels:
        positions = list(range(len(labels)))[::-1]
        axes.barh(positions, values, color=colours)
        axes.set_yticks(positions, labels, fontsize=8)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("students")
    else:
        axes.text(0.5, 0.5, "no submission failed a graded function", ha="center", va="center")
        axes.set_axis_off()
    axes.set_title(title)
    figure.tight_layout()
    return figure


def write_class_figure(path: Path, results: list, source: AssignmentSource, title: str) -> None:
    import matplotlib.pyplot as plt

    figure = class_figure(results, source, title)
    figure.savefig(path, dpi=100)
    plt.close(figure)
