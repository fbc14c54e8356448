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

from autograder.judging import Verdict
from tests.submissions.harness import argument_for, run_check, seed_torch
from tests.submissions.make_submissions import MUTANTS, Variant, namespace

GRADING_SEEDS = range(401, 406)  # 5 grading seeds per pair (the mutant tests use 20)
DEPENDENTS = {"log_sum_exp": ("mixture_log_marginal", "mc_log_marginal_given_z", "mc_log_marginal"),
              "gaussian_kl": ("elbo",), "reparameterize": ("decoder_gradient",)}
# a mutant of the upstream function that raises inside the caller: nothing to undo (documented)
# (lse_max_without_keepdim: a - m broadcasts only where the shapes happen to line up, and raises elsewhere)
RAISES_IN_CALLER = {"reparam_eps_reshaped", "lse_max_without_keepdim"}
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


# A gaussian_kl that is right in its own test but returns 0 when the grader asks it for "your KL" on elbo's inputs
# (it looks at the call stack), with an elbo that leaves the KL out: without the cross-cell rule, elbo would pass as
# "right given your gaussian_kl" while gaussian_kl keeps its points too.
KL_RIGHT_ONLY_IN_ITS_OWN_TEST = Variant("kl_context_dependent", "ps3_elbo", "gaussian_kl", (), "wrong only when "
                                        "called for elbo's test (inspects the stack)", '''
def gaussian_kl(mu, log_var):
    import inspect
    kl = 0.5 * (mu**2 + log_var.exp() - 1.0 - log_var).sum(-1)
    if any(frame.function == "upstream_value" for frame in inspect.stack()):
        return 0.0 * kl
    return kl
''')
ELBO_WITHOUT_KL = Variant("elbo_without_kl", "ps3_elbo", "elbo", ("elbo",), "leaves the KL term out", '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn((n_samples, *mu.shape), dtype=mu.dtype)
    return bernoulli_log_likelihood(x, decoder(z)).mean(0)
''')


def test_an_upstream_right_only_in_its_own_test_excuses_nothing():
    """The judge alone accepts elbo as right given the KL it was shown (and says which upstream it relied on); the
    scorer, which sees every cell, voids that excuse because gaussian_kl passed its own checks."""
    from autograder.scoring import settle_excuses

    scope = _scope(ELBO_WITHOUT_KL, also=(KL_RIGHT_ONLY_IN_ITS_OWN_TEST,))
    for seed in GRADING_SEEDS[:2]:
        kl = [("gaussian_kl", run_check("gaussian_kl", scope["gaussian_kl"], seed, kind))
              for kind in ("visible", "hidden")]
        elbo = [("elbo", run_check("elbo", scope["elbo"], seed, kind)) for kind in ("visible", "hidden")]
        assert all(verdict.passed for _, verdict in kl), kl
        assert all(verdict.passed and verdict.excused == ("gaussian_kl",) for _, verdict in elbo), elbo
        kl_after, elbo_after = settle_excuses([kl, elbo])
        assert kl_after == kl  # gaussian_kl's own verdicts are untouched
        assert not any(verdict.passed for _, verdict in elbo_after)
        assert all("although your gaussian_kl passed its own tests" in verdict.message for _, verdict in elbo_after)
        # with a gaussian_kl that fails its own test too, the excuse stands (one bug, one loss)
        failing_kl = [kl[0], ("gaussian_kl", Verdict(False, "gaussian_kl (hidden tests): wrong"))]
        assert settle_excuses([failing_kl, elbo])[1] == elbo


# Correct decoder_gradients that call reparameterize in other forms the notebook allows (red team, round 4): noise
# shared by the batch, mu and log_var with a leading dimension. A wrong reparameterize must not cost them their cell.
DECODER_CALLERS = [
    Variant("decoder_shared_noise_caller", "ps4_gradients", "decoder_gradient", ("decoder_gradient",),
            "noise (n, 1, z_dim) shared by the batch", '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    z = reparameterize(mu, log_var, torch.randn((n_samples, 1, mu.shape[-1])))
    return torch.autograd.grad(bernoulli_log_likelihood(x, decoder(z)).mean(0).sum(), list(decoder.parameters()))
'''),
    Variant("decoder_unsqueezed_caller", "ps4_gradients", "decoder_gradient", ("decoder_gradient",),
            "mu and log_var unsqueezed to (1, batch, z_dim)", '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    z = reparameterize(mu.unsqueeze(0), log_var.unsqueeze(0), torch.randn((n_samples, *mu.shape)))
    return torch.autograd.grad(bernoulli_log_likelihood(x, decoder(z)).mean(0).sum(), list(decoder.parameters()))
'''),
]


@pytest.mark.parametrize("caller", DECODER_CALLERS, ids=[c.name for c in DECODER_CALLERS])
def test_other_call_forms_of_the_upstream_are_excused_too(caller):
    scope = _scope(caller, also=(BY_NAME[REPRESENTATIVE["reparameterize"]],))
    right = _scope(caller)
    for seed in GRADING_SEEDS[:2]:
        assert run_check("decoder_gradient", right["decoder_gradient"], seed).passed  # correct with a correct upstream
        verdict = run_check("decoder_gradient", scope["decoder_gradient"], seed)
        assert verdict.passed and verdict.excused == ("reparameterize",), verdict.message
