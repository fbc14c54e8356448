"""Each real assignment through the real grading command: the solution scores full marks (bonus included), the
released exercise scores 0."""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.grading_cli import print_replay

ROOT = Path(__file__).resolve().parents[1]
REAL_IDS = sorted(p.name for p in (ROOT / "solutions").glob("*") if (p / f"{p.name}.ipynb").is_file())



def grade(tmp_path: Path, assignment_id: str, timeout: int) -> dict[str, dict]:
    """Grade tmp_path/subs with the real command; the grades.csv rows by student (seeds printed for a replay)."""
    args = ["grade", "--assignment", assignment_id, "subs", "--output", "out", "--workers", "2", "--no-progress"]
    result = subprocess.run([sys.executable, "-m", "autograder", *args], cwd=tmp_path,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-4000:]
    with open(tmp_path / "out" / "grades.csv") as handle:
        rows = {r["student_id"]: r for r in csv.DictReader(handle)}
    print_replay(args, tmp_path / "out" / "grades.csv", rows)
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id", REAL_IDS or [pytest.param("(none)", marks=pytest.mark.skip("no "
                                                                                                     "assignments"))])
def test_solution_full_marks_and_exercise_zero(tmp_path, assignment_id):
    for student, folder in [("solution", "solutions"), ("exercise", "exercises")]:
        (tmp_path / "subs" / student).mkdir(parents=True)
        shutil.copy(ROOT / folder / assignment_id / f"{assignment_id}.ipynb", tmp_path / "subs" / student)
    rows = grade(tmp_path, assignment_id, timeout=1800)
    solution, exercise = rows["solution"], rows["exercise"]
    assert solution["status"] == "ok", solution
    tests = solution["message"].split(" test cells passed")[0].split(" of ")
    assert tests[0] == tests[1], solution["message"]
    # every autograded point and the bonus; the hand-marked points wait for a person (all answered)
    assert float(solution["autograded"]) == float(solution["max_score"]) - float(solution["manual_pending"]) > 0
    assert float(solution["score"]) == float(solution["autograded"]) + float(solution["bonus"]), solution
    assert exercise["status"] == "ok" and float(exercise["score"]) == 0, exercise


def _load_make_submissions():
    import importlib.util

    path = ROOT / "tests" / "submissions" / "make_submissions.py"
    if not path.is_file():
        pytest.skip("tests/submissions/make_submissions.py does not exist yet")
    spec = importlib.util.spec_from_file_location("make_submissions_for_engine", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id", REAL_IDS or [pytest.param("(none)", marks=pytest.mark.skip("none"))])
def test_mutants_lose_points_and_alternatives_keep_them_through_the_cli(tmp_path, assignment_id):
    """The whole pipeline (assembly, workers, plain records, judging in the parent) agrees with the checks, on the
    first mutant and the first alternative of every graded function (tests/test_grading_correctness_*.py grade every
    one of them in-process under 20 seeds; through the CLI, ps4's 60 notebooks would each train a VAE)."""
    module = _load_make_submissions()
    written = module.make_submissions(assignment_id, tmp_path / "subs")
    if not written:
        pytest.skip(f"no mutants or alternatives for {assignment_id}")
    kept, seen = set(), set()
    for prefix, group in (("mutant", module.MUTANTS), ("alt", module.ALTERNATIVES)):
        for variant in group:
            if variant.assignment == assignment_id and (prefix, variant.function) not in seen:
                seen.add((prefix, variant.function))
                kept.add(f"{prefix}_{variant.name}")
    for folder in (tmp_path / "subs").iterdir():
        if folder.name not in kept:
            shutil.rmtree(folder)
    assert kept and sorted(p.name for p in (tmp_path / "subs").iterdir()) == sorted(kept)
    (tmp_path / "subs" / "solution").mkdir()
    shutil.copy(ROOT / "solutions" / assignment_id / f"{assignment_id}.ipynb", tmp_path / "subs" / "solution")
    statistical = {f"{prefix}_{v.name}" for prefix, group in (("mutant", module.MUTANTS), ("alt", module.ALTERNATIVES))
                   for v in group if v.statistical}
    rows = grade(tmp_path, assignment_id, timeout=3600)
    full = float(rows["solution"]["score"])
    solution = rows["solution"]
    assert full == float(solution["max_score"]) - float(solution["manual_pending"]) + float(solution["bonus"])
    alternatives = {k: float(r["score"]) for k, r in rows.items() if k.startswith("alt_")}
    assert all(score == full for score in alternatives.values()), {k: rows[k]["message"] for k in alternatives
                                                                   if alternatives[k] != full}
    mutants = {k: float(r["score"]) for k, r in rows.items() if k.startswith("mutant_")}
    survivors = [k for k, score in mutants.items() if score >= full]
    exact_survivors = [k for k in survivors if k not in statistical]
    assert not exact_survivors, exact_survivors
    assert len(survivors) <= 1, survivors  # a statistical check has power >= 0.999 per mutant


@pytest.mark.slow
def test_an_upstream_that_is_right_only_in_its_own_test_excuses_nothing_through_the_cli(tmp_path):
    """ps3: a gaussian_kl that returns 0 only when the grader asks for "your KL" on elbo's inputs (it inspects the
    stack), with an elbo that leaves the KL out. gaussian_kl keeps its points (it is right in its own test); elbo
    loses its own, with the reason in the feedback (autograder.scoring.settle_excuses)."""
    import json

    from tests.submissions.make_submissions import apply_replacement, load_solution
    from tests.test_grading_correctness_upstream import ELBO_WITHOUT_KL, KL_RIGHT_ONLY_IN_ITS_OWN_TEST

    notebook = load_solution("ps3_elbo")
    for variant in (KL_RIGHT_ONLY_IN_ITS_OWN_TEST, ELBO_WITHOUT_KL):
        notebook = apply_replacement(notebook, variant.function, variant.source)
    (tmp_path / "subs" / "spoof").mkdir(parents=True)
    (tmp_path / "subs" / "spoof" / "ps3_elbo.ipynb").write_text(json.dumps(notebook))
    (tmp_path / "subs" / "solution").mkdir()
    shutil.copy(ROOT / "solutions" / "ps3_elbo" / "ps3_elbo.ipynb", tmp_path / "subs" / "solution")
    rows = grade(tmp_path, "ps3_elbo", timeout=1800)
    journal = [json.loads(line) for line in (tmp_path / "out" / "grading-journal.jsonl").read_text().splitlines()]
    cells = {r["result"]["student_id"]: {c["grade_id"]: c for c in r["result"]["cells"]}
             for r in journal if r.get("type") == "result"}
    spoof, solution = cells["spoof"], cells["solution"]
    assert spoof["test_gaussian_kl"]["passed"] and spoof["test_gaussian_kl"]["points"] > 0
    assert not spoof["test_elbo"]["passed"] and spoof["test_elbo"]["points"] == 0
    assert any("although your gaussian_kl passed its own tests" in m for m in spoof["test_elbo"]["messages"])
    lost = solution["test_elbo"]["points"]
    assert float(rows["spoof"]["score"]) == float(rows["solution"]["score"]) - lost
