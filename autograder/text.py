"""Student-derived text: cleaned once where it enters, and escaped for each medium it is written to.

A submission controls file names (student ids, notebook names), every string in its notebook (cell sources,
``grade_id`` values, metadata) and, through its code, the error messages that come back. Such strings may hold lone
surrogates (``"\\ud800"``: JSON carries them, UTF-8 writers refuse them), control characters, markup and spreadsheet
formulas. :func:`clean` is applied where the data enters (autograder.submissions, autograder.assemble); the
``for_*`` functions escape for one medium each: CSV cells, Markdown, and rendered notebook Markdown (formgrader).
"""

from __future__ import annotations

import re

SURROGATES = re.compile("[\ud800-\udfff]")
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # keeps tab, newline, carriage return
CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def clean(text: str, *, keep_control: bool = False) -> str:
    """``text`` with lone surrogates replaced by U+FFFD and, unless ``keep_control`` (code), control characters
    other than tab and newline removed. Always encodable as UTF-8."""
    if not isinstance(text, str):
        text = str(text)
    text = SURROGATES.sub("\ufffd", text)
    return text if keep_control else CONTROL.sub("", text)


def clean_tree(value):
    """Every string in a JSON-like tree (dicts, lists) cleaned of lone surrogates, keys included; iterative, so a
    deeply nested tree cannot exhaust the stack. Control characters are kept (cell sources are code)."""
    root = [value]
    stack = [(root, 0)]
    while stack:
        container, key = stack.pop()
        item = container[key]
        if isinstance(item, str):
            container[key] = SURROGATES.sub("\ufffd", item)
        elif isinstance(item, list):
            stack.extend((item, index) for index in range(len(item)))
        elif isinstance(item, dict):
            if any(isinstance(k, str) and SURROGATES.search(k) for k in item):
                fixed = {SURROGATES.sub("\ufffd", k) if isinstance(k, str) else k: v for k, v in item.items()}
                item.clear()
                item.update(fixed)
            stack.extend((item, k) for k in item)
    return root[0]


def has_surrogate_escape(raw: str) -> bool:
    """Whether JSON text may decode to a lone surrogate (a ``\\uD800``-``\\uDFFF`` escape)."""
    return re.search(r"\\u[dD][89a-fA-F]", raw) is not None


def for_csv(value) -> str:
    """A CSV cell a spreadsheet will not run as a formula: text starting with ``= + - @``, tab or CR gets a leading
    apostrophe; numbers (``-1.5``) stay numbers."""
    text = clean(value if isinstance(value, str) else str(value))
    if text.startswith(CSV_TRIGGERS) and not NUMBER.match(text):
        return "'" + text
    return text


def from_csv(cell: str) -> str:
    """The text :func:`for_csv` was given (reading back a CSV cell this package wrote)."""
    if cell.startswith("'") and cell[1:].startswith(CSV_TRIGGERS):
        return cell[1:]
    return cell


def for_markdown(value, limit: int = 2000) -> str:
    """Inline Markdown that renders as the literal text: a code span (no HTML, links, autolinks, emphasis or
    headings are recognised inside one), on one line, with ``|`` escaped for tables."""
    text = " ".join(clean(str(value)).split())[:limit]
    if not text:
        return ""
    text = text.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}"


SAFE_TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
             "hr", "i", "img", "li", "ol", "p", "pre", "span", "strong", "sub", "sup", "table", "tbody", "td", "th",
             "thead", "tr", "ul"}
SAFE_PROTOCOLS = {"http", "https", "mailto", "attachment", "data"}  # narrowed per tag and attribute below


def _safe_attribute(tag: str, name: str, value: str) -> bool:
    value = value.strip().lower()
    if tag == "a" and name == "href":
        return value.startswith(("http://", "https://", "mailto:", "#"))
    if tag == "img" and name == "src":
        return value.startswith(("http://", "https://", "attachment:", "data:image/png", "data:image/jpeg",
                                 "data:image/gif"))
    return name in ("alt", "title") or (tag in ("td", "th") and name == "align")


