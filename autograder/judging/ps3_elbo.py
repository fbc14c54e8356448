"""ps3_elbo: how each check's returned values are judged (grader side only, never mounted in the sandbox).

The cases are drawn by autograder/student/cases/ps3_elbo.py from the same seed.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..student.cases.common import as_tensor
from ..student.cases.ps3_elbo import IWAE_PLAN, VAE_Z_DIM, iwae_pool, tiny_vae_modules
from . import upstream
from .base import CheckFailure, Judge, register_judge
from .compare import (
    case_key,
    expect_calls,
    expect_close,
    expect_items,
    expect_scalar,
    expect_tensor,
    logsumexp,
    normal_grid,
    probe_items,
    softplus,
)
from .sections import Reading
from .statistics import (
    StatSpec,
    either_estimator,
    mean_of_samples,
    moments,
    not_recorded,
    statistical_assess,
    unless_recorded,
)


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
         "and staying finite for logits up to size 100",
))


NETWORK_KEYS = ("x", "A", "a", "C", "c", "W1", "b1", "W2", "b2")


def _tiny_vae_q(case):
    """mu, log_var (batch, z_dim) in float64 from the float32 parameters the student's process sees."""
    f32 = {k: np.float32(case[k]).astype(np.float64) for k in ("x", "A", "a", "C", "c")}
    return f32["x"] @ f32["A"] + f32["a"], f32["x"] @ f32["C"] + f32["c"]


def _tiny_vae_log_lik(case, z: np.ndarray) -> np.ndarray:
    """log p(x_i | z_i) for z (m, batch, z_dim), float64: (m, batch)."""
    f32 = {k: np.float32(case[k]).astype(np.float64) for k in ("x", "W1", "b1", "W2", "b2")}
    hidden = np.tanh(np.einsum("mbk,kh->mbh", z, f32["W1"]) + f32["b1"])  # einsum, not a BLAS call (see expectation)
    logits = np.einsum("mbh,hj->mbj", hidden, f32["W2"]) + f32["b2"]  # (m, batch, x_dim)
    return np.sum(f32["x"] * logits - softplus(logits), axis=-1)


_ELBO_CACHE: dict[str, dict] = {}


def elbo_moments(case) -> dict:
    """Per data point (arrays (batch,)): the exact ELBO, the closed-form KL, and the single-sample moments (mean,
    variance, skewness, kurtosis) of both allowed estimators on the 2-D grid (normal_grid): "analytic", log p(x|z)
    with the KL subtracted in closed form, and "sampled", log p(x|z) + log p(z) - log q(z|x) (the IWAE bound with
    K = 1 is one sample of it). Cached in-process by the network's content."""
    key = case_key(case, NETWORK_KEYS)
    if key not in _ELBO_CACHE:
        mu, log_var = _tiny_vae_q(case)
        nodes, weights = normal_grid(VAE_Z_DIM)
        z = mu + np.exp(0.5 * log_var) * nodes[:, None, :]  # (m, batch, z_dim)
        g = _tiny_vae_log_lik(case, z)  # (m, batch)
        h = g - 0.5 * np.sum(z**2, -1) + 0.5 * np.sum(nodes[:, None, :] ** 2 + log_var, -1)  # + log p(z) - log q
        kl = 0.5 * np.sum(mu**2 + np.exp(log_var) - 1.0 - log_var, -1)  # Kingma & Welling 2014, App. B
        analytic, sampled = moments(weights, g), moments(weights, h)
        _ELBO_CACHE[key] = {"elbo": analytic["mean"] - kl, "kl": kl, "analytic": analytic, "sampled": sampled}
    return _ELBO_CACHE[key]


def _elbo_statistics(case):
    """Truth: the exact ELBO per data point (2-D trapezoid rule, step 0.07 on [-6, 6]^2, see normal_grid; KL
    analytic). Allowed estimators (the notebook): the n-sample average of log p(x|z) minus the closed-form KL, or
    the sampled form log p(x|z) + log p(z) - log q(z|x), noise independent or shared across the batch (each data
    point is judged on its own). V: the larger, V_low the smaller of their variances, skewness and kurtosis the
    larger. Cases (ps3 cases file): n = 1 and n = 2 on 40 calls (median of block means; the 1/(n - 1) bias is
    largest there), n = 500 on 40 calls (z-test and spread test); delta = 1e-6 over 4 cases.
    Power: tests/test_grading_correctness_power.py. (KL bugs inside your elbo that your gaussian_kl shares are
    charged to gaussian_kl only: _elbo_alternatives.)"""
    found = elbo_moments(case)
    n = case["n_samples"]
    calls = [mean_of_samples(found[form], n) for form in ("analytic", "sampled")]
    return either_estimator(found["elbo"], calls[0], calls[1], case["delta"],
                            [f"data point {i + 1}" for i in range(len(found["elbo"]))], case["calls"], n < 100)


def _elbo_estimate(case, value):
    calls_value, _ = probe_items(value, 2)
    return expect_calls(calls_value, case["calls"], (len(case["x"]),), "the ELBO (one number per data point)")


