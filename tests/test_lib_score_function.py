"""vaelib.models.score_function_surrogate: its mean phi-gradient is the pathwise phi-gradient.

"Training beats an untrained model" cannot catch a wrong surrogate, because the decoder's and the KL's gradients
train the model on their own. Here both estimators of grad_phi ELBO (phi = the encoder's weights) are averaged
over many independent draws on a tiny float64 VAE and compared coordinate by coordinate:

* the score-function surrogate (4 samples per data point, leave-one-out baseline), the estimator under test;
* the pathwise estimate, autograd through z = mu + sigma * eps (vaelib.probability.elbo), the reference.

Both are unbiased for the same gradient, so each coordinate's difference of means, divided by the standard error
of that difference, is about N(0, 1). The standard errors come from separate reference runs (not from the runs
under test), so the statistic is Student-t with 99 degrees of freedom; P(|t_99| > 6) = 5e-8 per coordinate, and
with the 58 active encoder weights the test fails falsely with probability below 3e-6 (Bonferroni).
Power, measured by breaking vaelib/models.py on purpose and restoring it: flipping the sign of the score term
gives |z| = 343, and a baseline that includes the point's own sample (biased: it scales the score term by 3/4)
gives |z| = 50. Dropping the baseline keeps the estimator unbiased and passes, as it should.
"""

import pytest
import torch

from vaelib.models import VAE, score_function_surrogate
from vaelib.probability import elbo, gaussian_kl

Z_CRIT = 6.0
CALLS = 100  # independent gradient estimates per run
COPIES = 50  # each call sees every data point COPIES times, so one call averages 50 draws per data point


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def tiny_vae_and_data():
    torch.manual_seed(1)
    model = VAE(x_dim=6, hidden=6, z_dim=1).double()  # 98 encoder weights, 58 of them active on x
    g = torch.Generator().manual_seed(1)
    x = torch.rand(8, 6, generator=g, dtype=torch.float64)  # 8 data points, grey levels in [0, 1]
    return model, x


def encoder_weights(model):
    return [*model.encoder_body.parameters(), *model.encoder_head.parameters()]


def phi_gradients(model, objective, calls):
    """(calls, n_phi): one flattened phi-gradient of ``objective()`` per call, each from fresh noise."""
    phi = encoder_weights(model)
    rows = []
    for _ in range(calls):
        grads = torch.autograd.grad(objective(), phi)
        rows.append(torch.cat([g.flatten() for g in grads]))
    return torch.stack(rows)


def test_score_function_surrogate_mean_phi_gradient_equals_pathwise():
    model, x = tiny_vae_and_data()
    copies = x.repeat(COPIES, 1)  # (400, 6): the batch mean is the mean over 50 independent draws per point

    def surrogate():
        return score_function_surrogate(copies, model, n_samples=4)

    def pathwise():
        return elbo(copies, model.encode, model.decode).mean()

    torch.manual_seed(2)
    sf_test, path_test = phi_gradients(model, surrogate, CALLS), phi_gradients(model, pathwise, CALLS)
    torch.manual_seed(3)  # independent reference runs give the variances
    sf_ref, path_ref = phi_gradients(model, surrogate, CALLS), phi_gradients(model, pathwise, CALLS)

    se = ((sf_ref.var(0) + path_ref.var(0)) / CALLS).sqrt()  # (n_phi,)
    difference = sf_test.mean(0) - path_test.mean(0)
    dead = se == 0  # weights of ReLU units that never fire: both gradients must be exactly zero there
    assert torch.all(sf_test[:, dead] == 0) and torch.all(path_test[:, dead] == 0)
    assert (~dead).sum() >= 40  # enough of the encoder is active for the test to mean something
    z = difference[~dead] / se[~dead]
    worst = z.abs().argmax()
    assert z.abs().max() < Z_CRIT, (
        f"score-function and pathwise phi-gradients differ: |z| = {z.abs().max().item():.1f} at coordinate "
        f"{worst.item()} (surrogate {sf_test.mean(0)[~dead][worst].item():+.5f}, "
        f"pathwise {path_test.mean(0)[~dead][worst].item():+.5f})"
    )
    # power against a surrogate that drops the score term (only the KL's phi-gradient left): its distance from
    # the pathwise gradient must exceed the critical value by 5 standard errors (measured: about 170)
    kl_only = phi_gradients(model, lambda: -gaussian_kl(*model.encode(x)).mean(), 1)[0]
    assert ((kl_only - path_test.mean(0))[~dead].abs() / se[~dead]).max() > Z_CRIT + 5


def test_score_function_surrogate_theta_gradient_and_value():
    """The decoder's gradient and the surrogate's value are those of the Monte Carlo ELBO with the same codes."""
    model, x = tiny_vae_and_data()
    torch.manual_seed(4)
    value = score_function_surrogate(x, model, n_samples=3)
    theta = list(model.decoder.parameters())
    grads = torch.autograd.grad(value, theta)
    torch.manual_seed(4)  # replay the same noise: the pathwise ELBO with 3 samples uses the same eps
    reference = elbo(x, model.encode, model.decode, n_samples=3).mean()
    reference_grads = torch.autograd.grad(reference, theta)
    # the score term is (f - b) * log q with f, b detached: its value is not the ELBO's, but theta never sees it
    for g, r in zip(grads, reference_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-12, atol=1e-12)
