"""Assembly of a submission from the instructor's source, and reading broken files (no subprocesses)."""

import copy
import json
import zipfile
from pathlib import Path

import pytest

from autograder.assemble import InvalidNotebook, assemble, read_notebook
from autograder.course import UsageError
from autograder.source import TEST, load_source, notebook_imports, parse_expected_checks
from autograder.submissions import CANVAS, discover, safe_extract

COURSE = Path(__file__).resolve().parent / "fixtures" / "course"
SOURCE_NB = COURSE / "solutions/fx_kl/fx_kl.ipynb"
RELEASE_NB = COURSE / "exercises/fx_kl/fx_kl.ipynb"


@pytest.fixture(scope="module")
def source():
    return load_source("fx_kl", SOURCE_NB, RELEASE_NB)


def student(path=SOURCE_NB) -> dict:
    return json.loads(Path(path).read_text())


def by_id(assembled):
    return {c.grade_id: c for c in assembled.cells if c.grade_id}


def test_source_roles_points_and_expected_checks(source):
    roles = {c.grade_id: c.role for c in source.cells}
    assert roles["gaussian_kl_answer"] == "solution" and roles["derivation"] == "manual"
    assert roles["test_gaussian_kl"] == TEST and roles["imports"] == "locked"
    assert source.max_score == 4 and source.bonus_max == 1 and source.manual_max == 3  # derivation 2 + task 1
    test = source.by_id()["test_gaussian_kl"]
    assert [(e.name, e.kind) for e in test.expected] == [("gaussian_kl", "visible"), ("gaussian_kl", "hidden")]


def test_parse_expected_checks_forms():
    code = 'from autograder import checks\nchecks.check("a", f)\ncheck("b", g, "hidden")\ncheck("c", h, kind="hidden")'
    assert [(e.name, e.kind) for e in parse_expected_checks(code)] == [
        ("a", "visible"), ("b", "hidden"), ("c", "hidden")]
    assert parse_expected_checks("%matplotlib agg\ncheck('a', f)") == parse_expected_checks("check('a', f)")


def test_notebook_imports_are_what_the_zygotes_preload(tmp_path):
    cells = ["import torch, numpy as np\nfrom vaelib.data import digits", "from autograder.checks import check",
             "%matplotlib inline\nimport matplotlib.pyplot as plt",  # a magic: the cell is skipped, not an error
             "def f():\n    import math\n    from . import sibling", "import torch"]
    notebook = {"cells": [{"cell_type": "code", "source": c, "metadata": {}} for c in cells]
                + [{"cell_type": "markdown", "source": "import os", "metadata": {}}]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))
    assert notebook_imports(path) == ["torch", "numpy", "vaelib.data", "math"]
    assert notebook_imports(Path(__file__).resolve().parents[1] / "solutions/ps4_gradients/ps4_gradients.ipynb") == [
        "math", "time", "torch", "vaelib.data", "vaelib.models"]


def test_tests_and_points_come_from_the_source(source):
    nb = student()
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade_id") == "test_gaussian_kl":
            cell["source"] = "pass  # tests removed"
            meta["points"] = 100
    assembled = assemble(nb, source)
    test = by_id(assembled)["test_gaussian_kl"]
    assert "kind=\"hidden\"" in test.source and test.origin == "source"


def test_missing_and_duplicated_and_stripped_cells(source):
    nb = student()
    answer = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "gaussian_kl_answer")
    duplicate = copy.deepcopy(answer)
    duplicate["source"] = "def gaussian_kl(mu, log_var):\n    return mu.sum(-1) * 0"
    nb["cells"] = [c for c in nb["cells"]
                   if c["metadata"].get("nbgrader", {}).get("grade_id") not in ("test_gaussian_kl", "imports")]
    nb["cells"].insert(nb["cells"].index(answer) + 1, duplicate)
    stripped = copy.deepcopy(nb["cells"][-1])
    stripped["metadata"] = {}
    nb["cells"].append(stripped)
    nb["cells"].append({"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "mystery"}}, "source": "x = 1",
                        "outputs": [], "execution_count": None})
    nb["cells"].append("not a cell")
    assembled = assemble(nb, source)
    cells = by_id(assembled)
    assert cells["gaussian_kl_answer"].source == "".join(answer["source"])  # first match wins
    assert "imports" in cells and "test_gaussian_kl" in cells  # restored from the source
    notes = " ".join(assembled.notes)
    assert "more than once" in notes and "mystery" in notes and "restored" in notes and "malformed" in notes
    order = [c.grade_id for c in assembled.cells if c.grade_id]
    assert order == [c.grade_id for c in source.cells]  # the instructor's order
    # the duplicate runs as the student's own cell right after the answer it followed
    position = cells["gaussian_kl_answer"].position
    assert assembled.cells[position + 1].role == "student"


