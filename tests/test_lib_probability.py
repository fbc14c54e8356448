"""Tests of vaelib.probability against independent references.

References: torch.distributions (Normal, Independent, Bernoulli, kl_divergence), scipy.special (logsumexp,
log_expit) and Gauss-Hermite quadrature (numpy.polynomial.hermite_e) for exact expectations under q(z|x).
Stochastic checks are z-tests whose variance comes from quadrature or from an independent numpy reference run,
never from the sample under test (shared/notes/statistical-grading.md); two-sided at z = 5, a false-failure
probability of about 5.7e-7 per check.
"""

import math

import numpy as np
import pytest
import scipy.special
import torch
from numpy.polynomial.hermite_e import hermegauss
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from vaelib.probability import (
    bernoulli_log_likelihood,
    elbo,
    elbo_monte_carlo,
    gaussian_kl,
    independent_pixel_logits,
    iwae_bound,
    log_mean_exp,
    log_normal,
    log_standard_normal,
    reparameterize,
)

Z_CRIT = 5.0
DT = torch.float64


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=DT)


# ---------------------------------------------------------------- log-densities


@pytest.mark.parametrize("shape", [(7, 3), (4, 6, 2), (1, 1)])
def test_log_normal_matches_torch_distributions(shape):
    x, mu, log_var = randn(*shape, seed=1), randn(*shape, seed=2), randn(*shape, seed=3)
    # log_var is log sigma^2: the reference takes the standard deviation exp(log_var / 2)
    reference = Independent(Normal(mu, torch.exp(0.5 * log_var)), 1).log_prob(x)
    result = log_normal(x, mu, log_var)
    assert result.shape == shape[:-1]
    torch.testing.assert_close(result, reference, rtol=1e-12, atol=1e-12)


def test_log_normal_broadcasts_samples_against_batch():
    z = randn(5, 3, 2, seed=4)  # (n_samples, batch, z_dim)
    mu, log_var = randn(3, 2, seed=5), randn(3, 2, seed=6)
    reference = Independent(Normal(mu, torch.exp(0.5 * log_var)), 1).log_prob(z)
    torch.testing.assert_close(log_normal(z, mu, log_var), reference, rtol=1e-12, atol=1e-12)


