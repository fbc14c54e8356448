"""Every page of the book on a phone, a tablet and a laptop, and by keyboard and screen reader (issue 18), in headless
Debian chromium on the session's fast-mode build:

* at 390, 800 and 1280 px every display equation is whole on the screen (nothing cut, its number not over it), no
  text table is wider than the screen (results are HTML tables that fit or scroll in their own box), and no figure
  text is below 9 CSS px (the PNG's metadata, written by vaelib.figure_style, gives the smallest drawn font);
* every figure tells its series apart without colour (line style, marker or direct label);
* axe-core (npm; scripts/install_axe.sh puts it under .cache/, never a CDN) finds 0 WCAG 2.1 A/AA violations on every
  page at 1280 and 390 px;
* everything focusable shows a visible focus, formulas are no Tab stops but carry MathML for screen readers, a copy
  button keeps the focus and announces "Copied!";
* at 320 px (400% zoom) no page scrolls sideways.

The pages are those of _toc.yml, whatever is added to it, and the search page. Each page is loaded twice (at 1280 px,
then narrowed to 800, and at 390 px, then narrowed to 320) and measured once per width (module cache); one test case
per page and width, so a failure names both. About 160 s for 16 pages on the 2-core machine.
"""

import functools
import json
import os
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from tests.conftest import ROOT
from tests.test_book_browser import browser, server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.slow, pytest.mark.browser]
AXE = ROOT / ".cache" / "axe-core" / "axe.min.js"
WIDTHS = [390, 800, 1280]
AXE_WIDTHS = [1280, 390]
MIN_FIGURE_TEXT_PX = 9.0
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
TIMEOUT_MS = 180_000  # a page of the book loads in about a second; a machine busy with other work may take minutes


