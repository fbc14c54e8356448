"""Per-student HTML feedback: the score (autograded, by hand, bonus), for each test cell its name, points,
pass/fail and the verdict (what was checked, what came back, and a link to the book section to read), first the
misconceptions the grader named (each with its text and section), the
hand-marked cells with their marks and the grader's comments. Never any test code, hidden or visible.
Everything is escaped; links go only to the book (autograder.judging.sections.book_url)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from .gradebook import Mark
from .judging.misconceptions import CATALOGUE
from .judging.sections import guide_url
from .misconception_report import misconceptions_of
from .report import Row, points
from .source import MANUAL, TASK

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; width: 100%; }
td, th { border: 1px solid #ccc; padding: .4rem; vertical-align: top; }
.pass { color: #116611; font-weight: bold; } .fail { color: #aa1111; font-weight: bold; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: .5rem; margin: .2rem 0; }
"""


def _message(text: str, readings, book_url: str) -> str:
    """A verdict as preformatted text; its "Read: ..." line links each section it names to the book."""
    links = {str(r): r.url(book_url) for r in readings}
    lines = []
    for line in text.split("\n"):
        if line.startswith("Read: ") and links:
            parts = []
            for part in line.removeprefix("Read: ").split("; "):
                url = links.get(part)
                parts.append(f"<a href='{escape(url, quote=True)}'>{escape(part)}</a>" if url else escape(part))
            lines.append("Read: " + "; ".join(parts))
        else:
            lines.append(escape(line))
    return "<pre>" + "\n".join(lines) + "</pre>"


def _misconceptions(result, book_url: str) -> list[str]:
    """What the grader found you probably misunderstood, first: each named misconception with its text and the
    section to read (autograder/judging/misconceptions)."""
    found = misconceptions_of(result)
    if not found:
        return []
    out = ["<h2>What probably went wrong</h2>",
           "<p>Your outputs matched, on every test case, a wrong idea that students of this course often have:</p>"
           "<ul>"]
    for misconception in found:
        entry = CATALOGUE.get(misconception)
        if entry is None:
            out.append(f"<li><b>{escape(misconception)}</b></li>")
            continue
        link = f"<a href='{escape(entry.reading.url(book_url), quote=True)}'>{escape(str(entry.reading))}</a>"
        out.append(f"<li><b>{escape(misconception)}</b> (in <code>{escape(entry.function)}</code>): "
                   f"{escape(entry.text)} Read: {link}</li>")
    out.append("</ul>")
    return out


def _score_line(row: Row) -> str:
    source = row.source
    parts = [f"autograded {points(row.autograded)} of {points(source.max_score)}"]
    if source.manual_max:
        marked = f"graded by hand {points(row.manual)} of {points(source.manual_max)}"
        if row.pending:
            marked += f" ({points(row.pending)} points not graded yet)"
        parts.append(marked)
    if source.bonus_max:
        parts.append(f"bonus {points(row.bonus)} of {points(source.bonus_max)}")
    if row.penalty:
        parts.append(f"late penalty {points(row.penalty)}")
    above = " Bonus points are extra credit: they count in the score, not in the maximum." \
        if row.score > row.max_score else ""
    return (f"Score: <b>{points(row.score)} / {points(row.max_score)}</b> (" + escape("; ".join(parts)) + ")"
            + above)


def render(row: Row, title: str, book_url: str) -> str:
    result = row.result
    heading = escape(title or result.assignment)
    out = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Feedback: {heading}</title>",
           f"<style>{STYLE}</style></head><body>",
           f"<h1>Feedback: {heading}</h1>",
           f"<p>Student: <b>{escape(result.student_id)}</b>"
           + (f" ({escape(row.name or result.name)})" if row.name or result.name else "") + "<br>",
           _score_line(row) + "<br>",
           f"Status: <b>{escape(result.status)}</b>" + (" (submitted late)" if result.late else "") + "</p>",
           f"<p>{escape(row.message)}</p>"]
    if result.notes:
        out.append("<h2>Notes about your submission</h2><ul>")
        out.extend(f"<li>{escape(note)}</li>" for note in result.notes)
        out.append("</ul>")
    out.extend(_misconceptions(result, book_url))
    ran = result.status not in ("invalid", "missing")
    if result.cells:
        out.append("<h2>Autograded tests</h2>")
        if not ran:
            out.append("<p>Not graded: your notebook could not be run (the reason is above).</p>")
        out.append("<table><tr><th>Test</th><th>Points</th><th>Result</th><th>Details</th></tr>")
        for cell in result.cells:
            label = escape(cell.grade_id) + (" (bonus)" if cell.bonus else "")
            verdict = ("<span class='pass'>passed</span>" if cell.passed else
                       "<span class='fail'>failed</span>" if ran else "not graded")
            details = "".join(_message(m, cell.readings, book_url) for m in cell.messages)
            out.append(f"<tr><td>{label}</td><td>{points(cell.points)} / {points(cell.max_points)}</td>"
                       f"<td>{verdict}</td><td>{details}</td></tr>")
        out.append("</table>")
    manual_cells = [c for c in row.source.cells if c.role in (MANUAL, TASK)]
    if manual_cells:
        answered = {m.grade_id: m.answered for m in result.manual}
        out.append("<h2>Graded by hand</h2><table><tr><th>Answer</th><th>Points</th><th>Comment</th></tr>")
        for cell in manual_cells:
            mark = row.marks.get(cell.grade_id, Mark())
            if mark.manual is not None and not mark.needs_manual:
                state = f"{points(mark.score)} / {points(cell.points)}"
            elif mark.manual is not None:
                state = f"{points(mark.score)} / {points(cell.points)} (under review)"
            elif cell.role == MANUAL and not answered.get(cell.grade_id, False):
                state = f"0 / {points(cell.points)}: no answer given"
            else:
                state = f"not graded yet (out of {points(cell.points)})"
            comment = escape(mark.comment or "")
            kind = " (task)" if cell.role == TASK else ""
            out.append(f"<tr><td>{escape(cell.grade_id)}{kind}</td><td>{escape(state)}</td>"
                       f"<td>{comment}</td></tr>")
        out.append("</table>")
    if result.student_errors:
        out.append("<h2>Errors in your cells</h2>")
        out.extend(f"<pre>{escape(error)}</pre>" for error in result.student_errors)
    guide = guide_url(book_url, "guide_students", "guide-reading-feedback")
    out.append(f"<p>How to read this page: <a href='{escape(guide, quote=True)}'>Reading your feedback</a>, in the "
               f"book's guide for students.</p>")
    out.append("</body></html>\n")
    return "\n".join(out)


def write_feedback(folder: Path, row: Row, title: str, book_url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{row.result.student_id}.html"
    path.write_text(render(row, title, book_url), encoding="utf-8", errors="replace")
    return path
