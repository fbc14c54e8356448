"""Per-student HTML feedback: for each test cell its name, points, pass/fail and the verdict (what was checked,
what came back, where in the book to read). Never any test code, hidden or visible. Everything is escaped."""

from __future__ import annotations

from html import escape
from pathlib import Path

from .grading import GradeResult

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; width: 100%; }
td, th { border: 1px solid #ccc; padding: .4rem; vertical-align: top; }
.pass { color: #116611; font-weight: bold; } .fail { color: #aa1111; font-weight: bold; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: .5rem; margin: .2rem 0; }
"""


def _points(value: float) -> str:
    return f"{value:g}"


def render(result: GradeResult, title: str = "") -> str:
    heading = escape(title or result.assignment)
    out = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Feedback: {heading}</title>",
           f"<style>{STYLE}</style></head><body>",
           f"<h1>Feedback: {heading}</h1>",
           f"<p>Student: <b>{escape(result.student_id)}</b><br>",
           f"Autograded score: <b>{_points(result.score)} / {_points(result.max_score)}</b>"
           + (f" (including {_points(result.bonus)} bonus points)" if result.bonus else "") + "<br>",
           f"Status: <b>{escape(result.status)}</b>" + (" (submitted late)" if result.late else "") + "</p>",
           f"<p>{escape(result.message)}</p>"]
    if result.notes:
        out.append("<h2>Notes about your submission</h2><ul>")
        out.extend(f"<li>{escape(note)}</li>" for note in result.notes)
        out.append("</ul>")
    if result.cells:
        out.append("<h2>Autograded tests</h2><table><tr><th>Test</th><th>Points</th><th>Result</th>"
                   "<th>Details</th></tr>")
        for cell in result.cells:
            label = escape(cell.grade_id) + (" (bonus)" if cell.bonus else "")
            verdict = "<span class='pass'>passed</span>" if cell.passed else "<span class='fail'>failed</span>"
            details = "".join(f"<pre>{escape(m)}</pre>" for m in cell.messages)
            out.append(f"<tr><td>{label}</td><td>{_points(cell.points)} / {_points(cell.max_points)}</td>"
                       f"<td>{verdict}</td><td>{details}</td></tr>")
        out.append("</table>")
    if result.manual:
        out.append("<h2>Graded by hand</h2><ul>")
        for manual in result.manual:
            state = "awaiting grading" if manual.answered else "no answer given (0 points)"
            out.append(f"<li>{escape(manual.grade_id)} ({_points(manual.max_points)} points): {state}</li>")
        out.append("</ul>")
    if result.student_errors:
        out.append("<h2>Errors in your cells</h2>")
        out.extend(f"<pre>{escape(error)}</pre>" for error in result.student_errors)
    out.append("</body></html>\n")
    return "\n".join(out)


def write_feedback(folder: Path, result: GradeResult, title: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result.student_id}.html"
    path.write_text(render(result, title), encoding="utf-8")
    return path
