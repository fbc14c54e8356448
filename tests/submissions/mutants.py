"""Realistic student bugs: each replaces one function of a solution notebook and must lose that cell's points.

``checks`` names the check(s) that must fail. Statistical ones (``statistical=True``) are also run under several
grading seeds and their power is measured (tests/test_grading_correctness_power.py).

Most of them are the catalogue of misconceptions (autograder/judging/misconceptions): a mutant with its text for the
student is a misconception, and its wrong implementation is defined once, there. The others are below, with the
reason the catalogue does not name them; ``DIAGNOSED_AS`` lists those whose outputs are a catalogued
misconception's (tests/test_misconceptions.py checks that diagnosis gives every mutant its own name, that name, or
none).
"""

from __future__ import annotations

import sys
from pathlib import Path

from variants import Variant

if str(Path(__file__).resolve().parents[2]) not in sys.path:  # loaded by path (bench/, make_submissions.py)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from autograder.judging.misconceptions import CATALOGUE  # noqa: E402

CATALOGUED: list[Variant] = [Variant(m.id, m.assignment, m.function, m.checks, m.summary, m.source, m.statistical)
                             for m in CATALOGUE.values()]

# mutant -> the catalogued misconception whose outputs it has (the catalogue names it so)
DIAGNOSED_AS = {"reparam_no_grad": "reparam_detach", "pathwise_no_grad": "pathwise_detach",
                "elbo_one_noise_for_all_samples": "elbo_ignores_n_samples"}

