"""Figures drawn by our own code (graphical models, computation graphs, image grids) and result tables."""

import html
import itertools
import numbers
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patheffects
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle


def _node(ax, xy, label, observed=False, radius=0.35, colour="white", edge="black"):
    ax.add_patch(Circle(xy, radius, facecolor="#d0d0d0" if observed else colour, edgecolor=edge, lw=1.5, zorder=2))
    ax.text(*xy, label, ha="center", va="center", fontsize=14, zorder=3)


def _box(ax, xy, label, colour="white", edge="black", width=1.3, height=0.6):
    x, y = xy
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.05",
                                facecolor=colour, edgecolor=edge, lw=1.5, zorder=2))
    ax.text(x, y, label, ha="center", va="center", fontsize=12, zorder=3)


def _arrow(ax, start, end, colour="black", style="-|>", shrink=22, dashed=False, shrink_start=None):
    """Arrow from start to end; ``shrink`` (points) keeps the head outside the target node."""
    start_gap = shrink if shrink_start is None else shrink_start
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=15, color=colour, lw=1.5,
                                 shrinkA=start_gap, shrinkB=shrink, linestyle="--" if dashed else "-", zorder=1))


def draw_graphical_model(ax=None, show_variational: bool = False):
    """The directed graphical model z -> x inside a plate over the N data points, with parameter theta.

    With ``show_variational`` the inference arrow x -> z of q_phi(z|x) is drawn dashed, with phi.
    """
    ax = ax or plt.gca()
    _node(ax, (1.0, 2.0), "$z$")
    _node(ax, (1.0, 0.7), "$x$", observed=True)
    _arrow(ax, (1.0, 2.0), (1.0, 0.7))
    ax.add_patch(Rectangle((0.35, 0.15), 1.5, 2.5, fill=False, lw=1.2))
    ax.text(1.75, 0.25, "$N$", ha="right", va="bottom", fontsize=12)
    ax.plot([2.4], [1.35], "ko", ms=5)
    ax.text(2.55, 1.35, r"$\theta$", va="center", fontsize=14)
    _arrow(ax, (2.4, 1.35), (1.0, 2.0), shrink=22, shrink_start=5)
    _arrow(ax, (2.4, 1.35), (1.0, 0.7), shrink=22, shrink_start=5)
    if show_variational:
        ax.add_patch(FancyArrowPatch((0.75, 0.85), (0.75, 1.85), connectionstyle="arc3,rad=-0.5", arrowstyle="-|>",
                                     mutation_scale=15, linestyle="--", color="tab:blue", lw=1.5))
        ax.plot([-0.2], [1.35], "o", color="tab:blue", ms=5)
        ax.text(-0.35, 1.35, r"$\phi$", va="center", ha="right", fontsize=14, color="tab:blue")
    ax.set_xlim(-0.8, 3.0)
    ax.set_ylim(0.0, 2.8)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def draw_computation_graph(ax=None, reparameterized: bool = False):
    """The VAE's computation graph. The encoder, with weights phi, maps x to (mu, sigma). Without the trick
    z is a random node that blocks backpropagation (red); with it the noise eps is a separate input and
    z = mu + sigma * eps is a deterministic node (blue)."""
    ax = ax or plt.gca()
    blocked, passable, noise = "#f4a6a6", "#a6c8f4", "#f9e79f"
    _box(ax, (0.0, 1.0), "$x$", colour="#d0d0d0", width=0.9)
    _box(ax, (2.3, 1.0), r"$(\mu,\sigma)=\mathrm{enc}_\phi(x)$", colour=passable, width=2.5)
    _arrow(ax, (0.55, 1.0), (0.95, 1.0), shrink=1)  # arrows run from box edge to box edge
    if reparameterized:
        _box(ax, (2.3, 2.4), r"$\varepsilon\sim\mathcal{N}(0,1)$", colour=noise, width=1.9)
        _box(ax, (5.0, 1.0), r"$z=\mu+\sigma\varepsilon$", colour=passable, width=1.9)
        _arrow(ax, (3.0, 2.0), (4.5, 1.4), shrink=1)
    else:
        _box(ax, (5.0, 1.0), r"$z\sim q_\phi(z|x)$", colour=blocked, width=1.9)
    _arrow(ax, (3.65, 1.0), (3.95, 1.0), shrink=1)
    _box(ax, (7.2, 1.0), r"$\mathcal{L}(x, z)$", colour=passable, width=1.5)
    _arrow(ax, (6.05, 1.0), (6.35, 1.0), shrink=1)
    ax.text(5.0, 0.2, "gradient flows through z" if reparameterized else "no gradient through a sample",
            ha="center", fontsize=10, color="tab:blue" if reparameterized else "tab:red")
    ax.set_xlim(-0.6, 8.1)
    ax.set_ylim(-0.1, 3.0)
    ax.axis("off")
    return ax


