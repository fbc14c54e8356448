"""ps4_gradients: how each check's returned values are judged (grader side only, never mounted in the sandbox).

The cases are drawn by autograder/student/cases/ps4_gradients.py from the same seed.
"""

from __future__ import annotations

import numpy as np

from ..student.cases.ps4_gradients import DEC_X_DIM, DEC_Z_DIM, VAE_ARCH, vae_keys
from .base import CheckFailure, Judge, register_judge
from .compare import (
    StatSpec,
    case_key,
    expect_close,
    expect_items,
    expect_tensor,
    gauss_hermite,
    normal_grid,
    statistical_assess,
)
from .sections import Reading


def _reparam_exact(case, value):
    mu, log_var, eps = (np.float32(case[k]).astype(np.float64) for k in ("mu", "log_var", "eps"))
    sigma = np.exp(0.5 * log_var)
    if case["mode"] == "eps":
        expected = mu + sigma * eps
        actual = expect_tensor(value, shape=expected.shape, what="z (the shape of eps broadcast against mu)")
        expect_close(actual, expected, rtol=1e-5, atol=1e-5, what="z = mu + sigma * eps with sigma = exp(log_var/2)")
        return
    if value is not None and value.kind == "tensor":
        raise CheckFailure("The returned z does not depend differentiably on mu and log_var (requires_grad is "
                           "False): was it detached, computed under torch.no_grad(), or rebuilt from numbers?")
    grad_mu_value, grad_lv_value = expect_items(value, 2, "the gradients (d/dmu, d/dlog_var)")
    weights = np.float32(case["weights"]).astype(np.float64)
    for item, expected, label in [(grad_mu_value, weights, "d/dmu"),
                                  (grad_lv_value, weights * eps * 0.5 * sigma, "d/dlog_var")]:
        if item.kind != "tensor":
            raise CheckFailure(f"No gradient reached {label[2:]} through z: it is not used (or used only through "
                               "a detached copy).")
        actual = expect_tensor(item, shape=expected.shape, what=f"the gradient {label} of sum(w * z)")
        expect_close(actual, expected, rtol=1e-4, atol=1e-5, what=f"the gradient {label} of sum(w * z)")


def _reparam_statistics(case):
    """Sampling case (eps=None): e = (z - mu) / sigma computed by the grader must be N(0, 1): per column, the mean
    of e (V = 1) and the mean of e^2 (V = Var(eps^2) = 2), n = 4,096 rows, 2 d components, delta = 1e-6.
    Power (measured, worst of 10 case draws): sigma^2 as the scale in the sampling branch |b| = 0.74 vs tolerance
    0.12 (|log_var| >= 1 makes E[e^2] = sigma^2 >= e or <= 1/e); torch.rand for eps 0.50 vs 0.083: power >
    0.999999. Detach / no_grad / sigma^2 with a given eps fail the exact cases."""
    if case["mode"] != "sample":
        return None
    d = len(case["mu"])
    sd = np.concatenate([np.full(d, 1.0), np.full(d, np.sqrt(2.0))]) / np.sqrt(case["n"])
    labels = [f"mean of (z - mu)/sigma in column {j + 1}" for j in range(d)] + \
             [f"mean of ((z - mu)/sigma)^2 in column {j + 1}" for j in range(d)]
    return StatSpec(np.concatenate([np.zeros(d), np.ones(d)]), sd, case["delta"], labels)


def _reparam_estimate(case, value):
    mu, log_var = (np.float32(case[k]).astype(np.float64) for k in ("mu", "log_var"))
    z = expect_tensor(value, shape=(case["n"], len(mu)), what="z (same shape as mu when eps is None)")
    e = (z - mu) / np.exp(0.5 * log_var)
    return np.concatenate([e.mean(0), (e**2).mean(0)])


register_judge(Judge(
    name="reparameterize",
    assess=statistical_assess(_reparam_statistics, _reparam_estimate, "your samples z", exact=_reparam_exact),
    statistics=_reparam_statistics,
    estimate=_reparam_estimate,
    statistical=lambda case: case["mode"] == "sample",
    section=(Reading("ch6-trick", "The trick: move the randomness into an input"),),
    what="z = mu + exp(log_var / 2) * eps, exact for a given eps, differentiable in (mu, log_var), and N(mu, "
         "sigma^2) distributed when eps is drawn by your function",
))


