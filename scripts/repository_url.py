"""The book's repository URL is one setting: `repository.url` in _config.yml.

Derived from it when the book is built (nothing to change by hand): the Binder and Colab launch buttons and the
repository button (sphinx-book-theme), the exercise notebooks' Colab links and the `{{ repository_url }}` and
`{{ repository_link }}` substitutions on the pages (book/_ext/book_site.py).
Repeated literally, because a notebook running on Colab cannot read _config.yml: the `REPOSITORY = "..."` line of
the install cell that opens every notebook page (book/*.md, and the book/*.ipynb generated from them).

Usage: python scripts/repository_url.py              print the URL
       python scripts/repository_url.py --check      list every install cell that disagrees (exit 1 if any)
       python scripts/repository_url.py --set URL    write URL into _config.yml and every install cell, then
                                                     regenerate the notebooks (scripts/sync_notebooks.py)
"""

import argparse
import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sync_notebooks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG_LINE = re.compile(r"^(repository:\n(?:[ \t]+.*\n)*?[ \t]+url:[ \t]*)(\S+)[ \t]*$", re.M)
INSTALL_LINE = re.compile(r'^REPOSITORY = "([^"]*)"', re.M)


def configured_url(root: Path = ROOT) -> str:
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    return str(config["repository"]["url"]).rstrip("/")


def disagreements(root: Path = ROOT) -> list[str]:
    """One line per notebook page whose install cell is missing or names another repository."""
    url = configured_url(root)
    problems = []
    for page in sync_notebooks.notebook_pages(root):
        found = INSTALL_LINE.findall(page.read_text(encoding="utf-8"))
        if found != [url]:
            problems.append(f"{page.relative_to(root)}: install cell has REPOSITORY = {found or 'nothing'}, "
                            f"_config.yml has {url!r}")
    return problems


def set_url(url: str, root: Path = ROOT) -> None:
    config = root / "_config.yml"
    text, count = CONFIG_LINE.subn(lambda match: match.group(1) + url, config.read_text(encoding="utf-8"))
    if count != 1:
        sys.exit("could not find `repository:` / `url:` in _config.yml")
    config.write_text(text, encoding="utf-8")
    for page in sync_notebooks.notebook_pages(root):
        text = page.read_text(encoding="utf-8")
        page.write_text(INSTALL_LINE.sub(f'REPOSITORY = "{url}"', text), encoding="utf-8")
    for target in sync_notebooks.stale_notebooks(root):
        target.write_text(sync_notebooks.notebook_text(target.with_suffix(".md")), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true")
    group.add_argument("--set", metavar="URL")
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    if args.set:
        if not re.fullmatch(r"https://\S+", args.set):
            sys.exit(f"not an https URL: {args.set}")
        set_url(args.set.rstrip("/"), args.root)
    if args.check:
        problems = disagreements(args.root)
        print("\n".join(problems) or f"every install cell uses {configured_url(args.root)}")
        return 1 if problems else 0
    print(configured_url(args.root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
