"""ps3_elbo: how each check's returned values are judged (grader side only, never mounted in the sandbox).

The cases are drawn by autograder/student/cases/ps3_elbo.py from the same seed.
"""

from __future__ import annotations

import numpy as np

from ..student.cases.common import as_tensor
from ..student.cases.ps3_elbo import VAE_Z_DIM, tiny_vae_modules
from .base import CheckFailure, Judge, register_judge
from .compare import (
    StatSpec,
    case_key,
    expect_close,
    expect_items,
    expect_scalar,
    expect_tensor,
    normal_grid,
    softplus,
    statistical_assess,
)
from .sections import Reading


def _gaussian_kl_assess(case, value):
    mu, log_var = np.asarray(case["mu"]), np.asarray(case["log_var"])
    expected = 0.5 * (mu**2 + np.exp(log_var) - 1.0 - log_var).sum(-1)  # Kingma & Welling 2014, App. B
    actual = expect_tensor(value, shape=(mu.shape[0],), what="the KL (one number per row of mu)")
    expect_close(actual, expected, what="the KL")


register_judge(Judge(
    name="gaussian_kl",
    assess=_gaussian_kl_assess,
    section=(Reading("ch4-closed-form-kl", "The KL term in closed form"),),
    what="KL(N(mu, diag(exp(log_var))) || N(0, I)) summed over the latent dimensions, one value per row",
))


def _bernoulli_assess(case, value):
    x, logits = np.float32(case["x"]).astype(np.float64), np.float32(case["logits"]).astype(np.float64)
    expected = np.sum(x * logits - softplus(logits), axis=-1)
    actual = expect_tensor(value, shape=expected.shape,
                           what=f"log p(x|z) (summed over pixels: logits {tuple(logits.shape)} -> "
                                f"{tuple(expected.shape)})")
    expect_close(actual, expected, rtol=1e-4, atol=1e-3, what="log p(x|z)")


register_judge(Judge(
    name="bernoulli_log_likelihood",
    assess=_bernoulli_assess,
    section=(Reading("ch4-bernoulli-decoder", "The Bernoulli decoder: log-likelihood from logits"),),
    what="sum over pixels of x log sigmoid(l) + (1 - x) log(1 - sigmoid(l)), broadcasting x against the logits "
         "and staying finite for logits of size 80",
))


def _tiny_vae_q(case):
    """mu, log_var (batch, z_dim) in float64 from the float32 parameters the student's process sees."""
    f32 = {k: np.float32(case[k]).astype(np.float64) for k in ("x", "A", "a", "C", "c")}
    return f32["x"] @ f32["A"] + f32["a"], f32["x"] @ f32["C"] + f32["c"]


def _tiny_vae_log_lik(case, z: np.ndarray, row: int) -> np.ndarray:
    """log p(x_row | z) for z (m, z_dim), float64."""
    f32 = {k: np.float32(case[k]).astype(np.float64) for k in ("x", "W1", "b1", "W2", "b2")}
    logits = np.tanh(z @ f32["W1"] + f32["b1"]) @ f32["W2"] + f32["b2"]
    return np.sum(f32["x"][row] * logits - softplus(logits), axis=-1)


_ELBO_CACHE: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _elbo_moments(case):
    """Per data point: the exact ELBO (quadrature for E_q[log p(x|z)], closed-form KL) and the single-sample
    variances of both textbook estimators: log p(x|z) - KL (analytic KL) and log p(x|z) + log p(z) - log q(z).
    Cached in-process by the case's content."""
    key = case_key(case)
    if key not in _ELBO_CACHE:
        _ELBO_CACHE[key] = _elbo_moments_uncached(case)
    return _ELBO_CACHE[key]


def _elbo_moments_uncached(case):
    mu, log_var = _tiny_vae_q(case)
    nodes, weights = normal_grid(VAE_Z_DIM)
    truth, var_analytic, var_sampled = [], [], []
    for i in range(len(mu)):
        sigma = np.exp(0.5 * log_var[i])
        z = mu[i] + sigma * nodes
        g = _tiny_vae_log_lik(case, z, i)
        kl = 0.5 * np.sum(mu[i] ** 2 + np.exp(log_var[i]) - 1.0 - log_var[i])
        h = g - 0.5 * np.sum(z**2, -1) + 0.5 * np.sum(nodes**2 + log_var[i], -1)  # + log p(z) - log q(z)
        e_g, e_h = weights @ g, weights @ h
        truth.append(e_g - kl)
        var_analytic.append(weights @ (g - e_g) ** 2)
        var_sampled.append(weights @ (h - e_h) ** 2)
    return np.array(truth), np.array(var_analytic), np.array(var_sampled)


