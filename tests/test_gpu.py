"""Tests marked gpu: the core computations on CUDA, checked against the CPU. Skipped without CUDA."""

import pytest

# ---------------------------------------------------------------- chapters 1 and 2 (maximum likelihood, latent
# variable models) and vaelib.probability: the same computations on CUDA and on the CPU.


def _cuda_or_skip():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device")
    return torch.device("cuda")


@pytest.mark.gpu
def test_gpu_ch1_log_likelihood_underflow_and_gradient_ascent():
    import math

    import torch

    from vaelib.data import digits
    from vaelib.probability import bernoulli_log_likelihood, log_mean_exp, log_normal

    cuda = _cuda_or_skip()
    x_train, _, x_test, _ = digits(binarize=True, dtype=torch.float64)
    theta = (x_train.sum(0) + 1) / (len(x_train) + 2)
    results = {}
    for device in (torch.device("cpu"), cuda):
        logits = torch.logit(theta).to(device).expand(len(x_test), -1)
        log_p = bernoulli_log_likelihood(x_test.to(device), logits)  # (359,) ch1 eq. (1) terms
        products = torch.cumprod(torch.exp(log_p.float()), 0)      # float32 product: underflows
        first_zero = int(torch.nonzero(products == 0)[0]) + 1
        ink = x_train.sum(1).to(device)
        params = torch.tensor([10.0, math.log(8.0)], dtype=torch.float64, device=device, requires_grad=True)
        for _ in range(200):
            log_var = (2 * params[1]).expand(len(ink), 1)
            objective = log_normal(ink[:, None], params[0].expand(len(ink), 1), log_var).mean()
            (gradient,) = torch.autograd.grad(objective, params)
            with torch.no_grad():
                params += 0.8 * gradient
        results[device.type] = (log_p.cpu(), first_zero, params.detach().cpu(), log_mean_exp(40 * log_p).cpu())
    cpu, gpu = results["cpu"], results["cuda"]
    torch.testing.assert_close(gpu[0], cpu[0], rtol=1e-12, atol=1e-10)
    exact_log10 = torch.cumsum(cpu[0], 0) / math.log(10.0)
    n_lo = int(torch.nonzero(exact_log10 < math.log10(torch.finfo(torch.float32).smallest_normal))[0]) + 1
    n_hi = int(torch.nonzero(exact_log10 < math.log10(2.0**-150))[0]) + 1
    assert n_lo <= gpu[1] <= n_hi + 1  # flush-to-zero on the GPU may underflow a little earlier
    ink = x_train.sum(1)
    torch.testing.assert_close(gpu[2], torch.stack([ink.mean(), ink.std(correction=0).log()]), rtol=0, atol=1e-5)
    torch.testing.assert_close(gpu[3], cpu[3], rtol=1e-12, atol=1e-9)


@pytest.mark.gpu
def test_gpu_ch2_marginal_posterior_and_naive_monte_carlo():
    import math

    import torch
    from torch import distributions as D

    from vaelib.linear_gaussian import LinearGaussianModel
    from vaelib.probability import log_mean_exp, log_normal

    cuda = _cuda_or_skip()
    base = LinearGaussianModel.random(x_dim=3, z_dim=2, noise_std=0.5, seed=2)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, generator=g, dtype=torch.float64)
    z = torch.randn(400, 100, 2, generator=g, dtype=torch.float64)  # the same prior samples on both devices
    axis = torch.linspace(-6, 6, 401, dtype=torch.float64)
    results = {}
    for device in (torch.device("cpu"), cuda):
        model = LinearGaussianModel(base.W.to(device), base.b.to(device), base.noise_std)
        xd, grid = x.to(device), torch.cartesian_prod(axis, axis).to(device)
        log_px_grid = torch.logsumexp(model.log_joint(xd, grid), 0) + 2 * torch.log(axis[1] - axis[0])
        mean = z.to(device) @ model.W.T + model.b
        naive = log_mean_exp(log_normal(xd, mean, torch.full_like(mean, math.log(0.25))), dim=1)  # (400,)
        m, S = model.posterior(xd)
        weights = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64, device=device)
        means = torch.tensor([[-2.0, 0.0], [1.5, 1.0], [0.5, -2.5]], dtype=torch.float64, device=device)
        log_vars = torch.tensor([[0.0, -1.0], [-0.5, 0.5], [-1.5, -1.5]], dtype=torch.float64, device=device)
        mix = torch.logsumexp(torch.log(weights) + log_normal(grid[:1000, None, :], means, log_vars), dim=1)
        reference = D.MixtureSameFamily(D.Categorical(probs=weights),
                                        D.Independent(D.Normal(means, torch.exp(0.5 * log_vars)), 1))
        torch.testing.assert_close(mix, reference.log_prob(grid[:1000]))
        torch.testing.assert_close(log_px_grid, model.log_marginal(xd), rtol=0, atol=1e-8)
        results[device.type] = [t.cpu() for t in (log_px_grid, model.log_marginal(xd), naive, m, S)]
    for gpu_value, cpu_value in zip(results["cuda"], results["cpu"], strict=True):
        torch.testing.assert_close(gpu_value, cpu_value, rtol=1e-10, atol=1e-10)


