"""The statistical checks do what their docstrings claim.

* Power: for every statistical mutant and three independent draws of the hidden cases, the mutant's estimates are
  measured (5 repetitions of the full-size estimate: bias b and spread s_m per component) and the probability that
  the z-test fails, max over components of Phi((|b| - z sd) / s_m) (+ the other tail), must be >= 0.999
  (conservatively: |b| shrunk by 3 standard errors, s_m inflated by 20%).
* Calibration: the solution's own estimates, repeated, have z-scores (estimate - truth) / sd with mean square
  about 1, so the grader's variance (analytic, quadrature or reference run) is not an underestimate, and its truth
  is not biased: a false failure needs |z| > 5.3 or so.
"""

from __future__ import annotations

import numpy as np
import pytest

from autograder.judging import JUDGES
from autograder.judging.compare import DELTA, POWER, normal_quantile
from tests.submissions.harness import estimates, power, solution_namespace, variant_namespace
from tests.submissions.make_submissions import MUTANTS

STATISTICAL = [m for m in MUTANTS if m.statistical]
STAT_CHECKS = sorted(name for name, check in JUDGES.items() if check.statistics is not None)
SOLUTION_FUNCTION = {"mc_log_marginal": ("ps1_likelihood", "mc_log_marginal"), "elbo": ("ps3_elbo", "elbo"),
                     "iwae_bound": ("ps3_elbo", "iwae_bound"), "reparameterize": ("ps4_gradients", "reparameterize"),
                     "score_function_gradient": ("ps4_gradients", "score_function_gradient"),
                     "pathwise_gradient": ("ps4_gradients", "pathwise_gradient"),
                     "decoder_gradient": ("ps4_gradients", "decoder_gradient")}


def test_every_statistical_check_has_mutants_with_measured_power():
    assert set(STAT_CHECKS) == set(SOLUTION_FUNCTION)
    covered = {name for m in STATISTICAL for name in m.checks}
    assert covered == set(STAT_CHECKS), set(STAT_CHECKS) - covered
    assert DELTA <= 1e-6 and POWER >= 0.999


@pytest.mark.parametrize("mutant", STATISTICAL, ids=[m.name for m in STATISTICAL])
def test_statistical_power_against_mutant(mutant):
    scope = variant_namespace(mutant)
    for name in mutant.checks:
        for seed in (201, 202, 203):
            per_case = estimates(name, scope[mutant.function], seed, repetitions=5)
            if any(samples is None for _, samples in per_case):
                continue  # the mutant errors or returns the wrong shape: it fails deterministically
            results = [power(spec, samples) for spec, samples in per_case]
            best, detail = max(results)
            assert best >= POWER, f"{mutant.name}, seed {seed}: power {best:.6f} < {POWER} ({detail})"


@pytest.mark.parametrize("name", STAT_CHECKS)
def test_statistical_check_is_calibrated_on_the_solution(name):
    assignment, function = SOLUTION_FUNCTION[name]
    func = solution_namespace(assignment)[function]
    repetitions = 6 if name == "iwae_bound" else 20
    z_scores = []
    for spec, samples in estimates(name, func, 301, repetitions=repetitions):
        z_scores.append(((samples - spec.truth.reshape(-1)) / spec.sd.reshape(-1)).reshape(-1))
        threshold = spec.threshold()
        assert threshold >= normal_quantile(1 - DELTA / 2)
    z = np.concatenate(z_scores)
    dof = z.size
    # mean of z^2 ~ 1 +- sqrt(2 / dof): allow 5 standard deviations above (V underestimated) and a mean shift of
    # 5 / sqrt(dof) (a biased truth)
    assert np.mean(z**2) <= 1 + 5 * np.sqrt(2 / dof), f"{name}: variance underestimated, mean z^2 {np.mean(z**2):.3f}"
    assert abs(np.mean(z)) <= 5 / np.sqrt(dof), f"{name}: truth biased, mean z {np.mean(z):.3f}"
