"""ps3_elbo: what students get wrong in its graded functions, each defined by a wrong implementation (grader side
only; see autograder/judging/misconceptions/__init__.py)."""

from __future__ import annotations

from ..sections import Reading
from . import Misconception, register

A = "ps3_elbo"

# the notebook's other graded functions, correct: what the wrong implementations below may call
HELPERS = '''
import math

import torch


def gaussian_kl(mu, log_var):
    return 0.5 * (mu**2 + log_var.exp() - 1.0 - log_var).sum(-1)


def bernoulli_log_likelihood(x, logits):
    return (x * logits - torch.nn.functional.softplus(logits)).sum(-1)
'''

READ_GAUSSIAN_KL = Reading("ch4-closed-form-kl", "The KL term in closed form")
READ_BERNOULLI_LOG_LIKELIHOOD = Reading("ch4-bernoulli-decoder", "The Bernoulli decoder: log-likelihood from logits")
READ_ELBO = Reading("ch4-objective", "The objective the code trains")
READ_LG_LOG_MARGINAL = Reading("ch5-identity", "The ELBO identity")
READ_LG_POSTERIOR = Reading("ch2-posterior-section", "The posterior: Bayes' rule")
READ_GAUSSIAN_KL_FULL = Reading("ch5-bound", "KL ≥ 0, hence a lower bound")
READ_LG_ELBO = Reading("ch5-identity", "The ELBO identity")
READ_IWAE_BOUND = Reading("ch5-iwae", "Aside: a tighter bound with more samples")
READ_TRICK = Reading("ch6-trick", "The trick: move the randomness into an input")
READ_LOGSUMEXP = Reading("ch1-logsumexp-section", "Adding probabilities in log space: log-sum-exp")

