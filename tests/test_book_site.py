"""How the built pages read and launch, checked on the fast-mode build: in headless chromium (the menu button at
phone and tablet widths, nothing wider than the text column at 1280 px) and in the HTML (alt text, chapter numbers,
equation numbers cited in code, quotes, exercise and launch links). One test case per page, so a failure names the
page and what on it is wrong."""

import html
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import yaml

from tests.conftest import CHAPTERS, PAGES, ROOT
from tests.test_book_browser import browser, server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
REPOSITORY = CONFIG["repository"]["url"].rstrip("/")
EXERCISES = CONFIG["sphinx"]["config"]["exercise_notebooks"]


def page_html(built_book: Path, name: str) -> str:
    return (built_book / "book" / f"{name}.html").read_text(encoding="utf-8")


def article(text: str) -> str:
    return text[text.index("<article"):text.index("</article>")]


def open_page(browser, url: str, width: int):  # noqa: F811
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(url, wait_until="load")
    if page.evaluate("() => document.querySelectorAll('.math').length > 0"):
        page.wait_for_function("() => !!(window.MathJax && window.MathJax.startup && window.MathJax.startup.promise)")
        page.evaluate("() => window.MathJax.startup.promise.then(() => true)")
    return page


# ------------------------------------------------------------------------------------------- the menu button

NAV_LINK_ON_SCREEN = """(href) => {
  const links = Array.from(document.querySelectorAll('a.reference.internal'))
    .filter(a => a.getAttribute('href').endsWith(href) && a.closest('.bd-docs-nav'));
  return links.map(a => {
    const r = a.getBoundingClientRect();
    const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
    return {x: r.x, y: r.y, width: r.width, height: r.height, right: r.right,
            topmost: !!top && (top === a || a.contains(top)), visible: getComputedStyle(a).visibility};
  });
}"""


@pytest.mark.browser
@pytest.mark.parametrize("width", [390, 800])
def test_menu_button_opens_the_sidebar(server, browser, width):  # noqa: F811
    """Phones and tablets: the visible menu (sidebar toggle) button opens the primary sidebar, whose chapter
    links are then on screen, on top, and lead to their page (pydata-sphinx-theme#2451 broke this)."""
    page = open_page(browser, f"{server}/book/ch1_maximum_likelihood.html", width)
    toggles = page.locator(".primary-toggle")
    visible = [i for i in range(toggles.count()) if toggles.nth(i).is_visible()]
    assert visible, "no visible menu button"
    before = page.evaluate(NAV_LINK_ON_SCREEN, "ch2_latent_variable_models.html")
    assert not any(link["topmost"] and link["width"] > 0 for link in before), "the sidebar is open before the click"
    toggles.nth(visible[0]).click()
    page.wait_for_timeout(400)
    after = page.evaluate(NAV_LINK_ON_SCREEN, "ch2_latent_variable_models.html")
    shown = [link for link in after if link["width"] > 0 and link["height"] > 0 and link["x"] >= 0
             and link["right"] <= width and link["topmost"] and link["visible"] == "visible"]
    assert shown, f"after the click the sidebar's chapter link is not on screen: {after}"
    with page.expect_navigation(timeout=10_000):
        page.mouse.click(shown[0]["x"] + shown[0]["width"] / 2, shown[0]["y"] + shown[0]["height"] / 2)
    assert page.url.endswith("ch2_latent_variable_models.html"), f"the sidebar link led to {page.url}"
    page.close()


@pytest.mark.browser
def test_menu_button_collapses_the_sidebar_on_a_desktop(server, browser):  # noqa: F811
    page = open_page(browser, f"{server}/book/ch1_maximum_likelihood.html", 1280)
    sidebar = page.locator("#pst-primary-sidebar")
    assert sidebar.bounding_box()["width"] > 100
    page.locator(".primary-toggle").first.click()
    page.wait_for_timeout(400)
    box = sidebar.bounding_box()
    assert box is None or box["x"] + box["width"] <= 0 or not sidebar.is_visible(), f"still shown at {box}"
    page.close()


# ------------------------------------------------------------------------------------------- widths at 1280 px

