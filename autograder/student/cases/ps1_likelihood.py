"""ps1_likelihood: how each check draws its cases and calls the student's function.

Student side: mounted in the grading sandbox, so it holds inputs only, never an answer.

The matching judges (references, tolerances, messages) are in autograder/judging/ps1_likelihood.py, never mounted.
"""

from __future__ import annotations

import math

import numpy as np

from ..probes import Probe, register_probe
from .common import Spy, as_tensor, away_from_one, repeated_calls, split_signs


def _gaussian_log_likelihood_cases(rng, kind):
    """mu and sigma are passed as 0-dim tensors or as Python floats ("0-dim tensor (or float)"); n = 1 included."""
    if kind == "visible":
        return [{"x": np.array([0.0]), "mu": 0.0, "sigma": 1.0, "scalars": "tensor"},
                {"x": np.array([1.0, 2.0, 3.0]), "mu": 2.0, "sigma": 0.5, "scalars": "float"}]
    return [{"x": rng.normal(0, 3, size=n), "mu": float(rng.normal(0, 2)), "sigma": float(away_from_one(rng)),
             "scalars": scalars} for n, scalars in [(1, "tensor"), (12, "float"), (300, "mixed")]]


def _scalar(value: float, as_float: bool):
    return float(value) if as_float else as_tensor(value)


def _gaussian_log_likelihood_call(func, case):
    scalars = case["scalars"]
    return func(as_tensor(case["x"]), _scalar(case["mu"], scalars == "float"),
                _scalar(case["sigma"], scalars in ("float", "mixed")))


register_probe(Probe("gaussian_log_likelihood", cases=_gaussian_log_likelihood_cases,
                     call=_gaussian_log_likelihood_call))


def _log_sum_exp_cases(rng, kind):
    """Every structural case every time (only the values are random): each dim of a 2-D and a 3-D array whose
    sizes all differ (a wrong dim cannot give the right shape), a 1-D array, a negative dim, entries near +-1000,
    a row that is entirely -inf (must give -inf, not nan) and a column of -inf, and rows on scales 2000 apart (one
    maximum for the whole array underflows the lower row)."""
    if kind == "visible":
        return [{"a": np.array([[0.0, 0.0]]), "dim": 1},
                {"a": np.array([[1000.0, 1000.0], [-1000.0, -1000.0]]), "dim": 1}]
    rows = int(rng.integers(2, 5))
    shape2 = (rows, rows + int(rng.integers(1, 4)))
    cases = [{"a": rng.normal(0, 400, size=shape2), "dim": 0},
             {"a": rng.normal(0, 400, size=shape2), "dim": 1}]
    cases += [{"a": rng.normal(-900, 50, size=(2, 3, 4)), "dim": dim} for dim in (0, 1, 2)]
    cases.append({"a": rng.normal(800, 5, size=(6,)), "dim": 0})
    with_minus_inf = rng.normal(0, 3, size=(4, 5))
    with_minus_inf[:, 0] = -np.inf  # log 0 entries: must not produce NaN
    with_minus_inf[int(rng.integers(0, 4)), :] = -np.inf  # a whole row of log 0: the answer is -inf
    cases.append({"a": with_minus_inf, "dim": 1})
    scales = rng.normal(0, 1, size=(3, 4)) + np.array([[1000.0], [0.0], [-1000.0]])
    cases.append({"a": scales, "dim": -1})
    return cases


def _log_sum_exp_call(func, case):
    return func(as_tensor(case["a"]), case["dim"])


register_probe(Probe("log_sum_exp", cases=_log_sum_exp_cases, call=_log_sum_exp_call))


def _gaussian_mle_cases(rng, kind):
    if kind == "visible":
        return [{"x": np.array([1.0, 2.0, 3.0, 4.0])}]
    return [{"x": rng.normal(rng.normal(0, 3), away_from_one(rng), size=n)} for n in (1, 2, 40)]


def _gaussian_mle_call(func, case):
    return func(as_tensor(case["x"]))


register_probe(Probe("gaussian_mle", cases=_gaussian_mle_cases, call=_gaussian_mle_call))


def _mixture_cases(rng, kind):
    if kind == "visible":
        return [{"x": np.array([0.0, 1.0]), "log_weights": np.log([0.5, 0.5]), "means": np.array([-1.0, 1.0]),
                 "sigmas": np.array([1.0, 1.0])}]
    cases = []
    for n, k in [(5, 1), (7, 2), (20, 4)]:
        weights = rng.dirichlet(np.ones(k) * 2)
        cases.append({"x": rng.normal(0, 4, size=n), "log_weights": np.log(weights),
                      "means": rng.normal(0, 3, size=k), "sigmas": away_from_one(rng, size=k)})
    far = cases[-1].copy()  # points far out in the tails: every component's density underflows float32
    far["x"] = np.array([60.0, -80.0, 150.0])
    cases.append(far)
    return cases


