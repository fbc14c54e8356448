"""Other correct implementations of the stochastic functions: each must keep full marks under 20 grading seeds.

They differ from the solutions in the ways correct student code does: torch.distributions and rsample, randn_like,
another sampling order or tensor layout, Python loops instead of vectorised code, float64, a baseline, the sampled
instead of the closed-form KL, noise shared across the batch, .backward() instead of autograd.grad.
"""

from __future__ import annotations

from variants import Variant


def _alt(name, assignment, function, checks, description, source):
    return Variant(name, assignment, function, checks, description, source, statistical=True)


ALTERNATIVES: list[Variant] = [
    # ------------------------------------------------------------------------ ps1: mc_log_marginal
    _alt("mc_torch_logsumexp", "ps1_likelihood", "mc_log_marginal", ("mc_log_marginal", "mc_log_marginal_given_z"),
         "torch.logsumexp and a (S, 1) sample column", '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    z = torch.randn(n_samples, 1) if z is None else z.reshape(-1, 1)
    return torch.logsumexp(log_likelihood(x, z), dim=0) - math.log(z.shape[0])
'''),
    _alt("mc_distributions", "ps1_likelihood", "mc_log_marginal", ("mc_log_marginal", "mc_log_marginal_given_z"),
         "prior samples from torch.distributions.Normal", '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    if z is None:
        z = torch.distributions.Normal(0.0, 1.0).sample((n_samples,))
    log_lik = log_likelihood(x.unsqueeze(0), z.unsqueeze(1))
    return log_sum_exp(log_lik, 0) - math.log(z.numel())
'''),
    _alt("mc_loop_points", "ps1_likelihood", "mc_log_marginal", ("mc_log_marginal", "mc_log_marginal_given_z"),
         "a Python loop over data points, fresh samples for each", '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    results = []
    for point in x:
        samples = torch.randn(n_samples) if z is None else z
        log_lik = log_likelihood(point.reshape(1, 1), samples.reshape(-1, 1))[:, 0]
        m = log_lik.max()
        results.append(m + torch.log(torch.exp(log_lik - m).mean()))
    return torch.stack(results)
'''),
    _alt("mc_float64", "ps1_likelihood", "mc_log_marginal", ("mc_log_marginal", "mc_log_marginal_given_z"),
         "everything in float64", '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    x = x.double()
    z = torch.randn(n_samples, dtype=torch.float64) if z is None else z.double()
    return torch.logsumexp(log_likelihood(x[None, :], z[:, None]), dim=0) - math.log(len(z))
'''),
    _alt("mc_randn_like", "ps1_likelihood", "mc_log_marginal", ("mc_log_marginal", "mc_log_marginal_given_z"),
         "randn_like on a (batch, S) layout, reduced over the last dimension", '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    if z is None:
        z = torch.randn_like(x.new_empty(n_samples))
    log_lik = log_likelihood(x[:, None], z[None, :])  # (batch, S)
    return log_sum_exp(log_lik, dim=1) - math.log(z.shape[0])
'''),
    # ------------------------------------------------------------------------ ps3: elbo
    _alt("elbo_distributions", "ps3_elbo", "elbo", ("elbo",),
         "torch.distributions: Normal(...).rsample and kl_divergence", '''
def elbo(x, encoder, decoder, n_samples=1):
    from torch.distributions import Normal, kl_divergence
    mu, log_var = encoder(x)
    q = Normal(mu, torch.exp(0.5 * log_var))
    z = q.rsample((n_samples,))
    kl = kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)
    return bernoulli_log_likelihood(x, decoder(z)).mean(0) - kl
'''),
    _alt("elbo_sampled_kl", "ps3_elbo", "elbo", ("elbo",),
         "the lecture's form E_q[log p(x, z) - log q(z|x)] with every term sampled", '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    eps = torch.randn(n_samples, *mu.shape)
    z = mu + torch.exp(0.5 * log_var) * eps
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_q = -0.5 * (eps**2 + log_var + math.log(2 * math.pi)).sum(-1)
    return (bernoulli_log_likelihood(x, decoder(z)) + log_prior - log_q).mean(0)
'''),
    _alt("elbo_loop", "ps3_elbo", "elbo", ("elbo",),
         "a Python loop over the data points, randn_like on a repeated mean", '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    values = []
    for i in range(x.shape[0]):
        mean = mu[i].expand(n_samples, -1)
        z = mean + torch.exp(0.5 * log_var[i]) * torch.randn_like(mean)
        reconstruction = bernoulli_log_likelihood(x[i:i + 1], decoder(z)[:, None, :]).mean()
        values.append(reconstruction - gaussian_kl(mu[i:i + 1], log_var[i:i + 1])[0])
    return torch.stack(values)
'''),
    _alt("elbo_float64_batch_first", "ps3_elbo", "elbo", ("elbo",),
         "float64 and samples laid out (batch, n_samples, z_dim)", '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = (t.double() for t in encoder(x))
    eps = torch.randn(mu.shape[0], n_samples, mu.shape[1], dtype=torch.float64)
    z = mu[:, None, :] + torch.exp(0.5 * log_var)[:, None, :] * eps
    logits = decoder(z.float()).double()  # (batch, n_samples, x_dim)
    reconstruction = (x.double()[:, None, :] * logits - torch.nn.functional.softplus(logits)).sum(-1).mean(1)
    return reconstruction - 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(-1)
'''),
    _alt("elbo_shared_noise_bce", "ps3_elbo", "elbo", ("elbo",),
         "one noise draw shared by the whole batch, and binary_cross_entropy_with_logits summed", '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    eps = torch.randn(n_samples, 1, mu.shape[1])
    logits = decoder(mu + torch.exp(0.5 * log_var) * eps)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
    return -bce.sum(-1).mean(0) - gaussian_kl(mu, log_var)
'''),
    # ------------------------------------------------------------------------ ps3: iwae_bound
    _alt("iwae_distributions", "ps3_elbo", "iwae_bound", ("iwae_bound",),
         "torch.distributions log_prob and rsample", '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    from torch.distributions import Normal
    mu, log_var = encoder(x)
    q = Normal(mu, torch.exp(0.5 * log_var))
    z = q.rsample((n_samples,))
    prior = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    log_w = bernoulli_log_likelihood(x, decoder(z)) + prior.log_prob(z).sum(-1) - q.log_prob(z).sum(-1)
    return torch.logsumexp(log_w, 0) - math.log(n_samples)
'''),
    _alt("iwae_manual_max", "ps3_elbo", "iwae_bound", ("iwae_bound",),
         "log-mean-exp by hand (max subtracted)", '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    sigma = torch.exp(0.5 * log_var)
    z = mu + sigma * torch.randn(n_samples, *mu.shape)
    log_q = (-0.5 * ((z - mu) / sigma) ** 2 - torch.log(sigma) - 0.5 * math.log(2 * math.pi)).sum(-1)
    log_p = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(-1)
    log_w = bernoulli_log_likelihood(x, decoder(z)) + log_p - log_q
    m = log_w.max(0).values
    return m + torch.log(torch.exp(log_w - m).mean(0))
'''),
    _alt("iwae_loop", "ps3_elbo", "iwae_bound", ("iwae_bound",),
         "a Python loop over the K samples", '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    log_ws = []
    for _ in range(n_samples):
        eps = torch.randn_like(mu)
        z = mu + torch.exp(0.5 * log_var) * eps
        log_ws.append(bernoulli_log_likelihood(x, decoder(z)) - 0.5 * (z**2).sum(-1)
                      + 0.5 * (eps**2 + log_var).sum(-1))
    return torch.logsumexp(torch.stack(log_ws), 0) - math.log(n_samples)
'''),
    _alt("iwae_float64", "ps3_elbo", "iwae_bound", ("iwae_bound",),
         "log-weights accumulated in float64", '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    eps = torch.randn((n_samples, *mu.shape), dtype=torch.float64)
    z = mu.double() + torch.exp(0.5 * log_var.double()) * eps
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_q = -0.5 * (eps**2 + log_var.double() + math.log(2 * math.pi)).sum(-1)
    log_w = bernoulli_log_likelihood(x.double(), decoder(z.float()).double()) + log_prior - log_q
    return torch.logsumexp(log_w, dim=0) - math.log(n_samples)
'''),
    _alt("iwae_batch_first", "ps3_elbo", "iwae_bound", ("iwae_bound",),
         "samples laid out (batch, K, z_dim), reduced over dim 1", '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    eps = torch.randn(x.shape[0], n_samples, mu.shape[1])
    z = mu.unsqueeze(1) + (0.5 * log_var).exp().unsqueeze(1) * eps
    logits = decoder(z)  # (batch, K, x_dim)
    log_lik = (x.unsqueeze(1) * logits - torch.nn.functional.softplus(logits)).sum(-1)
    log_w = log_lik - 0.5 * (z**2).sum(-1) + 0.5 * (eps**2 + log_var.unsqueeze(1)).sum(-1)
    return torch.logsumexp(log_w, dim=1) - math.log(n_samples)
'''),
    # ------------------------------------------------------------------------ ps2: pca_basis
    _alt("pca_eigh_flipped", "ps2_autoencoders", "pca_basis", ("pca_basis",),
         "eigh of the scatter matrix, the top k eigenvectors flipped into decreasing order", '''
def pca_basis(x, k):
    centred = x - x.mean(dim=0, keepdim=True)
    _, vectors = torch.linalg.eigh(centred.T @ centred)
    return vectors[:, -k:].flip(1)
'''),
    # ------------------------------------------------------------------------ ps2: train_linear_autoencoder
    _alt("ae_float64_global_seed", "ps2_autoencoders", "train_linear_autoencoder", ("train_linear_autoencoder",),
         "trains in float64, seeds the global generator with torch.manual_seed(seed), returns float32", '''
def train_linear_autoencoder(x, code_dim, steps=500, lr=0.03, seed=0):
    torch.manual_seed(seed)
    x64 = x.double()
    U = torch.nn.Parameter(0.1 * torch.randn(code_dim, x.shape[1], dtype=torch.float64))
    V = torch.nn.Parameter(0.1 * torch.randn(x.shape[1], code_dim, dtype=torch.float64))
    optimiser = torch.optim.Adam([U, V], lr=lr)
    for _ in range(steps):
        optimiser.zero_grad()
        reconstruction_error(x64, U, V).backward()
        optimiser.step()
    return U.detach().to(x.dtype), V.detach().to(x.dtype)
'''),
    _alt("ae_plain_gradient_descent", "ps2_autoencoders", "train_linear_autoencoder", ("train_linear_autoencoder",),
         "plain full-batch gradient descent by hand (torch.autograd.grad), its own defaults (3,000 steps, lr 0.02)",
         '''
def train_linear_autoencoder(x, code_dim, steps=3000, lr=0.02, seed=0):
    generator = torch.Generator().manual_seed(seed)
    U = 0.1 * torch.randn(code_dim, x.shape[1], generator=generator)
    V = 0.1 * torch.randn(x.shape[1], code_dim, generator=generator)
    for _ in range(steps):
        U.requires_grad_(True)
        V.requires_grad_(True)
        grad_u, grad_v = torch.autograd.grad(reconstruction_error(x, U, V), (U, V))
        with torch.no_grad():
            U, V = U - lr * grad_u, V - lr * grad_v
    return U.detach(), V.detach()
'''),
    # ------------------------------------------------------------------------ ps4: reparameterize
    _alt("reparam_sqrt_exp", "ps4_gradients", "reparameterize", ("reparameterize",),
         "sigma as sqrt(exp(log_var)), eps from torch.randn(mu.shape)", '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.randn(mu.shape)
    return mu + torch.sqrt(torch.exp(log_var)) * eps
'''),
    _alt("reparam_rsample", "ps4_gradients", "reparameterize", ("reparameterize",),
         "Normal(mu, sigma).rsample() when eps is None", '''
def reparameterize(mu, log_var, eps=None):
    std = torch.exp(0.5 * log_var)
    if eps is None:
        return torch.distributions.Normal(mu, std).rsample()
    return mu + std * eps
'''),
    _alt("reparam_float64", "ps4_gradients", "reparameterize", ("reparameterize",),
         "computed in float64, returned in the input's dtype", '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.randn(mu.shape, dtype=torch.float64, device=mu.device)
    z = mu.double() + torch.exp(0.5 * log_var.double()) * eps.double()
    return z.to(mu.dtype)
'''),
    _alt("reparam_addcmul", "ps4_gradients", "reparameterize", ("reparameterize",),
         "torch.addcmul with eps from empty_like(...).normal_()", '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.empty_like(mu).normal_()
    return torch.addcmul(mu, torch.exp(log_var / 2), eps)
'''),
    _alt("reparam_loop", "ps4_gradients", "reparameterize", ("reparameterize",),
         "a Python loop over rows drawing each row's noise separately", '''
def reparameterize(mu, log_var, eps=None):
    std = torch.exp(0.5 * log_var)
    if eps is not None:
        return mu + std * eps
    return torch.stack([mu[i] + std[i] * torch.randn(mu.shape[1:]) for i in range(mu.shape[0])])
'''),
    # ------------------------------------------------------------------------ ps4: score_function_gradient
    _alt("score_autograd_surrogate", "ps4_gradients", "score_function_gradient", ("score_function_gradient",),
         "surrogate f(z).detach() * log q(z) differentiated by autograd (torch.distributions)", '''
def score_function_gradient(f, mu, sigma, n_samples):
    mu_t = torch.tensor(float(mu), requires_grad=True)
    sigma_t = torch.tensor(float(sigma), requires_grad=True)
    q = torch.distributions.Normal(mu_t, sigma_t)
    z = q.sample((n_samples,))
    surrogate = (f(z).detach() * q.log_prob(z)).mean()
    return torch.stack(torch.autograd.grad(surrogate, (mu_t, sigma_t)))
'''),
    _alt("score_loo_baseline", "ps4_gradients", "score_function_gradient", ("score_function_gradient",),
         "leave-one-out baseline (unbiased, lower variance; allowed by the notebook), none for one sample", '''
def score_function_gradient(f, mu, sigma, n_samples):
    eps = torch.randn(n_samples)
    fz = f(mu + sigma * eps)
    baseline = (fz.sum() - fz) / (n_samples - 1) if n_samples > 1 else torch.zeros_like(fz)
    centred = fz - baseline
    return torch.stack([(centred * eps / sigma).mean(), (centred * (eps**2 - 1) / sigma).mean()])
'''),
    _alt("score_float64_z_form", "ps4_gradients", "score_function_gradient", ("score_function_gradient",),
         "float64, score written with z: (z - mu)/sigma^2 and ((z - mu)^2 - sigma^2)/sigma^3", '''
def score_function_gradient(f, mu, sigma, n_samples):
    z = mu + sigma * torch.randn(n_samples, dtype=torch.float64)
    fz = f(z)
    score_mu = (z - mu) / sigma**2
    score_sigma = ((z - mu) ** 2 - sigma**2) / sigma**3
    return torch.stack([(fz * score_mu).mean(), (fz * score_sigma).mean()])
'''),
    _alt("score_chunks", "ps4_gradients", "score_function_gradient", ("score_function_gradient",),
         "a loop over chunks of 50,000 samples", '''
def score_function_gradient(f, mu, sigma, n_samples):
    total = torch.zeros(2)
    done = 0
    while done < n_samples:
        size = min(50_000, n_samples - done)
        eps = torch.randn(size)
        fz = f(mu + sigma * eps)
        total += torch.stack([(fz * eps).sum() / sigma, (fz * (eps**2 - 1)).sum() / sigma])
        done += size
    return total / n_samples
'''),
    _alt("score_numpy", "ps4_gradients", "score_function_gradient", ("score_function_gradient",),
         "numpy random numbers, converted at the end", '''
def score_function_gradient(f, mu, sigma, n_samples):
    import numpy as np

    eps = np.random.default_rng().standard_normal(n_samples)
    fz = f(torch.from_numpy(mu + sigma * eps)).numpy()
    return torch.tensor([np.mean(fz * eps / sigma), np.mean(fz * (eps**2 - 1) / sigma)])
'''),
    # ------------------------------------------------------------------------ ps4: pathwise_gradient
    _alt("pathwise_rsample", "ps4_gradients", "pathwise_gradient", ("pathwise_gradient",),
         "Normal(mu, sigma).rsample", '''
def pathwise_gradient(f, mu, sigma, n_samples):
    mu_t = torch.tensor(float(mu), requires_grad=True)
    sigma_t = torch.tensor(float(sigma), requires_grad=True)
    z = torch.distributions.Normal(mu_t, sigma_t).rsample((n_samples,))
    return torch.stack(torch.autograd.grad(f(z).mean(), [mu_t, sigma_t]))
'''),
    _alt("pathwise_backward", "ps4_gradients", "pathwise_gradient", ("pathwise_gradient",),
         ".backward() and .grad, eps from randn_like", '''
def pathwise_gradient(f, mu, sigma, n_samples):
    params = torch.tensor([float(mu), float(sigma)], requires_grad=True)
    eps = torch.randn_like(torch.empty(n_samples))
    f(params[0] + params[1] * eps).mean().backward()
    return params.grad
'''),
    _alt("pathwise_float64", "ps4_gradients", "pathwise_gradient", ("pathwise_gradient",),
         "float64 parameters and noise", '''
def pathwise_gradient(f, mu, sigma, n_samples):
    mu_t = torch.tensor(mu, dtype=torch.float64, requires_grad=True)
    sigma_t = torch.tensor(sigma, dtype=torch.float64, requires_grad=True)
    objective = f(mu_t + sigma_t * torch.randn(n_samples, dtype=torch.float64)).mean()
    return torch.stack(torch.autograd.grad(objective, (mu_t, sigma_t)))
'''),
    _alt("pathwise_per_sample", "ps4_gradients", "pathwise_gradient", ("pathwise_gradient",),
         "per-sample gradients (one parameter copy per sample), averaged", '''
def pathwise_gradient(f, mu, sigma, n_samples):
    eps = torch.randn(n_samples)
    mu_t = torch.full((n_samples,), float(mu), requires_grad=True)
    sigma_t = torch.full((n_samples,), float(sigma), requires_grad=True)
    grad_mu, grad_sigma = torch.autograd.grad(f(mu_t + sigma_t * eps).sum(), (mu_t, sigma_t))
    return torch.stack([grad_mu.mean(), grad_sigma.mean()])
'''),
    _alt("pathwise_chunks", "ps4_gradients", "pathwise_gradient", ("pathwise_gradient",),
         "a loop over chunks, accumulating .grad", '''
def pathwise_gradient(f, mu, sigma, n_samples):
    mu_t = torch.tensor(float(mu), requires_grad=True)
    sigma_t = torch.tensor(float(sigma), requires_grad=True)
    for chunk in torch.randn(n_samples).split(7_000):
        (f(mu_t + sigma_t * chunk).sum() / n_samples).backward()
    return torch.stack([mu_t.grad, sigma_t.grad])
'''),
    # ------------------------------------------------------------------------ ps4: decoder_gradient
    _alt("decoder_backward", "ps4_gradients", "decoder_gradient", ("decoder_gradient",),
         ".backward() into zeroed .grad, then copies", '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    decoder.zero_grad()
    z = reparameterize(mu, log_var, torch.randn(n_samples, *mu.shape))
    bernoulli_log_likelihood(x, decoder(z)).mean(0).sum().backward()
    return [p.grad.clone() for p in decoder.parameters()]
'''),
    _alt("decoder_loop", "ps4_gradients", "decoder_gradient", ("decoder_gradient",),
         "a Python loop over data points, autograd.grad per point", '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    params = list(decoder.parameters())
    total = [torch.zeros_like(p) for p in params]
    for i in range(x.shape[0]):
        z = mu[i] + torch.exp(0.5 * log_var[i]) * torch.randn(n_samples, mu.shape[1])
        grads = torch.autograd.grad(bernoulli_log_likelihood(x[i:i + 1], decoder(z)[:, None, :]).mean(), params)
        total = [t + g for t, g in zip(total, grads)]
    return tuple(total)
'''),
    _alt("decoder_rsample_bce", "ps4_gradients", "decoder_gradient", ("decoder_gradient",),
         "Normal(...).sample and binary_cross_entropy_with_logits(reduction='sum') / n", '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    z = torch.distributions.Normal(mu, torch.exp(0.5 * log_var)).sample((n_samples,))
    logits = decoder(z)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="sum")
    return torch.autograd.grad(-loss / n_samples, list(decoder.parameters()))
'''),
    _alt("decoder_batch_first", "ps4_gradients", "decoder_gradient", ("decoder_gradient",),
         "samples laid out (batch, n_samples, z_dim)", '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    eps = torch.randn(x.shape[0], n_samples, mu.shape[1])
    z = mu[:, None] + torch.exp(0.5 * log_var)[:, None] * eps
    logits = decoder(z)
    objective = (x[:, None] * logits - torch.nn.functional.softplus(logits)).sum(-1).mean(1).sum()
    return torch.autograd.grad(objective, list(decoder.parameters()))
'''),
    _alt("decoder_shared_noise", "ps4_gradients", "decoder_gradient", ("decoder_gradient",),
         "one noise draw shared by the data points of the batch", '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    z = mu + torch.exp(0.5 * log_var) * torch.randn(n_samples, 1, mu.shape[1])
    objective = bernoulli_log_likelihood(x, decoder(z)).mean(0).sum()
    return torch.autograd.grad(objective, list(decoder.parameters()))
'''),
    # ------------------------------------------------------------------------ ps4: train_vae
    _alt("vae_sampled_kl", "ps4_gradients", "train_vae", ("vae_heldout_elbo",),
         "trains on the sampled-KL form log p(x|z) + log p(z) - log q(z|x)", '''
def train_vae(x_train, epochs=60, batch_size=128, lr=2e-3, seed=0):
    torch.manual_seed(seed)
    model = VAE(x_dim=64, hidden=128, z_dim=4)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        for batch in x_train[torch.randperm(len(x_train))].split(batch_size):
            mu, log_var = model.encode(batch)
            eps = torch.randn_like(mu)
            z = mu + torch.exp(0.5 * log_var) * eps
            log_w = (bernoulli_log_likelihood(batch, model.decode(z)) - 0.5 * (z**2).sum(-1)
                     + 0.5 * (eps**2 + log_var).sum(-1))
            optimiser.zero_grad()
            (-log_w.mean()).backward()
            optimiser.step()
    return model
'''),
    _alt("vae_two_samples", "ps4_gradients", "train_vae", ("vae_heldout_elbo",),
         "two samples per data point, batch 64, 40 epochs", '''
def train_vae(x_train, epochs=40, batch_size=64, lr=2e-3, seed=0):
    torch.manual_seed(seed)
    model = VAE(x_dim=64, hidden=128, z_dim=4)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(x_train))
        for start in range(0, len(x_train), batch_size):
            batch = x_train[order[start:start + batch_size]]
            mu, log_var = model.encode(batch)
            z = reparameterize(mu, log_var, torch.randn(2, *mu.shape))
            objective = bernoulli_log_likelihood(batch, model.decode(z)).mean(0) - gaussian_kl(mu, log_var)
            optimiser.zero_grad()
            (-objective.sum() / len(batch)).backward()
            optimiser.step()
    return model
'''),
    _alt("vae_distributions", "ps4_gradients", "train_vae", ("vae_heldout_elbo",),
         "torch.distributions rsample and kl_divergence, summed loss with a smaller learning rate", '''
def train_vae(x_train, epochs=60, batch_size=128, lr=2e-3, seed=0):
    from torch.distributions import Normal, kl_divergence
    torch.manual_seed(seed)
    model = VAE(x_dim=64, hidden=128, z_dim=4)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        for batch in x_train[torch.randperm(len(x_train))].split(batch_size):
            mu, log_var = model.encode(batch)
            q = Normal(mu, torch.exp(0.5 * log_var))
            logits = model.decode(q.rsample())
            kl = kl_divergence(q, Normal(0.0, 1.0)).sum()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, batch, reduction="sum") + kl
            optimiser.zero_grad()
            (loss / len(batch)).backward()
            optimiser.step()
    return model
'''),
    _alt("vae_float64", "ps4_gradients", "train_vae", ("vae_heldout_elbo",),
         "the model trained in float64", '''
def train_vae(x_train, epochs=60, batch_size=128, lr=2e-3, seed=0):
    torch.manual_seed(seed)
    model = VAE(x_dim=64, hidden=128, z_dim=4).double()
    data = x_train.double()
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(data))
        for start in range(0, len(data), batch_size):
            batch = data[order[start:start + batch_size]]
            mu, log_var = model.encode(batch)
            z = reparameterize(mu, log_var)
            objective = (bernoulli_log_likelihood(batch, model.decode(z)) - gaussian_kl(mu, log_var)).mean()
            optimiser.zero_grad()
            (-objective).backward()
            optimiser.step()
    return model
'''),
    _alt("vae_device_aware", "ps4_gradients", "train_vae", ("vae_heldout_elbo",),
         "uses vaelib.get_device() and moves the model back to the CPU, 80 epochs at lr 1e-3", '''
def train_vae(x_train, epochs=80, batch_size=128, lr=1e-3, seed=0):
    from vaelib import get_device
    device = get_device()
    torch.manual_seed(seed)
    model = VAE(x_dim=64, hidden=128, z_dim=4).to(device)
    data = x_train.to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        for batch in data[torch.randperm(len(data), device=device)].split(batch_size):
            mu, log_var = model.encode(batch)
            z = reparameterize(mu, log_var)
            objective = (bernoulli_log_likelihood(batch, model.decode(z)) - gaussian_kl(mu, log_var)).mean()
            optimiser.zero_grad()
            (-objective).backward()
            optimiser.step()
    return model.cpu()
'''),
]
