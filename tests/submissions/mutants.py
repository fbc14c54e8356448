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
    Variant("mc_divides_by_n_samples", "ps1_likelihood", "mc_log_marginal", ("mc_log_marginal_given_z",),
            "with z given, divides by n_samples instead of the number of given samples (red team, 2026-12-05)", '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    if z is None:
        z = torch.randn(n_samples)
    return log_sum_exp(log_likelihood(x[None, :], z[:, None]), dim=0) - math.log(n_samples)
'''),
    Variant("mc_uniform_prior", "ps1_likelihood", "mc_log_marginal", ("mc_log_marginal",),
            "draws z with torch.rand (uniform on [0, 1]) instead of the N(0, 1) prior", '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    if z is None:
        z = torch.rand(n_samples)
    return log_sum_exp(log_likelihood(x[None, :], z[:, None]), dim=0) - math.log(len(z))
''', statistical=True),
    # ---- ps1: contracts, structural cases, distribution (issue 8)
    Variant("loglik_item_float", "ps1_likelihood", "gaussian_log_likelihood", ("gaussian_log_likelihood",),
            "returns a Python float (.item()) where a 0-dim tensor is promised", '''
def gaussian_log_likelihood(x, mu, sigma):
    sigma = torch.as_tensor(sigma, dtype=x.dtype)
    return (-0.5 * torch.log(2 * math.pi * sigma**2) - (x - mu) ** 2 / (2 * sigma**2)).sum().item()
'''),
    Variant("loglik_per_point", "ps1_likelihood", "gaussian_log_likelihood", ("gaussian_log_likelihood",),
            "returns the per-point log-densities (n,) instead of their sum (right only in shape (1,) for n = 1)", '''
def gaussian_log_likelihood(x, mu, sigma):
    sigma = torch.as_tensor(sigma, dtype=x.dtype)
    return -0.5 * torch.log(2 * math.pi * sigma**2) - (x - mu) ** 2 / (2 * sigma**2)
'''),
    Variant("loglik_tensor_methods", "ps1_likelihood", "gaussian_log_likelihood", ("gaussian_log_likelihood",),
            "calls sigma.log(): fails for a Python float sigma, which the docstring allows", '''
def gaussian_log_likelihood(x, mu, sigma):
    return (-0.5 * math.log(2 * math.pi) - sigma.log() - (x - mu) ** 2 / (2 * sigma**2)).sum()
'''),
    Variant("lse_ignores_dim_last", "ps1_likelihood", "log_sum_exp", ("log_sum_exp",),
            "ignores dim and always reduces the last dimension", '''
def log_sum_exp(a, dim):
    m = a.max(dim=-1, keepdim=True).values
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return (m + torch.log(torch.exp(a - m).sum(dim=-1, keepdim=True))).squeeze(-1)
'''),
    Variant("lse_ignores_dim_first", "ps1_likelihood", "log_sum_exp", ("log_sum_exp",),
            "ignores dim and always reduces dimension 0", '''
def log_sum_exp(a, dim):
    m = a.max(dim=0, keepdim=True).values
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return (m + torch.log(torch.exp(a - m).sum(dim=0, keepdim=True))).squeeze(0)
'''),
    Variant("lse_nan_for_all_minus_inf", "ps1_likelihood", "log_sum_exp", ("log_sum_exp",),
            "subtracts the maximum without guarding a row that is entirely -inf: -inf - (-inf) gives nan", '''
def log_sum_exp(a, dim):
    m = a.max(dim=dim, keepdim=True).values
    return (m + torch.log(torch.exp(a - m).sum(dim=dim, keepdim=True))).squeeze(dim)
'''),
    Variant("lse_keepdim", "ps1_likelihood", "log_sum_exp", ("log_sum_exp",),
            "keeps the reduced dimension (keepdim=True): the wrong shape", '''
def log_sum_exp(a, dim):
    m = a.max(dim=dim, keepdim=True).values
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return m + torch.log(torch.exp(a - m).sum(dim=dim, keepdim=True))
'''),
    Variant("lse_global_max", "ps1_likelihood", "log_sum_exp", ("log_sum_exp",),
            "subtracts one maximum of the whole array: a slice far below it underflows to -inf", '''
def log_sum_exp(a, dim):
    m = a.max()
    m = m if torch.isfinite(m) else torch.zeros_like(m)
    return m + torch.log(torch.exp(a - m).sum(dim=dim))
'''),
    Variant("mle_floats", "ps1_likelihood", "gaussian_mle", ("gaussian_mle",),
            "returns Python floats (.item()) where 0-dim tensors are promised", '''
def gaussian_mle(x):
    mu_hat = x.mean()
    return mu_hat.item(), torch.sqrt(((x - mu_hat) ** 2).mean()).item()
'''),
    Variant("mle_stacked", "ps1_likelihood", "gaussian_mle", ("gaussian_mle",),
            "returns one tensor of shape (2,) instead of the tuple (mu_hat, sigma_hat)", '''
def gaussian_mle(x):
    mu_hat = x.mean()
    return torch.stack([mu_hat, torch.sqrt(((x - mu_hat) ** 2).mean())])
'''),
    Variant("mixture_weights_as_logs", "ps1_likelihood", "mixture_log_marginal", ("mixture_log_marginal",),
            "adds the weights pi_c instead of their logs in log space", '''
def mixture_log_marginal(x, log_weights, means, sigmas):
    x = x[:, None]
    log_joint = log_weights.exp() - 0.5 * torch.log(2 * math.pi * sigmas**2) - (x - means) ** 2 / (2 * sigmas**2)
    return log_sum_exp(log_joint, dim=1)
'''),
    Variant("mc_ignores_given_z", "ps1_likelihood", "mc_log_marginal", ("mc_log_marginal_given_z",),
            "draws fresh samples even when z is given", '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    z = torch.randn(n_samples, dtype=x.dtype)
    return log_sum_exp(log_likelihood(x[None, :], z[:, None]), dim=0) - math.log(n_samples)
'''),
    Variant("mc_fixed_seed", "ps1_likelihood", "mc_log_marginal", ("mc_log_marginal",),
            "a fixed seed inside the function: every call returns the same 'random' estimate", '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    if z is None:
        torch.manual_seed(0)
        z = torch.randn(n_samples, dtype=x.dtype)
    return log_sum_exp(log_likelihood(x[None, :], z[:, None]), dim=0) - math.log(len(z))
''', statistical=True),
    Variant("mc_n_minus_one", "ps1_likelihood", "mc_log_marginal", ("mc_log_marginal",),
            "divides the sum by S - 1 (log(S - 1)): infinite for one sample, twice too large for two", '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    if z is None:
        z = torch.randn(n_samples, dtype=x.dtype)
    return log_sum_exp(log_likelihood(x[None, :], z[:, None]), dim=0) - math.log(len(z) - 1)
''', statistical=True),
    Variant("mc_samples_like_x", "ps1_likelihood", "mc_log_marginal", ("mc_log_marginal",),
            "draws randn_like(x): one sample per data point instead of n_samples", '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    if z is None:
        z = torch.randn_like(x)
    return log_sum_exp(log_likelihood(x[None, :], z[:, None]), dim=0) - math.log(len(z))
''', statistical=True),
    # ------------------------------------------------------------------------------------------ ps2_autoencoders
    Variant("pca_not_centred", "ps2_autoencoders", "pca_basis", ("pca_basis",),
            "SVD of the raw data: forgets to centre it", '''
def pca_basis(x, k):
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    return vh[:k].T
'''),
    Variant("pca_eigh_ascending", "ps2_autoencoders", "pca_basis", ("pca_basis",),
            "the top-k eigenvectors of eigh, left in eigh's ascending order (red team, round 2)", '''
def pca_basis(x, k):
    centred = x - x.mean(0)
    _, vectors = torch.linalg.eigh(centred.T @ centred)
    return vectors[:, -k:]
'''),
    Variant("pca_rotated_basis", "ps2_autoencoders", "pca_basis", ("pca_basis",),
            "an orthonormal basis of the right subspace, but not the principal directions (QR of a mix)", '''
def pca_basis(x, k):
    centred = x - x.mean(0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    mixed = vh[:k].T @ (torch.eye(k, dtype=x.dtype) + torch.ones(k, k, dtype=x.dtype))
    return torch.linalg.qr(mixed)[0]
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
    Variant("ae_arguments_ignored", "ps2_autoencoders", "train_linear_autoencoder", ("train_linear_autoencoder",),
            "hard-codes 500 steps, lr 0.03 and seed 0 whatever the arguments say (red team, 2026-12-05)", '''
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
    Variant("ae_seed_ignored", "ps2_autoencoders", "train_linear_autoencoder", ("train_linear_autoencoder",),
            "initialises from the global generator without seeding it: the seed argument does nothing", '''
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
    # ---- ps2: contracts and every code size (issue 8)
    Variant("pca_returns_numpy", "ps2_autoencoders", "pca_basis", ("pca_basis",),
            "returns a numpy array where a tensor is promised", '''
def pca_basis(x, k):
    centred = x - x.mean(dim=0, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return vh[:k].T.numpy()
'''),
    Variant("pca_rows", "ps2_autoencoders", "pca_basis", ("pca_basis",),
            "returns the directions as rows (k, d), the rows of Vh, instead of columns", '''
def pca_basis(x, k):
    centred = x - x.mean(dim=0, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return vh[:k]
'''),
    Variant("pca_two_directions", "ps2_autoencoders", "pca_basis", ("pca_basis",),
            "the code size hard-coded to 2 (the digits example)", '''
def pca_basis(x, k):
    centred = x - x.mean(dim=0, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return vh[:2].T
'''),
    Variant("angles_descending", "ps2_autoencoders", "principal_angles", ("principal_angles",),
            "returns the angles in descending order", '''
def principal_angles(a, b):
    qa, _ = torch.linalg.qr(a)
    qb, _ = torch.linalg.qr(b)
    cosines = torch.linalg.svdvals(qa.T @ qb)
    return torch.sort(torch.arccos(torch.clamp(cosines, -1.0, 1.0)), descending=True).values
'''),
    Variant("angles_no_clip", "ps2_autoencoders", "principal_angles", ("principal_angles",),
            "no clip before arccos: a cosine rounded above 1 gives NaN (red team, 2026-12-05)", '''
def principal_angles(a, b):
    qa, _ = torch.linalg.qr(a)
    qb, _ = torch.linalg.qr(b)
    return torch.sort(torch.arccos(torch.linalg.svdvals(qa.T @ qb))).values
'''),
    Variant("angles_cosines", "ps2_autoencoders", "principal_angles", ("principal_angles",),
            "returns the cosines (the singular values) instead of the angles", '''
def principal_angles(a, b):
    qa, _ = torch.linalg.qr(a)
    qb, _ = torch.linalg.qr(b)
    return torch.sort(torch.linalg.svdvals(qa.T @ qb)).values
'''),
    Variant("recon_item_float", "ps2_autoencoders", "reconstruction_error", ("reconstruction_error",),
            "returns a Python float (.item()) where a 0-dim tensor is promised (training cannot backpropagate)", '''
def reconstruction_error(x, U, V):
    return ((x - x @ U.T @ V.T) ** 2).sum(dim=1).mean().item()
'''),
    Variant("recon_sum_over_points", "ps2_autoencoders", "reconstruction_error", ("reconstruction_error",),
            "sums over the data points instead of averaging", '''
def reconstruction_error(x, U, V):
    return ((x - x @ U.T @ V.T) ** 2).sum()
'''),
    Variant("ae_grad_attached", "ps2_autoencoders", "train_linear_autoencoder", ("train_linear_autoencoder",),
            "returns U and V with their gradient attached (no .detach()), which the docstring rules out", '''
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
    Variant("ae_code_size_two", "ps2_autoencoders", "train_linear_autoencoder", ("train_linear_autoencoder",),
            "ignores code_dim: a code of size 2 always (the digits example)", '''
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
    Variant("ae_decoder_transposed", "ps2_autoencoders", "train_linear_autoencoder", ("train_linear_autoencoder",),
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
    Variant("bernoulli_log1p_exp", "ps3_elbo", "bernoulli_log_likelihood", ("bernoulli_log_likelihood",),
            "x l - log1p(exp(l)): right up to l = 88, exp overflows float32 above (red team, 2026-12-05)", '''
def bernoulli_log_likelihood(x, logits):
    return (x * logits - torch.log1p(torch.exp(logits))).sum(-1)
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
    Variant("iwae_antithetic", "ps3_elbo", "iwae_bound", ("iwae_bound",),
            "antithetic pairs eps, -eps among the K samples (the notebook does not accept them; red team)", '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    half = torch.randn(((n_samples + 1) // 2, *mu.shape))
    eps = torch.cat([half, -half])[:n_samples]
    z = mu + torch.exp(0.5 * log_var) * eps
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_q = -0.5 * (eps**2 + log_var + math.log(2 * math.pi)).sum(-1)
    log_w = bernoulli_log_likelihood(x, decoder(z)) + log_prior - log_q
    return torch.logsumexp(log_w, dim=0) - math.log(n_samples)
'''),
    Variant("iwae_k_plus_one_samples", "ps3_elbo", "iwae_bound", ("iwae_bound",),
            "draws K + 1 samples and divides by K + 1: L_(K+1), not L_K (red team, round 2)", '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    eps = torch.randn((n_samples + 1, *mu.shape))
    z = mu + torch.exp(0.5 * log_var) * eps
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_q = -0.5 * (eps**2 + log_var + math.log(2 * math.pi)).sum(-1)
    log_w = bernoulli_log_likelihood(x, decoder(z)) + log_prior - log_q
    return torch.logsumexp(log_w, dim=0) - math.log(n_samples + 1)
'''),
    Variant("iwae_log_k_plus_one", "ps3_elbo", "iwae_bound", ("iwae_bound",),
            "K samples but log (K + 1) subtracted (an off-by-one in the mean; red team, round 2)", '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    eps = torch.randn((n_samples, *mu.shape))
    z = mu + torch.exp(0.5 * log_var) * eps
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_q = -0.5 * (eps**2 + log_var + math.log(2 * math.pi)).sum(-1)
    log_w = bernoulli_log_likelihood(x, decoder(z)) + log_prior - log_q
    return torch.logsumexp(log_w, dim=0) - math.log(n_samples + 1)
'''),
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
    # ---- ps3: contracts, structural cases, distribution, small-n bias, extreme log-weights (issue 8)
    Variant("kl_mean_over_latents", "ps3_elbo", "gaussian_kl", ("gaussian_kl",),
            "mean over the latent dimensions instead of the sum", '''
def gaussian_kl(mu, log_var):
    return 0.5 * (mu**2 + log_var.exp() - 1.0 - log_var).mean(-1)
'''),
    Variant("kl_summed_over_batch", "ps3_elbo", "gaussian_kl", ("gaussian_kl",),
            "sums over the batch too: one number instead of one per row", '''
def gaussian_kl(mu, log_var):
    return 0.5 * (mu**2 + log_var.exp() - 1.0 - log_var).sum()
'''),
    Variant("bernoulli_clamped_log", "ps3_elbo", "bernoulli_log_likelihood", ("bernoulli_log_likelihood",),
            "log of a clamped sigmoid (clamp at 1e-7): finite but wrong for saturated logits", '''
def bernoulli_log_likelihood(x, logits):
    p = torch.sigmoid(logits)
    return (x * torch.log(p.clamp(min=1e-7)) + (1 - x) * torch.log((1 - p).clamp(min=1e-7))).sum(-1)
'''),
    Variant("bernoulli_sum_everything", "ps3_elbo", "bernoulli_log_likelihood", ("bernoulli_log_likelihood",),
            "sums over every dimension: one number instead of one per data point and sample", '''
def bernoulli_log_likelihood(x, logits):
    return (x * logits - torch.nn.functional.softplus(logits)).sum()
'''),
    Variant("elbo_n_minus_one", "ps3_elbo", "elbo", ("elbo",),
            "averages the samples with 1/(n_samples - 1): infinite for one sample, biased for few", '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn((n_samples, *mu.shape))
    return bernoulli_log_likelihood(x, decoder(z)).sum(0) / (n_samples - 1) - gaussian_kl(mu, log_var)
''', statistical=True),
    Variant("elbo_fixed_seed", "ps3_elbo", "elbo", ("elbo",),
            "a fixed seed inside the function: every call returns the same estimate", '''
def elbo(x, encoder, decoder, n_samples=1):
    torch.manual_seed(0)
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn((n_samples, *mu.shape))
    return bernoulli_log_likelihood(x, decoder(z)).mean(0) - gaussian_kl(mu, log_var)
''', statistical=True),
    Variant("elbo_one_noise_for_all_samples", "ps3_elbo", "elbo", ("elbo",),
            "one noise draw broadcast over the samples: n_samples copies of one sample, no averaging at all", '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    eps = torch.randn(1, *mu.shape).expand(n_samples, *mu.shape)
    z = mu + torch.exp(0.5 * log_var) * eps
    return bernoulli_log_likelihood(x, decoder(z)).mean(0) - gaussian_kl(mu, log_var)
''', statistical=True),
    Variant("elbo_ignores_n_samples", "ps3_elbo", "elbo", ("elbo",),
            "one sample whatever n_samples says (z of the shape of mu)", '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
    return bernoulli_log_likelihood(x, decoder(z)) - gaussian_kl(mu, log_var)
''', statistical=True),
    Variant("iwae_naive_log_mean_exp", "ps3_elbo", "iwae_bound", ("iwae_bound",),
            "log(mean(exp(log w))) without the maximum: exp underflows to 0 for log-weights near -1,000", '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    eps = torch.randn((n_samples, *mu.shape))
    z = mu + torch.exp(0.5 * log_var) * eps
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_q = -0.5 * (eps**2 + log_var + math.log(2 * math.pi)).sum(-1)
    log_w = bernoulli_log_likelihood(x, decoder(z)) + log_prior - log_q
    return torch.log(torch.exp(log_w).mean(0))
''', statistical=True),
    Variant("iwae_fixed_seed", "ps3_elbo", "iwae_bound", ("iwae_bound",),
            "a fixed seed inside the function: every call returns the same estimate", '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    torch.manual_seed(0)
    mu, log_var = encoder(x)
    eps = torch.randn((n_samples, *mu.shape))
    z = mu + torch.exp(0.5 * log_var) * eps
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_q = -0.5 * (eps**2 + log_var + math.log(2 * math.pi)).sum(-1)
    return torch.logsumexp(bernoulli_log_likelihood(x, decoder(z)) + log_prior - log_q, dim=0) - math.log(n_samples)
''', statistical=True),
    Variant("iwae_log_q_variance_as_scale", "ps3_elbo", "iwae_bound", ("iwae_bound",),
            "log q with exp(log_var) as the standard deviation (log sigma vs log sigma^2 mixed)", '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    eps = torch.randn((n_samples, *mu.shape))
    z = mu + torch.exp(0.5 * log_var) * eps
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_q = -0.5 * (eps**2 + 2 * log_var + math.log(2 * math.pi)).sum(-1)
    return torch.logsumexp(bernoulli_log_likelihood(x, decoder(z)) + log_prior - log_q, dim=0) - math.log(n_samples)
''', statistical=True),
    Variant("lg_marginal_float", "ps3_elbo", "lg_log_marginal", ("lg_log_marginal",),
            "returns a Python float (.item()) where a 0-dim tensor is promised", '''
def lg_log_marginal(x, W, b, noise_std):
    d = x.shape[0]
    cov = W @ W.T + noise_std**2 * torch.eye(d, dtype=W.dtype)
    diff = x - b
    return (-0.5 * (d * math.log(2 * math.pi) + torch.logdet(cov) + diff @ torch.linalg.solve(cov, diff))).item()
'''),
    Variant("lg_posterior_precision", "ps3_elbo", "lg_posterior", ("lg_posterior",),
            "returns the posterior precision (the inverse covariance) where the covariance is asked", '''
def lg_posterior(x, W, b, noise_std):
    k = W.shape[1]
    precision = torch.eye(k, dtype=W.dtype) + W.T @ W / noise_std**2
    m = torch.linalg.solve(precision, W.T @ (x - b)) / noise_std**2
    return m, precision
'''),
    Variant("kl_full_missing_k", "ps3_elbo", "gaussian_kl_full", ("gaussian_kl_full",),
            "forgets the -k", '''
def gaussian_kl_full(mu0, cov0, mu1, cov1):
    diff = mu1 - mu0
    return 0.5 * (torch.trace(torch.linalg.solve(cov1, cov0)) + diff @ torch.linalg.solve(cov1, diff)
                  + torch.logdet(cov1) - torch.logdet(cov0))
'''),
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
    Variant("score_baseline_f_of_mu", "ps4_gradients", "score_function_gradient", ("score_function_gradient",),
            "a constant baseline f(mu): unbiased, but not the variance reduction the notebook allows (red team)", '''
def score_function_gradient(f, mu, sigma, n_samples):
    eps = torch.randn(n_samples)
    fz = f(mu + sigma * eps) - f(torch.tensor([float(mu)]))
    return torch.stack([(fz * eps / sigma).mean(), (fz * (eps**2 - 1.0) / sigma).mean()])
'''),
    Variant("score_loo_over_n", "ps4_gradients", "score_function_gradient", ("score_function_gradient",),
            "the leave-one-out baseline divided by n instead of n - 1 (red team, 2026-12-05)", '''
def score_function_gradient(f, mu, sigma, n_samples):
    eps = torch.randn(n_samples)
    fz = f(mu + sigma * eps)
    fz = fz - (fz.sum() - fz) / n_samples
    return torch.stack([(fz * eps / sigma).mean(), (fz * (eps**2 - 1.0) / sigma).mean()])
'''),
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
    Variant("decoder_grad_not_zeroed", "ps4_gradients", "decoder_gradient", ("decoder_gradient",),
            ".backward() without zeroing the decoder's gradients first: adds to what was there (red team)", '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    z = reparameterize(mu, log_var, torch.randn(n_samples, *mu.shape))
    bernoulli_log_likelihood(x, decoder(z)).mean(0).sum().backward()
    return [p.grad for p in decoder.parameters()]
'''),
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
    Variant("vae_trained_on_test", "ps4_gradients", "train_vae", ("vae_heldout_elbo",),
            "trains on the held-out test split (long enough to pass the threshold there) instead of x_train", '''
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
    # ---- ps4: non-differentiable f, zero variance, fixed seeds, spread, contracts (issue 8)
    Variant("reparam_fixed_seed", "ps4_gradients", "reparameterize", ("reparameterize",),
            "a fixed seed when eps is None: every call draws the same noise", '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(0))
    return mu + torch.exp(0.5 * log_var) * eps
''', statistical=True),
    Variant("reparam_one_noise_row", "ps4_gradients", "reparameterize", ("reparameterize",),
            "one noise vector of size z_dim shared by every row of the batch", '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.randn(mu.shape[-1])
    return mu + torch.exp(0.5 * log_var) * eps
''', statistical=True),
    # ---- ps4: noise of the right mean (and variance) but not normal (issue 8's known limit, closed)
    Variant("reparam_student_t_noise", "ps4_gradients", "reparameterize", ("reparameterize",),
            "Student-t(30) noise when eps is None (variance 30/28: 'almost normal')", '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.distributions.StudentT(30.0).sample(mu.shape)
    return mu + torch.exp(0.5 * log_var) * eps
''', statistical=True),
    Variant("reparam_unit_variance_t_noise", "ps4_gradients", "reparameterize", ("reparameterize",),
            "Student-t(30) noise rescaled to variance 1: right mean and variance, wrong shape", '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.distributions.StudentT(30.0).sample(mu.shape) * (28.0 / 30.0) ** 0.5
    return mu + torch.exp(0.5 * log_var) * eps
''', statistical=True),
    Variant("reparam_unit_variance_uniform_noise", "ps4_gradients", "reparameterize", ("reparameterize",),
            "uniform noise centred and scaled to variance 1 (torch.rand_like, then (u - 0.5) * sqrt(12))", '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = (torch.rand_like(mu) - 0.5) * 12.0 ** 0.5
    return mu + torch.exp(0.5 * log_var) * eps
''', statistical=True),
    Variant("reparam_laplace_noise", "ps4_gradients", "reparameterize", ("reparameterize",),
            "Laplace noise of variance 1 (torch.distributions.Laplace(0, 1/sqrt(2)))", '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.distributions.Laplace(0.0, 2.0 ** -0.5).sample(mu.shape)
    return mu + torch.exp(0.5 * log_var) * eps
''', statistical=True),
    # ---- red team, 2026-12-05
    Variant("reparam_noise_shared_by_columns", "ps4_gradients", "reparameterize", ("reparameterize",),
            "one noise value per row, shared by every latent dimension (torch.randn(batch, 1))", '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.randn(mu.shape[0], 1)
    return mu + torch.exp(0.5 * log_var) * eps
''', statistical=True),
    Variant("reparam_detached_when_drawn", "ps4_gradients", "reparameterize", ("reparameterize",),
            "right with eps given, but torch.normal(mu, sigma).detach() when it draws the noise itself", '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        return torch.normal(mu, torch.exp(0.5 * log_var)).detach()
    return mu + torch.exp(0.5 * log_var) * eps
'''),
    Variant("reparam_duplicated_rows", "ps4_gradients", "reparameterize", ("reparameterize",),
            "draws noise for half the rows and repeats it for the other half (red team, round 4)", '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        half = torch.randn(((mu.shape[0] + 1) // 2, *mu.shape[1:]))
        eps = torch.cat([half, half])[: mu.shape[0]]
    return mu + torch.exp(0.5 * log_var) * eps
'''),
    Variant("reparam_reuses_last_call", "ps4_gradients", "reparameterize", ("reparameterize",),
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
    Variant("reparam_eps_reshaped", "ps4_gradients", "reparameterize", ("reparameterize",),
            "reshapes eps to the shape of mu: fails for eps with extra leading dimensions", '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * log_var) * eps.reshape(mu.shape)
'''),
    Variant("score_is_pathwise", "ps4_gradients", "score_function_gradient", ("score_function_gradient",),
            "the pathwise estimator (differentiates f) in place of the score function", '''
def score_function_gradient(f, mu, sigma, n_samples):
    mu_t = torch.tensor(float(mu), requires_grad=True)
    sigma_t = torch.tensor(float(sigma), requires_grad=True)
    objective = f(mu_t + sigma_t * torch.randn(n_samples)).mean()
    return torch.stack(torch.autograd.grad(objective, (mu_t, sigma_t)))
'''),
    Variant("score_quadrature", "ps4_gradients", "score_function_gradient", ("score_function_gradient",),
            "the exact gradient by Gauss-Hermite quadrature of f(z) * score: no noise, ignores n_samples", '''
def score_function_gradient(f, mu, sigma, n_samples):
    import numpy as np
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    eps = torch.tensor(nodes)
    w = torch.tensor(weights / weights.sum())
    fz = f(mu + sigma * eps)
    return torch.stack([(w * fz * eps / sigma).sum(), (w * fz * (eps**2 - 1) / sigma).sum()]).float()
''', statistical=True),
    Variant("score_fixed_seed", "ps4_gradients", "score_function_gradient", ("score_function_gradient",),
            "a fixed seed inside the function: every call returns the same estimate", '''
def score_function_gradient(f, mu, sigma, n_samples):
    torch.manual_seed(0)
    eps = torch.randn(n_samples)
    fz = f(mu + sigma * eps)
    return torch.stack([(fz * eps / sigma).mean(), (fz * (eps**2 - 1.0) / sigma).mean()])
''', statistical=True),
    Variant("pathwise_quadrature", "ps4_gradients", "pathwise_gradient", ("pathwise_gradient",),
            "the exact gradient by quadrature of f'(mu + sigma eps): no noise, ignores n_samples", '''
def pathwise_gradient(f, mu, sigma, n_samples):
    import numpy as np
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    mu_t = torch.tensor(float(mu), requires_grad=True)
    sigma_t = torch.tensor(float(sigma), requires_grad=True)
    w = torch.tensor(weights / weights.sum(), dtype=torch.float32)
    objective = (w * f(mu_t + sigma_t * torch.tensor(nodes, dtype=torch.float32))).sum()
    return torch.stack(torch.autograd.grad(objective, (mu_t, sigma_t)))
''', statistical=True),
    Variant("pathwise_fixed_seed", "ps4_gradients", "pathwise_gradient", ("pathwise_gradient",),
            "a fixed seed inside the function: every call returns the same estimate", '''
def pathwise_gradient(f, mu, sigma, n_samples):
    generator = torch.Generator().manual_seed(1234)
    mu_t = torch.tensor(float(mu), requires_grad=True)
    sigma_t = torch.tensor(float(sigma), requires_grad=True)
    objective = f(mu_t + sigma_t * torch.randn(n_samples, generator=generator)).mean()
    return torch.stack(torch.autograd.grad(objective, (mu_t, sigma_t)))
''', statistical=True),
    Variant("pathwise_is_score_function", "ps4_gradients", "pathwise_gradient", ("pathwise_gradient",),
            "a score-function estimator in pathwise_gradient: the right mean, far too much spread", '''
def pathwise_gradient(f, mu, sigma, n_samples):
    eps = torch.randn(n_samples)
    fz = f(mu + sigma * eps)
    return torch.stack([(fz * eps / sigma).mean(), (fz * (eps**2 - 1.0) / sigma).mean()])
''', statistical=True),
    Variant("decoder_grad_fixed_seed", "ps4_gradients", "decoder_gradient", ("decoder_gradient",),
            "a fixed seed inside the function: every call returns the same estimate", '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    torch.manual_seed(0)
    z = reparameterize(mu, log_var, torch.randn((n_samples, *mu.shape)))
    objective = bernoulli_log_likelihood(x, decoder(z)).mean(0).sum()
    return torch.autograd.grad(objective, list(decoder.parameters()))
''', statistical=True),
    Variant("decoder_grad_n_minus_one", "ps4_gradients", "decoder_gradient", ("decoder_gradient",),
            "averages the samples with 1/(n_samples - 1)", '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    z = reparameterize(mu, log_var, torch.randn((n_samples, *mu.shape)))
    objective = bernoulli_log_likelihood(x, decoder(z)).sum(0).sum() / (n_samples - 1)
    return torch.autograd.grad(objective, list(decoder.parameters()))
''', statistical=True),
    Variant("decoder_grad_mean_over_batch", "ps4_gradients", "decoder_gradient", ("decoder_gradient",),
            "averages over the data points instead of summing (the gradient of the mean ELBO)", '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    z = reparameterize(mu, log_var, torch.randn((n_samples, *mu.shape)))
    objective = bernoulli_log_likelihood(x, decoder(z)).mean()
    return torch.autograd.grad(objective, list(decoder.parameters()))
''', statistical=True),
    # ------------------------------------------------- n_samples ignored (a scaling case catches each)
    Variant("elbo_fixed_samples", "ps3_elbo", "elbo", ("elbo",),
            "ignores n_samples: always averages 500 samples", '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn((500, *mu.shape))
    return bernoulli_log_likelihood(x, decoder(z)).mean(0) - gaussian_kl(mu, log_var)
''', statistical=True),
    Variant("score_fixed_samples", "ps4_gradients", "score_function_gradient", ("score_function_gradient",),
            "ignores small n_samples: uses at least 10,000 samples", '''
def score_function_gradient(f, mu, sigma, n_samples):
    eps = torch.randn(max(n_samples, 10_000))
    fz = f(mu + sigma * eps)
    return torch.stack([(fz * eps / sigma).mean(), (fz * (eps**2 - 1.0) / sigma).mean()])
''', statistical=True),
    Variant("pathwise_fixed_samples", "ps4_gradients", "pathwise_gradient", ("pathwise_gradient",),
            "ignores n_samples: always 5,000 samples", '''
def pathwise_gradient(f, mu, sigma, n_samples):
    mu_t = torch.tensor(float(mu), requires_grad=True)
    sigma_t = torch.tensor(float(sigma), requires_grad=True)
    objective = f(mu_t + sigma_t * torch.randn(5_000)).mean()
    return torch.stack(torch.autograd.grad(objective, (mu_t, sigma_t)))
''', statistical=True),
    Variant("decoder_grad_fixed_samples", "ps4_gradients", "decoder_gradient", ("decoder_gradient",),
            "ignores n_samples: always 500 samples per data point", '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    z = reparameterize(mu, log_var, torch.randn((500, *mu.shape)))
    objective = bernoulli_log_likelihood(x, decoder(z)).mean(0).sum()
    return torch.autograd.grad(objective, list(decoder.parameters()))
''', statistical=True),
    Variant("iwae_fixed_k", "ps3_elbo", "iwae_bound", ("iwae_bound",),
            "ignores n_samples: always K = 8 importance samples", '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    eps = torch.randn((8, *mu.shape), dtype=mu.dtype)
    z = mu + torch.exp(0.5 * log_var) * eps
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_q = -0.5 * (eps**2 + log_var + math.log(2 * math.pi)).sum(-1)
    log_w = bernoulli_log_likelihood(x, decoder(z)) + log_prior - log_q
    return torch.logsumexp(log_w, dim=0) - math.log(8)
''', statistical=True),
]
