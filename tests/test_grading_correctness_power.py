"""The statistical checks do what their docstrings claim (autograder/judging/statistics.py).

* Power: for every statistical mutant and three independent draws of the hidden cases, the mutant's calls are
  measured (3 runs of every statistical case) and the probability that the check fails is bounded from below
  (harness.power: bias and spread taken at their 99.9% confidence bounds, each test's failure probability under a
  normal model of the calls); the largest over cases, tests and components must be >= 0.999. A mutant whose calls
  cannot be judged statistically (it raises, returns NaN or infinity, or breaks the return contract) must instead
  fail deterministically: it is graded under the same seeds and must fail each time for that reason.
* Calibration: for the solution and every alternative (every estimator the notebooks allow), many calls on the
  hidden cases (at a sample size where one call's excess kurtosis is at most 1) must have, per component, a mean
  within t = 5 standard errors of the grader's truth and a mean squared error between V_low and V (the grader's
  smallest and largest variance of an allowed estimator), within t standard errors. The number of calls is chosen
  so that a standard deviation 1.2x off the grader's range (variance ratio 1.44 above V or below V_low) fails with
  probability >= 0.999; the whole calibration set's false-failure rate is below 2e-3 (t = 5 over fewer than 3,000
  tests, normal approximation of the means).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from autograder.judging import JUDGES
from autograder.judging.statistics import DELTA, POWER
from tests.submissions.harness import (
    argument_for,
    power,
    run_check,
    runs,
    scaling_cases,
    scaling_power,
    seed_torch,
    solution_namespace,
    statistical_cases,
    variant_namespace,
)
from tests.submissions.make_submissions import ALTERNATIVES, MUTANTS

STATISTICAL = [m for m in MUTANTS if m.statistical]
STAT_CHECKS = sorted(name for name, check in JUDGES.items() if check.statistics is not None)
SOLUTION_FUNCTION = {"mc_log_marginal": ("ps1_likelihood", "mc_log_marginal"), "elbo": ("ps3_elbo", "elbo"),
                     "iwae_bound": ("ps3_elbo", "iwae_bound"), "reparameterize": ("ps4_gradients", "reparameterize"),
                     "score_function_gradient": ("ps4_gradients", "score_function_gradient"),
                     "pathwise_gradient": ("ps4_gradients", "pathwise_gradient"),
                     "decoder_gradient": ("ps4_gradients", "decoder_gradient")}
POWER_SEEDS = (201, 202, 203)
POWER_RUNS = 3
SCALING_POWER_RUNS = 10  # runs at each size of a scaling case: a tight bound on the mutant's variance ratio
DETERMINISTIC_REASONS = ("raised", "Expected", "NaN", "infinite", "did not get", "exactly the same value")

CALIBRATION_SEED = 301
CALIBRATION_T = 5.0  # standard errors; two-sided rate 5.7e-7 per test
CALIBRATION_RATIO = 1.44  # (1.2x in standard deviation) must be caught with probability >= POWER
CALIBRATION_MAX_KURTOSIS = 1.0


def test_every_statistical_check_has_mutants_with_measured_power():
    assert set(STAT_CHECKS) == set(SOLUTION_FUNCTION)
    covered = {name for m in STATISTICAL for name in m.checks}
    assert covered == set(STAT_CHECKS), set(STAT_CHECKS) - covered
    assert DELTA <= 1e-6 and POWER >= 0.999


@pytest.mark.parametrize("mutant", STATISTICAL, ids=[m.name for m in STATISTICAL])
def test_statistical_power_against_mutant(mutant):
    """The check fails if any case fails, so its power is at least the largest case's: cases are measured in
    order until one reaches POWER (a first run whose calls are all identical settles it at once)."""
    scope = variant_namespace(mutant)
    for name in mutant.checks:
        func = scope[argument_for(name) if argument_for(name) in scope else mutant.function]
        for seed in POWER_SEEDS:
            seed_torch("power", mutant.name, seed)
            best, detail = 0.0, "no case measured"
            for _, case, spec in statistical_cases(name, seed):
                first = runs(name, func, case, 1)
                if first is None:  # cannot be judged statistically: must fail, every time, for that reason
                    verdict = run_check(name, func, seed)
                    assert not verdict.passed, f"{mutant.name}, seed {seed}: a broken contract passed"
                    assert any(reason in verdict.message for reason in DETERMINISTIC_REASONS), verdict.message
                    best = 1.0
                    break
                rest = runs(name, func, case, POWER_RUNS - 1)
                samples = first if rest is None else np.concatenate([first, rest])
                found, text = power(spec, samples)
                if found > best:
                    best, detail = found, text
                if best >= POWER:
                    break
            for case in scaling_cases(name, seed) if best < POWER else ():
                found = scaling_power(name, func, case, SCALING_POWER_RUNS)
                if found is None:  # cannot be judged statistically: must fail, every time, for that reason
                    verdict = run_check(name, func, seed)
                    assert not verdict.passed, f"{mutant.name}, seed {seed}: a broken contract passed"
                    found = 1.0
                if found > best:
                    best, detail = found, f"scaling case {case['sample_sizes']}"
            assert best >= POWER, f"{mutant.name}, seed {seed}: power {best:.6f} < {POWER} ({detail})"


def _implementations(name: str):
    assignment, function = SOLUTION_FUNCTION[name]
    yield "solution", solution_namespace(assignment)[function]
    for alternative in ALTERNATIVES:
        if name in alternative.checks and alternative.function == function:
            yield alternative.name, variant_namespace(alternative)[function]


def _calibration_case(name: str, case: dict) -> dict:
    """The case at a sample size where one call's excess kurtosis is at most CALIBRATION_MAX_KURTOSIS (the
    single-sample moments are the same; V / n is exact for i.i.d. samples, and the leave-one-out formula holds for
    every n). IWAE K > 1 (a reference run at its own K) keeps its n; reparameterize is calibrated on 256 rows."""
    if name == "reparameterize":
        return dict(case, rows=256)  # many calls of the graded 8,192 rows would not fit in memory
    if name == "iwae_bound" and case["n_samples"] > 1:
        return dict(case)
    single = JUDGES[name].statistics(dict(case, n_samples=1))
    n = max(10, math.ceil(float(np.max(single.kurtosis)) / CALIBRATION_MAX_KURTOSIS))
    return dict(case, n_samples=n)


def _calls_needed(kurtosis: float) -> int:
    """Calls for a mean squared error test whose standard error is sqrt((2 + kappa) / R): a variance ratio
    CALIBRATION_RATIO above V, or 1 / CALIBRATION_RATIO below V_low, is caught with probability POWER."""
    margin = min(CALIBRATION_RATIO - 1, 1 - 1 / CALIBRATION_RATIO)
    return math.ceil(((CALIBRATION_T + norm.ppf(POWER)) / margin) ** 2 * (2 + max(kurtosis, 0.0)))


@pytest.mark.slow
@pytest.mark.parametrize("name", STAT_CHECKS)
def test_statistical_check_is_calibrated_on_every_allowed_estimator(name):
    cases = {}
    for _, case, _ in statistical_cases(name, CALIBRATION_SEED):
        calibration = _calibration_case(name, case)
        key = tuple(sorted((k, str(v)) for k, v in calibration.items() if k not in ("calls", "delta")))
        cases.setdefault(key, calibration)  # cases that differ only in their number of calls are the same
    failures = []
    for label, func in _implementations(name):
        for case in cases.values():
            spec = JUDGES[name].statistics(case)
            calls = _calls_needed(float(np.max(spec.kurtosis)))
            seed_torch("calibration", name, label, calls)
            case = dict(case, calls=calls)
            samples = runs(name, func, case, 1)
            assert samples is not None, f"{label} cannot be judged on {name}"
            y = samples[0]
            error = y - spec.truth
            mse = (error**2).mean(0)
            se_ratio = np.sqrt((2 + np.maximum(spec.kurtosis, 0.0)) / calls)
            mean_z = error.mean(0) / np.sqrt((spec.variance + spec.truth_variance * calls) / calls)
            for j, component in enumerate(spec.labels):
                where = f"{label}, n_samples {case.get('n_samples', case.get('rows'))}, {component}"
                if abs(mean_z[j]) > CALIBRATION_T:
                    failures.append(f"{where}: mean off the truth by {mean_z[j]:.2f} standard errors")
                if mse[j] / spec.variance[j] > 1 + CALIBRATION_T * se_ratio[j]:
                    failures.append(f"{where}: variance {mse[j]:.4g} above the grader's largest {spec.variance[j]:.4g}")
                if mse[j] / spec.variance_low[j] < 1 - CALIBRATION_T * se_ratio[j]:
                    failures.append(f"{where}: variance {mse[j]:.4g} below the grader's smallest "
                                    f"{spec.variance_low[j]:.4g}")
    assert not failures, "\n".join(failures[:20])


@pytest.mark.parametrize("name", sorted({"elbo", "score_function_gradient", "pathwise_gradient",
                                         "decoder_gradient"}))
def test_scaling_cases_keep_their_power(name):
    """Every check whose estimate averages n_samples draws has a scaling case (the spread must shrink like
    1 / n_samples: a function that ignores n_samples fails it), and for every drawn case the threshold stays at or
    above SCALING_MIN_THRESHOLD, where a ratio-1 function fails with probability above 0.999."""
    from autograder.judging.statistics import SCALING_MIN_THRESHOLD, scaling_threshold

    for seed in range(50):
        cases = scaling_cases(name, seed)
        assert len(cases) == 1, f"{name}, seed {seed}: {len(cases)} scaling cases"
        assert scaling_threshold(JUDGES[name], cases[0]) >= SCALING_MIN_THRESHOLD
    assert norm.cdf(math.log(SCALING_MIN_THRESHOLD) / math.sqrt(4 / 79)) >= POWER
