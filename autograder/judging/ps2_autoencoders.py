"""ps2_autoencoders: how each check's returned values are judged (grader side only, never mounted in the sandbox).

The cases are drawn by autograder/student/cases/ps2_autoencoders.py from the same seed.
"""

from __future__ import annotations

import numpy as np

from .base import CheckFailure, Judge, register_judge
from .compare import expect_close, expect_items, expect_no_grad, expect_scalar, expect_tensor
from .sections import Reading


def _pca_basis_assess(case, value):
    from vaelib.pca import pca_basis, principal_angles

    x, k = case["x"], case["k"]
    basis = expect_tensor(value, shape=(x.shape[1], k), what="the basis (one column per principal direction)")
    gram_error = np.abs(basis.T @ basis - np.eye(k)).max()
    if not gram_error <= 1e-4:
        raise CheckFailure(f"The columns of your basis are not orthonormal: B^T B differs from the identity by "
                           f"{gram_error:.3g}.")
    reference = pca_basis(x, k)
    worst = principal_angles(basis, reference).max()
    if not worst <= 1e-3:
        raise CheckFailure(f"Your basis spans a different subspace from the top-{k} principal subspace of the "
                           f"(centred) data: the largest principal angle between them is {worst:.3g} rad.")
    cosines = np.abs(np.sum(basis * reference, axis=0))  # column by column, up to sign
    if not cosines.min() >= np.cos(1e-3):
        j = int(np.argmin(cosines))
        raise CheckFailure(f"Your basis spans the right subspace, but its column {j + 1} is not principal direction "
                           f"{j + 1} (angle {np.arccos(min(cosines[j], 1.0)):.3g} rad, up to sign): the columns must "
                           "be the principal directions themselves, sorted by decreasing singular value, not "
                           "another orthonormal basis of the subspace or another order.")


register_judge(Judge(
    name="pca_basis",
    assess=_pca_basis_assess,
    section=(Reading("ch3-linear", "The linear auto encoder"),),
    what="the top-k principal directions of the centred data, a torch.Tensor (d, k) with orthonormal columns sorted "
         "by decreasing singular value",
))


def _angles_assess(case, value):
    from vaelib.pca import principal_angles

    expected = principal_angles(case["a"], case["b"])[: min(case["a"].shape[1], case["b"].shape[1])]
    actual = expect_tensor(value, shape=expected.shape, what="the principal angles (ascending, in radians)")
    expect_close(actual, expected, rtol=0, atol=2e-3, what="the principal angles (radians, ascending)")


register_judge(Judge(
    name="principal_angles",
    assess=_angles_assess,
    section=(Reading("ch3-not-unique", "The subspace is unique, the matrices are not"),),
    what="the principal angles (a torch.Tensor, radians, ascending) between the column spaces of two matrices whose "
         "columns need not be orthonormal",
))


def _recon_assess(case, value):
    x, u, v = case["x"], case["U"], case["V"]
    expected = np.mean(np.sum((x - x @ u.T @ v.T) ** 2, axis=1))
    expect_close(expect_scalar(value, "the reconstruction error"), expected, rtol=1e-5, atol=1e-8,
                 what="the mean squared reconstruction error (summed over features, averaged over data points)")


register_judge(Judge(
    name="reconstruction_error",
    assess=_recon_assess,
    section=(Reading("ch3-linear", "The linear auto encoder"),),
    what="(1/n) sum_i ||x_i - V U x_i||^2 with U (k, d) the encoder and V (d, k) the decoder, a 0-dim tensor",
))


LINEAR_AE_MAX_ANGLE = 0.05  # rad; the reference reaches < 1e-3 on these data


LINEAR_AE_EXCESS = 1.02  # reconstruction error at most 2% above the PCA optimum