def toc_pages(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """Every page of the table of contents (root, parts, chapters, sections), as paths without suffix."""
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return pages


PAGES = [*toc_pages(), "search"]


def page_id(page: str) -> str:
    return page.removeprefix("book/")


# ------------------------------------------------------------------------------------------- one visit per page

MEASURE = r"""() => {
  const viewport = document.documentElement.clientWidth;
  const article = document.querySelector('.bd-article') || document.body;
  const clip = (element) => {  // the part of the screen where element can be seen: viewport and clipping boxes
    let left = 0, right = viewport;
    for (let e = element.parentElement; e && e !== document.documentElement; e = e.parentElement) {
      if (getComputedStyle(e).overflowX !== 'visible') {
        const r = e.getBoundingClientRect();
        left = Math.max(left, r.left); right = Math.min(right, r.right);
      }
    }
    return {left, right};
  };
  const equations = [];
  article.querySelectorAll('mjx-container[display="true"]').forEach((container) => {
    const math = container.querySelector('mjx-math');
    if (!math) return;
    const box = math.getBoundingClientRect();
    const seen = clip(math);
    const eqno = container.closest('div.math')?.querySelector('.eqno');
    const number = eqno ? (eqno.textContent.match(/\(\d+\)/) || ['?'])[0] : '(unnumbered)';
    let covered = false;
    if (eqno) {
      const e = eqno.getBoundingClientRect();
      covered = e.width > 0 && e.left < box.right - 1 && e.right > box.left + 1 && e.top < box.bottom - 1 &&
                e.bottom > box.top + 1;
    }
    const cut = box.left < seen.left - 1 || box.right > seen.right + 1;
    equations.push({number, cut, covered, needs: Math.round(box.width), has: Math.round(seen.right - seen.left),
                     tabindex: container.getAttribute('tabindex'),
                     scrolls: container.scrollWidth > container.clientWidth + 1,
                     mathml: !!container.querySelector('mjx-assistive-mml math')});
  });
  const textTables = [];
  article.querySelectorAll('.cell_output pre').forEach((pre) => {
    // a printed table: three or more lines of three or more columns set apart by runs of spaces
    const rows = pre.textContent.split('\n').filter((line) => (line.trim().match(/\S\s{2,}(?=\S)/g) || []).length >= 2);
    if (rows.length < 3) return;
    const box = pre.getBoundingClientRect();
    if (box.width === 0) return;
    const wrap = pre.style.whiteSpace;
    pre.style.whiteSpace = 'pre';  // its width unwrapped (outputs wrap on a phone: book.css)
    const needs = pre.scrollWidth;
    pre.style.whiteSpace = wrap;
    if (needs > pre.clientWidth + 1 || box.right > viewport + 1) {
      textTables.push(`needs ${needs} px, has ${pre.clientWidth} px: ` + rows[0].trim().slice(0, 60));
    }
  });
  const htmlTables = [];
  article.querySelectorAll('table').forEach((table) => {
    const box = table.getBoundingClientRect();
    if (box.width === 0) return;
    const scroller = table.closest('.result-table, .pst-scrollable-table-container, .cell_output .output');
    const outer = (scroller || table).getBoundingClientRect();
    if (outer.right > viewport + 1 || outer.left < -1 || (!scroller && box.right > viewport + 1)) {
      htmlTables.push(`${Math.round(outer.width)} px box for a ${Math.round(box.width)} px table: ` +
                      (table.querySelector('caption')?.textContent || table.textContent).trim().slice(0, 60));
    }
  });
  const figures = Array.from(article.querySelectorAll('.cell_output img')).map((img) => ({
    src: img.currentSrc || img.src, shown: img.getBoundingClientRect().width, natural: img.naturalWidth,
    alt: (img.getAttribute('alt') || '').slice(0, 50)}));
  const formulaTabStops = Array.from(document.querySelectorAll('mjx-container[tabindex="0"]'))
    .filter((c) => !(c.scrollWidth > c.clientWidth + 1)).length;
  return {equations, textTables, htmlTables, figures, formulaTabStops,
          formulas: document.querySelectorAll('mjx-container').length,
          pageScroll: document.documentElement.scrollWidth - document.documentElement.clientWidth};
}"""

FOCUS = r"""() => {
  // The elements in the Tab order that can be seen, two of each kind (tag, classes and the page region they are
  // in: the same CSS rules draw their focus): focus each (after a real key press, so :focus-visible applies) and
  // compare its outline and shadow with the unfocused ones.
  const selector = 'a[href], button, input:not([type="hidden"]), select, textarea, summary, [tabindex]';
  const shown = (e) => {
    const r = e.getBoundingClientRect();
    const style = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && style.visibility === 'visible' && e.tabIndex >= 0 && !e.disabled &&
           !e.closest('[inert], [aria-hidden="true"]');
  };
  const ring = (e) => {
    const s = getComputedStyle(e);
    const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2 &&
                    !/rgba\(.*,\s*0\)$/.test(s.outlineColor) && s.outlineColor !== 'transparent';
    return {outline, shadow: s.boxShadow !== 'none' ? s.boxShadow : '', text: s.outline};
  };
  const kinds = new Map();
  for (const element of Array.from(document.querySelectorAll(selector)).filter(shown)) {
    const region = element.closest('header, nav, aside, footer, .bd-header-article, article, dialog');
    const kind = [element.tagName, Array.from(element.classList).sort().join('.'), element.getAttribute('role'),
                  region ? region.tagName + '.' + region.className : ''].join('|');
    if (!kinds.has(kind)) kinds.set(kind, []);
    if (kinds.get(kind).length < 2) kinds.get(kind).push(element);
  }
  const missing = [];
  let checked = 0;
  for (const element of Array.from(kinds.values()).flat()) {
    element.blur();
    const before = ring(element);
    element.focus({preventScroll: true});
    if (document.activeElement !== element) continue;  // not focusable after all
    checked += 1;
    const after = ring(element);
    const visible = (after.outline && !before.outline) || (after.shadow && after.shadow !== before.shadow) ||
                    (after.outline && after.text !== before.text);
    if (!visible) {
      const name = (element.getAttribute('aria-label') || element.textContent || element.className || '').trim();
      missing.push(`${element.tagName.toLowerCase()}.${String(element.className).split(' ')[0]} ` +
                   `"${name.replace(/\s+/g, ' ').slice(0, 40)}"`);
    }
    element.blur();
  }
  return {checked, missing};
}"""


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        subprocess.run(["bash", str(ROOT / "scripts/install_axe.sh"), str(AXE.parent)], check=False,
                       capture_output=True, text=True, timeout=300)
    if not AXE.is_file():
        pytest.fail(f"axe-core is not installed in {AXE.parent}: run scripts/install_axe.sh (npm registry)")
    return AXE.read_text(encoding="utf-8")


def _wait_for_math(page) -> None:
    if page.evaluate("() => document.querySelectorAll('.math').length > 0"):
        page.wait_for_function("() => !!(window.MathJax && window.MathJax.startup && window.MathJax.startup.promise)")
        page.evaluate("() => window.MathJax.startup.promise.then(() => true)")
    page.evaluate("() => document.fonts.ready.then(() => true)")
    page.wait_for_timeout(150)  # the theme's and book_a11y.js's debounced updates after load


# Each page is loaded twice, at 1280 and at 390 px, and measured there (with axe and the keyboard); the window is
# then narrowed, to 800 and to 320 px, and the page measured again (the theme and book_a11y.js follow resizes).
LOADS = {1280: [1280, 800], 390: [390, 320]}


@pytest.fixture(scope="module")
def visit(server, browser, axe_source):  # noqa: F811
    """visit(page, width) -> what the page shows at that width (measured once, then cached for the module)."""

    @functools.cache
    def load(page_name: str, first_width: int) -> dict:
        results = {}
        page = browser.new_page(viewport={"width": first_width, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        try:
            page.goto(f"{server}/{page_name}.html", wait_until="load")
            _wait_for_math(page)
            result = results[first_width] = page.evaluate(MEASURE)
            page.add_script_tag(content=axe_source)
            result["axe"] = page.evaluate(
                """(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}}).then(r =>
                     r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                       nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary
                                                .replace(/\\s+/g, ' ').slice(0, 200))})))""", AXE_TAGS)
            page.keyboard.press("Tab")  # keyboard modality: programmatic focus now shows :focus-visible
            result["focus"] = page.evaluate(FOCUS)
            for width in LOADS[first_width][1:]:
                page.set_viewport_size({"width": width, "height": 900})
                page.wait_for_timeout(500)  # debounced resize handlers (theme: 300 ms, book_a11y.js: 100 ms)
                results[width] = page.evaluate(MEASURE)
            return results
        finally:
            page.close()

    def measure(page_name: str, width: int) -> dict:
        first = next(start for start, widths in LOADS.items() if width in widths)
        return load(page_name, first)[width]

    return measure


# ------------------------------------------------------------------------------------------- phones and laptops

@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", PAGES, ids=page_id)
def test_display_equations_are_whole(visit, name, width):
    equations = visit(name, width)["equations"]
    bad = [f"{e['number']}: needs {e['needs']} px, {e['has']} px shown" + (", number drawn over it"
                                                                            if e["covered"] else "")
           for e in equations if e["cut"] or e["covered"]]
    assert not bad, (f"{page_id(name)} at {width} px: {len(bad)} of {len(equations)} display equations cut "
                     f"(break them into aligned lines):\n" + "\n".join(bad))


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", PAGES, ids=page_id)
def test_tables_fit_or_scroll_in_their_own_box(visit, name, width):
    result = visit(name, width)
    assert not result["textTables"], (
        f"{page_id(name)} at {width} px: printed tables wider than the screen (show them with "
        f"vaelib.plotting.result_table):\n" + "\n".join(result["textTables"]))
    assert not result["htmlTables"], f"{page_id(name)} at {width} px: tables off the screen:\n" + \
        "\n".join(result["htmlTables"])


def _figure_file(built_book: Path, src: str) -> Path:
    return built_book / unquote(urlsplit(src).path).lstrip("/")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", PAGES, ids=page_id)
def test_figure_text_is_readable(visit, built_book, name, width):
    """The smallest text drawn in each figure (its PNG's vaelib:min-text-pt, at vaelib:dpi) is at least 9 CSS px
    as the figure is shown at this width."""
    from vaelib.figure_style import png_metadata

    small = []
    for figure in visit(name, width)["figures"]:
        metadata = png_metadata(_figure_file(built_book, figure["src"]).read_bytes())
        if "vaelib:min-text-pt" not in metadata:
            small.append(f"{figure['alt']}...: not drawn through vaelib.figure_style.book_figures()")
            continue
        if metadata["vaelib:min-text-pt"] == "none":
            continue  # no text at all (an image grid)
        px = float(metadata["vaelib:min-text-pt"]) / 72 * float(metadata["vaelib:dpi"]) * \
            figure["shown"] / figure["natural"]
        if px < MIN_FIGURE_TEXT_PX:
            small.append(f"{figure['alt']}...: {px:.1f} px ({metadata['vaelib:min-text-pt']} pt, "
                         f"{figure['natural']} px wide shown at {figure['shown']:.0f} px)")
    assert not small, f"{page_id(name)} at {width} px: figure text below {MIN_FIGURE_TEXT_PX} px:\n" + \
        "\n".join(small)


@pytest.mark.parametrize("name", PAGES, ids=page_id)
def test_figure_series_do_not_rely_on_colour(visit, built_book, name):
    from vaelib.figure_style import png_metadata

    problems = []
    for figure in visit(name, 1280)["figures"]:
        metadata = png_metadata(_figure_file(built_book, figure["src"]).read_bytes())
        for problem in json.loads(metadata.get("vaelib:colour-only", "[]")):
            problems.append(f"{figure['alt']}...: {problem}")
    assert not problems, f"{page_id(name)}: series told apart by colour alone (merge in greyscale):\n" + \
        "\n".join(problems)


@pytest.mark.parametrize("name", PAGES, ids=page_id)
def test_reflows_at_320_px_without_sideways_scrolling(visit, name):
    """400% zoom of a 1280 px window: the page itself never scrolls sideways (code blocks and wide equations may
    scroll inside their own box)."""
    scroll = visit(name, 320)["pageScroll"]
    assert scroll <= 1, f"{page_id(name)} at 320 px: the page scrolls {scroll} px sideways"


# ------------------------------------------------------------------------------------------- accessibility

@pytest.mark.parametrize("width", AXE_WIDTHS)
@pytest.mark.parametrize("name", PAGES, ids=page_id)
def test_axe_finds_no_wcag_violations(visit, name, width):
    violations = visit(name, width)["axe"]
    report = [f"{v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"][:5]) for v in violations]
    assert not violations, f"{page_id(name)} at {width} px: axe-core, WCAG 2.1 A/AA:\n" + "\n".join(report)


@pytest.mark.parametrize("width", AXE_WIDTHS)
@pytest.mark.parametrize("name", PAGES, ids=page_id)
def test_keyboard_focus_is_visible(visit, name, width):
    focus = visit(name, width)["focus"]
    assert focus["checked"] > 5, f"{page_id(name)}: only {focus['checked']} focusable elements found"
    assert not focus["missing"], (f"{page_id(name)} at {width} px: {len(focus['missing'])} of {focus['checked']} "
                                  f"focusable elements show no focus:\n" + "\n".join(focus["missing"][:20]))


@pytest.mark.parametrize("name", PAGES, ids=page_id)
def test_formulas_are_read_but_not_tab_stops(visit, name):
    result = visit(name, 1280)
    assert result["formulaTabStops"] == 0, f"{page_id(name)}: {result['formulaTabStops']} formulas are Tab stops"
    no_mathml = [e["number"] for e in result["equations"] if not e["mathml"]]
    assert not no_mathml, f"{page_id(name)}: display equations without assistive MathML: {no_mathml}"


def test_search_dialog_passes_axe(server, browser, axe_source):  # noqa: F811
    """The search field of the header's search dialog has a label (axe, WCAG 2.1 A/AA)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{server}/{toc_pages()[0]}.html", wait_until="load")
    page.locator(".search-button-field").first.click()
    page.wait_for_selector("#pst-search-dialog input[type=search], dialog input[name=q]", state="visible")
    page.add_script_tag(content=axe_source)
    violations = page.evaluate("""(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})
                                  .then(r => r.violations.map(v => v.id + ': ' + v.nodes.length))""", AXE_TAGS)
    page.close()
    assert not violations, f"with the search dialog open: {violations}"


def test_copy_button_keeps_the_focus_and_announces_the_copy(server, browser):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    chapter = next(p for p in toc_pages() if "ch1_" in p)
    page.goto(f"{server}/{chapter}.html", wait_until="load")
    page.wait_for_selector("button.copybtn", state="attached")
    page.keyboard.press("Tab")
    page.evaluate("() => document.querySelectorAll('button.copybtn')[2].focus()")
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    state = page.evaluate("""() => ({
        focused: document.activeElement === document.querySelectorAll('button.copybtn')[2],
        active: document.activeElement.tagName + '.' + document.activeElement.className,
        live: document.querySelector('[aria-live]#book-live-status')?.textContent,
        success: document.querySelectorAll('button.copybtn')[2].classList.contains('success')})""")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    context.close()
    assert state["success"], f"the copy did not succeed: {state}"
    assert state["focused"], f"after the copy the focus is on {state['active']}, not on the copy button"
    assert state["live"] == "Copied!", f"the live region says {state['live']!r}"
    assert copied.strip(), "nothing was copied"


def test_toc_pages_follow_the_table_of_contents(tmp_path):
    """New parts and chapters (and their sections) are tested without editing this file."""
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: book/intro\nparts:\n  - caption: A\n    chapters:\n"
                   "      - file: book/ch1\n        sections:\n          - file: book/ch1_more\n"
                   "  - caption: Beyond the lecture\n    chapters:\n      - file: book/ch7_exact\n")
    assert toc_pages(toc) == ["book/intro", "book/ch1", "book/ch1_more", "book/ch7_exact"]
    assert len(PAGES) == len(set(PAGES)) and os.path.basename(PAGES[-1]) == "search"
