"""The models of the book: the linear auto encoder, a deep auto encoder and a VAE, with their training loops.

The model classes import nothing but torch: the grading sandbox offers them to ps4 without the reference
implementations of vaelib.probability, which the training functions import when they run.
"""

import torch
from torch import nn

from vaelib.device import get_device


class LinearAutoencoder(nn.Module):
    """x~ = V U x with U (code_dim, in_dim) the encoder and V (in_dim, code_dim) the decoder; no biases."""

    def __init__(self, in_dim: int = 12, code_dim: int = 2):
        super().__init__()
        self.U = nn.Parameter(0.1 * torch.randn(code_dim, in_dim))  # encoder, e.g. 2 x 12
        self.V = nn.Parameter(0.1 * torch.randn(in_dim, code_dim))  # decoder, e.g. 12 x 2 (the notes say 2 x 12)

    def encode(self, x):  # (batch, in_dim) -> (batch, code_dim)
        return x @ self.U.T

    def forward(self, x):  # (batch, in_dim) -> (batch, in_dim)
        return self.encode(x) @ self.V.T


def mlp(sizes: list[int]) -> nn.Sequential:
    """Fully connected layers with ReLU between them (none after the last)."""
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class DeepAutoencoder(nn.Module):
    """A deterministic non-linear auto encoder: x -> code (code_dim) -> x~ in [0, 1]."""

    def __init__(self, in_dim: int = 64, hidden: int = 128, code_dim: int = 2):
        super().__init__()
        self.encoder = mlp([in_dim, hidden, hidden, code_dim])
        self.decoder = nn.Sequential(mlp([code_dim, hidden, hidden, in_dim]), nn.Sigmoid())

    def encode(self, x):
        return self.encoder(x)

    def forward(self, x):
        return self.decoder(self.encoder(x))


class VAE(nn.Module):
    """Encoder x -> phi = (mu, log_var) of q(z|x); decoder z -> Bernoulli logits of p(x|z); prior N(0, I)."""

    def __init__(self, x_dim: int = 64, hidden: int = 256, z_dim: int = 2):
        super().__init__()
        self.z_dim = z_dim
        self.encoder_body = mlp([x_dim, hidden, hidden])
        self.encoder_head = nn.Linear(hidden, 2 * z_dim)
        self.decoder = mlp([z_dim, hidden, hidden, x_dim])

    def encode(self, x):
        """x (batch, x_dim) -> mu, log_var, each (batch, z_dim): enc(x) = phi."""
        mu, log_var = self.encoder_head(torch.relu(self.encoder_body(x))).chunk(2, dim=-1)
        return mu, log_var

    def decode(self, z):
        """z (..., z_dim) -> logits (..., x_dim)."""
        return self.decoder(z)

    @torch.no_grad()
    def sample(self, n: int, device=None):
        """Draw n images from the model: z ~ p(z), x~ = E[x | z] (pixel probabilities), (n, x_dim)."""
        device = device or next(self.parameters()).device
        return torch.sigmoid(self.decode(torch.randn(n, self.z_dim, device=device)))


def score_function_surrogate(x, model: VAE, n_samples: int = 1) -> torch.Tensor:
    """A surrogate whose gradient is the score-function estimate of grad ELBO (mean over the batch).

    The reconstruction term's phi-gradient uses log p(x|z) * grad log q(z|x) with z not differentiated
    (the score-function/REINFORCE estimator with a leave-one-out baseline: the mean of log p(x|z) over the
    *other* points of the batch, which is independent of the point's own sample and so keeps the estimate unbiased);
    its theta-gradient and the analytic KL are differentiated directly.
    """
    from vaelib.probability import bernoulli_log_likelihood, gaussian_kl, log_normal, reparameterize

    mu, log_var = model.encode(x)
    with torch.no_grad():
        z = reparameterize(mu, log_var, torch.randn((n_samples, *mu.shape), device=mu.device))
    log_lik = bernoulli_log_likelihood(x, model.decode(z))  # (n_samples, batch), grads for theta only
    log_q = log_normal(z, mu, log_var)  # (n_samples, batch), grads for phi through mu, log_var
    signal = log_lik.detach()
    batch = signal.shape[-1]
    # leave-one-out mean over the batch (dim 0 is the samples): (sum - own) / (B - 1); no baseline for B = 1
    baseline = (signal.sum(-1, keepdim=True) - signal) / (batch - 1) if batch > 1 else torch.zeros_like(signal)
    surrogate = log_lik + (signal - baseline) * log_q
    return (surrogate.mean(0) - gaussian_kl(mu, log_var)).mean()


def train_vae(
    model: VAE,
    x_train: torch.Tensor,
    x_test: torch.Tensor | None = None,
    epochs: int = 50,
    batch_size: int = 128,
    lr: float = 1e-3,
    estimator: str = "pathwise",
    seed: int = 0,
    device=None,
) -> dict[str, list[float]]:
    """Maximise the ELBO with Adam. ``estimator`` is "pathwise" (reparameterization) or "score_function".

    Returns the per-epoch mean ELBO (nats per image) on the training set and, if given, the test set.
    """
    from vaelib.probability import elbo

    if estimator not in {"pathwise", "score_function"}:
        raise ValueError(f"estimator must be 'pathwise' or 'score_function', got {estimator!r}")
    device = device or get_device()
    torch.manual_seed(seed)
    model.to(device)
    x_train = x_train.to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    history: dict[str, list[float]] = {"train_elbo": [], "test_elbo": []}
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x_train), device=device)
        total = 0.0
        for start in range(0, len(x_train), batch_size):
            batch = x_train[order[start : start + batch_size]]
            if estimator == "pathwise":
                objective = elbo(batch, model.encode, model.decode).mean()
            else:
                objective = score_function_surrogate(batch, model)
            optimiser.zero_grad()
            (-objective).backward()
            optimiser.step()
            with torch.no_grad():
                total += elbo(batch, model.encode, model.decode).sum().item()
        history["train_elbo"].append(total / len(x_train))
        if x_test is not None:
            history["test_elbo"].append(evaluate_elbo(model, x_test))
    return history


@torch.no_grad()
def evaluate_elbo(model: VAE, x: torch.Tensor, n_samples: int = 10) -> float:
    """Mean ELBO per image (nats) with ``n_samples`` samples per image."""
    from vaelib.probability import elbo

    model.eval()
    x = x.to(next(model.parameters()).device)
    return elbo(x, model.encode, model.decode, n_samples=n_samples).mean().item()


def train_autoencoder(model: nn.Module, x: torch.Tensor, epochs: int = 200, lr: float = 1e-2, batch_size: int = 0,
                      seed: int = 0, device=None, callback=None) -> list[float]:
    """Minimise the mean squared reconstruction error ||x - x~||^2 (summed over features) with Adam.

    batch_size 0 means full-batch gradient descent. Returns the loss per epoch.
    ``callback(epoch, model)``, if given, is called after every epoch (e.g. to record a subspace angle).
    """
    device = device or get_device()
    torch.manual_seed(seed)
    model.to(device)
    x = x.to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    size = batch_size or len(x)
    for _ in range(epochs):
        order = torch.randperm(len(x), device=device)
        total = 0.0
        for start in range(0, len(x), size):
            batch = x[order[start : start + size]]
            loss = ((model(batch) - batch) ** 2).sum(-1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
        losses.append(total / len(x))
        if callback is not None:
            callback(len(losses), model)
    return losses