# The HTML cleaner's time grows faster than linearly with nested tags and with entities (20,000 nested <div>: 14 s;
# 199,000 "&": 8 s, measured): a written answer beyond these bounds is shown as plain text (at most about 0.4 s
# each), and autograder.coursetree stops rendering a notebook's answers after RENDER_BUDGET_S.
MAX_RENDERED_CHARS = 20_000
MAX_RENDERED_TAGS = 4_000
RENDER_BUDGET_S = 5.0


def markdown_for_formgrader(source: str, attachments: dict | None = None) -> str:
    """A student's Markdown cell made safe to show in nbgrader's formgrader, which renders cell sources as Markdown
    with raw HTML and any link target (a ``<script>`` or a ``javascript:`` link there would run in the instructor's
    Jupyter session). The Markdown is rendered here with nbconvert's own renderer (math left for MathJax), the HTML
    is reduced to an allow-list of tags, attributes and URL schemes (bleach), and the result is one HTML block
    without blank lines, which a Markdown renderer passes through unchanged. Images pasted into the cell
    (``attachment:NAME``) are inlined from ``attachments`` where given, else left as dead links; an answer over
    MAX_RENDERED_CHARS characters or MAX_RENDERED_TAGS tags is shown as text (as_text_for_formgrader)."""
    import bleach
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    class KeepAttachmentLinks(IPythonRenderer):
        def _embed_image_or_attachment(self, src: str) -> str:
            return src  # "attachment:NAME" stays a link: _inline_attachments resolves it after cleaning

    source = clean(source, keep_control=False)
    if len(source) > MAX_RENDERED_CHARS or source.count("<") > MAX_RENDERED_TAGS:
        return as_text_for_formgrader(source, f"over {MAX_RENDERED_CHARS:,} characters or {MAX_RENDERED_TAGS:,} tags")
    html = MarkdownWithMath(renderer=KeepAttachmentLinks(escape=False)).render(source)
    if html.count("<") > MAX_RENDERED_TAGS:  # Markdown can make many tags from few characters (lists, emphasis)
        return as_text_for_formgrader(source, f"over {MAX_RENDERED_TAGS:,} tags")
    safe = bleach.clean(html, tags=SAFE_TAGS, attributes=_safe_attribute, protocols=SAFE_PROTOCOLS, strip=False,
                        strip_comments=True)
    safe = _inline_attachments(safe, attachments or {})
    lines = [line for line in safe.splitlines() if line.strip()]
    return '<div class="autograder-student-answer">\n' + "\n".join(lines) + "\n</div>"


IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")


def _inline_attachments(html: str, attachments: dict) -> str:
    """``src="attachment:NAME"`` (an image pasted into the cell) becomes a data: URL of the image, when the cell
    carries it as PNG, JPEG or GIF base64 data; anything else stays a dead reference."""

    def replace(match: re.Match) -> str:
        bundle = attachments.get(match.group(1).replace("&amp;", "&"))
        if isinstance(bundle, dict):
            for mime in IMAGE_TYPES:
                data = bundle.get(mime)
                if isinstance(data, str) and re.fullmatch(r"[A-Za-z0-9+/=\s]*", data):
                    return f'src="data:{mime};base64,{"".join(data.split())}"'
        return 'src=""'

    return re.sub(r'src="attachment:([^"]*)"', replace, html)


def as_text_for_formgrader(source: str, why: str) -> str:
    """A Markdown answer shown verbatim, with the reason it was not rendered."""
    return plain_text_for_formgrader(f"[shown as text: {why}]\n{source}")


def plain_text_for_formgrader(text: str) -> str:
    """Text shown verbatim (a raw cell a student added; nbconvert would copy a raw cell into the page as HTML)."""
    from html import escape

    lines = [escape(line) if line.strip() else "&nbsp;" for line in clean(text).split("\n")]
    return '<div class="autograder-student-raw"><pre>' + "\n".join(lines) + "</pre></div>"
