"""ps4_gradients: what students get wrong in its graded functions, each defined by a wrong implementation
(grader side only; see autograder/judging/misconceptions/__init__.py). train_vae has none: a trained model depends on
every choice of its training, so no implementation's outputs can stand for a misconception."""

from __future__ import annotations

from ..sections import Reading
from . import Misconception, register

A = "ps4_gradients"

# the notebook's other graded functions, correct: what the wrong implementations below may call
HELPERS = '''
import math

import torch


def gaussian_kl(mu, log_var):
    return 0.5 * (mu**2 + log_var.exp() - 1.0 - log_var).sum(-1)


def bernoulli_log_likelihood(x, logits):
    return (x * logits - torch.nn.functional.softplus(logits)).sum(-1)


def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * log_var) * eps
'''

READ_REPARAMETERIZE = Reading("ch6-trick", "The trick: move the randomness into an input")
READ_SCORE_FUNCTION_GRADIENT = Reading("ch6-score-function", "The score-function estimator")
READ_PATHWISE_GRADIENT = Reading("ch6-pathwise", "The pathwise estimator")
READ_GRADIENT_VARIANCES = Reading("ch6-variance", "The price: variance")
READ_DECODER_GRADIENT = Reading("ch5-theta-gradient", "The gradient with respect to θ")
READ_TRAINING_STEP = Reading("ch4-training-step", "One training step, by hand")