MISCONCEPTIONS = [
    # --------------------------------------------------------------------------------------------- gaussian_kl
    Misconception(
        "kl_wrong_sign", A, "gaussian_kl", ('gaussian_kl',),
        "KL with the wrong sign (the -KL of Kingma & Welling's eq. 10)",
        ('Your KL has the wrong sign: 0.5 * sum(1 + log_var - mu^2 - exp(log_var)) is minus the KL (the term '
         'the ELBO adds). A KL divergence is never negative: use 0.5 * sum(mu^2 + exp(log_var) - 1 - log_var).'),
        READ_GAUSSIAN_KL, '''
def gaussian_kl(mu, log_var):
    return 0.5 * (1.0 + log_var - mu**2 - log_var.exp()).sum(-1)
'''),
    Misconception(
        "kl_no_half", A, "gaussian_kl", ('gaussian_kl',),
        'KL without the 1/2',
        ('You left out the factor 1/2: KL(N(mu, sigma^2) || N(0, 1)) = 1/2 (mu^2 + sigma^2 - 1 - log sigma^2) '
         'per latent dimension.'),
        READ_GAUSSIAN_KL, '''
def gaussian_kl(mu, log_var):
    return (mu**2 + log_var.exp() - 1.0 - log_var).sum(-1)
'''),
    Misconception(
        "kl_log_sigma", A, "gaussian_kl", ('gaussian_kl',),
        'log sigma vs log sigma^2 mixed: treats log_var as log sigma (exp(2 log_var), 2 log_var)',
        ('You treated log_var as log sigma (exp(2 log_var), 2 log_var). It is the log-VARIANCE: sigma^2 = '
         'exp(log_var) and log sigma^2 = log_var.'),
        READ_GAUSSIAN_KL, '''
def gaussian_kl(mu, log_var):
    return 0.5 * (mu**2 + torch.exp(2 * log_var) - 1.0 - 2 * log_var).sum(-1)
'''),
    Misconception(
        "kl_sigma_for_variance", A, "gaussian_kl", ('gaussian_kl',),
        'sigma used where sigma^2 belongs: exp(log_var / 2) in place of exp(log_var)',
        'You used sigma = exp(log_var / 2) where the KL needs the variance sigma^2 = exp(log_var).',
        READ_GAUSSIAN_KL, '''
def gaussian_kl(mu, log_var):
    return 0.5 * (mu**2 + torch.exp(0.5 * log_var) - 1.0 - log_var).sum(-1)
'''),
    Misconception(
        "kl_mean_over_latents", A, "gaussian_kl", ('gaussian_kl',),
        'mean over the latent dimensions instead of the sum',
        ('You averaged over the latent dimensions instead of summing. The KL of a diagonal Gaussian is the sum'
         ' of the KLs of its coordinates.'),
        READ_GAUSSIAN_KL, '''
def gaussian_kl(mu, log_var):
    return 0.5 * (mu**2 + log_var.exp() - 1.0 - log_var).mean(-1)
'''),
    Misconception(
        "kl_summed_over_batch", A, "gaussian_kl", ('gaussian_kl',),
        'sums over the batch too: one number instead of one per row',
        ('You summed over the batch too and returned one number. The function returns one KL per row (per data'
         ' point): sum over the last dimension only.'),
        READ_GAUSSIAN_KL, '''
def gaussian_kl(mu, log_var):
    return 0.5 * (mu**2 + log_var.exp() - 1.0 - log_var).sum()
'''),
    # -------------------------------------------------------------------------------- bernoulli_log_likelihood
    Misconception(
        "bernoulli_mean_pixels", A, "bernoulli_log_likelihood", ('bernoulli_log_likelihood',),
        'mean over pixels instead of the sum',
        ('You averaged over the pixels instead of summing. The pixels are independent given z, so log p(x | z)'
         " is the sum of the pixels' log-probabilities."),
        READ_BERNOULLI_LOG_LIKELIHOOD, '''
def bernoulli_log_likelihood(x, logits):
    return (x * logits - torch.nn.functional.softplus(logits)).mean(-1)
'''),
    Misconception(
        "bernoulli_naive_sigmoid", A, "bernoulli_log_likelihood", ('bernoulli_log_likelihood',),
        'log(sigmoid(l)) computed naively: -inf / nan for large logits',
        ('You took log(sigmoid(l)) and log(1 - sigmoid(l)) directly: for large logits sigmoid rounds to '
         'exactly 0 or 1 and the log gives -inf or nan. Use the stable form x * l - softplus(l).'),
        READ_BERNOULLI_LOG_LIKELIHOOD, '''
def bernoulli_log_likelihood(x, logits):
    p = torch.sigmoid(logits)
    return (x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(-1)
'''),
    Misconception(
        "bernoulli_log1p_exp", A, "bernoulli_log_likelihood", ('bernoulli_log_likelihood',),
        'x l - log1p(exp(l)): right up to l = 88, exp overflows float32 above (red team, 2026-12-05)',
        ('You wrote log(1 + exp(l)) as log1p(exp(l)), which is right until exp overflows (l above about 88 in '
         'float32) and then gives inf. softplus computes it stably.'),
        READ_BERNOULLI_LOG_LIKELIHOOD, '''
def bernoulli_log_likelihood(x, logits):
    return (x * logits - torch.log1p(torch.exp(logits))).sum(-1)
'''),
    Misconception(
        "bernoulli_clamped_log", A, "bernoulli_log_likelihood", ('bernoulli_log_likelihood',),
        'log of a clamped sigmoid (clamp at 1e-7): finite but wrong for saturated logits',
        ('You clamped the probabilities (e.g. at 1e-7) before the log. That avoids -inf but gives wrong values'
         ' for saturated logits; x * l - softplus(l) is exact for every logit.'),
        READ_BERNOULLI_LOG_LIKELIHOOD, '''
def bernoulli_log_likelihood(x, logits):
    p = torch.sigmoid(logits)
    return (x * torch.log(p.clamp(min=1e-7)) + (1 - x) * torch.log((1 - p).clamp(min=1e-7))).sum(-1)
'''),
    Misconception(
        "bernoulli_sum_everything", A, "bernoulli_log_likelihood", ('bernoulli_log_likelihood',),
        'sums over every dimension: one number instead of one per data point and sample',
        ('You summed over every dimension and returned one number. Sum over the pixels (the last dimension) '
         'only: one log-likelihood per data point and per sample.'),
        READ_BERNOULLI_LOG_LIKELIHOOD, '''
def bernoulli_log_likelihood(x, logits):
    return (x * logits - torch.nn.functional.softplus(logits)).sum()
'''),
    # ---------------------------------------------------------------------------------------------------- elbo
    Misconception(
        "elbo_no_kl", A, "elbo", ('elbo',),
        'missing KL term: returns only the reconstruction term',
        ('Your ELBO has only the reconstruction term: the KL term is missing. ELBO = E_q[log p(x | z)] - '
         'KL(q(z | x) || p(z)).'),
        READ_ELBO, '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn((n_samples, *mu.shape))
    return bernoulli_log_likelihood(x, decoder(z)).mean(0)
''', statistical=True),
    Misconception(
        "elbo_kl_plus", A, "elbo", ('elbo',),
        'KL added instead of subtracted',
        ('You added the KL instead of subtracting it. ELBO = E_q[log p(x | z)] - KL(q(z | x) || p(z)): the KL '
         'is a penalty.'),
        READ_ELBO, '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn((n_samples, *mu.shape))
    return bernoulli_log_likelihood(x, decoder(z)).mean(0) + gaussian_kl(mu, log_var)
''', statistical=True),
    Misconception(
        "elbo_variance_as_scale", A, "elbo", ('elbo',),
        'sigma^2 used where sigma belongs: z = mu + exp(log_var) * eps (log_var read as log sigma)',
        ('You scaled the noise by exp(log_var), the variance. A sample of N(mu, sigma^2) is mu + sigma * eps '
         'with sigma = exp(log_var / 2).'),
        READ_TRICK, '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = mu + torch.exp(log_var) * torch.randn((n_samples, *mu.shape))
    return bernoulli_log_likelihood(x, decoder(z)).mean(0) - gaussian_kl(mu, log_var)
''', statistical=True),
    Misconception(
        "elbo_log_var_as_scale", A, "elbo", ('elbo',),
        'the log-variance itself used as the standard deviation: z = mu + log_var * eps',
        ('You used log_var itself as the standard deviation (z = mu + log_var * eps). The standard deviation '
         'is exp(log_var / 2).'),
        READ_TRICK, '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = mu + log_var * torch.randn((n_samples, *mu.shape))
    return bernoulli_log_likelihood(x, decoder(z)).mean(0) - gaussian_kl(mu, log_var)
''', statistical=True),
    Misconception(
        "elbo_prior_samples", A, "elbo", ('elbo',),
        'samples z from the prior N(0, I) instead of q(z|x)',
        ('You sampled z from the prior N(0, I) instead of from q(z | x) = N(mu, sigma^2). The reconstruction '
         "term is an expectation under the encoder's q: z = mu + sigma * eps."),
        READ_ELBO, '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = torch.randn((n_samples, *mu.shape))
    return bernoulli_log_likelihood(x, decoder(z)).mean(0) - gaussian_kl(mu, log_var)
''', statistical=True),
    Misconception(
        "elbo_sum_samples", A, "elbo", ('elbo',),
        'sums the reconstruction term over the samples instead of averaging',
        ('You summed the reconstruction term over the n_samples samples instead of averaging: E_q[log p(x | '
         'z)] is estimated by the mean over the samples.'),
        READ_ELBO, '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn((n_samples, *mu.shape))
    return bernoulli_log_likelihood(x, decoder(z)).sum(0) - gaussian_kl(mu, log_var)
''', statistical=True),
    Misconception(
        "elbo_mean_pixels", A, "elbo", ('elbo',),
        "binary cross-entropy with reduction='mean' over pixels instead of the sum",
        ("You averaged the log-likelihood over the pixels (like reduction='mean' in binary cross-entropy). log"
         ' p(x | z) is the SUM over pixels; averaging shrinks the reconstruction term relative to the KL.'),
        READ_ELBO, '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn((n_samples, *mu.shape))
    logits = decoder(z)
    reconstruction = -torch.nn.functional.binary_cross_entropy_with_logits(
        logits, x.expand_as(logits), reduction="none").mean(-1)
    return reconstruction.mean(0) - gaussian_kl(mu, log_var)
''', statistical=True),
    Misconception(
        "elbo_n_minus_one", A, "elbo", ('elbo',),
        'averages the samples with 1/(n_samples - 1): infinite for one sample, biased for few',
        ('You divided the sum over samples by n_samples - 1. An average of n samples divides by n; with one '
         'sample your estimate is infinite.'),
        READ_ELBO, '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn((n_samples, *mu.shape))
    return bernoulli_log_likelihood(x, decoder(z)).sum(0) / (n_samples - 1) - gaussian_kl(mu, log_var)
''', statistical=True),
    Misconception(
        "elbo_fixed_seed", A, "elbo", ('elbo',),
        'a fixed seed inside the function: every call returns the same estimate',
        ('You fix the random seed inside the function, so every call returns the same estimate. Draw fresh '
         'noise on every call.'),
        READ_ELBO, '''
def elbo(x, encoder, decoder, n_samples=1):
    torch.manual_seed(0)
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn((n_samples, *mu.shape))
    return bernoulli_log_likelihood(x, decoder(z)).mean(0) - gaussian_kl(mu, log_var)
''', statistical=True, frozen=True),
    Misconception(
        "elbo_ignores_n_samples", A, "elbo", ('elbo',),
        'one sample whatever n_samples says (z of the shape of mu)',
        ('Your estimate uses a single sample of z whatever n_samples says (one noise draw of the shape of mu, '
         'or one draw repeated n_samples times). Draw n_samples independent samples per data point and average'
         ' them.'),
        READ_ELBO, '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
    return bernoulli_log_likelihood(x, decoder(z)) - gaussian_kl(mu, log_var)
''', statistical=True),
    Misconception(
        "elbo_fixed_samples", A, "elbo", ('elbo',),
        'ignores n_samples: always averages 500 samples',
        ('You use a fixed number of samples instead of n_samples. The estimate must average exactly n_samples '
         'samples.'),
        READ_ELBO, '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn((500, *mu.shape))
    return bernoulli_log_likelihood(x, decoder(z)).mean(0) - gaussian_kl(mu, log_var)
''', statistical=True),
    # ----------------------------------------------------------------------------------------- lg_log_marginal
    Misconception(
        "lg_marginal_std_as_variance", A, "lg_log_marginal", ('lg_log_marginal',),
        'noise_std used as the variance: W W^T + s I',
        ('You used noise_std where the covariance needs its square: x ~ N(b, W W^T + s^2 I), s being a '
         'standard deviation.'),
        READ_LG_LOG_MARGINAL, '''
def lg_log_marginal(x, W, b, noise_std):
    d = x.shape[0]
    cov = W @ W.T + noise_std * torch.eye(d, dtype=W.dtype)
    diff = x - b
    return -0.5 * (d * math.log(2 * math.pi) + torch.logdet(cov) + diff @ torch.linalg.solve(cov, diff))
'''),
    Misconception(
        "lg_marginal_float", A, "lg_log_marginal", ('lg_log_marginal',),
        'returns a Python float (.item()) where a 0-dim tensor is promised',
        'You returned a Python number (.item()) instead of a 0-dim tensor.',
        READ_LG_LOG_MARGINAL, '''
def lg_log_marginal(x, W, b, noise_std):
    d = x.shape[0]
    cov = W @ W.T + noise_std**2 * torch.eye(d, dtype=W.dtype)
    diff = x - b
    return (-0.5 * (d * math.log(2 * math.pi) + torch.logdet(cov) + diff @ torch.linalg.solve(cov, diff))).item()
'''),
    # -------------------------------------------------------------------------------------------- lg_posterior
    Misconception(
        "lg_posterior_no_noise_scaling", A, "lg_posterior", ('lg_posterior',),
        'forgets the 1/s^2 in the posterior covariance',
        ('You forgot the 1/s^2 in the posterior covariance: S = (I + W^T W / s^2)^-1, and m = S W^T (x - b) / '
         's^2.'),
        READ_LG_POSTERIOR, '''
def lg_posterior(x, W, b, noise_std):
    k = W.shape[1]
    S = torch.linalg.inv(torch.eye(k, dtype=W.dtype) + W.T @ W)
    return S @ W.T @ (x - b) / noise_std**2, S
'''),
    Misconception(
        "lg_posterior_precision", A, "lg_posterior", ('lg_posterior',),
        'returns the posterior precision (the inverse covariance) where the covariance is asked',
        ('You returned the posterior precision (the inverse covariance I + W^T W / s^2) where the covariance '
         'S, its inverse, is asked.'),
        READ_LG_POSTERIOR, '''
def lg_posterior(x, W, b, noise_std):
    k = W.shape[1]
    precision = torch.eye(k, dtype=W.dtype) + W.T @ W / noise_std**2
    m = torch.linalg.solve(precision, W.T @ (x - b)) / noise_std**2
    return m, precision
'''),
    # ---------------------------------------------------------------------------------------- gaussian_kl_full
    Misconception(
        "kl_full_logdet_swapped", A, "gaussian_kl_full", ('gaussian_kl_full',),
        'log-determinant ratio the wrong way round',
        'The log-determinant ratio is the wrong way round: KL(N0 || N1) has + log det(cov1) - log det(cov0).',
        READ_GAUSSIAN_KL_FULL, '''
def gaussian_kl_full(mu0, cov0, mu1, cov1):
    k = mu0.shape[0]
    diff = mu1 - mu0
    return 0.5 * (torch.trace(torch.linalg.solve(cov1, cov0)) + diff @ torch.linalg.solve(cov1, diff) - k
                  + torch.logdet(cov0) - torch.logdet(cov1))
'''),
    Misconception(
        "kl_full_missing_k", A, "gaussian_kl_full", ('gaussian_kl_full',),
        'forgets the -k',
        ('You left out the - k (the dimension) in KL(N0 || N1) = 1/2 (tr(cov1^-1 cov0) + (mu1 - mu0)^T cov1^-1'
         ' (mu1 - mu0) - k + log det cov1 - log det cov0).'),
        READ_GAUSSIAN_KL_FULL, '''
def gaussian_kl_full(mu0, cov0, mu1, cov1):
    diff = mu1 - mu0
    return 0.5 * (torch.trace(torch.linalg.solve(cov1, cov0)) + diff @ torch.linalg.solve(cov1, diff)
                  + torch.logdet(cov1) - torch.logdet(cov0))
'''),
    # ------------------------------------------------------------------------------------------------- lg_elbo
    Misconception(
        "lg_elbo_no_trace", A, "lg_elbo", ('lg_elbo',),
        'E_q[log p(x|z)] evaluated at the mean of q: the trace term tr(W^T W q_cov) is missing',
        ('You evaluated E_q[log p(x | z)] at the mean of q only: the expectation of the squared residual also '
         'has the trace term tr(W^T W q_cov) / s^2, which comes from the spread of q.'),
        READ_LG_ELBO, '''
def lg_elbo(x, W, b, noise_std, q_mean, q_cov):
    d, k = W.shape
    s2 = noise_std**2
    residual = x - W @ q_mean - b
    expected_log_lik = -0.5 * (d * math.log(2 * math.pi * s2) + residual @ residual / s2)
    expected_log_prior = -0.5 * (k * math.log(2 * math.pi) + q_mean @ q_mean + torch.trace(q_cov))
    entropy = 0.5 * (k * (1.0 + math.log(2 * math.pi)) + torch.logdet(q_cov))
    return expected_log_lik + expected_log_prior + entropy
'''),
    # ---------------------------------------------------------------------------------------------- iwae_bound
    Misconception(
        "iwae_mean_log_weights", A, "iwae_bound", ('iwae_bound',),
        'averages the log-weights (that is the ELBO, not the importance-weighted bound)',
        ('You averaged the log-weights, which gives the ELBO. The importance-weighted bound averages the '
         'weights themselves, inside the log: log (1/K) sum_k w_k, computed with log-sum-exp minus log K.'),
        READ_IWAE_BOUND, '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    eps = torch.randn((n_samples, *mu.shape))
    z = mu + torch.exp(0.5 * log_var) * eps
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_q = -0.5 * (eps**2 + log_var + math.log(2 * math.pi)).sum(-1)
    return (bernoulli_log_likelihood(x, decoder(z)) + log_prior - log_q).mean(0)
''', statistical=True),
    Misconception(
        "iwae_antithetic", A, "iwae_bound", ('iwae_bound',),
        'antithetic pairs eps, -eps among the K samples (the notebook does not accept them; red team)',
        ('You used antithetic pairs (eps and -eps) among the K samples. The bound asks for K independent '
         'samples of q; the pairs change the estimator.'),
        READ_IWAE_BOUND, '''
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
    Misconception(
        "iwae_k_plus_one_samples", A, "iwae_bound", ('iwae_bound',),
        'draws K + 1 samples and divides by K + 1: L_(K+1), not L_K (red team, round 2)',
        ('You drew K + 1 samples (and divided by K + 1): that is L_(K+1), not L_K. Use exactly K = n_samples '
         'samples.'),
        READ_IWAE_BOUND, '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    eps = torch.randn((n_samples + 1, *mu.shape))
    z = mu + torch.exp(0.5 * log_var) * eps
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_q = -0.5 * (eps**2 + log_var + math.log(2 * math.pi)).sum(-1)
    log_w = bernoulli_log_likelihood(x, decoder(z)) + log_prior - log_q
    return torch.logsumexp(log_w, dim=0) - math.log(n_samples + 1)
'''),
    Misconception(
        "iwae_log_k_plus_one", A, "iwae_bound", ('iwae_bound',),
        'K samples but log (K + 1) subtracted (an off-by-one in the mean; red team, round 2)',
        ('You subtracted log(K + 1) after the log-sum-exp of K weights. The average of K weights divides by K:'
         ' subtract log K.'),
        READ_IWAE_BOUND, '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    eps = torch.randn((n_samples, *mu.shape))
    z = mu + torch.exp(0.5 * log_var) * eps
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_q = -0.5 * (eps**2 + log_var + math.log(2 * math.pi)).sum(-1)
    log_w = bernoulli_log_likelihood(x, decoder(z)) + log_prior - log_q
    return torch.logsumexp(log_w, dim=0) - math.log(n_samples + 1)
'''),
    Misconception(
        "iwae_no_log_k", A, "iwae_bound", ('iwae_bound',),
        'log-sum-exp of the weights without the -log K',
        ('You forgot the - log K: log-sum-exp of the K log-weights is the log of their SUM; the bound is the '
         'log of their average.'),
        READ_IWAE_BOUND, '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    eps = torch.randn((n_samples, *mu.shape))
    z = mu + torch.exp(0.5 * log_var) * eps
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_q = -0.5 * (eps**2 + log_var + math.log(2 * math.pi)).sum(-1)
    return torch.logsumexp(bernoulli_log_likelihood(x, decoder(z)) + log_prior - log_q, dim=0)
''', statistical=True),
    Misconception(
        "iwae_no_log_q", A, "iwae_bound", ('iwae_bound',),
        'weights p(x, z) without dividing by q(z|x)',
        ('Your weights are p(x, z) without dividing by q(z | x). An importance weight is p(x, z) / q(z | x): '
         'subtract log q(z | x) from each log-weight.'),
        READ_IWAE_BOUND, '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn((n_samples, *mu.shape))
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    return torch.logsumexp(bernoulli_log_likelihood(x, decoder(z)) + log_prior, dim=0) - math.log(n_samples)
''', statistical=True),
    Misconception(
        "iwae_naive_log_mean_exp", A, "iwae_bound", ('iwae_bound',),
        'log(mean(exp(log w))) without the maximum: exp underflows to 0 for log-weights near -1,000',
        ('You computed log(mean(exp(log w))) directly: log-weights near -1000 underflow to exp = 0 and the '
         'bound becomes -inf. Use log-sum-exp (subtract the maximum) and then - log K.'),
        READ_LOGSUMEXP, '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    eps = torch.randn((n_samples, *mu.shape))
    z = mu + torch.exp(0.5 * log_var) * eps
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_q = -0.5 * (eps**2 + log_var + math.log(2 * math.pi)).sum(-1)
    log_w = bernoulli_log_likelihood(x, decoder(z)) + log_prior - log_q
    return torch.log(torch.exp(log_w).mean(0))
''', statistical=True),
    Misconception(
        "iwae_fixed_seed", A, "iwae_bound", ('iwae_bound',),
        'a fixed seed inside the function: every call returns the same estimate',
        ('You fix the random seed inside the function, so every call returns the same estimate. Draw fresh '
         'samples on every call.'),
        READ_IWAE_BOUND, '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    torch.manual_seed(0)
    mu, log_var = encoder(x)
    eps = torch.randn((n_samples, *mu.shape))
    z = mu + torch.exp(0.5 * log_var) * eps
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_q = -0.5 * (eps**2 + log_var + math.log(2 * math.pi)).sum(-1)
    return torch.logsumexp(bernoulli_log_likelihood(x, decoder(z)) + log_prior - log_q, dim=0) - math.log(n_samples)
''', statistical=True, frozen=True),
    Misconception(
        "iwae_log_q_variance_as_scale", A, "iwae_bound", ('iwae_bound',),
        'log q with exp(log_var) as the standard deviation (log sigma vs log sigma^2 mixed)',
        ('Your log q(z | x) uses exp(log_var) as the standard deviation (2 log_var in the normaliser). log_var'
         ' is the log-VARIANCE: log q = -1/2 sum(eps^2 + log_var + log 2 pi).'),
        READ_IWAE_BOUND, '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    eps = torch.randn((n_samples, *mu.shape))
    z = mu + torch.exp(0.5 * log_var) * eps
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_q = -0.5 * (eps**2 + 2 * log_var + math.log(2 * math.pi)).sum(-1)
    return torch.logsumexp(bernoulli_log_likelihood(x, decoder(z)) + log_prior - log_q, dim=0) - math.log(n_samples)
''', statistical=True),
    Misconception(
        "iwae_fixed_k", A, "iwae_bound", ('iwae_bound',),
        'ignores n_samples: always K = 8 importance samples',
        ('You always use K = 8 samples instead of K = n_samples: the bound must use the number of samples it '
         'is asked for.'),
        READ_IWAE_BOUND, '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    eps = torch.randn((8, *mu.shape), dtype=mu.dtype)
    z = mu + torch.exp(0.5 * log_var) * eps
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_q = -0.5 * (eps**2 + log_var + math.log(2 * math.pi)).sum(-1)
    log_w = bernoulli_log_likelihood(x, decoder(z)) + log_prior - log_q
    return torch.logsumexp(log_w, dim=0) - math.log(8)
''', statistical=True),
    # ---------------------------------------------------------------------------------------------------------
    # added after the first blind measurement (bench/RESULTS.md): bugs the catalogue did not hold, written anew
    Misconception(
        "bernoulli_cross_entropy", A, "bernoulli_log_likelihood", ("bernoulli_log_likelihood",),
        "returns the binary cross-entropy, a loss: minus the log-likelihood",
        ("You returned the binary cross-entropy, which is a loss: minus the log-likelihood. log p(x | z) is "
         "never positive; put a minus in front (or use x * l - softplus(l))."),
        READ_BERNOULLI_LOG_LIKELIHOOD, '''
def bernoulli_log_likelihood(x, logits):
    return torch.nn.functional.binary_cross_entropy_with_logits(
        logits, x.expand_as(logits), reduction="none").sum(-1)
'''),
    Misconception(
        "elbo_mean_over_batch", A, "elbo", ("elbo",),
        "averages over the batch: one number instead of one per data point",
        ("You averaged over the batch and returned one number. The function returns one ELBO per data point "
         "(the training loop averages them itself)."),
        READ_ELBO, '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn((n_samples, *mu.shape))
    return (bernoulli_log_likelihood(x, decoder(z)).mean(0) - gaussian_kl(mu, log_var)).mean()
''', statistical=True),
    Misconception(
        "lg_posterior_no_offset", A, "lg_posterior", ("lg_posterior",), "the posterior mean without the offset b",
        ("You left out the offset b in the posterior mean: the data enter as x - b, so m = S W^T (x - b) / s^2 "
         "(your formula is right only when b = 0)."),
        READ_LG_POSTERIOR, '''
def lg_posterior(x, W, b, noise_std):
    k = W.shape[1]
    S = torch.linalg.inv(torch.eye(k, dtype=W.dtype) + W.T @ W / noise_std**2)
    return S @ W.T @ x / noise_std**2, S
'''),
    Misconception(
        "kl_full_arguments_swapped", A, "gaussian_kl_full", ("gaussian_kl_full",),
        "computes KL(N1 || N0) instead of KL(N0 || N1)",
        ("You computed KL(N1 || N0): the KL is not symmetric. In KL(N0 || N1) the covariance that is inverted "
         "is cov1: 1/2 (tr(cov1^-1 cov0) + (mu1 - mu0)^T cov1^-1 (mu1 - mu0) - k + log det cov1 - log det cov0)."),
        READ_GAUSSIAN_KL_FULL, '''
def gaussian_kl_full(mu0, cov0, mu1, cov1):
    k = mu0.shape[0]
    diff = mu0 - mu1
    return 0.5 * (torch.trace(torch.linalg.solve(cov0, cov1)) + diff @ torch.linalg.solve(cov0, diff) - k
                  + torch.logdet(cov0) - torch.logdet(cov1))
'''),
    Misconception(
        "lg_elbo_no_entropy", A, "lg_elbo", ("lg_elbo",), "the entropy of q left out",
        ("You left out the entropy of q: ELBO = E_q[log p(x | z)] + E_q[log p(z)] - E_q[log q(z)], and "
         "-E_q[log q(z)] = 1/2 (k (1 + log 2 pi) + log det q_cov)."),
        READ_LG_ELBO, '''
def lg_elbo(x, W, b, noise_std, q_mean, q_cov):
    d, k = W.shape
    s2 = noise_std**2
    residual = x - W @ q_mean - b
    expected_log_lik = -0.5 * (d * math.log(2 * math.pi * s2)
                               + (residual @ residual + torch.trace(W.T @ W @ q_cov)) / s2)
    expected_log_prior = -0.5 * (k * math.log(2 * math.pi) + q_mean @ q_mean + torch.trace(q_cov))
    return expected_log_lik + expected_log_prior
'''),
    Misconception(
        "lg_elbo_trace_without_w", A, "lg_elbo", ("lg_elbo",), "tr(q_cov) where tr(W^T W q_cov) belongs",
        ("In E_q[log p(x | z)] the spread of q enters through W: E||x - W z - b||^2 = ||x - W m - b||^2 + "
         "tr(W^T W q_cov). You used tr(q_cov), which forgets that z is mapped by W."),
        READ_LG_ELBO, '''
def lg_elbo(x, W, b, noise_std, q_mean, q_cov):
    d, k = W.shape
    s2 = noise_std**2
    residual = x - W @ q_mean - b
    expected_log_lik = -0.5 * (d * math.log(2 * math.pi * s2) + (residual @ residual + torch.trace(q_cov)) / s2)
    expected_log_prior = -0.5 * (k * math.log(2 * math.pi) + q_mean @ q_mean + torch.trace(q_cov))
    entropy = 0.5 * (k * (1.0 + math.log(2 * math.pi)) + torch.logdet(q_cov))
    return expected_log_lik + expected_log_prior + entropy
'''),
    Misconception(
        "iwae_q_scale_is_variance", A, "iwae_bound", ("iwae_bound",),
        "log q(z|x) from torch.distributions.Normal(mu, exp(log_var)): the variance passed as the scale",
        ("You built q(z | x) as Normal(mu, exp(log_var)), but Normal's second argument is the standard "
         "deviation: pass exp(log_var / 2). With the variance there, log q and so every weight is wrong."),
        READ_IWAE_BOUND, '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn((n_samples, *mu.shape))
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_q = torch.distributions.Normal(mu, torch.exp(log_var)).log_prob(z).sum(-1)
    log_w = bernoulli_log_likelihood(x, decoder(z)) + log_prior - log_q
    return torch.logsumexp(log_w, dim=0) - math.log(n_samples)
''', statistical=True),
]

register(A, HELPERS, MISCONCEPTIONS)
