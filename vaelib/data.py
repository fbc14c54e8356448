"""Data that ships with the packages: scikit-learn's 8x8 handwritten digits (1,797 images, no download).

``load_mnist`` exists as an option for readers with internet; nothing in the book or the tests calls it.
"""

import numpy as np
import torch
from sklearn.datasets import load_digits


def digits(binarize: bool = False, seed: int = 0, test_fraction: float = 0.2, dtype=torch.float32):
    """Return ``(x_train, y_train, x_test, y_test)`` from scikit-learn's digits.

    x: (n, 64) pixel intensities scaled to [0, 1] (the raw data has 17 grey levels, 0..16);
    y: (n,) integer labels 0..9. With ``binarize`` the pixels are thresholded at 0.5, which suits a
    Bernoulli decoder. The split is a fixed random permutation (``seed``) so every chapter sees the same one.
    """
    bunch = load_digits()
    x = bunch.data.astype(np.float64) / 16.0
    y = bunch.target.astype(np.int64)
    if binarize:
        x = (x > 0.5).astype(np.float64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(test_fraction * len(x)))
    test, train = order[:n_test], order[n_test:]
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