OVERFLOWING = r"""() => {
  const column = document.querySelector('.bd-article').getBoundingClientRect();
  const style = getComputedStyle(document.querySelector('.bd-article'));
  const right = column.right - parseFloat(style.paddingRight) + 1;
  const found = [];
  const check = (kind, element, label) => {
    const box = element.getBoundingClientRect();
    if (box.width === 0) return;  // hidden (e.g. a collapsed cell)
    const inner = element.scrollWidth - element.clientWidth;
    if (inner > 1 || box.right > right) {
      const needs = Math.round(Math.max(element.scrollWidth, box.width));
      found.push(`${kind}${label ? ' ' + label : ''}: needs ${needs} px, ` +
                 `has ${Math.round(element.clientWidth)} px: ${element.textContent.trim().slice(0, 70)}`);
    }
  };
  document.querySelectorAll('.bd-article pre').forEach(pre => {
    const cell = pre.closest('.cell_output') ? 'code output' : 'code block';
    check(cell, pre, '');
  });
  document.querySelectorAll('.bd-article mjx-container[display="true"]').forEach(math => {
    const eqno = math.closest('.math')?.querySelector('.eqno');
    const number = eqno ? (eqno.textContent.match(/\(\d+\)/) || [''])[0] : '(unnumbered)';
    check('display equation', math, number);
  });
  document.querySelectorAll('.bd-article table').forEach(table => {
    check('table', table.closest('.pst-scrollable-table-container') || table, '');
  });
  return found;
}"""


@pytest.mark.browser
@pytest.mark.parametrize("name", PAGES)
def test_nothing_wider_than_its_column(server, browser, name):  # noqa: F811
    """At 1280 px no display equation, code block or code output needs sideways scrolling."""
    page = open_page(browser, f"{server}/book/{name}.html", 1280)
    overflowing = page.evaluate(OVERFLOWING)
    page.close()
    assert not overflowing, f"{name}: {len(overflowing)} elements wider than the text column at 1280 px:\n" + \
        "\n".join(overflowing)


TITLE_BOX = """() => {
  const h1 = document.querySelector('.bd-article h1');
  const box = h1.getBoundingClientRect();
  return {right: box.right, scroll: h1.scrollWidth, client: h1.clientWidth, text: h1.textContent.trim()};
}"""


@pytest.mark.browser
@pytest.mark.parametrize("name", PAGES)
def test_title_fits_on_a_phone(server, browser, name):  # noqa: F811
    page = open_page(browser, f"{server}/book/{name}.html", 390)
    title = page.evaluate(TITLE_BOX)
    page.close()
    assert title["right"] <= 390 and title["scroll"] <= title["client"] + 1, f"{name}: title overflows: {title}"


# ------------------------------------------------------------------------------------------- alt text

class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[dict] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))


@pytest.mark.parametrize("name", PAGES)
def test_every_figure_has_alt_text(built_book, name):
    """Every image has alt text that describes it: not empty, not its file name (Sphinx's default)."""
    parser = _Images()
    parser.feed(page_html(built_book, name))
    missing = []
    for image in parser.images:
        alt, src = (image.get("alt") or "").strip(), image.get("src", "")
        looks_like_a_path = alt == src or re.search(r"\.(png|svg|jpe?g|gif)$", alt) or "_images/" in alt
        too_short = "_images/" in src and len(alt.split()) < 5
        if not alt or looks_like_a_path or too_short:
            missing.append(f"{src}: alt={alt!r}")
    assert not missing, f"{name}: images without a describing alt text (cell metadata mystnb.image.alt):\n" + \
        "\n".join(missing)


# ------------------------------------------------------------------------------------------- chapter numbers

def test_chapter_numbers_in_titles_and_sidebar(built_book):
    """Feedback and notebooks say "Chapter 4": the page title and the sidebar show the number too."""
    intro = page_html(built_book, "intro")
    sidebar = intro[intro.index('bd-docs-nav'):]
    sidebar = sidebar[:sidebar.index("</nav>")]
    for number, name in enumerate(CHAPTERS, start=1):
        title = re.search(r"<h1[^>]*>(.*?)</h1>", article(page_html(built_book, name)), re.S)
        heading = html.unescape(re.sub(r"<[^>]+>", "", title[1])).strip()
        assert heading.startswith(f"{number}. "), f"{name}: the page title {heading!r} shows no chapter number"
        entry = re.search(rf'<a class="reference internal" href="[^"]*{name}\.html">(.*?)</a>', sidebar, re.S)
        assert entry, f"{name} is not in the sidebar"
        label = html.unescape(re.sub(r"<[^>]+>", "", entry[1])).strip()
        assert label.startswith(f"{number}. "), f"{name}: sidebar entry {label!r} has no chapter number"
    for name in ["notation", "errata", "bibliography"]:
        heading = re.search(r"<h1[^>]*>(.*?)</h1>", article(page_html(built_book, name)), re.S)[1]
        assert not re.match(r"\s*\d", re.sub(r"<[^>]+>", "", heading)), f"reference page {name} is numbered"


# ------------------------------------------------------------------------------------------- equation numbers

def _equation_numbers(built_book: Path) -> dict[int, str]:
    numbers = {}
    for name in PAGES:
        for number in re.findall(r'class="eqno">\((\d+)\)', page_html(built_book, name)):
            numbers[int(number)] = name
    return numbers


