"""Code comments cite equations by the number the reader sees ("eq. (4.3)"), and that number is right.

scripts/equation_numbers.py computes label -> number from the sources and the table of contents; the first test
checks every "eq. (N)" in the code cells of chapters 3-6 against it (no build needed), the second checks the
computed numbers against the built pages (the session's fast-mode build, conftest.built_book). When the numbering
changes (e.g. `numbered: true` in _toc.yml), `python scripts/equation_numbers.py --renumber-from global` rewrites
the citations; the first test fails until then.
"""

import importlib.util
import re

from tests.conftest import ROOT

CHAPTERS = ["ch3_autoencoders_pca", "ch4_variational_autoencoders", "ch5_elbo", "ch6_reparameterization",
            "ch7_exact_posterior", "ch8_rate_distortion"]


def equation_numbers():
    spec = importlib.util.spec_from_file_location("equation_numbers", ROOT / "scripts/equation_numbers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_code_comments_cite_equation_numbers_of_their_chapter():
    problems = equation_numbers().check(only=CHAPTERS)
    assert not problems, "\n".join(problems)


def test_a_stale_citation_is_caught(tmp_path):
    """The check is not vacuous: a citation of a number that belongs to another chapter fails it."""
    for name in ["_config.yml", "_toc.yml", "book"]:
        source = ROOT / name
        target = tmp_path / name
        if source.is_dir():
            target.mkdir()
            for page in source.glob("*.md"):
                (target / page.name).write_text(page.read_text())
        else:
            target.write_text(source.read_text())
    module = equation_numbers()
    numbers = module.numbering(root=tmp_path)
    ch3_number = numbers["ch3-linear-ae"][0]
    page = tmp_path / "book" / "ch4_variational_autoencoders.md"
    text = page.read_text().replace("# each (5, 2), eq. (", f"# each (5, 2), eq. ({ch3_number}) was (", 1)
    page.write_text(text)
    problems = module.check(root=tmp_path, only=["ch4"])
    assert any(f"({ch3_number}) is an equation of book/ch3_autoencoders_pca" in p for p in problems), problems


def test_equation_numbers_match_the_built_pages(built_book):
    """The numbers computed from the sources are those printed beside the equations of the built pages."""
    numbers = equation_numbers().numbering()
    for chapter in CHAPTERS:
        html = (built_book / "book" / f"{chapter}.html").read_text()
        shown = dict(re.findall(r'id="equation-([A-Za-z0-9_-]+)"[^>]*>\s*<span class="eqno">\(([0-9.]+)\)', html))
        expected = {label: number for label, (number, doc) in numbers.items() if doc == f"book/{chapter}"}
        assert shown == expected


def test_no_display_math_left_unparsed(built_book):
    """A display equation that MyST did not parse (e.g. one that opens a proof directive) shows as raw "$$" text."""
    for chapter in CHAPTERS:
        html = (built_book / "book" / f"{chapter}.html").read_text()
        assert "$$" not in html, f"{chapter}: raw $$ in the page, an equation was not parsed"
