"""PCA by SVD and principal angles between subspaces (the linear auto encoder finds the PCA subspace)."""

import numpy as np


def pca_basis(x: np.ndarray, k: int) -> np.ndarray:
    """Orthonormal basis (d, k) of the top-k principal subspace of data x (n, d), by SVD of the centred data."""
    centred = x - x.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return vt[:k].T


def principal_angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Principal angles (radians, ascending) between the column spaces of a (d, k) and
    b (d, l). Björck & Golub 1973: orthonormalise both, then the singular values of
    Qa^T Qb are the cosines.
    """
    qa, _ = np.linalg.qr(a)
    qb, _ = np.linalg.qr(b)
    cosines = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return np.sort(np.arccos(np.clip(cosines, -1.0, 1.0)))


def ppca_max_likelihood(x: np.ndarray, q: int) -> dict:
    """Probabilistic PCA fitted by maximum likelihood in closed form (Tipping & Bishop
    1999, eqs. 7-8).

    Model: x = W z + mean + noise, z ~ N(0, I_q), noise ~ N(0, s^2 I_d). With
    lambda_1 >= ... >= lambda_d the eigenvalues of the sample covariance (1/n), the
    maximum is at s^2 = mean(lambda_{q+1..d}) and W = U_q (Lambda_q - s^2 I)^{1/2} (up
    to a rotation), where the average log-likelihood per data point is
    -1/2 (d log(2 pi) + sum_{j<=q} log lambda_j + (d - q) log s^2 + d).
    Returns mean (d,), W (d, q), noise_var s^2 and avg_log_likelihood (nats per point).
    """
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    mean = x.mean(axis=0)
    centred = x - mean
    eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred / n)
    eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]  # descending
    noise_var = eigenvalues[q:].mean()
    W = eigenvectors[:, :q] * np.sqrt(eigenvalues[:q] - noise_var)
    log_det = np.log(eigenvalues[:q]).sum() + (d - q) * np.log(noise_var)
    avg_log_likelihood = -0.5 * (d * np.log(2 * np.pi) + log_det + d)
    return {"mean": mean, "W": W, "noise_var": noise_var,
            "avg_log_likelihood": avg_log_likelihood}
