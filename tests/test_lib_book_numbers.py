"""Numbers the book's text quotes: vaelib.glue (a cell's value pasted into the prose) and
vaelib.probability.bits_per_dim (nats per data point as bits per dimension)."""

import math
import sys
import types

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, Uniform

from vaelib.glue import glue, mean_sd
from vaelib.probability import bits_per_dim


def test_bits_per_dim_of_known_distributions():
    """Against log-probabilities from torch.distributions, whose bits are known: a fair coin per pixel is 1 bit per
    pixel, a coin with p = 0.1 is its entropy in bits on average, a uniform density on [0, 1] is 0 and one on
    [0, 1/16] is -4 bits per dimension (a density's bits depend on the scale)."""
    x = torch.bernoulli(torch.full((1000, 64), 0.5), generator=torch.Generator().manual_seed(0))
    fair = Independent(Bernoulli(probs=torch.full((64,), 0.5)), 1).log_prob(x)  # (1000,) nats
    torch.testing.assert_close(bits_per_dim(fair, 64), torch.ones(1000))
    p = 0.1
    entropy_bits = -(p * math.log2(p) + (1 - p) * math.log2(1 - p))
    biased = Bernoulli(probs=torch.tensor(p, dtype=torch.float64)).entropy().item()  # nats per pixel
    assert bits_per_dim(-64 * biased, 64) == pytest.approx(entropy_bits, rel=1e-12)
    u = torch.rand(10, 3)
    assert bits_per_dim(Independent(Uniform(torch.zeros(3), torch.ones(3)), 1).log_prob(u), 3).abs().max() < 1e-6
    narrow = Independent(Uniform(torch.zeros(3), torch.full((3,), 1 / 16)), 1).log_prob(u / 16)
    torch.testing.assert_close(bits_per_dim(narrow, 3), torch.full((10,), -4.0))
    # numbers, arrays and tensors alike
    value = Normal(0.0, 1.0).log_prob(torch.tensor(0.3)).item()
    assert bits_per_dim(value, 1) == pytest.approx(-value / math.log(2))
    np.testing.assert_allclose(bits_per_dim(np.array([-44.3614195558365]), 64), [1.0])


def test_glue_stores_plain_numbers_for_the_build(monkeypatch):
    """In a notebook kernel, glue hands MyST-NB a plain Python number (a NumPy float64's repr would not parse as a
    number in the text) and shows nothing."""
    calls = []
    fake_myst_nb = types.SimpleNamespace(glue=lambda name, value, display=True: calls.append((name, value, display)))
    monkeypatch.setitem(sys.modules, "myst_nb", fake_myst_nb)
    monkeypatch.setattr("IPython.get_ipython", lambda: object())
    glue("a", np.float64(1.5))
    glue("b", torch.tensor(-2.25, dtype=torch.float64))
    glue("c", np.int64(7))
    glue("d", "1.0 ± 0.1")
    assert calls == [("a", 1.5, False), ("b", -2.25, False), ("c", 7, False), ("d", "1.0 ± 0.1", False)]
    assert [type(value) for _, value, _ in calls] == [float, float, int, str]
    with pytest.raises(TypeError, match="a number or a string"):
        glue("e", torch.ones(3))


def test_glue_outside_a_notebook_does_nothing(monkeypatch):
    """On a terminal (no IPython kernel) or where MyST-NB is missing (Colab) glue is silent, so the chapters run."""
    calls = []
    fake_myst_nb = types.SimpleNamespace(glue=lambda *args, **kwargs: calls.append(args))
    monkeypatch.setitem(sys.modules, "myst_nb", fake_myst_nb)
    monkeypatch.setattr("IPython.get_ipython", lambda: None)
    glue("a", 1.0)
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import fails
    monkeypatch.setattr("IPython.get_ipython", lambda: object())
    glue("b", 2.0)
    assert calls == []


def test_mean_sd_against_numpy():
    values = np.array([-20.1, -19.98, -19.95, -20.17, -20.0])
    expected = f"{values.mean():.2f} ± {values.std(ddof=1):.2f}"
    assert mean_sd(values) == expected == "-20.04 ± 0.09"
    assert mean_sd(torch.tensor([1.0, 3.0]), ".1f") == "2.0 ± 1.4"
    with pytest.raises(ValueError):
        mean_sd([1.0])
    assert mean_sd([1.0, float("nan")]) == "nan ± nan"  # a run that produced no value shows as such
    assert mean_sd([1.0, float("inf")]) == "inf ± nan"