def _per_sample_estimates(case, eps: np.ndarray) -> dict[str, np.ndarray]:
    """The four single-sample estimates at noise eps (any shape): score-function and pathwise, d/dmu and d/dsigma."""
    c = np.asarray(case["coeffs"], np.float64)
    mu, sigma = case["mu"], case["sigma"]
    z = mu + sigma * eps
    f = np.polynomial.polynomial.polyval(z, c)
    df = np.polynomial.polynomial.polyval(z, np.polynomial.polynomial.polyder(c))
    return {"score_mu": f * eps / sigma, "score_sigma": f * (eps**2 - 1) / sigma,
            "path_mu": df, "path_sigma": df * eps}


def _estimator_statistics(kind_prefix: str):
    def statistics(case):
        """Truth (d/dmu, d/dsigma) = (E f'(z), E[f'(z) eps]) and the single-sample variances of the estimator,
        both by 60-node Gauss-Hermite quadrature (exact for these polynomials; for (z - k)^2 it reproduces the
        table in shared/notes/statistical-grading.md). sd = sqrt(V / n)."""
        nodes, weights = gauss_hermite(60, 1)
        per = _per_sample_estimates(case, nodes[:, 0])
        truth = np.array([weights @ per["path_mu"], weights @ per["path_sigma"]])
        samples = [per[f"{kind_prefix}_mu"], per[f"{kind_prefix}_sigma"]]
        variance = np.array([weights @ (s - t) ** 2 for s, t in zip(samples, truth, strict=True)])
        return StatSpec(truth, np.sqrt(variance / case["n_samples"]), case["delta"],
                        ["d/dmu", "d/dsigma (sigma a standard deviation)"])

    return statistics


def _estimator_estimate(case, value):
    return expect_tensor(value, shape=(2,), what="the gradient estimate [d/dmu, d/dsigma]")


register_judge(Judge(
    name="score_function_gradient",
    assess=statistical_assess(_estimator_statistics("score"), _estimator_estimate,
                              "your score-function gradient estimate"),
    statistics=_estimator_statistics("score"),
    estimate=_estimator_estimate,
    section=(Reading("ch6-score-function", "The score-function estimator"),),
    what="the score-function estimate of grad_(mu, sigma) E_{z ~ N(mu, sigma^2)}[f(z)] from n_samples samples",
))


register_judge(Judge(
    name="pathwise_gradient",
    assess=statistical_assess(_estimator_statistics("path"), _estimator_estimate, "your pathwise gradient estimate"),
    statistics=_estimator_statistics("path"),
    estimate=_estimator_estimate,
    section=(Reading("ch6-pathwise", "The pathwise estimator"),),
    what="the pathwise estimate of grad_(mu, sigma) E_{z ~ N(mu, sigma^2)}[f(z)], differentiating f(mu + sigma "
         "eps) by autograd, from n_samples samples",
))


def _gradvar_assess(case, value):
    eps = np.float32(case["eps"]).astype(np.float64)
    per = _per_sample_estimates(case, eps)
    expected = np.array([[np.var(per["score_mu"], ddof=1), np.var(per["score_sigma"], ddof=1)],
                         [np.var(per["path_mu"], ddof=1), np.var(per["path_sigma"], ddof=1)]])
    actual = expect_tensor(value, shape=(2, 2), what="the variances [[score d/dmu, score d/dsigma], "
                                                     "[pathwise d/dmu, pathwise d/dsigma]]")
    # 1/n or 1/(n-1) are both accepted: they differ by a factor n/(n-1)
    expect_close(actual, expected, rtol=1.5 / (len(eps) - 1) + 1e-4, atol=1e-6,
                 what="the single-sample variances (rows: score function, pathwise; columns: d/dmu, d/dsigma)")


register_judge(Judge(
    name="gradient_variances",
    assess=_gradvar_assess,
    section=(Reading("ch6-variance", "The price: variance"),),
    what="the variance of one sample's score-function and pathwise gradient estimates, measured on the given eps",
))


_DECODER_CACHE: dict[str, StatSpec] = {}


def _decoder_statistics(case):
    """Truth: grad_theta sum_i E_q[log p(x_i | z)] for the linear decoder logits = W z + b (grad_b = x - sigmoid,
    grad_W = (x - sigmoid) z^T) by 2-D quadrature (_normal_grid). V: per component
    (sum_i sd_i)^2, the largest variance the batch sum can have whatever the correlation between data points
    (so sharing eps across the batch is fine too); sd = sqrt(V / n), n = 20,000; delta = 1e-6 over 2 cases x 18
    components (z = 6.2). Power (tests/test_grading_correctness_power.py, worst of 10 case draws, |b| vs z sd):
    samples from the prior 0.19 vs 0.049; the gradient of the loss (sign) 0.32 vs 0.049; mean over pixels 0.13 vs
    0.049: power > 0.999999. Cached in-process by the case's content."""
    key = case_key(case)
    if key not in _DECODER_CACHE:
        _DECODER_CACHE[key] = _decoder_statistics_uncached(case)
    return _DECODER_CACHE[key]


