"""The models of the book: the linear auto encoder, a deep auto encoder and a VAE, with their training loops.

The model classes import nothing but torch: the grading sandbox offers them to ps4 without the reference
implementations of vaelib.probability, which the training functions import when they run.
"""

import torch
from torch import nn

from vaelib.device import get_device


class LinearAutoencoder(nn.Module):
    """x~ = V U x with U (code_dim, in_dim) the encoder and V (in_dim, code_dim) the
    decoder; no biases."""

    def __init__(self, in_dim: int = 12, code_dim: int = 2):
        super().__init__()
        # encoder, e.g. 2 x 12, and decoder, e.g. 12 x 2 (the notes say 2 x 12)
        self.U = nn.Parameter(0.1 * torch.randn(code_dim, in_dim))
        self.V = nn.Parameter(0.1 * torch.randn(in_dim, code_dim))

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
        self.decoder = nn.Sequential(mlp([code_dim, hidden, hidden, in_dim]),
                                     nn.Sigmoid())

    def encode(self, x):
        return self.encoder(x)

    def forward(self, x):
        return self.decoder(self.encoder(x))


class VAE(nn.Module):
    """A VAE: Gaussian q_phi(z|x), Bernoulli decoder p_theta(x|z), prior N(0, I).

    phi are the encoder's weights and theta the decoder's. The encoder's outputs
    (mu, log_var) = enc_phi(x) are the parameters of q_phi(z|x) for this x; the decoder
    returns one Bernoulli logit per pixel.
    """

    def __init__(self, x_dim: int = 64, hidden: int = 256, z_dim: int = 2):
        super().__init__()
        self.z_dim = z_dim
        self.encoder_body = mlp([x_dim, hidden, hidden])
        self.encoder_head = nn.Linear(hidden, 2 * z_dim)
        self.decoder = mlp([z_dim, hidden, hidden, x_dim])

    def encode(self, x):
        """x (batch, x_dim) -> mu, log_var, each (batch, z_dim)."""
        hidden = torch.relu(self.encoder_body(x))
        mu, log_var = self.encoder_head(hidden).chunk(2, dim=-1)
        return mu, log_var

    def decode(self, z):
        """z (..., z_dim) -> logits (..., x_dim)."""
        return self.decoder(z)

    @torch.no_grad()
    def sample(self, n: int, device=None):
        """Draw n images: z ~ p(z), x~ = E[x | z] (pixel probabilities), (n, x_dim)."""
        device = device or next(self.parameters()).device
        return torch.sigmoid(self.decode(torch.randn(n, self.z_dim, device=device)))


def score_function_surrogate(x, model: VAE, n_samples: int = 4, kl_weight: float = 1.0,
                             eps=None, baseline: bool = True) -> torch.Tensor:
    """A surrogate whose gradient is the score-function estimate of grad ELBO, averaged
    over the batch.

    For each data point, M = ``n_samples`` codes z_1..z_M ~ q_phi(z|x) are drawn and
    held fixed (no pathwise gradient). The reconstruction term's phi-gradient is the
    score-function (REINFORCE) estimate (f_m - b_m) grad_phi log q_phi(z_m|x), with
    f_m = log p_theta(x|z_m) and the baseline b_m the mean of f over the *other* M - 1
    samples of the same data point: independent of z_m, so the estimate stays unbiased
    (Kool et al. 2019). With M = 1, or ``baseline`` False, b_m = 0. The theta-gradient
    of log p_theta(x|z_m) and the analytic KL (times ``kl_weight``) are differentiated
    directly. ``eps`` (M, batch, z_dim), if given, is the noise of the codes.
    """
    import vaelib.probability as prob

    mu, log_var = model.encode(x)  # (batch, z_dim) each
    with torch.no_grad():
        if eps is None:
            eps = torch.randn((n_samples, *mu.shape), dtype=mu.dtype, device=mu.device)
        z = prob.reparameterize(mu, log_var, eps)  # (M, batch, z_dim), no grad to phi
    log_lik = prob.bernoulli_log_likelihood(x, model.decode(z))  # (M, batch), for theta
    log_q = prob.log_normal(z, mu, log_var)  # (M, batch), for phi through mu, log_var
    signal = log_lik.detach()
    if baseline and n_samples > 1:  # leave-one-out mean over the other samples
        b = (signal.sum(0, keepdim=True) - signal) / (n_samples - 1)
    else:
        b = torch.zeros_like(signal)
    surrogate = log_lik + (signal - b) * log_q  # (M, batch)
    return (surrogate.mean(0) - kl_weight * prob.gaussian_kl(mu, log_var)).mean()