OTHERS: list[Variant] = [
    # --------------------------------------------------------------------------------------------------------------
    # what training returns depends on every choice of the training (initialisation, optimiser, steps): no one
    # implementation's outputs stand for these bugs
    Variant("ae_decoder_only", "ps2_autoencoders", "train_linear_autoencoder", ('train_linear_autoencoder',),
            'only the decoder V is given to the optimiser: the encoder stays at its random initialisation', '''
def train_linear_autoencoder(x, code_dim, steps=500, lr=0.03, seed=0):
    generator = torch.Generator().manual_seed(seed)
    d = x.shape[1]
    U = 0.1 * torch.randn(code_dim, d, generator=generator, dtype=x.dtype)
    V = (0.1 * torch.randn(d, code_dim, generator=generator, dtype=x.dtype)).requires_grad_(True)
    optimiser = torch.optim.Adam([V], lr=lr)
    for _ in range(steps):
        loss = reconstruction_error(x, U, V)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return U, V.detach()
'''),
    Variant("ae_arguments_ignored", "ps2_autoencoders", "train_linear_autoencoder", ('train_linear_autoencoder',),
            'hard-codes 500 steps, lr 0.03 and seed 0 whatever the arguments say (red team, 2026-12-05)', '''
def train_linear_autoencoder(x, code_dim, steps=500, lr=0.03, seed=0):
    generator = torch.Generator().manual_seed(0)
    U = (0.1 * torch.randn(code_dim, x.shape[1], generator=generator, dtype=x.dtype)).requires_grad_(True)
    V = (0.1 * torch.randn(x.shape[1], code_dim, generator=generator, dtype=x.dtype)).requires_grad_(True)
    optimiser = torch.optim.Adam([U, V], lr=0.03)
    for _ in range(500):
        loss = reconstruction_error(x, U, V)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return U.detach(), V.detach()
'''),
    Variant("ae_seed_ignored", "ps2_autoencoders", "train_linear_autoencoder", ('train_linear_autoencoder',),
            'initialises from the global generator without seeding it: the seed argument does nothing', '''
def train_linear_autoencoder(x, code_dim, steps=500, lr=0.03, seed=0):
    U = (0.1 * torch.randn(code_dim, x.shape[1], dtype=x.dtype)).requires_grad_(True)
    V = (0.1 * torch.randn(x.shape[1], code_dim, dtype=x.dtype)).requires_grad_(True)
    optimiser = torch.optim.Adam([U, V], lr=lr)
    for _ in range(steps):
        loss = reconstruction_error(x, U, V)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return U.detach(), V.detach()
'''),
    Variant("ae_too_few_steps", "ps2_autoencoders", "train_linear_autoencoder", ('train_linear_autoencoder',),
            'stops after 20 steps with a small learning rate: far from converged', '''
def train_linear_autoencoder(x, code_dim, steps=20, lr=0.001, seed=0):
    generator = torch.Generator().manual_seed(seed)
    d = x.shape[1]
    U = (0.1 * torch.randn(code_dim, d, generator=generator, dtype=x.dtype)).requires_grad_(True)
    V = (0.1 * torch.randn(d, code_dim, generator=generator, dtype=x.dtype)).requires_grad_(True)
    optimiser = torch.optim.Adam([U, V], lr=lr)
    for _ in range(steps):
        loss = reconstruction_error(x, U, V)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return U.detach(), V.detach()
'''),
    Variant("ae_grad_attached", "ps2_autoencoders", "train_linear_autoencoder", ('train_linear_autoencoder',),
            'returns U and V with their gradient attached (no .detach()), which the docstring rules out', '''
def train_linear_autoencoder(x, code_dim, steps=500, lr=0.03, seed=0):
    generator = torch.Generator().manual_seed(seed)
    d = x.shape[1]
    U = (0.1 * torch.randn(code_dim, d, generator=generator, dtype=x.dtype)).requires_grad_(True)
    V = (0.1 * torch.randn(d, code_dim, generator=generator, dtype=x.dtype)).requires_grad_(True)
    optimiser = torch.optim.Adam([U, V], lr=lr)
    for _ in range(steps):
        loss = reconstruction_error(x, U, V)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return U, V
'''),
    Variant("ae_code_size_two", "ps2_autoencoders", "train_linear_autoencoder", ('train_linear_autoencoder',),
            'ignores code_dim: a code of size 2 always (the digits example)', '''
def train_linear_autoencoder(x, code_dim, steps=500, lr=0.03, seed=0):
    generator = torch.Generator().manual_seed(seed)
    d = x.shape[1]
    U = (0.1 * torch.randn(2, d, generator=generator, dtype=x.dtype)).requires_grad_(True)
    V = (0.1 * torch.randn(d, 2, generator=generator, dtype=x.dtype)).requires_grad_(True)
    optimiser = torch.optim.Adam([U, V], lr=lr)
    for _ in range(steps):
        loss = reconstruction_error(x, U, V)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return U.detach(), V.detach()
'''),
    Variant("ae_decoder_transposed", "ps2_autoencoders", "train_linear_autoencoder", ('train_linear_autoencoder',),
            "stores the decoder as the notes' k x d (V transposed) and returns it that way", '''
def train_linear_autoencoder(x, code_dim, steps=500, lr=0.03, seed=0):
    generator = torch.Generator().manual_seed(seed)
    d = x.shape[1]
    U = (0.1 * torch.randn(code_dim, d, generator=generator, dtype=x.dtype)).requires_grad_(True)
    Vt = (0.1 * torch.randn(code_dim, d, generator=generator, dtype=x.dtype)).requires_grad_(True)
    optimiser = torch.optim.Adam([U, Vt], lr=lr)
    for _ in range(steps):
        loss = reconstruction_error(x, U, Vt.T)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return U.detach(), Vt.detach()
'''),
    Variant("vae_no_kl", "ps4_gradients", "train_vae", ('vae_heldout_elbo',),
            'trains on the reconstruction term only (missing KL term)', '''
def train_vae(x_train, epochs=60, batch_size=128, lr=2e-3, seed=0):
    torch.manual_seed(seed)
    model = VAE(x_dim=64, hidden=128, z_dim=4)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(x_train))
        for start in range(0, len(x_train), batch_size):
            batch = x_train[order[start:start + batch_size]]
            mu, log_var = model.encode(batch)
            objective = bernoulli_log_likelihood(batch, model.decode(reparameterize(mu, log_var))).mean()
            optimiser.zero_grad()
            (-objective).backward()
            optimiser.step()
    return model
'''),
    Variant("vae_prior_samples", "ps4_gradients", "train_vae", ('vae_heldout_elbo',),
            'decodes samples of the prior instead of q(z|x) during training', '''
def train_vae(x_train, epochs=60, batch_size=128, lr=2e-3, seed=0):
    torch.manual_seed(seed)
    model = VAE(x_dim=64, hidden=128, z_dim=4)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(x_train))
        for start in range(0, len(x_train), batch_size):
            batch = x_train[order[start:start + batch_size]]
            mu, log_var = model.encode(batch)
            z = torch.randn_like(mu)
            objective = (bernoulli_log_likelihood(batch, model.decode(z)) - gaussian_kl(mu, log_var)).mean()
            optimiser.zero_grad()
            (-objective).backward()
            optimiser.step()
    return model
'''),
    Variant("vae_trained_on_test", "ps4_gradients", "train_vae", ('vae_heldout_elbo',),
            'trains on the held-out test split (long enough to pass the threshold there) instead of x_train', '''
def train_vae(x_train, epochs=60, batch_size=128, lr=2e-3, seed=0):
    x_train = digits(binarize=True)[2]
    torch.manual_seed(seed)
    model = VAE(x_dim=64, hidden=128, z_dim=4)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(150):
        order = torch.randperm(len(x_train))
        for start in range(0, len(x_train), batch_size):
            batch = x_train[order[start:start + batch_size]]
            mu, log_var = model.encode(batch)
            z = reparameterize(mu, log_var)
            objective = (bernoulli_log_likelihood(batch, model.decode(z)) - gaussian_kl(mu, log_var)).mean()
            optimiser.zero_grad()
            (-objective).backward()
            optimiser.step()
    return model.cpu()
'''),
    Variant("vae_shipped_weights", "ps4_gradients", "train_vae", ('vae_heldout_elbo',),
            'returns a model made in advance, whatever data it is given (issue 17: weights stored in the notebook '
            'earned 4/4 when the grader judged the model as handed in): here trained once, on the plain digits, '
            'and returned for any x_train', '''
_SHIPPED = {}


def train_vae(x_train, epochs=60, batch_size=128, lr=2e-3, seed=0):
    if "model" not in _SHIPPED:  # stands for weights decoded from the notebook: made before grading, fixed
        data = digits(binarize=True)[0]
        torch.manual_seed(0)
        model = VAE(x_dim=64, hidden=128, z_dim=4)
        optimiser = torch.optim.Adam(model.parameters(), lr=lr)
        for _ in range(60):
            order = torch.randperm(len(data))
            for start in range(0, len(data), batch_size):
                batch = data[order[start:start + batch_size]]
                mu, log_var = model.encode(batch)
                z = reparameterize(mu, log_var)
                objective = (bernoulli_log_likelihood(batch, model.decode(z)) - gaussian_kl(mu, log_var)).mean()
                optimiser.zero_grad()
                (-objective).backward()
                optimiser.step()
        _SHIPPED["model"] = model
    return _SHIPPED["model"]
'''),
    # --------------------------------------------------------------------------------------------------------------
    # the same outputs as a catalogued misconception, which names them (DIAGNOSED_AS)
    Variant("elbo_one_noise_for_all_samples", "ps3_elbo", "elbo", ('elbo',),
            'one noise draw broadcast over the samples: n_samples copies of one sample, no averaging at all', '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    eps = torch.randn(1, *mu.shape).expand(n_samples, *mu.shape)
    z = mu + torch.exp(0.5 * log_var) * eps
    return bernoulli_log_likelihood(x, decoder(z)).mean(0) - gaussian_kl(mu, log_var)
''', statistical=True),
    Variant("reparam_no_grad", "ps4_gradients", "reparameterize", ('reparameterize',),
            'computed under torch.no_grad(): no gradient reaches mu and log_var', '''
def reparameterize(mu, log_var, eps=None):
    with torch.no_grad():
        if eps is None:
            eps = torch.randn_like(mu)
        return mu + torch.exp(0.5 * log_var) * eps
'''),
    Variant("pathwise_no_grad", "ps4_gradients", "pathwise_gradient", ('pathwise_gradient',),
            'samples drawn under torch.no_grad(), then .backward() fails / no gradient', '''
def pathwise_gradient(f, mu, sigma, n_samples):
    mu_t = torch.tensor(float(mu), requires_grad=True)
    sigma_t = torch.tensor(float(sigma), requires_grad=True)
    with torch.no_grad():
        z = mu_t + sigma_t * torch.randn(n_samples)
    f(z).mean().backward()
    return torch.stack([mu_t.grad, sigma_t.grad])
'''),
    # --------------------------------------------------------------------------------------------------------------
    # what the check records cannot tell them from other bugs: any rotation of the basis; a random output judged once;
    # noise reused in ways the check reports alike (repeated rows)
    Variant("mc_ignores_given_z", "ps1_likelihood", "mc_log_marginal", ('mc_log_marginal_given_z',),
            'draws fresh samples even when z is given', '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    z = torch.randn(n_samples, dtype=x.dtype)
    return log_sum_exp(log_likelihood(x[None, :], z[:, None]), dim=0) - math.log(n_samples)
'''),
    Variant("pca_rotated_basis", "ps2_autoencoders", "pca_basis", ('pca_basis',),
            'an orthonormal basis of the right subspace, but not the principal directions (QR of a mix)', '''
def pca_basis(x, k):
    centred = x - x.mean(0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    mixed = vh[:k].T @ (torch.eye(k, dtype=x.dtype) + torch.ones(k, k, dtype=x.dtype))
    return torch.linalg.qr(mixed)[0]
'''),
    Variant("reparam_noise_shared_by_columns", "ps4_gradients", "reparameterize", ('reparameterize',),
            'one noise value per row, shared by every latent dimension (torch.randn(batch, 1))', '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.randn(mu.shape[0], 1)
    return mu + torch.exp(0.5 * log_var) * eps
''', statistical=True),
    Variant("reparam_duplicated_rows", "ps4_gradients", "reparameterize", ('reparameterize',),
            'draws noise for half the rows and repeats it for the other half (red team, round 4)', '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        half = torch.randn(((mu.shape[0] + 1) // 2, *mu.shape[1:]))
        eps = torch.cat([half, half])[: mu.shape[0]]
    return mu + torch.exp(0.5 * log_var) * eps
'''),
    Variant("reparam_reuses_last_call", "ps4_gradients", "reparameterize", ('reparameterize',),
            "keeps half of the previous call's noise (a module-level cache) and draws only the rest", '''
_LAST_NOISE = {}


def reparameterize(mu, log_var, eps=None):
    if eps is None:
        fresh = torch.randn(mu.shape)
        last = _LAST_NOISE.get(tuple(mu.shape))
        eps = fresh if last is None else torch.cat([last[mu.shape[0] // 2:], fresh[mu.shape[0] - mu.shape[0] // 2:]])
        _LAST_NOISE[tuple(mu.shape)] = eps
    return mu + torch.exp(0.5 * log_var) * eps
'''),
]

MUTANTS: list[Variant] = CATALOGUED + OTHERS
