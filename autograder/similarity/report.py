"""The similarity outputs: similarity.csv (every pair), students.csv (every student) and report.html.

Everything a submission controls (student ids, names, code, notes) is escaped for its medium: HTML-escaped in the
report (which has no script and loads nothing), and CSV cells made safe from spreadsheet formulas
(autograder.text.for_csv). Lone surrogates were replaced where the text entered (autograder.text.clean); the files
are written as UTF-8 with any that remain replaced, so no student text can stop the writing.
"""

from __future__ import annotations

import csv
from html import escape
from pathlib import Path

from ..text import clean, for_csv
from .extract import StudentCode, Unreadable

PAIR_COLUMNS = ["student_a", "student_b", "score", "share_a", "share_b", "matched_lines_a", "matched_lines_b",
                "source_b"]
STUDENT_COLUMNS = ["student", "source", "status", "compared_lines", "reason", "name"]
NOTICE = ("This report is a screening aid. A high score means that two submissions share code beyond the template "
          "every student was given, not that anyone copied: shared code can come from the lecture, the book, a "
          "study group the course allows, or the one obvious way to write a line. Read the code side by side "
          "before drawing any conclusion. Nothing in this report changes a grade.")


def _h(value) -> str:
    return escape(clean(str(value)), quote=True)


def write_outputs(result, assignment_id: str) -> None:
    codes = {s.key: s for s in result.students if isinstance(s, StudentCode)}
    _write_pairs(result.output / "similarity.csv", result.pairs, codes)
    _write_students(result.output / "students.csv", result)
    html = render_html(result, assignment_id, codes)
    (result.output / "report.html").write_text(html, encoding="utf-8", errors="replace")


def _write_pairs(path: Path, pairs, codes: dict[str, StudentCode]) -> None:
    with open(path, "w", newline="", encoding="utf-8", errors="replace") as handle:
        writer = csv.writer(handle)
        writer.writerow(PAIR_COLUMNS)
        for row in pairs:
            origin = codes[row.b].origin
            writer.writerow([for_csv(row.a), for_csv(row.b), f"{row.score:.3f}", f"{row.share_a:.3f}",
                             f"{row.share_b:.3f}", for_csv(row.lines_a), for_csv(row.lines_b),
                             for_csv("this class" if origin == "current" else f"archive {origin}")])


def student_status(student, failed: dict[str, str]) -> tuple[str, str]:
    """(status, reason) of one student in students.csv and the report."""
    if isinstance(student, Unreadable):
        return student.status, student.reason
    if student.key in failed:
        return "not compared", failed[student.key]
    if not student.text.strip():
        return "no code of their own", "every answer cell is as released (or holds only the released template)"
    return "compared", "; ".join(student.notes)


