"""Tests of vaelib.data.digits, vaelib.device and vaelib.runmode.

The reference for the data is scikit-learn's own load_digits (the raw 17-level images and labels); the device
tests set VAE_DEVICE through monkeypatch and compare with what torch itself reports.
"""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from vaelib import fast_mode, get_device, steps, to_device
from vaelib.data import digits

# ---------------------------------------------------------------- data


@pytest.fixture(scope="module")
def raw():
    bunch = load_digits()
    return bunch.data, bunch.target  # (1797, 64) grey levels 0..16, (1797,)


def test_digits_shapes_dtypes_and_range():
    x_train, y_train, x_test, y_test = digits()
    assert x_train.shape == (1438, 64) and x_test.shape == (359, 64)
    assert y_train.shape == (1438,) and y_test.shape == (359,)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    for x in (x_train, x_test):
        assert x.min() >= 0.0 and x.max() <= 1.0
        levels = x * 16  # the raw data has 17 grey levels 0..16
        torch.testing.assert_close(levels, levels.round(), rtol=0, atol=1e-5)
    assert set(y_train.tolist()) == set(range(10)) and set(y_test.tolist()) == set(range(10))


def test_digits_is_a_partition_of_sklearns_digits(raw):
    data, target = raw
    x_train, y_train, x_test, y_test = digits(dtype=torch.float64)
    x_all = torch.cat([x_train, x_test]).numpy() * 16
    y_all = torch.cat([y_train, y_test]).numpy()
    # the same multiset of (image, label) rows as scikit-learn's: sort both by the row bytes and compare
    ours = np.column_stack([np.rint(x_all), y_all])
    theirs = np.column_stack([data, target])
    np.testing.assert_array_equal(ours[np.lexsort(ours.T[::-1])], theirs[np.lexsort(theirs.T[::-1])])


def test_digits_labels_belong_to_their_images(raw):
    data, target = raw
    x_train, y_train, _, _ = digits(dtype=torch.float64)
    lookup = {row.tobytes(): label for row, label in zip(data.astype(np.float64), target, strict=True)}
    for image, label in zip(x_train[:200].numpy() * 16, y_train[:200].tolist(), strict=True):
        assert lookup[np.rint(image).tobytes()] == label


def test_digits_split_is_deterministic_and_depends_on_the_seed():
    first, second, other = digits(seed=0), digits(seed=0), digits(seed=1)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(first[0], other[0])


def test_digits_test_fraction():
    x_train, _, x_test, _ = digits(test_fraction=0.5)
    assert len(x_test) == round(0.5 * 1797) and len(x_train) + len(x_test) == 1797


def test_digits_binarize_thresholds_at_one_half():
    grey = digits()[0]
    binary = digits(binarize=True)[0]
    assert set(torch.unique(binary).tolist()) <= {0.0, 1.0}
    assert torch.equal(binary, (grey > 0.5).to(binary.dtype))
    assert 0.2 < binary.mean().item() < 0.5  # sanity: neither all ink nor all paper


# ---------------------------------------------------------------- device


def test_get_device_cpu_from_the_environment(monkeypatch):
    monkeypatch.setenv("VAE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    monkeypatch.setenv("VAE_DEVICE", " CPU ")  # case and spaces are forgiven
    assert get_device() == torch.device("cpu")


@pytest.mark.parametrize("value", ["auto", None])
def test_get_device_auto_takes_cuda_only_when_present(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("VAE_DEVICE", raising=False)
    else:
        monkeypatch.setenv("VAE_DEVICE", value)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert get_device().type == expected


def test_get_device_argument_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("VAE_DEVICE", "cuda:7")
    assert get_device("cpu") == torch.device("cpu")


def test_get_device_cuda_without_cuda_is_a_clear_error(monkeypatch):
    if torch.cuda.is_available():
        monkeypatch.setenv("VAE_DEVICE", "cuda")
        assert get_device().type == "cuda"
        pytest.skip("CUDA is present here: the error path cannot be exercised")
    monkeypatch.setenv("VAE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="CUDA"):
        get_device()


def test_to_device_returns_one_tensor_or_a_tuple():
    a, b = torch.zeros(2), torch.ones(3)
    moved = to_device(a, device=torch.device("cpu"))
    assert isinstance(moved, torch.Tensor) and moved.device.type == "cpu"
    pair = to_device(a, b, device=torch.device("cpu"))
    assert isinstance(pair, tuple) and len(pair) == 2 and torch.equal(pair[1], b)


# ---------------------------------------------------------------- run mode


@pytest.mark.parametrize(("value", "fast"), [(None, False), ("0", False), ("no", False), ("1", True),
                                             ("true", True), ("YES", True)])
def test_steps_follows_vae_book_fast(monkeypatch, value, fast):
    if value is None:
        monkeypatch.delenv("VAE_BOOK_FAST", raising=False)
    else:
        monkeypatch.setenv("VAE_BOOK_FAST", value)
    assert fast_mode() is fast
    assert steps(1000, 10) == (10 if fast else 1000)


# ---------------------------------------------------------------- vaelib.codes


def test_fraction_far_against_scipy_kdtree():
    from scipy.spatial import cKDTree

    from vaelib.codes import fraction_far, neighbour_threshold

    g = torch.Generator().manual_seed(0)
    codes = torch.cat([torch.randn(300, 2, generator=g) * 0.3 + 3, torch.randn(300, 2, generator=g) * 0.3 - 3])
    candidates = torch.rand(2000, 2, generator=g) * 12 - 6  # uniform in a box with a gap between the clusters
    tree = cKDTree(codes.numpy())
    own, _ = tree.query(codes.numpy(), k=2)  # column 1: nearest other code
    threshold = np.quantile(own[:, 1], 0.99)
    nearest, _ = tree.query(candidates.numpy(), k=1)
    np.testing.assert_allclose(neighbour_threshold(codes).item(), threshold, rtol=1e-5)
    np.testing.assert_allclose(fraction_far(candidates, codes), np.mean(nearest > threshold), atol=1e-6)
    assert fraction_far(codes[:50] + 1e-4, codes) == 0.0  # points on top of the codes are never far


def test_the_grading_sandbox_sees_the_same_training_split_and_no_test_image(monkeypatch):
    """In the grading sandbox only the training split exists (autograder.sandbox.training_digits, bound where
    vaelib.data.TRAINING_ONLY_FILE says; scikit-learn's copy is hidden): digits() gives the same x_train, and
    neither its x_test stand-in nor any other seed's split holds a test image, so a model cannot be trained on the
    images the grader evaluates it on."""
    import numpy as np

    import vaelib.data
    from autograder.sandbox import training_digits

    x_train, y_train, x_test, _ = vaelib.data.digits()
    monkeypatch.setattr(vaelib.data, "TRAINING_ONLY_FILE", str(training_digits()))
    inside = vaelib.data.digits()
    assert torch.equal(inside[0], x_train) and torch.equal(inside[1], y_train)
    assert inside[2].shape == x_test.shape
    known = {row.tobytes() for row in x_train.numpy()}
    test_only = {row.tobytes() for row in x_test.numpy()} - known
    assert len(test_only) > 300  # the real test split has images the training split lacks
    for seed, fraction in ((0, 0.2), (1, 0.2), (7, 0.5)):
        for part in vaelib.data.digits(seed=seed, test_fraction=fraction)[0::2]:
            assert not {row.tobytes() for row in part.numpy()} & test_only
    binarized = vaelib.data.digits(binarize=True)[0].numpy()
    assert np.array_equal(binarized, (x_train.numpy() > 0.5).astype(np.float32))
