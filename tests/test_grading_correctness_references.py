"""The judges' own formulas are checked against independent implementations: torch.distributions, scipy, finite
differences, finer quadrature and simulation.

* Every exact check passes an implementation written with torch.distributions (or the identity log p(x) =
  ELBO + KL for lg_elbo) under several grading seeds, and fails the same answer moved by a small relative error.
* The grader's truths and variances for the statistical checks: the analytic moments of ps1's Monte Carlo estimate
  against scipy quadrature, the 2-D grid against a grid twice as fine, the decoder gradient against finite
  differences of the expected log-likelihood, the score-function and pathwise variances against the table of
  shared/notes/statistical-grading.md, and the leave-one-out variance formula against simulation.
* The tests' stated rates by simulation: the chi^2 spread bounds at the near-normal limit (1e-3 and 1e-4), the
  chi^2 lower side, the distribution-free upper side and the Cornish-Fisher mean test on heavy-tailed calls (the
  cubic score function at 50 samples, IWAE calls resampled from a reference run), and the median of means on
  single samples, at the 1e-3 level.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import (
    Bernoulli,
    Categorical,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
    kl_divergence,
)

from autograder.judging import JUDGES, prepared_cases
from autograder.judging.compare import normal_grid
from autograder.judging.ps3_elbo import elbo_moments
from autograder.judging.ps4_gradients import _decoder_moments
from autograder.judging.statistics import StatSpec, median_of_means_plan
from tests.submissions.harness import run_check

SEEDS = (501, 502, 503)
NUDGE = 1e-2  # a relative error every exact check must notice


def _f64(t):
    return t.double() if isinstance(t, torch.Tensor) else torch.tensor(float(t), dtype=torch.float64)


def torch_loglik(x, mu, sigma):
    return Normal(_f64(mu), _f64(sigma)).log_prob(x.double()).sum()


def torch_lse(a, dim):
    return torch.logsumexp(a.double(), dim)


def torch_mixture(x, log_weights, means, sigmas):
    mixture = MixtureSameFamily(Categorical(logits=log_weights.double()), Normal(means.double(), sigmas.double()))
    return mixture.log_prob(x.double())


def torch_mc_given_z(x, log_likelihood, n_samples, z=None):
    return torch.logsumexp(log_likelihood(x.double()[None, :], z.double()[:, None]), 0) - math.log(len(z))


def torch_kl(mu, log_var):
    q = Normal(mu.double(), torch.exp(0.5 * log_var.double()))
    return kl_divergence(q, Normal(torch.zeros_like(q.loc), torch.ones_like(q.loc))).sum(-1)


def torch_bernoulli(x, logits):
    logits = logits.double()
    return Bernoulli(logits=logits, validate_args=False).log_prob(x.double().expand_as(logits)).sum(-1)


def _marginal(W, b, noise_std):
    return MultivariateNormal(b, W @ W.T + noise_std**2 * torch.eye(len(b), dtype=W.dtype))


def torch_lg_log_marginal(x, W, b, noise_std):
    return _marginal(W, b, noise_std).log_prob(x)


def torch_lg_posterior(x, W, b, noise_std):
    """Conditioning the joint Gaussian of (z, x) (Schur complement), not the posterior formula of the notebook."""
    k = W.shape[1]
    cross = W.T  # Cov(z, x)
    cov_x = _marginal(W, b, noise_std).covariance_matrix
    gain = torch.linalg.solve(cov_x, cross.T).T
    return gain @ (x - b), torch.eye(k, dtype=W.dtype) - gain @ cross.T


def torch_kl_full(mu0, cov0, mu1, cov1):
    return kl_divergence(MultivariateNormal(mu0, cov0), MultivariateNormal(mu1, cov1))


def torch_lg_elbo(x, W, b, noise_std, q_mean, q_cov):
    """The identity of Chapter 5: ELBO = log p(x) - KL(q || p(z | x))."""
    m, S = torch_lg_posterior(x, W, b, noise_std)
    return torch_lg_log_marginal(x, W, b, noise_std) - torch_kl_full(q_mean, q_cov, m, S)


REFERENCES = {"gaussian_log_likelihood": torch_loglik, "log_sum_exp": torch_lse, "mixture_log_marginal": torch_mixture,
              "mc_log_marginal_given_z": torch_mc_given_z, "gaussian_kl": torch_kl,
              "bernoulli_log_likelihood": torch_bernoulli, "lg_log_marginal": torch_lg_log_marginal,
              "lg_posterior": torch_lg_posterior, "gaussian_kl_full": torch_kl_full, "lg_elbo": torch_lg_elbo}


def _nudged(reference):
    def nudged(*args, **kwargs):
        result = reference(*args, **kwargs)
        if isinstance(result, tuple):
            return (result[0] * (1 + NUDGE) + NUDGE, *result[1:])
        return torch.where(torch.isfinite(result), result * (1 + NUDGE) + NUDGE, result)

    return nudged


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_exact_judge_agrees_with_an_independent_implementation(name):
    for seed in SEEDS:
        for kind in ("hidden", "visible"):
            verdict = run_check(name, REFERENCES[name], seed, kind)
            assert verdict.passed, f"{name}: the judge disagrees with torch.distributions (seed {seed}): " \
                                   f"{verdict.message}"
        assert not run_check(name, _nudged(REFERENCES[name]), seed).passed, f"{name} accepts a {NUDGE:.0%} error"


def test_mc_marginal_moments_match_scipy_quadrature():
    from scipy.integrate import quad

    for _, case in enumerate(prepared_cases("mc_log_marginal", 504, "hidden")):
        spec = JUDGES["mc_log_marginal"].statistics(dict(case, n_samples=1))
        x = np.float32(case["x"]).astype(np.float64)
        w, b, s = case["w"], case["b"], case["s"]
        for j, point in enumerate(x):
            def density(z, k, point=point, w=w, b=b, s=s):
                p = math.exp(-0.5 * (point - (w * z + b)) ** 2 / s**2) / math.sqrt(2 * math.pi * s**2)
                return p**k * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

            raw = [quad(density, -12, 12, args=(k,), epsabs=0, epsrel=1e-11, limit=200)[0] for k in (1, 2)]
            assert spec.truth[j] == pytest.approx(raw[0], rel=1e-8)
            assert spec.variance[j] == pytest.approx(raw[1] - raw[0] ** 2, rel=1e-7)


@pytest.mark.parametrize("name", ["elbo", "iwae_bound", "decoder_gradient"])
def test_grid_quadrature_is_accurate(name, monkeypatch):
    """The step-0.1 grid against a step-0.05 grid: truths to 1e-6 relative, variances to 1e-4."""
    from autograder.judging import compare, ps3_elbo, ps4_gradients

    moments = elbo_moments if name != "decoder_gradient" else _decoder_moments
    for case in prepared_cases(name, 505, "hidden")[:4]:
        if "n_samples" in case and name == "iwae_bound" and case["n_samples"] > 1:
            continue
        coarse = moments(case)
        fine_grid = compare.normal_grid(2, step=0.05)
        for module in (ps3_elbo, ps4_gradients):
            monkeypatch.setattr(module, "normal_grid", lambda dim, grid=fine_grid: grid)
            for cache in ("_ELBO_CACHE", "_DECODER_CACHE"):
                if hasattr(module, cache):
                    monkeypatch.setattr(module, cache, {})
        fine = moments(case)
        monkeypatch.undo()
        for form in [k for k in coarse if isinstance(coarse[k], dict)]:
            np.testing.assert_allclose(coarse[form]["mean"], fine[form]["mean"], rtol=1e-6, atol=1e-8)
            np.testing.assert_allclose(coarse[form]["variance"], fine[form]["variance"], rtol=1e-4, atol=1e-10)


def test_decoder_truth_is_the_gradient_of_the_expected_log_likelihood():
    """Central finite differences of E_q[sum_i log p(x_i | z)] (the grid, in float64) in each decoder parameter."""
    case = prepared_cases("decoder_gradient", 506, "hidden")[0]
    truth = _decoder_moments(case)["independent"]["mean"]
    nodes, weights = normal_grid(2)
    f32 = {k: np.float32(case[k]).astype(np.float64) for k in ("x", "mu", "log_var", "weight", "bias")}
    z = f32["mu"] + np.exp(0.5 * f32["log_var"]) * nodes[:, None, :]

    def expected(weight, bias):
        logits = np.einsum("mbk,jk->mbj", z, weight) + bias
        return float(np.einsum("m,m->", weights, (f32["x"] * logits - np.logaddexp(0, logits)).sum((1, 2))))

    h = 1e-5
    numeric = []
    for index in np.ndindex(f32["weight"].shape):
        step = np.zeros_like(f32["weight"])
        step[index] = h
        numeric.append((expected(f32["weight"] + step, f32["bias"]) - expected(f32["weight"] - step, f32["bias"]))
                       / (2 * h))
    for j in range(len(f32["bias"])):
        step = np.zeros_like(f32["bias"])
        step[j] = h
        numeric.append((expected(f32["weight"], f32["bias"] + step) - expected(f32["weight"], f32["bias"] - step))
                       / (2 * h))
    np.testing.assert_allclose(truth, numeric, rtol=1e-5, atol=1e-7)


def _estimator_case(kind: str, k: float, n: int = 1) -> StatSpec:
    case = {"coeffs": [k * k, -2 * k, 1.0], "mu": 1.0, "sigma": 1.0, "n_samples": n, "calls": 40, "delta": 1e-6}
    return JUDGES[f"{kind}_gradient" if kind == "pathwise" else "score_function_gradient"].statistics(case)


def test_estimator_variances_match_the_notes_table():
    """shared/notes/statistical-grading.md at mu = sigma = 1, f = (z - k)^2: a = 1 - k; pathwise 4 and 4a^2 + 8,
    score function a^4 + 14 a^2 + 15 and 2a^4 + 60a^2 + 74; truths (2a, 2). The score-function check's variance
    range also holds the leave-one-out estimator's, so only its largest value is the plain estimator's."""
    for k in (0.0, 1.0, 3.0, 10.0):
        a = 1 - k
        path, score = _estimator_case("pathwise", k), _estimator_case("score", k)
        np.testing.assert_allclose(path.truth, [2 * a, 2.0], rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(path.variance, [4.0, 4 * a**2 + 8], rtol=1e-10)
        plain = np.array([a**4 + 14 * a**2 + 15, 2 * a**4 + 60 * a**2 + 74])
        assert np.all(score.variance >= plain * (1 - 1e-10)) and np.all(score.variance_low <= plain * (1 + 1e-10))


@pytest.mark.parametrize("n", [2, 5])
def test_leave_one_out_variance_formula_matches_simulation(n):
    """The variance of the score-function estimate with the leave-one-out baseline (the unbiased sample covariance
    of f and the score), simulated with 400,000 estimates at mu = sigma = 1, f = (z - 1.5)^2."""
    spec = _estimator_case("score", 1.5, n)
    rng = np.random.default_rng(7)
    eps = rng.standard_normal((400_000, n))
    f = (1.0 + eps - 1.5) ** 2
    scores = [eps, eps**2 - 1]
    baseline = (f.sum(1, keepdims=True) - f) / (n - 1)
    loo = np.stack([((f - baseline) * s).mean(1) for s in scores], -1)
    plain = np.stack([(f * s).mean(1) for s in scores], -1)
    for j in range(2):
        np.testing.assert_allclose([spec.variance_low[j], spec.variance[j]],
                                   sorted([loo.var(0)[j], plain.var(0)[j]]), rtol=0.02)


def _heavy_calls(rng, runs: int, calls: int, n: int) -> np.ndarray:
    """Per-call score-function estimates d/dsigma for a cubic f at mu = 0.5, sigma = 1.6 (heavy-tailed single
    samples: excess kurtosis about 1,100), runs x calls of n samples each."""
    chunks = []
    for start in range(0, runs, 1000):
        eps = rng.standard_normal((min(1000, runs - start), calls, n))
        z = 0.5 + 1.6 * eps
        f = 0.3 * z**3 - z**2 + 0.5 * z + 1.0
        chunks.append((f * (eps**2 - 1) / 1.6).mean(-1))
    return np.concatenate(chunks)


def _rate_bound(level: float, runs: int) -> float:
    """What a test of rate ``level`` may show in ``runs`` simulated runs: 1.5x, plus 4 binomial standard errors."""
    return 1.5 * level + 4 * math.sqrt(level / runs)


def _near_normal_calls(rng, kind: str, shape) -> np.ndarray:
    """Standardized calls at the near-normal limit: a gamma with skewness 0.1, a Student t with excess kurtosis
    0.05, and a mix of the two with both."""
    if kind == "skewed":
        return (rng.gamma(400.0, size=shape) - 400.0) / 20.0
    if kind == "heavy":
        return rng.standard_t(124.0, size=shape) / math.sqrt(124.0 / 122.0)
    a = 0.5 ** (1 / 3)
    b = math.sqrt(1 - a * a)
    dof = 6 / ((0.05 - a**4 * 0.06) / b**4) + 4
    return a * (rng.gamma(100.0, size=shape) - 100.0) / 10.0 + b * rng.standard_t(dof, size=shape) / math.sqrt(
        dof / (dof - 2))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["skewed", "heavy", "both"])
def test_chi_square_spread_bounds_hold_at_the_near_normal_limit(kind):
    """40 calls, 400,000 simulated runs: each side set to 1e-3 and 1e-4 fails at most _rate_bound of them (the upper
    side, computed at a tenth of its budget, far less)."""
    rng = np.random.default_rng(13)
    runs = 400_000
    s2 = np.concatenate([_near_normal_calls(rng, kind, (50_000, 40)).var(1, ddof=1) for _ in range(runs // 50_000)])
    for level in (1e-3, 1e-4):
        spec = StatSpec([0.0], [1.0], 4 * level, ["x"], calls=40, skewness=0.1, kurtosis=0.05)
        assert spec.near_normal()[0]
        low, high = spec.spread_bounds()
        assert np.mean(s2 < low[0]) <= _rate_bound(level, runs)
        assert np.mean(s2 > high[0]) <= _rate_bound(level / 10, runs)


def test_heavy_tails_keep_the_spread_and_mean_tests_conservative():
    """Calls far from normal (n = 50 samples of the cubic score-function estimate: one call's excess kurtosis 23,
    skewness 2.2, far beyond any graded case), 40 calls, 20,000 simulated runs: the chi^2 lower side, the
    distribution-free upper side and the Cornish-Fisher mean test, each set to 1e-3, fail at most _rate_bound."""
    case = {"coeffs": [1.0, 0.5, -1.0, 0.3], "mu": 0.5, "sigma": 1.6, "n_samples": 50, "calls": 40, "delta": 1.0}
    spec = JUDGES["score_function_gradient"].statistics(case)
    j, runs, level = 1, 20_000, 1e-3  # d/dsigma
    one = StatSpec(spec.truth[j], spec.variance[j], 4 * level, ["d/dsigma"], calls=40, skewness=spec.skewness[j],
                   kurtosis=spec.kurtosis[j])
    assert not one.near_normal()[0] and float(one.kurtosis[0]) > 10
    estimates = _heavy_calls(np.random.default_rng(11), runs, 40, 50)
    low, high = one.spread_bounds()
    s2, upper = one.spread_statistic(estimates[..., None])  # each (runs, 1)
    assert np.mean(s2 < low[0]) <= _rate_bound(level, runs)
    assert np.mean(upper > high[0]) <= _rate_bound(level, runs)
    mean_spec = StatSpec(spec.truth[j], spec.variance[j], level, ["d/dsigma"], calls=40, spread=False,
                         skewness=spec.skewness[j], kurtosis=spec.kurtosis[j])
    misses = np.abs(estimates.mean(1) - spec.truth[j]) > mean_spec.mean_tolerance()[0]
    assert np.mean(misses) <= _rate_bound(level, runs)


@pytest.mark.slow
def test_iwae_calls_keep_the_spread_and_mean_tests_conservative():
    """The heaviest-tailed graded calls: one IWAE K = 8 estimate on the network of the hidden pool with the largest
    excess kurtosis (about 21, skewness -3.4). 100,000 reference estimates are resampled into 100,000 runs of 200
    calls; each test set to 1e-3 fails at most _rate_bound of them."""
    from autograder.judging.ps3_elbo import _iwae_reference
    from autograder.judging.statistics import moments
    from autograder.student.cases.common import as_tensor
    from autograder.student.cases.ps3_elbo import iwae_pool, tiny_vae_modules
    from vaelib.probability import iwae_bound

    pool = [dict(network, n_samples=8) for pair in iwae_pool() for network in pair]  # every hidden K = 8 network
    case = max(pool, key=lambda network: float(np.max(_iwae_reference(network)["kurtosis"])))
    encoder, decoder = tiny_vae_modules(case)
    torch.manual_seed(3)
    with torch.no_grad():
        draws = iwae_bound(as_tensor(np.float32(case["x"])).repeat(100_000, 1), encoder, decoder, 8)
    draws = draws.reshape(100_000, -1).double().numpy()
    found = moments(np.full(len(draws), 1 / len(draws)), draws)
    assert float(np.max(found["kurtosis"])) > 10
    runs, level, calls = 100_000, 1e-3, 200
    spec = StatSpec(found["mean"], found["variance"], 4 * level, ["a", "b", "c"], calls=calls,
                    skewness=found["skewness"], kurtosis=found["kurtosis"])
    mean_spec = StatSpec(found["mean"], found["variance"], level, ["a", "b", "c"], calls=calls, spread=False,
                         skewness=found["skewness"], kurtosis=found["kurtosis"])
    low, high = spec.spread_bounds()
    rng = np.random.default_rng(9)
    low_fails = high_fails = mean_fails = 0
    for _ in range(runs // 5_000):
        sample = draws[rng.integers(0, len(draws), size=(5_000, calls))]  # (runs, calls, components)
        s2, upper = spec.spread_statistic(sample)
        low_fails += int((s2 < low).sum())
        high_fails += int((upper > high).sum())
        mean_fails += int((np.abs(sample.mean(1) - found["mean"]) > mean_spec.mean_tolerance()).sum())
    for fails in (low_fails, high_fails, mean_fails):
        assert fails / (runs * 3) <= _rate_bound(level, runs * 3)


def test_median_of_means_holds_its_rate_on_single_samples():
    """The robust mean test at n = 1 (the heaviest tails), planned for 1e-3 with 40 calls: at most 2e-3 of 20,000
    simulated runs fail; the plan's binomial bound itself is checked too."""
    from scipy.stats import binom

    t, blocks = median_of_means_plan(40, 1e-3)
    assert binom.sf(math.ceil(blocks / 2) - 1, blocks, 1 / t**2) <= 1e-3
    case = {"coeffs": [1.0, 0.5, -1.0, 0.3], "mu": 0.5, "sigma": 1.6, "n_samples": 1, "calls": 40, "delta": 1.0}
    spec = JUDGES["score_function_gradient"].statistics(case)
    robust = StatSpec(spec.truth[1], spec.variance[1], 1e-3, ["d/dsigma"], calls=40, robust=True)
    estimates = _heavy_calls(np.random.default_rng(12), 20_000, 40, 1)
    centers = np.array([robust.center(e[:, None])[0] for e in estimates])
    assert np.mean(np.abs(centers - robust.truth[0]) > robust.mean_tolerance()[0]) <= 2e-3


