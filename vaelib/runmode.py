"""Fast mode: the same code on fewer steps, so CI and the tests stay quick.

``VAE_BOOK_FAST=1`` switches it on. Readers get the full mode (the default).
"""

import os


def fast_mode() -> bool:
    """True when ``VAE_BOOK_FAST`` is set to 1/true/yes."""
    return os.environ.get("VAE_BOOK_FAST", "0").strip().lower() in {"1", "true", "yes"}


def steps(full: int, fast: int) -> int:
    """Number of steps (epochs, samples, ...) to use: ``fast`` in fast mode, ``full`` otherwise."""
    return fast if fast_mode() else full
