"""Write every page of the book that is a notebook (book/*.md with a jupytext kernelspec) as book/<page>.ipynb.

Colab opens only .ipynb files from GitHub, and the Colab and Binder launch buttons of sphinx-book-theme point at
`<page>.ipynb` when that file lies beside the page's source (header_buttons/launch.py: "if we have a non-ipynb
file, but an ipynb of same name exists"). So each chapter is committed twice: the MyST source (edit this one) and
this generated notebook (no outputs, cell ids numbered so that the file only changes when the page does). The
Sphinx build ignores the notebooks (_config.yml exclude_patterns); scripts/build_book.sh runs this script first, and
tests/test_book_sources.py fails when a committed notebook differs from its page.

Usage: python scripts/sync_notebooks.py [--check] [ROOT]
  --check   write nothing; list the notebooks that are missing or stale and exit 1 if there are any
"""

import argparse
import sys
from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parents[1]


def notebook_pages(root: Path) -> list[Path]:
    """The book's MyST pages that are notebooks (they carry a kernelspec in their jupytext front matter)."""
    pages = []
    for page in sorted((root / "book").glob("*.md")):
        text = page.read_text(encoding="utf-8")
        if text.startswith("---\n") and "\nkernelspec:" in text.split("\n---\n", 1)[0]:
            pages.append(page)
    return pages


def notebook_text(page: Path) -> str:
    notebook = jupytext.read(page)
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"
    return jupytext.writes(notebook, fmt="ipynb")


def stale_notebooks(root: Path) -> list[Path]:
    stale = []
    for page in notebook_pages(root):
        target = page.with_suffix(".ipynb")
        if not target.exists() or target.read_text(encoding="utf-8") != notebook_text(page):
            stale.append(target)
    return stale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("root", nargs="?", type=Path, default=ROOT)
    args = parser.parse_args()
    stale = stale_notebooks(args.root)
    if args.check:
        for target in stale:
            print(f"{target.relative_to(args.root)} is missing or differs from its page: "
                  "run `python scripts/sync_notebooks.py`")
        return 1 if stale else 0
    for target in stale:
        target.write_text(notebook_text(target.with_suffix(".md")), encoding="utf-8")
        print(f"wrote {target.relative_to(args.root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
