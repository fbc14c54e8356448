"""A Gaussian q(z|x) = N(mu, L L^T) with a full covariance, given by its Cholesky factor L.

L is lower triangular with a positive diagonal. A sample is z = mu + L eps with eps ~ N(0, I) (the
reparameterization trick of chapter 6 with a matrix in place of sigma), and the change of variables
q(z) = N(eps | 0, I) / |det L| gives its density. A diagonal L = diag(sigma) is the lecture's mean-field q.
Shapes: mu (..., k), L (..., k, k), z and eps (..., k); leading dimensions broadcast.
"""

import math

import torch

LOG_2PI = math.log(2.0 * math.pi)


def scale_tril(log_var: torch.Tensor, below: torch.Tensor) -> torch.Tensor:
    """The Cholesky factor L (..., k, k) from unconstrained numbers: the diagonal
    exp(log_var / 2) and the k(k-1)/2 entries ``below`` it, row by row. With ``below``
    zero, L L^T = diag(exp(log_var)): the mean-field q."""
    k = log_var.shape[-1]
    rows, cols = torch.tril_indices(k, k, offset=-1, device=log_var.device)
    L = torch.diag_embed(torch.exp(0.5 * log_var))  # (..., k, k)
    L[..., rows, cols] = below  # L is new: writing into it keeps the autograd graph
    return L


def reparameterize_tril(mu: torch.Tensor, L: torch.Tensor,
                        eps: torch.Tensor) -> torch.Tensor:
    """z = mu + L eps, a sample of N(mu, L L^T) differentiable in (mu, L): (..., k)."""
    return mu + (L @ eps.unsqueeze(-1)).squeeze(-1)


def log_det_tril(L: torch.Tensor) -> torch.Tensor:
    """log |det L| = sum_j log L_jj, L triangular with a positive diagonal: (..., k, k)
    -> (...)."""
    return torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)


def log_normal_tril(z: torch.Tensor, mu: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    """log N(z | mu, L L^T) by the change of variables: eps = L^{-1} (z - mu), and
    log q(z) = log N(eps | 0, I) - log |det L|.
    z, mu (..., k), L (..., k, k) -> (...)."""
    diff = z - mu
    eps = []  # solve L eps = z - mu by forward substitution, row by row
    for i in range(diff.shape[-1]):
        row = diff[..., i] - sum(L[..., i, j] * eps[j] for j in range(i))
        eps.append(row / L[..., i, i])
    squares = sum(e**2 for e in eps)  # |eps|^2, (...)
    return -0.5 * (len(eps) * LOG_2PI + squares) - log_det_tril(L)


def gaussian_kl_tril(mu: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    """KL( N(mu, L L^T) || N(0, I) ) = 1/2 (tr(L L^T) + mu^T mu - k) - log |det L|:
    (..., k), (..., k, k) -> (...). For L = diag(sigma), chapter 4's closed form."""
    k = mu.shape[-1]
    return 0.5 * ((L**2).sum((-2, -1)) + (mu**2).sum(-1) - k) - log_det_tril(L)
