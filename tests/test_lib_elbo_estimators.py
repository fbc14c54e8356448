"""Tests of vaelib.linear_gaussian and vaelib.estimators against independent references.

References: torch.distributions (MultivariateNormal, Normal, kl_divergence), numpy.linalg (Gaussian conditioning
from the joint covariance of (z, x)), Gauss-Hermite quadrature (numpy.polynomial.hermite_e) for exact moments.
Stochastic checks are z-tests whose variance comes from an analytic formula or from exact quadrature, never from
the sample under test (see shared/notes/statistical-grading.md). Each is two-sided at z = 5.0, a false-failure
probability of about 5.7e-7 per check (normal approximation); with < 40 stochastic checks the file falsely fails
with probability < 3e-5.
"""

import math

import numpy as np
import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from vaelib.estimators import (
    pathwise_samples,
    per_sample_gradients,
    quadratic_gradient,
    quadratic_variances,
    score_function_samples,
)
from vaelib.linear_gaussian import LinearGaussianModel, gaussian_kl_full

Z_CRIT = 5.0  # P(|N(0,1)| > 5) = 5.7e-7 per check
DT = torch.float64


def model_and_x(seed=0, x_dim=5, z_dim=2, noise_std=0.5):
    model = LinearGaussianModel.random(x_dim=x_dim, z_dim=z_dim, noise_std=noise_std, seed=seed)
    g = torch.Generator().manual_seed(100 + seed)
    x, _ = model.sample(1, generator=g)
    return model, x[0]


def random_q(k, seed):
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(k, generator=g, dtype=DT)
    A = torch.randn(k, k, generator=g, dtype=DT)
    cov = A @ A.T + 0.1 * torch.eye(k, dtype=DT)
    return mean, cov


# ---------------------------------------------------------------- linear_gaussian


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_marginal_matches_torch_multivariate_normal(seed):
    model, _ = model_and_x(seed, x_dim=6, z_dim=3, noise_std=0.3 + 0.2 * seed)
    xs, _ = model.sample(4, generator=torch.Generator().manual_seed(seed))
    # independent: p(x) = N(b, W W^T + s^2 I) built by hand, evaluated by torch.distributions
    cov = model.W @ model.W.T + model.noise_std**2 * torch.eye(6, dtype=DT)
    reference = MultivariateNormal(model.b, covariance_matrix=cov)
    for x in xs:
        torch.testing.assert_close(model.log_marginal(x), reference.log_prob(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 3])