def test_student_helper_cells_are_kept_before_the_tests(source):
    nb = student(RELEASE_NB)
    index = next(i for i, c in enumerate(nb["cells"])
                 if c["metadata"].get("nbgrader", {}).get("grade_id") == "gaussian_kl_answer")
    nb["cells"].insert(index + 1, {"cell_type": "code", "metadata": {}, "source": "def helper():\n    return 1",
                                   "outputs": [], "execution_count": None})
    assembled = assemble(nb, source)
    helper = next(c for c in assembled.cells if c.role == "student")
    test = by_id(assembled)["test_gaussian_kl"]
    assert helper.position < test.position
    assert "gaussian_kl_answer" in assembled.unanswered and "derivation" in assembled.unanswered


@pytest.mark.parametrize("content, reason", [
    (b"", "empty"), (b'{"cells": [', "not valid JSON"), (b"[1, 2]", "not a Jupyter notebook"),
    (b'{"a": 1}', "not a Jupyter notebook"), (b"\xff\xfe\x00", "UTF-8")])
def test_unreadable_notebooks(tmp_path, content, reason):
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    with pytest.raises(InvalidNotebook, match=reason):
        read_notebook(path)


def test_safe_extract_skips_traversal_and_links(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../escape.txt", "x")
        zf.writestr("/abs.txt", "x")
        zf.writestr("alice/fx_kl.ipynb", "{}")
        link = zipfile.ZipInfo("alice/link")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/passwd")
    target = tmp_path / "out"
    target.mkdir()
    warnings = safe_extract(archive, target)
    assert len(warnings) == 3
    assert (target / "alice/fx_kl.ipynb").is_file() and not (target / "alice/link").exists()
    assert not (tmp_path / "escape.txt").exists()


def test_not_a_zip(tmp_path):
    path = tmp_path / "x.zip"
    path.write_text("hello")
    with pytest.raises(UsageError):
        discover(path, "fx_kl.ipynb", tmp_path / "work")


def test_canvas_names_and_newest_resubmission_wins(tmp_path):
    assert CANVAS.match("doejane_LATE_1234_98765_fx_kl.ipynb")["late"]
    assert CANVAS.match("doejane_1234_98765_fx_kl-1.ipynb")["sid"] == "1234"
    folder = tmp_path / "canvas"
    folder.mkdir()
    (folder / "doejane_1234_100_fx_kl.ipynb").write_text("old")
    (folder / "doejane_LATE_1234_200_fx_kl-1.ipynb").write_text("new")
    (folder / "roejohn_5678_150_fx_kl.ipynb").write_text("other")
    subs = {s.student_id: s for s in discover(folder, "fx_kl.ipynb", tmp_path / "work")}
    assert set(subs) == {"1234", "5678"}
    assert subs["1234"].notebook.read_text() == "new" and subs["1234"].late
    assert not subs["5678"].late


def test_thousands_of_long_unknown_ids_make_a_short_note(source):
    """Red team: 3,000 unknown grade ids of 1,000 characters once made a 3 MB message in grades.csv, which
    `grade --seeds-from` could not read back (csv: field larger than field limit)."""
    notebook = student()
    for index in range(3000):
        notebook["cells"].append({"cell_type": "markdown", "source": "", "metadata": {
            "nbgrader": {"grade_id": f"{index:06d}" + "x" * 994}}})
    note = next(n for n in assemble(notebook, source).notes if "does not know" in n)
    assert len(note) < 1000 and "000000x" in note and "and 2990 more" in note


def test_read_seeds_reads_a_grades_csv_with_a_huge_message(tmp_path):
    import csv

    from autograder.__main__ import read_seeds

    path = tmp_path / "grades.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["student_id", "message", "seed"])
        writer.writeheader()
        writer.writerow({"student_id": "a", "message": "x" * 3_000_000, "seed": "7"})
    assert read_seeds(path) == {"a": 7}


def test_symbolic_links_are_never_followed(tmp_path):
    """Red team, 2026-12-05: a notebook (or a whole student folder) that is a symbolic link to the solutions, to a
    classmate's work or to any file the grader can read was graded (full marks) and copied into the output. Now
    every such submission is invalid with the reason, and its target is never opened."""
    secret = tmp_path / "secret.ipynb"
    secret.write_text(SOURCE_NB.read_text())
    folder = tmp_path / "subs"
    for name in ("honest", "link_file", "link_in_subfolder", "peer"):
        (folder / name).mkdir(parents=True)
    (folder / "honest" / "fx_kl.ipynb").write_text(SOURCE_NB.read_text())
    (folder / "link_file" / "fx_kl.ipynb").symlink_to(secret)
    (folder / "link_in_subfolder" / "work").symlink_to(tmp_path, target_is_directory=True)
    (folder / "peer" / "fx_kl.ipynb").symlink_to("../honest/fx_kl.ipynb")
    (folder / "link_folder").symlink_to(COURSE / "solutions" / "fx_kl", target_is_directory=True)
    canvas = tmp_path / "canvas"
    canvas.mkdir()
    (canvas / "doejane_1234_100_fx_kl.ipynb").write_text("{}")
    (canvas / "roejohn_5678_150_fx_kl.ipynb").symlink_to(secret)
    subs = {s.student_id: s for s in discover(folder, "fx_kl.ipynb", tmp_path / "work")}
    assert subs["honest"].notebook is not None and subs["honest"].problem is None
    for name in ("link_file", "link_in_subfolder", "peer", "link_folder"):
        assert subs[name].notebook is None and subs[name].problem_status == "invalid", subs[name]
        assert "symbolic link" in subs[name].problem
    subs = {s.student_id: s for s in discover(canvas, "fx_kl.ipynb", tmp_path / "work2")}
    assert subs["1234"].problem is None
    assert subs["5678"].notebook is None and "symbolic link" in subs["5678"].problem


def test_a_students_id_depends_on_their_folder_name_only(tmp_path):
    """Red team, 2026-12-05: "zoë" was "zo" alone and became "zo_" once "zoé" was added, so the hand marks given to
    one student moved to the other. Ids now come from the folder's own name (a digest where it had to be cleaned)."""
    folder = tmp_path / "subs"
    (folder / "zoë").mkdir(parents=True)
    (folder / "zoë" / "fx_kl.ipynb").write_text("{}")
    alone = {s.student_id for s in discover(folder, "fx_kl.ipynb", tmp_path / "w1")}
    for name in ("zoé", "zo", "plain_id"):
        (folder / name).mkdir()
        (folder / name / "fx_kl.ipynb").write_text("{}")
    together = {s.student_id for s in discover(folder, "fx_kl.ipynb", tmp_path / "w2")}
    assert len(alone) == 1 and alone < together and len(together) == 4
    assert {"zo", "plain_id"} < together
    # red team, round 2: a folder literally named like another's cleaned id cannot take that id (and its marks)
    (victim,) = alone
    (folder / victim).mkdir()
    (folder / victim / "fx_kl.ipynb").write_text("{}")
    both = {s.student_id for s in discover(folder, "fx_kl.ipynb", tmp_path / "w3")}
    assert alone < both and len(both) == 5


def test_hidden_or_cache_named_folders_with_a_notebook_are_students(tmp_path, capsys):
    """Red team, 2026-12-05: ".eve" and "__pycache__" with a notebook in them got no row at all. A folder is left out
    only when it holds no notebook (or is a Mac archive's __MACOSX), and the grader says so."""
    folder = tmp_path / "subs"
    for name, content in ((".eve", "fx_kl.ipynb"), ("__pycache__", "fx_kl.ipynb"), (".git", "config"),
                          ("__MACOSX", "._fx_kl.ipynb"), ("ann", "fx_kl.ipynb")):
        (folder / name).mkdir(parents=True)
        (folder / name / content).write_text("{}")
    ids = {s.student_id for s in discover(folder, "fx_kl.ipynb", tmp_path / "work")}
    assert "ann" in ids and len(ids) == 3
    assert any(i.startswith("eve-") for i in ids) and any(i.startswith("pycache-") for i in ids)
    printed = capsys.readouterr().err
    assert "'.git'" in printed and "'__MACOSX'" in printed


@pytest.mark.filterwarnings("ignore:Duplicate name")  # zipfile's own, for the member written twice on purpose
def test_deep_folders_and_clashing_zip_names_are_one_students_problem(tmp_path):
    """Red team, round 2: a notebook 1,500 folders deep stopped the whole batch (RecursionError), and zip members
    whose names clash once cleaned ("carol\\x01/" and "carol/", "dave\\\\x" and "dave/x", a name twice) were merged
    without a word. Now each is its own student's `invalid` row (or left out, with the reason)."""
    import os

    deep = tmp_path / "subs" / "deep"
    deep.mkdir(parents=True)
    (tmp_path / "subs" / "ann").mkdir()
    (tmp_path / "subs" / "ann" / "fx_kl.ipynb").write_text("{}")
    try:
        fd = os.open(deep, os.O_RDONLY)
        for _ in range(1500):  # deeper than Python's recursion limit; made relative to each folder (short paths)
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.close(os.open("fx_kl.ipynb", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
        os.close(fd)
        subs = {s.student_id: s for s in discover(tmp_path / "subs", "fx_kl.ipynb", tmp_path / "w1")}
    finally:  # pytest's clean-up (shutil.rmtree) recurses too: take the tree down from the bottom, by descriptors
        chain = [os.open(deep, os.O_RDONLY)]
        while True:
            try:
                chain.append(os.open("d", os.O_RDONLY, dir_fd=chain[-1]))
            except FileNotFoundError:
                break
        try:
            os.unlink("fx_kl.ipynb", dir_fd=chain[-1])
        except FileNotFoundError:
            pass
        for parent, child in zip(reversed(chain[:-1]), reversed(chain[1:]), strict=True):
            os.close(child)
            os.rmdir("d", dir_fd=parent)
        os.close(chain[0])
    assert subs["ann"].notebook is not None and subs["deep"].notebook is None
    archive = tmp_path / "up.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("/".join(["x"] * 40) + "/fx_kl.ipynb", "{}")
        zf.writestr("carol\x01/fx_kl.ipynb", "{}")
        zf.writestr("carol/fx_kl.ipynb", "{}")
        zf.writestr("dave\\fx_kl.ipynb", "{}")
        zf.writestr("dave/fx_kl.ipynb", "{}")
        zf.writestr("erin/fx_kl.ipynb", "{}")
        zf.writestr("erin/fx_kl.ipynb", "[]")
        zf.writestr("fay/fx_kl.ipynb", "{}")
    subs = {s.student_id: s for s in discover(archive, "fx_kl.ipynb", tmp_path / "w2")}
    assert subs["fay"].problem is None
    for student in ("carol", "dave", "erin"):
        assert subs[student].problem_status == "invalid" and "cannot be told" in subs[student].problem, student
    assert "folders deep" in subs["x"].problem


def test_a_lone_student_folder_is_not_taken_for_a_wrapper(tmp_path):
    """Red team, round 2: a folder given by hand with one student whose notebook sits in a sub-folder was
    "unwrapped" into that student's sub-folders (ids "my_work-...", "data"). Only a zip is unwrapped."""
    (tmp_path / "late" / "alice" / "my work").mkdir(parents=True)
    (tmp_path / "late" / "alice" / "data").mkdir()
    (tmp_path / "late" / "alice" / "my work" / "fx_kl.ipynb").write_text("{}")
    subs = discover(tmp_path / "late", "fx_kl.ipynb", tmp_path / "work")
    assert [s.student_id for s in subs] == ["alice"] and subs[0].notebook is not None


def test_values_no_notebook_has_make_the_file_invalid(tmp_path):
    """Red team, round 2: an integer of 5,000 digits was an internal grading error, and 100,001 cells before the
    answers scored 0 with status error; both are now invalid notebooks, with the reason."""
    path = tmp_path / "a.ipynb"
    path.write_text('{"cells": [], "metadata": {"x": ' + "9" * 5000 + "}}")
    with pytest.raises(InvalidNotebook, match="a value no notebook has"):
        read_notebook(path)
    path.write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": ""}] * 10_001, "metadata": {}}))
    with pytest.raises(InvalidNotebook, match="10,001 cells"):
        read_notebook(path)