def _decoder_statistics_uncached(case):
    f32 = {k: np.float32(case[k]).astype(np.float64) for k in ("x", "mu", "log_var", "weight", "bias")}
    nodes, weights = normal_grid(DEC_Z_DIM)
    truth, sd_sum = 0.0, 0.0
    for i in range(len(f32["x"])):
        z = f32["mu"][i] + np.exp(0.5 * f32["log_var"][i]) * nodes
        residual = f32["x"][i] - 1.0 / (1.0 + np.exp(-(z @ f32["weight"].T + f32["bias"])))  # (m, x_dim)
        per = np.concatenate([(residual[:, :, None] * z[:, None, :]).reshape(len(z), -1), residual], axis=1)
        mean = weights @ per
        truth = truth + mean
        sd_sum = sd_sum + np.sqrt(weights @ (per - mean) ** 2)
    labels = [f"d/dweight[{r}, {c}]" for r in range(DEC_X_DIM) for c in range(DEC_Z_DIM)] + \
             [f"d/dbias[{r}]" for r in range(DEC_X_DIM)]
    return StatSpec(truth, sd_sum / np.sqrt(case["n_samples"]), case["delta"], labels)


def _decoder_estimate(case, value):
    grad_w, grad_b = expect_items(value, 2, "the gradients (one per decoder parameter: weight, bias)")
    return np.concatenate([
        expect_tensor(grad_w, shape=(DEC_X_DIM, DEC_Z_DIM), what="the gradient for decoder.weight").reshape(-1),
        expect_tensor(grad_b, shape=(DEC_X_DIM,), what="the gradient for decoder.bias")])


register_judge(Judge(
    name="decoder_gradient",
    assess=statistical_assess(_decoder_statistics, _decoder_estimate, "your estimate of grad_theta ELBO"),
    statistics=_decoder_statistics,
    estimate=_decoder_estimate,
    section=(Reading("ch5-theta-gradient", "The gradient with respect to θ"),),
    what="the Monte Carlo estimate of grad_theta of the batch's ELBO (sum over data points), one tensor per decoder "
         "parameter, with n_samples samples of q per data point",
))


VAE_ELBO_THRESHOLD = -21.0  # nats per held-out image; the reference reaches -18.4 to -19.4 in ~3 s; a collapsed
# posterior or a decoder that ignores z gives -24.5, an untrained model -44


def _vae_assess(case, value):
    import torch

    from vaelib.data import digits
    from vaelib.models import VAE
    from vaelib.probability import elbo

    keys = vae_keys()
    items = expect_items(value, len(keys), "the model's weights")
    state = {k: torch.tensor(expect_tensor(item, shape=shape, what=f"the weights {k}"), dtype=torch.float32)
             for (k, shape), item in zip(keys, items, strict=True)}
    model = VAE(**VAE_ARCH)
    model.load_state_dict(state)
    model.eval()
    _, _, x_test, _ = digits(binarize=True)
    generator_state, threads = torch.random.get_rng_state(), torch.get_num_threads()
    torch.manual_seed(case["seed"])
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            value_elbo = elbo(x_test, model.encode, model.decode, n_samples=case["n_samples"]).mean().item()
    finally:
        torch.random.set_rng_state(generator_state)
        torch.set_num_threads(threads)
    if not value_elbo >= VAE_ELBO_THRESHOLD:
        raise CheckFailure(f"The held-out ELBO of your trained model, evaluated by the grader with "
                           f"{case['n_samples']} samples per image, is {value_elbo:.2f} nats per image; it must be "
                           f"at least {VAE_ELBO_THRESHOLD}. (The reference reaches about -19 in a few seconds.)")


register_judge(Judge(
    name="vae_heldout_elbo",
    assess=_vae_assess,
    section=(Reading("ch6-vae", "Training a VAE with each estimator"),
             Reading("ch4-training-step", "One training step, by hand")),
    what=f"your trained VAE (vaelib.models.VAE(x_dim=64, hidden=128, z_dim=4)) reaches a held-out ELBO of at "
         f"least {VAE_ELBO_THRESHOLD} nats per image on the binarized digits test split",
))
