"""Realistic student bugs: each replaces one function of a solution notebook and must lose that cell's points.

``checks`` names the check(s) that must fail. Statistical ones (``statistical=True``) are also run under several
grading seeds and their power is measured (tests/test_grading_correctness_power.py).
"""

from __future__ import annotations

from variants import Variant

MUTANTS: list[Variant] = [
    # ------------------------------------------------------------------------------------------ ps1_likelihood
    Variant("loglik_sigma_as_variance", "ps1_likelihood", "gaussian_log_likelihood", ("gaussian_log_likelihood",),
            "sigma used where sigma^2 belongs (sigma read as a variance)", '''
def gaussian_log_likelihood(x, mu, sigma):
    return (-0.5 * torch.log(2 * math.pi * torch.as_tensor(sigma)) - (x - mu) ** 2 / (2 * sigma)).sum()
'''),
    Variant("loglik_mean_not_sum", "ps1_likelihood", "gaussian_log_likelihood", ("gaussian_log_likelihood",),
            "mean over data points instead of the sum", '''
def gaussian_log_likelihood(x, mu, sigma):
    sigma = torch.as_tensor(sigma)
    return (-0.5 * torch.log(2 * math.pi * sigma**2) - (x - mu) ** 2 / (2 * sigma**2)).mean()
'''),
    Variant("lse_naive", "ps1_likelihood", "log_sum_exp", ("log_sum_exp",),
            "naive log(sum(exp(a))): overflows to inf for a = 1000", '''
def log_sum_exp(a, dim):
    return torch.log(torch.exp(a).sum(dim=dim))
'''),
    Variant("lse_max_not_added_back", "ps1_likelihood", "log_sum_exp", ("log_sum_exp",),
            "subtracts the maximum but forgets to add it back", '''
def log_sum_exp(a, dim):
    m = a.max(dim=dim, keepdim=True).values
    return torch.log(torch.exp(a - m).sum(dim=dim))
'''),
    Variant("mle_unbiased_std", "ps1_likelihood", "gaussian_mle", ("gaussian_mle",),
            "torch.std (1/(n-1)) instead of the maximum-likelihood 1/n", '''
def gaussian_mle(x):
    return x.mean(), x.std()
'''),
    Variant("mle_variance", "ps1_likelihood", "gaussian_mle", ("gaussian_mle",),
            "returns the variance where the standard deviation is asked", '''
def gaussian_mle(x):
    mu_hat = x.mean()
    return mu_hat, ((x - mu_hat) ** 2).mean()
'''),
    Variant("mixture_no_weights", "ps1_likelihood", "mixture_log_marginal", ("mixture_log_marginal",),
            "forgets the mixture weights log pi_c", '''
def mixture_log_marginal(x, log_weights, means, sigmas):
    x = x[:, None]
    log_joint = -0.5 * torch.log(2 * math.pi * sigmas**2) - (x - means) ** 2 / (2 * sigmas**2)
    return log_sum_exp(log_joint, dim=1)
'''),
    Variant("mixture_naive_sum", "ps1_likelihood", "mixture_log_marginal", ("mixture_log_marginal",),
            "sums densities outside log space: -inf in the tails", '''
def mixture_log_marginal(x, log_weights, means, sigmas):
    x = x[:, None]
    densities = torch.exp(log_weights) * torch.exp(-(x - means) ** 2 / (2 * sigmas**2)) / torch.sqrt(
        2 * math.pi * sigmas**2)
    return torch.log(densities.sum(dim=1))
'''),
    Variant("mc_mean_of_logs", "ps1_likelihood", "mc_log_marginal", ("mc_log_marginal_given_z",),
            "mean of log p(x|z) instead of the log of the mean", '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    if z is None:
        z = torch.randn(n_samples)
    return log_likelihood(x[None, :], z[:, None]).mean(0)
'''),
    Variant("mc_no_log_s", "ps1_likelihood", "mc_log_marginal", ("mc_log_marginal_given_z",),
            "log-sum-exp without the -log S (a sum, not a mean)", '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    if z is None:
        z = torch.randn(n_samples)
    return log_sum_exp(log_likelihood(x[None, :], z[:, None]), dim=0)
'''),
    Variant("mc_uniform_prior", "ps1_likelihood", "mc_log_marginal", ("mc_log_marginal",),
            "draws z with torch.rand (uniform on [0, 1]) instead of the N(0, 1) prior", '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    if z is None:
        z = torch.rand(n_samples)
    return log_sum_exp(log_likelihood(x[None, :], z[:, None]), dim=0) - math.log(len(z))
''', statistical=True),
    # ------------------------------------------------------------------------------------------ ps2_autoencoders
    Variant("pca_not_centred", "ps2_autoencoders", "pca_basis", ("pca_basis",),
            "SVD of the raw data: forgets to centre it", '''
def pca_basis(x, k):
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    return vh[:k].T
'''),
    Variant("pca_smallest_eigh", "ps2_autoencoders", "pca_basis", ("pca_basis",),
            "eigh of the covariance returns ascending eigenvalues: takes the k smallest directions", '''
def pca_basis(x, k):
    centred = x - x.mean(0)
    _, vectors = torch.linalg.eigh(centred.T @ centred)
    return vectors[:, :k]
'''),
    Variant("angles_not_orthonormalised", "ps2_autoencoders", "principal_angles", ("principal_angles",),
            "singular values of a^T b without orthonormalising the columns first", '''
def principal_angles(a, b):
    cosines = torch.linalg.svdvals(a.T @ b)
    return torch.sort(torch.arccos(torch.clamp(cosines, -1.0, 1.0))).values
'''),
    Variant("angles_degrees", "ps2_autoencoders", "principal_angles", ("principal_angles",),
            "returns degrees instead of radians", '''
def principal_angles(a, b):
    qa, _ = torch.linalg.qr(a)
    qb, _ = torch.linalg.qr(b)
    cosines = torch.linalg.svdvals(qa.T @ qb)
    return torch.rad2deg(torch.sort(torch.arccos(torch.clamp(cosines, -1.0, 1.0))).values)
'''),
    Variant("recon_mean_over_features", "ps2_autoencoders", "reconstruction_error", ("reconstruction_error",),
            "mean over features as well as data points (torch.mean of everything)", '''
def reconstruction_error(x, U, V):
    return ((x - x @ U.T @ V.T) ** 2).mean()
'''),
    Variant("ae_decoder_only", "ps2_autoencoders", "train_linear_autoencoder", ("train_linear_autoencoder",),
            "only the decoder V is given to the optimiser: the encoder stays at its random initialisation", '''
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
    Variant("ae_too_few_steps", "ps2_autoencoders", "train_linear_autoencoder", ("train_linear_autoencoder",),
            "stops after 20 steps with a small learning rate: far from converged", '''
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
    # ------------------------------------------------------------------------------------------ ps3_elbo
    Variant("kl_wrong_sign", "ps3_elbo", "gaussian_kl", ("gaussian_kl",),
            "KL with the wrong sign (the -KL of Kingma & Welling's eq. 10)", '''
def gaussian_kl(mu, log_var):
    return 0.5 * (1.0 + log_var - mu**2 - log_var.exp()).sum(-1)
'''),
    Variant("kl_no_half", "ps3_elbo", "gaussian_kl", ("gaussian_kl",),
            "KL without the 1/2", '''
def gaussian_kl(mu, log_var):
    return (mu**2 + log_var.exp() - 1.0 - log_var).sum(-1)
'''),
    Variant("kl_log_sigma", "ps3_elbo", "gaussian_kl", ("gaussian_kl",),
            "log sigma vs log sigma^2 mixed: treats log_var as log sigma (exp(2 log_var), 2 log_var)", '''
def gaussian_kl(mu, log_var):
    return 0.5 * (mu**2 + torch.exp(2 * log_var) - 1.0 - 2 * log_var).sum(-1)
'''),
    Variant("kl_sigma_for_variance", "ps3_elbo", "gaussian_kl", ("gaussian_kl",),
            "sigma used where sigma^2 belongs: exp(log_var / 2) in place of exp(log_var)", '''
def gaussian_kl(mu, log_var):
    return 0.5 * (mu**2 + torch.exp(0.5 * log_var) - 1.0 - log_var).sum(-1)
'''),
    Variant("bernoulli_mean_pixels", "ps3_elbo", "bernoulli_log_likelihood", ("bernoulli_log_likelihood",),
            "mean over pixels instead of the sum", '''
def bernoulli_log_likelihood(x, logits):
    return (x * logits - torch.nn.functional.softplus(logits)).mean(-1)
'''),
    Variant("bernoulli_naive_sigmoid", "ps3_elbo", "bernoulli_log_likelihood", ("bernoulli_log_likelihood",),
            "log(sigmoid(l)) computed naively: -inf / nan for large logits", '''
def bernoulli_log_likelihood(x, logits):
    p = torch.sigmoid(logits)
    return (x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(-1)
'''),
    Variant("elbo_no_kl", "ps3_elbo", "elbo", ("elbo",),
            "missing KL term: returns only the reconstruction term", '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn((n_samples, *mu.shape))
    return bernoulli_log_likelihood(x, decoder(z)).mean(0)
''', statistical=True),
    Variant("elbo_kl_plus", "ps3_elbo", "elbo", ("elbo",),
            "KL added instead of subtracted", '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn((n_samples, *mu.shape))
    return bernoulli_log_likelihood(x, decoder(z)).mean(0) + gaussian_kl(mu, log_var)
''', statistical=True),
    Variant("elbo_variance_as_scale", "ps3_elbo", "elbo", ("elbo",),
            "sigma^2 used where sigma belongs: z = mu + exp(log_var) * eps (log_var read as log sigma)", '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = mu + torch.exp(log_var) * torch.randn((n_samples, *mu.shape))
    return bernoulli_log_likelihood(x, decoder(z)).mean(0) - gaussian_kl(mu, log_var)
''', statistical=True),
    Variant("elbo_log_var_as_scale", "ps3_elbo", "elbo", ("elbo",),
            "the log-variance itself used as the standard deviation: z = mu + log_var * eps", '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = mu + log_var * torch.randn((n_samples, *mu.shape))
    return bernoulli_log_likelihood(x, decoder(z)).mean(0) - gaussian_kl(mu, log_var)
''', statistical=True),
    Variant("elbo_prior_samples", "ps3_elbo", "elbo", ("elbo",),
            "samples z from the prior N(0, I) instead of q(z|x)", '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = torch.randn((n_samples, *mu.shape))
    return bernoulli_log_likelihood(x, decoder(z)).mean(0) - gaussian_kl(mu, log_var)
''', statistical=True),
    Variant("elbo_sum_samples", "ps3_elbo", "elbo", ("elbo",),
            "sums the reconstruction term over the samples instead of averaging", '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn((n_samples, *mu.shape))
    return bernoulli_log_likelihood(x, decoder(z)).sum(0) - gaussian_kl(mu, log_var)
''', statistical=True),
    Variant("elbo_mean_pixels", "ps3_elbo", "elbo", ("elbo",),
            "binary cross-entropy with reduction='mean' over pixels instead of the sum", '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn((n_samples, *mu.shape))
    logits = decoder(z)
    reconstruction = -torch.nn.functional.binary_cross_entropy_with_logits(
        logits, x.expand_as(logits), reduction="none").mean(-1)
    return reconstruction.mean(0) - gaussian_kl(mu, log_var)
''', statistical=True),
    Variant("lg_marginal_std_as_variance", "ps3_elbo", "lg_log_marginal", ("lg_log_marginal",),
            "noise_std used as the variance: W W^T + s I", '''
def lg_log_marginal(x, W, b, noise_std):
    d = x.shape[0]
    cov = W @ W.T + noise_std * torch.eye(d, dtype=W.dtype)
    diff = x - b
    return -0.5 * (d * math.log(2 * math.pi) + torch.logdet(cov) + diff @ torch.linalg.solve(cov, diff))
'''),
    Variant("lg_posterior_no_noise_scaling", "ps3_elbo", "lg_posterior", ("lg_posterior",),
            "forgets the 1/s^2 in the posterior covariance", '''
def lg_posterior(x, W, b, noise_std):
    k = W.shape[1]
    S = torch.linalg.inv(torch.eye(k, dtype=W.dtype) + W.T @ W)
    return S @ W.T @ (x - b) / noise_std**2, S
'''),
    Variant("kl_full_logdet_swapped", "ps3_elbo", "gaussian_kl_full", ("gaussian_kl_full",),
            "log-determinant ratio the wrong way round", '''
def gaussian_kl_full(mu0, cov0, mu1, cov1):
    k = mu0.shape[0]
    diff = mu1 - mu0
    return 0.5 * (torch.trace(torch.linalg.solve(cov1, cov0)) + diff @ torch.linalg.solve(cov1, diff) - k
                  + torch.logdet(cov0) - torch.logdet(cov1))
'''),
    Variant("lg_elbo_no_trace", "ps3_elbo", "lg_elbo", ("lg_elbo",),
            "E_q[log p(x|z)] evaluated at the mean of q: the trace term tr(W^T W q_cov) is missing", '''
def lg_elbo(x, W, b, noise_std, q_mean, q_cov):
    d, k = W.shape
    s2 = noise_std**2
    residual = x - W @ q_mean - b
    expected_log_lik = -0.5 * (d * math.log(2 * math.pi * s2) + residual @ residual / s2)
    expected_log_prior = -0.5 * (k * math.log(2 * math.pi) + q_mean @ q_mean + torch.trace(q_cov))
    entropy = 0.5 * (k * (1.0 + math.log(2 * math.pi)) + torch.logdet(q_cov))
    return expected_log_lik + expected_log_prior + entropy
'''),
    Variant("iwae_mean_log_weights", "ps3_elbo", "iwae_bound", ("iwae_bound",),
            "averages the log-weights (that is the ELBO, not the importance-weighted bound)", '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    eps = torch.randn((n_samples, *mu.shape))
    z = mu + torch.exp(0.5 * log_var) * eps
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_q = -0.5 * (eps**2 + log_var + math.log(2 * math.pi)).sum(-1)
    return (bernoulli_log_likelihood(x, decoder(z)) + log_prior - log_q).mean(0)
''', statistical=True),
    Variant("iwae_no_log_k", "ps3_elbo", "iwae_bound", ("iwae_bound",),
            "log-sum-exp of the weights without the -log K", '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    eps = torch.randn((n_samples, *mu.shape))
    z = mu + torch.exp(0.5 * log_var) * eps
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_q = -0.5 * (eps**2 + log_var + math.log(2 * math.pi)).sum(-1)
    return torch.logsumexp(bernoulli_log_likelihood(x, decoder(z)) + log_prior - log_q, dim=0)
''', statistical=True),
    Variant("iwae_no_log_q", "ps3_elbo", "iwae_bound", ("iwae_bound",),
            "weights p(x, z) without dividing by q(z|x)", '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn((n_samples, *mu.shape))
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    return torch.logsumexp(bernoulli_log_likelihood(x, decoder(z)) + log_prior, dim=0) - math.log(n_samples)
''', statistical=True),
    # ------------------------------------------------------------------------------------------ ps4_gradients
    Variant("reparam_variance_as_scale", "ps4_gradients", "reparameterize", ("reparameterize",),
            "sigma^2 used where sigma belongs: mu + exp(log_var) * eps", '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.randn_like(mu)
    return mu + torch.exp(log_var) * eps
'''),
    Variant("reparam_detach", "ps4_gradients", "reparameterize", ("reparameterize",),
            ".detach() cuts the pathwise gradient", '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.randn_like(mu)
    return (mu + torch.exp(0.5 * log_var) * eps).detach()
'''),
    Variant("reparam_no_grad", "ps4_gradients", "reparameterize", ("reparameterize",),
            "computed under torch.no_grad(): no gradient reaches mu and log_var", '''
def reparameterize(mu, log_var, eps=None):
    with torch.no_grad():
        if eps is None:
            eps = torch.randn_like(mu)
        return mu + torch.exp(0.5 * log_var) * eps
'''),
    Variant("reparam_uniform_noise", "ps4_gradients", "reparameterize", ("reparameterize",),
            "torch.rand_like (uniform) instead of torch.randn_like when eps is None", '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.rand_like(mu)
    return mu + torch.exp(0.5 * log_var) * eps
''', statistical=True),
    Variant("reparam_sampling_variance_scale", "ps4_gradients", "reparameterize", ("reparameterize",),
            "correct for a given eps, but the sampling branch scales by exp(log_var) (sigma^2)", '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        return mu + torch.exp(log_var) * torch.randn_like(mu)
    return mu + torch.exp(0.5 * log_var) * eps
''', statistical=True),
    Variant("score_missing_f", "ps4_gradients", "score_function_gradient", ("score_function_gradient",),
            "score-function estimator missing f(z): averages the score alone", '''
def score_function_gradient(f, mu, sigma, n_samples):
    eps = torch.randn(n_samples)
    return torch.stack([(eps / sigma).mean(), ((eps**2 - 1.0) / sigma).mean()])
''', statistical=True),
    Variant("score_missing_score", "ps4_gradients", "score_function_gradient", ("score_function_gradient",),
            "score-function estimator missing the score: averages f(z)", '''
def score_function_gradient(f, mu, sigma, n_samples):
    fz = f(mu + sigma * torch.randn(n_samples))
    return torch.stack([fz.mean(), fz.mean()])
''', statistical=True),
    Variant("score_d_variance", "ps4_gradients", "score_function_gradient", ("score_function_gradient",),
            "d/dsigma^2 log q (the variance's score) used for d/dsigma", '''
def score_function_gradient(f, mu, sigma, n_samples):
    eps = torch.randn(n_samples)
    fz = f(mu + sigma * eps)
    return torch.stack([(fz * eps / sigma).mean(), (fz * (eps**2 - 1.0) / (2 * sigma**2)).mean()])
''', statistical=True),
    Variant("score_z_for_eps", "ps4_gradients", "score_function_gradient", ("score_function_gradient",),
            "z where eps belongs in the score ((z / sigma) instead of (z - mu) / sigma^2)", '''
def score_function_gradient(f, mu, sigma, n_samples):
    z = mu + sigma * torch.randn(n_samples)
    fz = f(z)
    return torch.stack([(fz * z / sigma).mean(), (fz * (z**2 - 1.0) / sigma).mean()])
''', statistical=True),
    Variant("pathwise_detach", "ps4_gradients", "pathwise_gradient", ("pathwise_gradient",),
            ".detach() on z cuts the pathwise gradient", '''
def pathwise_gradient(f, mu, sigma, n_samples):
    mu_t = torch.tensor(float(mu), requires_grad=True)
    sigma_t = torch.tensor(float(sigma), requires_grad=True)
    z = (mu_t + sigma_t * torch.randn(n_samples)).detach()
    grad_mu, grad_sigma = torch.autograd.grad(f(z).mean(), (mu_t, sigma_t))
    return torch.stack([grad_mu, grad_sigma])
'''),
    Variant("pathwise_no_grad", "ps4_gradients", "pathwise_gradient", ("pathwise_gradient",),
            "samples drawn under torch.no_grad(), then .backward() fails / no gradient", '''
def pathwise_gradient(f, mu, sigma, n_samples):
    mu_t = torch.tensor(float(mu), requires_grad=True)
    sigma_t = torch.tensor(float(sigma), requires_grad=True)
    with torch.no_grad():
        z = mu_t + sigma_t * torch.randn(n_samples)
    f(z).mean().backward()
    return torch.stack([mu_t.grad, sigma_t.grad])
'''),
    Variant("pathwise_sigma_squared", "ps4_gradients", "pathwise_gradient", ("pathwise_gradient",),
            "sigma^2 where sigma belongs: z = mu + sigma**2 * eps", '''
def pathwise_gradient(f, mu, sigma, n_samples):
    mu_t = torch.tensor(float(mu), requires_grad=True)
    sigma_t = torch.tensor(float(sigma), requires_grad=True)
    objective = f(mu_t + sigma_t**2 * torch.randn(n_samples)).mean()
    return torch.stack(torch.autograd.grad(objective, (mu_t, sigma_t)))
''', statistical=True),
    Variant("pathwise_sum_samples", "ps4_gradients", "pathwise_gradient", ("pathwise_gradient",),
            "sums over the samples instead of averaging", '''
def pathwise_gradient(f, mu, sigma, n_samples):
    mu_t = torch.tensor(float(mu), requires_grad=True)
    sigma_t = torch.tensor(float(sigma), requires_grad=True)
    objective = f(mu_t + sigma_t * torch.randn(n_samples)).sum()
    return torch.stack(torch.autograd.grad(objective, (mu_t, sigma_t)))
''', statistical=True),
    Variant("variances_std", "ps4_gradients", "gradient_variances", ("gradient_variances",),
            "returns standard deviations instead of variances", '''
def gradient_variances(f, mu, sigma, eps):
    fz = f(mu + sigma * eps)
    score = torch.stack([fz * eps / sigma, fz * (eps**2 - 1.0) / sigma])
    mu_t = torch.full_like(eps, float(mu), requires_grad=True)
    sigma_t = torch.full_like(eps, float(sigma), requires_grad=True)
    pathwise = torch.stack(torch.autograd.grad(f(mu_t + sigma_t * eps).sum(), (mu_t, sigma_t)))
    return torch.stack([score.std(dim=1), pathwise.std(dim=1)])
'''),
    Variant("variances_of_mean", "ps4_gradients", "gradient_variances", ("gradient_variances",),
            "variance of the average of n samples (divided by n) instead of one sample's variance", '''
def gradient_variances(f, mu, sigma, eps):
    fz = f(mu + sigma * eps)
    score = torch.stack([fz * eps / sigma, fz * (eps**2 - 1.0) / sigma])
    mu_t = torch.full_like(eps, float(mu), requires_grad=True)
    sigma_t = torch.full_like(eps, float(sigma), requires_grad=True)
    pathwise = torch.stack(torch.autograd.grad(f(mu_t + sigma_t * eps).sum(), (mu_t, sigma_t)))
    return torch.stack([score.var(dim=1), pathwise.var(dim=1)]) / len(eps)
'''),
    Variant("decoder_grad_prior_samples", "ps4_gradients", "decoder_gradient", ("decoder_gradient",),
            "samples z from the prior instead of q(z|x)", '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    z = torch.randn((n_samples, *mu.shape))
    objective = bernoulli_log_likelihood(x, decoder(z)).mean(0).sum()
    return torch.autograd.grad(objective, list(decoder.parameters()))
''', statistical=True),
    Variant("decoder_grad_of_loss", "ps4_gradients", "decoder_gradient", ("decoder_gradient",),
            "returns the gradient of the loss (-ELBO), the wrong sign", '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    z = reparameterize(mu, log_var, torch.randn((n_samples, *mu.shape)))
    loss = -bernoulli_log_likelihood(x, decoder(z)).mean(0).sum()
    return torch.autograd.grad(loss, list(decoder.parameters()))
''', statistical=True),
    Variant("decoder_grad_mean_pixels", "ps4_gradients", "decoder_gradient", ("decoder_gradient",),
            "mean over pixels instead of the sum in log p(x|z)", '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    z = reparameterize(mu, log_var, torch.randn((n_samples, *mu.shape)))
    logits = decoder(z)
    objective = (x * logits - torch.nn.functional.softplus(logits)).mean(-1).mean(0).sum()
    return torch.autograd.grad(objective, list(decoder.parameters()))
''', statistical=True),
    Variant("vae_no_kl", "ps4_gradients", "train_vae", ("vae_heldout_elbo",),
            "trains on the reconstruction term only (missing KL term)", '''
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
    Variant("vae_prior_samples", "ps4_gradients", "train_vae", ("vae_heldout_elbo",),
            "decodes samples of the prior instead of q(z|x) during training", '''
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
]
