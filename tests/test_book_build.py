"""The book builds strictly (fast mode) and every page holds what a reader needs."""

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.conftest import CHAPTERS, PAGES

pytestmark = pytest.mark.slow


def page(built_book: Path, name: str) -> str:
    path = built_book / "book" / f"{name}.html"
    assert path.exists(), f"page {path} was not built"
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_has_math_figure_and_no_error(built_book, chapter):
    html = page(built_book, chapter)
    assert 'class="math notranslate nohighlight"' in html, "no display math rendered by Sphinx"
    images = re.findall(r'<img[^>]+src="([^"]+)"', html)
    figures = [src for src in images if "_images/" in src]
    assert figures, "no figure (cell output image) on the page"
    for src in figures:
        assert (built_book / "book" / unquote(src)).resolve().exists(), f"missing image file {src}"
    assert "Traceback (most recent call last)" not in html
    assert 'class="output traceback' not in html and "ipythontb" not in html, "a cell printed a traceback"
    assert "Error" not in re.sub(r"<[^>]+>", " ", " ".join(re.findall(r'<div class="output stderr".*?</div>', html,
                                                                          re.S)))


def test_every_page_built_and_uses_local_mathjax(built_book):
    for name in PAGES:
        html = page(built_book, name)
        scripts = re.findall(r'<script[^>]+src="([^"]+)"', html)
        assert not [s for s in scripts if s.startswith(("http:", "https:", "//"))], f"{name} loads remote scripts"
        if 'class="math' in html:  # Sphinx adds MathJax only to pages with math
            assert any("mathjax/tex-chtml.js" in s for s in scripts), f"{name} does not load the local MathJax"
    assert (built_book / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


def test_launch_and_download_buttons(built_book):
    html = page(built_book, "ch4_variational_autoencoders")
    assert "mybinder.org" in html, "no Binder launch button"
    assert "colab.research.google.com" in html, "no Colab launch button"
    assert "btn-download-source-button" in html or "_sources/book/ch4_variational_autoencoders" in html
    assert "ch4_variational_autoencoders.ipynb" in html, "no .ipynb download"


def test_bibliography_lists_the_papers(built_book):
    html = page(built_book, "bibliography")
    for author in ["Kingma", "Rezende", "Burda", "Mohamed", "Tipping"]:
        assert author in html


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(attributes["id"])
        for key in ("href", "src"):
            if attributes.get(key):
                self.links.append(attributes[key])


def test_internal_links_resolve(built_book):
    """Every relative link and anchor between the built pages points at something that exists."""
    parsed: dict[Path, _Links] = {}
    for html_file in built_book.rglob("*.html"):
        if "_static" in html_file.parts:
            continue
        parser = _Links()
        parser.feed(html_file.read_text(encoding="utf-8"))
        parsed[html_file.resolve()] = parser
    broken = []
    for source, parser in parsed.items():
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith(("//", "mailto:", "javascript:")):
                continue
            target = source if not parts.path else (source.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{source.name}: {link}")
            elif parts.fragment and target.suffix == ".html" and target in parsed:
                if unquote(parts.fragment) not in parsed[target].ids:
                    broken.append(f"{source.name}: {link} (no such anchor)")
    assert not broken, "broken internal links:\n" + "\n".join(sorted(set(broken))[:50])
