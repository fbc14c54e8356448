"""PCA by SVD and principal angles between subspaces (the linear auto encoder finds the PCA subspace)."""

import numpy as np


def pca_basis(x: np.ndarray, k: int) -> np.ndarray:
    """Orthonormal basis (d, k) of the top-k principal subspace of data x (n, d), by SVD of the centred data."""
    centred = x - x.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return vt[:k].T


def principal_angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Principal angles (radians, ascending) between the column spaces of a (d, k) and b (d, l).

    Björck & Golub 1973: orthonormalise both, then the singular values of Qa^T Qb are the cosines.
    """
    qa, _ = np.linalg.qr(a)
    qb, _ = np.linalg.qr(b)
    cosines = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return np.sort(np.arccos(np.clip(cosines, -1.0, 1.0)))
