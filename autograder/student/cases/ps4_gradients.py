"""ps4_gradients: how each check draws its cases and calls the student's function.

Student side: mounted in the grading sandbox, so it holds inputs only, never an answer.

The matching judges (references, tolerances, messages) are in autograder/judging/ps4_gradients.py, never mounted.
"""

from __future__ import annotations

import numpy as np

from ..probes import Probe, register_probe
from .common import Spy, as_tensor, away_from_one, recording, repeated_calls, scaling_case, split_signs

REPARAM_ROWS, REPARAM_CALLS = 8192, 16  # the sampling case: rows of mu per call, calls (the judge needs that many
# draws to tell unit-variance non-normal noise, such as Student-t(30), from N(0, 1))


def _reparam_cases(rng, kind):
    """Exact cases (eps given, with and without extra leading dimensions, d = 1 and d > 1), a gradient case with eps
    given and one with the noise drawn inside, and a sampling case (eps=None) called REPARAM_CALLS times on
    REPARAM_ROWS identical rows."""
    if kind == "visible":
        cases = [
            {"mode": "eps", "mu": np.array([[0.0, 1.0]]), "log_var": np.array([[0.0, 2 * np.log(2.0)]]),
             "eps": np.array([[[1.0, 1.0]]])},
            {"mode": "grad", "mu": np.array([[0.0]]), "log_var": np.array([[0.0]]), "eps": np.array([[1.0]]),
             "weights": np.array([[1.0]])},
            {"mode": "sample", "mu": np.array([0.0, 3.0]), "log_var": np.array([0.0, -2.0])},
        ]
    else:
        b, d = int(rng.integers(2, 6)), int(rng.integers(2, 4))
        cases = [
            {"mode": "eps", "mu": rng.normal(0, 2, (b, d)), "log_var": split_signs(rng, 0.5, 2.0, (b, d)),
             "eps": rng.normal(size=(3, b, d))},
            {"mode": "eps", "mu": rng.normal(0, 2, (b, 1)), "log_var": split_signs(rng, 0.5, 2.0, (b, 1)),
             "eps": rng.normal(size=(b, 1))},
            {"mode": "grad", "mu": rng.normal(0, 2, (b, d)), "log_var": split_signs(rng, 0.5, 2.0, (b, d)),
             "eps": rng.normal(size=(b, d)), "weights": rng.normal(size=(b, d))},
            {"mode": "grad_sample", "mu": rng.normal(0, 2, (b, d)), "log_var": split_signs(rng, 0.5, 2.0, (b, d)),
             "weights": rng.normal(size=(b, d))},  # the noise drawn inside: the path train_vae takes
            {"mode": "sample", "mu": rng.normal(0, 2, 4), "log_var": split_signs(rng, 1.0, 2.0, 4)},
        ]
    for case in cases:
        if case["mode"] == "sample":
            case.update(rows=REPARAM_ROWS, calls=REPARAM_CALLS)
    return cases


def _reparam_call(func, case):
    import torch

    if case["mode"] == "eps":
        return func(as_tensor(case["mu"]), as_tensor(case["log_var"]), eps=as_tensor(case["eps"]))
    if case["mode"] in ("grad", "grad_sample"):
        mu = as_tensor(case["mu"]).requires_grad_(True)
        log_var = as_tensor(case["log_var"]).requires_grad_(True)
        z = func(mu, log_var, eps=as_tensor(case["eps"])) if case["mode"] == "grad" else func(mu, log_var)
        if type(z) is not torch.Tensor or not z.requires_grad:
            return z  # assess explains: no gradient can flow back
        grads = torch.autograd.grad((z * as_tensor(case["weights"])).sum(), (mu, log_var), allow_unused=True)
        return grads if case["mode"] == "grad" else (z.detach(), *grads)  # with the sample: d/dlog_var needs eps
    rows = case["rows"]
    return repeated_calls(case["calls"], lambda: func(as_tensor(case["mu"]).expand(rows, -1).clone(),
                                                      as_tensor(case["log_var"]).expand(rows, -1).clone()))