@pytest.mark.gpu
def test_gpu_probability_functions_match_cpu():
    import torch

    from vaelib.probability import bernoulli_log_likelihood, gaussian_kl, log_normal, reparameterize

    cuda = _cuda_or_skip()
    g = torch.Generator().manual_seed(1)
    x, mu, log_var, eps = (torch.randn(6, 4, generator=g, dtype=torch.float64) for _ in range(4))
    logits = 3 * torch.randn(6, 4, generator=g, dtype=torch.float64)
    binary = (x > 0).double()

    def run(device):
        args = [t.to(device) for t in (x, mu, log_var, eps, logits, binary)]
        xd, mud, lvd, epsd, ld, bd = args
        return [t.cpu() for t in (log_normal(xd, mud, lvd), gaussian_kl(mud, lvd),
                                  bernoulli_log_likelihood(bd, ld), reparameterize(mud, lvd, epsd))]

    for gpu_value, cpu_value in zip(run(cuda), run(torch.device("cpu")), strict=True):
        torch.testing.assert_close(gpu_value, cpu_value, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- chapters 5 and 6 (the ELBO, the reparameterization
# trick): exact linear-Gaussian ELBO identity, theta/phi gradients and the two estimators, CUDA against the CPU.


@pytest.mark.gpu
def test_gpu_ch5_ch6_elbo_identity_gradients_and_estimators():
    import torch

    from vaelib.estimators import pathwise_samples, score_function_samples
    from vaelib.linear_gaussian import LinearGaussianModel
    from vaelib.probability import log_normal

    cuda = _cuda_or_skip()
    dt = torch.float64
    base = LinearGaussianModel.random(x_dim=5, z_dim=2, noise_std=1.0, seed=0)
    x_cpu = base.sample(1, generator=torch.Generator().manual_seed(1))[0][0]
    g = torch.Generator().manual_seed(5)
    eps_iwae = torch.randn(64, 32, 2, generator=g, dtype=dt)
    eps_grad = torch.randn(4096, 2, generator=g, dtype=dt)
    eps_1d = torch.randn(4096, generator=g, dtype=dt)
    q_mean = torch.tensor([0.0, 1.0], dtype=dt)
    q_cov = torch.tensor([[0.5, 0.2], [0.2, 0.3]], dtype=dt)
    log_std = torch.tensor([-0.5, -0.8], dtype=dt)
    results = {}
    for device in (torch.device("cpu"), cuda):
        model = LinearGaussianModel(base.W.to(device), base.b.to(device), base.noise_std)
        x, qm, qc, ls = (t.to(device) for t in (x_cpu, q_mean, q_cov, log_std))
        elbo, kl, log_px = model.elbo(x, qm, qc), model.kl_to_posterior(x, qm, qc), model.log_marginal(x)
        assert abs(elbo + kl - log_px) < 1e-10  # ch5 identity on this device
        iwae = model.iwae(x, qm, qc, eps_iwae.to(device))

        def single(m, s, W, b, e, x=x):  # ch6 eq. (ch6-reparam-loss)
            z = m + torch.exp(s) * e
            return LinearGaussianModel(W, b, base.noise_std).log_joint(x, z) - log_normal(z, m, 2 * s)

        per_sample = torch.func.vmap(torch.func.grad(single, argnums=(0, 1, 2, 3)), in_dims=(None,) * 4 + (0,))
        grads = per_sample(qm, ls, model.W, model.b, eps_grad.to(device))
        f = lambda z: (z - 3.0) ** 2  # noqa: E731
        path = pathwise_samples(f, 1.0, 1.0, eps_1d.to(device))
        score = score_function_samples(f, 1.0, 1.0, eps_1d.to(device))
        results[device.type] = [t.detach().cpu() for t in (elbo, kl, log_px, iwae, *grads, path, score)]
    for gpu_value, cpu_value in zip(results["cuda"], results["cpu"], strict=True):
        torch.testing.assert_close(gpu_value, cpu_value, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------- chapters 3 and 4 (auto encoders and PCA,
# variational auto encoders): the linear auto encoder and the VAE on CUDA, checked against the CPU.


@pytest.mark.gpu
def test_gpu_ch3_linear_autoencoder_finds_pca_subspace():
    import numpy as np
    import torch

    from vaelib.models import LinearAutoencoder, train_autoencoder
    from vaelib.pca import pca_basis, principal_angles

    cuda = _cuda_or_skip()
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.normal(size=(12, 2)))
    x = rng.normal(size=(1000, 2)) * np.array([3.0, 2.0]) @ basis.T + 0.3 * rng.normal(size=(1000, 12))
    x = x - x.mean(axis=0)
    discarded = np.sort(np.linalg.eigvalsh(x.T @ x / len(x)))[::-1][2:].sum()
    projections = {}
    for device in (torch.device("cpu"), cuda):
        torch.manual_seed(0)
        model = LinearAutoencoder(12, 2)
        train_autoencoder(model, torch.tensor(x, dtype=torch.float32), epochs=1000, lr=1e-2, device=device)
        assert next(model.parameters()).device.type == device.type
        x_d = torch.tensor(x, dtype=torch.float32, device=device)
        with torch.no_grad():
            error = ((model(x_d) - x_d) ** 2).sum(-1).mean().item()
        np.testing.assert_allclose(error, discarded, rtol=5e-3)
        V = model.V.detach().cpu().numpy()
        np.testing.assert_allclose(principal_angles(V, pca_basis(x, 2)), 0.0, atol=1e-2)
        projections[device.type] = (model.V @ model.U).detach().cpu()  # (12, 12), the projection VU
    torch.testing.assert_close(projections["cuda"], projections["cpu"], atol=2e-3, rtol=0)


@pytest.mark.gpu
def test_gpu_ch4_vae_forward_matches_cpu_and_training_improves():
    import torch

    from vaelib.data import digits
    from vaelib.models import VAE, evaluate_elbo, train_vae
    from vaelib.probability import reparameterize

    cuda = _cuda_or_skip()
    x_train, _, x_test, _ = digits(binarize=True)
    torch.manual_seed(0)
    model = VAE(z_dim=2)
    eps = torch.randn(3, len(x_test), 2)
    outputs = {}
    for device in (torch.device("cpu"), cuda):
        model.to(device)
        with torch.no_grad():
            mu, log_var = model.encode(x_test.to(device))
            logits = model.decode(reparameterize(mu, log_var, eps.to(device)))
        outputs[device.type] = [t.cpu() for t in (mu, log_var, logits)]
    for gpu_value, cpu_value in zip(outputs["cuda"], outputs["cpu"], strict=True):
        torch.testing.assert_close(gpu_value, cpu_value, atol=1e-4, rtol=1e-4)
    before = evaluate_elbo(model, x_test)
    history = train_vae(model, x_train, x_test, epochs=20, device=cuda)
    assert next(model.parameters()).device.type == "cuda"
    assert history["test_elbo"][-1] > before + 15.0 and history["test_elbo"][-1] > -23.5


# ---------------------------------------------------------------- the chapters themselves, run as a reader runs them
# (VAE_DEVICE=auto): each must pick CUDA and do its work there. A chapter that hard-codes the CPU
# (`device = torch.device("cpu")`) reports device cpu; one that asks get_device() but leaves its tensors on the CPU
# allocates no CUDA memory. Both fail here, though every library-level test above passes.

GPU_CHECK = """
import json as _json
import torch as _torch
print("VAE_GPU_CHECK " + _json.dumps({"device": str(device),
      "max_allocated": _torch.cuda.max_memory_allocated() if _torch.cuda.is_available() else 0}))
"""


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.parametrize("chapter", ["intro", "ch1_maximum_likelihood", "ch2_latent_variable_models",
                                     "ch3_autoencoders_pca", "ch4_variational_autoencoders", "ch5_elbo",
                                     "ch6_reparameterization"])
def test_gpu_chapter_runs_on_cuda(chapter, tmp_path, monkeypatch):
    import json
    from pathlib import Path

    import jupytext
    import nbformat
    from nbclient import NotebookClient

    _cuda_or_skip()
    book = Path(__file__).resolve().parents[1] / "book"
    notebook = jupytext.read(book / f"{chapter}.md")
    notebook.cells.append(nbformat.v4.new_code_cell(GPU_CHECK))
    monkeypatch.setenv("VAE_DEVICE", "auto")
    monkeypatch.setenv("VAE_BOOK_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    NotebookClient(notebook, timeout=1200, kernel_name="python3",
                   resources={"metadata": {"path": str(book)}}).execute()
    printed = "".join(output.get("text", "") for output in notebook.cells[-1].outputs)
    report = json.loads(printed.split("VAE_GPU_CHECK ", 1)[1])
    assert report["device"].startswith("cuda"), f"{chapter} computed on {report['device']}, not on CUDA"
    assert report["max_allocated"] > 0, f"{chapter} allocated no CUDA memory: its tensors stayed on the CPU"
    print(f"{chapter}: device {report['device']}, peak CUDA memory {report['max_allocated'] / 2**20:.1f} MiB")