def kl_warmup(epoch: int, delay: int = 5, ramp: int = 10) -> float:
    """KL weight for KL warm-up (Bowman et al. 2016; Sonderby et al. 2016): 0 for the
    first ``delay`` epochs, then rising linearly to 1 over ``ramp`` epochs. ``epoch``
    counts from 0."""
    return min(1.0, max(0.0, (epoch - delay + 1) / ramp))


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
    kl_weight=None,
    score_samples: int = 4,
) -> dict[str, list[float]]:
    """Maximise the ELBO with Adam.

    ``estimator`` is "pathwise" (reparameterization, one code per image;
    ``score_samples`` is not used) or "score_function" (:func:`score_function_surrogate`
    with ``score_samples`` codes per image).
    ``kl_weight(epoch)``, if given, multiplies the KL term during training (e.g.
    :func:`kl_warmup`); the recorded ELBOs always use weight 1. Returns per-epoch means
    in nats per image: ``train_elbo`` (the epoch's mini-batches, one sample each) and,
    if ``x_test`` is given, ``test_elbo``, ``test_kl`` and ``test_reconstruction``.
    """
    import vaelib.probability as prob

    if estimator not in {"pathwise", "score_function"}:
        raise ValueError(f"estimator must be 'pathwise' or 'score_function', "
                         f"got {estimator!r}")
    device = device or get_device()
    torch.manual_seed(seed)
    model.to(device)
    x_train = x_train.to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    keys = ["train_elbo", "test_elbo", "test_kl", "test_reconstruction"]
    history: dict[str, list[float]] = {key: [] for key in keys}
    for epoch in range(epochs):
        beta = 1.0 if kl_weight is None else float(kl_weight(epoch))
        model.train()
        order = torch.randperm(len(x_train), device=device)
        total = 0.0
        for start in range(0, len(x_train), batch_size):
            batch = x_train[order[start : start + batch_size]]
            if estimator == "pathwise":
                mu, log_var = model.encode(batch)
                eps = torch.randn((1, *mu.shape), dtype=mu.dtype, device=device)
                z = prob.reparameterize(mu, log_var, eps)  # (1, batch, z_dim)
                log_lik = prob.bernoulli_log_likelihood(batch, model.decode(z)).mean(0)
                objective = (log_lik - beta * prob.gaussian_kl(mu, log_var)).mean()
            else:
                objective = score_function_surrogate(batch, model, score_samples,
                                                     kl_weight=beta)
            optimiser.zero_grad()
            (-objective).backward()
            optimiser.step()
            with torch.no_grad():
                total += prob.elbo(batch, model.encode, model.decode).sum().item()
        history["train_elbo"].append(total / len(x_train))
        if x_test is not None:
            terms = evaluate_elbo_terms(model, x_test)
            history["test_elbo"].append(terms["elbo"])
            history["test_kl"].append(terms["kl"])
            history["test_reconstruction"].append(terms["reconstruction"])
    return history


@torch.no_grad()
def evaluate_elbo_terms(model: VAE, x: torch.Tensor, n_samples: int = 10) -> dict[str, float]:
    """Mean over the images of the ELBO's two terms (nats per image), ``n_samples`` samples per image:
    ``reconstruction`` E_q[log p(x|z)], ``kl`` KL(q(z|x) || p(z)) and ``elbo`` their difference."""
    from vaelib.probability import bernoulli_log_likelihood, gaussian_kl, reparameterize

    model.eval()
    x = x.to(next(model.parameters()).device)
    mu, log_var = model.encode(x)
    eps = torch.randn((n_samples, *mu.shape), dtype=mu.dtype, device=x.device)
    z = reparameterize(mu, log_var, eps)  # (n_samples, batch, z_dim)
    reconstruction = bernoulli_log_likelihood(x, model.decode(z)).mean(0)  # (batch,)
    kl = gaussian_kl(mu, log_var)  # (batch,)
    return {
        "reconstruction": reconstruction.mean().item(),
        "kl": kl.mean().item(),
        "elbo": (reconstruction - kl).mean().item(),
    }


@torch.no_grad()
def evaluate_elbo(model: VAE, x: torch.Tensor, n_samples: int = 10) -> float:
    """Mean ELBO per image (nats) with ``n_samples`` samples per image."""
    return evaluate_elbo_terms(model, x, n_samples)["elbo"]


def train_autoencoder(model: nn.Module, x: torch.Tensor, epochs: int = 200,
                      lr: float = 1e-2, batch_size: int = 0, seed: int = 0, device=None,
                      callback=None) -> list[float]:
    """Minimise the mean squared reconstruction error ||x - x~||^2 (summed over
    features) with Adam.

    batch_size 0 means full-batch gradient descent. Returns the loss per epoch.
    ``callback(epoch, model)``, if given, is called after every epoch (e.g. to record a
    subspace angle).
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
