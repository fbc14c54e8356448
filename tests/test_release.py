"""exercises/ is generated from solutions/ by `nbgrader generate_assignment`: regenerate and compare."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_COURSE = ROOT / "tests" / "fixtures" / "course"
REAL_IDS = sorted(p.name for p in (ROOT / "solutions").glob("*") if (p / f"{p.name}.ipynb").is_file())


def regenerate(course: Path, target: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "autograder", "release", "--course-root", str(course),
                             "--exercises-dir", str(target)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def assert_same_release(committed: Path, fresh: Path, assignment_id: str) -> None:
    assert committed.is_file(), f"{committed} is missing: run `python -m autograder release {assignment_id}`"
    old, new = json.loads(committed.read_text()), json.loads(fresh.read_text())
    hint = f"exercises/{assignment_id} drifted from solutions/{assignment_id}: run `python -m autograder release`"
    assert len(old["cells"]) == len(new["cells"]), hint
    for index, (a, b) in enumerate(zip(old["cells"], new["cells"], strict=True)):
        for key in ("cell_type", "source", "metadata", "id"):
            assert a.get(key) == b.get(key), f"{hint} (cell {index}, {key})"
    assert old["metadata"] == new["metadata"], hint
    assert (old["nbformat"], old["nbformat_minor"]) == (new["nbformat"], new["nbformat_minor"]), hint


def test_fixture_release_is_up_to_date(tmp_path):
    regenerate(FIXTURE_COURSE, tmp_path)
    assert_same_release(FIXTURE_COURSE / "exercises/fx_kl/fx_kl.ipynb", tmp_path / "fx_kl/fx_kl.ipynb", "fx_kl")


def test_release_is_deterministic(tmp_path):
    regenerate(FIXTURE_COURSE, tmp_path / "a")
    regenerate(FIXTURE_COURSE, tmp_path / "b")
    assert (tmp_path / "a/fx_kl/fx_kl.ipynb").read_bytes() == (tmp_path / "b/fx_kl/fx_kl.ipynb").read_bytes()


def test_release_hides_solutions_and_hidden_tests():
    text = (FIXTURE_COURSE / "exercises/fx_kl/fx_kl.ipynb").read_text()
    assert "BEGIN HIDDEN TESTS" not in text and 'kind=\\"hidden\\"' not in text
    assert "log_var.exp()" not in text and "raise NotImplementedError()" in text


@pytest.fixture(scope="module")
def real_releases(tmp_path_factory):
    if not REAL_IDS:
        pytest.skip("no assignments in solutions/ yet")
    target = tmp_path_factory.mktemp("exercises")
    regenerate(ROOT, target)
    return target


@pytest.mark.parametrize("assignment_id", REAL_IDS or ["(none)"])
def test_exercises_match_solutions(real_releases, assignment_id):
    assert_same_release(ROOT / "exercises" / assignment_id / f"{assignment_id}.ipynb",
                        real_releases / assignment_id / f"{assignment_id}.ipynb", assignment_id)
