"""Exact answers for a VAE with a 2-D latent: log p(x), the posterior p(z|x) and KL(q || p(z|x)) on a grid.

Chapter 2's method: with z in the plane, p(x) = integral of p(x, z) dz is a sum over a fine regular grid of
points z_g with cell area A, p(x) ~ sum_g p(x, z_g) A, and p(z_g | x) = p(x, z_g) / p(x) at every grid point.
Every function takes the log-joint on the grid, log p(x, z_g), shape (..., G) (one row per image), so it works
for any decoder; ``bernoulli_log_joint`` computes it for the book's Bernoulli decoder. All sums in log space.
"""

import math

import torch
import torch.nn.functional as F

from vaelib.full_covariance import log_normal_tril, scale_tril
from vaelib.probability import log_standard_normal


def latent_grid(limit: float = 10.0, n: int = 151, device=None, dtype=None):
    """The n x n grid on [-limit, limit]^2: points (n * n, 2), row-major in z1, and the
    area of one cell."""
    axis = torch.linspace(-limit, limit, n, device=device, dtype=dtype)
    points = torch.cartesian_prod(axis, axis)  # (n * n, 2)
    return points, (2 * limit / (n - 1)) ** 2


def prior_mass_outside(limit: float, z_dim: int = 2) -> float:
    """P(z outside [-limit, limit]^k) for z ~ N(0, I): 1 - (1 - 2 Phi(-limit))^k."""
    tail = math.erfc(limit / math.sqrt(2.0))  # P(|z_j| > limit) = 2 Phi(-limit)
    return -math.expm1(z_dim * math.log1p(-tail))


def local_grids(mean: torch.Tensor, sd: torch.Tensor, n: int = 41, width: float = 6.0):
    """One n x n grid per image over mean +- width * sd (e.g. the posterior's moments
    from a coarse grid): mean, sd (..., 2) -> points (..., n * n, 2), cell areas
    (...)."""
    steps = torch.linspace(-width, width, n, device=mean.device, dtype=mean.dtype)
    unit = torch.cartesian_prod(steps, steps)  # (n * n, 2)
    points = mean[..., None, :] + sd[..., None, :] * unit
    return points, (sd * 2 * width / (n - 1)).prod(-1)


def bernoulli_log_joint(x: torch.Tensor, logits: torch.Tensor,
                        points: torch.Tensor) -> torch.Tensor:
    """log p(x, z_g) = log p(x | z_g) + log p(z_g) for binary images x (N, d), with
    the decoder's logits l at the points: sum_j x_j l_j - softplus(l_j) (chapter 4's
    Bernoulli formula) plus the prior. One grid for all images: points (G, 2), logits
    (..., G, d); a grid per image: points (..., N, G, 2), logits (..., N, G, d).
    Returns (..., N, G)."""
    softplus = F.softplus(logits).sum(-1)  # (..., G) or (..., N, G)
    if points.dim() == 2:  # one grid: a matrix product for all images
        log_lik = x @ logits.transpose(-1, -2) - softplus[..., None, :]
    else:
        log_lik = torch.einsum("nd,...ngd->...ng", x, logits) - softplus
    return log_lik + log_standard_normal(points)


def log_marginal(log_joint: torch.Tensor, cell_area) -> torch.Tensor:
    """log p(x) ~ log sum_g p(x, z_g) A: (..., G) -> (...); A one number or one per
    image (...)."""
    area = torch.as_tensor(cell_area, dtype=log_joint.dtype, device=log_joint.device)
    return torch.logsumexp(log_joint, dim=-1) + torch.log(area)


def posterior_moments(log_joint: torch.Tensor, points: torch.Tensor):
    """Mean (..., 2) and covariance (..., 2, 2) of p(z|x) on the grid: weights
    p(x, z_g) / sum_g' p(x, z_g') at the points, (G, 2) or (..., G, 2)."""
    weights = torch.softmax(log_joint, dim=-1)[..., None, :]  # (..., 1, G), sum to 1
    mean = (weights @ points).squeeze(-2)  # (..., 2)
    products = (points[..., :, None] * points[..., None, :]).flatten(-2)  # (..., G, 4)
    second = (weights @ products).reshape(*mean.shape, 2)
    return mean, second - mean[..., :, None] * mean[..., None, :]


def kl_to_posterior(log_q: torch.Tensor, log_joint: torch.Tensor,
                    log_px: torch.Tensor | None = None) -> torch.Tensor:
    """KL(q || p(z|x)) = E_q[log q(z) - log p(z|x)] on a grid, (..., G) -> (...).

    ``log_q`` and ``log_joint`` are log q(z_g) and log p(x, z_g) at the grid points. The
    expectation weights point g by q(z_g) / sum_g' q(z_g'): a Riemann sum, so the grid
    must hold q's mass in cells small against q's width. log p(z_g|x) = log p(x, z_g) -
    log p(x) with ``log_px`` (...) when given (e.g. from another grid), else with this
    grid's own sum (then the grid must hold the posterior's mass too)."""
    weights = torch.softmax(log_q, dim=-1)  # (..., G), sum to one
    if log_px is None:  # both as masses of the cells: the cell area cancels
        log_ratio = torch.log_softmax(log_q, -1) - torch.log_softmax(log_joint, -1)
    else:
        log_ratio = log_q - log_joint + log_px[..., None]  # log q(z) - log p(z|x)
    return (weights * log_ratio).sum(-1)


def fit_gaussian(points: torch.Tensor, log_joint: torch.Tensor, mu: torch.Tensor,
                 log_var: torch.Tensor, full_covariance: bool = False,
                 steps: int = 100, lr: float = 0.05):
    """The Gaussian q = N(mu, L L^T) closest to p(z|x) in KL(q || p(z|x)), one per
    image: q refitted to each image, without an encoder. Adam on the grid KL from the
    start (mu, log_var), each (..., 2); mean field unless ``full_covariance``. points
    (..., G, 2) and log_joint (..., G) as from :func:`local_grids`. Returns mu (..., 2),
    L (..., 2, 2) and the KL (...)."""
    mu = mu.detach().clone().requires_grad_()
    log_var = log_var.detach().clone().requires_grad_()
    below = torch.zeros(*mu.shape[:-1], 1, dtype=mu.dtype, device=mu.device,
                        requires_grad=True)  # L_21: stays 0 for the mean field
    variables = [mu, log_var, below] if full_covariance else [mu, log_var]
    optimiser = torch.optim.Adam(variables, lr=lr)

    def kl_and_factor():
        L = scale_tril(log_var, below)
        log_q = log_normal_tril(points, mu[..., None, :], L[..., None, :, :])
        return kl_to_posterior(log_q, log_joint), L

    for _ in range(steps):
        optimiser.zero_grad()
        kl_and_factor()[0].sum().backward()  # the images' problems are independent
        optimiser.step()
    with torch.no_grad():
        kl, L = kl_and_factor()
    return mu.detach(), L, kl
