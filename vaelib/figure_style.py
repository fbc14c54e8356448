"""The book's figures: one style that reads on a phone and in greyscale, and an audit of every figure it shows.

``book_figures()`` (called once in a chapter's first cell) sets matplotlib's defaults for the book and makes the
notebook show each figure as a PNG that records, in its metadata, what the figure needs to be read:

* ``vaelib:min-text-pt`` and ``vaelib:dpi``: the smallest font size actually drawn (points) and the resolution,
  so a browser test can compute the smallest text in CSS pixels at any screen width (tests/test_book_a11y_layout.py
  wants >= 9 px at 390 px: at the book's 10 pt that is a figure at most 5.5 inches wide, so two panels stack);
* ``vaelib:colour-only``: the series that only their colour tells apart (two labelled lines of one plot with the
  same line style and marker and similar grey levels, or categories of a scatter told apart by a qualitative colour
  map without a direct label each), which merge in greyscale and for red-green colour blindness.

Outside a notebook ``book_figures()`` only sets the style.
"""

import io
import itertools
import json

import matplotlib
import matplotlib.pyplot as plt
from cycler import cycler
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

# Okabe & Ito's colour-blind-safe palette, each colour with its own line style: series differ in greyscale too.
COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#000000"]
LINE_STYLES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2))]
MIN_TEXT_PT = 10.0
MAX_WIDTH_IN = 5.5  # 10 pt text shown 358 px wide (a 390 px phone) is 9 CSS px
BOOK_STYLE = {
    "figure.figsize": (MAX_WIDTH_IN, 3.4),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "legend.title_fontsize": 10,
    "figure.titlesize": 11,
    "lines.linewidth": 1.8,
    "axes.prop_cycle": cycler(color=COLOURS) + cycler(linestyle=LINE_STYLES),
}
QUALITATIVE_MAPS = {"tab10", "tab20", "tab20b", "tab20c", "Set1", "Set2", "Set3", "Pastel1", "Pastel2", "Paired",
                    "Accent", "Dark2"}
GREY_LEVEL_GAP = 0.25  # relative luminance two same-styled series must differ by to be told apart in greyscale


def book_figures() -> None:
    """Set the book's figure style; in IPython, show figures through :func:`figure_png` (audited PNGs)."""
    matplotlib.rcParams.update(BOOK_STYLE)
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    # Resolve the backend first: loading the inline backend registers its own PNG formatter, which must not
    # replace ours afterwards.
    plt.switch_backend(matplotlib.get_backend())
    shell.display_formatter.formatters["image/png"].for_type(Figure, figure_png)


def relative_luminance(colour) -> float:
    """WCAG relative luminance of a matplotlib colour (0 black, 1 white): what is left of it in greyscale."""
    channels = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgba(colour)[:3]]
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]


def _line_key(line) -> tuple:
    """What tells a line apart besides its colour: its dash pattern and its marker."""
    marker = line.get_marker()
    marker = "none" if marker in (None, "None", "none", "", " ") else str(marker)
    if line.get_linestyle() in ("None", "none", "", " "):
        return ("no line", marker)
    _offset, dashes = line._unscaled_dash_pattern
    return (str(tuple(dashes)) if dashes else "solid", marker)


def colour_only_series(fig: Figure) -> list[str]:
    """Series of ``fig`` that only colour tells apart, as sentences (empty: every series has a second cue)."""
    problems = []
    for index, ax in enumerate(fig.axes):
        where = f"axes {index + 1}" + (f" ({ax.get_title()})" if ax.get_title() else "")
        lines = [line for line in ax.get_lines()
                 if line.get_visible() and not str(line.get_label()).startswith("_")]
        for first, second in itertools.combinations(lines, 2):
            if first.get_label() == second.get_label() or _line_key(first) != _line_key(second):
                continue
            gap = abs(relative_luminance(first.get_color()) - relative_luminance(second.get_color()))
            if gap < GREY_LEVEL_GAP:
                problems.append(f"{where}: lines {first.get_label()!r} and {second.get_label()!r} differ only in "
                                f"colour (same line style and marker, grey levels {gap:.2f} apart)")
        scatters = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_visible()]
        for collection in scatters:
            values = collection.get_array()
            if values is None or collection.get_cmap().name not in QUALITATIVE_MAPS:
                continue
            categories = len(set(values.tolist()))
            labels = [t for t in ax.texts if t.get_visible() and t.get_text().strip()]
            if categories > 1 and len(labels) < categories:
                problems.append(f"{where}: {categories} categories told apart by the colour map "
                                f"{collection.get_cmap().name!r} with {len(labels)} direct labels")
        labelled = [c for c in scatters if not str(c.get_label()).startswith("_") and c.get_array() is None]
        for first, second in itertools.combinations(labelled, 2):
            same_marker = first.get_paths()[0].vertices.tobytes() == second.get_paths()[0].vertices.tobytes()
            colours = [c.get_facecolor()[0] if len(c.get_facecolor()) else c.get_edgecolor()[0]
                       for c in (first, second)]
            gap = abs(relative_luminance(colours[0]) - relative_luminance(colours[1]))
            if same_marker and gap < GREY_LEVEL_GAP:
                problems.append(f"{where}: scatters {first.get_label()!r} and {second.get_label()!r} differ only "
                                f"in colour")
    return problems


def figure_png(fig: Figure) -> bytes | None:
    """The PNG the notebook shows for ``fig`` (tight bounding box, as the inline backend draws it), with the
    smallest drawn font size, the resolution and the colour-only series in its metadata."""
    if not fig.axes and not fig.texts and not fig.images:
        return None
    sizes = []
    original = RendererAgg.draw_text

    def recording_draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if str(s).strip():
            sizes.append(prop.get_size_in_points())
        return original(self, gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    RendererAgg.draw_text = recording_draw_text
    try:
        fig.canvas.draw()  # every text the PNG shows is drawn here too
    finally:
        RendererAgg.draw_text = original
    metadata = {"vaelib:dpi": f"{fig.dpi:g}", "vaelib:min-text-pt": f"{min(sizes):g}" if sizes else "none",
                "vaelib:colour-only": json.dumps(colour_only_series(fig))}
    buffer = io.BytesIO()
    fig.canvas.print_figure(buffer, format="png", bbox_inches="tight", dpi=fig.dpi, metadata=metadata)
    return buffer.getvalue()


def png_metadata(data: bytes) -> dict[str, str]:
    """The text chunks (tEXt, iTXt without compression) of a PNG: what :func:`figure_png` wrote."""
    import struct
    import zlib

    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    chunks, position = {}, 8
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        position += 12 + length
        if kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            chunks[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"zTXt":
            key, _, rest = body.partition(b"\0")
            chunks[key.decode("latin-1")] = zlib.decompress(rest[1:]).decode("latin-1")
        elif kind == b"iTXt":
            key, _, rest = body.partition(b"\0")
            compressed, rest = rest[0], rest[2:]
            _language, _, rest = rest.partition(b"\0")
            _translated, _, text = rest.partition(b"\0")
            chunks[key.decode("latin-1")] = (zlib.decompress(text) if compressed else text).decode("utf-8")
        elif kind == b"IEND":
            break
    return chunks
