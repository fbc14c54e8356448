"""The similarity report (autograder/similarity/): what it extracts, how it scores the committed cases, and what it
writes. The cases (tests/similarity/cases.py): independent correct students of ps3_elbo, a copy of each per
disguise, blank notebooks. One run of the whole pipeline on them is shared by the tests here (about 10 s)."""

from __future__ import annotations

import csv
import itertools
import json
import random
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from autograder.course import REPO_ROOT, find_assignment
from autograder.similarity import engine
from autograder.similarity.command import run_similarity
from autograder.similarity.extract import Line, StudentCode, Template, own_lines, student_code
from autograder.similarity.report import render_html

sys.path.insert(0, str(REPO_ROOT / "tests" / "similarity"))

from cases import BLANKS, families, write_cases  # noqa: E402
from disguises import DISGUISES  # noqa: E402

PS3 = find_assignment("ps3_elbo", REPO_ROOT)
RELEASE = REPO_ROOT / "exercises" / "ps3_elbo" / "ps3_elbo.ipynb"


def family(name: str) -> str:
    return name.split("__")[0]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.from_release(RELEASE, PS3.source_notebook)


@pytest.fixture(scope="module")
def cases_report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("similarity")
    write_cases(tmp / "cases")
    result = run_similarity(PS3, tmp / "cases", tmp / "out")
    return result, read_csv(tmp / "out" / "similarity.csv"), tmp


