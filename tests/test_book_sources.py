"""The sources of chapters 3-6 read well: short code lines, equation numbers (not labels) in code comments, one
erratum box style, straight quotes in code, and alt text on every figure of the built pages.

The first three need no build. The last two use the session's fast-mode build (conftest.built_book).
"""

import importlib.util
import re
from html.parser import HTMLParser

import pytest

from tests.conftest import ROOT

CHAPTERS = ["ch3_autoencoders_pca", "ch4_variational_autoencoders", "ch5_elbo", "ch6_reparameterization"]
MAX_CODE_LINE = 88  # wider code blocks scroll sideways at 1280 px
CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
LITERALINCLUDE = re.compile(r"^```\{literalinclude\} \.\./(\S+)\n:pyobject: (\S+)\n```", re.MULTILINE)


def equation_numbers():
    spec = importlib.util.spec_from_file_location("equation_numbers", ROOT / "scripts/equation_numbers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def source(chapter):
    return (ROOT / "book" / f"{chapter}.md").read_text()


def code_lines(chapter):
    """(cell number, line) for every line of code the reader sees (the cell's YAML metadata header left out)."""
    for index, cell in enumerate(CODE_CELL.finditer(source(chapter)), start=1):
        lines = cell.group(1).splitlines()
        if lines and lines[0] == "---":  # metadata (alt text, ...) between two "---" lines
            lines = lines[lines.index("---", 1) + 1 :]
        for line in lines:
            yield index, line


def pyobject_source(path, name):
    """The lines of a function, class or method as literalinclude :pyobject: shows them."""
    import ast

    text = (ROOT / path).read_text()
    tree = ast.parse(text)
    lines = text.splitlines()
    nodes = tree.body
    for part in name.split("."):
        node = next(n for n in nodes if getattr(n, "name", None) == part)
        nodes = getattr(node, "body", [])
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return lines[start - 1 : node.end_lineno]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_code_cells_at_most_88_characters(chapter):
    long = [f"cell {i}: {len(line)} chars: {line}" for i, line in code_lines(chapter) if len(line) > MAX_CODE_LINE]
    assert not long, "code lines wider than 88 characters:\n" + "\n".join(long)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_library_code_shown_in_the_chapter_at_most_88_characters(chapter):
    long = []
    for path, name in LITERALINCLUDE.findall(source(chapter)):
        long += [f"{path}:{name}: {line}" for line in pyobject_source(path, name) if len(line) > MAX_CODE_LINE]
    assert not long, "lines of literalinclude'd library code wider than 88 characters:\n" + "\n".join(long)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_code_has_straight_quotes(chapter):
    curly = [f"cell {i}: {line}" for i, line in code_lines(chapter) if re.search("[\u2018\u2019\u201c\u201d]", line)]
    assert not curly, "curly quotes in code:\n" + "\n".join(curly)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_one_erratum_box_style(chapter):
    text = source(chapter)
    boxes = re.findall(r"^:::\{admonition\}([^\n]*)\n([^\n]*)", text, re.MULTILINE)
    errata = [(title, option) for title, option in boxes if "rratum" in title]
    for title, option in errata:
        assert re.fullmatch(r" Erratum: \S.*", title), f"erratum title must read 'Erratum: <short title>': {title!r}"
        assert option == ":class: erratum warning", f"erratum {title!r} has {option!r}"
    # no erratum hidden in another kind of box
    assert not re.search(r"^:::\{(warning|note|caution)\}\n[^\n]*[Ee]rratum", text, re.MULTILINE)


def test_code_comments_cite_equation_numbers_of_their_chapter():
    problems = equation_numbers().check(only=CHAPTERS)
    assert not problems, "\n".join(problems)


def test_equation_numbers_match_the_built_pages(built_book):
    """The numbers computed from the sources (scripts/equation_numbers.py) are those the reader sees."""
    numbers = equation_numbers().numbering()
    for chapter in CHAPTERS:
        html = (built_book / "book" / f"{chapter}.html").read_text()
        shown = dict(re.findall(r'id="equation-([A-Za-z0-9_-]+)"[^>]*>\s*<span class="eqno">\(([0-9.]+)\)', html))
        expected = {label: number for label, (number, doc) in numbers.items() if doc == f"book/{chapter}"}
        assert shown == expected


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_figure_has_alt_text(built_book, chapter):
    parser = _Images()
    parser.feed((built_book / "book" / f"{chapter}.html").read_text())
    figures = [image for image in parser.images if "_images/" in image.get("src", "")]
    assert figures, "no figures found: the page or the parser changed"
    missing = [image["src"] for image in figures if not image.get("alt", "").strip()]
    assert not missing, f"{len(missing)} of {len(figures)} figures have no alt text: {missing}"
