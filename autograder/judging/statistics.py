"""Statistical judging (grader side only): the mean AND the spread of a student's estimator, from several
independent calls on one case, against what the grader knows a correct estimator does.

A statistical case calls the student's function ``calls`` = m times; each call returns an estimate from n samples.
For every estimator the instructions allow, the grader knows (:class:`StatSpec`; analytic, quadrature or a trusted
reference run, never the student's own spread): the expected value of one call's estimate, its variance, and its
skewness and excess kurtosis. The tests, with the case's false-failure budget ``delta`` split Bonferroni-style over
the tests and the components:

1. **Identical calls.** All m calls returned the same numbers: a fixed seed inside the function, noise drawn once
   and reused, or no randomness at all (an exact answer). A correct estimator with continuous noise does this with
   probability 0, so the test uses no budget.
2. **The mean** of the m calls against the truth, with half the budget (all of it when there is no spread test):
   * z-test: |mean - truth| <= z sqrt(V / m + V_truth), z the Cornish-Fisher quantile for the skewness and kurtosis
     of the mean (V_truth: the error of a reference run's truth);
   * median of means, for ``robust`` cases (few samples per call: heavy-tailed calls, no normal approximation):
     the calls form k blocks of b; the median of the block means must lie within t sqrt(V / b) of the truth.
     Chebyshev bounds a block's miss probability by 1 / t^2, the binomial tail the median's: distribution-free.
3. **The spread**, with a quarter of the budget per side (cases with ``spread``): the sample variance s^2 of the m
   calls must be at least V_low q_low, q the quantile of chi^2_nu / nu with nu = 2 / (2 / (m - 1) + kappa / m)
   degrees of freedom (Var s^2 = V^2 (2 / (m - 1) + kappa / m) for calls with excess kurtosis kappa), and at most
   V q_high (the same chi^2, computed at a tenth of its budget) when the calls are near normal; otherwise the median
   of the sample variances of groups of calls must be at most a distribution-free bound (Cantelli per group, a
   binomial tail for the median: variance_groups_plan). V is the largest and V_low the smallest variance among the
   allowed estimators. Too little spread: an exact answer, too many samples, a different (lower-variance)
   estimator; too much: too few samples, noise shared between samples, a different estimator.

A case may accept other hypotheses (``alternatives``, e.g. "correct given the student's own upstream function",
see the assignments' judges): it passes when one hypothesis passes every test.
tests/test_grading_correctness_power.py checks the stated rates by simulation and measures the power.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..student.values import Value
from .base import CheckFailure
from .compare import sentence

DELTA = 1e-6  # false-failure budget of ONE statistical check() call, split over its cases, tests and components
POWER = 0.999  # required probability of failing each listed bug (verified by tests/test_grading_correctness_power.py)
MIN_SPREAD_CALLS = 10


@dataclass
class StatSpec:
    """What correct implementations' estimates look like on one case (per component, arrays of shape (c,)).

    truth: the expected value of one call's estimate.
    variance: the variance of one call's estimate under the allowed estimator with the LARGEST variance.
    variance_low: the same for the allowed estimator with the SMALLEST variance (None: only one is allowed).
    skewness, kurtosis: of one call's estimate (excess kurtosis), largest in size over the allowed estimators.
    truth_variance: the variance of the truth itself (a reference run's error); 0 when exact.
    calls: m, the number of calls; delta: this case's share of DELTA; labels: a readable name per component.
    robust: judge the mean by the median of block means (few samples per call); robust cases have no spread test.
    spread: judge the spread (needs m >= MIN_SPREAD_CALLS).
    alternatives: other accepted hypotheses (same delta and labels); note: said when one of them passes;
    estimates: an alternative's own estimates (calls, components), judged instead of the recorded ones.
    """

    truth: np.ndarray
    variance: np.ndarray
    delta: float
    labels: list[str]
    calls: int = 1
    variance_low: np.ndarray | None = None
    skewness: np.ndarray | float = 0.0
    kurtosis: np.ndarray | float = 0.0
    truth_variance: np.ndarray | float = 0.0
    robust: bool = False
    spread: bool = True
    alternatives: tuple[StatSpec, ...] = field(default=())
    note: str = ""
    estimates: np.ndarray | None = None  # an alternative's own estimates (e.g. corrected for a wrong upstream)

    def __post_init__(self):
        self.truth = np.asarray(self.truth, np.float64).reshape(-1)
        c = self.truth.size
        self.variance = np.broadcast_to(np.asarray(self.variance, np.float64).reshape(-1), (c,)).copy()
        low = self.variance if self.variance_low is None else self.variance_low
        self.variance_low = np.broadcast_to(np.asarray(low, np.float64).reshape(-1), (c,)).copy()
        self.skewness = np.broadcast_to(np.abs(np.asarray(self.skewness, np.float64)).reshape(-1), (c,)).copy()
        self.kurtosis = np.broadcast_to(np.asarray(self.kurtosis, np.float64).reshape(-1), (c,)).copy()
        self.truth_variance = np.broadcast_to(np.asarray(self.truth_variance, np.float64).reshape(-1), (c,)).copy()

    @property
    def components(self) -> int:
        return self.truth.size

    @property
    def has_spread_test(self) -> bool:
        return self.spread and not self.robust and self.calls >= MIN_SPREAD_CALLS

    def mean_delta(self) -> float:
        """The budget of the mean test, per component."""
        return self.delta / (2 if self.has_spread_test else 1) / self.components

    def spread_delta(self) -> float:
        """The budget of each side of the spread test, per component."""
        return self.delta / 4 / self.components

    def mean_tolerance(self) -> np.ndarray:
        """Half-width of the acceptance interval of the mean (or the median of block means) around the truth."""
        if self.robust:
            t, blocks = median_of_means_plan(self.calls, self.mean_delta())
            return t * np.sqrt(self.variance / (self.calls // blocks) + self.truth_variance)
        z = normal_quantile(1 - self.mean_delta() / 2)
        gamma, kappa = self.skewness / math.sqrt(self.calls), np.maximum(self.kurtosis, 0.0) / self.calls
        z_cf = z + (z**2 - 1) * gamma / 6 + (z**3 - 3 * z) * kappa / 24  # Cornish-Fisher, conservative terms only
        return z_cf * np.sqrt(self.variance / self.calls + self.truth_variance)

    def center(self, estimates: np.ndarray) -> np.ndarray:
        """The statistic compared with the truth: the mean of the calls, or the median of block means."""
        if self.robust:
            _, blocks = median_of_means_plan(self.calls, self.mean_delta())
            size = self.calls // blocks
            return np.median(estimates[: blocks * size].reshape(blocks, size, -1).mean(1), axis=0)
        return estimates.mean(0)

    def degrees_of_freedom(self) -> np.ndarray:
        m = self.calls
        return 2.0 / (2.0 / (m - 1) + np.maximum(self.kurtosis, 0.0) / m)

    def near_normal(self) -> np.ndarray:
        """Components whose calls are close enough to normal for the chi^2 upper bound (checked by simulation)."""
        return (self.skewness <= NEAR_NORMAL_SKEWNESS) & (self.kurtosis <= NEAR_NORMAL_KURTOSIS)

    def spread_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """[low, high] for the spread statistic of each component: the sample variance of the calls, except above
        for components that are not near normal, whose statistic is the median of group variances
        (spread_statistic) with a distribution-free bound (variance_groups_plan)."""
        from scipy.special import gammainccinv, gammaincinv

        nu = self.degrees_of_freedom()
        d = self.spread_delta()
        # chi^2_nu quantiles: ppf(d) = 2 P^-1(nu/2, d), isf(q) = 2 Q^-1(nu/2, q) (regularised incomplete gamma), as
        # scipy.stats.chi2 computes them; scipy.stats itself is not imported (~0.8 CPU-s per judge process)
        low = self.variance_low * 2.0 * gammaincinv(nu / 2.0, d) / nu
        high = self.variance * 2.0 * gammainccinv(nu / 2.0, d / CHI2_UPPER_MARGIN) / nu
        for j in np.flatnonzero(~self.near_normal()):
            factor, _, _ = variance_groups_plan(self.calls, d, float(max(self.kurtosis[j], 0.0)))
            high[j] = self.variance[j] * factor
        return low, high

    def spread_statistic(self, estimates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the sample variance of the calls, the statistic compared with the upper bound) per component, for
        estimates (..., calls, components) (leading axes: independent runs, in the tests)."""
        s2 = estimates.var(-2, ddof=1)
        upper = s2.copy()
        for j in np.flatnonzero(~self.near_normal()):
            _, size, groups = variance_groups_plan(self.calls, self.spread_delta(), float(max(self.kurtosis[j], 0.0)))
            blocks = estimates[..., : size * groups, j].reshape(*estimates.shape[:-2], groups, size)
            upper[..., j] = np.median(blocks.var(-1, ddof=1), axis=-1)
        return s2, upper


# Calls this close to normal (skewness, excess kurtosis of one call) get the moment-matched chi^2 upper bound; by
# simulation (tests/test_grading_correctness_references.py) its rate at this limit is 1-1.3x nominal at 1e-3..1e-5,
# and it is computed at a tenth of its budget (CHI2_UPPER_MARGIN) for the way down to 1e-8. Other calls get the
# distribution-free bound (variance_groups_plan). The lower side is the chi^2 bound for every case: simulation
# shows it conservative for the heaviest tails graded (IWAE calls, excess kurtosis 18).
NEAR_NORMAL_SKEWNESS, NEAR_NORMAL_KURTOSIS = 0.1, 0.05
CHI2_UPPER_MARGIN = 10.0


@functools.cache
def _group_miss_probabilities(calls: int, delta: float) -> tuple[tuple[int, int, float], ...]:
    """(g, k, p) for every group size g: k = calls // g groups, and the largest p such that P(Binomial(k, p) >=
    ceil(k / 2)) = I_p(ceil(k/2), k - ceil(k/2) + 1) <= delta."""
    from scipy.special import betaincinv

    found = []
    for size in range(3, calls + 1):
        groups = calls // size
        half = math.ceil(groups / 2)
        p = float(betaincinv(half, groups - half + 1, delta))
        if 0 < p < 1:
            found.append((size, groups, p))
    return tuple(found)


@functools.cache
def variance_groups_plan(calls: int, delta: float, kurtosis: float) -> tuple[float, int, int]:
    """The distribution-free upper bound on the spread: the calls form k groups of g; each group's sample variance
    has mean V and variance V^2 (2 / (g - 1) + kappa / g) (kappa: one call's excess kurtosis), so by Cantelli it
    exceeds V (1 + t sqrt(2 / (g - 1) + kappa / g)) with probability at most p = 1 / (1 + t^2), and the median of
    the k exceeds it only if half of them do (a binomial tail, kept at delta: _group_miss_probabilities). Returns
    (the bound as a multiple of V, g, k), the smallest bound over g."""
    options = [(1 + math.sqrt(1 / p - 1) * math.sqrt(2 / (size - 1) + kurtosis / size), size, groups)
               for size, groups, p in _group_miss_probabilities(calls, delta)]
    if not options:
        raise ValueError(f"{calls} calls cannot bound the spread at a false-failure rate of {delta:.1e}")
    return min(options)


@functools.cache
def median_of_means_plan(calls: int, delta: float) -> tuple[float, int]:
    """(t, k): k blocks and the multiple t of a block mean's sd that minimise the tolerance t / sqrt(calls // k)
    subject to P(at least half of k blocks miss by more than t sd) <= delta, each missing with probability
    <= 1 / t^2 (Chebyshev). Raises if no plan fits in ``calls`` calls."""
    from scipy.special import bdtrc  # P(Binomial(k, p) > j), what scipy.stats.binom.sf computes

    best = None
    for t in np.arange(2.0, 8.01, 0.25):
        p = 1.0 / t**2
        for k in range(1, calls + 1):
            if bdtrc(math.ceil(k / 2) - 1, k, p) <= delta:
                cost = t / math.sqrt(calls // k)
                if best is None or cost < best[0]:
                    best = (cost, float(t), k)
                break
    if best is None:
        raise ValueError(f"{calls} calls cannot reach a false-failure rate of {delta:.1e} by the median of means")
    return best[1], best[2]


def normal_quantile(p: float) -> float:
    """Inverse standard normal CDF."""
    from scipy.special import ndtri  # what scipy.stats.norm.ppf computes

    return float(ndtri(p))


def identical_calls(estimates: np.ndarray) -> bool:
    return estimates.shape[0] >= 2 and bool(np.all(estimates == estimates[:1]))


def failures(spec: StatSpec, estimates: np.ndarray, what: str) -> list[str]:
    """Why ``estimates`` (calls, components) fail the spec's tests (empty: they pass). A spread problem comes first:
    it also explains a mean that misses because the calls vary too much."""
    problems = []
    references = [spec.truth, spec.mean_tolerance(), spec.variance]
    if not all(np.all(np.isfinite(np.asarray(r, np.float64))) for r in references):
        # an expected value or bound computed from the student's own upstream values (an alternative) that overflowed
        return [f"{sentence(what)}: the grader's expected value, computed from what your function returned, is not a "
                "finite number, so the check cannot pass."]
    if spec.has_spread_test:
        low, high = spec.spread_bounds()
        s2, upper = spec.spread_statistic(estimates)
        outside = [j for j in range(spec.components) if not (low[j] <= s2[j] and upper[j] <= high[j])]
        if outside:
            j = max(outside, key=lambda i: abs(math.log(max(s2[i], 1e-300) / spec.variance[i])))
            direction = "too little" if s2[j] < low[j] else "too much"
            shown = s2[j] if s2[j] < low[j] else upper[j]
            problems.append(
                f"{sentence(what)}, {spec.labels[j]}: {direction} spread between your {spec.calls} calls: their "
                f"standard deviation is {math.sqrt(shown):.4g}, where the estimator asked for has "
                f"{math.sqrt(spec.variance_low[j]):.4g}"
                + (f" to {math.sqrt(spec.variance[j]):.4g}" if spec.variance[j] > spec.variance_low[j] else "")
                + f" (a correct one lands between {math.sqrt(low[j]):.4g} and {math.sqrt(high[j]):.4g} with "
                f"probability above {1 - spec.delta:.7f}). Check the number of samples, that each sample has its own "
                "independent noise, and that it is the estimator the docstring describes.")
    center = spec.center(estimates)
    tolerance = spec.mean_tolerance()
    excess = np.abs(center - spec.truth) - tolerance
    worst = int(np.argmax(np.where(np.isnan(excess), np.inf, excess)))
    if not excess[worst] <= 0:  # also catches NaN
        statistic = "the median of your calls' block averages" if spec.robust else "the average of your calls"
        problems.append(
            f"{sentence(what)}, {spec.labels[worst]}: expected {spec.truth[worst]:.5g} on average; {statistic} "
            f"({spec.calls} calls) is {center[worst]:.5g}. A correct estimator lands within "
            f"±{tolerance[worst]:.3g} of the expected value with probability above {1 - spec.delta:.7f}, so this "
            "is not bad luck: look for a bias.")
    return problems


def passing_alternative(spec: StatSpec, estimates: np.ndarray | None, what: str) -> StatSpec | None:
    """The first alternative hypothesis whose tests the calls pass (an alternative with its own estimates is judged
    on those; the others on ``estimates``, None when the recorded calls could not be read)."""
    for alternative in spec.alternatives:
        own = estimates if alternative.estimates is None else alternative.estimates
        if own is None:
            continue
        own = np.asarray(own, np.float64).reshape(alternative.calls, -1)
        if not identical_calls(own) and not failures(alternative, own, what):
            return alternative
    return None


def judge_estimates(spec: StatSpec, estimates: np.ndarray, what: str) -> str | None:
    """Raise CheckFailure unless the calls pass every test of ``spec`` or of one of its alternatives; return the
    passing alternative's note (None when the main hypothesis passes)."""
    estimates = np.asarray(estimates, np.float64).reshape(spec.calls, -1)
    if identical_calls(estimates):
        problems = [
            f"{sentence(what)}: all {spec.calls} calls returned exactly the same value. The function must draw "
            "fresh random noise on every call: no fixed seed inside it (torch.manual_seed, a seeded Generator), "
            "no noise drawn once and reused, and no exact (noise-free) answer."]
    else:
        problems = failures(spec, estimates, what)
    if not problems:
        return None
    alternative = passing_alternative(spec, estimates, what)
    if alternative is not None:
        return alternative.note or None
    raise CheckFailure(problems[0])


def unless_recorded(statistics: Callable[[dict], StatSpec | None]) -> Callable[[dict], StatSpec | None]:
    """``statistics``, except None (judged exactly, by statistical_assess's ``exact``) for a case marked
    "recorded": one whose calls also bring back the points the student's function was given, from which the judge
    recomputes the answer (score_function_gradient, iwae_bound)."""
    return lambda case: None if case.get("recorded") else statistics(case)


def not_recorded(case: dict) -> bool:
    """Judge.statistical for checks with recorded cases: which cases the judge server's warm-up prepares."""
    return not case.get("recorded")


def statistical_assess(statistics: Callable[[dict], StatSpec | None],
                       estimate: Callable[[dict, Value], np.ndarray], what: str,
                       exact: Callable[[dict, Value], None] | None = None,
                       alternatives: Callable[[dict, Value, StatSpec], tuple[StatSpec, ...]] | None = None):
    """assess() of a statistical check: extract the calls' estimates (validating each call's contract), then judge
    their mean and spread. Cases for which ``statistics`` returns None are exact and go to ``exact``.
    ``alternatives(case, value, spec)`` adds hypotheses built from what the probe recorded (one bug, one loss);
    one with its own estimates can pass even when the recorded calls break the contract (e.g. NaN from a wrong
    upstream function)."""

    def assess(case: dict, value: Value) -> str | None:
        spec = statistics(case)
        if spec is None:
            return exact(case, value)
        if alternatives is not None:
            spec = _with_alternatives(spec, alternatives(case, value, spec))
        try:
            estimates = estimate(case, value)
        except CheckFailure:
            alternative = passing_alternative(spec, None, what)
            if alternative is None:
                raise
            return alternative.note or None
        return judge_estimates(spec, estimates, what)

    return assess


def either_estimator(truth, a: dict, b: dict, delta: float, labels: list[str], calls: int,
                     robust: bool) -> StatSpec:
    """The spec of a check that allows two estimators of the same mean, with per-call moments ``a`` and ``b``
    (mean_of_samples): variance range from the smaller to the larger, the larger skewness and kurtosis."""
    return StatSpec(truth, np.maximum(a["variance"], b["variance"]), delta, labels, calls=calls,
                    variance_low=np.minimum(a["variance"], b["variance"]),
                    skewness=np.maximum(np.abs(a["skewness"]), np.abs(b["skewness"])),
                    kurtosis=np.maximum(a["kurtosis"], b["kurtosis"]), robust=robust)


SCALING_DELTA = 1e-7  # false-failure rate of one scaling case (outside DELTA's split: one such case per check call)
SCALING_MIN_THRESHOLD = 2.4  # tests/test_grading_correctness_power.py: every drawn scaling case keeps this power


def scaling_threshold(judge_def, case: dict) -> float:
    """The smallest ratio var(calls at sizes[0]) / var(calls at sizes[1]) (variances summed over the components)
    that a correct estimator shows with probability above 1 - SCALING_DELTA. An average of n independent samples
    has variance V / n, so the expected ratio is r = sizes[1] / sizes[0] for every allowed estimator; the log of a
    sample variance of m calls has standard deviation about sqrt((kappa + 2) / (m - 1)), kappa the calls' excess
    kurtosis. For the sum over components, sd(sum_j s_j^2) <= sum_j sd(s_j^2) (Cauchy-Schwarz, whatever their
    correlation) gives kappa + 2 <= (sum_j w_j sqrt(kappa_j + 2))^2 with w_j = sigma_j^2 / sum_k sigma_k^2, from
    the judge's statistics at the smaller size (an average of n samples has kurtosis kappa_1 / n: smaller at the
    larger size)."""
    small, big = case["sample_sizes"]
    ratio, m = big / small, case["calls"]
    spec = judge_def.statistics(dict(case, n_samples=small, delta=SCALING_DELTA))
    weights = np.asarray(spec.variance, np.float64) / float(np.sum(spec.variance))
    kurtosis = np.maximum(np.asarray(spec.kurtosis, np.float64), 0.0)

    def effective(k: np.ndarray) -> float:  # kappa + 2 of the summed variance, bounded as above
        return float(np.sum(weights * np.sqrt(k + 2))) ** 2

    spread = math.sqrt((effective(kurtosis) + effective(kurtosis * small / big)) / (m - 1))
    return ratio * math.exp(-normal_quantile(1 - SCALING_DELTA) * spread)


def assess_scaling(judge_def, case: dict, value: Value) -> None:
    """Judge a scaling case: the calls' spread must shrink like 1 / n_samples between the two sizes. A function
    that ignores n_samples gives a ratio near 1, which passes a threshold T with probability about
    1 - Phi(ln T / sqrt(4 / (m - 1))) for near-normal calls: under 1e-4 for T >= 2.4 and m = 80 (the graded cases
    have T near 3: under 1e-6)."""
    small, big = case["sample_sizes"]
    if value is None or value.kind != "tuple" or len(value.items) != 2:
        raise CheckFailure("The test did not get the results of both sample sizes.")
    totals = []
    for n, item in zip((small, big), value.items, strict=True):
        estimates = np.asarray(judge_def.estimate(dict(case, n_samples=n), item), np.float64)
        totals.append(float(estimates.reshape(case["calls"], -1).var(0, ddof=1).sum()))
    if totals[1] == 0.0:
        return None  # no spread at all at the larger size: the other cases say what is wrong
    threshold = scaling_threshold(judge_def, case)
    if not totals[0] / totals[1] >= threshold:
        raise CheckFailure(
            f"{sentence(judge_def.what)}: the spread between calls does not shrink with n_samples. Called "
            f"{case['calls']} times with n_samples = {small} and {case['calls']} times with n_samples = {big}, the "
            f"variance of your results went from {totals[0]:.4g} to {totals[1]:.4g}, a ratio of "
            f"{totals[0] / totals[1]:.3g}. An average of n independent samples has variance proportional to 1/n, "
            f"so a correct estimator gives about {big / small:g} (above {threshold:.3g} with probability above "
            f"{1 - SCALING_DELTA:.7f}). Use n_samples samples: not a fixed number, and not one sample reused.")
    return None


def _with_alternatives(spec: StatSpec, extra: tuple[StatSpec, ...]) -> StatSpec:
    import dataclasses

    return dataclasses.replace(spec, alternatives=tuple(spec.alternatives) + tuple(extra)) if extra else spec


# ----------------------------------------------------------------------------------------------------------
# Moments by quadrature
# ----------------------------------------------------------------------------------------------------------
def expectation(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """sum_i weights_i values_i over the first axis. By einsum, not BLAS: a multi-threaded BLAS call on a busy
    machine spins (measured 20x slower on the 2-core grading machine)."""
    return np.einsum("i,i...->...", weights, values)


def moments(weights: np.ndarray, values: np.ndarray) -> dict[str, np.ndarray]:
    """Mean, variance, skewness and excess kurtosis of ``values`` (nodes, ...) under the quadrature ``weights``."""
    mean = expectation(weights, values)
    centred = values - mean
    square = centred * centred
    variance = expectation(weights, square)
    safe = np.where(variance > 0, variance, 1.0)
    skewness = expectation(weights, square * centred) / safe**1.5
    kurtosis = expectation(weights, square * square) / safe**2 - 3.0
    return {"mean": mean, "variance": variance, "skewness": np.where(variance > 0, skewness, 0.0),
            "kurtosis": np.where(variance > 0, kurtosis, 0.0)}


def mean_of_samples(single: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """The moments of an average of n i.i.d. samples from the single-sample moments."""
    return {"mean": single["mean"], "variance": single["variance"] / n,
            "skewness": single["skewness"] / math.sqrt(n), "kurtosis": single["kurtosis"] / n}