def _write_students(path: Path, result) -> None:
    with open(path, "w", newline="", encoding="utf-8", errors="replace") as handle:
        writer = csv.writer(handle)
        writer.writerow(STUDENT_COLUMNS)
        for student in result.students:
            status, reason = student_status(student, result.failed)
            lines = len(student.lines) if isinstance(student, StudentCode) else 0
            writer.writerow([for_csv(student.key), for_csv("this class" if student.origin == "current" else
                                                           f"archive {student.origin}"),
                             status, lines, for_csv(reason), for_csv(getattr(student, "name", ""))])


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; padding: 0 1rem; max-width: 110rem; color: #222; }
.notice { border: 2px solid #b36b00; background: #fff6e6; padding: .75rem 1rem; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .3rem .5rem; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.sides { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
@media (max-width: 60rem) { .sides { grid-template-columns: 1fr; } }
pre { background: #f6f6f6; padding: .5rem; overflow-x: auto; font-size: .85rem; line-height: 1.35; margin: 0; }
mark { background: #ffd37a; } .ln { color: #888; user-select: none; } .cell { color: #1a5fb4; font-weight: bold; }
section.pair { border-top: 1px solid #ccc; margin-top: 1.5rem; } .wide { overflow-x: auto; }
.sides > div { min-width: 0; }
"""


def render_html(result, assignment_id: str, codes: dict[str, StudentCode]) -> str:
    shown = result.shown
    current = [s for s in result.students if s.origin == "current"]
    archived = [s for s in result.students if s.origin != "current"]
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>Code similarity: {_h(assignment_id)}</title><style>{STYLE}</style></head><body>",
             f"<h1>Code similarity: {_h(assignment_id)}</h1>", f'<p class="notice"><strong>{_h(NOTICE)}</strong></p>',
             f"<p>{len(current)} student(s) of this class" +
             (f" and {len(archived)} of earlier terms (compared with this class only)" if archived else "") +
             f"; {len(result.pairs):,} pair(s) compared in {result.seconds:.1f} s; "
             f"{sum(p.score > 0 for p in result.pairs):,} share some code. The {len(shown)} highest are shown below; "
             "similarity.csv lists every pair, students.csv every student.</p>"]
    parts += _pair_table(shown, codes)
    parts += [_pair_section(rank, pair, codes) for rank, pair in enumerate(shown, 1)]
    parts += _not_compared(result)
    parts += [f"<h2>How the score is computed</h2><p>{_h(HOW)}</p>", "</body></html>"]
    return "\n".join(parts)


HOW = ("Each student's own code is taken from the notebook: the answer cells (the lines of the released stub "
       "removed) and the code cells the student added; copies of the instructor's cells and written answers are "
       "left out. copydetect then tokenizes the code (names, strings, comments and spacing do not count), "
       "fingerprints it (k-grams of 25 filtered characters, winnowed) and drops every fingerprint of the released "
       "notebook. A pair's score is the larger of the two shares of fingerprinted code matched by the other "
       "student's (code shorter than 200 filtered characters, about ten lines, counts as 200 long): 1 means all of "
       "one student's own code appears in the other's. The highlighted regions are the matched stretches.")


def _pair_table(shown, codes) -> list[str]:
    if not shown:
        return ["<h2>Top pairs</h2><p>No two submissions share code beyond the template.</p>"]
    rows = ['<h2>Top pairs</h2><div class="wide"><table><thead><tr><th>#</th><th>student a</th><th>student b</th>'
            "<th>score</th><th>share of a</th><th>share of b</th><th>matched lines of a</th>"
            "<th>matched lines of b</th></tr></thead><tbody>"]
    for rank, pair in enumerate(shown, 1):
        a, b = codes[pair.a], codes[pair.b]
        lines_a, lines_b = a.matched_lines(pair.spans_a), b.matched_lines(pair.spans_b)
        rows.append(f'<tr><td class="num"><a href="#pair-{rank}">{rank}</a></td><td>{_h(_who(a))}</td>'
                    f'<td>{_h(_who(b))}</td><td class="num">{pair.score:.2f}</td><td class="num">{pair.share_a:.2f}'
                    f'</td><td class="num">{pair.share_b:.2f}</td><td class="num">{len(lines_a)} of '
                    f'{len(a.lines)}</td><td class="num">{len(lines_b)} of {len(b.lines)}</td></tr>')
    rows.append("</tbody></table></div>")
    return rows


def _who(code: StudentCode) -> str:
    origin = "" if code.origin == "current" else " (earlier term)"
    return f"{code.key}{origin}" + (f" ({code.name})" if getattr(code, "name", "") else "")


def _pair_section(rank: int, pair, codes) -> str:
    a, b = codes[pair.a], codes[pair.b]
    where_a = a.describe(a.matched_lines(pair.spans_a))
    where_b = b.describe(b.matched_lines(pair.spans_b))
    return (f'<section class="pair" id="pair-{rank}"><h3>#{rank}: {_h(_who(a))} and {_h(_who(b))}: score '
            f"{pair.score:.2f}</h3><p>Matched lines (cell: line numbers in the student's cell): "
            f"<b>{_h(a.key)}</b> {_h(where_a)}; <b>{_h(b.key)}</b> {_h(where_b)}.</p><div class=\"sides\">"
            f"<div><h4>{_h(_who(a))}</h4>{highlighted(a, pair.spans_a)}</div>"
            f"<div><h4>{_h(_who(b))}</h4>{highlighted(b, pair.spans_b)}</div></div></section>")


def highlighted(code: StudentCode, spans: list[tuple[int, int]]) -> str:
    """The student's code as <pre>, each cell headed by its label, each line by its number in the student's cell,
    matched stretches in <mark>; every character escaped."""
    covered = bytearray(len(code.text) + 1)
    for start, end in spans:
        covered[max(0, start):max(0, end)] = b"\x01" * (max(0, end) - max(0, start))
    out, offset, cell = [], 0, None
    for line in code.lines:
        if line.cell != cell:
            cell = line.cell
            out.append(f'<span class="cell"># {_h(cell)}</span>')
        pieces, run_start = [], 0
        text = line.text
        for index in range(1, len(text) + 1):
            if index == len(text) or covered[offset + index] != covered[offset + run_start]:
                segment = _h(text[run_start:index])
                pieces.append(f"<mark>{segment}</mark>" if covered[offset + run_start] else segment)
                run_start = index
        out.append(f'<span class="ln">{line.number:>4} </span>' + "".join(pieces))
        offset += len(text) + 1
    return "<pre>" + "\n".join(out) + "</pre>"


def _not_compared(result) -> list[str]:
    rows = []
    for student in result.students:
        status, reason = student_status(student, result.failed)
        if status != "compared":
            rows.append(f"<tr><td>{_h(student.key)}</td><td>{_h(status)}</td><td>{_h(reason)}</td></tr>")
    if not rows:
        return ["<h2>Not compared</h2><p>Every submission was read and compared.</p>"]
    return ["<h2>Not compared</h2><p>These submissions could not be compared (they are in no pair), or hold no "
            "code of their own (so they share none with anyone).</p>",
            "<table><thead><tr><th>student</th><th>status</th><th>reason</th></tr></thead><tbody>", *rows,
            "</tbody></table>"]
