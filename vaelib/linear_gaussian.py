"""A linear-Gaussian latent-variable model, where everything the ELBO chapter needs is exact.

p(z) = N(0, I_k),  p(x | z) = N(W z + b, s^2 I_d).  Then (Tipping & Bishop 1999)
p(x) = N(b, W W^T + s^2 I_d) and p(z | x) = N(m, S) with S = (I_k + W^T W / s^2)^{-1}, m = S W^T (x - b) / s^2.
All computations are in float64 so identities can be checked to ~1e-12.
"""

import math
from dataclasses import dataclass

import torch


def gaussian_kl_full(mu0, cov0, mu1, cov1) -> torch.Tensor:
    """KL( N(mu0, cov0) || N(mu1, cov1) ) for full covariance matrices (k,), (k, k)."""
    k = mu0.shape[-1]
    cov1_inv = torch.linalg.inv(cov1)
    diff = mu1 - mu0
    return 0.5 * (
        torch.trace(cov1_inv @ cov0)
        + diff @ cov1_inv @ diff
        - k
        + torch.logdet(cov1)
        - torch.logdet(cov0)
    )


@dataclass
class LinearGaussianModel:
    W: torch.Tensor  # (d, k) decoder weights
    b: torch.Tensor  # (d,) decoder bias
    noise_std: float  # s, a standard deviation

    @classmethod
    def random(cls, x_dim: int = 5, z_dim: int = 2, noise_std: float = 0.5, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        W = torch.randn(x_dim, z_dim, generator=g, dtype=torch.float64)
        b = torch.randn(x_dim, generator=g, dtype=torch.float64)
        return cls(W, b, noise_std)

    @property
    def z_dim(self) -> int:
        return self.W.shape[1]

    def sample(self, n: int, generator: torch.Generator | None = None):
        """Draw (x, z) from the joint: z (n, k), x (n, d)."""
        z = torch.randn(n, self.z_dim, generator=generator, dtype=torch.float64)
        noise = torch.randn(n, self.W.shape[0], generator=generator, dtype=torch.float64)
        return z @ self.W.T + self.b + self.noise_std * noise, z

    def log_joint(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x, z) = log p(z) + log p(x|z); x (d,), z (..., k) -> (...)."""
        d = x.shape[-1]
        mean = z @ self.W.T + self.b
        variance = self.noise_std**2
        log_lik = -0.5 * (d * math.log(2 * math.pi * variance)
                          + ((x - mean) ** 2).sum(-1) / variance)
        log_prior = -0.5 * (self.z_dim * math.log(2 * math.pi) + (z**2).sum(-1))
        return log_lik + log_prior

    def marginal_cov(self) -> torch.Tensor:
        d = self.W.shape[0]
        return self.W @ self.W.T + self.noise_std**2 * torch.eye(d, dtype=self.W.dtype, device=self.W.device)

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) = log N(x | b, W W^T + s^2 I) for one x (d,)."""
        cov = self.marginal_cov()
        diff = x - self.b
        d = x.shape[-1]
        return -0.5 * (d * math.log(2 * math.pi) + torch.logdet(cov) + diff @ torch.linalg.solve(cov, diff))

    def posterior(self, x: torch.Tensor):
        """Exact p(z | x) = N(m, S) for one x (d,): returns m (k,), S (k, k)."""
        eye = torch.eye(self.z_dim, dtype=self.W.dtype, device=self.W.device)
        S = torch.linalg.inv(eye + self.W.T @ self.W / self.noise_std**2)
        m = S @ self.W.T @ (x - self.b) / self.noise_std**2
        return m, S

    def mean_field_posterior(self, x: torch.Tensor):
        """The diagonal Gaussian q = N(m, diag(v)) closest to p(z|x) = N(m, S) in
        KL(q || p), for one x (d,).

        Setting the derivatives of KL(q || p) to zero gives the posterior mean m and
        v_j = 1 / Lambda_jj, the inverse diagonal of the posterior precision
        Lambda = S^{-1} = I + W^T W / s^2 (chapter 5). Returns m (k,) and diag(v)
        (k, k).
        """
        m, _ = self.posterior(x)
        eye = torch.eye(self.z_dim, dtype=self.W.dtype, device=self.W.device)
        precision = eye + self.W.T @ self.W / self.noise_std**2
        return m, torch.diag(1.0 / torch.diagonal(precision))

    def elbo(self, x: torch.Tensor, q_mean: torch.Tensor,
             q_cov: torch.Tensor) -> torch.Tensor:
        """Exact ELBO E_q[log p(x, z) - log q(z)] for a Gaussian q = N(q_mean, q_cov).
        """
        d, k = self.W.shape
        s2 = self.noise_std**2
        residual = x - self.W @ q_mean - self.b
        spread = torch.trace(self.W.T @ self.W @ q_cov)  # E||W (z - q_mean)||^2
        expected_log_lik = -0.5 * (d * math.log(2 * math.pi * s2)
                                   + (residual @ residual + spread) / s2)
        expected_log_prior = -0.5 * (k * math.log(2 * math.pi) + q_mean @ q_mean
                                     + torch.trace(q_cov))
        entropy = 0.5 * (k * (1.0 + math.log(2 * math.pi)) + torch.logdet(q_cov))
        return expected_log_lik + expected_log_prior + entropy

    def kl_to_posterior(self, x: torch.Tensor, q_mean: torch.Tensor, q_cov: torch.Tensor) -> torch.Tensor:
        """KL( q || p(z|x) ), exact."""
        m, S = self.posterior(x)
        return gaussian_kl_full(q_mean, q_cov, m, S)

    def iwae(self, x: torch.Tensor, q_mean: torch.Tensor, q_cov: torch.Tensor,
             eps: torch.Tensor) -> torch.Tensor:
        """IWAE estimates log (1/K) sum_j p(x, z_j) / q(z_j) (Burda et al. 2016) for
        q = N(q_mean, q_cov).

        ``eps`` (..., K, k) is standard normal noise, z_j = q_mean + L eps_j with
        L L^T = q_cov; returns (...), one K-sample estimate per leading index. Its mean
        is the IWAE bound; K = 1 estimates the ELBO.
        """
        k = self.z_dim
        L = torch.linalg.cholesky(q_cov)
        z = q_mean + eps @ L.T  # (..., K, k)
        log_det = 2.0 * torch.log(torch.diagonal(L)).sum()
        log_q = -0.5 * (k * math.log(2 * math.pi) + log_det + (eps**2).sum(-1))
        log_w = self.log_joint(x, z) - log_q  # (..., K)
        return torch.logsumexp(log_w, dim=-1) - math.log(eps.shape[-2])