register_probe(Probe("reparameterize", cases=_reparam_cases, call=_reparam_call))


# --- gradient estimators for E_{z ~ N(mu, sigma^2)}[f(z)], f a polynomial ---------------------------------------
def _polynomial(coeffs, z):
    return sum(float(c) * z**j for j, c in enumerate(coeffs))


def _poly(coeffs):
    """f(z) = sum_j c_j z^j as a torch-friendly function (works on tensors, keeps autograd)."""
    def f(z):
        return _polynomial(coeffs, z)

    return f


def _evaluate_only(coeffs):
    """f(z) = sum_j c_j z^j that autograd cannot differentiate: its backward raises. The score-function estimator
    only evaluates f (the notebook says so); an estimator that differentiates f fails with this message."""
    import torch

    class EvaluateOnly(torch.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            return _polynomial(coeffs, z)

        @staticmethod
        def backward(ctx, grad_output):
            raise RuntimeError("this f can only be evaluated, not differentiated: the score-function estimator "
                               "multiplies f(z) by the score d/dparam log q(z) and never differentiates f")

    def f(z):
        return EvaluateOnly.apply(z)

    return f


# (function: 0 quadratic, 1 cubic; n_samples; calls) of the hidden cases: the smallest sample sizes on 40 cheap
# calls (judged robustly), and a large sample size on 40 (80) calls, judged on mean and spread: the pathwise calls
# are near normal at 5,000 samples (chi^2 spread bound), and 80 of them see the 9x larger variance of a
# score-function estimate in pathwise_gradient with power 0.999
SCORE_PLAN = [(0, 1, 40), (1, 2, 40), (0, 10_000, 40), (1, 10_000, 40)]
PATHWISE_PLAN = [(0, 1, 40), (1, 2, 40), (0, 5_000, 80), (1, 5_000, 80)]
ESTIMATOR_VISIBLE = {"score": (10_000, 20), "path": (1_250, 20)}
# and a scaling case on the quadratic function (the spread must shrink like 1 / n_samples); the score-function
# calls are near normal from 1,000 samples on
SCORE_SCALING, PATHWISE_SCALING = (1_000, 10_000), (500, 5_000)


def _estimator_functions(rng) -> list[dict]:
    k = float(rng.uniform(-3, 3))
    # sigma > 1.35 in the quadratic case: sigma, sigma^2 and 1/(2 sigma) (the d/dsigma^2 score) all differ
    return [{"coeffs": [k * k, -2 * k, 1.0], "mu": float(split_signs(rng, 0.5, 2.0)),
             "sigma": float(rng.uniform(1.35, 2.2))},
            {"coeffs": [float(rng.normal()), float(rng.normal()), float(rng.normal()),
                        float(split_signs(rng, 0.2, 0.5))],
             "mu": float(split_signs(rng, 0.5, 1.5)), "sigma": float(away_from_one(rng))}]


# a score-function case whose calls also record every point f is evaluated at (n_samples, calls): the estimate must
# be exactly the plain or the leave-one-out average over those points (the judge recomputes both)
SCORE_RECORDED = (50, 20)


def _estimator_cases(plan, visible, scaling, recorded=None):
    def cases(rng, kind):
        if kind == "visible":
            n_samples, calls = visible
            return [{"coeffs": [0.0, 0.0, 1.0], "mu": 1.0, "sigma": 1.0, "n_samples": n_samples, "calls": calls}]
        functions = _estimator_functions(rng)
        found = [*(dict(functions[function], n_samples=n_samples, calls=calls) for function, n_samples, calls in plan),
                 scaling_case(functions[0], scaling)]
        if recorded is not None:
            found.append(dict(functions[0], n_samples=recorded[0], calls=recorded[1], recorded=True))
        return found

    return cases


def _score_call(func, case):
    if not case.get("recorded"):
        f = _evaluate_only(case["coeffs"])
        return repeated_calls(case["calls"], lambda: func(f, case["mu"], case["sigma"], case["n_samples"]))
    def once():
        """(the estimate, every point f was evaluated at during the call, flattened)."""
        f, points = recording(_evaluate_only(case["coeffs"]))
        return func(f, case["mu"], case["sigma"], case["n_samples"]), points()

    return repeated_calls(case["calls"], once)


def _pathwise_call(func, case):
    f = _poly(case["coeffs"])
    return repeated_calls(case["calls"], lambda: func(f, case["mu"], case["sigma"], case["n_samples"]))


register_probe(Probe("score_function_gradient",
                     cases=_estimator_cases(SCORE_PLAN, ESTIMATOR_VISIBLE["score"], SCORE_SCALING, SCORE_RECORDED),
                     call=_score_call))


register_probe(Probe("pathwise_gradient",
                     cases=_estimator_cases(PATHWISE_PLAN, ESTIMATOR_VISIBLE["path"], PATHWISE_SCALING),
                     call=_pathwise_call))


GRADVAR_N = 2000


def _gradvar_cases(rng, kind):
    if kind == "visible":
        return [{"coeffs": [0.0, 0.0, 1.0], "mu": 1.0, "sigma": 1.0, "eps": np.random.default_rng(0).normal(size=8)}]
    k = float(rng.uniform(1, 4))
    return [{"coeffs": [k * k, -2 * k, 1.0], "mu": float(split_signs(rng, 0.5, 2.0)),
             "sigma": float(away_from_one(rng)), "eps": rng.normal(size=n)} for n in (GRADVAR_N, 3)]


def _gradvar_call(func, case):
    return func(_poly(case["coeffs"]), case["mu"], case["sigma"], as_tensor(case["eps"]))


register_probe(Probe("gradient_variances", cases=_gradvar_cases, call=_gradvar_call))


# --- the Monte Carlo gradient with respect to the decoder's parameters theta ------------------------------------
DEC_X_DIM, DEC_Z_DIM = 6, 2
# (network: 0 far, 1 wide; n_samples; calls), as for the ELBO in ps3
DECODER_PLAN = [(0, 1, 40), (1, 2, 40), (0, 500, 40), (1, 500, 40)]
DECODER_VISIBLE = (1000, 10)
DECODER_SCALING = (50, 500)  # and a scaling case on the far network (the spread must shrink like 1 / n_samples)


def _decoder_case(rng, mu, log_var) -> dict:
    return {"x": (rng.random((len(mu), DEC_X_DIM)) < 0.5).astype(np.float64), "mu": mu, "log_var": log_var,
            "weight": rng.normal(0, 1.0, (DEC_X_DIM, DEC_Z_DIM)), "bias": rng.normal(0, 0.5, DEC_X_DIM)}


def _decoder_cases(rng, kind):
    if kind == "visible":
        networks = [_decoder_case(rng, np.array([[0.5, -0.5]]), np.array([[-1.0, 0.0]]))]
        plan = [(0, *DECODER_VISIBLE)]
    else:
        networks = [
            _decoder_case(rng, split_signs(rng, 1.5, 2.5, (2, DEC_Z_DIM)), rng.uniform(-2, -1, (2, DEC_Z_DIM))),
            _decoder_case(rng, rng.normal(0, 0.5, (2, DEC_Z_DIM)), split_signs(rng, 0.8, 1.5, (2, DEC_Z_DIM)))]
        return [*(dict(networks[network], n_samples=n, calls=calls) for network, n, calls in DECODER_PLAN),
                scaling_case(networks[0], DECODER_SCALING)]
    return [dict(networks[network], n_samples=n_samples, calls=calls) for network, n_samples, calls in plan]


STALE_GRADIENT = 1000.0  # in every parameter's .grad before each call of decoder_gradient


def _decoder_call(func, case):
    import torch

    def once():
        decoder = torch.nn.Linear(DEC_Z_DIM, DEC_X_DIM)
        with torch.no_grad():
            decoder.weight.copy_(as_tensor(case["weight"]))
            decoder.bias.copy_(as_tensor(case["bias"]))
        for parameter in decoder.parameters():  # as after an earlier training step: .backward() without zeroing
            parameter.grad = torch.full_like(parameter, STALE_GRADIENT)  # them first returns these added in
        return func(as_tensor(case["x"]), as_tensor(case["mu"]), as_tensor(case["log_var"]), decoder,
                    case["n_samples"])

    with Spy(func, "reparameterize") as spy:  # one bug, one loss: see Spy
        calls = repeated_calls(case["calls"], spy.calling(once))
    return calls, spy.record()


register_probe(Probe("decoder_gradient", cases=_decoder_cases, call=_decoder_call))


# --- training a VAE on the digits: the grader trains it ----------------------------------------------------------
VAE_ARCH = {"x_dim": 64, "hidden": 128, "z_dim": 4}  # the notebook tells the student to use exactly this


def vae_keys() -> list[tuple[str, tuple[int, ...]]]:
    from vaelib.models import VAE

    return [(k, tuple(v.shape)) for k, v in VAE(**VAE_ARCH).state_dict().items()]


TEACHER_PROTOTYPES, TEACHER_FLIP = 10, 0.1  # the grader's model of the images: 10 random binary 8x8 prototypes,
TEACHER_TRAIN, TEACHER_TEST = 1438, 359  # each pixel flipped with probability 0.1; as many images as the digits' splits


def _vae_cases(rng, kind):
    """One case: a random model of 8x8 binary images (while a submission is graded: drawn from the grader's seed,
    Probe.drawn_at_grading), from which the training images are drawn: no weights prepared in advance can fit it,
    and no relabelling of data the student holds (a permutation of the digits' pixels can be undone by matching
    columns: red team, 2026-12-06). The judge knows the model's exact log-likelihood."""
    return [{"n_samples": 20, "seed": int(rng.integers(0, 2**31)), "teacher_seed": int(rng.integers(0, 2**31))}]


def teacher_prototypes(case: dict) -> np.ndarray:
    """(TEACHER_PROTOTYPES, 64) booleans: the prototypes of the case's model of the images."""
    return np.random.default_rng(case["teacher_seed"]).random((TEACHER_PROTOTYPES, 64)) < 0.5


def teacher_images(case: dict, n: int, stream: int) -> np.ndarray:
    """``n`` images (n, 64) of 0.0/1.0 from the case's model: a prototype chosen uniformly, each pixel flipped with
    probability TEACHER_FLIP. ``stream`` 0: the training images; 1: the held-out images (drawn by the judge)."""
    rng = np.random.default_rng([case["teacher_seed"], stream])
    chosen = teacher_prototypes(case)[rng.integers(0, TEACHER_PROTOTYPES, n)]
    return (chosen ^ (rng.random((n, 64)) < TEACHER_FLIP)).astype(np.float64)


def _vae_call(train_vae, case):
    """Call the student's ``train_vae`` on the case's training images (float32, as digits() gives them) and hand back
    the trained model's weights as plain tensors, in a fixed order."""
    import torch

    model = train_vae(torch.tensor(teacher_images(case, TEACHER_TRAIN, 0), dtype=torch.float32))
    state = model.state_dict()
    missing = [k for k, _ in vae_keys() if k not in state]
    if missing:
        raise KeyError(f"the model has no parameter {missing[0]!r}: build it as vaelib.models.VAE(x_dim=64, "
                       "hidden=128, z_dim=4)")
    return tuple(torch.Tensor.detach(state[k]).clone() for k, _ in vae_keys())  # as they are: device and dtype


register_probe(Probe("vae_heldout_elbo", cases=_vae_cases, call=_vae_call, drawn_at_grading=True))
