"""A linear-Gaussian VAE: linear encoder, linear decoder with Gaussian noise. At its optimum it is
probabilistic PCA, with an ELBO equal to the log-likelihood (Tipping & Bishop 1999; Lucas et al. 2019).

q_phi(z|x) = N(A x + c, diag(exp(log_var))),  p_theta(x|z) = N(W z + b, s^2 I_d),  p(z) = N(0, I_k).
phi = (A, c, log_var) are the encoder's weights, theta = (W, b, log s^2) the decoder's. Everything is float64.
Because the decoder is linear, E_q[log p(x|z)] has a closed form, so the ELBO is exact (no sampling).
"""

import math

import torch
from torch import nn

from vaelib.linear_gaussian import LinearGaussianModel
from vaelib.probability import gaussian_kl

DT = torch.float64


class LinearVAE(nn.Module):
    """Linear encoder and decoder; the encoder's variance is the same for every x (so is the exact posterior's)."""

    def __init__(self, x_dim: int, z_dim: int, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.A = nn.Parameter(0.1 * torch.randn(z_dim, x_dim, generator=g, dtype=DT))  # encoder, (k, d)
        self.c = nn.Parameter(torch.zeros(z_dim, dtype=DT))
        self.log_var = nn.Parameter(torch.zeros(z_dim, dtype=DT))  # log sigma^2 of q, (k,)
        self.W = nn.Parameter(0.1 * torch.randn(x_dim, z_dim, generator=g, dtype=DT))  # decoder, (d, k)
        self.b = nn.Parameter(torch.zeros(x_dim, dtype=DT))
        self.log_noise_var = nn.Parameter(torch.zeros((), dtype=DT))  # log s^2

    def encode(self, x):
        """x (batch, d) -> mu, log_var, each (batch, k): (mu, log sigma^2) = enc_phi(x)."""
        mu = x @ self.A.T + self.c
        return mu, self.log_var.expand_as(mu)

    def decode(self, z):
        """z (..., k) -> the mean W z + b of p_theta(x|z), (..., d)."""
        return z @ self.W.T + self.b

    def expected_log_likelihood(self, x, mu, log_var):
        """E_q[log N(x | W z + b, s^2 I)] in closed form, (batch,), with W_j column j:
        -1/2 (d log(2 pi s^2)
              + (||x - W mu - b||^2 + sum_j ||W_j||^2 sigma_j^2) / s^2)."""
        d = x.shape[-1]
        residual = ((x - self.decode(mu)) ** 2).sum(-1)  # (batch,)
        # E||W (sigma * eps)||^2 = tr(W diag(sigma^2) W^T), (batch,)
        spread = (log_var.exp() * (self.W**2).sum(0)).sum(-1)
        log_2pi_s2 = math.log(2 * math.pi) + self.log_noise_var
        return -0.5 * (d * log_2pi_s2 + (residual + spread) / self.log_noise_var.exp())

    def elbo(self, x):
        """Exact ELBO per data point, (batch,): E_q[log p(x|z)] - KL(q(z|x) || N(0, I))."""
        mu, log_var = self.encode(x)
        return self.expected_log_likelihood(x, mu, log_var) - gaussian_kl(mu, log_var)

    def generative_model(self) -> LinearGaussianModel:
        """The decoder as a LinearGaussianModel (exact log p(x) and p(z|x)), detached."""
        return LinearGaussianModel(self.W.detach(), self.b.detach(), self.log_noise_var.detach().exp().sqrt().item())

    @torch.no_grad()
    def log_marginal(self, x):
        """Exact log p_theta(x) = log N(x | b, W W^T + s^2 I), (batch,), by one Cholesky factor."""
        d = x.shape[-1]
        cov = self.W @ self.W.T + self.log_noise_var.exp() * torch.eye(d, dtype=DT, device=x.device)
        L = torch.linalg.cholesky(cov)
        white = torch.linalg.solve_triangular(L, (x - self.b).T, upper=False)  # (d, batch)
        log_det = 2.0 * torch.log(torch.diagonal(L)).sum()
        return -0.5 * (d * math.log(2 * math.pi) + log_det + (white**2).sum(0))


def train_linear_vae(model: LinearVAE, x: torch.Tensor, steps: int = 500, lr: float = 0.02) -> list[float]:
    """Maximise the mean exact ELBO over all of x (full batch) with Adam; returns the mean ELBO per step."""
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(steps):
        objective = model.elbo(x).mean()
        optimiser.zero_grad()
        (-objective).backward()
        optimiser.step()
        history.append(objective.item())
    return history
