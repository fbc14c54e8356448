"""ps1_likelihood: how each check's returned values are judged (grader side only, never mounted in the sandbox).

The cases are drawn by autograder/student/cases/ps1_likelihood.py from the same seed.
"""

from __future__ import annotations

import numpy as np

from .base import Judge, register_judge
from .compare import (
    StatSpec,
    expect_close,
    expect_items,
    expect_scalar,
    expect_tensor,
    logsumexp,
    statistical_assess,
)
from .sections import Reading


def _gaussian_log_likelihood_assess(case, value):
    x, mu, sigma = np.float32(case["x"]).astype(np.float64), case["mu"], case["sigma"]
    expected = np.sum(-0.5 * np.log(2 * np.pi * sigma**2) - (x - mu) ** 2 / (2 * sigma**2))
    expect_close(expect_scalar(value, "the log-likelihood"), expected, rtol=1e-4, atol=1e-4,
                 what="the log-likelihood")


register_judge(Judge(
    name="gaussian_log_likelihood",
    assess=_gaussian_log_likelihood_assess,
    section=(Reading("ch1-log-likelihood-section", "The log-likelihood"),),
    what="sum_i log N(x_i | mu, sigma^2) with sigma a standard deviation, one number for the whole data set",
))


def _log_sum_exp_assess(case, value):
    a = np.float32(case["a"]).astype(np.float64)
    expected = logsumexp(a, axis=case["dim"])
    actual = expect_tensor(value, shape=expected.shape, what=f"log-sum-exp over dim {case['dim']}")
    expect_close(actual, expected, rtol=1e-5, atol=1e-4, what="the log-sum-exp")


register_judge(Judge(
    name="log_sum_exp",
    assess=_log_sum_exp_assess,
    section=(Reading("ch1-logsumexp-section", "Adding probabilities in log space: log-sum-exp"),),
    what="log(sum(exp(a))) along one dimension, without overflow for entries near ±1000 and with -inf entries",
))


def _gaussian_mle_assess(case, value):
    x = np.float32(case["x"]).astype(np.float64)
    mu_hat, sigma_hat = expect_items(value, 2, "(mu_hat, sigma_hat)")
    expect_close(expect_scalar(mu_hat, "mu_hat"), x.mean(), rtol=1e-4, atol=1e-5, what="mu_hat")
    expect_close(expect_scalar(sigma_hat, "sigma_hat"), x.std(), rtol=1e-4, atol=1e-5,
                 what="sigma_hat (a standard deviation, the maximum-likelihood one)")


register_judge(Judge(
    name="gaussian_mle",
    assess=_gaussian_mle_assess,
    section=(Reading("ch1-gradient-ascent", "Maximum likelihood by gradient ascent"),),
    what="the maximum-likelihood (mu, sigma) of a Gaussian: the sample mean and the 1/n standard deviation",
))


def _mixture_assess(case, value):
    x = np.float32(case["x"]).astype(np.float64)[:, None]
    lw, mu, sigma = (np.float32(case[k]).astype(np.float64) for k in ("log_weights", "means", "sigmas"))
    log_joint = lw - 0.5 * np.log(2 * np.pi * sigma**2) - (x - mu) ** 2 / (2 * sigma**2)  # (n, K)
    expected = logsumexp(log_joint, axis=1)
    actual = expect_tensor(value, shape=expected.shape, what="log p(x) (one number per data point)")
    expect_close(actual, expected, rtol=1e-4, atol=1e-4, what="log p(x)")


register_judge(Judge(
    name="mixture_log_marginal",
    assess=_mixture_assess,
    section=(Reading("ch2-marginal-section", "The marginal likelihood is an integral"),),
    what="log p(x) = log sum_c pi_c N(x | mu_c, sigma_c^2) per data point (sigmas are standard deviations), "
         "computed stably in log space",
))


def _mc_given_z_assess(case, value):
    x = np.float32(case["x"]).astype(np.float64)
    z = np.float32(case["z"]).astype(np.float64)[:, None]
    s = case["s"]
    log_lik = -0.5 * np.log(2 * np.pi * s**2) - (x - (case["w"] * z + case["b"])) ** 2 / (2 * s**2)  # (S, batch)
    expected = logsumexp(log_lik, axis=0) - np.log(len(z))
    actual = expect_tensor(value, shape=expected.shape, what="the estimate of log p(x) (one per data point)")
    expect_close(actual, expected, rtol=1e-4, atol=1e-3, what="the estimate of log p(x) from the given z")


register_judge(Judge(
    name="mc_log_marginal_given_z",
    assess=_mc_given_z_assess,
    section=(Reading("ch2-naive-mc", "Naive Monte Carlo over the prior"),),
    what="log (1/S) sum_s p(x | z_s) for the given prior samples z_s, computed in log space (log-mean-exp)",
))


def _mc_marginal_statistics(case):
    """Estimate: p_hat(x) = exp(returned value) = (1/n) sum_s p(x | z_s), unbiased for p(x) when z_s ~ p(z).

    Truth p(x) = N(x | b, w^2 + s^2). Single-sample variance (analytic): E[p(x|z)^2] - p(x)^2 with
    E_z[N(x | w z + b, s^2)^2] = N(x | b, w^2 + s^2 / 2) / (2 sqrt(pi) s). n = 20,000 prior samples.
    delta = 1e-6 over 3 cases x 4 points (z = 5.7). Power against 'z from torch.rand instead of N(0, 1)', measured
    by tests/test_grading_correctness_power.py (worst of 10 case draws, best point): |b| = 0.027 against a tolerance
    z sd = 0.0069 (the mutant's own sd 0.0009): power 1 - 1e-12 or better."""
    x, w, b, s = np.float32(case["x"]).astype(np.float64), case["w"], case["b"], case["s"]

    def normal(v, var):
        return np.exp(-0.5 * (v - b) ** 2 / var) / np.sqrt(2 * np.pi * var)

    p = normal(x, w**2 + s**2)
    second = normal(x, w**2 + s**2 / 2) / (2 * np.sqrt(np.pi) * s)
    return StatSpec(p, np.sqrt((second - p**2) / case["n_samples"]), case["delta"],
                    [f"data point {i + 1} (x = {v:.3g})" for i, v in enumerate(x)])


def _mc_marginal_estimate(case, value):
    return np.exp(expect_tensor(value, shape=(len(case["x"]),), what="the estimate of log p(x)"))


register_judge(Judge(
    name="mc_log_marginal",
    assess=statistical_assess(_mc_marginal_statistics, _mc_marginal_estimate, "exp(your estimate of log p(x))"),
    statistics=_mc_marginal_statistics,
    estimate=_mc_marginal_estimate,
    section=(Reading("ch2-naive-mc", "Naive Monte Carlo over the prior"),),
    what="with z drawn from the prior N(0, 1) by your function, exp(estimate) is an unbiased estimate of p(x)",
))
