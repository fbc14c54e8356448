"""ps2_autoencoders: what students get wrong in its graded functions, each defined by a wrong implementation
(grader side only; see autograder/judging/misconceptions/__init__.py). train_linear_autoencoder has none: what
training returns depends on the initialisation and the optimiser each student chose, so no implementation's outputs
can stand for a misconception."""

from __future__ import annotations

from ..sections import Reading
from . import Misconception, register

A = "ps2_autoencoders"

# the notebook's other graded functions, correct: what the wrong implementations below may call
HELPERS = '''
import torch


def reconstruction_error(x, U, V):
    return ((x - x @ U.T @ V.T) ** 2).sum(dim=1).mean()
'''

READ_PCA_BASIS = Reading("ch3-linear", "The linear auto encoder")
READ_PRINCIPAL_ANGLES = Reading("ch3-not-unique", "The subspace is unique, the matrices are not")
READ_RECONSTRUCTION_ERROR = Reading("ch3-linear", "The linear auto encoder")
READ_CENTRING = Reading("ch3-pca", "Training it finds the PCA subspace")

MISCONCEPTIONS = [
    # ----------------------------------------------------------------------------------------------- pca_basis
    Misconception(
        "pca_not_centred", A, "pca_basis", ('pca_basis',),
        'SVD of the raw data: forgets to centre it',
        ('You took the SVD of the raw data without subtracting its mean. PCA finds the directions of largest '
         'variance of the centred data; without centring the first direction points towards the mean instead.'),
        READ_CENTRING, '''
def pca_basis(x, k):
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    return vh[:k].T
'''),
    Misconception(
        "pca_eigh_ascending", A, "pca_basis", ('pca_basis',),
        "the top-k eigenvectors of eigh, left in eigh's ascending order (red team, round 2)",
        ("You took the top-k eigenvectors from torch.linalg.eigh but left them in eigh's ascending order. The "
         'columns must be sorted from the largest eigenvalue down, so the first column is the first principal '
         'direction.'),
        READ_PRINCIPAL_ANGLES, '''
def pca_basis(x, k):
    centred = x - x.mean(0)
    _, vectors = torch.linalg.eigh(centred.T @ centred)
    return vectors[:, -k:]
'''),
    Misconception(
        "pca_smallest_eigh", A, "pca_basis", ('pca_basis',),
        'eigh of the covariance returns ascending eigenvalues: takes the k smallest directions',
        ('torch.linalg.eigh returns eigenvalues in ascending order, so its first k eigenvectors are the '
         'directions of SMALLEST variance. Take the last k (and put the largest first).'),
        READ_PRINCIPAL_ANGLES, '''
def pca_basis(x, k):
    centred = x - x.mean(0)
    _, vectors = torch.linalg.eigh(centred.T @ centred)
    return vectors[:, :k]
'''),
    Misconception(
        "pca_returns_numpy", A, "pca_basis", ('pca_basis',),
        'returns a numpy array where a tensor is promised',
        ('You returned a numpy array where a torch tensor is promised. Keep the result a tensor (do the SVD in'
         ' torch, or convert back with torch.from_numpy).'),
        READ_PCA_BASIS, '''
def pca_basis(x, k):
    centred = x - x.mean(dim=0, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return vh[:k].T.numpy()
'''),
    Misconception(
        "pca_rows", A, "pca_basis", ('pca_basis',),
        'returns the directions as rows (k, d), the rows of Vh, instead of columns',
        ('You returned the principal directions as rows (the first k rows of Vh) instead of columns. The basis'
         ' is a d x k matrix with one direction per column: transpose it.'),
        READ_PCA_BASIS, '''
def pca_basis(x, k):
    centred = x - x.mean(dim=0, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return vh[:k]
'''),
    Misconception(
        "pca_two_directions", A, "pca_basis", ('pca_basis',),
        'the code size hard-coded to 2 (the digits example)',
        'You returned two directions whatever k is. Use the k argument: the basis has exactly k columns.',
        READ_PCA_BASIS, '''
def pca_basis(x, k):
    centred = x - x.mean(dim=0, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return vh[:2].T
'''),
    # ---------------------------------------------------------------------------------------- principal_angles
    Misconception(
        "angles_not_orthonormalised", A, "principal_angles", ('principal_angles',),
        'singular values of a^T b without orthonormalising the columns first',
        ('You took the singular values of a^T b directly, but they are the cosines of the principal angles '
         'only when the columns of a and b are orthonormal. Orthonormalise both first (QR).'),
        READ_PRINCIPAL_ANGLES, '''
def principal_angles(a, b):
    cosines = torch.linalg.svdvals(a.T @ b)
    return torch.sort(torch.arccos(torch.clamp(cosines, -1.0, 1.0))).values
'''),
    Misconception(
        "angles_degrees", A, "principal_angles", ('principal_angles',),
        'returns degrees instead of radians',
        'You returned the angles in degrees; they are asked in radians (torch.arccos already gives radians).',
        READ_PRINCIPAL_ANGLES, '''
def principal_angles(a, b):
    qa, _ = torch.linalg.qr(a)
    qb, _ = torch.linalg.qr(b)
    cosines = torch.linalg.svdvals(qa.T @ qb)
    return torch.rad2deg(torch.sort(torch.arccos(torch.clamp(cosines, -1.0, 1.0))).values)
'''),
    Misconception(
        "angles_descending", A, "principal_angles", ('principal_angles',),
        'returns the angles in descending order',
        ('You returned the angles from largest to smallest. Principal angles are listed in ascending order '
         '(the smallest first).'),
        READ_PRINCIPAL_ANGLES, '''
def principal_angles(a, b):
    qa, _ = torch.linalg.qr(a)
    qb, _ = torch.linalg.qr(b)
    cosines = torch.linalg.svdvals(qa.T @ qb)
    return torch.sort(torch.arccos(torch.clamp(cosines, -1.0, 1.0)), descending=True).values
'''),
    Misconception(
        "angles_no_clip", A, "principal_angles", ('principal_angles',),
        'no clip before arccos: a cosine rounded above 1 gives NaN (red team, 2026-12-05)',
        ('Rounding can make a cosine slightly larger than 1, and arccos of that is nan. Clamp the cosines to '
         '[-1, 1] before the arccos.'),
        READ_PRINCIPAL_ANGLES, '''
def principal_angles(a, b):
    qa, _ = torch.linalg.qr(a)
    qb, _ = torch.linalg.qr(b)
    return torch.sort(torch.arccos(torch.linalg.svdvals(qa.T @ qb))).values
'''),
    Misconception(
        "angles_cosines", A, "principal_angles", ('principal_angles',),
        'returns the cosines (the singular values) instead of the angles',
        ('You returned the cosines of the principal angles (the singular values) instead of the angles. Apply '
         'arccos to them.'),
        READ_PRINCIPAL_ANGLES, '''
def principal_angles(a, b):
    qa, _ = torch.linalg.qr(a)
    qb, _ = torch.linalg.qr(b)
    return torch.sort(torch.linalg.svdvals(qa.T @ qb)).values
'''),
    # ------------------------------------------------------------------------------------ reconstruction_error
    Misconception(
        "recon_mean_over_features", A, "reconstruction_error", ('reconstruction_error',),
        'mean over features as well as data points (torch.mean of everything)',
        ('You averaged over the features as well as the data points (.mean() of everything). The error is the '
         'squared distance ||x_i - V U x_i||^2 summed over features, then averaged over the data points.'),
        READ_RECONSTRUCTION_ERROR, '''
def reconstruction_error(x, U, V):
    return ((x - x @ U.T @ V.T) ** 2).mean()
'''),
    Misconception(
        "recon_item_float", A, "reconstruction_error", ('reconstruction_error',),
        'returns a Python float (.item()) where a 0-dim tensor is promised (training cannot backpropagate)',
        ('You returned a Python number (.item()) instead of a 0-dim tensor. The training loop backpropagates '
         'through this error, which needs a tensor.'),
        READ_RECONSTRUCTION_ERROR, '''
def reconstruction_error(x, U, V):
    return ((x - x @ U.T @ V.T) ** 2).sum(dim=1).mean().item()
'''),
    Misconception(
        "recon_sum_over_points", A, "reconstruction_error", ('reconstruction_error',),
        'sums over the data points instead of averaging',
        ('You summed the squared errors over the data points instead of averaging them: divide by the number '
         'of points (sum over features, mean over points).'),
        READ_RECONSTRUCTION_ERROR, '''
def reconstruction_error(x, U, V):
    return ((x - x @ U.T @ V.T) ** 2).sum()
'''),
    # ---------------------------------------------------------------------------------------------------------
    # added after the first blind measurement (bench/RESULTS.md): bugs the catalogue did not hold, written anew
    Misconception(
        "pca_centred_rows", A, "pca_basis", ("pca_basis",),
        "subtracts each data point's own mean (rows) instead of each feature's mean",
        ("You subtracted each data point's mean (over its features, dim=1) instead of each feature's mean "
         "over the data points (dim=0). PCA centres the features: x - x.mean(dim=0)."),
        READ_CENTRING, '''
def pca_basis(x, k):
    centred = x - x.mean(dim=1, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return vh[:k].T
'''),
    Misconception(
        "pca_left_singular_vectors", A, "pca_basis", ("pca_basis",),
        "the left singular vectors U[:, :k] (one entry per data point) instead of the right ones",
        ("You returned the left singular vectors U[:, :k], which have one entry per data point. The principal "
         "directions live in feature space: the right singular vectors, the rows of Vh, as columns."),
        READ_PCA_BASIS, '''
def pca_basis(x, k):
    centred = x - x.mean(dim=0, keepdim=True)
    u, _, _ = torch.linalg.svd(centred, full_matrices=False)
    return u[:, :k]
'''),
    Misconception(
        "recon_encoder_decoder_swapped", A, "reconstruction_error", ("reconstruction_error",),
        "reconstructs with x V U: encodes with the decoder and decodes with the encoder",
        ("You reconstructed with x @ V @ U, encoding with the decoder and decoding with the encoder. The code "
         "is U x and the reconstruction V U x; for rows of x that is x @ U.T @ V.T."),
        READ_RECONSTRUCTION_ERROR, '''
def reconstruction_error(x, U, V):
    return ((x - x @ V @ U) ** 2).sum(dim=1).mean()
'''),
]

register(A, HELPERS, MISCONCEPTIONS)
