"""ps4_gradients: how each check draws its cases and calls the student's function.

Student side: mounted in the grading sandbox, so it holds inputs only, never an answer.

The matching judges (references, tolerances, messages) are in autograder/judging/ps4_gradients.py, never mounted.
"""

from __future__ import annotations

import numpy as np

from ..probes import Probe, register_probe
from .common import as_tensor, away_from_one, split_signs

REPARAM_N = 4096  # rows of mu in the sampling case


def _reparam_cases(rng, kind):
    if kind == "visible":
        cases = [
            {"mode": "eps", "mu": np.array([[0.0, 1.0]]), "log_var": np.array([[0.0, 2 * np.log(2.0)]]),
             "eps": np.array([[[1.0, 1.0]]])},
            {"mode": "grad", "mu": np.array([[0.0]]), "log_var": np.array([[0.0]]), "eps": np.array([[1.0]]),
             "weights": np.array([[1.0]])},
            {"mode": "sample", "mu": np.array([0.0, 3.0]), "log_var": np.array([0.0, -2.0])},
        ]
    else:
        b, d = int(rng.integers(2, 6)), int(rng.integers(1, 4))
        cases = [
            {"mode": "eps", "mu": rng.normal(0, 2, (b, d)), "log_var": split_signs(rng, 0.5, 2.0, (b, d)),
             "eps": rng.normal(size=(3, b, d))},
            {"mode": "grad", "mu": rng.normal(0, 2, (b, d)), "log_var": split_signs(rng, 0.5, 2.0, (b, d)),
             "eps": rng.normal(size=(b, d)), "weights": rng.normal(size=(b, d))},
            {"mode": "sample", "mu": rng.normal(0, 2, 4), "log_var": split_signs(rng, 1.0, 2.0, 4)},
        ]
    for case in cases:
        if case["mode"] == "sample":
            case.update(n=REPARAM_N)
    return cases


def _reparam_call(func, case):
    import torch

    if case["mode"] == "eps":
        return func(as_tensor(case["mu"]), as_tensor(case["log_var"]), eps=as_tensor(case["eps"]))
    if case["mode"] == "grad":
        mu = as_tensor(case["mu"]).requires_grad_(True)
        log_var = as_tensor(case["log_var"]).requires_grad_(True)
        z = func(mu, log_var, eps=as_tensor(case["eps"]))
        if type(z) is not torch.Tensor or not z.requires_grad:
            return z  # assess explains: no gradient can flow back
        return torch.autograd.grad((z * as_tensor(case["weights"])).sum(), (mu, log_var), allow_unused=True)
    n = case["n"]
    return func(as_tensor(case["mu"]).expand(n, -1).clone(), as_tensor(case["log_var"]).expand(n, -1).clone())


register_probe(Probe("reparameterize", cases=_reparam_cases, call=_reparam_call))


# --- gradient estimators for E_{z ~ N(mu, sigma^2)}[f(z)], f a polynomial ---------------------------------------
SCORE_N, PATHWISE_N = 400_000, 50_000


def _poly(coeffs):
    """f(z) = sum_j c_j z^j as a torch-friendly function (works on tensors, keeps autograd)."""
    coeffs = [float(c) for c in coeffs]

    def f(z):
        return sum(c * z**j for j, c in enumerate(coeffs))

    return f


def _estimator_cases(n):
    def cases(rng, kind):
        if kind == "visible":
            out = [{"coeffs": [0.0, 0.0, 1.0], "mu": 1.0, "sigma": 1.0}]
        else:
            k = float(rng.uniform(-3, 3))
            # sigma > 1.35 in the quadratic case: sigma, sigma^2 and 1/(2 sigma) (the d/dsigma^2 score) all differ
            out = [{"coeffs": [k * k, -2 * k, 1.0], "mu": float(split_signs(rng, 0.5, 2.0)),
                    "sigma": float(rng.uniform(1.35, 2.2))},
                   {"coeffs": [float(rng.normal()), float(rng.normal()), float(rng.normal()),
                               float(split_signs(rng, 0.2, 0.5))],
                    "mu": float(split_signs(rng, 0.5, 1.5)), "sigma": float(away_from_one(rng))}]
        for case in out:
            case.update(n_samples=n)
        return out

    return cases


