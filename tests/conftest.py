"""Shared fixtures: the repository root and one fast-mode build of the book per test session."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = [
    "ch1_maximum_likelihood",
    "ch2_latent_variable_models",
    "ch3_autoencoders_pca",
    "ch4_variational_autoencoders",
    "ch5_elbo",
    "ch6_reparameterization",
    "ch7_exact_posterior",
    "ch8_rate_distortion",
]
GUIDES = ["guide_students", "guide_instructors", "guide_sandbox", "guide_adding_an_exercise", "guide_maintainers"]
PAGES = ["intro", *CHAPTERS, "notation", "errata", "bibliography", *GUIDES]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """Build the book in fast mode in a private copy (its own execution cache) and return the html folder.

    Set VAE_BOOK_HTML to an existing _build/html to test that build instead (maintainers, after `make book`).
    """
    existing = os.environ.get("VAE_BOOK_HTML")
    if existing:
        return Path(existing)
    if not (ROOT / "book/_static/mathjax/tex-chtml.js").exists():
        pytest.fail("MathJax is not installed in book/_static/mathjax: run `make setup` (scripts/install_mathjax.sh)")
    copy = tmp_path_factory.mktemp("book")
    env = dict(os.environ, VAE_BOOK_FAST="1", PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    result = subprocess.run(["bash", str(ROOT / "scripts/build_book.sh"), "--copy-to", str(copy)], env=env,
                            capture_output=True, text=True, timeout=1800)
    log = result.stdout + result.stderr
    (copy / "build.log").write_text(log)
    if result.returncode != 0:
        pytest.fail(f"the strict book build failed (exit {result.returncode}); last lines:\n{log[-6000:]}")
    return copy / "_build" / "html"


@pytest.fixture
def one_torch_thread():
    """Small tensors: one thread is much faster than two on a loaded 2-core machine; restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
