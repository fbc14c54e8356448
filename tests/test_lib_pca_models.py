"""vaelib.pca and vaelib.models against independent references (numpy.linalg, scipy.linalg, sklearn).

Chapters 3 and 4 rest on these: the PCA basis and principal angles, the shapes of the three models, the linear
auto encoder reaching the PCA error, and VAE training improving the held-out ELBO.
"""

import numpy as np
import pytest
import scipy.linalg
import torch
from sklearn.decomposition import PCA
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from vaelib.data import digits
from vaelib.models import (
    VAE,
    DeepAutoencoder,
    LinearAutoencoder,
    evaluate_elbo,
    evaluate_elbo_terms,
    kl_warmup,
    train_autoencoder,
    train_vae,
)
from vaelib.pca import pca_basis, principal_angles

CPU = torch.device("cpu")


def low_rank_data(n=800, d=12, k=2, noise=0.3, offset=5.0, seed=0):
    """Points near a k-plane in R^d with distinct variances (9, 4, ...), plus noise and a large offset."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(d, k)))
    latent = rng.normal(size=(n, k)) * np.arange(k + 1, 1, -1)  # std 3, 2 for k = 2
    return latent @ basis.T + noise * rng.normal(size=(n, d)) + offset * rng.normal(size=d)


def top_eigenvectors(x, k):
    """Independent PCA: eigenvectors of the (biased) covariance by numpy.linalg.eigh, descending."""
    centred = x - x.mean(axis=0)
    values, vectors = np.linalg.eigh(centred.T @ centred / len(x))
    order = np.argsort(values)[::-1]
    return values[order], vectors[:, order[:k]]


# ---------------------------------------------------------------- vaelib.pca


@pytest.mark.parametrize("k", [1, 2, 3])
def test_pca_basis_matches_eigh_of_covariance(k):
    x = low_rank_data(k=3, seed=k)
    basis = pca_basis(x, k)
    _, reference = top_eigenvectors(x, k)
    assert basis.shape == (12, k)
    np.testing.assert_allclose(basis.T @ basis, np.eye(k), atol=1e-10)  # orthonormal columns
    # column by column, up to sign: catches a wrong order, a missing centring or rows/columns mixed up
    np.testing.assert_allclose(np.abs(np.sum(basis * reference, axis=0)), 1.0, atol=1e-8)
    np.testing.assert_allclose(scipy.linalg.subspace_angles(basis, reference), 0.0, atol=1e-7)


def test_pca_basis_matches_sklearn_pca_on_digits():
    x_train = digits()[0].numpy().astype(np.float64)
    basis = pca_basis(x_train, 5)
    components = PCA(n_components=5, svd_solver="full").fit(x_train).components_.T  # (64, 5)
    np.testing.assert_allclose(np.abs(np.sum(basis * components, axis=0)), 1.0, atol=1e-6)


def test_pca_basis_centres_the_data():
    x = low_rank_data(offset=50.0)  # an uncentred SVD would return the offset direction first
    _, reference = top_eigenvectors(x, 2)
    np.testing.assert_allclose(scipy.linalg.subspace_angles(pca_basis(x, 2), reference), 0.0, atol=1e-7)


@pytest.mark.parametrize(("k", "m"), [(2, 2), (2, 3), (3, 1), (4, 4)])
def test_principal_angles_match_scipy(k, m):
    rng = np.random.default_rng(10 * k + m)
    a = rng.normal(size=(12, k)) @ rng.normal(size=(k, k))  # not orthonormal: the function must orthonormalise
    b = rng.normal(size=(12, m))
    ours = principal_angles(a, b)
    reference = np.sort(scipy.linalg.subspace_angles(a, b))  # scipy returns them in descending order
    assert ours.shape == (min(k, m),)
    assert np.all(np.diff(ours) >= 0)  # ascending, as documented
    np.testing.assert_allclose(ours, reference, atol=1e-10)


def test_principal_angles_of_known_planes():
    t = 0.3
    a = np.zeros((5, 2))
    a[0, 0] = a[1, 1] = 1.0  # the e1-e2 plane
    b = np.zeros((5, 2))
    b[0, 0] = 3.0  # same first direction, different length
    b[1, 1], b[2, 1] = np.cos(t), np.sin(t)  # second direction tilted by t out of the plane
    np.testing.assert_allclose(principal_angles(a, b), [0.0, t], atol=1e-12)
    np.testing.assert_allclose(principal_angles(a, a @ np.array([[2.0, 1.0], [0.0, 1.0]])), 0.0, atol=1e-7)


# ---------------------------------------------------------------- vaelib.models: shapes and forward passes


def test_linear_autoencoder_shapes_and_map():
    torch.manual_seed(0)
    model = LinearAutoencoder(in_dim=12, code_dim=2)
    assert tuple(model.U.shape) == (2, 12)  # encoder
    assert tuple(model.V.shape) == (12, 2)  # decoder (the notes' 2 x 12 would not multiply)
    x = torch.randn(7, 12)
    U, V = model.U.detach().numpy(), model.V.detach().numpy()
    expected = (V @ U @ x.numpy().T).T  # x~ = V U x for each column vector
    with torch.no_grad():
        np.testing.assert_allclose(model.encode(x).numpy(), (U @ x.numpy().T).T, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_deep_autoencoder_shapes_and_range():
    torch.manual_seed(0)
    model = DeepAutoencoder(in_dim=64, hidden=32, code_dim=2)
    x = torch.rand(9, 64)
    with torch.no_grad():
        code, out = model.encode(x), model(x)
        assert code.shape == (9, 2) and out.shape == (9, 64)
        assert torch.all((out > 0) & (out < 1))  # sigmoid output for pixels in [0, 1]
        torch.testing.assert_close(out, model.decoder(code))


def test_vae_encode_decode_sample_shapes():
    torch.manual_seed(0)
    model = VAE(x_dim=64, hidden=32, z_dim=3)
    x = torch.rand(5, 64)
    mu, log_var = model.encode(x)
    assert mu.shape == log_var.shape == (5, 3)
    assert model.decode(torch.randn(5, 3)).shape == (5, 64)
    assert model.decode(torch.randn(4, 5, 3)).shape == (4, 5, 64)  # several samples per data point
    torch.manual_seed(1)
    samples = model.sample(6)
    assert samples.shape == (6, 64) and torch.all((samples > 0) & (samples < 1))
    torch.manual_seed(1)
    with torch.no_grad():  # sample = sigmoid(decode(z)) with z ~ N(0, I), replayed by hand
        torch.testing.assert_close(samples, torch.sigmoid(model.decode(torch.randn(6, 3))))


# ---------------------------------------------------------------- vaelib.models: training


def test_train_autoencoder_linear_reaches_pca_error():
    x = low_rank_data()
    x = x - x.mean(axis=0)  # the linear auto encoder has no bias
    values, reference = top_eigenvectors(x, 2)
    discarded = values[2:].sum()  # the best rank-2 reconstruction error (Baldi & Hornik 1989)
    torch.manual_seed(0)
    model = LinearAutoencoder(in_dim=12, code_dim=2)
    calls = []
    losses = train_autoencoder(model, torch.tensor(x, dtype=torch.float32), epochs=1000, lr=1e-2, device=CPU,
                               callback=lambda epoch, m: calls.append(epoch))
    assert len(losses) == 1000 and calls == list(range(1, 1001))
    x_t = torch.tensor(x, dtype=torch.float32)
    with torch.no_grad():
        error = ((model(x_t) - x_t) ** 2).sum(-1).mean().item()
    assert error >= discarded * (1 - 1e-4)  # nothing beats PCA
    np.testing.assert_allclose(error, discarded, rtol=5e-3)
    np.testing.assert_allclose(losses[-1], discarded, rtol=5e-3)
    V = model.V.detach().numpy()
    np.testing.assert_allclose(scipy.linalg.subspace_angles(V, reference), 0.0, atol=1e-2)


def test_train_autoencoder_decreases_loss_with_minibatches():
    x = torch.tensor(low_rank_data(n=300), dtype=torch.float32)
    x = x - x.mean(0)
    torch.manual_seed(0)
    losses = train_autoencoder(LinearAutoencoder(), x, epochs=30, lr=1e-2, batch_size=64, device=CPU)
    assert losses[-1] < 0.5 * losses[0]


@pytest.fixture(scope="module")
def binary_digits():
    return digits(binarize=True)


def test_train_vae_improves_held_out_elbo(binary_digits):
    x_train, _, x_test, _ = binary_digits
    # independent reference: the exact test log-likelihood of the best factorised Bernoulli model (no latent)
    p = np.clip(x_train.numpy().mean(0), 1e-3, 1 - 1e-3)
    xt = x_test.numpy()
    independent = float((xt * np.log(p) + (1 - xt) * np.log(1 - p)).sum(1).mean())
    torch.manual_seed(0)
    model = VAE(x_dim=64, hidden=256, z_dim=2)
    before = evaluate_elbo(model, x_test)
    history = train_vae(model, x_train, x_test, epochs=20, estimator="pathwise", device=CPU)
    assert len(history["train_elbo"]) == len(history["test_elbo"]) == 20
    assert np.all(np.isfinite(history["test_elbo"]))
    assert before < -40.0  # an untrained decoder is close to 64 * log(1/2) = -44.4 nats
    assert history["test_elbo"][-1] > before + 15.0
    # a lower bound on log p(x) above the factorised model's exact log-likelihood: the latent code is used
    assert history["test_elbo"][-1] > independent + 1.0


def test_train_vae_score_function_runs(binary_digits):
    x_train, _, x_test, _ = binary_digits
    torch.manual_seed(0)
    model = VAE(x_dim=64, hidden=64, z_dim=2)
    before = evaluate_elbo(model, x_test)
    history = train_vae(model, x_train[:512], x_test, epochs=3, estimator="score_function", device=CPU)
    assert history["test_elbo"][-1] > before


def test_train_vae_rejects_unknown_estimator(binary_digits):
    x_train, _, _, _ = binary_digits
    with pytest.raises(ValueError, match="estimator"):
        train_vae(VAE(), x_train[:10], epochs=1, estimator="reinforce", device=CPU)


def test_evaluate_elbo_terms_match_torch_distributions(binary_digits):
    _, _, x_test, _ = binary_digits
    torch.manual_seed(0)
    model = VAE(x_dim=64, hidden=32, z_dim=2)
    x = x_test[:20]
    torch.manual_seed(5)
    terms = evaluate_elbo_terms(model, x, n_samples=7)
    torch.manual_seed(5)  # replay: encode, then eps of shape (7, 20, 2)
    with torch.no_grad():
        mu, log_var = model.encode(x)
        q = Normal(mu, torch.exp(0.5 * log_var))
        z = mu + torch.exp(0.5 * log_var) * torch.randn(7, 20, 2)
        reconstruction = Independent(Bernoulli(logits=model.decode(z)), 1).log_prob(x).mean(0)  # (20,)
        kl = kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)  # (20,)
    np.testing.assert_allclose(terms["reconstruction"], reconstruction.mean().item(), rtol=1e-5)
    np.testing.assert_allclose(terms["kl"], kl.mean().item(), rtol=1e-5)
    np.testing.assert_allclose(terms["elbo"], (reconstruction - kl).mean().item(), rtol=1e-5)
    torch.manual_seed(5)
    assert evaluate_elbo(model, x, n_samples=7) == terms["elbo"]


def test_kl_warmup_schedule():
    weights = [kl_warmup(epoch, delay=3, ramp=4) for epoch in range(10)]
    assert weights == [0.0, 0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0]


def test_train_vae_records_kl_and_uses_the_kl_weight(binary_digits):
    x_train, _, x_test, _ = binary_digits
    histories = {}
    for name, weight in [("plain", None), ("no_kl", lambda epoch: 0.0)]:
        torch.manual_seed(0)
        model = VAE(x_dim=64, hidden=64, z_dim=2)
        histories[name] = train_vae(model, x_train, x_test, epochs=6, device=CPU, kl_weight=weight)
    plain, no_kl = histories["plain"], histories["no_kl"]
    assert set(plain) == {"train_elbo", "test_elbo", "test_kl", "test_reconstruction"}
    for h in histories.values():  # the recorded ELBO is always reconstruction - KL (weight 1)
        np.testing.assert_allclose(np.array(h["test_reconstruction"]) - np.array(h["test_kl"]), h["test_elbo"],
                                   rtol=1e-5, atol=1e-5)
    # without the KL term nothing pulls q towards the prior: the codes spread out and the KL grows
    assert no_kl["test_kl"][-1] > 5 * plain["test_kl"][-1] and no_kl["test_kl"][-1] > 3.0
    # a constant weight of 1 is the plain objective, step for step
    torch.manual_seed(0)
    model = VAE(x_dim=64, hidden=64, z_dim=2)
    same = train_vae(model, x_train, x_test, epochs=6, device=CPU, kl_weight=lambda epoch: 1.0)
    np.testing.assert_allclose(same["test_elbo"], plain["test_elbo"], rtol=1e-6)
