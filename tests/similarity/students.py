"""Independently written, correct ps3_elbo students: the similarity report's "never alike" cases.

Each student answers every code cell of ps3_elbo in their own way: STUDENTS[name] maps each answer cell's grade_id
to the code the student wrote (function definitions, with helpers or comments where students write them). The elbo
and iwae_bound answers are the alternative correct implementations of tests/submissions/alternatives.py; the others
are written here, each differing from the rest as independent students' code does (torch.distributions, Cholesky
factors, loops, einsum, the Woodbury identity, other notebook functions reused). The solution's own answers are one
more student. tests/test_similarity_cases.py checks that every student is correct (against the solution).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT / "tests" / "submissions") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests" / "submissions"))

from alternatives import ALTERNATIVES  # noqa: E402

ASSIGNMENT = "ps3_elbo"
FUNCTIONS = ("gaussian_kl", "bernoulli_log_likelihood", "elbo", "lg_log_marginal", "lg_posterior",
             "gaussian_kl_full", "lg_elbo", "iwae_bound")

WRITTEN: dict[str, list[str]] = {
    "gaussian_kl": ['''
def gaussian_kl(mu, log_var):
    var = torch.exp(log_var)
    kl = 0.5 * torch.sum(var + mu * mu - 1 - log_var, dim=1)
    return kl
''', '''
def gaussian_kl(mu, log_var):
    # closed form of KL(N(mu, s^2) || N(0, 1)) per dimension, then summed
    sigma2 = log_var.exp()
    per_dim = -0.5 * (1 + log_var - mu.pow(2) - sigma2)
    return per_dim.sum(dim=-1)
''', '''
def gaussian_kl(mu, log_var):
    q = torch.distributions.Normal(mu, torch.exp(0.5 * log_var))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return torch.distributions.kl_divergence(q, p).sum(-1)
''', '''
def gaussian_kl(mu, log_var):
    out = []
    for m, lv in zip(mu, log_var):
        total = torch.zeros((), dtype=mu.dtype)
        for j in range(m.shape[0]):
            total = total + 0.5 * (m[j] ** 2 + torch.exp(lv[j]) - 1.0 - lv[j])
        out.append(total)
    return torch.stack(out)
''', '''
def gaussian_kl(mu, log_var):
    std = torch.exp(log_var / 2)
    # log(std^2) is log_var again, written out to follow the lecture's formula
    return 0.5 * (mu.square() + std.square() - torch.log(std.square()) - 1).sum(axis=-1)
'''],
    "bernoulli_log_likelihood": ['''
def bernoulli_log_likelihood(x, logits):
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
    return -bce.sum(-1)
''', '''
def bernoulli_log_likelihood(x, logits):
    log_p = torch.nn.functional.logsigmoid(logits)
    log_not_p = torch.nn.functional.logsigmoid(-logits)  # log(1 - sigmoid(l)) without cancellation
    return (x * log_p + (1 - x) * log_not_p).sum(dim=-1)
''', '''
def bernoulli_log_likelihood(x, logits):
    dist = torch.distributions.Bernoulli(logits=logits, validate_args=False)
    return dist.log_prob(x.expand_as(logits)).sum(-1)
''', '''
def bernoulli_log_likelihood(x, logits):
    # stable softplus: max(l, 0) + log(1 + exp(-|l|))
    softplus = torch.clamp(logits, min=0) + torch.log1p(torch.exp(-torch.abs(logits)))
    return (x * logits - softplus).sum(-1)
''', '''
def bernoulli_log_likelihood(x, logits):
    return -(torch.logaddexp(torch.zeros_like(logits), logits) - x * logits).sum(dim=-1)
'''],
    "lg_log_marginal": ['''
def lg_log_marginal(x, W, b, noise_std):
    d = W.shape[0]
    C = W @ W.T + noise_std ** 2 * torch.eye(d, dtype=W.dtype)
    return torch.distributions.MultivariateNormal(b, covariance_matrix=C).log_prob(x)
''', '''
def lg_log_marginal(x, W, b, noise_std):
    D = x.shape[-1]
    cov = W.matmul(W.t()) + (noise_std ** 2) * torch.eye(D, dtype=W.dtype)
    L = torch.linalg.cholesky(cov)
    r = x - b
    y = torch.linalg.solve_triangular(L, r.unsqueeze(-1), upper=False).squeeze(-1)
    logdet = 2 * torch.log(torch.diagonal(L)).sum()
    return -0.5 * (y @ y) - 0.5 * logdet - 0.5 * D * math.log(2 * math.pi)
''', '''
def _woodbury_terms(W, noise_std):
    k = W.shape[1]
    s2 = noise_std ** 2
    M = torch.eye(k, dtype=W.dtype) + W.T @ W / s2
    return M, s2


def lg_log_marginal(x, W, b, noise_std):
    # Woodbury identity and the matrix determinant lemma: only k x k matrices
    d = W.shape[0]
    M, s2 = _woodbury_terms(W, noise_std)
    r = x - b
    Wr = W.T @ r
    quad = (r @ r) / s2 - Wr @ torch.linalg.solve(M, Wr) / s2 ** 2
    logdet = d * math.log(s2) + torch.logdet(M)
    return -0.5 * (quad + logdet + d * math.log(2 * math.pi))
''', '''
def lg_log_marginal(x, W, b, noise_std):
    n = len(x)
    sigma = W @ W.transpose(0, 1) + torch.diag(torch.full((n,), noise_std ** 2, dtype=W.dtype))
    sign, logabsdet = torch.linalg.slogdet(sigma)
    centered = (x - b).unsqueeze(1)
    maha = (centered.T @ torch.linalg.inv(sigma) @ centered).squeeze()
    return -0.5 * n * math.log(2 * math.pi) - 0.5 * logabsdet - 0.5 * maha
''', '''
def lg_log_marginal(x, W, b, noise_std):
    cov = torch.addmm(noise_std ** 2 * torch.eye(x.numel(), dtype=W.dtype), W, W.T)
    evals, evecs = torch.linalg.eigh(cov)
    proj = evecs.T @ (x - b)  # coordinates in the eigenbasis
    return -0.5 * (torch.sum(torch.log(2 * math.pi * evals)) + torch.sum(proj ** 2 / evals))
'''],
    "lg_posterior": ['''
def lg_posterior(x, W, b, noise_std):
    latent = W.size(1)
    s2 = noise_std * noise_std
    A = s2 * torch.eye(latent, dtype=W.dtype) + W.t() @ W
    S = s2 * torch.linalg.inv(A)
    m = torch.linalg.solve(A, W.t() @ (x - b))
    return m, S
''', '''
def lg_posterior(x, W, b, noise_std):
    # condition the joint Gaussian of (z, x) on x
    d, k = W.shape
    C = W @ W.T + noise_std ** 2 * torch.eye(d, dtype=W.dtype)
    gain = W.T @ torch.linalg.inv(C)  # (k, d)
    mean = gain @ (x - b)
    cov = torch.eye(k, dtype=W.dtype) - gain @ W
    return mean, cov
''', '''
def lg_posterior(x, W, b, noise_std):
    k = W.shape[-1]
    prec = W.T.matmul(W) / noise_std ** 2 + torch.eye(k, dtype=W.dtype)
    L = torch.linalg.cholesky(prec)
    cov = torch.cholesky_inverse(L)
    mean = torch.cholesky_solve((W.T.matmul(x - b) / noise_std ** 2).unsqueeze(-1), L).squeeze(-1)
    return mean, cov
''', '''
def lg_posterior(x, W, b, noise_std):
    n_latent = W.shape[1]
    inv_var = 1.0 / noise_std ** 2
    post_prec = torch.einsum("dk,dl->kl", W, W) * inv_var + torch.eye(n_latent, dtype=W.dtype)
    post_cov = torch.inverse(post_prec)
    post_mean = torch.einsum("kl,dl,d->k", post_cov, W, x - b) * inv_var
    return post_mean, post_cov
''', '''
def lg_posterior(x, W, b, noise_std):
    I = torch.eye(W.shape[1], dtype=W.dtype)
    Sigma = torch.linalg.solve(I + W.T @ W / noise_std**2, I)
    Sigma = 0.5 * (Sigma + Sigma.T)  # exactly symmetric
    mu = Sigma @ W.T @ (x - b) / noise_std**2
    return mu, Sigma
'''],
    "gaussian_kl_full": ['''
def gaussian_kl_full(mu0, cov0, mu1, cov1):
    p = torch.distributions.MultivariateNormal(mu0, covariance_matrix=cov0)
    q = torch.distributions.MultivariateNormal(mu1, covariance_matrix=cov1)
    return torch.distributions.kl_divergence(p, q)
''', '''
def gaussian_kl_full(mu0, cov0, mu1, cov1):
    k = len(mu0)
    inv1 = torch.linalg.inv(cov1)
    delta = mu1 - mu0
    term_trace = torch.trace(inv1 @ cov0)
    term_quad = delta @ inv1 @ delta
    term_logdet = torch.logdet(cov1) - torch.logdet(cov0)
    return 0.5 * (term_trace + term_quad - k + term_logdet)
''', '''
def gaussian_kl_full(mu0, cov0, mu1, cov1):
    L1 = torch.linalg.cholesky(cov1)
    L0 = torch.linalg.cholesky(cov0)
    M = torch.linalg.solve_triangular(L1, L0, upper=False)
    y = torch.linalg.solve_triangular(L1, (mu1 - mu0).unsqueeze(-1), upper=False).squeeze(-1)
    log_det_ratio = 2 * (torch.log(torch.diagonal(L1)).sum() - torch.log(torch.diagonal(L0)).sum())
    return 0.5 * ((M ** 2).sum() + (y ** 2).sum() - mu0.shape[0] + log_det_ratio)
''', '''
def gaussian_kl_full(mu0, cov0, mu1, cov1):
    dim = mu0.numel()
    _, ld0 = torch.linalg.slogdet(cov0)
    _, ld1 = torch.linalg.slogdet(cov1)
    # one solve for the trace term and the Mahalanobis term together
    sol = torch.linalg.solve(cov1, torch.cat([cov0, (mu1 - mu0).unsqueeze(1)], dim=1))
    tr = torch.diagonal(sol[:, :dim]).sum()
    mahal = torch.dot(mu1 - mu0, sol[:, dim])
    return (tr + mahal - dim + ld1 - ld0) / 2
''', '''
def gaussian_kl_full(mu0, cov0, mu1, cov1):
    k = cov0.shape[0]
    cov1_inv = torch.cholesky_inverse(torch.linalg.cholesky(cov1))
    diff = (mu0 - mu1).reshape(-1, 1)
    kl = torch.sum(cov1_inv * cov0.T) + (diff.T @ cov1_inv @ diff).squeeze() - k
    kl = kl + torch.log(torch.linalg.det(cov1) / torch.linalg.det(cov0))
    return kl / 2
'''],
    "lg_elbo": ['''
def lg_elbo(x, W, b, noise_std, q_mean, q_cov):
    d = x.shape[0]
    k = q_mean.shape[0]
    var = noise_std ** 2
    err = x - (W @ q_mean + b)
    rec = -0.5 * d * math.log(2 * math.pi * var) - 0.5 * (err.dot(err) + torch.trace(W @ q_cov @ W.T)) / var
    kl = 0.5 * (torch.trace(q_cov) + q_mean.dot(q_mean) - k - torch.logdet(q_cov))
    return rec - kl
''', '''
def lg_elbo(x, W, b, noise_std, q_mean, q_cov):
    d, k = W.shape
    s2 = noise_std**2
    r = x - b - W @ q_mean
    E_loglik = (-0.5 * d * math.log(2 * math.pi) - d * math.log(noise_std) - 0.5 * (r @ r) / s2
                - 0.5 * torch.sum((W.T @ W) * q_cov) / s2)
    kl = gaussian_kl_full(q_mean, q_cov, torch.zeros(k, dtype=W.dtype), torch.eye(k, dtype=W.dtype))
    return E_loglik - kl
''', '''
def lg_elbo(x, W, b, noise_std, q_mean, q_cov):
    from torch.distributions import MultivariateNormal, Normal
    k = q_mean.shape[0]
    q = MultivariateNormal(q_mean, covariance_matrix=q_cov)
    prior = MultivariateNormal(torch.zeros(k, dtype=q_cov.dtype), covariance_matrix=torch.eye(k, dtype=q_cov.dtype))
    lik = Normal(W @ q_mean + b, noise_std).log_prob(x).sum() - 0.5 * torch.trace(W @ q_cov @ W.T) / noise_std**2
    return lik - torch.distributions.kl_divergence(q, prior)
''', '''
def lg_elbo(x, W, b, noise_std, q_mean, q_cov):
    dim_x, dim_z = W.shape
    L = torch.linalg.cholesky(q_cov)
    mean_pred = b + W @ q_mean
    sq_err = torch.sum((x - mean_pred) ** 2) + torch.sum((W @ L) ** 2)
    log_lik = -0.5 * sq_err / noise_std ** 2 - dim_x * (math.log(noise_std) + 0.5 * math.log(2 * math.pi))
    log_prior = -0.5 * (torch.sum(q_mean ** 2) + torch.sum(L ** 2)) - 0.5 * dim_z * math.log(2 * math.pi)
    entropy = torch.sum(torch.log(torch.diagonal(L))) + 0.5 * dim_z * (1 + math.log(2 * math.pi))
    return log_lik + log_prior + entropy
''', '''
def lg_elbo(x, W, b, noise_std, q_mean, q_cov):
    # ELBO = log p(x) - KL(q || p(z | x)), both exact here
    m, S = lg_posterior(x, W, b, noise_std)
    return lg_log_marginal(x, W, b, noise_std) - gaussian_kl_full(q_mean, q_cov, m, S)
'''],
}


def _alternatives(function: str) -> list[str]:
    return [v.source for v in ALTERNATIVES if v.assignment == ASSIGNMENT and v.function == function]


def _solution_answers() -> dict[str, str]:
    """The solution's answers (what a student who writes exactly the model answer hands in)."""
    import json

    notebook = json.loads((ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text(encoding="utf-8"))
    answers = {}
    for cell in notebook["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in FUNCTIONS:
            source = "".join(cell["source"])
            answers[grade_id] = "\n".join(line for line in source.split("\n") if "### " not in line)
    return answers


def _students() -> dict[str, dict[str, str]]:
    implementations = {f: WRITTEN.get(f) or _alternatives(f) for f in FUNCTIONS}
    count = min(len(v) for v in implementations.values())
    students = {f"independent_{i + 1}": {f: implementations[f][i].strip("\n") + "\n" for f in FUNCTIONS}
                for i in range(count)}
    students["independent_model_answer"] = _solution_answers()
    return students


STUDENTS = _students()


def body_lines(code: str, function: str) -> tuple[list[str], list[str], list[str]]:
    """(lines before ``def function``, the lines of its body after any docstring, lines after it) of a student's
    answer; the function's signature must fit on its ``def`` line."""
    lines = code.rstrip("\n").split("\n")
    for node in ast.parse(code).body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            start = node.body[0].end_lineno if ast.get_docstring(node) is not None else node.lineno
            return lines[:node.lineno - 1], lines[start:node.end_lineno], lines[node.end_lineno:]
    raise KeyError(function)