def test_log_standard_normal_matches_torch_distributions():
    z = 3 * randn(6, 4, 5, seed=7)
    reference = Independent(Normal(torch.zeros(5, dtype=DT), torch.ones(5, dtype=DT)), 1).log_prob(z)
    torch.testing.assert_close(log_standard_normal(z), reference, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- KL


def test_gaussian_kl_matches_torch_kl_divergence():
    mu, log_var = 2 * randn(9, 4, seed=8), randn(9, 4, seed=9)
    q = Independent(Normal(mu, torch.exp(0.5 * log_var)), 1)
    p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    torch.testing.assert_close(gaussian_kl(mu, log_var), kl_divergence(q, p), rtol=1e-12, atol=1e-12)


def test_gaussian_kl_is_zero_only_at_the_prior_and_positive_elsewhere():
    zeros = torch.zeros(3, 4, dtype=DT)
    torch.testing.assert_close(gaussian_kl(zeros, zeros), torch.zeros(3, dtype=DT))
    assert (gaussian_kl(randn(50, 4, seed=10), randn(50, 4, seed=11)) > 0).all()


# ---------------------------------------------------------------- Bernoulli decoder


def test_bernoulli_log_likelihood_matches_torch_bernoulli_on_binary_data():
    logits = 3 * randn(8, 64, seed=12)
    x = (torch.rand(8, 64, generator=torch.Generator().manual_seed(13), dtype=DT) < 0.4).to(DT)
    reference = Independent(Bernoulli(logits=logits), 1).log_prob(x)
    torch.testing.assert_close(bernoulli_log_likelihood(x, logits), reference, rtol=1e-12, atol=1e-12)


def test_bernoulli_log_likelihood_grey_levels_and_extreme_logits():
    x = torch.rand(5, 10, generator=torch.Generator().manual_seed(14), dtype=DT)  # grey levels in [0, 1]
    logits = 40 * randn(5, 10, seed=15)  # |logit| up to ~100: a naive log(sigmoid) would give -inf
    xn, ln = x.numpy(), logits.numpy()
    reference = (xn * scipy.special.log_expit(ln) + (1 - xn) * scipy.special.log_expit(-ln)).sum(-1)
    result = bernoulli_log_likelihood(x, logits)
    assert torch.isfinite(result).all()
    np.testing.assert_allclose(result.numpy(), reference, rtol=1e-12, atol=1e-10)


def test_bernoulli_log_likelihood_broadcasts_x_against_sampled_logits():
    x = (randn(3, 6, seed=16) > 0).to(DT)   # (batch, x_dim)
    logits = randn(4, 3, 6, seed=17)         # (n_samples, batch, x_dim)
    result = bernoulli_log_likelihood(x, logits)
    assert result.shape == (4, 3)
    torch.testing.assert_close(result, Independent(Bernoulli(logits=logits), 1).log_prob(x.expand(4, 3, 6)))


# ---------------------------------------------------------------- reparameterization


def test_reparameterize_with_given_noise_is_mu_plus_sigma_eps():
    mu, log_var, eps = randn(4, 3, seed=18), randn(4, 3, seed=19), randn(7, 4, 3, seed=20)
    sigma = torch.sqrt(torch.exp(log_var))  # a standard deviation, computed differently on purpose
    torch.testing.assert_close(reparameterize(mu, log_var, eps), mu + sigma * eps, rtol=1e-12, atol=1e-12)


def test_reparameterize_is_differentiable_in_mu_and_log_var():
    mu = torch.tensor([0.3, -1.0], dtype=DT, requires_grad=True)
    log_var = torch.tensor([0.2, -0.6], dtype=DT, requires_grad=True)
    eps = torch.tensor([1.5, -0.5], dtype=DT)
    grad_mu, grad_log_var = torch.autograd.grad(reparameterize(mu, log_var, eps).sum(), (mu, log_var))
    torch.testing.assert_close(grad_mu, torch.ones(2, dtype=DT))
    torch.testing.assert_close(grad_log_var, 0.5 * torch.exp(0.5 * log_var.detach()) * eps)  # dz/dlog sigma^2


def test_reparameterize_samples_have_the_right_mean_and_variance():
    torch.manual_seed(21)
    n = 200_000
    mu = torch.tensor([1.0, -2.0], dtype=DT)
    log_var = torch.tensor([math.log(4.0), math.log(0.25)], dtype=DT)
    z = reparameterize(mu.expand(n, 2), log_var.expand(n, 2))
    var = log_var.exp()
    # z-tests with known variances: Var[mean] = sigma^2 / n, Var[sample variance] = 2 sigma^4 / n (Gaussian)
    assert ((z.mean(0) - mu).abs() < Z_CRIT * torch.sqrt(var / n)).all()
    assert ((z.var(0) - var).abs() < Z_CRIT * torch.sqrt(2 * var**2 / n)).all()


# ---------------------------------------------------------------- ELBO and IWAE on a 1-D latent model
# A Bernoulli decoder with logits w * z + c and a fixed Gaussian q(z|x) = N(m, v): every expectation over
# q is a 1-D integral that Gauss-Hermite quadrature computes to ~1e-12, independently of vaelib.

X = torch.tensor([[1.0, 0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0, 1.0]], dtype=DT)  # (batch=2, x_dim=5)
W_DEC = torch.tensor([1.5, -2.0, 0.7, 1.2, -0.4], dtype=DT)
C_DEC = torch.tensor([0.1, -0.3, 0.5, 0.0, -0.2], dtype=DT)
Q_MEAN = torch.tensor([[0.4], [-0.8]], dtype=DT)      # (batch, 1)
Q_LOG_VAR = torch.tensor([[-0.5], [0.3]], dtype=DT)   # (batch, 1) log v


def make_encoder(rows):
    """An encoder for a batch made of copies of X[rows]: returns the fixed q of each row."""
    def _encoder(x):
        return Q_MEAN[rows], Q_LOG_VAR[rows]
    return _encoder


def decoder(z):
    return z * W_DEC + C_DEC  # (..., 1) -> (..., 5) logits


def numpy_log_lik(x_row, z):
    """log p(x | z) for scalar latents z (n,), in numpy/scipy only."""
    logits = z[:, None] * W_DEC.numpy() + C_DEC.numpy()
    x = x_row.numpy()
    return (x * scipy.special.log_expit(logits) + (1 - x) * scipy.special.log_expit(-logits)).sum(-1)


def numpy_log_norm(z, mean, var):
    return -0.5 * (math.log(2 * math.pi * var) + (z - mean) ** 2 / var)


def quadrature_moments(i):
    """Exact E_q and Var_q of log p(x|z) and of log w = log p(x,z) - log q(z), for data point i."""
    nodes, weights = hermegauss(80)
    weights = weights / weights.sum()
    m, v = Q_MEAN[i, 0].item(), Q_LOG_VAR[i, 0].exp().item()
    z = m + math.sqrt(v) * nodes
    log_lik = numpy_log_lik(X[i], z)
    log_w = log_lik + numpy_log_norm(z, 0.0, 1.0) - numpy_log_norm(z, m, v)
    mean_lik, mean_w = weights @ log_lik, weights @ log_w
    return mean_lik, weights @ (log_lik - mean_lik) ** 2, mean_w, weights @ (log_w - mean_w) ** 2


def exact_log_marginal(i):
    """log p(x_i) = log int p(x|z) N(z; 0, 1) dz by quadrature under the prior."""
    nodes, weights = hermegauss(200)
    return scipy.special.logsumexp(numpy_log_lik(X[i], nodes), b=weights / weights.sum())


def test_quadrature_reference_is_self_consistent():
    # the reference ELBO from quadrature equals E_q[log p(x|z)] - KL(q || p), with the KL from torch
    for i in range(2):
        mean_lik, _, mean_w, _ = quadrature_moments(i)
        q = Normal(Q_MEAN[i, 0], torch.exp(0.5 * Q_LOG_VAR[i, 0]))
        kl = kl_divergence(q, Normal(torch.tensor(0.0, dtype=DT), torch.tensor(1.0, dtype=DT))).item()
        assert abs(mean_w - (mean_lik - kl)) < 1e-10
        assert mean_w < exact_log_marginal(i)


def test_elbo_with_shared_noise_matches_torch_distributions_exactly():
    enc = make_encoder([0, 1])
    torch.manual_seed(22)
    result = elbo(X, enc, decoder, n_samples=7)
    torch.manual_seed(22)  # the same noise: elbo draws eps ~ N(0, I) of shape (n_samples, batch, z_dim)
    eps = torch.randn((7, 2, 1), dtype=DT)
    z = Q_MEAN + torch.exp(0.5 * Q_LOG_VAR) * eps
    reconstruction = Independent(Bernoulli(logits=decoder(z)), 1).log_prob(X.expand(7, 2, 5)).mean(0)
    q = Independent(Normal(Q_MEAN, torch.exp(0.5 * Q_LOG_VAR)), 1)
    p = Independent(Normal(torch.zeros_like(Q_MEAN), torch.ones_like(Q_MEAN)), 1)
    torch.testing.assert_close(result, reconstruction - kl_divergence(q, p), rtol=1e-12, atol=1e-12)


def test_elbo_monte_carlo_and_iwae_with_shared_noise_match_torch_distributions_exactly():
    enc = make_encoder([0, 1])
    q = Independent(Normal(Q_MEAN, torch.exp(0.5 * Q_LOG_VAR)), 1)
    prior = Independent(Normal(torch.zeros_like(Q_MEAN), torch.ones_like(Q_MEAN)), 1)
    for fn in (elbo_monte_carlo, iwae_bound):
        torch.manual_seed(23)
        result = fn(X, enc, decoder, n_samples=6)
        torch.manual_seed(23)
        z = Q_MEAN + torch.exp(0.5 * Q_LOG_VAR) * torch.randn((6, 2, 1), dtype=DT)
        log_w = Independent(Bernoulli(logits=decoder(z)), 1).log_prob(X) + prior.log_prob(z) - q.log_prob(z)
        if fn is elbo_monte_carlo:
            reference = log_w.mean(0)
        else:
            reference = torch.tensor(scipy.special.logsumexp(log_w.numpy(), axis=0) - math.log(6))
        torch.testing.assert_close(result, reference, rtol=1e-12, atol=1e-12)


def test_elbo_and_elbo_monte_carlo_agree_in_expectation():
    n = 40_000
    torch.manual_seed(24)
    analytic_kl = elbo(X, make_encoder([0, 1]), decoder, n_samples=n)
    sampled_kl = elbo_monte_carlo(X, make_encoder([0, 1]), decoder, n_samples=n)
    for i in range(2):
        mean_lik, var_lik, true_elbo, var_w = quadrature_moments(i)
        # elbo samples only log p(x|z); elbo_monte_carlo samples all of log w: different variances, same mean
        assert abs(analytic_kl[i].item() - true_elbo) < Z_CRIT * math.sqrt(var_lik / n)
        assert abs(sampled_kl[i].item() - true_elbo) < Z_CRIT * math.sqrt(var_w / n)


def test_iwae_with_one_sample_equals_the_elbo_in_expectation():
    m = 40_000  # independent K = 1 estimates: the batch is m copies of data point 0
    rows = torch.zeros(m, dtype=torch.long)
    torch.manual_seed(25)
    estimates = iwae_bound(X[rows], make_encoder(rows), decoder, n_samples=1)  # (m,)
    _, _, true_elbo, var_w = quadrature_moments(0)
    assert abs(estimates.mean().item() - true_elbo) < Z_CRIT * math.sqrt(var_w / m)


def numpy_iwae(i, k, m, seed):
    """m independent K-sample IWAE estimates for data point i, with numpy/scipy only (the reference)."""
    rng = np.random.default_rng(seed)
    mean, var = Q_MEAN[i, 0].item(), Q_LOG_VAR[i, 0].exp().item()
    z = mean + math.sqrt(var) * rng.standard_normal((m, k))
    log_w = (numpy_log_lik(X[i], z.ravel()).reshape(m, k) + numpy_log_norm(z, 0.0, 1.0)
             - numpy_log_norm(z, mean, var))
    return scipy.special.logsumexp(log_w, axis=1) - math.log(k)


@pytest.mark.parametrize("k", [5, 50])
def test_iwae_bound_lies_between_the_elbo_and_log_marginal_on_average(k):
    i, m = 1, 20_000
    rows = torch.full((m,), i, dtype=torch.long)
    torch.manual_seed(26 + k)
    estimates = iwae_bound(X[rows], make_encoder(rows), decoder, n_samples=k).numpy()  # (m,)
    reference = numpy_iwae(i, k, 200_000, seed=k)  # a large independent run: its mean and variance
    _, _, true_elbo, _ = quadrature_moments(i)
    log_px = exact_log_marginal(i)
    se = math.sqrt(reference.var() / m + reference.var() / len(reference))
    assert abs(estimates.mean() - reference.mean()) < Z_CRIT * se           # same distribution's mean
    assert estimates.mean() - true_elbo > Z_CRIT * se                         # strictly above the ELBO
    assert estimates.mean() < log_px + Z_CRIT * se                            # never above log p(x)
    assert reference.mean() - true_elbo > 0.1 * (log_px - true_elbo)          # a visible gain over the ELBO


# ---------------------------------------------------------------- log_mean_exp


def test_log_mean_exp_matches_scipy_and_survives_extreme_values():
    a = randn(6, 9, seed=27)
    torch.testing.assert_close(log_mean_exp(a, dim=0), torch.log(torch.exp(a).mean(0)))
    torch.testing.assert_close(log_mean_exp(a, dim=1),
                               torch.tensor(scipy.special.logsumexp(a.numpy(), axis=1) - math.log(9)))
    extreme = a * 500 - 1000  # values around -1000 +- 500: exp underflows or overflows in float64
    result = log_mean_exp(extreme, dim=1)
    assert torch.isfinite(result).all()
    np.testing.assert_allclose(result.numpy(), scipy.special.logsumexp(extreme.numpy(), axis=1) - math.log(9),
                               rtol=1e-12)


def test_independent_pixel_logits_match_a_numpy_bernoulli_fit():
    x = (torch.rand(50, 7, generator=torch.Generator().manual_seed(3)) > 0.7).double()
    x[:, 0] = 0.0  # a pixel that is never on still gets a probability above 0
    logits = independent_pixel_logits(x)
    counts = x.numpy().sum(0)
    expected = (counts + 1) / (50 + 2)
    np.testing.assert_allclose(torch.sigmoid(logits).numpy(), expected, rtol=1e-12)
    log_lik = Independent(Bernoulli(logits=logits), 1).log_prob(x)
    reference = (x.numpy() * np.log(expected) + (1 - x.numpy()) * np.log(1 - expected)).sum(1)
    np.testing.assert_allclose(log_lik.numpy(), reference, rtol=1e-12)