def _elbo_alternatives(case, value, spec):
    """One bug, one loss: when the student's own gaussian_kl (recorded by the probe on this case's q) is wrong, an
    elbo that is right GIVEN that KL is accepted too (the KL's error is charged to gaussian_kl's cell)."""
    _, kl_value = probe_items(value, 2)
    kl = elbo_moments(case)["kl"]
    if kl_value is None or kl_value.kind != "tensor" or tuple(kl_value.shape) not in ((), kl.shape):
        return ()
    theirs = np.broadcast_to(np.asarray(kl_value.array, np.float64), kl.shape)  # a KL summed over the batch too
    if not np.all(np.isfinite(theirs)) or np.allclose(theirs, kl, rtol=1e-4, atol=1e-4):
        return ()
    return (dataclasses.replace(spec, truth=spec.truth + kl - theirs, alternatives=(), note=upstream.Excuse(
        "your elbo is right given your gaussian_kl, but gaussian_kl is wrong (its own cell loses its points for it; "
        "this one does not): once gaussian_kl is fixed, elbo will be right too.", "gaussian_kl")),)


register_judge(Judge(
    name="elbo",
    assess=statistical_assess(_elbo_statistics, _elbo_estimate, "your ELBO estimate",
                              alternatives=_elbo_alternatives),
    statistics=_elbo_statistics,
    estimate=_elbo_estimate,
    section=(Reading("ch4-objective", "The objective the code trains"), Reading("ch5-identity", "The ELBO identity")),
    what="the Monte Carlo ELBO E_q[log p(x|z)] - KL(q(z|x) || p(z)) per data point, with n_samples independent "
         "samples of q per data point, fresh on every call",
))


IWAE_REFERENCE = 20_000  # independent estimates in the trusted reference run
IWAE_VARIANCE_SLACK = 6.0  # the reference run's variance is widened by this many of its standard errors
_IWAE_CACHE: dict[str, dict] = {}


def _iwae_reference(case) -> dict:
    """Moments of one K-sample IWAE estimate per data point, from a trusted reference run
    (vaelib.probability.iwae_bound, IWAE_REFERENCE independent estimates per point; cached in-process)."""
    key = case_key(case, NETWORK_KEYS + ("n_samples",))
    if key not in _IWAE_CACHE:
        import torch

        from vaelib.probability import iwae_bound

        encoder, decoder = tiny_vae_modules(
            {k: np.float32(v) if isinstance(v, np.ndarray) else v for k, v in case.items()}, "float32")
        generator_state, threads = torch.random.get_rng_state(), torch.get_num_threads()
        torch.manual_seed(int(key[:8], 16))
        torch.set_num_threads(1)  # small tensors: on a loaded machine extra intra-op threads only spin (8x slower)
        x = as_tensor(np.float32(case["x"]), "float32")
        try:
            with torch.no_grad():
                draws = iwae_bound(x.repeat(IWAE_REFERENCE, 1), encoder, decoder, case["n_samples"])
        finally:
            torch.random.set_rng_state(generator_state)
            torch.set_num_threads(threads)
        draws = draws.reshape(IWAE_REFERENCE, -1).double().numpy()
        found = moments(np.full(IWAE_REFERENCE, 1.0 / IWAE_REFERENCE), draws)
        found["variance"] = found["variance"] * IWAE_REFERENCE / (IWAE_REFERENCE - 1)
        _IWAE_CACHE[key] = found
    return _IWAE_CACHE[key]


def _iwae_statistics(case):
    """K = 8: truth E[L_K] and the moments of one call from the reference run (_iwae_reference); the mean of 200
    calls is z-tested with sd sqrt(V / 200 + V / 20,000) (the second term: the reference mean's error), and the
    spread of the calls against V widened by 6 standard errors of the reference's variance (sqrt((kappa + 2) / R)
    relative). K = 1 (the extreme network): L_1 = log p(x, z) - log q(z | x) for one z, whose moments the 2-D grid
    gives exactly (elbo_moments, "sampled"); 200 calls, median of block means. delta = 1e-6 over 3 cases.
    Power: tests/test_grading_correctness_power.py."""
    labels = [f"data point {i + 1}" for i in range(len(case["x"]))]
    if case["n_samples"] == 1:  # 40 calls on the extreme network: median of block means; 200 calls on the far
        # network (a function that ignores K fails its mean and spread): Cornish-Fisher mean test and spread tests
        single = elbo_moments(case)["sampled"]
        return StatSpec(single["mean"], single["variance"], case["delta"], labels, calls=case["calls"],
                        skewness=single["skewness"], kurtosis=single["kurtosis"], robust=case["calls"] < 200)
    found = _iwae_reference(case)
    relative = IWAE_VARIANCE_SLACK * np.sqrt((np.maximum(found["kurtosis"], 0.0) + 2) / IWAE_REFERENCE)
    return StatSpec(found["mean"], found["variance"] * (1 + relative), case["delta"], labels, calls=case["calls"],
                    variance_low=found["variance"] * (1 - relative), skewness=found["skewness"],
                    kurtosis=found["kurtosis"], truth_variance=found["variance"] / IWAE_REFERENCE)


