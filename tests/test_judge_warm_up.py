"""The judge server's warm-up: references shared by every submission are computed once per batch, and kept on disk
between batches (autograder.judge_server.warm_up_cached). A verdict must not depend on where they came from."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autograder.judge_server import _reference_caches, warm_up, warm_up_cached
from autograder.judging import prepared_cases
from autograder.student.cases.ps3_elbo import IWAE_POOL_SIZE
from tests.submissions.harness import solution_namespace
from tests.submissions.make_submissions import ASSIGNMENTS, load_solution
from tests.test_assignments_solutions import graded_cells, parsed_checks

CHECKS = ["elbo", "iwae_bound"]


def _snapshot() -> dict:
    return {name: dict(cache) for name, cache in _reference_caches().items()}


def _clear() -> None:
    for cache in _reference_caches().values():
        cache.clear()


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return np.array_equal(np.asarray(a), np.asarray(b))


def test_references_from_the_file_equal_fresh_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGRADER_CACHE_DIR", str(tmp_path))
    before = _snapshot()
    try:
        _clear()
        warm_up(CHECKS)
        fresh = _snapshot()
        _clear()
        warm_up_cached(CHECKS)  # computes and writes the file
        assert list((tmp_path / "references").glob("*.pickle"))
        _clear()
        warm_up_cached(CHECKS)  # reads it
        from_file = _snapshot()
    finally:
        _clear()
        for name, cache in _reference_caches().items():
            cache.update(before.get(name, {}))
    assert _same(fresh, from_file)
    iwae = fresh["autograder.judging.ps3_elbo._IWAE_CACHE"]
    assert len(iwae) == 2 * IWAE_POOL_SIZE + 1  # the hidden pool's networks and the visible one


def test_every_hidden_iwae_network_is_warmed():
    """Whatever the submission's seed, its K = 8 cases are among the pool the warm-up computes."""
    from autograder.judging.ps3_elbo import NETWORK_KEYS, case_key
    from autograder.student.cases.ps3_elbo import iwae_pool

    pool = {case_key(dict(n, n_samples=8), NETWORK_KEYS + ("n_samples",)) for pair in iwae_pool() for n in pair}
    for seed in range(40):
        for case in prepared_cases("iwae_bound", seed, "hidden"):
            if case["n_samples"] == 8 and not case.get("recorded"):  # recorded: judged exactly, no reference
                assert case_key(case, NETWORK_KEYS + ("n_samples",)) in pool


JUDGE_SCRIPT = """
import json, pickle, sys
sys.path.insert(0, sys.argv[1])
from autograder.judge_server import prepare_server
from autograder.judging import judge

requests = pickle.loads(open(sys.argv[2], "rb").read())
prepare_server(sorted({name for name, _, _, _ in requests}))
before = set(sys.modules)
passed = [judge(name, seed, kind, outcomes).passed for name, seed, kind, outcomes in requests]
print(json.dumps({"new_modules": sorted(set(sys.modules) - before), "passed": passed}))
"""


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_judging_imports_nothing_after_the_server_is_prepared(assignment, tmp_path, monkeypatch):
    """A judge child is a fresh fork of the server per submission: whatever it imports, every submission pays
    (`import scipy.stats` alone was ~0.8 CPU-s, most of a ps3 submission's judging). The solution's records of
    every check, visible and hidden, are judged after prepare_server; no module may be imported on the way."""
    from autograder.student.probes import VISIBLE_SEED, probe

    monkeypatch.setenv("AUTOGRADER_CACHE_DIR", str(tmp_path / "cache"))
    scope = solution_namespace(assignment)
    requests = []
    for cell in graded_cells(load_solution(assignment)):
        for name, expression, kind in parsed_checks(cell.source):
            func = eval(expression, scope)  # noqa: S307 - the instructor's own test cell
            seed = VISIBLE_SEED if kind == "visible" else 21
            requests.append((name, seed, kind, [o.to_json() for o in probe(name, func, seed, kind)]))
    (tmp_path / "requests.pickle").write_bytes(pickle.dumps(requests))
    root = Path(__file__).resolve().parents[1]
    for references in ("computed", "read from the cache file"):  # a server warms up either way
        done = subprocess.run([sys.executable, "-I", "-c", JUDGE_SCRIPT, str(root), str(tmp_path / "requests.pickle")],
                              capture_output=True, text=True, timeout=600,
                              env=dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg"))
        assert done.returncode == 0, done.stderr[-3000:]
        found = json.loads(done.stdout.strip().splitlines()[-1])
        assert all(found["passed"])
        assert found["new_modules"] == [], (
            f"with the references {references}, judging imported {found['new_modules'][:20]}: import them in the "
            f"judge server before it forks (autograder.judge_server.JUDGING_IMPORTS)")
    assert list((tmp_path / "cache" / "references").glob("*.pickle"))
