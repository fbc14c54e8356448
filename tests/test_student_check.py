"""The student's `python -m autograder check NOTEBOOK`, through the real CLI: what a failed visible case shows, how
cells are named, what is listed as not checked, and what it says outside the course environment."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.grading_cli import COURSE, EXERCISE, ROOT, SOLUTION, WRONG_SIGN, autograder, with_answer

REAL_IDS = sorted(p.name for p in (ROOT / "solutions").glob("*") if (p / f"{p.name}.ipynb").is_file())
HEADING = '"Fixture assignment: the Gaussian KL"'


def check(tmp_path: Path, text: str, *extra) -> subprocess.CompletedProcess:
    (tmp_path / "fx_kl.ipynb").write_text(text)
    return autograder("check", "fx_kl.ipynb", "--course-root", COURSE, *extra, cwd=tmp_path, timeout=600)


def test_a_failed_visible_case_shows_its_inputs_and_a_line_that_reproduces_it(tmp_path):
    result = check(tmp_path, with_answer(WRONG_SIGN), "--book-url", "https://book.example/vae")
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert f"FAIL  test_gaussian_kl in {HEADING} (3 points)" in out
    assert "case 2 of 2" in out and "expected 2.7583, got -2.7583" in out
    # only the function's own arguments, named as in the student's def (issue 19: not every key of the case)
    assert "Your gaussian_kl was called with (case 2 of 2):" in out
    assert "mu = [[ 1. -2.]]  (tensor shape (1, 2))" in out and "log_var = [[ 0.5 -1. ]]  (tensor shape (1, 2))" in out
    assert "case 1 of 2" not in out  # case 1 (mu = 0, log_var = 0) passes with either sign
    lines = out.splitlines()
    start = lines.index("      To see what it returns, run this in a new cell of your notebook (delete the cell when "
                        "done):")
    reproduce = lines[start + 1].strip()
    assert reproduce == 'from autograder.checks import visible_case; visible_case("gaussian_kl", 2, gaussian_kl)'
    assert "https://book.example/vae/book/ch4_variational_autoencoders.html#ch4-closed-form-kl" in out
    # the line does what it says: the student's function on exactly that case, its inputs shown
    script = "import torch\n" + WRONG_SIGN + reproduce.replace("; visible_case", "\nresult = visible_case") + \
        "\nprint(float(result[0]))\n"
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0 and ran.stdout.strip().splitlines()[-1].startswith("-2.7583"), ran.stdout + ran.stderr
    assert "mu = tensor([[ 1., -2.]]" in ran.stdout, ran.stdout


def test_the_summary_lists_hand_marked_answers_and_bonus_cells(tmp_path):
    good = check(tmp_path, SOLUTION.read_text())
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"PASS  test_gaussian_kl in {HEADING} (3 points)" in good.stdout
    assert "HIDDEN test_kl_bonus" in good.stdout and "(1 bonus point)" in good.stdout
    assert "Graded by hand after you submit (not checked here):" in good.stdout
    assert f"derivation in {HEADING} (2 points): answered" in good.stdout
    assert "task_units" in good.stdout and "a task" in good.stdout
    assert "Bonus (on top of the maximum score): test_kl_bonus (1 point)" in good.stdout
    assert "2 of 2 visible test cells passed. Hidden tests run when your work is graded." in good.stdout
    blank = check(tmp_path, EXERCISE.read_text())
    assert blank.returncode == 1
    assert "derivation" in blank.stdout and "NOT ANSWERED yet" in blank.stdout
    assert "NotImplementedError" in blank.stdout


def test_cells_are_named_by_grade_id_and_heading(tmp_path):
    result = check(tmp_path, with_answer("def gaussian_kl(mu, log_var):\n    return undefined_name\n"))
    assert result.returncode == 1
    assert "NameError" in result.stdout and not re.search(r"\bcell \d", result.stdout), result.stdout
    broken = with_answer("this is not python")
    result = check(tmp_path, broken)
    assert f"answer cell gaussian_kl_answer in {HEADING}: " in result.stdout, result.stdout


def test_outside_the_course_environment_it_says_exactly_what_to_run(tmp_path):
    system = shutil.which("python3", path="/usr/bin:/bin")
    if system is None:
        pytest.skip("no system python3")
    probe = subprocess.run([system, "-c", "import nbformat, torch, nbgrader"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("the system python3 has the course's packages")
    notebook = tmp_path / "fx_kl.ipynb"
    notebook.write_text(SOLUTION.read_text())
    result = subprocess.run([system, "-m", "autograder", "check", str(notebook)], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "is not the course environment" in result.stderr
    assert f"{ROOT / '.venv' / 'bin' / 'python'} -m autograder check {notebook}" in result.stderr, result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id", REAL_IDS)
def test_check_on_the_real_exercises(tmp_path, assignment_id):
    """The solution passes every visible test; the released exercise fails them, saying what is missing."""
    solution = ROOT / "solutions" / assignment_id / f"{assignment_id}.ipynb"
    exercise = ROOT / "exercises" / assignment_id / f"{assignment_id}.ipynb"
    for name, notebook in (("solution", solution), ("exercise", exercise)):
        folder = tmp_path / name
        shutil.copytree(notebook.parent, folder)
        result = autograder("check", folder / notebook.name, cwd=folder, timeout=1800)
        if name == "solution":
            assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
            assert "FAIL" not in result.stdout and "PASS " in result.stdout
        else:
            assert result.returncode == 1 and "FAIL " in result.stdout and "PASS " not in result.stdout
            assert "NotImplementedError" in result.stdout
            # one line per unwritten function (issue 19: a blank notebook printed about 175 lines)
            fails = [line for line in result.stdout.splitlines() if line.startswith("FAIL ")]
            assert all(line.endswith("not written yet (your function raises NotImplementedError)")
                       for line in fails), result.stdout
            assert len(result.stdout.splitlines()) < 45, result.stdout


def test_check_explains_a_notebook_it_cannot_read_instead_of_a_traceback(tmp_path):
    """Red team, round 2: a renamed notebook whose grade ids clash, and a notebook holding a 5,000-digit integer,
    made `check` print a Python traceback. Now it says what is wrong and exits 1."""
    import io
    import json

    from autograder.selfcheck import self_check

    notebook = json.loads(SOLUTION.read_text())
    graded = next(c for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id"))
    notebook["cells"].append(dict(graded, id="my-copy"))  # a clashing grade id, not a clashing cell id
    renamed = tmp_path / "my work.ipynb"
    renamed.write_text(json.dumps(notebook))
    huge = tmp_path / "fx_kl.ipynb"
    huge.write_text(SOLUTION.read_text().replace('"metadata": {', '"metadata": {"n": ' + "9" * 5000 + ", ", 1))
    for path, said in ((renamed, "is used twice"), (huge, "a value no notebook has")):
        out = io.StringIO()
        assert self_check(path, COURSE, out=out) == 1
        assert said in out.getvalue() and "Traceback" not in out.getvalue()
