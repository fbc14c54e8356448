"""`python -m autograder new` end to end, as a teaching assistant uses it, in a copy of the course: the scaffold,
a tiny function filled in (the solution, the reference, the misconceptions), `release` through nbgrader, and
`grade` of a correct and a wrong submission in the sandbox. The copy's own autograder package runs (python -m from
its root), so the new modules are found there by name, by the grader and inside the sandbox alike."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.grading_cli import read_rows

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ID = "ps_tiny"


def run(copy: Path, *args, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], cwd=copy, capture_output=True,
                          text=True, timeout=900)
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A copy of what `new` reads and writes: the autograder package, the book's pages, the configuration."""
    copy = tmp_path_factory.mktemp("scaffold") / "course"
    shutil.copytree(ROOT / "autograder", copy / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "book", copy / "book", ignore=shutil.ignore_patterns("*.ipynb", "_static", "__pycache__"))
    shutil.copy2(ROOT / "_config.yml", copy / "_config.yml")
    shutil.copy2(ROOT / "pyproject.toml", copy / "pyproject.toml")  # ruff's settings
    (copy / "solutions").mkdir()
    return copy


def test_new_writes_files_that_fit_together(course):
    done = run(course, "new", ID, "--function", "double(x)", "--title", "Tiny: twice the input",
               "--section", "ch1-log-likelihood-section", "--points", "3")
    for path in (f"solutions/{ID}/{ID}.ipynb", f"autograder/student/cases/{ID}.py", f"autograder/judging/{ID}.py"):
        assert str(course / path) in done.stdout
    notebook = nbformat.read(str(course / "solutions" / ID / f"{ID}.ipynb"), as_version=4)
    from nbgrader.nbgraderformat import MetadataValidator

    MetadataValidator().validate_nb(notebook)  # nbgrader's own checks of the metadata
    nbformat.validate(notebook)
    roles = [(c.metadata.nbgrader["grade_id"], c.metadata.nbgrader["solution"], c.metadata.nbgrader["grade"])
             for c in notebook.cells]
    assert ("double", True, False) in roles and ("test_double", False, True) in roles
    assert roles[-2:] == [("written_rubric", False, False), ("written_answer", True, True)]
    test_cell = next(c for c in notebook.cells if c.metadata.nbgrader["grade_id"] == "test_double")
    assert test_cell.metadata.nbgrader["points"] == 3 and "### BEGIN HIDDEN TESTS" in test_cell.source
    assert '"ps_tiny": AssignmentConfig(' in (course / "autograder" / "assignments.py").read_text()
    assert "ps_tiny" in (course / "_config.yml").read_text().split("book/ch1_maximum_likelihood:")[1].split("\n")[0]
    written = [f"autograder/judging/{ID}.py", f"autograder/student/cases/{ID}.py", "autograder/assignments.py",
               f"solutions/{ID}/{ID}.ipynb"]
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", *written], cwd=course, capture_output=True,
                          text=True)
    assert lint.returncode == 0, lint.stdout[-3000:]  # what it writes is ruff clean before anything is filled in
    again = run(course, "new", ID, "--function", "double(x)", check=False)
    assert again.returncode == 2 and "exists already" in again.stderr  # never overwrites



MISCONCEPTIONS = '''MISCONCEPTIONS: list[Misconception] = [
    Misconception("double_squares", A, "double", ("double",), "x squared",
                  "You squared x instead of doubling it: twice x is x + x, not x times x.", READ,
                  "def double(x):\\n    return x * x\\n"),
    Misconception("double_adds_two", A, "double", ("double",), "x + 2",
                  "You added 2 to x instead of multiplying it by 2: twice x is 2 * x.", READ,
                  "def double(x):\\n    return x + 2\\n"),
    Misconception("double_mean", A, "double", ("double",), "a mean, not a tensor",
                  "You returned twice the mean of x, one number, where one value per entry of x is asked.", READ,
                  "def double(x):\\n    return 2 * x.mean()\\n"),
]
'''


def fill_in(course: Path) -> None:
    """What the TA writes: the solution, the reference, three misconceptions (the other texts are left as the
    scaffold wrote them)."""
    path = course / "solutions" / ID / f"{ID}.ipynb"
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        cell["source"] = cell["source"].replace('raise NotImplementedError("TODO: the solution")', "return 2 * x")
    path.write_text(json.dumps(notebook, indent=1))
    judge = course / "autograder" / "judging" / f"{ID}.py"
    text = judge.read_text()
    text = text.replace('todo("the right answer for these inputs, in float64 (numpy)", x)', "2 * x")
    start, end = text.index("MISCONCEPTIONS: list[Misconception] = ["), text.index("register(A, HELPERS")
    judge.write_text(text[:start] + MISCONCEPTIONS + text[end:])


def test_a_filled_in_exercise_is_released_and_graded(course, tmp_path):
    if not (course / "solutions" / ID).is_dir():
        test_new_writes_files_that_fit_together(course)
    fill_in(course)
    run(course, "release", ID)
    released = (course / "exercises" / ID / f"{ID}.ipynb").read_text()
    assert "return 2 * x" not in released and "BEGIN HIDDEN" not in released
    solution = (course / "solutions" / ID / f"{ID}.ipynb").read_text()
    for student, text in (("right", solution), ("wrong", solution.replace("return 2 * x", "return x + 2"))):
        (tmp_path / "subs" / student).mkdir(parents=True)
        (tmp_path / "subs" / student / f"{ID}.ipynb").write_text(text)
    run(course, "grade", "--assignment", ID, tmp_path / "subs", "--output", tmp_path / "out", "--workers", "2",
        "--no-progress")
    rows = read_rows(tmp_path / "out" / "grades.csv")
    assert (rows["right"]["autograded"], rows["right"]["max_score"]) == ("3", "5")  # 3 autograded + 2 by hand
    assert rows["wrong"]["autograded"] == "0" and rows["wrong"]["status"] == "ok"
    feedback = (tmp_path / "out" / "feedback" / "wrong.html").read_text()
    assert "ch1_maximum_likelihood.html#ch1-log-likelihood-section" in feedback
    assert "Tiny: twice the input" in feedback
    assert "double_adds_two" in feedback and "multiplying it by 2" in feedback  # the TA's misconception, named


def test_the_misconceptions_fail_as_mutants_and_the_solution_passes(course):
    """What the grading-correctness tests do with the catalogue (each misconception is a mutant), in the copy."""
    if "2 * x" not in (course / "autograder" / "judging" / f"{ID}.py").read_text():
        pytest.skip("runs after the exercise is filled in")
    script = f"""
from autograder.judging import judge
from autograder.judging.misconceptions import CATALOGUE, HELPERS
from autograder.student.probes import probe
verdicts = []
for m in (m for m in CATALOGUE.values() if m.assignment == "{ID}"):
    scope = {{}}
    exec(HELPERS[m.assignment] + m.source, scope)
    verdicts.append(all(not judge(c, s, "hidden", probe(c, scope["double"], s, "hidden")).passed
                        for c in m.checks for s in range(101, 121)))
print(verdicts, judge("double", 7, "hidden", probe("double", lambda x: 2 * x, 7, "hidden")).passed)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=course, capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "[True, True, True] True", done.stdout + done.stderr[-3000:]