@pytest.mark.slow  # shares one run on the 48 committed cases (about 10 s)
def test_every_copy_pair_scores_above_every_independent_pair(cases_report):
    _, rows, _ = cases_report
    copies = [r for r in rows if family(r["student_a"]) == family(r["student_b"])
              and r["student_a"] not in BLANKS]
    independent = [r for r in rows if family(r["student_a"]) != family(r["student_b"])
                   and not {r["student_a"], r["student_b"]} & set(BLANKS)]
    expected_copies = sum(len(f) * (len(f) - 1) // 2 for f in families().values())
    assert len(copies) == expected_copies
    lowest = min(copies, key=lambda r: float(r["score"]))
    highest = max(independent, key=lambda r: float(r["score"]))
    print(f"lowest copy pair {lowest['score']} ({lowest['student_a']}, {lowest['student_b']}); highest independent "
          f"pair {highest['score']} ({highest['student_a']}, {highest['student_b']})")
    assert float(lowest["score"]) > float(highest["score"]) + 0.15
    assert rows == sorted(rows, key=lambda r: -float(r["score"]))  # highest first


@pytest.mark.slow  # shares one run on the 48 committed cases (about 10 s)
@pytest.mark.parametrize("disguise", sorted(DISGUISES))
def test_each_disguise_is_found(cases_report, disguise):
    _, rows, _ = cases_report
    for student in families():
        pair = next(r for r in rows if {r["student_a"], r["student_b"]} == {student, f"{student}__{disguise}"})
        assert float(pair["score"]) >= 0.5, pair
        assert pair["matched_lines_a"] and pair["matched_lines_b"]


@pytest.mark.slow  # shares one run on the 48 committed cases (about 10 s)
def test_blank_notebooks_score_near_zero(cases_report):
    _, rows, tmp = cases_report
    with_blank = [r for r in rows if {r["student_a"], r["student_b"]} & set(BLANKS)]
    assert with_blank
    assert max(float(r["score"]) for r in with_blank) <= 0.05
    students = {r["student"]: r for r in read_csv(tmp / "out" / "students.csv")}
    assert students["blank_1"]["status"] == students["blank_2"]["status"] == "no code of their own"
    # a blank notebook that lost its nbgrader metadata holds the whole release as "its own" cells: the template's
    # fingerprints are never a match
    assert students["blank_3"]["status"] == "compared" and int(students["blank_3"]["compared_lines"]) > 50


@pytest.mark.slow  # shares one run on the 48 committed cases (about 10 s)
def test_the_report_is_a_screening_aid_with_the_top_pairs_side_by_side(cases_report):
    result, rows, tmp = cases_report
    html = (tmp / "out" / "report.html").read_text(encoding="utf-8")
    assert "This report is a screening aid" in html and "Nothing in this report changes a grade" in html
    top = rows[0]
    assert 'id="pair-1"' in html and "<mark>" in html
    assert html.count('<section class="pair"') == min(40, sum(float(r["score"]) > 0 for r in rows))
    assert top["student_a"] in html and top["student_b"] in html


@pytest.mark.slow  # shares one run on the 48 committed cases (about 10 s)
def test_fast_comparison_equals_copydetects_compare_files(cases_report, template):
    """engine.compare_fast (sets and lists) gives exactly what copydetect's compare_files gives (engine.compare),
    on copydetect's own fingerprints of every case."""
    import io

    import numpy as np
    from copydetect import CodeFingerprint

    result, _, _ = cases_report
    texts = {s.key: s.text for s in result.students if isinstance(s, StudentCode) and s.text.strip()}
    boilerplate = np.unique(np.array(sorted(CodeFingerprint("t.py", engine.NOISE, 1, fp=io.StringIO(template.code),
                                                            language="python").hashes), dtype=np.int64))
    window = engine.GUARANTEE - engine.NOISE + 1
    fingerprints = {key: CodeFingerprint("s.py", engine.NOISE, window, boilerplate, language="python",
                                         fp=io.StringIO(text)) for key, text in texts.items()}
    prints = {key: engine.Prints.of(fingerprint) for key, fingerprint in fingerprints.items()}
    pairs = list(itertools.combinations(sorted(prints), 2))
    fast = engine.compare_all(pairs, prints)
    slow = [engine.compare(a, b, fingerprints) for a, b in pairs]
    assert [(r.score, r.share_a, r.share_b, r.spans_a, r.spans_b) for r in fast] == \
           [(r.score, r.share_a, r.share_b, r.spans_a, r.spans_b) for r in slow]


@pytest.mark.slow  # three fingerprinting processes
def test_fingerprints_are_the_same_on_every_run(template):
    """copydetect picks fingerprints by hash(), salted per process: the children's salt is fixed, so a class gets
    the same scores on every run."""
    texts = {"a": "def f(x):\n    return torch.linalg.solve(x.T @ x + torch.eye(3), x.T).sum(-1) * 0.5\n" * 3,
             "b": "y = [torch.exp(v) - 1 for v in range(10) if v % 3]\nprint(sum(y), len(y))\n" * 4}
    first, _ = engine.fingerprints(texts, template.code, workers=2)
    second, _ = engine.fingerprints(texts, template.code, workers=1)
    assert all(first[k].positions == second[k].positions and first[k].positions for k in texts)


def test_short_code_counts_as_min_code_long(template):
    """Two near-empty notebooks sharing one standard line do not score 1 (engine.MIN_CODE)."""
    line = "    return 0.5 * (mu**2 + log_var.exp() - 1.0 - log_var).sum(-1)\n"
    longer = line + "".join(f"    value_{i} = torch.linalg.solve(W.T @ W + {i} * torch.eye(k), W.T @ x)\n"
                            for i in range(12))
    prints, _ = engine.fingerprints({"a": line, "b": line, "c": longer, "d": longer}, template.code, workers=1)
    tiny = engine.compare_all([("a", "b"), ("c", "d")], prints)
    assert tiny[0].score < 0.3 and tiny[1].score == 1.0


# ----------------------------------------------------------------------------------------------- extraction


def test_stub_lines_are_not_the_students_even_respaced():
    stub = 'def f(x, y):\n    """Doc.\n\n    More."""\n    # YOUR CODE HERE\n    raise NotImplementedError()'
    answer = 'def f(x ,y):\n  """Doc.\n\n    More."""\n    z = x + y\n    return z'
    assert own_lines(answer, stub) == [(5, "    z = x + y"), (6, "    return z")]


def _cell(source, grade_id=None, cell_type="code"):
    metadata = {"nbgrader": {"grade_id": grade_id, "solution": True}} if grade_id else {}
    return {"cell_type": cell_type, "metadata": metadata, "source": source, "outputs": [], "execution_count": None}


def test_what_counts_as_the_students_code(template):
    release = json.loads(RELEASE.read_text())
    stub = next(c for c in release["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "elbo")
    test = next(c for c in release["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "test_elbo")
    mine = "".join(stub["source"]).replace("    # YOUR CODE HERE\n    raise NotImplementedError()", "    return 1")
    notebook = {"cells": [
        _cell("helper = 3", None),  # added by the student: theirs
        {**test, "source": "print('edited test cell')"},  # the instructor's cell: grading uses the instructor's
        _cell(mine, "elbo"),
        _cell("second = 'copy of an answer id'", "elbo"),  # grading runs a second copy as the student's own cell
        _cell("unknown = 1", "not_an_id"),
        _cell("A written answer", "written_answer", "markdown"),  # written answers are not compared
        _cell("bad\ud800 = 1\x07", None),  # a lone surrogate and a control character
        "not a cell",
    ]}
    code = student_code(notebook, template, "s", "s", "current")
    assert [(line.cell, line.number, line.text) for line in code.lines] == [
        ("your cell after the top", 1, "helper = 3"),
        ("elbo", mine.count("\n") + 1, "    return 1"),
        ("your cell after elbo", 1, "second = 'copy of an answer id'"),
        ("your cell after elbo", 1, "unknown = 1"),
        ("your cell after written_answer", 1, "bad\ufffd = 1"),
    ]


def test_matched_lines_are_the_lines_holding_matched_code():
    lines = [Line("c", i + 1, text) for i, text in enumerate(["a = 1", "    b = a + 2", "c", "  return b"])]
    code = StudentCode("k", "k", "current", lines)
    text = code.text
    rng = random.Random(5)
    for _ in range(300):
        start = rng.randrange(len(text))
        spans = [(start, rng.randrange(start, len(text) + 1))]
        expected = sorted({i for i, begin in enumerate(code.line_starts)
                           for offset in range(spans[0][0], spans[0][1])
                           if begin <= offset < begin + len(lines[i].text) and not text[offset].isspace()})
        assert code.matched_lines(spans) == expected


# ----------------------------------------------------------------------------------------------- hostile text


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)


def test_every_student_string_is_escaped_in_the_report():
    hostile = ['<script>alert("id")</script>', "x' onmouseover='alert(1)", "</pre><img src=x onerror=alert(2)>",
               "caf\ud800\udfff&amp;"]
    students = []
    for number, text in enumerate(hostile):
        lines = [Line(f"<b>{text}</b>", 1, f"s = '{text}'  # {text}"), Line("elbo", 2, f"return {text!r}")]
        code = StudentCode(text + str(number), text, "current" if number < 3 else "<i>term</i>", lines,
                           notes=[text], name=text)
        students.append(code)
    pairs = [engine.PairResult(a.key, b.key, 0.9, 0.9, 0.8, [(0, 12)], [(3, 30)])
             for a, b in itertools.combinations(students, 2)]

    class Result:
        pass

    result = Result()
    result.shown, result.students, result.seconds = pairs, students, 1.0
    result.pairs = [engine.PairRow(p.a, p.b, p.score, p.share_a, p.share_b, "", "", 1, 1) for p in pairs]
    result.failed = {students[0].key: hostile[1]}  # listed as not compared, with the reason
    html = render_html(result, '<script>alert("assignment")</script>', {s.key: s for s in students})
    parser = _Tags()
    parser.feed(html)
    assert parser.tags <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "h4", "p", "strong",
                           "b", "div", "table", "thead", "tbody", "tr", "th", "td", "a", "section", "pre", "span",
                           "mark"}
    assert "<script" not in html and "<img" not in html and "onmouseover='" not in html
    assert "&lt;script&gt;" in html and "\ud800" not in html
    html.encode("utf-8")  # no lone surrogate left
