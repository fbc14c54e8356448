"""ps1_likelihood: how each check's returned values are judged (grader side only, never mounted in the sandbox).

The cases are drawn by autograder/student/cases/ps1_likelihood.py from the same seed.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import upstream
from .base import CheckFailure, Judge, register_judge
from .compare import expect_calls, expect_close, expect_items, expect_scalar, expect_tensor, logsumexp
from .sections import Reading
from .statistics import StatSpec, mean_of_samples, statistical_assess


def _gaussian_log_likelihood_assess(case, value):
    x, mu, sigma = np.float32(case["x"]).astype(np.float64), case["mu"], case["sigma"]
    expected = np.sum(-0.5 * np.log(2 * np.pi * sigma**2) - (x - mu) ** 2 / (2 * sigma**2))
    expect_close(expect_scalar(value, "the log-likelihood"), expected, rtol=1e-4, atol=1e-4,
                 what="the log-likelihood")


register_judge(Judge(
    name="gaussian_log_likelihood",
    assess=_gaussian_log_likelihood_assess,
    section=(Reading("ch1-log-likelihood-section", "The log-likelihood"),),
    what="sum_i log N(x_i | mu, sigma^2) with sigma a standard deviation (mu and sigma given as 0-dim tensors or "
         "Python floats), one 0-dim tensor for the whole data set",
))


def _log_sum_exp_assess(case, value):
    a = np.float32(case["a"]).astype(np.float64)
    with np.errstate(divide="ignore"):
        expected = logsumexp(a, axis=case["dim"])  # -inf for a slice that is entirely -inf
    shape = tuple(a.shape)
    actual = expect_tensor(value, shape=expected.shape, infinite_ok=True,
                           what=f"log-sum-exp over dim {case['dim']} of an array of shape {shape}")
    expect_close(actual, expected, rtol=1e-5, atol=1e-4,
                 what=f"the log-sum-exp over dim {case['dim']} of an array of shape {shape}"
                      + (" (a slice that is entirely -inf must give -inf)" if np.isinf(expected).any() else ""))


register_judge(Judge(
    name="log_sum_exp",
    assess=_log_sum_exp_assess,
    section=(Reading("ch1-logsumexp-section", "Adding probabilities in log space: log-sum-exp"),),
    what="log(sum(exp(a))) along any dimension of any shape, without overflow for entries near ±1000, with -inf "
         "entries and slices that are entirely -inf (giving -inf)",
))


def _gaussian_mle_assess(case, value):
    x = np.float32(case["x"]).astype(np.float64)
    mu_hat, sigma_hat = expect_items(value, 2, "(mu_hat, sigma_hat)", kinds=("tuple",))
    expect_close(expect_scalar(mu_hat, "mu_hat"), x.mean(), rtol=1e-4, atol=1e-5, what="mu_hat")
    expect_close(expect_scalar(sigma_hat, "sigma_hat"), x.std(), rtol=1e-4, atol=1e-5,
                 what="sigma_hat (a standard deviation, the maximum-likelihood one)")


register_judge(Judge(
    name="gaussian_mle",
    assess=_gaussian_mle_assess,
    section=(Reading("ch1-gradient-ascent", "Maximum likelihood by gradient ascent"),),
    what="the maximum-likelihood (mu, sigma) of a Gaussian, a tuple of two 0-dim tensors: the sample mean and the "
         "1/n standard deviation",
))


def probe_items(value, n: int) -> list:
    """The items of the tuple a probe built itself (the result, and what it recorded about upstream functions)."""
    if value is None or value.kind != "tuple" or len(value.items) != n:
        raise CheckFailure("The test did not run to the end (its results are incomplete).")
    return value.items


def right_given_lse(result, spied, matrix: np.ndarray, axis: int, offset: float) -> bool:
    """One bug, one loss: True when the function fed ``matrix`` (reduced over ``axis``; any layout that moves that
    axis to the reduced dim is fine) to the student's log_sum_exp, which returned something wrong, and returned
    that output + ``offset``: the function is right given log_sum_exp."""
    found = upstream.only_lse_call(upstream.spied_groups(spied))
    actual = upstream.array_of(result) if result is not None else None
    if found is None or actual is None:
        return False
    a, dim, out, _ = found
    fed = np.moveaxis(a, dim, -1)
    if fed.shape != np.moveaxis(matrix, axis, -1).shape:
        return False
    return upstream.same_values(fed, np.moveaxis(matrix, axis, -1), rtol=1e-4, atol=1e-4) and \
        upstream.same_values(actual, out + offset, rtol=1e-5, atol=1e-4)


def _mixture_assess(case, value):
    result, spied = probe_items(value, 2)
    x = np.float32(case["x"]).astype(np.float64)[:, None]
    lw, mu, sigma = (np.float32(case[k]).astype(np.float64) for k in ("log_weights", "means", "sigmas"))
    log_joint = lw - 0.5 * np.log(2 * np.pi * sigma**2) - (x - mu) ** 2 / (2 * sigma**2)  # (n, K)
    expected = logsumexp(log_joint, axis=1)
    try:
        actual = expect_tensor(result, shape=expected.shape, what="log p(x) (one number per data point)")
        expect_close(actual, expected, rtol=1e-4, atol=1e-4, what="log p(x)")
    except CheckFailure:
        if right_given_lse(result, spied, log_joint, axis=1, offset=0.0):
            return upstream.note("log_sum_exp", "mixture_log_marginal")
        raise
    return None


register_judge(Judge(
    name="mixture_log_marginal",
    assess=_mixture_assess,
    section=(Reading("ch2-marginal-section", "The marginal likelihood is an integral"),),
    what="log p(x) = log sum_c pi_c N(x | mu_c, sigma_c^2) per data point (sigmas are standard deviations), "
         "computed stably in log space",
))


def _mc_given_z_assess(case, value):
    result, spied = probe_items(value, 2)
    x = np.float32(case["x"]).astype(np.float64)
    z = np.float32(case["z"]).astype(np.float64)[:, None]
    s = case["s"]
    log_lik = -0.5 * np.log(2 * np.pi * s**2) - (x - (case["w"] * z + case["b"])) ** 2 / (2 * s**2)  # (S, batch)
    expected = logsumexp(log_lik, axis=0) - np.log(len(z))
    try:
        actual = expect_tensor(result, shape=expected.shape, what="the estimate of log p(x) (one per data point)")
        expect_close(actual, expected, rtol=1e-4, atol=1e-3, what="the estimate of log p(x) from the given z")
    except CheckFailure:
        if right_given_lse(result, spied, log_lik, axis=0, offset=-np.log(len(z))):
            return upstream.note("log_sum_exp", "mc_log_marginal")
        raise
    return None


register_judge(Judge(
    name="mc_log_marginal_given_z",
    assess=_mc_given_z_assess,
    section=(Reading("ch2-naive-mc", "Naive Monte Carlo over the prior"),),
    what="log (1/S) sum_s p(x | z_s) for the given prior samples z_s (S = len(z), whatever n_samples says), "
         "computed in log space (log-mean-exp)",
))


def _normal_pdf(v, mean, var):
    return np.exp(-0.5 * (v - mean) ** 2 / var) / np.sqrt(2 * np.pi * var)


def _mc_marginal_statistics(case):
    """Estimate per call: p_hat(x) = exp(returned value) = (1/n) sum_s p(x | z_s), unbiased for p(x) when z_s ~ p(z).

    Truth p(x) = N(x | b, w^2 + s^2). The single-sample moments of X = p(x | z), z ~ N(0, 1), are analytic:
    E[X^k] = (2 pi s^2)^(-(k-1)/2) k^(-1/2) N(x | b, w^2 + s^2 / k), which gives the variance, skewness and kurtosis
    of one call (n samples). Cases (ps1 cases file): n = 1 and n = 2 with 40 calls each, judged by the median of
    block means (distribution-free); n = 500 with 40 calls, judged by a z-test on the mean and the spread test.
    delta = 1e-6 over 3 cases. Power: tests/test_grading_correctness_power.py."""
    x, w, b, s = np.float32(case["x"]).astype(np.float64), case["w"], case["b"], case["s"]
    raw = [(2 * np.pi * s**2) ** (-(k - 1) / 2) / np.sqrt(k) * _normal_pdf(x, b, w**2 + s**2 / k) for k in (1, 2, 3, 4)]
    mean = raw[0]
    variance = raw[1] - mean**2
    third = raw[2] - 3 * mean * raw[1] + 2 * mean**3
    fourth = raw[3] - 4 * mean * raw[2] + 6 * mean**2 * raw[1] - 3 * mean**4
    single = {"mean": mean, "variance": variance, "skewness": third / variance**1.5,
              "kurtosis": fourth / variance**2 - 3}
    call = mean_of_samples(single, case["n_samples"])
    return StatSpec(call["mean"], call["variance"], case["delta"],
                    [f"data point {i + 1} (x = {v:.3g})" for i, v in enumerate(x)], calls=case["calls"],
                    skewness=call["skewness"], kurtosis=call["kurtosis"], robust=case["n_samples"] < 100)


def _mc_marginal_estimate(case, value):
    calls, _ = probe_items(value, 2)
    log_estimates = expect_calls(calls, case["calls"], (len(case["x"]),), "the estimate of log p(x)")
    return np.exp(log_estimates)


def _mc_marginal_alternatives(case, value, spec):
    """One bug, one loss: when the student's log_sum_exp returned wrong values inside mc_log_marginal, the calls are
    judged again with the correct log-sum-exp of what each call fed it (each call must have returned its
    log_sum_exp output - log n_samples, from a matrix (n_samples, batch) or (batch, n_samples)). Only the calls the
    probe could record are used (Spy keeps 20,000 entries)."""
    calls_value, spied = probe_items(value, 2)
    groups = upstream.spied_groups(spied)
    if groups is None or calls_value.kind not in ("repeated", "calls"):
        return ()
    results = ([calls_value.array[i] for i in range(calls_value.shape[0])] if calls_value.kind == "repeated"
               else [upstream.array_of(item) for item in calls_value.items])
    n, batch = case["n_samples"], len(case["x"])
    corrected, wrong = [], False
    for index, group in enumerate(groups):
        found = upstream.lse_record(group[0]) if len(group) == 1 else None
        actual = results[index] if index < len(results) else None
        if found is None or actual is None or found[0].ndim != 2 or found[3].shape != (batch,):
            break
        a, dim, out, correct = found
        if np.moveaxis(a, dim, 0).shape != (n, batch) or not upstream.same_values(
                np.asarray(actual, np.float64), out - np.log(n), rtol=1e-5, atol=1e-4):
            break
        wrong |= not upstream.same_values(out, correct, rtol=1e-5, atol=1e-4)
        corrected.append(np.exp(correct - np.log(n)))
    if not wrong or len(corrected) < 2:
        return ()
    try:
        alternative = dataclasses.replace(spec, calls=len(corrected), estimates=np.stack(corrected),
                                          note=upstream.note("log_sum_exp", "mc_log_marginal"), alternatives=())
        alternative.mean_tolerance()  # a robust case needs enough calls for its median of means
    except ValueError:
        return ()
    return (alternative,)


register_judge(Judge(
    name="mc_log_marginal",
    assess=statistical_assess(_mc_marginal_statistics, _mc_marginal_estimate, "exp(your estimate of log p(x))",
                              alternatives=_mc_marginal_alternatives),
    statistics=_mc_marginal_statistics,
    estimate=_mc_marginal_estimate,
    section=(Reading("ch2-naive-mc", "Naive Monte Carlo over the prior"),),
    what="with z drawn from the prior N(0, 1) by your function (fresh samples on every call), exp(estimate) is an "
         "unbiased estimate of p(x) with the spread of the plain Monte Carlo average of n_samples samples",
))
