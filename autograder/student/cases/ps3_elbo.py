"""ps3_elbo: how each check draws its cases and calls the student's function.

Student side: mounted in the grading sandbox, so it holds inputs only, never an answer.

The matching judges (references, tolerances, messages) are in autograder/judging/ps3_elbo.py, never mounted.
"""

from __future__ import annotations

import numpy as np

from ..probes import Probe, register_probe
from .common import as_tensor, away_from_one, recording, repeated_calls, scaling_case, split_signs, upstream_value


def _gaussian_kl_cases(rng: np.random.Generator, kind: str) -> list[dict]:
    if kind == "visible":
        return [{"mu": [[0.0, 0.0]], "log_var": [[0.0, 0.0]]},
                {"mu": [[1.0, -2.0]], "log_var": [[0.5, -1.0]]}]
    return [{"mu": rng.normal(0, 2, size=(b, d)).tolist(), "log_var": rng.normal(0, 1.5, size=(b, d)).tolist()}
            for b, d in [(1, 1), (7, 3), (32, 16)]]


def _gaussian_kl_call(func, case):
    import torch

    return func(torch.tensor(case["mu"], dtype=torch.float32), torch.tensor(case["log_var"], dtype=torch.float32))


register_probe(Probe("gaussian_kl", cases=_gaussian_kl_cases, call=_gaussian_kl_call))


def _bernoulli_cases(rng, kind):
    if kind == "visible":
        return [{"x": np.array([[1.0, 0.0]]), "logits": np.array([[0.0, 0.0]])},
                {"x": np.array([[1.0, 0.0, 1.0]]), "logits": np.array([[2.0, -1.0, 0.0]])}]
    x = (rng.random((3, 10)) < 0.5).astype(np.float64)
    logits = rng.normal(0, 3, size=(5, 3, 10))
    # saturated pixels, in every draw: logits of +-[89, 100] (exp overflows float32 above 88.7; sigmoid rounds to 0
    # or 1), each sign with x = 1 and with x = 0
    logits[0, :, :2], logits[0, :, 2:4] = rng.uniform(89, 100, (3, 2)), -rng.uniform(89, 100, (3, 2))
    x[:, :4] = [[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 0, 1]]
    logits[1, :, :4] = split_signs(rng, 40, 89, size=(3, 4))
    grey = rng.random((4, 7))
    two_leading = rng.normal(0, 3, size=(2, 3, 2, 6))  # logits (2, 3, batch 2, x_dim 6): any leading dimensions
    return [{"x": x, "logits": logits}, {"x": grey, "logits": rng.normal(0, 2, size=(4, 7))},
            {"x": (rng.random((2, 6)) < 0.5).astype(np.float64), "logits": two_leading}]


def _bernoulli_call(func, case):
    return func(as_tensor(case["x"]), as_tensor(case["logits"]))


register_probe(Probe("bernoulli_log_likelihood", cases=_bernoulli_cases, call=_bernoulli_call))


# --- the ELBO and the IWAE bound of a small fixed encoder/decoder ---------------------------------------------
VAE_X_DIM, VAE_Z_DIM, VAE_HIDDEN = 12, 2, 8


def _tiny_vae(rng, batch: int, mu_offset: np.ndarray, log_var_offset: np.ndarray) -> dict:
    """Plain arrays for encoder(x) = (x A + a, x C + c) and decoder(z) = tanh(z W1 + b1) W2 + b2 (logits)."""
    return {
        "x": (rng.random((batch, VAE_X_DIM)) < 0.5).astype(np.float64),
        "A": rng.normal(0, 0.3, (VAE_X_DIM, VAE_Z_DIM)), "a": mu_offset,
        "C": rng.normal(0, 0.1, (VAE_X_DIM, VAE_Z_DIM)), "c": log_var_offset,
        "W1": np.clip(rng.normal(0, 1.0, (VAE_Z_DIM, VAE_HIDDEN)), -2.5, 2.5), "b1": rng.normal(0, 0.5, VAE_HIDDEN),
        "W2": rng.normal(0, 1.5, (VAE_HIDDEN, VAE_X_DIM)), "b2": rng.normal(0, 0.5, VAE_X_DIM),
    }


def _tiny_vae_cases(rng) -> list[dict]:
    """Two networks: q far from the prior and narrow (mean offsets of size 1.5-2.5, log-variances near -2), and q
    wide (log-variances of size 0.8-1.5, either sign): together they expose prior samples, a missing or wrong KL
    and every sigma / sigma^2 / log-variance confusion."""
    far = _tiny_vae(rng, 3, split_signs(rng, 1.5, 2.5, VAE_Z_DIM), rng.uniform(-2.5, -1.5, VAE_Z_DIM))
    wide = _tiny_vae(rng, 3, rng.normal(0, 0.5, VAE_Z_DIM), split_signs(rng, 0.8, 1.5, VAE_Z_DIM))
    return [far, wide]


