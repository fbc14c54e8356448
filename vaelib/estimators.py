"""Monte Carlo estimators of grad_{mu, sigma} E_{z ~ N(mu, sigma^2)}[f(z)] (Mohamed et al. 2020).

Here ``sigma`` is a standard deviation. Both estimators return per-sample estimates of shape
(n_samples, 2): column 0 is the mu-gradient, column 1 the sigma-gradient. Average over rows for the estimate.
"""

import torch


def score_function_samples(f, mu: float, sigma: float, eps: torch.Tensor,
                           baseline: float = 0.0) -> torch.Tensor:
    """Score-function (REINFORCE) estimates (f(z) - b) grad log q(z), (n,) -> (n, 2).

    With z = mu + sigma * eps: d/dmu log q = eps / sigma and
    d/dsigma log q = (eps^2 - 1) / sigma. A constant ``baseline`` b keeps the estimate
    unbiased, because E[grad log q] = 0, and changes its variance.
    """
    z = mu + sigma * eps
    fz = f(z) - baseline
    return torch.stack([fz * eps / sigma, fz * (eps**2 - 1.0) / sigma], dim=-1)


def pathwise_samples(f, mu: float, sigma: float, eps: torch.Tensor) -> torch.Tensor:
    """Reparameterized (pathwise) estimates grad f(mu + sigma * eps), one per eps,
    (n,) -> (n, 2), by autograd."""
    mu_t = torch.full_like(eps, float(mu), requires_grad=True)
    sigma_t = torch.full_like(eps, float(sigma), requires_grad=True)
    z = mu_t + sigma_t * eps
    grad_mu, grad_sigma = torch.autograd.grad(f(z).sum(), (mu_t, sigma_t))
    return torch.stack([grad_mu, grad_sigma], dim=-1)


def quadratic_gradient(mu: float, sigma: float, c: float) -> tuple[float, float]:
    """True gradient of E[(z - c)^2] = (mu - c)^2 + sigma^2: (2 (mu - c), 2 sigma)."""
    return 2.0 * (mu - c), 2.0 * sigma


def quadratic_variances(mu: float, sigma: float, c: float) -> dict[str, tuple[float, float]]:
    """Single-sample variances of the estimators for f(z) = (z - c)^2, a = mu - c (derived in chapter 6):
    pathwise, score function, and score function with the baseline b = E[f] = a^2 + sigma^2."""
    a, s2 = mu - c, sigma**2
    return {
        "pathwise": (4.0 * s2, 4.0 * a**2 + 8.0 * s2),
        "score_function": (a**4 / s2 + 14.0 * a**2 + 15.0 * s2, 2.0 * a**4 / s2 + 60.0 * a**2 + 74.0 * s2),
        "score_function_baseline": (8.0 * a**2 + 10.0 * s2, 40.0 * a**2 + 56.0 * s2),
    }


def per_sample_gradients(f, params: tuple, samples: torch.Tensor) -> torch.Tensor:
    """One gradient of f(*params, sample) with respect to all of ``params`` for each of
    the n ``samples`` (n, ...), flattened and concatenated: (n, number of parameters).

    f returns a scalar. The n gradients are computed in one vectorised call
    (torch.func.grad inside torch.func.vmap), not one backward pass per sample.
    """
    gradient = torch.func.grad(f, argnums=tuple(range(len(params))))
    in_dims = (None,) * len(params) + (0,)  # the parameters are shared, the samples not
    grads = torch.func.vmap(gradient, in_dims=in_dims)(*params, samples)
    return torch.cat([g.reshape(len(samples), -1) for g in grads], dim=1)
