"""End to end: the real `python -m autograder similarity` and `grade --similarity` on the fixture assignment.

Submissions are read exactly as `grade` reads them (same ids, same refusals); a broken notebook is listed, never
skipped; `--archive` students are compared with this class only; student text is escaped in every output.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from autograder.submissions import folder_student_id
from tests.grading_cli import CORRECT, COURSE, EXERCISE, SOLUTION, autograder, grade, put, read_rows, with_answer

KL_LOOP = '''def gaussian_kl(mu, log_var):
    total = torch.zeros(mu.shape[0])
    for j in range(mu.shape[1]):
        # one latent dimension at a time
        variance = torch.exp(log_var[:, j])
        total = total + 0.5 * (mu[:, j] ** 2 + variance - 1.0 - log_var[:, j])
    return total
'''
KL_LOOP_COPY = '''def gaussian_kl(mu, log_var):
    acc = torch.zeros(mu.shape[0])
    for d in range(mu.shape[1]):
        v = torch.exp(log_var[:, d])
        unused = [1, 2, 3]
        acc = acc + 0.5*(mu[:, d]**2 + v - 1.0 - log_var[:, d])
    return acc
'''
KL_DISTRIBUTIONS = '''def gaussian_kl(mu, log_var):
    q = torch.distributions.Normal(mu, torch.exp(0.5 * log_var))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return torch.distributions.kl_divergence(q, p).sum(dim=-1)
'''
KL_EINSUM = '''def gaussian_kl(mu, log_var):
    ones = torch.ones(mu.shape[-1])
    terms = mu.pow(2) + log_var.exp() - log_var - 1
    return torch.einsum("bz,z->b", terms, ones) / 2
'''
HOSTILE_NAME = '"><img src=x onerror=alert(1)>'
HOSTILE_CODE = KL_DISTRIBUTIONS + '''
def helper():
    # </pre><script>alert("x")</script> & "quotes" 'too' \ud800
    return "</pre><script>alert('y')</script>"
'''


def similarity(*args, cwd=None) -> tuple:
    process = autograder("similarity", "--assignment", "fx_kl", "--course-root", COURSE, *args, cwd=cwd,
                         timeout=600)
    return process


def read_csv(path: Path) -> list[dict]:
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def make_class(folder: Path) -> None:
    put(folder, "alice", with_answer(KL_LOOP))
    put(folder, "bob", with_answer(KL_LOOP_COPY))
    put(folder, "carol", with_answer(KL_DISTRIBUTIONS))
    put(folder, "dave", EXERCISE.read_text())  # blank
    put(folder, "erin", with_answer(KL_EINSUM))
    put(folder, HOSTILE_NAME, with_answer(HOSTILE_CODE))  # JSON carries the lone surrogate as an escape
    put(folder, "badjson", '{"cells": [')
    put(folder, "empty", "")
    (folder / "nothing").mkdir()
    (folder / "nothing" / "notes.txt").write_text("forgot")
    (folder / "linked").mkdir()
    os.symlink(SOLUTION, folder / "linked" / "fx_kl.ipynb")


def make_archive(folder: Path) -> None:
    put(folder, "frank", with_answer(KL_DISTRIBUTIONS.replace("q = ", "qq = ").replace("(q,", "(qq,")))
    put(folder, "grace", with_answer(KL_DISTRIBUTIONS.replace("p = ", "pp = ").replace(" p)", " pp)")))


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("similarity-cli")
    make_class(tmp / "class")
    make_archive(tmp / "term2025")
    process = similarity(tmp / "class", "--output", tmp / "out", "--archive", tmp / "term2025")
    assert process.returncode == 0, process.stdout + process.stderr
    return tmp, process, read_csv(tmp / "out" / "similarity.csv"), read_csv(tmp / "out" / "students.csv")


@pytest.mark.slow
def test_every_student_is_listed_with_the_ids_grade_uses(ran):
    tmp, process, pairs, students = ran
    by_id = {row["student"]: row for row in students}
    hostile_id = folder_student_id(HOSTILE_NAME)
    current = {"alice", "bob", "carol", "dave", "erin", hostile_id, "badjson", "empty", "nothing", "linked"}
    assert {k for k, r in by_id.items() if r["source"] == "this class"} == current
    assert {k for k, r in by_id.items() if r["source"] != "this class"} == {"term2025/frank", "term2025/grace"}
    assert by_id["badjson"]["status"] == "invalid" and "not valid JSON" in by_id["badjson"]["reason"]
    assert by_id["empty"]["status"] == "invalid" and "empty" in by_id["empty"]["reason"]
    assert by_id["nothing"]["status"] == "missing"
    assert by_id["linked"]["status"] == "invalid" and "symbolic link" in by_id["linked"]["reason"]
    assert by_id["dave"]["status"] == "no code of their own"
    for name in ("badjson", "empty", "nothing", "linked"):
        assert f"not compared: {name}" in process.stderr


@pytest.mark.slow
def test_pairs_are_this_class_and_this_class_against_the_archive(ran):
    tmp, _, pairs, _ = ran
    compared = ["alice", "bob", "carol", "dave", "erin", folder_student_id(HOSTILE_NAME)]
    seen = {frozenset((r["student_a"], r["student_b"])) for r in pairs}
    expected = {frozenset(p) for p in __import__("itertools").combinations(compared, 2)}
    expected |= {frozenset((c, f"term2025/{a}")) for c in compared for a in ("frank", "grace")}
    assert seen == expected  # no archive-vs-archive pair, no pair with an unreadable notebook
    assert all(r["source_b"] in ("this class", "archive term2025") for r in pairs)
    top = {pairs[0]["student_a"], pairs[0]["student_b"]}
    copied = {frozenset(("alice", "bob"))} | {frozenset((s, f"term2025/{a}")) for s in ("carol",)
                                               for a in ("frank", "grace")}
    best_independent = max(float(r["score"]) for r in pairs
                           if frozenset((r["student_a"], r["student_b"])) not in copied
                           and folder_student_id(HOSTILE_NAME) not in (r["student_a"], r["student_b"])
                           and not ({r["student_a"], r["student_b"]} & {"carol"} and "term2025" in r["student_b"]))
    assert frozenset(top) in copied
    for pair in copied:
        row = next(r for r in pairs if frozenset((r["student_a"], r["student_b"])) == pair)
        assert float(row["score"]) > best_independent, (row, best_independent)
    assert all(float(r["score"]) == 0.0 for r in pairs if "dave" in (r["student_a"], r["student_b"]))


@pytest.mark.slow
def test_the_report_escapes_student_text(ran):
    tmp, _, _, _ = ran
    html = (tmp / "out" / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html and "<img" not in html
    assert "&lt;/pre&gt;&lt;script&gt;alert(" in html  # the hostile student's code is shown, as text
    assert "screening aid" in html
    html.encode("utf-8")


@pytest.mark.slow
def test_zip_and_canvas_zip_give_the_same_ids_as_grade(tmp_path):
    make_class(tmp_path / "class")
    (tmp_path / "class" / "linked" / "fx_kl.ipynb").unlink()
    (tmp_path / "class" / "linked").rmdir()
    shutil.make_archive(str(tmp_path / "class"), "zip", tmp_path, "class")
    process = similarity(tmp_path / "class.zip", "--output", tmp_path / "out-zip")
    assert process.returncode == 0, process.stderr
    students = {r["student"] for r in read_csv(tmp_path / "out-zip" / "students.csv")}
    assert students == {"alice", "bob", "carol", "dave", "erin", folder_student_id(HOSTILE_NAME), "badjson",
                        "empty", "nothing"}
    canvas = tmp_path / "canvas.zip"
    with zipfile.ZipFile(canvas, "w") as zf:
        zf.writestr("alice_1001_5001_fx_kl.ipynb", with_answer(KL_LOOP))
        zf.writestr("bob_LATE_1002_5002_fx_kl.ipynb", with_answer(KL_LOOP_COPY))
        zf.writestr("carol_1003_5003_fx_kl.ipynb", with_answer(KL_DISTRIBUTIONS))
        zf.writestr("dan_1004_5004_fx_kl.ipynb", "{broken")
    process = similarity(canvas, "--output", tmp_path / "out-canvas")
    assert process.returncode == 0, process.stderr
    rows = read_csv(tmp_path / "out-canvas" / "similarity.csv")
    assert {rows[0]["student_a"], rows[0]["student_b"]} == {"1001", "1002"}
    students = {r["student"]: r for r in read_csv(tmp_path / "out-canvas" / "students.csv")}
    assert students["1004"]["status"] == "invalid" and students["1001"]["name"] == "alice"


def test_an_output_folder_with_other_files_is_refused(tmp_path):
    put(tmp_path / "class", "alice", with_answer(CORRECT))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "grades.csv").write_text("precious")
    process = similarity(tmp_path / "class", "--output", tmp_path / "out")
    assert process.returncode == 2 and "holds other files" in process.stderr
    assert (tmp_path / "out" / "grades.csv").read_text() == "precious"
    process = similarity(tmp_path / "missing", "--output", tmp_path / "out2")
    assert process.returncode == 2 and "does not exist" in process.stderr


@pytest.mark.slow
def test_grade_with_similarity_writes_the_report_beside_the_grades(tmp_path):
    put(tmp_path / "subs", "alice", with_answer(KL_LOOP))
    put(tmp_path / "subs", "bob", with_answer(KL_LOOP_COPY))
    put(tmp_path / "subs", "carol", with_answer(KL_DISTRIBUTIONS))
    put(tmp_path / "subs", "broken", "{")
    process, rows = grade(tmp_path / "subs", tmp_path / "out", "--workers", 2, "--similarity")
    assert set(rows) == {"alice", "bob", "carol", "broken"}
    assert rows["alice"]["status"] == rows["bob"]["status"] == "ok"
    pairs = read_csv(tmp_path / "out" / "similarity" / "similarity.csv")
    assert {pairs[0]["student_a"], pairs[0]["student_b"]} == {"alice", "bob"}
    assert (tmp_path / "out" / "similarity" / "report.html").is_file()
    before = (tmp_path / "out" / "grades.csv").read_text()
    # run again: the grades are resumed (nothing to grade), the report made again in its own folder
    process, rows_again = grade(tmp_path / "subs", tmp_path / "out", "--workers", 2, "--similarity")
    assert rows_again.keys() == rows.keys() and "similarity" in process.stderr
    assert [r["score"] for r in read_rows(tmp_path / "out" / "grades.csv").values()] == \
           [r["score"] for r in rows.values()]
    assert len(before) > 0
    assert json.loads((tmp_path / "subs" / "alice" / "fx_kl.ipynb").read_text())  # inputs untouched