def _warm_iwae_pool() -> None:
    """The reference runs of the hidden pool's K = 8 networks (autograder.student.cases.ps3_elbo.iwae_pool)."""
    for network in (network for pair in iwae_pool() for network in pair):
        for _, n_samples, _ in IWAE_PLAN[:2]:
            _iwae_reference(dict(network, n_samples=n_samples))


def _iwae_estimate(case, value):
    return expect_calls(value, case["calls"], (len(case["x"]),), "the bound (one number per data point)")


ANTITHETIC_TOLERANCE = 1e-5  # |u_a + u_b| in every dimension, u = (z - mu) / sigma: float32 rounding is about 1e-6
# Independent samples come that close with probability (0.564 t)^2 = 3e-11 per pair (u_a + u_b ~ N(0, 2 I), 2-D):
# C(8, 2) pairs x 5 calls = 140 pairs, a false failure below 5e-9.


def _iwae_recorded(case, value):
    """The recorded case (one data point): the decoder must have been given exactly K = n_samples distinct samples
    z_k, no two mirroring each other about the mean of q(z | x) (antithetic pairs, which the notebook does not
    accept), and the returned bound must be L_K computed from exactly those samples: log (1/K) sum_k p(x, z_k) /
    q(z_k | x) (Burda et al. 2016, eq. 8). K + 1 samples, a log (K + 1), a missing or wrong log q, a mean before the
    log: each fails on the first call, whatever the seed."""
    import torch

    calls, k = case["calls"], case["n_samples"]
    if value is None or value.kind != "calls" or len(value.items) != calls:
        raise CheckFailure(f"The test did not get {calls} results for the bound.")
    encoder, decoder = tiny_vae_modules(case)  # the sandbox's float32 network: the same numbers
    x = as_tensor(np.float32(case["x"]), "float32")  # (1, x_dim)
    with torch.no_grad():
        mu, log_var = (t.double().numpy()[0] for t in encoder(x))
    sigma = np.exp(0.5 * log_var)
    for index, item in enumerate(value.items):
        where = f"call {index + 1} of {calls} (one data point, K = {k})"
        bound_value, rows_value = expect_items(item, 2, "the bound and the decoder's inputs")
        bound = expect_tensor(bound_value, shape=(1,), what=f"the bound, {where}")[0]
        z = np.unique(expect_tensor(rows_value, what="the decoder's inputs"), axis=0)  # (K, z_dim) when right
        if len(z) != k:
            raise CheckFailure(f"In {where} your function gave the decoder {len(z)} distinct samples z; L_K uses "
                               f"exactly K = n_samples = {k} samples per data point.")
        u = (z - mu) / sigma
        close = np.all(np.abs(u[:, None, :] + u[None, :, :]) < ANTITHETIC_TOLERANCE, axis=-1)
        np.fill_diagonal(close, False)
        if close.any():
            raise CheckFailure(f"In {where} two of your samples z mirror each other about the mean of q(z | x) "
                               "(z' - mu = -(z - mu)): antithetic pairs are not accepted; draw K independent samples "
                               "per data point.")
        with torch.no_grad():
            logits = decoder(torch.tensor(z, dtype=torch.float32)).double().numpy()  # (K, x_dim)
        x64 = np.float32(case["x"][0]).astype(np.float64)
        log_lik = np.sum(x64 * logits - softplus(logits), axis=-1)
        log_prior = -0.5 * np.sum(z**2 + np.log(2 * np.pi), axis=-1)
        log_q = -0.5 * np.sum(u**2 + log_var + np.log(2 * np.pi), axis=-1)
        expected = logsumexp(log_lik + log_prior - log_q, axis=0) - np.log(k)
        if not abs(bound - expected) <= 1e-3 + 1e-4 * abs(expected):
            raise CheckFailure(f"In {where}, from the {k} samples your function gave the decoder, L_K = log (1/K) "
                               f"sum_k p(x, z_k) / q(z_k | x) is {expected:.6g}; yours is {bound:.6g}. Check log p(z), "
                               "log q(z | x) (sigma^2 = exp(log_var)), and the log-mean-exp: log (1/K), with K the "
                               "number of samples.")


register_judge(Judge(
    name="iwae_bound",
    assess=statistical_assess(unless_recorded(_iwae_statistics), _iwae_estimate, "your IWAE estimates",
                              exact=_iwae_recorded),
    statistics=unless_recorded(_iwae_statistics),
    estimate=_iwae_estimate,
    statistical=not_recorded,
    warm=_warm_iwae_pool,
    section=(Reading("ch5-iwae", "Aside: a tighter bound with more samples"),),
    what="one K-sample estimate of the importance-weighted bound log (1/K) sum_k p(x, z_k) / q(z_k | x) per data "
         "point, fresh samples on every call, stable for log-weights near -1,000",
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
    mean_value, cov_value = expect_items(value, 2, "(posterior mean, posterior covariance)", kinds=("tuple",))
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
