"""vaelib.ensemble against independent references: each member rebuilt as an ordinary torch.nn.Sequential from
its slice of the weights, torch.distributions (Bernoulli, MultivariateNormal, kl_divergence) for its densities,
and a training step written out by hand. The members must be independent: what one member's weights, data or
beta are does not change another's training. Chapters 7 and 8 train their models this way.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, MultivariateNormal, kl_divergence

from vaelib.ensemble import EnsembleLinear, EnsembleVAE, elbo_terms, train_ensemble

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def sequential(layers, member):
    """Member ``member`` of a list of EnsembleLinear layers as an ordinary MLP with ReLUs between layers."""
    modules = []
    for i, layer in enumerate(layers):
        linear = nn.Linear(layer.weight.shape[1], layer.weight.shape[2])
        with torch.no_grad():
            linear.weight.copy_(layer.weight[member].T)
            linear.bias.copy_(layer.bias[member, 0])
        modules += [linear] if i == len(layers) - 1 else [linear, nn.ReLU()]
    return nn.Sequential(*modules)


def binary_images(n, d=64, seed=0):
    return (torch.rand(n, d, generator=torch.Generator().manual_seed(seed)) > 0.6).float()


def test_ensemble_linear_is_one_linear_map_per_member():
    layer = EnsembleLinear(3, 5, 4, generator=torch.Generator().manual_seed(0))
    x = torch.randn(3, 2, 7, 5)  # (members, ..., in_dim)
    out = layer(x)
    assert out.shape == (3, 2, 7, 4)
    for m in range(3):
        torch.testing.assert_close(out[m], F.linear(x[m], layer.weight[m].T, layer.bias[m, 0]))
    bound = 1 / math.sqrt(5)  # nn.Linear's initialisation range
    assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound


@pytest.mark.parametrize("full", [False, True])
def test_members_are_ordinary_vaes(full):
    model = EnsembleVAE(3, x_dim=64, hidden=16, z_dim=2, full_covariance=full, seed=1)
    x = binary_images(5)
    mu, L = model.encode(x)  # data shared by the members
    z = torch.randn(3, 4, 5, 2)  # (members, samples, batch, k)
    logits = model.decode(z)
    for m in range(3):
        head = sequential(model.encoder, m)(x)  # (5, 2k + 1): mu, log_var, L_21
        torch.testing.assert_close(mu[m], head[:, :2])
        torch.testing.assert_close(torch.diagonal(L[m], dim1=-2, dim2=-1), torch.exp(0.5 * head[:, 2:4]))
        torch.testing.assert_close(L[m, :, 1, 0], head[:, 4] if full else torch.zeros(5))
        assert torch.all(L[m, :, 0, 1] == 0)
        torch.testing.assert_close(logits[m], sequential(model.decoder, m)(z[m]))


def test_mixed_members_and_conditional_members():
    model = EnsembleVAE(2, hidden=8, full_covariance=[False, True], label_dim=10, seed=2)
    x, y = binary_images(6, seed=1), torch.arange(6) % 10
    mu, L = model.encode(x, y)
    one_hot = F.one_hot(y, 10).float()
    for m in range(2):
        head = sequential(model.encoder, m)(torch.cat([x, one_hot], -1))
        torch.testing.assert_close(mu[m], head[:, :2])
        torch.testing.assert_close(L[m, :, 1, 0], head[:, 4] if m == 1 else torch.zeros(6))
    z = torch.randn(2, 3, 6, 2)
    logits = model.decode(z, y)
    for m in range(2):
        inputs = torch.cat([z[m], one_hot.expand(3, 6, 10)], -1)
        torch.testing.assert_close(logits[m], sequential(model.decoder, m)(inputs))
    per_member_labels = torch.stack([y, (y + 1) % 10])  # (members, batch): each member its own labels
    logits = model.decode(z, per_member_labels)
    shifted = torch.cat([z[1], F.one_hot((y + 1) % 10, 10).float().expand(3, 6, 10)], -1)
    torch.testing.assert_close(logits[1], sequential(model.decoder, 1)(shifted))


def test_log_weights_and_elbo_terms_match_torch_distributions():
    model = EnsembleVAE(2, hidden=16, full_covariance=[False, True], seed=3)
    x = binary_images(4, seed=2)
    torch.manual_seed(7)
    log_w = model.log_weights(x, n_samples=5)  # (members, S, batch)
    torch.manual_seed(7)
    terms = elbo_terms(model, x, n_samples=5)
    torch.manual_seed(7)
    with torch.no_grad():
        mu, L = model.encode(x)
        eps = torch.randn(2, 5, 4, 2)  # the noise both functions drew
        q = MultivariateNormal(mu[:, None], scale_tril=L[:, None])  # (members, 1, batch)
        z = mu[:, None] + (L[:, None] @ eps[..., None]).squeeze(-1)
        log_lik = Bernoulli(logits=model.decode(z)).log_prob(x).sum(-1)  # (members, S, batch)
        prior = MultivariateNormal(torch.zeros(2), torch.eye(2))
        reference = log_lik + prior.log_prob(z) - q.log_prob(z)
    assert log_w.shape == (2, 5, 4)
    torch.testing.assert_close(log_w.detach(), reference, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(terms["reconstruction"].detach(), log_lik.mean(1), rtol=1e-5, atol=1e-4)
    kl = kl_divergence(MultivariateNormal(mu, scale_tril=L), prior)
    torch.testing.assert_close(terms["kl"].detach(), kl, rtol=1e-5, atol=1e-5)


def test_one_training_step_by_hand():
    """One epoch of one batch equals one Adam step on the ELBO written out with torch.distributions."""
    x = binary_images(16, seed=3)
    model = EnsembleVAE(1, hidden=8, full_covariance=True, seed=4)
    start = {name: value.clone() for name, value in model.state_dict().items()}
    train_ensemble(model, x, epochs=1, batch_size=16, lr=0.01, seed=5)

    twin = EnsembleVAE(1, hidden=8, full_covariance=True, seed=4)
    twin.load_state_dict(start)
    optimiser = torch.optim.Adam(twin.parameters(), lr=0.01)
    torch.manual_seed(5)
    order = torch.argsort(torch.rand(1, 16), dim=1)  # train_ensemble's shuffle, then its noise
    batch = x[order[0]]
    mu, L = twin.encode(batch)  # (1, 16, 2), (1, 16, 2, 2)
    eps = torch.randn(1, 1, 16, 2)
    z = mu[:, None] + (L[:, None] @ eps[..., None]).squeeze(-1)
    log_lik = Bernoulli(logits=twin.decode(z)).log_prob(batch).sum(-1).mean(1)  # (1, 16)
    prior = MultivariateNormal(torch.zeros(2), torch.eye(2))
    kl = kl_divergence(MultivariateNormal(mu, scale_tril=L), prior)
    optimiser.zero_grad()
    (-(log_lik - kl).mean()).backward()
    optimiser.step()
    for (name, ours), theirs in zip(twin.state_dict().items(), model.state_dict().values(), strict=True):
        torch.testing.assert_close(ours, theirs, msg=f"{name} differs after one step")


def test_members_train_independently():
    """Member 0 ends the same whatever member 1 starts from and whatever its beta; member 1 does not."""
    x = binary_images(40, seed=4)
    runs = {}
    for name, other_seed, beta in [("reference", 6, (1.0, 1.0)), ("other start", 7, (1.0, 1.0)),
                                   ("other beta", 6, (1.0, 4.0))]:
        model = EnsembleVAE(2, hidden=8, seed=6)
        other = EnsembleVAE(2, hidden=8, seed=other_seed)
        with torch.no_grad():  # member 1 from another initialisation
            for mine, theirs in zip(model.parameters(), other.parameters(), strict=True):
                mine[1] = theirs[1]
        history = train_ensemble(model, x, epochs=3, batch_size=16, lr=0.01, beta=beta, seed=8)
        assert history["train_elbo"].shape == (3, 2)
        runs[name] = model
    for name in ("other start", "other beta"):
        for ours, theirs in zip(runs["reference"].parameters(), runs[name].parameters(), strict=True):
            torch.testing.assert_close(ours[0], theirs[0])
            assert not torch.equal(ours[1], theirs[1])


def test_training_raises_the_elbo_and_beta_lowers_the_rate():
    from vaelib.data import digits

    x_train = digits(binarize=True)[0][:512]
    model = EnsembleVAE(2, hidden=32, seed=9)
    history = train_ensemble(model, x_train, epochs=8, batch_size=64, lr=3e-3, beta=(1.0, 8.0), seed=10)
    elbo = history["train_elbo"]
    assert torch.all(elbo[-1] > elbo[0] + 5)  # nats per image
    with torch.no_grad():
        rate = elbo_terms(model, x_train, n_samples=2)["kl"].mean(1)
    assert rate[1] < 0.5 * rate[0]  # a large beta pays for less information in z


def test_sample_decodes_prior_draws():
    model = EnsembleVAE(2, hidden=8, label_dim=10, seed=11)
    torch.manual_seed(12)
    images = model.sample(5, torch.arange(5))
    torch.manual_seed(12)
    z = torch.randn(2, 5, 2)
    torch.testing.assert_close(images, torch.sigmoid(model.decode(z, torch.arange(5))))
    assert images.shape == (2, 5, 64)