def _estimator_call(func, case):
    return func(_poly(case["coeffs"]), case["mu"], case["sigma"], case["n_samples"])


register_probe(Probe("score_function_gradient", cases=_estimator_cases(SCORE_N), call=_estimator_call))


register_probe(Probe("pathwise_gradient", cases=_estimator_cases(PATHWISE_N), call=_estimator_call))


GRADVAR_N = 2000


def _gradvar_cases(rng, kind):
    if kind == "visible":
        return [{"coeffs": [0.0, 0.0, 1.0], "mu": 1.0, "sigma": 1.0, "eps": np.random.default_rng(0).normal(size=8)}]
    k = float(rng.uniform(1, 4))
    return [{"coeffs": [k * k, -2 * k, 1.0], "mu": float(split_signs(rng, 0.5, 2.0)),
             "sigma": float(away_from_one(rng)), "eps": rng.normal(size=GRADVAR_N)}]


def _gradvar_call(func, case):
    return func(_poly(case["coeffs"]), case["mu"], case["sigma"], as_tensor(case["eps"]))


register_probe(Probe("gradient_variances", cases=_gradvar_cases, call=_gradvar_call))


# --- the Monte Carlo gradient with respect to the decoder's parameters theta ------------------------------------
DECODER_N = 20_000


DEC_X_DIM, DEC_Z_DIM = 6, 2


def _decoder_case(rng, mu, log_var) -> dict:
    return {"x": (rng.random((len(mu), DEC_X_DIM)) < 0.5).astype(np.float64), "mu": mu, "log_var": log_var,
            "weight": rng.normal(0, 1.0, (DEC_X_DIM, DEC_Z_DIM)), "bias": rng.normal(0, 0.5, DEC_X_DIM)}


def _decoder_cases(rng, kind):
    if kind == "visible":
        cases = [_decoder_case(rng, np.array([[0.5, -0.5]]), np.array([[-1.0, 0.0]]))]
    else:
        cases = [_decoder_case(rng, split_signs(rng, 1.5, 2.5, (2, DEC_Z_DIM)), rng.uniform(-2, -1, (2, DEC_Z_DIM))),
                 _decoder_case(rng, rng.normal(0, 0.5, (2, DEC_Z_DIM)), split_signs(rng, 0.8, 1.5, (2, DEC_Z_DIM)))]
    for case in cases:
        case.update(n_samples=DECODER_N)
    return cases


def _decoder_call(func, case):
    import torch

    decoder = torch.nn.Linear(DEC_Z_DIM, DEC_X_DIM)
    with torch.no_grad():
        decoder.weight.copy_(as_tensor(case["weight"]))
        decoder.bias.copy_(as_tensor(case["bias"]))
    result = func(as_tensor(case["x"]), as_tensor(case["mu"]), as_tensor(case["log_var"]), decoder, case["n_samples"])
    return tuple(result) if type(result) is list else result


register_probe(Probe("decoder_gradient", cases=_decoder_cases, call=_decoder_call))


# --- training a VAE on the digits -------------------------------------------------------------------------------
VAE_ARCH = {"x_dim": 64, "hidden": 128, "z_dim": 4}  # the notebook tells the student to use exactly this


def vae_keys() -> list[tuple[str, tuple[int, ...]]]:
    from vaelib.models import VAE

    return [(k, tuple(v.shape)) for k, v in VAE(**VAE_ARCH).state_dict().items()]


def _vae_cases(rng, kind):
    return [{"n_samples": 5 if kind == "visible" else 20, "seed": int(rng.integers(0, 2**31))}]


def _vae_call(model, case):
    """`model` is the student's trained vaelib.models.VAE; hand back its weights as plain tensors, in a fixed order."""
    import torch

    state = model.state_dict()
    missing = [k for k, _ in vae_keys() if k not in state]
    if missing:
        raise KeyError(f"the model has no parameter {missing[0]!r}: build it as vaelib.models.VAE(x_dim=64, "
                       "hidden=128, z_dim=4)")
    return tuple(torch.Tensor.detach(state[k]).to("cpu", torch.float32).clone() for k, _ in vae_keys())


register_probe(Probe("vae_heldout_elbo", cases=_vae_cases, call=_vae_call))
