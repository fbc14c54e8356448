"""Several VAEs trained at once, one per seed: what `train_vae` does for one seed, vectorised over the seeds.

A claim about training should hold over seeds, not only for the one run a page shows. ``train_vaes(seeds, ...)``
trains ``len(seeds)`` independent copies of :class:`vaelib.models.VAE`: copy ``i`` starts from the weights that
``torch.manual_seed(seeds[i]); VAE(...)`` gives, and draws the same shuffles and noise, in the same order, as
``train_vae(..., seed=seeds[i])`` (on the CPU), so it is the same run up to floating-point rounding
(tests/test_lib_seeds.py compares the two). The copies' weights are stacked along a leading seed dimension and the
step is ``torch.func.vmap``-ed over it: one batched matrix product per layer instead of one per seed. Adam works
element by element, so one Adam over the stacked weights is one Adam per copy.
"""

from functools import partial

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from vaelib.device import get_device
from vaelib.models import VAE, score_function_surrogate


class _Step(nn.Module):
    """One copy's objectives as ``forward``, so that ``functional_call`` can swap in that copy's weights."""

    def __init__(self, model: VAE):
        super().__init__()
        self.vae = model

    def forward(self, kind: str, x, eps, beta: float = 1.0, samples: int = 1, baseline: bool = True):
        import vaelib.probability as prob

        vae = self.vae
        if kind == "score_function":  # eps (samples, batch, z_dim)
            return score_function_surrogate(x, vae, samples, kl_weight=beta, eps=eps, baseline=baseline)
        mu, log_var = vae.encode(x)  # (batch, z_dim) each
        z = prob.reparameterize(mu, log_var, eps)  # (n, batch, z_dim)
        reconstruction = prob.bernoulli_log_likelihood(x, vae.decode(z)).mean(0)  # (batch,)
        kl_per_dim = 0.5 * (mu**2 + log_var.exp() - 1.0 - log_var)  # (batch, z_dim)
        if kind == "pathwise":  # the objective train_vae maximises
            return (reconstruction - beta * kl_per_dim.sum(-1)).mean()
        if kind == "record":  # the ELBO of each image (train_vae's running record)
            return reconstruction - kl_per_dim.sum(-1)
        # "evaluate": the means of evaluate_elbo_terms, and the KL of each latent dimension
        return reconstruction.mean(), kl_per_dim.sum(-1).mean(), kl_per_dim.mean(0)


def train_vaes(
    seeds,
    x_train: torch.Tensor,
    x_test: torch.Tensor | None = None,
    epochs: int = 50,
    batch_size: int = 128,
    lr: float = 1e-3,
    hidden: int = 256,
    z_dim: int = 2,
    estimator: str = "pathwise",
    samples: int = 1,
    baseline: bool = True,
    kl_weight=None,
    device=None,
    eval_samples: int = 10,
    record_train: bool = True,
) -> tuple[list[VAE], dict[str, torch.Tensor]]:
    """Train one VAE per seed, all at once. Returns the trained models (in the order of ``seeds``) and the
    history: tensors of shape (n_seeds, epochs) in nats per image, as `train_vae` records them (``train_elbo``,
    ``test_elbo``, ``test_kl``, ``test_reconstruction``), and ``test_kl_per_dim``, (n_seeds, epochs, z_dim), the
    held-out KL of each latent dimension.

    ``estimator`` "pathwise" draws ``samples`` codes per image (train_vae: 1); "score_function" uses
    :func:`vaelib.models.score_function_surrogate` with ``samples`` codes per image and the leave-one-out
    ``baseline`` (or none). ``kl_weight(epoch)`` as in `train_vae`. Every copy costs ``samples`` decoder
    evaluations per image and step.

    The held-out ELBO of each epoch uses ``eval_samples`` codes per image (train_vae: 10); with
    ``record_train`` False there is no running record of the training ELBO (each epoch's ``train_elbo``
    is NaN), which saves a decoder pass per image and step. With either changed, the random numbers
    no longer follow train_vae's.
    """
    if estimator not in {"pathwise", "score_function"}:
        raise ValueError(f"estimator must be 'pathwise' or 'score_function', got {estimator!r}")
    seeds = [int(seed) for seed in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and at least one, got {seeds}")
    device = device or get_device()
    x_dim = x_train.shape[1]
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(VAE(x_dim=x_dim, hidden=hidden, z_dim=z_dim).to(device))
    params, _ = stack_module_state(models)  # name -> (n_seeds, ...), leaves that require grad
    with torch.device("meta"):  # the architecture only: no weights, no random numbers
        step = _Step(VAE(x_dim=x_dim, hidden=hidden, z_dim=z_dim))

    def call(kind, weights, *args, **kwargs):
        return functional_call(step, {f"vae.{k}": v for k, v in weights.items()}, (kind, *args), kwargs)

    generators = [torch.Generator().manual_seed(seed) for seed in seeds]  # train_vae's torch.manual_seed(seed)

    def normal(shape):  # (n_seeds, *shape): each copy's next draw from its own stream
        return torch.stack([torch.randn(shape, generator=g) for g in generators]).to(device)

    x_train = x_train.to(device)
    n = len(x_train)
    optimiser = torch.optim.Adam(params.values(), lr=lr)
    keys = ["train_elbo", "test_elbo", "test_kl", "test_reconstruction", "test_kl_per_dim"]
    history: dict[str, list] = {key: [] for key in keys}
    for epoch in range(epochs):
        beta = 1.0 if kl_weight is None else float(kl_weight(epoch))
        orders = torch.stack([torch.randperm(n, generator=g) for g in generators]).to(device)  # (n_seeds, n)
        total = torch.zeros(len(seeds), device=device)
        for start in range(0, n, batch_size):
            batch = x_train[orders[:, start : start + batch_size]]  # (n_seeds, b, x_dim)
            eps = normal((samples, batch.shape[1], z_dim))
            step_objective = partial(call, estimator, beta=beta, samples=samples, baseline=baseline)
            objective = vmap(step_objective)(params, batch, eps)
            optimiser.zero_grad()
            (-objective.sum()).backward()  # the copies share no weights: each gets its own gradient
            optimiser.step()
            if record_train:
                with torch.no_grad():
                    eps = normal((1, batch.shape[1], z_dim))
                    record = vmap(partial(call, "record"))(params, batch, eps)
                    total += record.sum(-1)
        history["train_elbo"].append(total / n if record_train else torch.full_like(total, torch.nan))
        if x_test is not None:
            with torch.no_grad():
                x_eval = x_test.to(device).expand(len(seeds), *x_test.shape)
                eps = normal((eval_samples, len(x_test), z_dim))
                reconstruction, kl, kl_per_dim = vmap(partial(call, "evaluate"))(params, x_eval, eps)
            history["test_elbo"].append(reconstruction - kl)
            history["test_kl"].append(kl)
            history["test_reconstruction"].append(reconstruction)
            history["test_kl_per_dim"].append(kl_per_dim)
    for i, model in enumerate(models):
        model.load_state_dict({name: value[i].detach() for name, value in params.items()})
        model.eval()
    stacked = {key: torch.stack(values, dim=1).cpu() for key, values in history.items() if values}
    return models, stacked
