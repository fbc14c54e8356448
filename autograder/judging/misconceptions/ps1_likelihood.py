"""ps1_likelihood: what students get wrong in its graded functions, each defined by a wrong implementation
(grader side only; see autograder/judging/misconceptions/__init__.py)."""

from __future__ import annotations

from ..sections import Reading
from . import Misconception, register

A = "ps1_likelihood"

# the notebook's other graded functions, correct: what the wrong implementations below may call
HELPERS = '''
import math

import torch


def log_sum_exp(a, dim):
    m = a.max(dim=dim, keepdim=True).values
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return (m + torch.log(torch.exp(a - m).sum(dim=dim, keepdim=True))).squeeze(dim)
'''

READ_GAUSSIAN_LOG_LIKELIHOOD = Reading("ch1-log-likelihood-section", "The log-likelihood")
READ_LOG_SUM_EXP = Reading("ch1-logsumexp-section", "Adding probabilities in log space: log-sum-exp")
READ_GAUSSIAN_MLE = Reading("ch1-gradient-ascent", "Maximum likelihood by gradient ascent")
READ_MIXTURE_LOG_MARGINAL = Reading("ch2-marginal-section", "The marginal likelihood is an integral")
READ_MC_LOG_MARGINAL = Reading("ch2-naive-mc", "Naive Monte Carlo over the prior")

