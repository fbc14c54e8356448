"""vaelib.seeds.train_vaes: several VAEs trained at once, each the run train_vae makes for its seed.

The independent implementation is vaelib.models.train_vae, run seed by seed: the same initial weights, the same
shuffles and noise (per-seed CPU generators replay torch.manual_seed(seed)), so after two epochs every recorded
number and every weight must agree up to float32 rounding of batched against unbatched matrix products. Tiny
VAEs (16 hidden units) keep it quick.
"""

import math

import pytest
import torch

from vaelib.data import digits
from vaelib.models import VAE, kl_warmup, score_function_surrogate, train_vae
from vaelib.seeds import train_vaes

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py
SEEDS = [0, 3, 11]


@pytest.fixture(scope="module")
def data():
    x_train, _, x_test, _ = digits(binarize=True)
    return x_train[:300], x_test[:100]


@pytest.mark.parametrize("options", [
    {},  # pathwise, one code per image (the book's VAE training)
    {"estimator": "score_function", "samples": 4},  # leave-one-out baseline
    {"estimator": "score_function", "samples": 1},
    {"kl_weight": kl_warmup, "lr": 3e-3},
], ids=["pathwise", "score-function-4", "score-function-1", "warm-up"])
def test_each_copy_is_the_run_train_vae_makes_for_its_seed(data, options):
    x_train, x_test = data
    ours = dict(options)
    theirs = {"estimator": ours.get("estimator", "pathwise"), "score_samples": ours.get("samples", 4),
              "kl_weight": ours.get("kl_weight"), "lr": ours.get("lr", 1e-3)}
    models, history = train_vaes(SEEDS, x_train, x_test, epochs=2, batch_size=64, hidden=16, device="cpu", **ours)
    assert history["test_elbo"].shape == (len(SEEDS), 2)
    assert history["test_kl_per_dim"].shape == (len(SEEDS), 2, 2)
    for i, seed in enumerate(SEEDS):
        torch.manual_seed(seed)
        reference = VAE(x_dim=64, hidden=16, z_dim=2)
        recorded = train_vae(reference, x_train, x_test, epochs=2, batch_size=64, seed=seed, device="cpu", **theirs)
        for key in ("train_elbo", "test_elbo", "test_kl", "test_reconstruction"):
            torch.testing.assert_close(history[key][i], torch.tensor(recorded[key]), atol=2e-4, rtol=0,
                                       msg=f"seed {seed}: {key}")
        torch.testing.assert_close(history["test_kl_per_dim"][i].sum(-1), history["test_kl"][i])
        for (name, value), expected in zip(models[i].state_dict().items(), reference.state_dict().values(),
                                           strict=True):
            torch.testing.assert_close(value, expected, atol=5e-4, rtol=0, msg=f"seed {seed}: {name}")


def test_the_copies_differ_and_train(data):
    """Different seeds give different runs (the copies do not share weights or noise), and each one trains."""
    x_train, x_test = data
    models, history = train_vaes(SEEDS, x_train, x_test, epochs=3, batch_size=64, hidden=16, lr=3e-3,
                                 device="cpu", eval_samples=2, record_train=False)
    assert torch.isnan(history["train_elbo"]).all()
    assert torch.isfinite(history["test_elbo"]).all()
    assert (history["test_elbo"][:, -1] > history["test_elbo"][:, 0]).all()
    first = [m.decoder[0].weight for m in models]
    assert all((a - b).abs().max() > 1e-3 for a, b in [(first[0], first[1]), (first[1], first[2])])


def test_score_function_without_baseline_is_m_single_sample_estimates(data):
    """With the baseline off, M codes per image are M independent single-code surrogates: same value, same
    gradient (the M = 1 path, where there is no baseline, is the reference)."""
    x_train, _ = data
    torch.manual_seed(0)
    model = VAE(x_dim=64, hidden=16, z_dim=2).double()
    x = x_train[:20].double()
    eps = torch.randn(4, 20, 2, dtype=torch.float64)
    plain = score_function_surrogate(x, model, 4, eps=eps, baseline=False)
    singles = torch.stack([score_function_surrogate(x, model, 1, eps=eps[m:m + 1]) for m in range(4)]).mean()
    torch.testing.assert_close(plain, singles)
    grads = torch.autograd.grad(plain, list(model.parameters()))
    expected = torch.autograd.grad(singles, list(model.parameters()))
    for g, h in zip(grads, expected, strict=True):
        torch.testing.assert_close(g, h)
    with_baseline = score_function_surrogate(x, model, 4, eps=eps)
    assert not math.isclose(with_baseline.item(), plain.item())  # the leave-one-out baseline changes it


def test_bad_arguments_are_refused(data):
    x_train, _ = data
    with pytest.raises(ValueError, match="estimator"):
        train_vaes([0], x_train, estimator="reinforce", epochs=1, device="cpu")
    with pytest.raises(ValueError, match="distinct"):
        train_vaes([1, 1], x_train, epochs=1, device="cpu")
