"""Several small VAEs trained at once, so that every claim about training can be made over seeds.

Member m of an ensemble is slice m of every weight tensor. Its loss depends on its own slice only, and Adam's
update is elementwise, so training the sum of the members' losses trains each member exactly as it would be
trained alone (tests/test_lib_ensemble.py checks this); one batched matrix product per layer serves all of them.
Shapes: x (members, batch, x_dim), or (batch, x_dim) for data shared by all members; z (members, ..., z_dim).

q(z|x) = N(mu, L L^T) (vaelib.full_covariance): L = diag(sigma) for a mean-field member, lower triangular for a
full-covariance one; p(z) = N(0, I); p(x|z) a Bernoulli per pixel. With ``label_dim`` > 0 the members are
conditional VAEs: a one-hot label enters the encoder and the decoder.
"""

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vaelib.full_covariance import gaussian_kl_tril, log_normal_tril, reparameterize_tril, scale_tril
from vaelib.probability import bernoulli_log_likelihood, log_standard_normal


class EnsembleLinear(nn.Module):
    """``members`` independent affine maps, x_m @ W_m + b_m: (members, ..., in_dim) ->
    (members, ..., out_dim). Initialised as torch.nn.Linear initialises one."""

    def __init__(self, members: int, in_dim: int, out_dim: int, generator=None):
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)
        def uniform(*shape):  # U(-bound, bound), as nn.Linear draws its weights
            return (2 * torch.rand(*shape, generator=generator) - 1) * bound

        self.weight = nn.Parameter(uniform(members, in_dim, out_dim))
        self.bias = nn.Parameter(uniform(members, 1, out_dim))

    def forward(self, x):
        flat = x.reshape(x.shape[0], -1, x.shape[-1])  # (members, rows, in_dim)
        out = torch.baddbmm(self.bias, flat, self.weight)
        return out.reshape(*x.shape[:-1], -1)