@pytest.mark.parametrize("name", CHAPTERS)
def test_code_cites_equation_numbers_of_this_page(built_book, name):
    """An "eq. (N)" in a code comment or plot label is an equation shown on the same page, or says which chapter
    ("chapter 1, eq. (4)") or that it numbers the lecture notes ("eq. (1) of the notes"): a renumbering that leaves
    a citation pointing elsewhere fails here."""
    numbers = _equation_numbers(built_book)
    code = re.findall(r'<div class="cell_input[^"]*">.*?<pre>(.*?)</pre>', page_html(built_book, name), re.S)
    wrong = []
    for line in html.unescape(re.sub(r"<[^>]+>", "", "\n".join(code))).splitlines():
        for match in re.finditer(r"eqs?\.\s*((?:\(\d+\)(?:,\s*|\s+and\s+|\s*-\s*)?)+)", line):
            if re.match(r"\s*of the (lecture|notes)", line[match.end():]):
                continue  # the lecture notes' own numbering, said as such
            for number in map(int, re.findall(r"\d+", match[1])):
                home = numbers.get(number)
                chapter = CHAPTERS.index(home) + 1 if home in CHAPTERS else None
                if home == name:
                    continue
                if home is None or not re.search(rf"\b(chapter|ch)\s*{chapter}\b", line, re.I):
                    wrong.append(f"eq. ({number}) is on {home or 'no page'}: {line.strip()[:80]}")
    assert not wrong, f"{name}:\n" + "\n".join(wrong)


# ------------------------------------------------------------------------------------------- quotes

@pytest.mark.parametrize("name", PAGES)
def test_prose_has_typographic_quotes(built_book, name):
    """No straight double quote in the prose, and no curly quote that points the wrong way (Sphinx's smart quotes
    guess wrong next to math: write “ ” in the source there)."""
    text = article(page_html(built_book, name))
    text = re.sub(r"<(pre|script|style|code)\b.*?</\1>", " ", text, flags=re.S)
    text = re.sub(r'<span class="math notranslate nohighlight">.*?</span>', "M", text, flags=re.S)
    text = re.sub(r'<div class="math notranslate nohighlight"[^>]*>.*?</div>', "M", text, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    wrong = [match.group(0).strip() for match in re.finditer(r'.{0,30}("|(?:^|[\s(\[])”|“(?=[\s)\].,;:]|$)).{0,30}',
                                                             text, re.M)]
    assert not wrong, f"{name}: straight or misdirected quotes:\n" + "\n".join(wrong)


# ------------------------------------------------------------------------------------------- links

@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_exercises_section_links_the_shipped_notebook(built_book, name):
    page_name = name.removeprefix("book/")
    text = page_html(built_book, page_name)
    paragraph = re.search(r'<p class="exercise-links">(.*?)</p>', text, re.S)
    assert paragraph, f"{page_name}: no exercise links in its exercises section"
    hrefs = re.findall(r'href="([^"]+)"', paragraph[1])
    for exercise_id in EXERCISES[name]:
        local = [href for href in hrefs if href.endswith(f"{exercise_id}/{exercise_id}.ipynb") and "//" not in href]
        assert local, f"{page_name}: no link to {exercise_id}.ipynb"
        shipped = (built_book / "book" / unquote(local[0])).resolve()
        source = ROOT / "exercises" / exercise_id / f"{exercise_id}.ipynb"
        assert shipped.is_file(), f"{page_name}: {local[0]} is not in the built site"
        assert shipped.read_bytes() == source.read_bytes(), f"{shipped} is not the current {source}"


@pytest.mark.parametrize("name", CHAPTERS)
def test_launch_buttons_open_the_chapter_notebook(built_book, name):
    """Colab and Binder open book/<chapter>.ipynb (Colab cannot open MyST .md) of the configured repository, and
    that notebook is committed; the download button offers the executed .ipynb."""
    text = page_html(built_book, name)
    slug = REPOSITORY.removeprefix("https://github.com/")
    branch = CONFIG["repository"]["branch"]
    links = [html.unescape(href) for href in re.findall(r'href="([^"]+)"', text)]
    colab = [link for link in links if link.startswith("https://colab.research.google.com/")]
    binder = [link for link in links if link.startswith("https://mybinder.org/")]
    assert colab == [f"https://colab.research.google.com/github/{slug}/blob/{branch}/book/{name}.ipynb"], colab
    assert binder == [f"https://mybinder.org/v2/gh/{slug}/{branch}?urlpath=tree/book/{name}.ipynb"], binder
    assert (ROOT / "book" / f"{name}.ipynb").is_file(), f"book/{name}.ipynb is not in the repository"
    download = [link for link in links if link.endswith(f"{name}.ipynb") and not urlsplit(link).scheme]
    assert download, f"{name}: no .ipynb download link"
    target = urljoin(f"book/{name}.html", download[0])
    assert (built_book / unquote(target)).is_file(), f"{name}: the download {target} is not in the built site"
