"""Data that ships with the packages: scikit-learn's 8x8 handwritten digits (1,797 images, no download).

``load_mnist`` exists as an option for readers with internet; nothing in the book or the tests calls it.
"""

import os

import numpy as np
import torch
from sklearn.datasets import load_digits

# Only in the grading sandbox (autograder/sandbox.py binds it there and hides scikit-learn's copy): an .npz of the
# TRAINING split (raw pixels "data" (n, 64) in 0..16, labels "target", in the order digits() returns them, and
# "n_test", the size of the real test split). The test split the grader evaluates trained models on is not there.
TRAINING_ONLY_FILE = "/opt/autograder-data/digits-training.npz"


def split_indices(n: int, seed: int = 0, test_fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """(test, train) row indices of the split: a fixed random permutation (``seed``), the first rows for the test."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    return order[:n_test], order[n_test:]


def digits(binarize: bool = False, seed: int = 0, test_fraction: float = 0.2, dtype=torch.float32):
    """Return ``(x_train, y_train, x_test, y_test)`` from scikit-learn's digits.

    x: (n, 64) pixel intensities scaled to [0, 1] (the raw data has 17 grey levels, 0..16);
    y: (n,) integer labels 0..9. With ``binarize`` the pixels are thresholded at 0.5, which suits a
    Bernoulli decoder. The split is a fixed random permutation (``seed``) so every chapter sees the same one.

    While a submission is graded, only the training split is available (TRAINING_ONLY_FILE): x_train is the same,
    and x_test holds training images in place of the withheld test split (the grader evaluates on the real one);
    another ``seed`` or ``test_fraction`` splits the training images.
    """
    if os.path.isfile(TRAINING_ONLY_FILE):
        with np.load(TRAINING_ONLY_FILE) as data:
            raw, y = data["data"].astype(np.float64), data["target"].astype(np.int64)
            n_test = int(data["n_test"])  # as many stand-in rows as the real test split has
        if (seed, test_fraction) == (0, 0.2):
            test, train = np.arange(n_test), np.arange(len(raw))
        else:
            test, train = split_indices(len(raw), seed, test_fraction)
    else:
        bunch = load_digits()
        raw, y = bunch.data.astype(np.float64), bunch.target.astype(np.int64)
        test, train = split_indices(len(raw), seed, test_fraction)
    x = raw / 16.0
    if binarize:
        x = (x > 0.5).astype(np.float64)
    as_x = lambda a: torch.tensor(a, dtype=dtype)  # noqa: E731
    return as_x(x[train]), torch.tensor(y[train]), as_x(x[test]), torch.tensor(y[test])


def load_mnist(root: str = "~/.cache/vaelib/mnist", train: bool = True):
    """Optional: MNIST through torchvision (downloads on first use; needs internet and torchvision).

    Returns x: (n, 784) in [0, 1] and y: (n,). Never used by the book build or the tests.
    """
    try:
        from torchvision import datasets  # imported lazily: torchvision is not a requirement
    except ImportError as error:
        raise ImportError("load_mnist needs torchvision (pip install torchvision); the book uses digits()") from error
    import os

    dataset = datasets.MNIST(os.path.expanduser(root), train=train, download=True)
    x = dataset.data.reshape(len(dataset), -1).float() / 255.0
    return x, dataset.targets.clone()
