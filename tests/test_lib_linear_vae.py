"""vaelib.pca.ppca_max_likelihood, vaelib.linear_vae and LinearGaussianModel.mean_field_posterior against
independent references: scikit-learn's PCA.score (the probabilistic PCA likelihood), torch.distributions
(MultivariateNormal, Normal, kl_divergence), scipy.optimize (a numerical minimiser of the KL) and a Monte Carlo
z-test whose variance comes from a separate reference run (false failure about 5.7e-7 per check at z = 5).
Chapter 5 rests on these: linear VAE = probabilistic PCA, and the mean-field fit of the posterior.
"""

import math

import numpy as np
import pytest
import scipy.optimize
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from vaelib.linear_gaussian import LinearGaussianModel
from vaelib.linear_vae import LinearVAE, train_linear_vae
from vaelib.pca import pca_basis, ppca_max_likelihood, principal_angles
from vaelib.probability import log_normal

DT = torch.float64
Z_CRIT = 5.0


@pytest.fixture(scope="module")
def digits_01():
    return load_digits().data / 16.0  # (1797, 64), all images, grey levels in [0, 1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


# ---------------------------------------------------------------- probabilistic PCA in closed form


@pytest.mark.parametrize("q", [1, 2, 5, 10])
def test_ppca_log_likelihood_matches_sklearn_pca_score(digits_01, q):
    fit = ppca_max_likelihood(digits_01, q)
    reference = PCA(n_components=q, svd_solver="full").fit(digits_01).score(digits_01)
    # sklearn estimates the noise variance with the unbiased covariance (1/(n-1)): agreement to ~1e-5 nats
    np.testing.assert_allclose(fit["avg_log_likelihood"], reference, atol=2e-5)


def test_ppca_values_of_the_issue(digits_01):
    values = {q: ppca_max_likelihood(digits_01, q)["avg_log_likelihood"] for q in (2, 10)}
    assert round(values[2], 4) == 0.0057 and round(values[10], 4) == 17.4519


@pytest.mark.parametrize("q", [2, 10])
def test_ppca_parameters_give_the_stated_likelihood(digits_01, q):
    fit = ppca_max_likelihood(digits_01, q)
    cov = fit["W"] @ fit["W"].T + fit["noise_var"] * np.eye(64)
    model = MultivariateNormal(torch.tensor(fit["mean"]), covariance_matrix=torch.tensor(cov))
    average = model.log_prob(torch.tensor(digits_01)).mean().item()
    np.testing.assert_allclose(average, fit["avg_log_likelihood"], rtol=0, atol=1e-9)
    # W spans the principal subspace, and the noise variance is the mean of the discarded eigenvalues
    np.testing.assert_allclose(principal_angles(fit["W"], pca_basis(digits_01, q)), 0.0, atol=1e-6)
    eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(digits_01.T, bias=True)))[::-1]
    np.testing.assert_allclose(fit["noise_var"], eigenvalues[q:].mean(), rtol=1e-10)


def test_ppca_rejects_a_perturbed_optimum(digits_01):
    """The closed form is a maximum: moving W or s^2 a little lowers the likelihood (torch.distributions)."""
    fit = ppca_max_likelihood(digits_01, 2)
    x = torch.tensor(digits_01)

    def average(W, noise_var):
        cov = torch.tensor(W @ W.T + noise_var * np.eye(64))
        return MultivariateNormal(torch.tensor(fit["mean"]), covariance_matrix=cov).log_prob(x).mean().item()

    best = average(fit["W"], fit["noise_var"])
    assert average(1.05 * fit["W"], fit["noise_var"]) < best
    assert average(fit["W"], 1.05 * fit["noise_var"]) < best
    assert average(fit["W"], 0.95 * fit["noise_var"]) < best


# ---------------------------------------------------------------- the linear VAE


def small_linear_vae(seed=0):
    torch.manual_seed(seed)
    model = LinearVAE(x_dim=5, z_dim=2, seed=seed)
    with torch.no_grad():  # move away from the initialisation so that every term matters
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, dtype=DT))
    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(seed + 1), dtype=DT)
    return model, x


@pytest.mark.parametrize("seed", [0, 1])
def test_linear_vae_elbo_matches_linear_gaussian_model(seed):
    model, x = small_linear_vae(seed)
    exact = model.generative_model()  # an independent closed form of the same ELBO, one x at a time
    mu, log_var = model.encode(x)
    with torch.no_grad():
        ours = model.elbo(x)
    for i in range(len(x)):
        reference = exact.elbo(x[i], mu[i].detach(), torch.diag(log_var[i].detach().exp()))
        torch.testing.assert_close(ours[i], reference, rtol=1e-12, atol=1e-12)