def _extreme_vae(rng) -> dict:
    """A network whose decoder is sure of the wrong pixels of the first image (logits of size 100 against it):
    log p(x | z) is about -1,200 nats for it (-600 for the others), so exp(log w) underflows to 0 even in float64
    and only a log-sum-exp that subtracts the maximum survives."""
    case = _tiny_vae(rng, 3, rng.normal(0, 0.5, VAE_Z_DIM), rng.uniform(-1.0, 0.0, VAE_Z_DIM))
    case["b2"] = -100.0 * (2 * case["x"][0] - 1)
    return case


def tiny_vae_parameters(case, dtype: str = "float32") -> dict:
    return {k: as_tensor(case[k], dtype) for k in ("A", "a", "C", "c", "W1", "b1", "W2", "b2")}


def tiny_vae_modules(case, dtype: str = "float32", parameters: dict | None = None):
    """(encoder, decoder), two new functions on every call; ``parameters`` (tiny_vae_parameters) saves converting
    the arrays again when a case is called many times."""
    import torch

    p = parameters if parameters is not None else tiny_vae_parameters(case, dtype)

    def encoder(x):
        """x (batch, x_dim) -> (mu, log_var), each (batch, z_dim); log_var is the log-variance."""
        return x @ p["A"] + p["a"], x @ p["C"] + p["c"]

    def decoder(z):
        """z (..., z_dim) -> Bernoulli logits (..., x_dim)."""
        return torch.tanh(z @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]

    return encoder, decoder


def _with_plan(cases: list[dict], plan) -> list[dict]:
    """One case per (network, n_samples, calls) of ``plan``, the network given by its index in ``cases``."""
    return [dict(cases[network], n_samples=n_samples, calls=calls) for network, n_samples, calls in plan]


# (network: 0 far, 1 wide; n_samples; calls). The smallest sample sizes (a 1/(n_samples - 1) bias is largest there,
# n_samples = 1 must work) on 40 cheap calls, judged robustly; 500 samples on 40 calls, judged on mean and spread.
ELBO_PLAN = [(0, 1, 40), (1, 2, 40), (0, 500, 40), (1, 500, 40)]
ELBO_VISIBLE = (1000, 10)
ELBO_SCALING = (50, 500)  # and a scaling case on the far network: the spread must shrink like 1 / n_samples


def _elbo_cases(rng, kind):
    if kind == "visible":
        n_samples, calls = ELBO_VISIBLE
        return _with_plan([_tiny_vae(rng, 2, np.array([0.5, -0.5]), np.array([-1.0, 0.5]))], [(0, n_samples, calls)])
    networks = _tiny_vae_cases(rng)
    return [*_with_plan(networks, ELBO_PLAN), scaling_case(networks[0], ELBO_SCALING)]


def _elbo_call(func, case):
    """Calls the student's elbo `calls` times (fresh noise each call), and records what the student's own
    gaussian_kl gives for q(z | x) (see upstream_value)."""
    parameters = tiny_vae_parameters(case)

    def once():
        encoder, decoder = tiny_vae_modules(case, parameters=parameters)
        return func(as_tensor(case["x"]), encoder, decoder, case["n_samples"])

    encoder, _ = tiny_vae_modules(case)
    return repeated_calls(case["calls"], once), upstream_value(func, "gaussian_kl", *encoder(as_tensor(case["x"])))


register_probe(Probe("elbo", cases=_elbo_cases, call=_elbo_call))


# (network: 0 far, 1 wide, 2 extreme; K; calls): K = 8 on the two networks (judged against a reference run), and
# K = 1, which is one sample of log p(x, z) - log q(z | x), judged by quadrature: on the extreme network, and on the
# far one with 200 calls (there E[L_1] is nats below E[L_8]: a function that ignores K fails it)
IWAE_PLAN = [(0, 8, 200), (1, 8, 200), (2, 1, 40), (0, 1, 200)]
IWAE_VISIBLE = (8, 200)


# The hidden K = 8 networks come from a fixed pool, the same for every student; each submission's seed picks one far
# and one wide network from it. Their reference moments cost about 0.2 CPU-s each (autograder.judging.ps3_elbo), so
# the judges compute them once per batch while the workers start (autograder.judge_server.warm_up), not once per
# submission. The K = 1 case (judged by quadrature, cheap) is drawn per submission.
IWAE_POOL_SEED = 20261202
IWAE_POOL_SIZE = 4