MISCONCEPTIONS = [
    # --------------------------------------------------------------------------------- gaussian_log_likelihood
    Misconception(
        "loglik_sigma_as_variance", A, "gaussian_log_likelihood", ('gaussian_log_likelihood',),
        'sigma used where sigma^2 belongs (sigma read as a variance)',
        ('You used sigma where the formula has sigma^2: in log N(x | mu, sigma^2) = -1/2 log(2 pi sigma^2) - '
         '(x - mu)^2 / (2 sigma^2) the argument sigma is a standard deviation, so it has to be squared in both'
         ' terms.'),
        READ_GAUSSIAN_LOG_LIKELIHOOD, '''
def gaussian_log_likelihood(x, mu, sigma):
    return (-0.5 * torch.log(2 * math.pi * torch.as_tensor(sigma)) - (x - mu) ** 2 / (2 * sigma)).sum()
'''),
    Misconception(
        "loglik_mean_not_sum", A, "gaussian_log_likelihood", ('gaussian_log_likelihood',),
        'mean over data points instead of the sum',
        ('You averaged the log-densities of the data points instead of adding them. The likelihood of an '
         "i.i.d. data set is the product of the points' densities, so its log is their sum; the mean is a "
         'different number (n times smaller).'),
        READ_GAUSSIAN_LOG_LIKELIHOOD, '''
def gaussian_log_likelihood(x, mu, sigma):
    sigma = torch.as_tensor(sigma)
    return (-0.5 * torch.log(2 * math.pi * sigma**2) - (x - mu) ** 2 / (2 * sigma**2)).mean()
'''),
    Misconception(
        "loglik_item_float", A, "gaussian_log_likelihood", ('gaussian_log_likelihood',),
        'returns a Python float (.item()) where a 0-dim tensor is promised',
        ('You returned a Python number (.item() or float()) instead of a 0-dim tensor. The result must stay a '
         'tensor so that autograd can differentiate it when the log-likelihood is maximised.'),
        READ_GAUSSIAN_LOG_LIKELIHOOD, '''
def gaussian_log_likelihood(x, mu, sigma):
    sigma = torch.as_tensor(sigma, dtype=x.dtype)
    return (-0.5 * torch.log(2 * math.pi * sigma**2) - (x - mu) ** 2 / (2 * sigma**2)).sum().item()
'''),
    Misconception(
        "loglik_per_point", A, "gaussian_log_likelihood", ('gaussian_log_likelihood',),
        'returns the per-point log-densities (n,) instead of their sum (right only in shape (1,) for n = 1)',
        ('You returned one log-density per data point instead of their sum. The log-likelihood of the whole '
         'data set is one number: the sum of log N(x_i | mu, sigma^2) over all points.'),
        READ_GAUSSIAN_LOG_LIKELIHOOD, '''
def gaussian_log_likelihood(x, mu, sigma):
    sigma = torch.as_tensor(sigma, dtype=x.dtype)
    return -0.5 * torch.log(2 * math.pi * sigma**2) - (x - mu) ** 2 / (2 * sigma**2)
'''),
    Misconception(
        "loglik_tensor_methods", A, "gaussian_log_likelihood", ('gaussian_log_likelihood',),
        'calls sigma.log(): fails for a Python float sigma, which the docstring allows',
        ('You called a tensor method on sigma (sigma.log()), but sigma may arrive as a plain Python float, as '
         'the docstring allows. Convert it first (torch.as_tensor(sigma)) or use math/torch functions that '
         'accept both.'),
        READ_GAUSSIAN_LOG_LIKELIHOOD, '''
def gaussian_log_likelihood(x, mu, sigma):
    return (-0.5 * math.log(2 * math.pi) - sigma.log() - (x - mu) ** 2 / (2 * sigma**2)).sum()
'''),
    # --------------------------------------------------------------------------------------------- log_sum_exp
    Misconception(
        "lse_naive", A, "log_sum_exp", ('log_sum_exp',),
        'naive log(sum(exp(a))): overflows to inf for a = 1000',
        ('You computed log(sum(exp(a))) directly: exp overflows to inf for entries near 1000 (and underflows '
         'to 0 near -1000). Subtract the maximum of each slice first and add it back after the log.'),
        READ_LOG_SUM_EXP, '''
def log_sum_exp(a, dim):
    return torch.log(torch.exp(a).sum(dim=dim))
'''),
    Misconception(
        "lse_max_not_added_back", A, "log_sum_exp", ('log_sum_exp',),
        'subtracts the maximum but forgets to add it back',
        ('You subtracted the maximum before exponentiating but did not add it back after the log. log sum '
         'exp(a) = m + log sum exp(a - m): without the + m every answer is off by the maximum.'),
        READ_LOG_SUM_EXP, '''
def log_sum_exp(a, dim):
    m = a.max(dim=dim, keepdim=True).values
    return torch.log(torch.exp(a - m).sum(dim=dim))
'''),
    Misconception(
        "lse_ignores_dim_last", A, "log_sum_exp", ('log_sum_exp',),
        'ignores dim and always reduces the last dimension',
        ('Your function always reduces the last dimension, whatever dim says. The maximum and the sum must '
         'both be taken along the dimension the caller asks for.'),
        READ_LOG_SUM_EXP, '''
def log_sum_exp(a, dim):
    m = a.max(dim=-1, keepdim=True).values
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return (m + torch.log(torch.exp(a - m).sum(dim=-1, keepdim=True))).squeeze(-1)
'''),
    Misconception(
        "lse_ignores_dim_first", A, "log_sum_exp", ('log_sum_exp',),
        'ignores dim and always reduces dimension 0',
        ('Your function always reduces dimension 0, whatever dim says. The maximum and the sum must both be '
         'taken along the dimension the caller asks for.'),
        READ_LOG_SUM_EXP, '''
def log_sum_exp(a, dim):
    m = a.max(dim=0, keepdim=True).values
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return (m + torch.log(torch.exp(a - m).sum(dim=0, keepdim=True))).squeeze(0)
'''),
    Misconception(
        "lse_nan_for_all_minus_inf", A, "log_sum_exp", ('log_sum_exp',),
        'subtracts the maximum without guarding a row that is entirely -inf: -inf - (-inf) gives nan',
        ('When a whole slice is -inf your maximum is -inf, and a - max gives -inf - (-inf) = nan. Replace an '
         'infinite maximum by 0 before subtracting it (the answer for such a slice is -inf: log 0).'),
        READ_LOG_SUM_EXP, '''
def log_sum_exp(a, dim):
    m = a.max(dim=dim, keepdim=True).values
    return (m + torch.log(torch.exp(a - m).sum(dim=dim, keepdim=True))).squeeze(dim)
'''),
    Misconception(
        "lse_keepdim", A, "log_sum_exp", ('log_sum_exp',),
        'keeps the reduced dimension (keepdim=True): the wrong shape',
        ('You kept the reduced dimension (keepdim=True), so your result has an extra dimension of size 1. '
         'Remove it (squeeze(dim)) so the result has the shape of a without dimension dim.'),
        READ_LOG_SUM_EXP, '''
def log_sum_exp(a, dim):
    m = a.max(dim=dim, keepdim=True).values
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return m + torch.log(torch.exp(a - m).sum(dim=dim, keepdim=True))
'''),
    Misconception(
        "lse_global_max", A, "log_sum_exp", ('log_sum_exp',),
        'subtracts one maximum of the whole array: a slice far below it underflows to -inf',
        ('You subtracted one maximum of the whole array instead of the maximum of each slice. A slice far '
         'below the global maximum then underflows to exp(...) = 0 and its log becomes -inf.'),
        READ_LOG_SUM_EXP, '''
def log_sum_exp(a, dim):
    m = a.max()
    m = m if torch.isfinite(m) else torch.zeros_like(m)
    return m + torch.log(torch.exp(a - m).sum(dim=dim))
'''),
    # -------------------------------------------------------------------------------------------- gaussian_mle
    Misconception(
        "mle_unbiased_std", A, "gaussian_mle", ('gaussian_mle',),
        'torch.std (1/(n-1)) instead of the maximum-likelihood 1/n',
        ('You used torch.std, which divides by n - 1. The maximum-likelihood estimate of sigma divides by n '
         '(set the derivative of the log-likelihood to zero): use unbiased=False or compute it yourself.'),
        READ_GAUSSIAN_MLE, '''
def gaussian_mle(x):
    return x.mean(), x.std()
'''),
    Misconception(
        "mle_variance", A, "gaussian_mle", ('gaussian_mle',),
        'returns the variance where the standard deviation is asked',
        ('You returned the variance where the standard deviation is asked. The maximum-likelihood sigma is the'
         ' square root of the 1/n average of (x - mu_hat)^2.'),
        READ_GAUSSIAN_MLE, '''
def gaussian_mle(x):
    mu_hat = x.mean()
    return mu_hat, ((x - mu_hat) ** 2).mean()
'''),
    Misconception(
        "mle_floats", A, "gaussian_mle", ('gaussian_mle',),
        'returns Python floats (.item()) where 0-dim tensors are promised',
        ('You returned Python numbers (.item()) instead of 0-dim tensors. Keep mu_hat and sigma_hat as '
         'tensors, as the docstring promises.'),
        READ_GAUSSIAN_MLE, '''
def gaussian_mle(x):
    mu_hat = x.mean()
    return mu_hat.item(), torch.sqrt(((x - mu_hat) ** 2).mean()).item()
'''),
    Misconception(
        "mle_stacked", A, "gaussian_mle", ('gaussian_mle',),
        'returns one tensor of shape (2,) instead of the tuple (mu_hat, sigma_hat)',
        ('You returned one tensor holding both numbers instead of a tuple (mu_hat, sigma_hat). Return the two '
         '0-dim tensors as a tuple.'),
        READ_GAUSSIAN_MLE, '''
def gaussian_mle(x):
    mu_hat = x.mean()
    return torch.stack([mu_hat, torch.sqrt(((x - mu_hat) ** 2).mean())])
'''),
    # ------------------------------------------------------------------------------------ mixture_log_marginal
    Misconception(
        "mixture_no_weights", A, "mixture_log_marginal", ('mixture_log_marginal',),
        'forgets the mixture weights log pi_c',
        ("You left out the mixture weights: p(x) = sum_c pi_c N(x | mu_c, sigma_c^2), so each component's log-"
         'density needs + log pi_c before the log-sum-exp.'),
        READ_MIXTURE_LOG_MARGINAL, '''
def mixture_log_marginal(x, log_weights, means, sigmas):
    x = x[:, None]
    log_joint = -0.5 * torch.log(2 * math.pi * sigmas**2) - (x - means) ** 2 / (2 * sigmas**2)
    return log_sum_exp(log_joint, dim=1)
'''),
    Misconception(
        "mixture_naive_sum", A, "mixture_log_marginal", ('mixture_log_marginal',),
        'sums densities outside log space: -inf in the tails',
        ('You added the densities outside log space. Far in the tails every density underflows to 0 and the '
         'log becomes -inf; add log pi_c + log N(...) in log space and combine them with log-sum-exp.'),
        READ_LOG_SUM_EXP, '''
def mixture_log_marginal(x, log_weights, means, sigmas):
    x = x[:, None]
    densities = torch.exp(log_weights) * torch.exp(-(x - means) ** 2 / (2 * sigmas**2)) / torch.sqrt(
        2 * math.pi * sigmas**2)
    return torch.log(densities.sum(dim=1))
'''),
    Misconception(
        "mixture_weights_as_logs", A, "mixture_log_marginal", ('mixture_log_marginal',),
        'adds the weights pi_c instead of their logs in log space',
        ('You added the weights pi_c to the log-densities, but in log space a product pi_c * N(...) becomes '
         'log pi_c + log N(...). The argument log_weights already holds log pi_c: add it as it is.'),
        READ_MIXTURE_LOG_MARGINAL, '''
def mixture_log_marginal(x, log_weights, means, sigmas):
    x = x[:, None]
    log_joint = log_weights.exp() - 0.5 * torch.log(2 * math.pi * sigmas**2) - (x - means) ** 2 / (2 * sigmas**2)
    return log_sum_exp(log_joint, dim=1)
'''),
    # ----------------------------------------------------------------------------------------- mc_log_marginal
    Misconception(
        "mc_mean_of_logs", A, "mc_log_marginal", ('mc_log_marginal_given_z',),
        'mean of log p(x|z) instead of the log of the mean',
        ('You averaged log p(x | z_s) over the samples, but the estimate is the log of the average of p(x | '
         "z_s). The mean of logs is smaller (Jensen's inequality): use log-sum-exp minus log S."),
        READ_LOG_SUM_EXP, '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    if z is None:
        z = torch.randn(n_samples)
    return log_likelihood(x[None, :], z[:, None]).mean(0)
'''),
    Misconception(
        "mc_no_log_s", A, "mc_log_marginal", ('mc_log_marginal_given_z',),
        'log-sum-exp without the -log S (a sum, not a mean)',
        ('You took the log-sum-exp of log p(x | z_s) but forgot to subtract log S: that is the log of the sum '
         'of the S terms, not of their average.'),
        READ_MC_LOG_MARGINAL, '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    if z is None:
        z = torch.randn(n_samples)
    return log_sum_exp(log_likelihood(x[None, :], z[:, None]), dim=0)
'''),
    Misconception(
        "mc_divides_by_n_samples", A, "mc_log_marginal", ('mc_log_marginal_given_z',),
        'with z given, divides by n_samples instead of the number of given samples (red team, 2026-12-05)',
        ('When z is given you divided by n_samples instead of the number of samples you actually averaged '
         "(len(z)). S is the number of z's used; n_samples only says how many to draw when z is None."),
        READ_MC_LOG_MARGINAL, '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    if z is None:
        z = torch.randn(n_samples)
    return log_sum_exp(log_likelihood(x[None, :], z[:, None]), dim=0) - math.log(n_samples)
'''),
    Misconception(
        "mc_uniform_prior", A, "mc_log_marginal", ('mc_log_marginal',),
        'draws z with torch.rand (uniform on [0, 1]) instead of the N(0, 1) prior',
        ('You drew z with torch.rand, which is uniform on [0, 1). Naive Monte Carlo averages p(x | z) over '
         'samples of the prior N(0, 1): use torch.randn.'),
        READ_MC_LOG_MARGINAL, '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    if z is None:
        z = torch.rand(n_samples)
    return log_sum_exp(log_likelihood(x[None, :], z[:, None]), dim=0) - math.log(len(z))
''', statistical=True),
    Misconception(
        "mc_fixed_seed", A, "mc_log_marginal", ('mc_log_marginal',),
        "a fixed seed inside the function: every call returns the same 'random' estimate",
        ("You fix the random seed inside the function, so every call returns the same 'random' estimate. A "
         'Monte Carlo estimator must draw fresh samples on every call; seed once outside if you want '
         'reproducible runs.'),
        READ_MC_LOG_MARGINAL, '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    if z is None:
        torch.manual_seed(0)
        z = torch.randn(n_samples, dtype=x.dtype)
    return log_sum_exp(log_likelihood(x[None, :], z[:, None]), dim=0) - math.log(len(z))
''', statistical=True, frozen=True),
    Misconception(
        "mc_n_minus_one", A, "mc_log_marginal", ('mc_log_marginal',),
        'divides the sum by S - 1 (log(S - 1)): infinite for one sample, twice too large for two',
        ('You divided the sum by S - 1 (subtracted log(S - 1)). An average of S samples divides by S; with one'
         ' sample your estimate becomes infinite.'),
        READ_MC_LOG_MARGINAL, '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    if z is None:
        z = torch.randn(n_samples, dtype=x.dtype)
    return log_sum_exp(log_likelihood(x[None, :], z[:, None]), dim=0) - math.log(len(z) - 1)
''', statistical=True),
    Misconception(
        "mc_samples_like_x", A, "mc_log_marginal", ('mc_log_marginal',),
        'draws randn_like(x): one sample per data point instead of n_samples',
        ("You drew as many z's as there are data points (randn_like(x)) instead of n_samples of them. The "
         'estimate must average n_samples prior samples for every data point.'),
        READ_MC_LOG_MARGINAL, '''
def mc_log_marginal(x, log_likelihood, n_samples, z=None):
    if z is None:
        z = torch.randn_like(x)
    return log_sum_exp(log_likelihood(x[None, :], z[:, None]), dim=0) - math.log(len(z))
''', statistical=True),
    # ---------------------------------------------------------------------------------------------------------
    # added after the first blind measurement (bench/RESULTS.md): bugs the catalogue did not hold, written anew
    Misconception(
        "loglik_half_missing", A, "gaussian_log_likelihood", ("gaussian_log_likelihood",),
        "the normaliser without its 1/2: -log(2 pi sigma^2) instead of -1/2 log(2 pi sigma^2)",
        ("You left out the 1/2 in front of the normaliser: log N(x | mu, sigma^2) = -1/2 log(2 pi sigma^2) - "
         "(x - mu)^2 / (2 sigma^2), the square root of 2 pi sigma^2 in the density becoming a 1/2 in the log."),
        READ_GAUSSIAN_LOG_LIKELIHOOD, '''
def gaussian_log_likelihood(x, mu, sigma):
    sigma = torch.as_tensor(sigma, dtype=x.dtype)
    return (-torch.log(2 * math.pi * sigma**2) - (x - mu) ** 2 / (2 * sigma**2)).sum()
'''),
    Misconception(
        "lse_max_without_keepdim", A, "log_sum_exp", ("log_sum_exp",),
        "subtracts a maximum taken without keepdim: it broadcasts along the wrong axis unless dim is the first",
        ("You took the maximum without keepdim=True and subtracted it: a max over dim loses that dimension, so "
         "a - m lines it up with the wrong axis (a shape error, or wrong values). Keep the dimension, subtract, "
         "then squeeze it."),
        READ_LOG_SUM_EXP, '''
def log_sum_exp(a, dim):
    m = a.max(dim=dim).values
    return m + torch.log(torch.exp(a - m).sum(dim=dim))
'''),
    Misconception(
        "mle_list", A, "gaussian_mle", ("gaussian_mle",),
        "returns a list [mu_hat, sigma_hat] where the tuple is promised",
        ("You returned a list; the docstring promises a tuple (mu_hat, sigma_hat). Return the two tensors "
         "with parentheses (or return mu_hat, sigma_hat)."),
        READ_GAUSSIAN_MLE, '''
def gaussian_mle(x):
    mu_hat = x.mean()
    return [mu_hat, torch.sqrt(((x - mu_hat) ** 2).mean())]
'''),
    Misconception(
        "mixture_sigma_as_variance", A, "mixture_log_marginal", ("mixture_log_marginal",),
        "the component sigmas used as variances",
        ("You used sigma_c where the Gaussian needs sigma_c^2: the sigmas are standard deviations, so "
         "log N(x | mu_c, sigma_c^2) = -1/2 log(2 pi sigma_c^2) - (x - mu_c)^2 / (2 sigma_c^2)."),
        READ_MIXTURE_LOG_MARGINAL, '''
def mixture_log_marginal(x, log_weights, means, sigmas):
    x = x[:, None]
    log_joint = log_weights - 0.5 * torch.log(2 * math.pi * sigmas) - (x - means) ** 2 / (2 * sigmas)
    return log_sum_exp(log_joint, dim=1)
'''),
    Misconception(
        "mixture_lse_over_points", A, "mixture_log_marginal", ("mixture_log_marginal",),
        "log-sum-exp over the data points (dim 0) instead of the components",
        ("You took the log-sum-exp over the data points instead of over the components: p(x_i) sums the "
         "components c for each point i, so reduce the (n, C) matrix along dim 1."),
        READ_MIXTURE_LOG_MARGINAL, '''
def mixture_log_marginal(x, log_weights, means, sigmas):
    x = x[:, None]
    log_joint = log_weights - 0.5 * torch.log(2 * math.pi * sigmas**2) - (x - means) ** 2 / (2 * sigmas**2)
    return log_sum_exp(log_joint, dim=0)
'''),
]

register(A, HELPERS, MISCONCEPTIONS)