def _mixture_call(func, case):
    """The result, and the student's log_sum_exp calls made meanwhile (one bug, one loss: see Spy)."""
    with Spy(func, "log_sum_exp") as spy:
        result = spy.calling(lambda: func(*(as_tensor(case[k]) for k in ("x", "log_weights", "means", "sigmas"))))()
    return result, spy.record()


register_probe(Probe("mixture_log_marginal", cases=_mixture_cases, call=_mixture_call))


def _linear_latent_model(rng) -> dict:
    """A 1-D latent model z ~ N(0, 1), x | z ~ N(w z + b, s^2) (s a standard deviation), and x drawn from it."""
    w, b, s = float(split_signs(rng, 0.8, 2.0)), float(rng.normal(0, 1)), float(rng.uniform(0.5, 1.0))
    z = rng.normal(size=4)
    return {"w": w, "b": b, "s": s, "x": w * z + b + s * rng.normal(size=4)}


def _linear_log_likelihood(case):
    w, b, s = case["w"], case["b"], case["s"]

    def log_likelihood(x, z):  # log N(x | w z + b, s^2), broadcasting x against z
        return -0.5 * math.log(2 * math.pi * s**2) - (x - (w * z + b)) ** 2 / (2 * s**2)

    return log_likelihood


def _mc_given_z_cases(rng, kind):
    if kind == "visible":
        return [{"w": 1.0, "b": 0.0, "s": 1.0, "x": np.array([0.0, 1.0]), "z": np.array([-1.0, 0.0, 1.0]),
                 "n_samples": 3}]
    cases = []
    for n_samples in (1, 50):
        case = _linear_latent_model(rng)
        case.update(z=rng.normal(size=n_samples), n_samples=n_samples + 17)  # S = len(z), not n_samples
        cases.append(case)
    tiny = _linear_latent_model(rng)  # p(x | z) ~ exp(-1000): a naive mean of exp(log p) underflows to log 0
    tiny.update(s=0.05, x=np.array([tiny["b"] + 6 * abs(tiny["w"]), tiny["b"] - 5 * abs(tiny["w"])]),
                z=rng.normal(size=30) * 0.5, n_samples=47)
    cases.append(tiny)
    return cases


def _mc_given_z_call(func, case):
    """The result, and the student's log_sum_exp calls made meanwhile (one bug, one loss: see Spy). n_samples is
    not len(z) in the hidden cases: with z given, S is the number of samples in z (the docstring), and a function
    that divides by n_samples instead fails."""
    with Spy(func, "log_sum_exp") as spy:
        result = spy.calling(lambda: func(as_tensor(case["x"]), _linear_log_likelihood(case), case["n_samples"],
                                          z=as_tensor(case["z"])))()
    return result, spy.record()


register_probe(Probe("mc_log_marginal_given_z", cases=_mc_given_z_cases, call=_mc_given_z_call))


# (n_samples, calls) of the hidden cases: the smallest sample sizes, judged robustly on many cheap calls, and a
# large one, whose calls are also judged on their spread
MC_MARGINAL_PLAN = [(1, 40), (2, 40), (500, 40)]
MC_MARGINAL_VISIBLE = (1000, 10)


def _mc_marginal_cases(rng, kind):
    if kind == "visible":
        cases = [{"w": 1.0, "b": 0.0, "s": 1.0, "x": np.array([0.0, 1.0])}]
        plan = [MC_MARGINAL_VISIBLE]
    else:
        cases = [_linear_latent_model(rng) for _ in MC_MARGINAL_PLAN]
        plan = MC_MARGINAL_PLAN
    for case, (n_samples, calls) in zip(cases, plan, strict=True):
        case.update(n_samples=n_samples, calls=calls)
    return cases


def _mc_marginal_call(func, case):
    """Calls the student's function `calls` times (fresh noise each call) on fresh copies of the inputs; records the
    student's log_sum_exp calls made meanwhile (one bug, one loss: see Spy)."""
    with Spy(func, "log_sum_exp") as spy:
        calls = repeated_calls(case["calls"], spy.calling(
            lambda: func(as_tensor(case["x"]), _linear_log_likelihood(case), case["n_samples"])))
    return calls, spy.record()


register_probe(Probe("mc_log_marginal", cases=_mc_marginal_cases, call=_mc_marginal_call))