MISCONCEPTIONS = [
    # ------------------------------------------------------------------------------------------ reparameterize
    Misconception(
        "reparam_variance_as_scale", A, "reparameterize", ('reparameterize',),
        'sigma^2 used where sigma belongs: mu + exp(log_var) * eps',
        'You scaled eps by exp(log_var), the variance. z = mu + sigma * eps with sigma = exp(log_var / 2).',
        READ_REPARAMETERIZE, '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.randn_like(mu)
    return mu + torch.exp(log_var) * eps
'''),
    Misconception(
        "reparam_detach", A, "reparameterize", ('reparameterize',),
        '.detach() cuts the pathwise gradient',
        ('You cut the gradient (.detach() or torch.no_grad()). The whole point of the trick is that z = mu + '
         'sigma * eps stays differentiable in mu and log_var.'),
        READ_REPARAMETERIZE, '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.randn_like(mu)
    return (mu + torch.exp(0.5 * log_var) * eps).detach()
'''),
    Misconception(
        "reparam_uniform_noise", A, "reparameterize", ('reparameterize',),
        'torch.rand_like (uniform) instead of torch.randn_like when eps is None',
        ('You drew the noise with torch.rand_like (uniform on [0, 1)). The trick needs standard normal noise: '
         'torch.randn_like.'),
        READ_REPARAMETERIZE, '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.rand_like(mu)
    return mu + torch.exp(0.5 * log_var) * eps
''', statistical=True),
    Misconception(
        "reparam_sampling_variance_scale", A, "reparameterize", ('reparameterize',),
        'correct for a given eps, but the sampling branch scales by exp(log_var) (sigma^2)',
        ('When you draw the noise yourself you scale it by exp(log_var), the variance; with eps given you use '
         'the right exp(log_var / 2). Both branches need sigma = exp(log_var / 2).'),
        READ_REPARAMETERIZE, '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        return mu + torch.exp(log_var) * torch.randn_like(mu)
    return mu + torch.exp(0.5 * log_var) * eps
''', statistical=True),
    Misconception(
        "reparam_fixed_seed", A, "reparameterize", ('reparameterize',),
        'a fixed seed when eps is None: every call draws the same noise',
        ('You fix the seed when drawing the noise, so every call returns the same z. Draw fresh noise on every'
         ' call.'),
        READ_REPARAMETERIZE, '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(0))
    return mu + torch.exp(0.5 * log_var) * eps
''', statistical=True, frozen=True),
    Misconception(
        "reparam_one_noise_row", A, "reparameterize", ('reparameterize',),
        'one noise vector of size z_dim shared by every row of the batch',
        ('You drew one noise vector and shared it by every row of the batch. Each data point needs its own '
         'independent noise: draw eps of the shape of mu.'),
        READ_REPARAMETERIZE, '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.randn(mu.shape[-1])
    return mu + torch.exp(0.5 * log_var) * eps
''', statistical=True),
    Misconception(
        "reparam_student_t_noise", A, "reparameterize", ('reparameterize',),
        "Student-t(30) noise when eps is None (variance 30/28: 'almost normal')",
        'You drew Student-t noise. The reparameterization of N(mu, sigma^2) needs standard normal noise.',
        READ_REPARAMETERIZE, '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.distributions.StudentT(30.0).sample(mu.shape)
    return mu + torch.exp(0.5 * log_var) * eps
''', statistical=True),
    Misconception(
        "reparam_unit_variance_t_noise", A, "reparameterize", ('reparameterize',),
        'Student-t(30) noise rescaled to variance 1: right mean and variance, wrong shape',
        ('You drew noise with mean 0 and variance 1 that is not normal (a rescaled Student-t). Matching the '
         'variance is not enough: z = mu + sigma * eps is N(mu, sigma^2) only for normal eps.'),
        READ_REPARAMETERIZE, '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.distributions.StudentT(30.0).sample(mu.shape) * (28.0 / 30.0) ** 0.5
    return mu + torch.exp(0.5 * log_var) * eps
''', statistical=True),
    Misconception(
        "reparam_unit_variance_uniform_noise", A, "reparameterize", ('reparameterize',),
        'uniform noise centred and scaled to variance 1 (torch.rand_like, then (u - 0.5) * sqrt(12))',
        ('You drew uniform noise scaled to variance 1. Matching the variance is not enough: z = mu + sigma * '
         'eps is N(mu, sigma^2) only for standard normal eps.'),
        READ_REPARAMETERIZE, '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = (torch.rand_like(mu) - 0.5) * 12.0 ** 0.5
    return mu + torch.exp(0.5 * log_var) * eps
''', statistical=True),
    Misconception(
        "reparam_laplace_noise", A, "reparameterize", ('reparameterize',),
        'Laplace noise of variance 1 (torch.distributions.Laplace(0, 1/sqrt(2)))',
        ('You drew Laplace noise of variance 1. Matching the variance is not enough: z = mu + sigma * eps is '
         'N(mu, sigma^2) only for standard normal eps.'),
        READ_REPARAMETERIZE, '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.distributions.Laplace(0.0, 2.0 ** -0.5).sample(mu.shape)
    return mu + torch.exp(0.5 * log_var) * eps
''', statistical=True),
    Misconception(
        "reparam_detached_when_drawn", A, "reparameterize", ('reparameterize',),
        'right with eps given, but torch.normal(mu, sigma).detach() when it draws the noise itself',
        ('When eps is None you sample with torch.normal (or .detach()), which gives no gradient to mu and '
         'log_var. Draw eps = torch.randn_like(mu) and return mu + sigma * eps in both branches.'),
        READ_REPARAMETERIZE, '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        return torch.normal(mu, torch.exp(0.5 * log_var)).detach()
    return mu + torch.exp(0.5 * log_var) * eps
'''),
    Misconception(
        "reparam_eps_reshaped", A, "reparameterize", ('reparameterize',),
        'reshapes eps to the shape of mu: fails for eps with extra leading dimensions',
        ('You reshaped eps to the shape of mu, which fails when eps has extra leading dimensions (several '
         'samples per data point). Let broadcasting do the work: mu + sigma * eps.'),
        READ_REPARAMETERIZE, '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * log_var) * eps.reshape(mu.shape)
'''),
    # --------------------------------------------------------------------------------- score_function_gradient
    Misconception(
        "score_missing_f", A, "score_function_gradient", ('score_function_gradient',),
        'score-function estimator missing f(z): averages the score alone',
        ('You averaged the score alone, without multiplying by f(z). The score-function estimator is the '
         'average of f(z) * d/dparam log q(z).'),
        READ_SCORE_FUNCTION_GRADIENT, '''
def score_function_gradient(f, mu, sigma, n_samples):
    eps = torch.randn(n_samples)
    return torch.stack([(eps / sigma).mean(), ((eps**2 - 1.0) / sigma).mean()])
''', statistical=True),
    Misconception(
        "score_missing_score", A, "score_function_gradient", ('score_function_gradient',),
        'score-function estimator missing the score: averages f(z)',
        ('You averaged f(z) without multiplying by the score d/dparam log q(z): that estimates E[f(z)], not '
         'its gradient.'),
        READ_SCORE_FUNCTION_GRADIENT, '''
def score_function_gradient(f, mu, sigma, n_samples):
    fz = f(mu + sigma * torch.randn(n_samples))
    return torch.stack([fz.mean(), fz.mean()])
''', statistical=True),
    Misconception(
        "score_d_variance", A, "score_function_gradient", ('score_function_gradient',),
        "d/dsigma^2 log q (the variance's score) used for d/dsigma",
        ('For d/dsigma you used the score of the variance, (eps^2 - 1) / (2 sigma^2). The parameter is the '
         'standard deviation sigma: its score is (eps^2 - 1) / sigma.'),
        READ_SCORE_FUNCTION_GRADIENT, '''
def score_function_gradient(f, mu, sigma, n_samples):
    eps = torch.randn(n_samples)
    fz = f(mu + sigma * eps)
    return torch.stack([(fz * eps / sigma).mean(), (fz * (eps**2 - 1.0) / (2 * sigma**2)).mean()])
''', statistical=True),
    Misconception(
        "score_baseline_f_of_mu", A, "score_function_gradient", ('score_function_gradient',),
        'a constant baseline f(mu): unbiased, but not the variance reduction the notebook allows (red team)',
        ('You subtracted f(mu) as a baseline. The notebook allows only the leave-one-out baseline (the mean of'
         ' f over the other samples); f(mu) also evaluates f at a point that is not a sample.'),
        READ_SCORE_FUNCTION_GRADIENT, '''
def score_function_gradient(f, mu, sigma, n_samples):
    eps = torch.randn(n_samples)
    fz = f(mu + sigma * eps) - f(torch.tensor([float(mu)]))
    return torch.stack([(fz * eps / sigma).mean(), (fz * (eps**2 - 1.0) / sigma).mean()])
'''),
    Misconception(
        "score_loo_over_n", A, "score_function_gradient", ('score_function_gradient',),
        'the leave-one-out baseline divided by n instead of n - 1 (red team, 2026-12-05)',
        ('Your leave-one-out baseline divides the sum of the OTHER samples by n instead of by their number, '
         'n - 1: the baseline for sample i is the mean of f over the n - 1 other samples.'),
        READ_SCORE_FUNCTION_GRADIENT, '''
def score_function_gradient(f, mu, sigma, n_samples):
    eps = torch.randn(n_samples)
    fz = f(mu + sigma * eps)
    fz = fz - (fz.sum() - fz) / n_samples
    return torch.stack([(fz * eps / sigma).mean(), (fz * (eps**2 - 1.0) / sigma).mean()])
'''),
    Misconception(
        "score_z_for_eps", A, "score_function_gradient", ('score_function_gradient',),
        'z where eps belongs in the score ((z / sigma) instead of (z - mu) / sigma^2)',
        ('You used z where eps belongs in the score. With z = mu + sigma * eps, d/dmu log q = (z - mu) / '
         'sigma^2 = eps / sigma and d/dsigma log q = (eps^2 - 1) / sigma.'),
        READ_SCORE_FUNCTION_GRADIENT, '''
def score_function_gradient(f, mu, sigma, n_samples):
    z = mu + sigma * torch.randn(n_samples)
    fz = f(z)
    return torch.stack([(fz * z / sigma).mean(), (fz * (z**2 - 1.0) / sigma).mean()])
''', statistical=True),
    Misconception(
        "score_is_pathwise", A, "score_function_gradient", ('score_function_gradient',),
        'the pathwise estimator (differentiates f) in place of the score function',
        ('You differentiated f (the pathwise estimator). The score-function estimator only evaluates f and '
         'multiplies by the score of q, which is why it works when f cannot be differentiated.'),
        READ_SCORE_FUNCTION_GRADIENT, '''
def score_function_gradient(f, mu, sigma, n_samples):
    mu_t = torch.tensor(float(mu), requires_grad=True)
    sigma_t = torch.tensor(float(sigma), requires_grad=True)
    objective = f(mu_t + sigma_t * torch.randn(n_samples)).mean()
    return torch.stack(torch.autograd.grad(objective, (mu_t, sigma_t)))
'''),
    Misconception(
        "score_quadrature", A, "score_function_gradient", ('score_function_gradient',),
        'the exact gradient by Gauss-Hermite quadrature of f(z) * score: no noise, ignores n_samples',
        ('You computed the exact gradient by quadrature instead of a Monte Carlo estimate from n_samples '
         'random samples.'),
        READ_SCORE_FUNCTION_GRADIENT, '''
def score_function_gradient(f, mu, sigma, n_samples):
    import numpy as np
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    eps = torch.tensor(nodes)
    w = torch.tensor(weights / weights.sum())
    fz = f(mu + sigma * eps)
    return torch.stack([(w * fz * eps / sigma).sum(), (w * fz * (eps**2 - 1) / sigma).sum()]).float()
''', statistical=True),
    Misconception(
        "score_fixed_seed", A, "score_function_gradient", ('score_function_gradient',),
        'a fixed seed inside the function: every call returns the same estimate',
        ('You fix the random seed inside the function, so every call returns the same estimate. Draw fresh '
         'samples on every call.'),
        READ_SCORE_FUNCTION_GRADIENT, '''
def score_function_gradient(f, mu, sigma, n_samples):
    torch.manual_seed(0)
    eps = torch.randn(n_samples)
    fz = f(mu + sigma * eps)
    return torch.stack([(fz * eps / sigma).mean(), (fz * (eps**2 - 1.0) / sigma).mean()])
''', statistical=True, frozen=True),
    Misconception(
        "score_fixed_samples", A, "score_function_gradient", ('score_function_gradient',),
        'ignores small n_samples: uses at least 10,000 samples',
        ('You use more samples than n_samples asks for. The estimate must average exactly n_samples samples: '
         'its variance is part of what is being studied.'),
        READ_SCORE_FUNCTION_GRADIENT, '''
def score_function_gradient(f, mu, sigma, n_samples):
    eps = torch.randn(max(n_samples, 10_000))
    fz = f(mu + sigma * eps)
    return torch.stack([(fz * eps / sigma).mean(), (fz * (eps**2 - 1.0) / sigma).mean()])
''', statistical=True),
    # --------------------------------------------------------------------------------------- pathwise_gradient
    Misconception(
        "pathwise_detach", A, "pathwise_gradient", ('pathwise_gradient',),
        '.detach() on z cuts the pathwise gradient',
        ('Your samples carry no gradient to mu and sigma (.detach(), or drawn under torch.no_grad()). The '
         'pathwise estimator differentiates f(mu + sigma * eps) through z.'),
        READ_PATHWISE_GRADIENT, '''
def pathwise_gradient(f, mu, sigma, n_samples):
    mu_t = torch.tensor(float(mu), requires_grad=True)
    sigma_t = torch.tensor(float(sigma), requires_grad=True)
    z = (mu_t + sigma_t * torch.randn(n_samples)).detach()
    grad_mu, grad_sigma = torch.autograd.grad(f(z).mean(), (mu_t, sigma_t))
    return torch.stack([grad_mu, grad_sigma])
'''),
    Misconception(
        "pathwise_sigma_squared", A, "pathwise_gradient", ('pathwise_gradient',),
        'sigma^2 where sigma belongs: z = mu + sigma**2 * eps',
        'You wrote z = mu + sigma^2 * eps. sigma is the standard deviation: z = mu + sigma * eps.',
        READ_PATHWISE_GRADIENT, '''
def pathwise_gradient(f, mu, sigma, n_samples):
    mu_t = torch.tensor(float(mu), requires_grad=True)
    sigma_t = torch.tensor(float(sigma), requires_grad=True)
    objective = f(mu_t + sigma_t**2 * torch.randn(n_samples)).mean()
    return torch.stack(torch.autograd.grad(objective, (mu_t, sigma_t)))
''', statistical=True),
    Misconception(
        "pathwise_sum_samples", A, "pathwise_gradient", ('pathwise_gradient',),
        'sums over the samples instead of averaging',
        'You summed f over the samples instead of averaging, so your gradient is n_samples times too large.',
        READ_PATHWISE_GRADIENT, '''
def pathwise_gradient(f, mu, sigma, n_samples):
    mu_t = torch.tensor(float(mu), requires_grad=True)
    sigma_t = torch.tensor(float(sigma), requires_grad=True)
    objective = f(mu_t + sigma_t * torch.randn(n_samples)).sum()
    return torch.stack(torch.autograd.grad(objective, (mu_t, sigma_t)))
''', statistical=True),
    Misconception(
        "pathwise_quadrature", A, "pathwise_gradient", ('pathwise_gradient',),
        "the exact gradient by quadrature of f'(mu + sigma eps): no noise, ignores n_samples",
        ('You computed the exact gradient by quadrature instead of a Monte Carlo estimate from n_samples '
         'random samples.'),
        READ_PATHWISE_GRADIENT, '''
def pathwise_gradient(f, mu, sigma, n_samples):
    import numpy as np
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    mu_t = torch.tensor(float(mu), requires_grad=True)
    sigma_t = torch.tensor(float(sigma), requires_grad=True)
    w = torch.tensor(weights / weights.sum(), dtype=torch.float32)
    objective = (w * f(mu_t + sigma_t * torch.tensor(nodes, dtype=torch.float32))).sum()
    return torch.stack(torch.autograd.grad(objective, (mu_t, sigma_t)))
''', statistical=True),
    Misconception(
        "pathwise_fixed_seed", A, "pathwise_gradient", ('pathwise_gradient',),
        'a fixed seed inside the function: every call returns the same estimate',
        ('You fix the random seed inside the function, so every call returns the same estimate. Draw fresh '
         'samples on every call.'),
        READ_PATHWISE_GRADIENT, '''
def pathwise_gradient(f, mu, sigma, n_samples):
    generator = torch.Generator().manual_seed(1234)
    mu_t = torch.tensor(float(mu), requires_grad=True)
    sigma_t = torch.tensor(float(sigma), requires_grad=True)
    objective = f(mu_t + sigma_t * torch.randn(n_samples, generator=generator)).mean()
    return torch.stack(torch.autograd.grad(objective, (mu_t, sigma_t)))
''', statistical=True, frozen=True),
    Misconception(
        "pathwise_is_score_function", A, "pathwise_gradient", ('pathwise_gradient',),
        'a score-function estimator in pathwise_gradient: the right mean, far too much spread',
        ('You used the score-function estimator in pathwise_gradient. Its mean is right but its variance is '
         'far larger; the pathwise estimator differentiates f(mu + sigma * eps) with autograd.'),
        READ_GRADIENT_VARIANCES, '''
def pathwise_gradient(f, mu, sigma, n_samples):
    eps = torch.randn(n_samples)
    fz = f(mu + sigma * eps)
    return torch.stack([(fz * eps / sigma).mean(), (fz * (eps**2 - 1.0) / sigma).mean()])
''', statistical=True),
    Misconception(
        "pathwise_fixed_samples", A, "pathwise_gradient", ('pathwise_gradient',),
        'ignores n_samples: always 5,000 samples',
        ('You use a fixed number of samples instead of n_samples. The estimate must average exactly n_samples '
         'samples.'),
        READ_PATHWISE_GRADIENT, '''
def pathwise_gradient(f, mu, sigma, n_samples):
    mu_t = torch.tensor(float(mu), requires_grad=True)
    sigma_t = torch.tensor(float(sigma), requires_grad=True)
    objective = f(mu_t + sigma_t * torch.randn(5_000)).mean()
    return torch.stack(torch.autograd.grad(objective, (mu_t, sigma_t)))
''', statistical=True),
    # -------------------------------------------------------------------------------------- gradient_variances
    Misconception(
        "variances_std", A, "gradient_variances", ('gradient_variances',),
        'returns standard deviations instead of variances',
        'You returned standard deviations instead of variances: square them (or use .var()).',
        READ_GRADIENT_VARIANCES, '''
def gradient_variances(f, mu, sigma, eps):
    fz = f(mu + sigma * eps)
    score = torch.stack([fz * eps / sigma, fz * (eps**2 - 1.0) / sigma])
    mu_t = torch.full_like(eps, float(mu), requires_grad=True)
    sigma_t = torch.full_like(eps, float(sigma), requires_grad=True)
    pathwise = torch.stack(torch.autograd.grad(f(mu_t + sigma_t * eps).sum(), (mu_t, sigma_t)))
    return torch.stack([score.std(dim=1), pathwise.std(dim=1)])
'''),
    Misconception(
        "variances_of_mean", A, "gradient_variances", ('gradient_variances',),
        "variance of the average of n samples (divided by n) instead of one sample's variance",
        ('You divided the variances by n: that is the variance of the AVERAGE of n samples. The question asks '
         "for the variance of one sample's estimate."),
        READ_GRADIENT_VARIANCES, '''
def gradient_variances(f, mu, sigma, eps):
    fz = f(mu + sigma * eps)
    score = torch.stack([fz * eps / sigma, fz * (eps**2 - 1.0) / sigma])
    mu_t = torch.full_like(eps, float(mu), requires_grad=True)
    sigma_t = torch.full_like(eps, float(sigma), requires_grad=True)
    pathwise = torch.stack(torch.autograd.grad(f(mu_t + sigma_t * eps).sum(), (mu_t, sigma_t)))
    return torch.stack([score.var(dim=1), pathwise.var(dim=1)]) / len(eps)
'''),
    # ---------------------------------------------------------------------------------------- decoder_gradient
    Misconception(
        "decoder_grad_prior_samples", A, "decoder_gradient", ('decoder_gradient',),
        'samples z from the prior instead of q(z|x)',
        ('You sampled z from the prior N(0, I) instead of from q(z | x) = N(mu, sigma^2). The gradient of the '
         'ELBO averages over samples of q.'),
        READ_DECODER_GRADIENT, '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    z = torch.randn((n_samples, *mu.shape))
    objective = bernoulli_log_likelihood(x, decoder(z)).mean(0).sum()
    return torch.autograd.grad(objective, list(decoder.parameters()))
''', statistical=True),
    Misconception(
        "decoder_grad_not_zeroed", A, "decoder_gradient", ('decoder_gradient',),
        ".backward() without zeroing the decoder's gradients first: adds to what was there (red team)",
        ("You called .backward() without zeroing the decoder's gradients first, so the old gradients were "
         'added to the new ones. Zero them first, or use torch.autograd.grad.'),
        READ_TRAINING_STEP, '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    z = reparameterize(mu, log_var, torch.randn(n_samples, *mu.shape))
    bernoulli_log_likelihood(x, decoder(z)).mean(0).sum().backward()
    return [p.grad for p in decoder.parameters()]
'''),
    Misconception(
        "decoder_grad_of_loss", A, "decoder_gradient", ('decoder_gradient',),
        'returns the gradient of the loss (-ELBO), the wrong sign',
        ('You returned the gradient of the loss (-ELBO): the wrong sign. The function returns the gradient of '
         'the ELBO itself.'),
        READ_DECODER_GRADIENT, '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    z = reparameterize(mu, log_var, torch.randn((n_samples, *mu.shape)))
    loss = -bernoulli_log_likelihood(x, decoder(z)).mean(0).sum()
    return torch.autograd.grad(loss, list(decoder.parameters()))
''', statistical=True),
    Misconception(
        "decoder_grad_mean_pixels", A, "decoder_gradient", ('decoder_gradient',),
        'mean over pixels instead of the sum in log p(x|z)',
        ('You averaged log p(x | z) over the pixels instead of summing, which shrinks the gradient by the '
         'number of pixels.'),
        READ_DECODER_GRADIENT, '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    z = reparameterize(mu, log_var, torch.randn((n_samples, *mu.shape)))
    logits = decoder(z)
    objective = (x * logits - torch.nn.functional.softplus(logits)).mean(-1).mean(0).sum()
    return torch.autograd.grad(objective, list(decoder.parameters()))
''', statistical=True),
    Misconception(
        "decoder_grad_fixed_seed", A, "decoder_gradient", ('decoder_gradient',),
        'a fixed seed inside the function: every call returns the same estimate',
        ('You fix the random seed inside the function, so every call returns the same estimate. Draw fresh '
         'samples on every call.'),
        READ_DECODER_GRADIENT, '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    torch.manual_seed(0)
    z = reparameterize(mu, log_var, torch.randn((n_samples, *mu.shape)))
    objective = bernoulli_log_likelihood(x, decoder(z)).mean(0).sum()
    return torch.autograd.grad(objective, list(decoder.parameters()))
''', statistical=True, frozen=True),
    Misconception(
        "decoder_grad_n_minus_one", A, "decoder_gradient", ('decoder_gradient',),
        'averages the samples with 1/(n_samples - 1)',
        ('You divided the sum over samples by n_samples - 1. An average of n samples divides by n; with one '
         'sample the gradient is infinite.'),
        READ_DECODER_GRADIENT, '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    z = reparameterize(mu, log_var, torch.randn((n_samples, *mu.shape)))
    objective = bernoulli_log_likelihood(x, decoder(z)).sum(0).sum() / (n_samples - 1)
    return torch.autograd.grad(objective, list(decoder.parameters()))
''', statistical=True),
    Misconception(
        "decoder_grad_mean_over_batch", A, "decoder_gradient", ('decoder_gradient',),
        'averages over the data points instead of summing (the gradient of the mean ELBO)',
        ('You averaged over the data points instead of summing. The function returns the gradient of the '
         "batch's ELBO, the sum over data points."),
        READ_DECODER_GRADIENT, '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    z = reparameterize(mu, log_var, torch.randn((n_samples, *mu.shape)))
    objective = bernoulli_log_likelihood(x, decoder(z)).mean()
    return torch.autograd.grad(objective, list(decoder.parameters()))
''', statistical=True),
    Misconception(
        "decoder_grad_fixed_samples", A, "decoder_gradient", ('decoder_gradient',),
        'ignores n_samples: always 500 samples per data point',
        ('You use a fixed number of samples instead of n_samples. The estimate must average exactly n_samples '
         'samples per data point.'),
        READ_DECODER_GRADIENT, '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    z = reparameterize(mu, log_var, torch.randn((500, *mu.shape)))
    objective = bernoulli_log_likelihood(x, decoder(z)).mean(0).sum()
    return torch.autograd.grad(objective, list(decoder.parameters()))
''', statistical=True),
    # ---------------------------------------------------------------------------------------------------------
    # added after the first blind measurement (bench/RESULTS.md): bugs the catalogue did not hold, written anew
    Misconception(
        "reparam_torch_normal", A, "reparameterize", ("reparameterize",),
        "torch.normal(mu, sigma) when it draws the noise: a sample, but no gradient to mu and log_var",
        ("When eps is None you sample with torch.normal(mu, sigma): the right distribution, but torch.normal "
         "passes no gradient to mu and log_var. Draw eps = torch.randn_like(mu) and return mu + sigma * eps."),
        READ_REPARAMETERIZE, '''
def reparameterize(mu, log_var, eps=None):
    if eps is None:
        return torch.normal(mu, torch.exp(0.5 * log_var))
    return mu + torch.exp(0.5 * log_var) * eps
'''),
    Misconception(
        "score_mean_baseline", A, "score_function_gradient", ("score_function_gradient",),
        "subtracts the mean of f over ALL samples (itself included) as the baseline",
        ("You subtracted the mean of f over all the samples, each sample's own f included: that baseline "
         "depends on the sample and biases the estimate (it is 0 for one sample). Leave the sample itself out: "
         "the mean of f over the OTHER n - 1 samples."),
        READ_SCORE_FUNCTION_GRADIENT, '''
def score_function_gradient(f, mu, sigma, n_samples):
    eps = torch.randn(n_samples)
    fz = f(mu + sigma * eps)
    fz = fz - fz.mean()
    return torch.stack([(fz * eps / sigma).mean(), (fz * (eps**2 - 1.0) / sigma).mean()])
''', statistical=True),
    Misconception(
        "score_mu_times_sigma", A, "score_function_gradient", ("score_function_gradient",),
        "the score for mu written eps * sigma instead of eps / sigma",
        ("Your score for mu is eps * sigma; it is d/dmu log q(z) = (z - mu) / sigma^2 = eps / sigma."),
        READ_SCORE_FUNCTION_GRADIENT, '''
def score_function_gradient(f, mu, sigma, n_samples):
    eps = torch.randn(n_samples)
    fz = f(mu + sigma * eps)
    return torch.stack([(fz * eps * sigma).mean(), (fz * (eps**2 - 1.0) / sigma).mean()])
''', statistical=True),
    Misconception(
        "pathwise_log_sigma", A, "pathwise_gradient", ("pathwise_gradient",),
        "differentiates with respect to log sigma and returns that as d/dsigma",
        ("You differentiated with respect to log sigma (sigma = exp(log_sigma)) and returned that gradient: "
         "d/dlog sigma = sigma * d/dsigma. Differentiate with respect to sigma itself (or divide by sigma)."),
        READ_PATHWISE_GRADIENT, '''
def pathwise_gradient(f, mu, sigma, n_samples):
    mu_t = torch.tensor(float(mu), requires_grad=True)
    log_sigma = torch.tensor(math.log(sigma), requires_grad=True)
    objective = f(mu_t + torch.exp(log_sigma) * torch.randn(n_samples)).mean()
    return torch.stack(torch.autograd.grad(objective, (mu_t, log_sigma)))
''', statistical=True),
    Misconception(
        "variances_pathwise_missing_eps", A, "gradient_variances", ("gradient_variances",),
        "the pathwise d/dsigma per sample taken as f'(z), without the chain rule's factor eps",
        ("Your pathwise d/dsigma per sample is f'(z), the same as d/dmu: the chain rule gives d/dsigma "
         "f(mu + sigma eps) = f'(z) * eps."),
        READ_GRADIENT_VARIANCES, '''
def gradient_variances(f, mu, sigma, eps):
    fz = f(mu + sigma * eps)
    score = torch.stack([fz * eps / sigma, fz * (eps**2 - 1.0) / sigma])
    z = (mu + sigma * eps).clone().requires_grad_(True)
    (df,) = torch.autograd.grad(f(z).sum(), z)
    return torch.stack([score.var(dim=1), torch.stack([df, df]).var(dim=1)])
'''),
    Misconception(
        "variances_transposed", A, "gradient_variances", ("gradient_variances",),
        "returns the table transposed: rows the parameters, columns the estimators",
        ("Your table is transposed: row 0 must be the score-function estimator and row 1 the pathwise one, "
         "with the columns d/dmu and d/dsigma."),
        READ_GRADIENT_VARIANCES, '''
def gradient_variances(f, mu, sigma, eps):
    fz = f(mu + sigma * eps)
    score = torch.stack([fz * eps / sigma, fz * (eps**2 - 1.0) / sigma])
    mu_t = torch.full_like(eps, float(mu), requires_grad=True)
    sigma_t = torch.full_like(eps, float(sigma), requires_grad=True)
    pathwise = torch.stack(torch.autograd.grad(f(mu_t + sigma_t * eps).sum(), (mu_t, sigma_t)))
    return torch.stack([score.var(dim=1), pathwise.var(dim=1)]).T
'''),
]

register(A, HELPERS, MISCONCEPTIONS)