def test_linear_vae_elbo_matches_monte_carlo_with_torch_distributions(seed=0):
    model, x = small_linear_vae(seed)
    with torch.no_grad():
        mu, log_var = model.encode(x)
        q = Normal(mu, torch.exp(0.5 * log_var))  # (7, 2)
        s = model.log_noise_var.exp().sqrt()

        def integrand(n, generator_seed):
            torch.manual_seed(generator_seed)
            z = q.sample((n,))  # (n, 7, 2)
            log_lik = Normal(model.decode(z), s).log_prob(x).sum(-1)
            log_prior = Normal(0.0, 1.0).log_prob(z).sum(-1)
            return log_lik + log_prior - q.log_prob(z).sum(-1)  # (n, 7)

        n = 200_000
        sd = integrand(n, 1).std(0)  # reference run for the standard error
        estimate = integrand(n, 2).mean(0)
        z_scores = (estimate - model.elbo(x)) / (sd / math.sqrt(n))
    assert z_scores.abs().max() < Z_CRIT, z_scores


def test_linear_vae_log_marginal_matches_torch_distributions():
    model, x = small_linear_vae(3)
    cov = model.W @ model.W.T + model.log_noise_var.exp() * torch.eye(5, dtype=DT)
    reference = MultivariateNormal(model.b, covariance_matrix=cov).log_prob(x)
    torch.testing.assert_close(model.log_marginal(x), reference.detach(), rtol=1e-12, atol=1e-12)


def test_linear_vae_encoder_outputs_and_kl():
    model, x = small_linear_vae(4)
    mu, log_var = model.encode(x)
    torch.testing.assert_close(mu, x @ model.A.T + model.c)
    assert log_var.shape == mu.shape and torch.all(log_var == model.log_var)  # the same sigma^2 for every x
    kl = (model.expected_log_likelihood(x, mu, log_var) - model.elbo(x)).detach()
    q = Normal(mu.detach(), torch.exp(0.5 * log_var.detach()))
    reference = kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)
    torch.testing.assert_close(kl, reference, rtol=1e-12, atol=1e-12)
    # the Gaussian decoder's log-density is vaelib.probability.log_normal with log s^2 in every pixel
    z = torch.randn(3, 7, 2, dtype=DT)
    log_s2 = model.log_noise_var.expand(5)
    reference = Normal(model.decode(z), model.log_noise_var.exp().sqrt()).log_prob(x).sum(-1)
    torch.testing.assert_close(log_normal(x, model.decode(z), log_s2), reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("q", [2, 10])
def test_trained_linear_vae_reaches_ppca(digits_01, q):
    """Training the ELBO reaches the PPCA maximum likelihood, with ELBO = log-likelihood (Lucas et al. 2019)."""
    x = torch.tensor(digits_01 - digits_01.mean(0))
    model = LinearVAE(x_dim=64, z_dim=q, seed=0)
    history = train_linear_vae(model, x, steps=400, lr=0.02)
    with torch.no_grad():
        elbo = model.elbo(x).mean().item()
        log_likelihood = model.log_marginal(x).mean().item()
    best = ppca_max_likelihood(digits_01, q)["avg_log_likelihood"]
    assert len(history) == 400 and history[-1] > history[0]
    assert elbo <= log_likelihood + 1e-9 <= best + 2e-9  # a lower bound, below the maximum
    assert best - elbo < 0.05, (best, elbo, log_likelihood)
    W = model.W.detach().numpy()
    assert principal_angles(W, pca_basis(digits_01, q)).max() < 0.1  # the principal subspace (chapter 3)


# ---------------------------------------------------------------- mean field


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mean_field_posterior_minimises_kl_numerically(seed):
    model = LinearGaussianModel.random(x_dim=5, z_dim=3, noise_std=0.7, seed=seed)
    x, _ = model.sample(1, generator=torch.Generator().manual_seed(seed))
    m, S = model.posterior(x[0])
    posterior = MultivariateNormal(m, covariance_matrix=S)

    def kl(params):  # KL(q || p(z|x)) for q = N(mean, diag(exp(log_v))), by torch.distributions
        mean, log_v = torch.tensor(params[:3]), torch.tensor(params[3:])
        q = MultivariateNormal(mean, covariance_matrix=torch.diag(log_v.exp()))
        return kl_divergence(q, posterior).item()

    result = scipy.optimize.minimize(kl, np.zeros(6), method="Nelder-Mead",
                                     options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 40_000, "maxfev": 40_000})
    mean_field_mean, mean_field_cov = model.mean_field_posterior(x[0])
    np.testing.assert_allclose(result.x[:3], mean_field_mean.numpy(), atol=1e-4)
    np.testing.assert_allclose(np.exp(result.x[3:]), torch.diagonal(mean_field_cov).numpy(), rtol=1e-3)
    # the mean-field variances never exceed the posterior's marginal variances
    assert torch.all(torch.diagonal(mean_field_cov) <= torch.diagonal(S) + 1e-12)
