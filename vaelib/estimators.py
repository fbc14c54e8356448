"""Monte Carlo estimators of grad_{mu, sigma} E_{z ~ N(mu, sigma^2)}[f(z)] (Mohamed et al. 2020).

Here ``sigma`` is a standard deviation. Both estimators return per-sample estimates of shape
(n_samples, 2): column 0 is the mu-gradient, column 1 the sigma-gradient. Average over rows for the estimate.
"""

import torch


def score_function_samples(f, mu: float, sigma: float,
                           eps: torch.Tensor) -> torch.Tensor:
    """Score-function (REINFORCE) estimates f(z) grad log q(z), (n,) -> (n, 2).

    With z = mu + sigma * eps: d/dmu log q = eps / sigma and
    d/dsigma log q = (eps^2 - 1) / sigma.
    """
    z = mu + sigma * eps
    fz = f(z)
    return torch.stack([fz * eps / sigma, fz * (eps**2 - 1.0) / sigma], dim=-1)


def pathwise_samples(f, mu: float, sigma: float, eps: torch.Tensor) -> torch.Tensor:
    """Reparameterized (pathwise) estimates grad f(mu + sigma * eps), one per eps,
    (n,) -> (n, 2), by autograd."""
    mu_t = torch.full_like(eps, float(mu), requires_grad=True)
    sigma_t = torch.full_like(eps, float(sigma), requires_grad=True)
    z = mu_t + sigma_t * eps
    grad_mu, grad_sigma = torch.autograd.grad(f(z).sum(), (mu_t, sigma_t))
    return torch.stack([grad_mu, grad_sigma], dim=-1)


def quadratic_gradient(mu: float, sigma: float, k: float) -> tuple[float, float]:
    """True gradient of E[(z - k)^2] = (mu - k)^2 + sigma^2: (2 (mu - k), 2 sigma)."""
    return 2.0 * (mu - k), 2.0 * sigma


def quadratic_variances(mu: float, sigma: float, k: float) -> dict[str, tuple[float, float]]:
    """Single-sample variances of both estimators for f(z) = (z - k)^2, a = mu - k (derived in chapter 6)."""
    a, s2 = mu - k, sigma**2
    return {
        "pathwise": (4.0 * s2, 4.0 * a**2 + 8.0 * s2),
        "score_function": (a**4 / s2 + 14.0 * a**2 + 15.0 * s2, 2.0 * a**4 / s2 + 60.0 * a**2 + 74.0 * s2),
    }