def _elbo_statistics(case):
    """Truth: exact ELBO per data point (2-D trapezoid rule, step 0.07 on [-6, 6]^2, see _normal_grid; KL analytic).
    V: the larger of the two estimators' single-sample variances (analytic KL, or log p(x,z) - log q sampled),
    so both correct forms pass; sd = sqrt(V / n), n = 20,000. delta = 1e-6 over 2 cases x 3 data points.
    Power (tests/test_grading_correctness_power.py, worst of 10 case draws): bias |b| against the tolerance z sd:
    sigma^2 as the scale 0.33 vs 0.049; log_var as the scale 1.0 vs 0.30; KL added 2.9 vs 0.31; KL missing 5.1 vs
    0.049; prior samples 2.4 vs 0.31; mean over pixels 8.1 vs 0.049; sum over samples 4e5: power > 0.999999.
    (KL without the 1/2 or with log sigma / sigma confusions fail gaussian_kl, which elbo's KL reuses.)"""
    truth, var_analytic, var_sampled = _elbo_moments(case)
    sd = np.sqrt(np.maximum(var_analytic, var_sampled) / case["n_samples"])
    return StatSpec(truth, sd, case["delta"], [f"data point {i + 1}" for i in range(len(truth))])


def _elbo_estimate(case, value):
    return expect_tensor(value, shape=(len(case["x"]),), what="the ELBO (one number per data point)")


register_judge(Judge(
    name="elbo",
    assess=statistical_assess(_elbo_statistics, _elbo_estimate, "your ELBO estimate"),
    statistics=_elbo_statistics,
    estimate=_elbo_estimate,
    section=(Reading("ch4-objective", "The objective the code trains"), Reading("ch5-identity", "The ELBO identity")),
    what="the Monte Carlo ELBO E_q[log p(x|z)] - KL(q(z|x) || p(z)) per data point, with n_samples samples of q",
))