def test_posterior_matches_gaussian_conditioning(seed):
    model, x = model_and_x(seed, x_dim=5, z_dim=3)
    W, b, s2 = model.W.numpy(), model.b.numpy(), model.noise_std**2
    k, d = W.shape[1], W.shape[0]
    # joint of (z, x): mean (0, b), cov [[I, W^T], [W, W W^T + s^2 I]]; condition on x (numpy only)
    joint = np.block([[np.eye(k), W.T], [W, W @ W.T + s2 * np.eye(d)]])
    szz, szx, sxx = joint[:k, :k], joint[:k, k:], joint[k:, k:]
    m_ref = szx @ np.linalg.solve(sxx, x.numpy() - b)
    S_ref = szz - szx @ np.linalg.solve(sxx, szx.T)
    m, S = model.posterior(x)
    np.testing.assert_allclose(m.numpy(), m_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(S.numpy(), S_ref, rtol=1e-10, atol=1e-12)


def torch_log_joint(model, x, z):
    """log p(z) + log p(x|z) with torch.distributions, z (n, k) -> (n,)."""
    prior = Normal(torch.zeros((), dtype=DT), torch.ones((), dtype=DT)).log_prob(z).sum(-1)
    lik = Normal(z @ model.W.T + model.b, model.noise_std).log_prob(x).sum(-1)
    return prior + lik


@pytest.mark.parametrize("q_seed", [10, 11])
def test_elbo_closed_form_matches_monte_carlo(q_seed):
    model, x = model_and_x(0)
    mean, cov = random_q(model.z_dim, q_seed)
    q = MultivariateNormal(mean, covariance_matrix=cov)
    torch.manual_seed(q_seed)
    n = 400_000
    z = q.sample((n,))
    integrand = torch_log_joint(model, x, z) - q.log_prob(z)  # (n,)
    # The integrand is a quadratic form of a Gaussian (all moments finite, sub-exponential tails), so at
    # n = 4e5 its sample standard deviation is within ~1% of the true one: the z-test below stays at ~5.7e-7.
    se = integrand.std() / math.sqrt(n)
    assert abs(integrand.mean() - model.elbo(x, mean, cov)) < Z_CRIT * se


@pytest.mark.parametrize("q_seed", [20, 21, 22])
def test_gaussian_kl_full_matches_torch(q_seed):
    mu0, cov0 = random_q(3, q_seed)
    mu1, cov1 = random_q(3, q_seed + 100)
    reference = kl_divergence(MultivariateNormal(mu0, cov0), MultivariateNormal(mu1, cov1))
    torch.testing.assert_close(gaussian_kl_full(mu0, cov0, mu1, cov1), reference, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gaussian_kl_full(mu0, cov0, mu0, cov0), torch.zeros((), dtype=DT), atol=1e-12, rtol=0)


@pytest.mark.parametrize("q_seed", [30, 31, 32, 33])
def test_log_marginal_is_elbo_plus_kl(q_seed):
    model, x = model_and_x(1, x_dim=4, z_dim=2)
    mean, cov = random_q(2, q_seed)
    total = model.elbo(x, mean, cov) + model.kl_to_posterior(x, mean, cov)
    assert abs(total - model.log_marginal(x)).item() < 1e-10
    assert model.kl_to_posterior(x, mean, cov) > 0  # a random q is not the posterior


def test_iwae_matches_torch_distributions_and_is_exact_at_posterior():
    model, x = model_and_x(2)
    mean, cov = random_q(model.z_dim, 40)
    eps = torch.randn(7, 16, model.z_dim, generator=torch.Generator().manual_seed(0), dtype=DT)
    q = MultivariateNormal(mean, cov)
    z = mean + eps @ torch.linalg.cholesky(cov).T
    log_w = torch_log_joint(model, x, z.reshape(-1, model.z_dim)).reshape(7, 16) - q.log_prob(z)
    reference = torch.logsumexp(log_w, dim=-1) - math.log(16)
    torch.testing.assert_close(model.iwae(x, mean, cov, eps), reference, rtol=1e-12, atol=1e-12)
    m, S = model.posterior(x)  # q = p(z|x): every weight equals p(x), any K gives log p(x)
    torch.testing.assert_close(model.iwae(x, m, S, eps), model.log_marginal(x).expand(7), rtol=0, atol=1e-10)


# ---------------------------------------------------------------- estimators

SETTINGS = [(1.0, 1.0, 0.0), (0.5, 2.0, 3.0), (1.0, 0.5, 4.0)]  # (mu, sigma, k)


def quadratic(k):
    return lambda z: (z - k) ** 2


@pytest.mark.parametrize("mu,sigma,k", SETTINGS)
@pytest.mark.parametrize("name,estimator", [("pathwise", pathwise_samples), ("score_function", score_function_samples)])
def test_estimators_unbiased(mu, sigma, k, name, estimator):
    n = 200_000
    eps = torch.randn(n, generator=torch.Generator().manual_seed(int(10 * mu + 100 * k)), dtype=DT)
    estimate = estimator(quadratic(k), mu, sigma, eps).mean(0)  # (2,)
    truth = quadratic_gradient(mu, sigma, k)
    variances = quadratic_variances(mu, sigma, k)[name]  # analytic single-sample variances
    for j in range(2):
        z = (estimate[j].item() - truth[j]) / math.sqrt(variances[j] / n)
        assert abs(z) < Z_CRIT, f"{name} coordinate {j}: z = {z:.2f}"


def quadrature_moments(samples_of_eps, order=4, nodes=40):
    """Exact E[g(eps)^p] for p = 1..order, eps ~ N(0, 1), g polynomial, by Gauss-Hermite (probabilists')."""
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    g = samples_of_eps(x)  # (nodes, 2)
    mean = w @ g
    central = [w @ (g - mean) ** p for p in range(2, order + 1)]
    return mean, central


def closed_form_samples(mu, sigma, k):
    """Hand-derived per-sample estimators as numpy polynomials in eps: (n,) -> (n, 2) for each estimator."""
    def pathwise(e):
        z = mu + sigma * e
        return np.stack([2 * (z - k), 2 * (z - k) * e], -1)

    def score(e):
        f = (mu + sigma * e - k) ** 2
        return np.stack([f * e / sigma, f * (e**2 - 1) / sigma], -1)

    def score_baseline(e):  # f minus its mean (mu - k)^2 + sigma^2
        f = (mu + sigma * e - k) ** 2 - (mu - k) ** 2 - sigma**2
        return np.stack([f * e / sigma, f * (e**2 - 1) / sigma], -1)

    return {"pathwise": pathwise, "score_function": score, "score_function_baseline": score_baseline}


@pytest.mark.parametrize("mu,sigma,k", SETTINGS + [(1.0, 1.0, 10.0)])
def test_quadratic_variances_exact_by_quadrature(mu, sigma, k):
    analytic = quadratic_variances(mu, sigma, k)
    for name, g in closed_form_samples(mu, sigma, k).items():
        mean, (var, _, _) = quadrature_moments(g)
        np.testing.assert_allclose(mean, quadratic_gradient(mu, sigma, k), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(var, analytic[name], rtol=1e-10)


@pytest.mark.parametrize("mu,sigma,k", SETTINGS)
def test_quadratic_variances_match_empirical(mu, sigma, k):
    n = 2_000_000
    eps = torch.randn(n, generator=torch.Generator().manual_seed(7), dtype=DT)
    analytic = quadratic_variances(mu, sigma, k)
    for name, estimator in [("pathwise", pathwise_samples), ("score_function", score_function_samples)]:
        empirical = estimator(quadratic(k), mu, sigma, eps).var(0).numpy()  # (2,)
        _, (var, _, mu4) = quadrature_moments(closed_form_samples(mu, sigma, k)[name])
        # Var(sample variance) = (mu4 - sigma^4) / n + O(1/n^2), mu4 the exact 4th central moment
        se = np.sqrt((mu4 - var**2) / n)
        assert np.all(np.abs(empirical - np.array(analytic[name])) < Z_CRIT * se), (name, empirical, analytic[name])


def test_pathwise_samples_match_hand_derived_formula():
    mu, sigma, k = 0.7, 1.3, 2.0
    eps = torch.randn(1000, generator=torch.Generator().manual_seed(3), dtype=DT)
    z = mu + sigma * eps
    expected = torch.stack([2 * (z - k), 2 * (z - k) * eps], -1)  # d/dmu, d/dsigma of (mu + sigma eps - k)^2
    torch.testing.assert_close(pathwise_samples(quadratic(k), mu, sigma, eps), expected, rtol=1e-12, atol=1e-12)


def test_score_function_samples_match_torch_normal_score():
    mu, sigma, k = 0.7, 1.3, 2.0
    eps = torch.randn(50, generator=torch.Generator().manual_seed(4), dtype=DT)
    mu_t = torch.tensor(mu, dtype=DT, requires_grad=True)
    sigma_t = torch.tensor(sigma, dtype=DT, requires_grad=True)
    rows = []
    for e in eps:
        z = (mu + sigma * e).detach()
        grads = torch.autograd.grad(Normal(mu_t, sigma_t).log_prob(z), (mu_t, sigma_t))  # score by autograd
        rows.append(torch.stack(grads) * (z - k) ** 2)
    torch.testing.assert_close(score_function_samples(quadratic(k), mu, sigma, eps), torch.stack(rows),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mu,sigma,k", SETTINGS + [(1.0, 1.0, 10.0)])
def test_score_function_with_baseline_by_numerical_integration(mu, sigma, k):
    """The library's baseline estimator and the table's variances against the trapezoidal rule on a fine grid of
    eps over [-14, 14] (independent of the polynomial algebra and of Gauss-Hermite; the tails beyond hold < 1e-40)."""
    from scipy import integrate, stats

    baseline = (mu - k) ** 2 + sigma**2  # E[f]
    e = np.linspace(-14.0, 14.0, 200_001)
    g = score_function_samples(quadratic(k), mu, sigma, torch.tensor(e, dtype=DT), baseline).numpy()  # (n, 2)
    density = stats.norm.pdf(e)[:, None]
    first = integrate.trapezoid(g * density, e, axis=0)
    second = integrate.trapezoid(g**2 * density, e, axis=0)
    np.testing.assert_allclose(first, quadratic_gradient(mu, sigma, k), rtol=1e-8, atol=1e-9)  # unbiased
    np.testing.assert_allclose(second - first**2, quadratic_variances(mu, sigma, k)["score_function_baseline"],
                               rtol=1e-7)


def test_per_sample_gradients_match_one_backward_pass_per_sample():
    """Against torch.autograd.grad called once per sample, for a function of two parameter tensors of different
    shapes (the order of the flattened result: the parameters in turn, each row-major)."""
    g = torch.Generator().manual_seed(3)
    W = torch.randn(4, 2, generator=g, dtype=DT)
    b = torch.randn(4, generator=g, dtype=DT)
    samples = torch.randn(7, 2, generator=g, dtype=DT)

    def f(W, b, z):  # a scalar for one sample z (2,)
        return torch.tanh(W @ z + b).pow(2).sum() + (W * b[:, None]).sum() * z[0]

    ours = per_sample_gradients(f, (W, b), samples)  # (7, 12)
    assert ours.shape == (7, 12)
    for i, z in enumerate(samples):
        W_i, b_i = W.clone().requires_grad_(), b.clone().requires_grad_()
        gW, gb = torch.autograd.grad(f(W_i, b_i, z), (W_i, b_i))
        torch.testing.assert_close(ours[i], torch.cat([gW.flatten(), gb]))
