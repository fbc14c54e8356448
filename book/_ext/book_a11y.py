"""Sphinx extension: what the toolchain's pages need to meet WCAG 2.1 AA (issue 18; tests/test_book_a11y_layout.py).

- The bibliography: docutils writes each entry as ``<div role="doc-biblioentry">`` inside ``<div role="list">``.
  DPUB-ARIA 1.1 deprecates that role, and a list whose children are not list items is an ARIA error (axe:
  aria-deprecated-role, aria-required-children). The entries become ``role="listitem"``.
- ``book_a11y.js`` (book/_static): copy buttons keep the focus and announce "Copied!", sideways-scrolling equations
  and tables are keyboard-reachable exactly while they scroll, and the header buttons' names contain their visible
  text. Focus styles, contrast and reflow are CSS (book/_static/book.css).
"""

from sphinx.application import Sphinx

BIBLIOGRAPHY_ENTRY = 'role="doc-biblioentry"'


def fix_bibliography_roles(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    body = context.get("body")
    if body and BIBLIOGRAPHY_ENTRY in body:
        context["body"] = body.replace(BIBLIOGRAPHY_ENTRY, 'role="listitem"')


def setup(app: Sphinx) -> dict:
    app.add_js_file("book_a11y.js", loading_method="defer")
    app.connect("html-page-context", fix_bibliography_roles)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
