"""The judge server's warm-up: references shared by every submission are computed once per batch, and kept on disk
between batches (autograder.judge_server.warm_up_cached). A verdict must not depend on where they came from."""

from __future__ import annotations

import numpy as np

from autograder.judge_server import _reference_caches, warm_up, warm_up_cached
from autograder.judging import prepared_cases
from autograder.student.cases.ps3_elbo import IWAE_POOL_SIZE

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
            if case["n_samples"] == 8:
                assert case_key(case, NETWORK_KEYS + ("n_samples",)) in pool
