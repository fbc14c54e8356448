"""ps2_autoencoders: how each check draws its cases and calls the student's function.

Student side: mounted in the grading sandbox, so it holds inputs only, never an answer.

The matching judges (references, tolerances, messages) are in autograder/judging/ps2_autoencoders.py, never mounted.
"""

from __future__ import annotations

import numpy as np

from ..probes import Probe, register_probe
from .common import as_tensor


def _pca_data(rng, n: int, eigenvalues, offset_scale: float) -> np.ndarray:
    """n points in d = len(eigenvalues) dimensions: covariance Q diag(eigenvalues) Q^T (random rotation Q, a clear
    gap after the top directions) and a mean of size ~offset_scale (0: the data is centred exactly)."""
    d = len(eigenvalues)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    x = rng.normal(size=(n, d)) * np.sqrt(np.asarray(eigenvalues)) @ q.T
    if offset_scale == 0:
        return x - x.mean(0, keepdims=True)
    return x + rng.normal(0, offset_scale, size=d)


def _pca_basis_cases(rng, kind):
    if kind == "visible":
        return [{"x": np.array([[4.0, 4.0], [6.0, 6.0], [5.5, 5.4], [4.5, 4.6]]), "k": 1},
                {"x": _pca_data(rng, 50, [5.0, 2.0, 0.3, 0.1], 3.0), "k": 2}]
    # every code size k = 1, 2, 3 every time (a k hard-coded anywhere fails)
    return [{"x": _pca_data(rng, 200, [8.0, 4.0, 2.0, 0.5, 0.3, 0.2][: d], 6.0), "k": k}
            for d, k in [(5, 1), (6, 2), (6, 3)]]


def _pca_basis_call(func, case):
    return func(as_tensor(case["x"], "float64"), case["k"])


register_probe(Probe("pca_basis", cases=_pca_basis_cases, call=_pca_basis_call))


SAME_SUBSPACE_CASES = 24  # a missing clip before arccos survives all of them with probability about 0.5^24 = 6e-8


def _angles_cases(rng, kind):
    if kind == "visible":
        s = 1 / np.sqrt(2)
        return [{"a": np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), "b": np.array([[1.0, 0.0], [0.0, s], [0.0, s]])}]
    cases = []
    for d, k, m in [(6, 2, 3), (5, 2, 2), (7, 3, 1), (4, 1, 2)]:  # k < l, k = l, k > l, one vector
        a = rng.normal(size=(d, k)) * rng.uniform(0.2, 3.0, size=k)  # neither normalised nor orthogonal
        b = np.concatenate([a @ rng.normal(size=(k, min(k, m))) + 0.4 * rng.normal(size=(d, min(k, m))),
                            rng.normal(size=(d, m - min(k, m)))], axis=1) * rng.uniform(0.2, 3.0, size=m)
        cases.append({"a": a, "b": b})
    for _ in range(SAME_SUBSPACE_CASES):  # the same column space: every cosine is 1 up to rounding, so an arccos
        d = int(rng.integers(3, 8))       # without clipping gives NaN in about half of the cases, each time
        k = int(rng.integers(1, d))
        a = rng.normal(size=(d, k)) * rng.uniform(0.2, 3.0, size=k)
        cases.append({"a": a, "b": a @ rng.normal(size=(k, k))})
    return cases


def _angles_call(func, case):
    return func(as_tensor(case["a"], "float64"), as_tensor(case["b"], "float64"))


register_probe(Probe("principal_angles", cases=_angles_cases, call=_angles_call))


def _recon_cases(rng, kind):
    if kind == "visible":
        return [{"x": np.array([[1.0, 2.0]]), "U": np.array([[1.0, 0.0]]), "V": np.array([[1.0], [0.0]])}]
    return [{"x": rng.normal(size=(n, d)), "U": rng.normal(size=(k, d)), "V": rng.normal(size=(d, k))}
            for n, d, k in [(10, 4, 1), (12, 5, 2), (30, 6, 3)]]


def _recon_call(func, case):
    return func(as_tensor(case["x"], "float64"), as_tensor(case["U"], "float64"), as_tensor(case["V"], "float64"))


register_probe(Probe("reconstruction_error", cases=_recon_cases, call=_recon_call))


def _linear_ae_cases(rng, kind):
    """The visible case has k = 2, the hidden ones k = 1 and k = 3: the cell sees every code size every time. A
    hidden case (k = 2) also calls it with other steps, learning rates and seeds (ARGUMENT_CALLS)."""
    eigen = [9.0, 5.0, 3.0, 0.6, 0.4, 0.3, 0.2, 0.1]
    if kind == "visible":
        return [{"x": _pca_data(rng, 300, eigen, 0.0), "k": 2}]
    seeds = [int(s) for s in rng.choice(10_000, size=2, replace=False)]
    return [{"x": _pca_data(rng, 300, eigen, 0.0), "k": k} for k in (1, 3)] + \
        [{"x": _pca_data(rng, 300, eigen, 0.0), "k": 2, "arguments": ARGUMENT_CALLS, "seeds": seeds}]


# The arguments case: (steps, lr, which of the two seeds) per call. Calls 1-3 do not train (steps = 0): the same seed
# must give the same initialisation, another seed another; call 4 takes 40 steps with a tiny learning rate (it must
# stay at call 1's initialisation), call 5 the same 40 steps at lr = 0.03 (it must move and lower the error).
ARGUMENT_CALLS = ((0, 0.03, 0), (0, 0.03, 0), (0, 0.03, 1), (40, 1e-7, 0), (40, 0.03, 0))


def _linear_ae_call(func, case):
    x = as_tensor(case["x"], "float32")
    if "arguments" not in case:
        return func(x, case["k"])
    return tuple(func(x, case["k"], steps=steps, lr=lr, seed=case["seeds"][which])
                 for steps, lr, which in case["arguments"])


register_probe(Probe("train_linear_autoencoder", cases=_linear_ae_cases, call=_linear_ae_call))
