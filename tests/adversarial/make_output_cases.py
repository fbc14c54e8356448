"""Writes the hostile submissions aimed at the grader's OUTPUTS (issue 7: outputs that cannot be turned against the
instructor; bad archives are one student's problem):

* ``tests/adversarial/outputs/<case>/<file>.ipynb``: submissions of the fixture assignment (folder layout), one per
  class of attack on what the grader writes (CSV, Markdown, HTML feedback, formgrader's pages, UTF-8 writers);
* ``tests/adversarial/archives/*.zip``: Canvas downloads with members that cannot be extracted, and one over the
  batch-wide size cap. Their headers are edited (declared sizes) so that the files stay a few kilobytes.

Run from the repository root: ``.venv/bin/python tests/adversarial/make_output_cases.py``, then commit the result.
tests/test_output_safety.py grades them through the real CLI. Names that only a file system can carry (bytes that
are not UTF-8) are made by the test itself, from these notebooks.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
COURSE = ROOT / "tests" / "fixtures" / "course"
SOLUTION = COURSE / "solutions/fx_kl/fx_kl.ipynb"
OUTPUTS = HERE / "outputs"
ARCHIVES = HERE / "archives"

MARKER = "HOSTILE-7c1e"  # every hostile string carries it, so the tests can find where it ended up
SCRIPT = f"<script>alert('{MARKER}')</script>"
IMG = f"<img src=x onerror=alert('{MARKER}')>"
JS_LINK = f"[click me](javascript:alert('{MARKER}'))"
HTML_LINK = f"<a href=\"javascript:alert('{MARKER}')\">{MARKER}-link</a>"
DECLARED_HUGE = 600 * 1024**2  # over the per-file limit (512 MB); the real data is a few bytes


def load() -> dict:
    return json.loads(SOLUTION.read_text())


def set_source(nb: dict, grade_id: str, source: str) -> dict:
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            cell["source"] = source
            return nb
    raise KeyError(grade_id)


def added(cell_type: str, source: str, metadata: dict | None = None) -> dict:
    cell = {"cell_type": cell_type, "metadata": metadata or {}, "source": source}
    if cell_type == "code":
        cell.update(outputs=[], execution_count=None)
    return cell


def surrogates() -> dict:
    """Lone surrogates (JSON "\\ud800" escapes) in a grade_id, a Markdown cell, code, an error message and the
    written answer: every writer must survive them (no UnicodeEncodeError, no lost batch)."""
    nb = load()
    nb["cells"].insert(2, added("markdown", "A note \ud800 with a lone surrogate",
                                {"nbgrader": {"grade_id": f"mine\udc80{MARKER}", "solution": False}}))
    nb["cells"].insert(3, added("code", "# comment \udfff\nx = '\ud800'"))
    set_source(nb, "derivation", "Jensen \ud83d (half an emoji) gives KL >= 0.")
    nb["cells"].append(added("code", f"raise RuntimeError('\\ud800 {MARKER}')"))
    return nb


def markdown_summary() -> dict:
    """Strings that would be markup in summary.md (raw HTML, a heading, links) reach its table through the notes of
    a row that needs a look (the notebook's process ends early: status error)."""
    nb = load()
    for grade_id in (SCRIPT, f"# Fake heading {MARKER}", f"[{MARKER}](http://evil.example)", f"www.{MARKER}.example",
                     f"| {MARKER} | forged | row |"):
        nb["cells"].insert(2, added("code", "pass", {"nbgrader": {"grade_id": grade_id, "solution": False}}))
    nb["cells"].append(added("code", "import os\nos._exit(3)"))
    return nb


def html_feedback() -> dict:
    """Markup in an error message and in grade_ids, which the HTML feedback shows."""
    nb = load()
    nb["cells"].insert(2, added("code", "pass", {"nbgrader": {"grade_id": IMG, "solution": False}}))
    set_source(nb, "kl_bonus_answer", f"raise ValueError(\"{SCRIPT}{IMG}\")")
    return nb


def formgrader_xss() -> dict:
    """Markup in what formgrader renders: the written answer (Markdown with raw HTML and a javascript: link), a raw
    cell (nbconvert copies raw cells into the page) and a Markdown cell of the student's own."""
    nb = load()
    set_source(nb, "derivation", f"My answer {MARKER}-answer: Jensen's inequality, $\\log E[w] \\ge E[\\log w]$ and "
                                 f"$a<b$.\n\n{SCRIPT}\n\n{IMG} {JS_LINK} {HTML_LINK}\n")
    nb["cells"].append(added("raw", f"<script>alert('{MARKER}-raw')</script>"))
    nb["cells"].append(added("markdown", f"<iframe src=\"javascript:alert('{MARKER}')\"></iframe> {MARKER}-own"))
    return nb


CASES = {"surrogates": surrogates, "markdown_summary": markdown_summary, "html_feedback": html_feedback,
         "formgrader_xss": formgrader_xss}
# CSV formula injection comes from names: student folders and a renamed notebook (made here as plain folders)
CSV_FOLDERS = {"-cmd": "fx_kl.ipynb", "+SUM(1+1)": "fx_kl.ipynb", "@SUM(1)": "fx_kl.ipynb",
               "eqname": "=HYPERLINK(1).ipynb"}


def _declare_size(data: bytes, member: str, size: int) -> bytes:
    """The zip with ``member``'s uncompressed size in its local and central headers replaced by ``size``."""
    raw = bytearray(data)
    name = member.encode()
    offset = 0
    while (offset := raw.find(b"PK\x01\x02", offset)) != -1:  # central directory entries
        name_length = struct.unpack_from("<H", raw, offset + 28)[0]
        if bytes(raw[offset + 46:offset + 46 + name_length]) == name:
            struct.pack_into("<I", raw, offset + 24, size)
            local = struct.unpack_from("<I", raw, offset + 42)[0]
            struct.pack_into("<I", raw, local + 22, size)
        offset += 4
    return bytes(raw)


def _corrupt(data: bytes, member: str) -> bytes:
    """The zip with ``member``'s compressed bytes flipped (its CRC or its deflate stream fails)."""
    raw = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(member)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for index in range(start, start + min(info.compress_size, 64)):
        raw[index] ^= 0x5A
    return bytes(raw)


def bad_members_zip() -> bytes:
    """Canvas download: 2001's notebook name is 300 bytes long, 2002 attached a 600 MB file (declared), 2003's
    notebook is damaged in the zip, 2004 is fine. Only 2001-2003 become invalid."""
    notebook = SOLUTION.read_text()
    long_name = "x" * 300 + ".ipynb"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"annlong_2001_901_{long_name}", notebook)
        zf.writestr("bobbig_2002_902_fx_kl.ipynb", notebook)
        zf.writestr("bobbig_2002_903_data.bin", b"\0" * 1024)
        zf.writestr("carlbroken_2003_904_fx_kl.ipynb", notebook)
        zf.writestr("dinafine_2004_905_fx_kl.ipynb", notebook)
    data = _declare_size(buffer.getvalue(), "bobbig_2002_903_data.bin", DECLARED_HUGE)
    return _corrupt(data, "carlbroken_2003_904_fx_kl.ipynb")


def over_total_zip() -> bytes:
    """Nine members of 500 MB each (declared): 4.5 GB in all, over the 4 GB an upload may hold."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for index in range(9):
            zf.writestr(f"student{index}_{3000 + index}_{900 + index}_fx_kl.ipynb", "{}")
    data = buffer.getvalue()
    for index in range(9):
        data = _declare_size(data, f"student{index}_{3000 + index}_{900 + index}_fx_kl.ipynb", 500 * 1024**2)
    return data


def main() -> None:
    shutil.rmtree(OUTPUTS, ignore_errors=True)
    for name, build in CASES.items():
        (OUTPUTS / name).mkdir(parents=True)
        (OUTPUTS / name / "fx_kl.ipynb").write_text(json.dumps(build(), indent=1) + "\n")
    for folder, filename in CSV_FOLDERS.items():
        (OUTPUTS / folder).mkdir(parents=True)
        (OUTPUTS / folder / filename).write_text(SOLUTION.read_text())
    ARCHIVES.mkdir(exist_ok=True)
    (ARCHIVES / "canvas_bad_members.zip").write_bytes(bad_members_zip())
    (ARCHIVES / "canvas_over_total.zip").write_bytes(over_total_zip())


if __name__ == "__main__":
    main()
