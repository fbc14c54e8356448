"""The book's sources, read without building: line width of code, equation citations, install cells, erratum boxes,
the repository URL as one setting, the generated notebooks. Quick; each page is its own test case, so a failure
names the page and the line."""

import ast
import re
import sys
from pathlib import Path

import jupytext
import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import repository_url  # noqa: E402
import sync_notebooks  # noqa: E402

MAX_COLUMNS = 88  # what fits the text column at 1280 px (book/_static/book.css)
NOTEBOOK_PAGES = [page.stem for page in sync_notebooks.notebook_pages(ROOT)]
ALL_PAGES = sorted(page.stem for page in (ROOT / "book").glob("*.md"))
LABEL_CITATION = re.compile(r"\((?:ch\d|errata|intro)[\w-]*\)")


def code_cells(name: str) -> list:
    return [cell for cell in jupytext.read(ROOT / "book" / f"{name}.md").cells if cell.cell_type == "code"]


def test_every_chapter_is_a_notebook_page():
    assert {f"ch{k}" for k in range(1, 7)} <= {name.split("_")[0] for name in NOTEBOOK_PAGES}


@pytest.mark.parametrize("name", NOTEBOOK_PAGES)
def test_code_cells_fit_88_columns(name):
    long_lines = [f"cell {index}: {len(line)} columns: {line.strip()[:60]}"
                  for index, cell in enumerate(code_cells(name))
                  for line in cell.source.splitlines() if len(line) > MAX_COLUMNS]
    assert not long_lines, f"book/{name}.md has code lines over {MAX_COLUMNS} columns:\n" + "\n".join(long_lines)


def _python_object_lines(path: Path, dotted_name: str) -> list[str]:
    """The source lines of a (possibly nested) class or function, as `literalinclude :pyobject:` shows them."""
    source = path.read_text(encoding="utf-8")
    body = ast.parse(source).body
    node = None
    for part in dotted_name.split("."):
        node = next(item for item in body if getattr(item, "name", None) == part)
        body = getattr(node, "body", [])
    first = min([node.lineno] + [decorator.lineno for decorator in getattr(node, "decorator_list", [])])
    return source.splitlines()[first - 1:node.end_lineno]


@pytest.mark.parametrize("name", ALL_PAGES)
def test_listings_fit_88_columns(name):
    """Library code shown on a page (`literalinclude` with `:pyobject:`) also fits the column."""
    text = (ROOT / "book" / f"{name}.md").read_text(encoding="utf-8")
    long_lines = []
    for path, dotted_name in re.findall(r"```\{literalinclude\} (\S+)\n:pyobject: (\S+)", text):
        for line in _python_object_lines((ROOT / "book" / path).resolve(), dotted_name):
            if len(line) > MAX_COLUMNS:
                long_lines.append(f"{path} {dotted_name}: {len(line)} columns: {line.strip()[:60]}")
    assert not long_lines, f"book/{name}.md shows library lines over {MAX_COLUMNS} columns:\n" + "\n".join(long_lines)


@pytest.mark.parametrize("name", NOTEBOOK_PAGES)
def test_code_cites_equations_by_number_not_label(name):
    """Comments and plot labels say "eq. (3)" as the reader sees it, never a label name like "(ch2-naive-var)"."""
    found = [f"cell {index}: {line.strip()[:80]}" for index, cell in enumerate(code_cells(name))
             for line in cell.source.splitlines() if LABEL_CITATION.search(line)]
    assert not found, f"book/{name}.md cites equations by label in code:\n" + "\n".join(found)


@pytest.mark.parametrize("name", NOTEBOOK_PAGES)
def test_first_cell_installs_the_course_library(name):
    """On Colab or Binder a chapter runs as it is: its first code cell installs vaelib when it is missing, from the
    repository that _config.yml names, and is removed from the HTML page (the notebook keeps it)."""
    first = code_cells(name)[0]
    url = repository_url.configured_url()
    source = first.source
    assert "import vaelib" in source and "except ImportError" in source, "the first cell does not try vaelib"
    assert f'REPOSITORY = "{url}"' in source, f"the first cell does not name {url}"
    assert re.search(r'"pip", "install"', source), "the first cell does not pip install"
    assert "remove-cell" in first.metadata.get("tags", []), "the install cell shows on the page"


def test_repository_url_is_one_setting():
    problems = repository_url.disagreements()
    assert not problems, "\n".join(problems)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "repository.url" in readme and "scripts/repository_url.py" in readme, "README does not say where"


def test_generated_notebooks_match_their_pages():
    """book/<page>.ipynb is what Colab and Binder open; it must be the current page."""
    stale = sync_notebooks.stale_notebooks(ROOT)
    assert not stale, ("stale or missing notebooks (run `python scripts/sync_notebooks.py` and commit them): "
                       + ", ".join(str(path.relative_to(ROOT)) for path in stale))


ADMONITION = re.compile(r"^:::\{admonition\}(?P<title>.*)\n(?P<options>(?::[\w-]+:.*\n)*)", re.M)


@pytest.mark.parametrize("name", ALL_PAGES)
def test_erratum_boxes_share_one_style(name):
    """Every erratum box reads `:::{admonition} Erratum: <short title>` with `:class: erratum warning`."""
    text = (ROOT / "book" / f"{name}.md").read_text(encoding="utf-8")
    wrong = []
    for match in ADMONITION.finditer(text):
        title, options = match["title"].strip(), match["options"]
        classes = re.search(r"^:class:(.*)$", options, re.M)
        is_erratum = title.lower().startswith("erratum") or (classes and "erratum" in classes[1].split())
        if not is_erratum:
            continue
        line = text[:match.start()].count("\n") + 1
        if not re.fullmatch(r"Erratum: \S.*", title):
            wrong.append(f"line {line}: title {title!r} is not 'Erratum: <short title>'")
        if not classes or classes[1].split() != ["erratum", "warning"]:
            wrong.append(f"line {line}: options {options.strip()!r} lack ':class: erratum warning'")
    assert not wrong, f"book/{name}.md:\n" + "\n".join(wrong)
