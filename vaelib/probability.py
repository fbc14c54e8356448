"""Log-densities, the Gaussian KL, the reparameterization trick, the ELBO and the IWAE bound.

Shapes: x (batch, x_dim); mu, log_var (batch, z_dim); samples z (n_samples, batch, z_dim).
``log_var`` is log(sigma^2), the log-variance, everywhere in this module.
"""

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2.0 * math.pi)


def log_normal(x: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """log N(x | mu, diag(exp(log_var))), summed over the last dimension: (..., d) -> (...)."""
    return -0.5 * (LOG_2PI + log_var + (x - mu) ** 2 / log_var.exp()).sum(-1)


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z | 0, I), summed over the last dimension: the prior p(z) of the VAE."""
    return -0.5 * (LOG_2PI + z**2).sum(-1)


def gaussian_kl(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL( N(mu, diag(exp(log_var))) || N(0, I) ) in closed form, summed over z_dim: (batch, z_dim) -> (batch,).

    Kingma & Welling 2014, App. B: -KL = 1/2 * sum(1 + log sigma^2 - mu^2 - sigma^2).
    """
    return 0.5 * (mu**2 + log_var.exp() - 1.0 - log_var).sum(-1)


def bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log p(x | z) for a factorised Bernoulli decoder with the given logits, summed over pixels.

    x in [0, 1] (binary, or grey levels read as probabilities); logits (..., x_dim) broadcast against x.
    Uses the stable form of x*log(sigmoid(l)) + (1-x)*log(1-sigmoid(l)); returns (...).
    """
    x = x.expand_as(logits)
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def reparameterize(mu: torch.Tensor, log_var: torch.Tensor,
                   eps: torch.Tensor | None = None) -> torch.Tensor:
    """z = mu + sigma * eps with sigma = exp(log_var / 2) and eps ~ N(0, I): a sample of
    q(z|x) that stays differentiable in (mu, log_var). ``eps`` broadcasts against mu,
    e.g. (n_samples, batch, z_dim)."""
    if eps is None:
        eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * log_var) * eps


def elbo(x: torch.Tensor, encoder, decoder, n_samples: int = 1) -> torch.Tensor:
    """Monte Carlo ELBO per data point, (batch,): E_q[log p(x|z)] - KL(q(z|x) || p(z)).

    ``encoder(x)`` returns (mu, log_var), each (batch, z_dim); ``decoder(z)`` returns Bernoulli logits
    (..., x_dim). The expectation uses ``n_samples`` reparameterized samples; the KL is analytic
    (Kingma & Welling 2014, eq. 10).
    """
    mu, log_var = encoder(x)
    eps = torch.randn((n_samples, *mu.shape), dtype=mu.dtype, device=mu.device)
    z = reparameterize(mu, log_var, eps)  # (n_samples, batch, z_dim)
    reconstruction = bernoulli_log_likelihood(x, decoder(z)).mean(0)  # (batch,)
    return reconstruction - gaussian_kl(mu, log_var)


def elbo_monte_carlo(x: torch.Tensor, encoder, decoder, n_samples: int = 1) -> torch.Tensor:
    """The lecture's form of the ELBO, E_q[log p(x, z) - log q(z|x)], with every term sampled: (batch,)."""
    mu, log_var = encoder(x)
    eps = torch.randn((n_samples, *mu.shape), dtype=mu.dtype, device=mu.device)
    z = reparameterize(mu, log_var, eps)
    log_joint = bernoulli_log_likelihood(x, decoder(z)) + log_standard_normal(z)
    return (log_joint - log_normal(z, mu, log_var)).mean(0)


def iwae_bound(x: torch.Tensor, encoder, decoder, n_samples: int = 16) -> torch.Tensor:
    """Importance-weighted bound (Burda et al. 2016), (batch,): log (1/K) sum_k p(x, z_k) / q(z_k|x).

    Equals the ELBO in expectation for K = 1 and tightens towards log p(x) as K grows.
    """
    mu, log_var = encoder(x)
    eps = torch.randn((n_samples, *mu.shape), dtype=mu.dtype, device=mu.device)
    z = reparameterize(mu, log_var, eps)
    log_w = bernoulli_log_likelihood(x, decoder(z)) + log_standard_normal(z) - log_normal(z, mu, log_var)
    return torch.logsumexp(log_w, dim=0) - math.log(n_samples)


def log_mean_exp(a: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """log( (1/M) sum_m exp(a_m) ) along ``dim`` (M = a.shape[dim]), without underflow
    or overflow.

    The Monte Carlo average of probabilities exp(a_m) computed in log space, e.g. the
    naive estimate log p(x) ~ log mean_m p(x | z_m) with z_m ~ p(z).
    torch.logsumexp subtracts max_m a_m before exponentiating.
    """
    return torch.logsumexp(a, dim=dim) - math.log(a.shape[dim])


def bits_per_dim(log_likelihood, dims: int):
    """A log-likelihood per data point in nats, as bits per dimension: -log p / (dims ln 2).

    For binary pixels, 1 bit per pixel is a fair coin. For a density (continuous data) the
    value depends on the data's scale and can be negative."""
    return -log_likelihood / (dims * math.log(2.0))


def independent_pixel_logits(x_train: torch.Tensor) -> torch.Tensor:
    """Logits (x_dim,) of chapter 1's model without a latent variable: every pixel an
    independent coin whose probability is its smoothed frequency in x_train
    (batch, x_dim), (count + 1) / (n + 2)."""
    return torch.logit((x_train.sum(0) + 1) / (len(x_train) + 2))
