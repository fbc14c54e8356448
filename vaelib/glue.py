"""Numbers for the text: a page's prose quotes a number its cells computed, so the two cannot disagree.

In a cell, ``glue("ch4-test-elbo", value)`` stores the value without showing it; the page's text writes
{glue:text}`ch4-test-elbo:.2f` where the number belongs, and the book build (MyST-NB) pastes it there. A name
that no cell glued fails the strict build. Outside the build (Colab, Binder, a terminal) there is nothing to paste
into, and ``glue`` does nothing.
"""

import math
import numbers


def glue(name: str, value) -> None:
    """Store ``value`` (a number, a 0-d tensor or array, or a string) under ``name`` for the page's text."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()  # a 0-d tensor or NumPy scalar: pasted as a plain number
    if not isinstance(value, numbers.Real | str):
        raise TypeError(f"glue {name!r}: a number or a string, not {type(value).__name__}")
    if isinstance(value, numbers.Integral):
        value = int(value)
    elif isinstance(value, numbers.Real):
        value = float(value)
    try:
        from IPython import get_ipython
        from myst_nb import glue as myst_glue
    except ImportError:  # no notebook build here: nothing to paste into
        return
    if get_ipython() is not None:
        myst_glue(name, value, display=False)


def mean_sd(values, spec: str = ".2f") -> str:
    """"mean ± sd" of several runs (the sample standard deviation, n - 1), each formatted with ``spec``."""
    values = [float(v) for v in values]
    if len(values) < 2:
        raise ValueError("mean_sd needs at least two values")
    mean = math.fsum(values) / len(values)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))  # nan, inf pass
    return f"{format(mean, spec)} ± {format(sd, spec)}"