def iwae_pool() -> list[list[dict]]:
    """IWAE_POOL_SIZE pairs [far, wide] of networks (_tiny_vae_cases), the same on every call."""
    return [_tiny_vae_cases(np.random.default_rng([IWAE_POOL_SEED, index])) for index in range(IWAE_POOL_SIZE)]


def _iwae_cases(rng, kind):
    if kind == "visible":
        n_samples, calls = IWAE_VISIBLE
        return _with_plan([_tiny_vae(rng, 2, np.array([0.5, -0.5]), np.array([-1.0, 0.5]))], [(0, n_samples, calls)])
    pool = iwae_pool()
    far, wide = pool[rng.integers(IWAE_POOL_SIZE)][0], pool[rng.integers(IWAE_POOL_SIZE)][1]
    return [*_with_plan([far, wide, _extreme_vae(rng)], IWAE_PLAN),
            dict(far, x=far["x"][:1], n_samples=IWAE_RECORDED[0], calls=IWAE_RECORDED[1], recorded=True)]


# a K = 8 case on ONE data point whose calls also record every z the decoder is given (K, calls): the judge
# recomputes L_K from exactly those samples, and looks for antithetic pairs
IWAE_RECORDED = (8, 5)


def _iwae_call(func, case):
    """Calls the student's iwae_bound `calls` times (fresh noise each call); in the recorded case each call's result
    comes with every z the decoder was given, as rows (count, z_dim)."""
    parameters = tiny_vae_parameters(case)

    def once():
        encoder, decoder = tiny_vae_modules(case, parameters=parameters)
        if not case.get("recorded"):
            return func(as_tensor(case["x"]), encoder, decoder, case["n_samples"])
        decoder, inputs = recording(decoder, width=VAE_Z_DIM)
        return func(as_tensor(case["x"]), encoder, decoder, case["n_samples"]), inputs()

    return repeated_calls(case["calls"], once)


register_probe(Probe("iwae_bound", cases=_iwae_cases, call=_iwae_call))


def _lg_cases(rng, kind):
    if kind == "visible":
        return [{"x": np.array([1.0, 0.0]), "W": np.array([[1.0], [0.0]]), "b": np.array([0.0, 0.0]),
                 "noise_std": 1.0, "q_mean": np.array([0.5]), "q_cov": np.array([[0.5]])}]
    cases = []
    for d, k in [(5, 2), (4, 3), (3, 1)]:
        w, b = rng.normal(size=(d, k)), rng.normal(size=d)
        s = float(away_from_one(rng))
        x = w @ rng.normal(size=k) + b + s * rng.normal(size=d)
        m = rng.normal(size=(k, k))
        cases.append({"x": x, "W": w, "b": b, "noise_std": s, "q_mean": rng.normal(size=k),
                      "q_cov": m @ m.T + 0.2 * np.eye(k)})
    return cases


def _lg_args(case):
    return as_tensor(case["x"], "float64"), as_tensor(case["W"], "float64"), as_tensor(case["b"], "float64"), \
        float(case["noise_std"])


register_probe(Probe("lg_log_marginal", cases=_lg_cases, call=lambda func, case: func(*_lg_args(case))))


register_probe(Probe("lg_posterior", cases=_lg_cases, call=lambda func, case: func(*_lg_args(case))))


def _kl_full_cases(rng, kind):
    if kind == "visible":
        return [{"mu0": np.array([1.0]), "cov0": np.array([[2.0]]), "mu1": np.array([0.0]), "cov1": np.array([[1.0]])}]
    cases = []
    for k in (1, 2, 4):
        a, c = rng.normal(size=(k, k)), rng.normal(size=(k, k))
        cases.append({"mu0": rng.normal(size=k), "cov0": a @ a.T + 0.3 * np.eye(k), "mu1": rng.normal(size=k),
                      "cov1": c @ c.T + 0.3 * np.eye(k)})
    return cases


def _kl_full_call(func, case):
    return func(*(as_tensor(case[k], "float64") for k in ("mu0", "cov0", "mu1", "cov1")))


register_probe(Probe("gaussian_kl_full", cases=_kl_full_cases, call=_kl_full_call))


def _lg_elbo_call(func, case):
    return func(*_lg_args(case), as_tensor(case["q_mean"], "float64"), as_tensor(case["q_cov"], "float64"))


register_probe(Probe("lg_elbo", cases=_lg_cases, call=_lg_elbo_call))