IWAE_REFERENCE = 50_000  # independent estimates in the trusted reference run
_IWAE_CACHE: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _iwae_reference(case) -> tuple[np.ndarray, np.ndarray]:
    """Mean and single-call variance of the K-sample IWAE estimate per data point, from a trusted reference run
    (vaelib.probability.iwae_bound, 50,000 independent estimates per point; cached in-process)."""
    key = case_key(case)
    if key not in _IWAE_CACHE:
        import torch

        from vaelib.probability import iwae_bound

        encoder, decoder = tiny_vae_modules(
            {k: np.float32(v) if isinstance(v, np.ndarray) else v for k, v in case.items()}, "float32")
        generator_state, threads = torch.random.get_rng_state(), torch.get_num_threads()
        torch.manual_seed(int(key[:8], 16))
        torch.set_num_threads(1)  # small tensors: on a loaded machine extra intra-op threads only spin (8x slower)
        x = as_tensor(np.float32(case["x"]), "float32")
        draws = []
        chunk = 10_000
        try:
            with torch.no_grad():
                for _ in range(IWAE_REFERENCE // chunk):
                    draws.append(iwae_bound(x.repeat(chunk, 1), encoder, decoder, case["n_samples"]).reshape(chunk, -1))
        finally:
            torch.random.set_rng_state(generator_state)
            torch.set_num_threads(threads)
        draws = torch.cat(draws).double().numpy()
        _IWAE_CACHE[key] = (draws.mean(0), draws.var(0, ddof=1))
    return _IWAE_CACHE[key]


def _iwae_statistics(case):
    """Truth: E[IWAE_K] (K = 8) from the reference run; V: its single-estimate variance times 1.1 (slack for the
    reference's own error in V). The student's estimate is the mean of 200 calls; sd = sqrt(1.1 V (1/200 +
    1/50,000)), the second term for the reference mean's error. delta = 1e-6 over 2 cases x 3 data points.
    Power (measured, worst of 10 case draws): averaging the log-weights (the ELBO) |b| = 7.0 vs tolerance 0.57;
    missing -log K 2.2 vs 0.47; missing log q 2.8 vs 0.57: power > 0.999999."""
    mean, variance = _iwae_reference(case)
    sd = np.sqrt(1.1 * variance * (1 / case["calls"] + 1 / IWAE_REFERENCE))
    return StatSpec(mean, sd, case["delta"], [f"data point {i + 1}" for i in range(len(mean))])


def _iwae_estimate(case, value):
    batch = len(case["x"])
    if value is not None and value.kind == "tensor" and tuple(value.shape) != (case["calls"], batch):
        raise CheckFailure(f"Expected the bound to be a tensor of shape ({batch},) (one per data point), got "
                           f"shape {tuple(value.shape)}.")
    return expect_tensor(value, what="the bound (one number per data point)").mean(0)


register_judge(Judge(
    name="iwae_bound",
    assess=statistical_assess(_iwae_statistics, _iwae_estimate, "the average of your IWAE estimates"),
    statistics=_iwae_statistics,
    estimate=_iwae_estimate,
    section=(Reading("ch5-iwae", "Aside: a tighter bound with more samples"),),
    what="the importance-weighted bound log (1/K) sum_k p(x, z_k) / q(z_k | x) with K samples of q per data point",
))


def _lg_model(case):
    from vaelib.linear_gaussian import LinearGaussianModel

    return LinearGaussianModel(as_tensor(case["W"], "float64"), as_tensor(case["b"], "float64"), case["noise_std"])


def _lg_marginal_assess(case, value):
    expected = float(_lg_model(case).log_marginal(as_tensor(case["x"], "float64")))
    expect_close(expect_scalar(value, "log p(x)"), expected, rtol=1e-6, atol=1e-8, what="log p(x)")


register_judge(Judge(
    name="lg_log_marginal",
    assess=_lg_marginal_assess,
    section=(Reading("ch5-identity", "The ELBO identity"),
             Reading("ch2-marginal-section", "The marginal likelihood is an integral")),
    what="the exact log p(x) = log N(x | b, W W^T + s^2 I) of the linear-Gaussian model (s a standard deviation)",
))


def _lg_posterior_assess(case, value):
    m_ref, s_ref = (t.numpy() for t in _lg_model(case).posterior(as_tensor(case["x"], "float64")))
    mean_value, cov_value = expect_items(value, 2, "(posterior mean, posterior covariance)")
    k = len(m_ref)
    expect_close(expect_tensor(mean_value, shape=(k,), what="the posterior mean (k,)"), m_ref, rtol=1e-6,
                 atol=1e-8, what="the posterior mean")
    expect_close(expect_tensor(cov_value, shape=(k, k), what="the posterior covariance (k, k)"), s_ref, rtol=1e-6,
                 atol=1e-8, what="the posterior covariance")


register_judge(Judge(
    name="lg_posterior",
    assess=_lg_posterior_assess,
    section=(Reading("ch2-posterior-section", "The posterior: Bayes' rule"),),
    what="the exact posterior p(z | x) = N(m, S) of the linear-Gaussian model: S = (I + W^T W / s^2)^-1, "
         "m = S W^T (x - b) / s^2",
))


def _kl_full_assess(case, value):
    from vaelib.linear_gaussian import gaussian_kl_full

    expected = float(gaussian_kl_full(*(as_tensor(case[k], "float64") for k in ("mu0", "cov0", "mu1", "cov1"))))
    expect_close(expect_scalar(value, "the KL"), expected, rtol=1e-6, atol=1e-8, what="KL(N0 || N1)")


register_judge(Judge(
    name="gaussian_kl_full",
    assess=_kl_full_assess,
    section=(Reading("ch5-bound", "KL ≥ 0, hence a lower bound"),),
    what="KL(N(mu0, cov0) || N(mu1, cov1)) for full covariance matrices",
))


def _lg_elbo_assess(case, value):
    q_mean, q_cov = as_tensor(case["q_mean"], "float64"), as_tensor(case["q_cov"], "float64")
    expected = float(_lg_model(case).elbo(as_tensor(case["x"], "float64"), q_mean, q_cov))
    expect_close(expect_scalar(value, "the ELBO"), expected, rtol=1e-6, atol=1e-8, what="the exact ELBO")


register_judge(Judge(
    name="lg_elbo",
    assess=_lg_elbo_assess,
    section=(Reading("ch5-identity", "The ELBO identity"),),
    what="the exact ELBO E_q[log p(x, z) - log q(z)] of the linear-Gaussian model for a Gaussian q = N(q_mean, "
         "q_cov) (q_cov a full covariance matrix)",
))
