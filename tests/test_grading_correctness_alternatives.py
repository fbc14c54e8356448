"""Different correct implementations of every stochastic function keep full marks under 20 grading seeds.

A false failure here would mean a statistical check is miscalibrated (its stated false-failure rate is 1e-6 per
check call, so 20 seeds x ~40 alternatives should never fail).
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.submissions.harness import argument_for, run_check, variant_namespace
from tests.submissions.make_submissions import ALTERNATIVES

STOCHASTIC_FUNCTIONS = {
    ("ps1_likelihood", "mc_log_marginal"), ("ps3_elbo", "elbo"), ("ps3_elbo", "iwae_bound"),
    ("ps4_gradients", "reparameterize"), ("ps4_gradients", "score_function_gradient"),
    ("ps4_gradients", "pathwise_gradient"), ("ps4_gradients", "decoder_gradient"), ("ps4_gradients", "train_vae"),
}
SEEDS = range(1000, 1020)


def test_five_alternatives_per_stochastic_function():
    counts = Counter((a.assignment, a.function) for a in ALTERNATIVES)
    assert set(counts) == STOCHASTIC_FUNCTIONS
    assert min(counts.values()) >= 5, counts
    assert len({a.name for a in ALTERNATIVES}) == len(ALTERNATIVES)


@pytest.mark.parametrize("alternative", ALTERNATIVES, ids=[a.name for a in ALTERNATIVES])
def test_alternative_passes_under_20_seeds(alternative):
    scope = variant_namespace(alternative)
    for name in alternative.checks:
        func = scope[argument_for(name) if argument_for(name) in scope else alternative.function]
        for seed in SEEDS:
            verdict = run_check(name, func, seed)
            assert verdict.passed, f"{alternative.name}, seed {seed}: {verdict.message}"
        assert run_check(name, func, 0, "visible").passed
