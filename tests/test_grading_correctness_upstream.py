"""One bug, one loss: a bug in a graded function costs its own cell only, not the cells of the graded functions
that call it (autograder/judging/upstream.py), and a second, independent bug in the caller still loses the
caller's points (no free points).

Where the grader can undo the upstream function's influence from what the probe recorded: log_sum_exp inside
mixture_log_marginal and mc_log_marginal (ps1), gaussian_kl inside elbo (ps3), reparameterize inside
decoder_gradient (ps4). The notebooks say where it cannot (bernoulli_log_likelihood inside elbo and iwae_bound,
reparameterize inside the VAE training, reconstruction_error inside the linear auto encoder's training, an upstream
function that raises).
"""

from __future__ import annotations

import pytest

from tests.submissions.harness import argument_for, run_check, seed_torch
from tests.submissions.make_submissions import MUTANTS, namespace

GRADING_SEEDS = range(401, 406)  # 5 grading seeds per pair (the mutant tests use 20)
DEPENDENTS = {"log_sum_exp": ("mixture_log_marginal", "mc_log_marginal_given_z", "mc_log_marginal"),
              "gaussian_kl": ("elbo",), "reparameterize": ("decoder_gradient",)}
# a mutant of the upstream function that raises inside the caller: nothing to undo (documented)
RAISES_IN_CALLER = {"reparam_eps_reshaped"}
REPRESENTATIVE = {"log_sum_exp": "lse_max_not_added_back", "gaussian_kl": "kl_no_half",
                  "reparameterize": "reparam_variance_as_scale"}
CALLER_FUNCTION = {"mixture_log_marginal": "mixture_log_marginal", "mc_log_marginal_given_z": "mc_log_marginal",
                   "mc_log_marginal": "mc_log_marginal", "elbo": "elbo", "decoder_gradient": "decoder_gradient"}

UPSTREAM_MUTANTS = [m for m in MUTANTS if m.function in DEPENDENTS and m.name not in RAISES_IN_CALLER]
CALLER_MUTANTS = [(m, caller) for m in MUTANTS for upstream, callers in DEPENDENTS.items() for caller in callers
                  if CALLER_FUNCTION[caller] == m.function and caller in m.checks]
BY_NAME = {m.name: m for m in MUTANTS}


def _scope(variant, also=()):
    seed_torch("upstream", variant.name, *(v.name for v in also))
    return namespace(variant.assignment, variant, also=tuple(also))


@pytest.mark.slow
@pytest.mark.parametrize("mutant", UPSTREAM_MUTANTS, ids=[m.name for m in UPSTREAM_MUTANTS])
def test_an_upstream_bug_costs_only_its_own_cell(mutant):
    scope = _scope(mutant)
    for caller in DEPENDENTS[mutant.function]:
        func = scope[argument_for(caller) if argument_for(caller) in scope else caller]
        for seed in GRADING_SEEDS:
            verdict = run_check(caller, func, seed)
            assert verdict.passed, f"{mutant.name} made the correct {caller} fail (seed {seed}): {verdict.message}"


@pytest.mark.slow
@pytest.mark.parametrize("pair", CALLER_MUTANTS, ids=[f"{m.name}-{caller}" for m, caller in CALLER_MUTANTS])
def test_a_callers_own_bug_still_loses_with_a_buggy_upstream(pair):
    mutant, caller = pair
    upstream = next(name for name, callers in DEPENDENTS.items() if caller in callers)
    scope = _scope(mutant, also=(BY_NAME[REPRESENTATIVE[upstream]],))
    func = scope[argument_for(caller) if argument_for(caller) in scope else caller]
    for seed in GRADING_SEEDS:
        verdict = run_check(caller, func, seed)
        assert not verdict.passed, f"{mutant.name} with {REPRESENTATIVE[upstream]} passed {caller} (seed {seed})"
