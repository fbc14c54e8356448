"""vaelib.full_covariance and vaelib.exact_grid against independent references.

References: torch.distributions (MultivariateNormal with scale_tril, kl_divergence, Bernoulli), scipy.stats (the
normal tail) and the closed forms of the linear-Gaussian model (log p(x), the posterior N(m, S), KL to it and the
mean-field optimum 1 / Lambda_jj of chapter 5), which the grid must reproduce. Chapter 7 rests on these. The one
stochastic check is a z-test at 5 standard errors with the variance known in closed form (false failure about
5.7e-7 per coordinate).
"""

import math

import pytest
import scipy.stats
import torch
from torch.distributions import Bernoulli, MultivariateNormal, Normal, kl_divergence

from vaelib.exact_grid import (
    bernoulli_log_joint,
    fit_gaussian,
    kl_to_posterior,
    latent_grid,
    local_grids,
    log_marginal,
    posterior_moments,
    prior_mass_outside,
)
from vaelib.full_covariance import gaussian_kl_tril, log_det_tril, log_normal_tril, reparameterize_tril, scale_tril
from vaelib.linear_gaussian import LinearGaussianModel
from vaelib.probability import gaussian_kl

DT = torch.float64
pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=DT)


# ---------------------------------------------------------------- the Cholesky factor and the change of variables