def image_grid(images, n_rows: int, shape=(8, 8), ax=None, title: str | None = None):
    """Show flat images (n, h*w) as an n_rows x (n / n_rows) grid of grey-scale pictures."""
    ax = ax or plt.gca()
    images = np.asarray(images.detach().cpu() if hasattr(images, "detach") else images)
    n_cols = int(np.ceil(len(images) / n_rows))
    h, w = shape
    canvas = np.zeros((n_rows * (h + 1) - 1, n_cols * (w + 1) - 1))  # white gaps under gray_r
    for i, image in enumerate(images):
        r, c = divmod(i, n_cols)
        canvas[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = image.reshape(h, w)
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


def latent_scatter(codes, labels, ax=None, title: str | None = None, size: float = 6):
    """Scatter 2-D codes coloured by digit label (``size``: marker area), each digit also written at the median of
    its codes, so the classes can be told apart without colour (greyscale, colour blindness)."""
    ax = ax or plt.gca()
    codes = np.asarray(codes.detach().cpu() if hasattr(codes, "detach") else codes)
    labels = np.asarray(labels.cpu() if hasattr(labels, "cpu") else labels)
    ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=size, vmin=-0.5, vmax=9.5)
    outline = [patheffects.withStroke(linewidth=3, foreground="white")]
    for digit in np.unique(labels):
        centre = np.median(codes[labels == digit], axis=0)
        ax.text(*centre, str(digit), ha="center", va="center", fontsize=12, fontweight="bold",
                path_effects=outline, zorder=3)
    if title:
        ax.set_title(title)
    return ax


class ResultTable:
    """A table of results that a notebook shows as an HTML table (``_repr_html_``) and a terminal as aligned text.

    ``columns`` names every column, the first being the row labels' (it may be ""). Each row is a sequence whose
    first item is the row's label, or a mapping from column name to value (a missing value shows as "-"). Numbers
    are formatted with ``formats``: one format spec for every number (".3f", ".2e", ".1%"), or a mapping from column
    name to spec; integers and booleans print as they are unless their column has a spec. The caption says what the
    numbers are (and their units): it is the table's accessible name. In the HTML, the table sits in a box that
    scrolls sideways by itself when the table is wider than the page (a phone), and can be scrolled by keyboard.
    """

    _ids = itertools.count(1)

    def __init__(self, columns: Sequence[str], rows, caption: str, formats: str | Mapping[str, str] = ".4g"):
        self.columns = [str(name) for name in columns]
        if len(self.columns) < 2:
            raise ValueError("a result table needs a label column and at least one column of values")
        if len(set(self.columns)) < len(self.columns):
            raise ValueError(f"column names must differ (they name the formats and the headers): {self.columns}")
        if not caption or not str(caption).strip():
            raise ValueError("a result table needs a caption that says what its numbers are")
        self.caption = str(caption)
        if isinstance(formats, Mapping):
            unknown = set(formats) - set(self.columns)
            if unknown:
                raise ValueError(f"formats for columns the table does not have: {sorted(unknown)}")
        self.formats = formats
        self.rows = [self._row(row) for row in rows]
        if not self.rows:
            raise ValueError("a result table needs at least one row")

    def _row(self, row) -> list:
        if isinstance(row, Mapping):
            unknown = set(row) - set(self.columns)
            if unknown:
                raise ValueError(f"row with values for columns the table does not have: {sorted(unknown)}")
            return [row.get(name) for name in self.columns]
        row = list(row)
        if len(row) != len(self.columns):
            raise ValueError(f"row {row!r} has {len(row)} values for {len(self.columns)} columns")
        return row

    def _text(self, value, column: str) -> str:
        spec = self.formats.get(column) if isinstance(self.formats, Mapping) else self.formats
        if value is None:
            return "-"
        if isinstance(value, str):
            return value
        if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
            value = value.item()  # a 0-d tensor or numpy scalar
        if isinstance(value, bool | numbers.Integral) and not (isinstance(self.formats, Mapping) and spec):
            return str(value)
        if isinstance(value, numbers.Real):
            return format(value, spec) if spec else str(value)
        return str(value)

    def cells(self) -> list[list[str]]:
        """The table's text, row by row, as shown (labels first)."""
        return [[self._text(value, name) for value, name in zip(row, self.columns, strict=True)] for row in self.rows]

    def __repr__(self) -> str:
        table = [self.columns, *self.cells()]
        widths = [max(len(line[i]) for line in table) for i in range(len(self.columns))]
        lines = [self.caption]
        for line in table:
            padded = [text.rjust(width) for text, width in zip(line, widths, strict=True)]
            lines.append("  ".join([line[0].ljust(widths[0]), *padded[1:]]))
        return "\n".join(lines).rstrip()

    def _repr_html_(self) -> str:
        caption_id = f"result-table-{next(self._ids)}"
        esc = html.escape
        head = "".join(f'<th scope="col">{esc(name)}</th>' for name in self.columns)
        body = "".join(
            f'<tr><th scope="row">{esc(label)}</th>' + "".join(f"<td>{esc(value)}</td>" for value in values) + "</tr>"
            for label, *values in self.cells()
        )
        return (f'<div class="result-table" role="region" aria-labelledby="{caption_id}" tabindex="0">'
                f'<table><caption id="{caption_id}">{esc(self.caption)}</caption>'
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def result_table(columns: Sequence[str], rows, caption: str, formats: str | Mapping[str, str] = ".4g") -> ResultTable:
    """A :class:`ResultTable`: the last expression of a cell (or ``display(...)``) shows it as an HTML table.

    >>> result_table(["run", "ELBO (nats/image)"], [["warm-up", -20.13]], "Held-out ELBO", ".2f")
    """
    return ResultTable(columns, rows, caption, formats)