def _trained_pair(value, k: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    u_value, v_value = expect_items(value, 2, "(U, V)", kinds=("tuple",))
    u = expect_tensor(u_value, shape=(k, d), what="the encoder U (code_dim, d)")
    v = expect_tensor(v_value, shape=(d, k), what="the decoder V (d, code_dim)")
    expect_no_grad(u_value, "the encoder U")
    expect_no_grad(v_value, "the decoder V")
    return u, v


def _linear_ae_arguments(case, value) -> None:
    """The arguments case (ARGUMENT_CALLS in the cases file): steps, lr and seed must each do what they say."""
    x, k = np.float32(case["x"]).astype(np.float64), case["k"]
    calls = expect_items(value, len(case["arguments"]), "the results of the calls with other arguments")
    (u1, v1), (u2, v2), (u3, v3), (u4, v4), (u5, v5) = (_trained_pair(c, k, x.shape[1]) for c in calls)

    def error(u, v):
        return np.mean(np.sum((x - x @ u.T @ v.T) ** 2, axis=1))

    def moved(a, b):  # np.max below, unlike max(), keeps a NaN: every guard here fails closed
        return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12)

    seed1, seed2 = case["seeds"]
    if not np.max([moved(u2, u1), moved(v2, v1)]) <= 1e-6:
        raise CheckFailure(f"Two calls with steps=0 and seed={seed1} returned different (U, V): the seed must fix the "
                           "initialisation (use a torch.Generator seeded with it, or torch.manual_seed(seed)).")
    if not np.max([moved(u3, u1), moved(v3, v1)]) >= 1e-3:
        raise CheckFailure(f"steps=0 with seed={seed1} and with seed={seed2} returned the same (U, V): the "
                           "initialisation must come from the seed argument.")
    if not np.max([moved(u4, u1), moved(v4, v1)]) <= 1e-3:
        raise CheckFailure("40 steps with lr=1e-7 moved (U, V) far from the initialisation of steps=0 (same seed): "
                           "use the lr argument (and the steps argument) as given.")
    if not (np.max([moved(u5, u1), moved(v5, v1)]) >= 1e-3 and error(u5, v5) < error(u1, v1)):
        raise CheckFailure("40 steps with lr=0.03 did not move (U, V) from the initialisation of steps=0, or did not "
                           "lower the reconstruction error: use the steps argument as given.")


def _linear_ae_assess(case, value):
    from vaelib.pca import pca_basis, principal_angles

    if "arguments" in case:
        return _linear_ae_arguments(case, value)
    x, k = np.float32(case["x"]).astype(np.float64), case["k"]
    u, v = _trained_pair(value, k, x.shape[1])
    if not np.linalg.svd(v, compute_uv=False).min() >= 1e-6:
        raise CheckFailure("The columns of your decoder V are (nearly) linearly dependent: it spans fewer than "
                           f"{k} directions.")
    worst = principal_angles(v, pca_basis(x, k)).max()
    basis = pca_basis(x, k)
    optimum = np.mean(np.sum((x - x @ basis @ basis.T) ** 2, axis=1))
    error = np.mean(np.sum((x - x @ u.T @ v.T) ** 2, axis=1))
    if not worst <= LINEAR_AE_MAX_ANGLE:
        raise CheckFailure(f"The decoder's column space is not the top-{k} principal subspace: the largest "
                           f"principal angle is {worst:.3g} rad (must be below {LINEAR_AE_MAX_ANGLE}). "
                           "Train longer or with a larger learning rate, and check the loss.")
    if not error <= LINEAR_AE_EXCESS * optimum:
        raise CheckFailure(f"The reconstruction error of (U, V) is {error:.4g}; PCA reaches {optimum:.4g}. "
                           f"It must be within {100 * (LINEAR_AE_EXCESS - 1):.0f}% of it: U is not yet the "
                           "projection onto the decoder's subspace.")


register_judge(Judge(
    name="train_linear_autoencoder",
    assess=_linear_ae_assess,
    section=(Reading("ch3-pca", "Training it finds the PCA subspace"),),
    what="a linear auto encoder trained by gradient descent, returned as a tuple (U, V) of plain tensors (no "
         "gradient attached), reaches the PCA subspace and the PCA reconstruction error (within 2%); steps, lr "
         "and seed do what they say",
))