@pytest.mark.parametrize("k", [1, 2, 3])
def test_scale_tril_places_the_entries(k):
    log_var, below = randn(4, k, seed=1), randn(4, k * (k - 1) // 2, seed=2)
    L = scale_tril(log_var, below)
    assert L.shape == (4, k, k)
    torch.testing.assert_close(torch.diagonal(L, dim1=-2, dim2=-1), torch.exp(0.5 * log_var))
    assert torch.all(torch.triu(L, diagonal=1) == 0)
    rows, cols = zip(*[(i, j) for i in range(k) for j in range(i)], strict=True) if k > 1 else ((), ())
    for n, (i, j) in enumerate(zip(rows, cols, strict=True)):  # row by row below the diagonal
        torch.testing.assert_close(L[:, i, j], below[:, n])
    zero = scale_tril(log_var, torch.zeros_like(below))  # mean field: L L^T = diag(exp(log_var))
    torch.testing.assert_close(zero @ zero.transpose(-1, -2), torch.diag_embed(log_var.exp()))


def test_scale_tril_keeps_gradients():
    log_var = randn(3, 2, seed=3).requires_grad_()
    below = randn(3, 1, seed=4).requires_grad_()
    scale_tril(log_var, below).sum().backward()
    torch.testing.assert_close(below.grad, torch.ones_like(below))
    torch.testing.assert_close(log_var.grad, 0.5 * torch.exp(0.5 * log_var.detach()))


@pytest.mark.parametrize("k", [1, 2, 4])
def test_log_normal_tril_matches_multivariate_normal(k):
    mu = randn(6, k, seed=5)
    L = scale_tril(randn(6, k, seed=6), randn(6, k * (k - 1) // 2, seed=7))
    z = randn(9, 6, k, seed=8)  # (samples, batch, k): broadcasts against (batch, k)
    reference = MultivariateNormal(mu, scale_tril=L).log_prob(z)
    torch.testing.assert_close(log_normal_tril(z, mu, L), reference, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(log_det_tril(L), torch.logdet(L @ L.transpose(-1, -2)) / 2, rtol=1e-12, atol=1e-12)


def test_log_normal_tril_broadcasts_one_factor_over_many_points():
    mu, L = randn(2, seed=9), scale_tril(randn(2, seed=10), randn(1, seed=11))
    points = randn(50, 2, seed=12)
    torch.testing.assert_close(log_normal_tril(points, mu, L), MultivariateNormal(mu, scale_tril=L).log_prob(points))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_gaussian_kl_tril_matches_torch_and_the_diagonal_closed_form(k):
    mu = randn(5, k, seed=13)
    log_var, below = randn(5, k, seed=14), randn(5, k * (k - 1) // 2, seed=15)
    L = scale_tril(log_var, below)
    prior = MultivariateNormal(torch.zeros(k, dtype=DT), torch.eye(k, dtype=DT))
    reference = kl_divergence(MultivariateNormal(mu, scale_tril=L), prior)
    torch.testing.assert_close(gaussian_kl_tril(mu, L), reference, rtol=1e-12, atol=1e-12)
    diagonal = scale_tril(log_var, torch.zeros_like(below))
    torch.testing.assert_close(gaussian_kl_tril(mu, diagonal), gaussian_kl(mu, log_var), rtol=1e-12, atol=1e-12)


def test_reparameterize_tril_columns_and_moments():
    mu = torch.tensor([0.5, -1.0], dtype=DT)
    L = scale_tril(torch.tensor([0.2, -0.6], dtype=DT), torch.tensor([0.7], dtype=DT))
    basis = torch.eye(2, dtype=DT)  # eps = e_j gives mu + (column j of L)
    torch.testing.assert_close(reparameterize_tril(mu, L, basis) - mu, L.T)
    n = 200_000
    z = reparameterize_tril(mu, L, randn(n, 2, seed=16))
    cov = L @ L.T
    z_mean = (z.mean(0) - mu) / (torch.diagonal(cov) / n).sqrt()
    assert z_mean.abs().max() < 5  # the mean, in standard errors
    # the sample covariance against L L^T: standard error of a covariance entry sqrt((S_ii S_jj + S_ij^2) / n)
    se = ((torch.diagonal(cov)[:, None] * torch.diagonal(cov)[None, :] + cov**2) / n).sqrt()
    assert ((torch.cov(z.T) - cov) / se).abs().max() < 5


# ---------------------------------------------------------------- the grid against the linear-Gaussian closed forms


def _linear_gaussian(seed=0, noise_std=0.8):
    model = LinearGaussianModel.random(x_dim=5, z_dim=2, noise_std=noise_std, seed=seed)
    x, _ = model.sample(3, generator=torch.Generator().manual_seed(seed + 1))
    return model, x


def _log_joint(model, x, points):  # (images, G) from the model's own log_joint
    return torch.stack([model.log_joint(xi, points if points.dim() == 2 else points[i]) for i, xi in enumerate(x)])


def test_grid_log_marginal_and_posterior_moments_are_exact_for_a_gaussian_model():
    model, x = _linear_gaussian()
    points, area = latent_grid(limit=10.0, n=301, dtype=DT)
    log_joint = _log_joint(model, x, points)  # (3, G)
    exact = torch.stack([model.log_marginal(xi) for xi in x])
    torch.testing.assert_close(log_marginal(log_joint, area), exact, rtol=0, atol=1e-8)
    mean, cov = posterior_moments(log_joint, points)
    for i, xi in enumerate(x):
        m, S = model.posterior(xi)
        torch.testing.assert_close(mean[i], m, rtol=0, atol=1e-8)
        torch.testing.assert_close(cov[i], S, rtol=0, atol=1e-8)


def test_local_grids_and_the_kl_to_the_posterior():
    model, x = _linear_gaussian(seed=3, noise_std=0.5)
    exact_post = [model.posterior(xi) for xi in x]
    mean = torch.stack([m for m, _ in exact_post])
    sd = torch.stack([torch.diagonal(S).sqrt() for _, S in exact_post])
    points, areas = local_grids(mean, sd, n=41, width=7.0)  # (3, 41 * 41, 2), (3,)
    assert points.shape == (3, 41 * 41, 2) and areas.shape == (3,)
    log_joint = _log_joint(model, x, points)
    exact = torch.stack([model.log_marginal(xi) for xi in x])
    torch.testing.assert_close(log_marginal(log_joint, areas), exact, rtol=0, atol=1e-7)
    q_mean = mean + torch.tensor([0.1, -0.05], dtype=DT)
    L = scale_tril(torch.log(0.7 * sd**2), torch.full((3, 1), 0.02, dtype=DT))
    kl = kl_to_posterior(log_normal_tril(points, q_mean[:, None], L[:, None]), log_joint)
    for i, xi in enumerate(x):
        reference = model.kl_to_posterior(xi, q_mean[i], L[i] @ L[i].T)  # closed form, chapter 5
        torch.testing.assert_close(kl[i], reference, rtol=0, atol=1e-7)


def test_fit_gaussian_finds_the_mean_field_optimum_and_the_posterior():
    model, x = _linear_gaussian(seed=5, noise_std=0.6)
    exact_post = [model.posterior(xi) for xi in x]
    mean = torch.stack([m for m, _ in exact_post])
    sd = torch.stack([torch.diagonal(S).sqrt() for _, S in exact_post])
    points, _ = local_grids(mean, sd, n=41, width=7.0)
    log_joint = _log_joint(model, x, points)
    start_mu, start_log_var = mean + 0.3, torch.log(sd**2) - 0.5
    mu, L, kl = fit_gaussian(points, log_joint, start_mu, start_log_var, steps=400, lr=0.05)
    assert torch.all(L[:, 1, 0] == 0)  # mean field: no correlation
    for i, xi in enumerate(x):
        mf_mean, mf_cov = model.mean_field_posterior(xi)  # closed form: v_j = 1 / Lambda_jj
        torch.testing.assert_close(mu[i], mf_mean, rtol=0, atol=1e-4)
        torch.testing.assert_close(L[i] @ L[i].T, mf_cov, rtol=1e-3, atol=1e-6)
        torch.testing.assert_close(kl[i], model.kl_to_posterior(xi, mf_mean, mf_cov), rtol=0, atol=1e-6)
    mu_full, L_full, kl_full = fit_gaussian(points, log_joint, start_mu, start_log_var, full_covariance=True,
                                            steps=600, lr=0.05)
    assert kl_full.max() < 1e-6  # the posterior is Gaussian: the full covariance reaches it
    for i in range(3):
        torch.testing.assert_close(L_full[i] @ L_full[i].T, exact_post[i][1], rtol=1e-3, atol=1e-5)
    assert torch.all(kl_full < kl)


# ---------------------------------------------------------------- the Bernoulli decoder on a grid


def test_bernoulli_log_joint_matches_torch_distributions_for_both_grid_shapes():
    x = (randn(4, 6, seed=20) > 0).to(DT)  # 4 binary images of 6 pixels
    points = randn(7, 2, seed=21)  # one grid for all images
    logits = randn(7, 6, seed=22)
    prior = Normal(torch.zeros(2, dtype=DT), torch.ones(2, dtype=DT))
    reference = (Bernoulli(logits=logits[None]).log_prob(x[:, None]).sum(-1)
                 + prior.log_prob(points).sum(-1)[None])  # (4, 7)
    torch.testing.assert_close(bernoulli_log_joint(x, logits, points), reference, rtol=1e-12, atol=1e-12)
    per_image_points, per_image_logits = randn(4, 7, 2, seed=23), randn(4, 7, 6, seed=24)  # a grid per image
    reference = (Bernoulli(logits=per_image_logits).log_prob(x[:, None]).sum(-1)
                 + prior.log_prob(per_image_points).sum(-1))
    result = bernoulli_log_joint(x, per_image_logits, per_image_points)
    torch.testing.assert_close(result, reference, rtol=1e-12, atol=1e-12)
    members = randn(3, 7, 6, seed=25)  # one grid, three decoders: (members, images, G)
    stacked = torch.stack([bernoulli_log_joint(x, member, points) for member in members])
    torch.testing.assert_close(bernoulli_log_joint(x, members, points), stacked)


@pytest.mark.parametrize("limit", [2.0, 6.0, 10.0])
def test_prior_mass_outside_the_box(limit):
    tail = 2 * scipy.stats.norm.sf(limit)  # P(|z_j| > limit), without cancellation
    for k in (1, 2, 3):  # 1 - (1 - tail)^k, expanded: k t - C(k, 2) t^2 + C(k, 3) t^3
        reference = sum((-1) ** (j + 1) * math.comb(k, j) * tail**j for j in range(1, k + 1))
        assert math.isclose(prior_mass_outside(limit, z_dim=k), reference, rel_tol=1e-9, abs_tol=0)


def test_latent_grid_cells():
    points, area = latent_grid(limit=3.0, n=7)
    assert points.shape == (49, 2) and math.isclose(area, 1.0)
    assert points.min() == -3.0 and points.max() == 3.0


def test_kl_on_a_grid_centred_on_q_with_log_px_from_elsewhere():
    """A grid that follows q (not the posterior) gives the KL when log p(x) comes from another grid."""
    model, x = _linear_gaussian(seed=7, noise_std=0.5)
    q_mean = torch.tensor([[1.5, -1.0], [0.0, 2.0], [-2.0, 0.5]], dtype=DT)  # far from the posteriors
    q_sd = torch.tensor([[0.2, 0.3], [0.25, 0.1], [0.3, 0.3]], dtype=DT)
    L = scale_tril(torch.log(q_sd**2), torch.full((3, 1), 0.05, dtype=DT))
    q_sd_marginal = torch.diagonal(L @ L.transpose(-1, -2), dim1=-2, dim2=-1).sqrt()
    points, _ = local_grids(q_mean, q_sd_marginal, n=41, width=7.0)
    log_joint = _log_joint(model, x, points)
    log_px = torch.stack([model.log_marginal(xi) for xi in x])
    kl = kl_to_posterior(log_normal_tril(points, q_mean[:, None], L[:, None]), log_joint, log_px)
    for i, xi in enumerate(x):
        torch.testing.assert_close(kl[i], model.kl_to_posterior(xi, q_mean[i], L[i] @ L[i].T), rtol=0, atol=1e-7)