def test_quantiles_equal_scipy_stats():
    """The judges take chi^2, binomial and normal quantiles from scipy.special (importing scipy.stats cost every judge
    process ~0.8 CPU-s); they must equal scipy.stats' own, over the degrees of freedom and deltas graded."""
    from scipy.stats import binom, chi2, norm

    from autograder.judging.statistics import CHI2_UPPER_MARGIN, normal_quantile

    nu = np.array([1.3, 5.0, 19.7, 39.0, 199.0, 1999.5])
    for delta in (1e-3, 1e-6, 1e-8, 1e-9):
        spec = StatSpec(np.ones(6), np.ones(6), delta, [f"c{i}" for i in range(6)], calls=40,
                        skewness=np.zeros(6), kurtosis=np.zeros(6))
        spec.degrees_of_freedom = lambda nu=nu: nu  # the quantiles at chosen degrees of freedom
        d = spec.spread_delta()
        low, high = spec.spread_bounds()
        np.testing.assert_allclose(low, chi2.ppf(d, nu) / nu, rtol=1e-12)
        np.testing.assert_allclose(high, chi2.isf(d / CHI2_UPPER_MARGIN, nu) / nu, rtol=1e-12)
        assert normal_quantile(delta) == pytest.approx(float(norm.ppf(delta)), rel=1e-14)
    t, k = median_of_means_plan(40, 1e-6)
    assert binom.sf(math.ceil(k / 2) - 1, k, 1 / t**2) <= 1e-6
