"""scripts/build_book.sh: its execution cache is cleared exactly when vaelib or the run mode changes, and the
full (reader's) mode builds. Slow: these run the real Jupyter Book build.

The cache test builds a copy of the repository whose book is one small notebook page that prints a fresh random
token and the run mode: a page served from the cache shows the old token, a re-executed one a new token."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

PAGE = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# Cache probe

```{code-cell} ipython3
import uuid

from vaelib import fast_mode

print(f"token {uuid.uuid4().hex} fast {fast_mode()}")
```
"""


def _build(root: Path, fast: str) -> tuple[str, str, bool]:
    """Run the copy's build_book.sh; return (token, fast flag printed by the page, whether the cache was cleared)."""
    env = dict(os.environ, VAE_BOOK_FAST=fast, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    result = subprocess.run(["bash", str(root / "scripts" / "build_book.sh")], cwd=root, env=env,
                            capture_output=True, text=True, timeout=900)
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"build failed:\n{log[-4000:]}"
    page = (root / "_build" / "html" / "book" / "intro.html").read_text(encoding="utf-8")
    token, flag = re.search(r"token ([0-9a-f]{32}) fast (True|False)", page).groups()
    return token, flag, "clearing" in log


@pytest.fixture
def small_book(tmp_path) -> Path:
    """A copy of the repository's build inputs (scripts, config, vaelib) whose book is the cache probe page."""
    for name in ("scripts", "vaelib", "_config.yml"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, tmp_path / name)
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.md").write_text(PAGE)
    shutil.copy2(ROOT / "book" / "references.bib", tmp_path / "book")
    shutil.copytree(ROOT / "book" / "_ext", tmp_path / "book" / "_ext", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "book" / "_static").mkdir()
    for static in ("favicon.svg", "book.css"):
        shutil.copy2(ROOT / "book" / "_static" / static, tmp_path / "book" / "_static")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n")
    config = (tmp_path / "_config.yml").read_text()
    config = re.sub(r"\n    exercise_notebooks:\n(      .*\n)+", "\n", config)  # no chapters here
    (tmp_path / "_config.yml").write_text(config)
    return tmp_path


def test_cache_is_cleared_when_vaelib_or_the_mode_changes(small_book):
    token, flag, cleared = _build(small_book, "1")
    assert flag == "True"
    again, _, cleared = _build(small_book, "1")
    assert again == token and not cleared, "an unchanged rebuild re-executed the page or cleared the cache"

    with open(small_book / "vaelib" / "probability.py", "a") as library:  # any change to a library file
        library.write("\n# a maintainer's edit\n")
    after_edit, _, cleared = _build(small_book, "1")
    assert cleared and after_edit != token, "editing vaelib did not clear the cache"

    (small_book / "vaelib" / "new_module.py").write_text("VALUE = 1\n")  # a new file counts too
    after_new_file, _, cleared = _build(small_book, "1")
    assert cleared and after_new_file != after_edit, "adding a vaelib file did not clear the cache"

    full, flag, cleared = _build(small_book, "0")
    assert cleared and full != after_new_file and flag == "False", "switching to full mode reused fast results"
    back, flag, cleared = _build(small_book, "1")
    assert cleared and flag == "True", "switching back to fast mode reused full-mode results"


def test_full_mode_build(tmp_path):
    """The reader's build (VAE_BOOK_FAST=0): every chapter runs its full number of steps and the strict build
    passes. Minutes: it is what `make book` publishes."""
    env = dict(os.environ, VAE_BOOK_FAST="0", PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    result = subprocess.run(["bash", str(ROOT / "scripts" / "build_book.sh"), "--copy-to", str(tmp_path)],
                            env=env, capture_output=True, text=True, timeout=3600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"the full-mode build failed:\n{log[-6000:]}"
    intro = (tmp_path / "_build" / "html" / "book" / "intro.html").read_text(encoding="utf-8")
    assert "fast mode: False" in intro, "the intro does not report the full mode"
    seconds = re.search(r"book built in (\d+) s", log)
    print(f"full-mode build in {seconds[1] if seconds else '?'} s")