class EnsembleVAE(nn.Module):
    """``members`` VAEs, each with the architecture of chapter 4's VAE (two ReLU layers
    of ``hidden`` units in encoder and decoder). ``full_covariance`` (one bool, or one
    per member) gives a member the Cholesky-factor q; the others are mean-field."""

    def __init__(self, members: int, x_dim: int = 64, hidden: int = 128, z_dim: int = 2,
                 full_covariance: bool | Sequence[bool] = False, label_dim: int = 0,
                 seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.members, self.z_dim, self.label_dim = members, z_dim, label_dim
        n_below = z_dim * (z_dim - 1) // 2  # entries of L below its diagonal
        sizes_in = [x_dim + label_dim, hidden, hidden]
        sizes_out = [hidden, hidden, 2 * z_dim + n_below]
        self.encoder = nn.ModuleList(EnsembleLinear(members, i, o, g)
                                     for i, o in zip(sizes_in, sizes_out, strict=True))
        sizes_in = [z_dim + label_dim, hidden, hidden]
        sizes_out = [hidden, hidden, x_dim]
        self.decoder = nn.ModuleList(EnsembleLinear(members, i, o, g)
                                     for i, o in zip(sizes_in, sizes_out, strict=True))
        full = torch.as_tensor(full_covariance, dtype=torch.float32).expand(members)
        self.register_buffer("full", full.clone().reshape(members, *[1] * 2))

    def _with_label(self, h, y):
        """Append the one-hot label y ((batch,) or (members, batch)) to h (members, ...,
        batch, size)."""
        if not self.label_dim:
            return h
        one_hot = F.one_hot(y, self.label_dim).to(h.dtype)  # (..., batch, label_dim)
        if y.dim() == 2:  # one label per member and image: line up the members
            one_hot = one_hot.reshape(len(y), *[1] * (h.dim() - 3), *one_hot.shape[1:])
        return torch.cat([h, one_hot.expand(*h.shape[:-1], self.label_dim)], dim=-1)

    def encode(self, x, y=None):
        """x (members or none, batch, x_dim) -> mu (members, batch, k) and the Cholesky
        factor L (members, batch, k, k) of q(z|x)."""
        h = self._with_label(x.expand(self.members, *x.shape[-2:]), y)
        for i, layer in enumerate(self.encoder):
            h = layer(h) if i == len(self.encoder) - 1 else torch.relu(layer(h))
        k = self.z_dim
        mu, log_var, below = h[..., :k], h[..., k:2 * k], h[..., 2 * k:]
        return mu, scale_tril(log_var, below * self.full)  # mean field: below = 0

    def decode(self, z, y=None):
        """z (members, ..., batch, k) -> Bernoulli logits (members, ..., batch, d)."""
        h = self._with_label(z, y)
        for i, layer in enumerate(self.decoder):
            h = layer(h) if i == len(self.decoder) - 1 else torch.relu(layer(h))
        return h

    def log_weights(self, x, y=None, n_samples: int = 1):
        """log w_m = log p(x, z_m) - log q(z_m|x) for M samples z_m ~ q(z|x): (members,
        M, batch). Their mean estimates the ELBO; a log-mean-exp, the IWAE bound."""
        mu, L = self.encode(x, y)
        eps = torch.randn(self.members, n_samples, *mu.shape[1:], device=mu.device)
        z = reparameterize_tril(mu[:, None], L[:, None], eps)  # (members, M, batch, k)
        x = x.expand(self.members, *x.shape[-2:])[:, None]  # (members, 1, batch, x_dim)
        log_joint = (bernoulli_log_likelihood(x, self.decode(z, y))
                     + log_standard_normal(z))
        return log_joint - log_normal_tril(z, mu[:, None], L[:, None])

    @torch.no_grad()
    def sample(self, n: int, y=None):
        """Pixel probabilities of n images per member, z ~ p(z): (members, n, x_dim)."""
        z = torch.randn(self.members, n, self.z_dim, device=self.full.device)
        return torch.sigmoid(self.decode(z, y))


def elbo_terms(model: EnsembleVAE, x, y=None, n_samples: int = 1):
    """The ELBO's two terms per member and image, (members, batch) each:
    ``reconstruction`` E_q[log p(x|z)] (M samples) and ``kl`` KL(q(z|x) || p(z)) in
    closed form. Minus the first is the distortion, the second the rate."""
    mu, L = model.encode(x, y)
    eps = torch.randn(model.members, n_samples, *mu.shape[1:], device=mu.device)
    z = reparameterize_tril(mu[:, None], L[:, None], eps)  # (members, M, batch, k)
    x = x.expand(model.members, *x.shape[-2:])[:, None]  # (members, 1, batch, x_dim)
    reconstruction = bernoulli_log_likelihood(x, model.decode(z, y)).mean(1)
    return {"reconstruction": reconstruction, "kl": gaussian_kl_tril(mu, L)}


def train_ensemble(model: EnsembleVAE, x_train, y_train=None, epochs: int = 60,
                   batch_size: int = 128, lr: float = 3e-3, beta=1.0,
                   seed: int = 0) -> dict[str, torch.Tensor]:
    """Maximise each member's E_q[log p(x|z)] - beta KL(q || p(z)) with Adam, one
    sample per image and step, each member over its own shuffle of x_train (N, d).
    ``beta``: one number or one per member (beta = 1: the ELBO). Returns
    ``train_elbo`` (epochs, members): each epoch's mean of the one-sample ELBO of its
    batches (weight 1), in nats per image."""
    torch.manual_seed(seed)
    device = x_train.device
    beta = torch.as_tensor(beta, dtype=torch.float32, device=device)
    beta = beta.expand(model.members)[:, None]  # (members, 1)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    n, history = len(x_train), []
    for _ in range(epochs):
        shuffle = torch.rand(model.members, n, device=device)
        order = torch.argsort(shuffle, dim=1)  # (members, N): one shuffle per member
        total = torch.zeros(model.members, device=device)
        for start in range(0, n, batch_size):
            rows = order[:, start:start + batch_size]  # (members, batch)
            x = x_train[rows]
            y = None if y_train is None else y_train[rows]
            terms = elbo_terms(model, x, y)  # (members, batch) each
            objective = terms["reconstruction"] - beta * terms["kl"]
            optimiser.zero_grad()
            (-objective.mean(1).sum()).backward()  # the members' losses, added
            optimiser.step()
            total += (terms["reconstruction"] - terms["kl"]).detach().sum(1)
        history.append(total / n)
    return {"train_elbo": torch.stack(history)}

