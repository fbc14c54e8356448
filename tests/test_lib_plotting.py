"""vaelib.plotting.result_table: the HTML tables the chapters show their results in (issue 18: printed tables were
cut on a phone), read back with an HTML parser as a screen reader or a browser would."""

from html.parser import HTMLParser

import numpy as np
import pytest
import torch

from vaelib.plotting import ResultTable, result_table


class _Table(HTMLParser):
    """Collects the table's caption, header cells (with scope), body rows and the wrapper's attributes."""

    def __init__(self):
        super().__init__()
        self.wrapper, self.caption, self.caption_id = {}, "", None
        self.header, self.rows, self._cell, self._where = [], [], None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div" and not self.wrapper:
            self.wrapper = attrs
        elif tag == "caption":
            self._where, self.caption_id = "caption", attrs.get("id")
        elif tag == "tr":
            self._row = []
        elif tag in ("th", "td"):
            self._cell = [tag, attrs.get("scope"), ""]
        elif tag in ("thead", "tbody"):
            self._where = tag

    def handle_endtag(self, tag):
        if tag in ("th", "td"):
            self._row.append(tuple(self._cell))
            self._cell = None
        elif tag == "tr":
            (self.header if self._where == "thead" else self.rows).append(self._row)
        elif tag == "caption":
            self._where = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[2] += data
        elif self._where == "caption":
            self.caption += data


def parse(table: ResultTable) -> _Table:
    parser = _Table()
    parser.feed(table._repr_html_())
    return parser


def test_html_table_has_caption_headers_with_scope_and_formatted_numbers():
    table = result_table(["run", "ELBO (nats/image)", "epochs"], [["KL warm-up", -20.1349, 30], ["plain", -24.5, 5]],
                         caption="Held-out ELBO after training", formats=".2f")
    parsed = parse(table)
    assert parsed.caption == "Held-out ELBO after training"
    assert parsed.header == [[("th", "col", "run"), ("th", "col", "ELBO (nats/image)"), ("th", "col", "epochs")]]
    assert parsed.rows == [[("th", "row", "KL warm-up"), ("td", None, "-20.13"), ("td", None, "30")],
                           [("th", "row", "plain"), ("td", None, "-24.50"), ("td", None, "5")]]
    # the scrolling box is a named region a keyboard can reach and scroll (axe: scrollable-region-focusable)
    assert parsed.wrapper["class"] == "result-table" and parsed.wrapper["role"] == "region"
    assert parsed.wrapper["tabindex"] == "0" and parsed.wrapper["aria-labelledby"] == parsed.caption_id


def test_text_is_escaped():
    parsed = parse(result_table(["q", "KL(q || p(z|x)) <nats>"], [["<b>&</b>", 1.0]], caption="a < b & c"))
    assert parsed.caption == "a < b & c"
    assert parsed.header[0][1][2] == "KL(q || p(z|x)) <nats>"
    assert parsed.rows[0][0][2] == "<b>&</b>"


def test_formats_per_column_missing_values_and_tensor_scalars():
    table = result_table(["k", "share below 1", "mean", "seed"],
                         [{"k": "16", "share below 1": 0.9213, "mean": torch.tensor(1.27449)},
                          ["32", np.float64(0.5), None, np.int64(3)]],
                         caption="p_hat / p(x)", formats={"share below 1": ".1%", "mean": ".3f"})
    assert table.cells() == [["16", "92.1%", "1.274", "-"], ["32", "50.0%", "-", "3"]]


def test_ids_differ_between_tables_so_each_region_names_its_own_caption():
    first, second = (parse(result_table(["a", "b"], [["x", 1]], caption=c)) for c in ("one", "two"))
    assert first.caption_id != second.caption_id
    assert first.wrapper["aria-labelledby"] == first.caption_id


def test_text_repr_aligns_columns():
    text = repr(result_table(["estimator", "variance"], [["pathwise", 0.0123], ["score function", 12.5]],
                             caption="Gradient variance", formats=".4g"))
    lines = text.splitlines()
    assert lines[0] == "Gradient variance"
    assert lines[1:] == ["estimator       variance", "pathwise          0.0123", "score function      12.5"]


@pytest.mark.parametrize("columns, rows, caption, formats, message", [
    (["only"], [["x"]], "c", ".2f", "label column"),
    (["a", "b"], [["x", 1]], "  ", ".2f", "caption"),
    (["a", "b"], [["x", 1, 2]], "c", ".2f", "3 values for 2 columns"),
    (["a", "b"], [{"a": "x", "c": 1}], "c", ".2f", "columns the table does not have"),
    (["a", "b"], [["x", 1]], "c", {"z": ".2f"}, "formats for columns"),
    (["a", "b"], [], "c", ".2f", "at least one row"),
    (["a", "z", "z"], [["x", 1, 2]], "c", ".2f", "must differ"),
])
def test_bad_tables_are_refused_with_a_reason(columns, rows, caption, formats, message):
    with pytest.raises(ValueError, match=message):
        result_table(columns, rows, caption, formats)


# ------------------------------------------------------------------------------------------- figure audit

@pytest.fixture
def book_style():
    import matplotlib

    from vaelib.figure_style import book_figures

    saved = matplotlib.rcParams.copy()
    book_figures()  # outside IPython: the style only
    yield
    matplotlib.rcParams.update(saved)


def audit(fig) -> dict:
    import json

    import matplotlib.pyplot as plt

    from vaelib.figure_style import figure_png, png_metadata

    metadata = png_metadata(figure_png(fig))
    plt.close(fig)
    return {"pt": float(metadata["vaelib:min-text-pt"]), "dpi": float(metadata["vaelib:dpi"]),
            "colour_only": json.loads(metadata["vaelib:colour-only"])}


def test_png_records_the_smallest_drawn_text_and_the_resolution(book_style):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="a")
    assert audit(fig) == {"pt": 10.0, "dpi": 100.0, "colour_only": []}  # tick labels, the book's smallest
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="a")
    ax.legend(fontsize=7)
    ax.text(0.5, 0.5, "   ", fontsize=4)  # blank text draws nothing and does not count
    assert audit(fig)["pt"] == 7.0


def test_series_told_apart_by_colour_only_are_reported(book_style):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], "-", color="tab:red", label="warm-up")
    ax.plot([0, 1], [1, 0], "-", color="tab:green", label="plain")
    problems = audit(fig)["colour_only"]
    assert len(problems) == 1 and "'warm-up' and 'plain'" in problems[0]

    fig, ax = plt.subplots()  # the book's cycle gives each series its own line style
    ax.plot([0, 1], [0, 1], color="tab:red", label="warm-up")
    ax.plot([0, 1], [1, 0], color="tab:green", label="plain")
    ax.plot([0, 1], [1, 1], "-", color="0.85", label="light grey, far from red in greyscale")
    ax.plot([0, 1], [0.5, 0.5], "o", color="tab:blue", label="markers")
    ax.plot([0, 1], [0.2, 0.2], "-", color="tab:red", label="_hidden helper line")
    assert audit(fig)["colour_only"] == []


def test_categories_need_a_direct_label_each(book_style):
    import matplotlib.pyplot as plt

    from vaelib.plotting import latent_scatter

    codes, labels = np.random.default_rng(0).normal(size=(50, 2)), np.arange(50) % 5
    fig, ax = plt.subplots()
    ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10")
    assert "5 categories" in audit(fig)["colour_only"][0]
    fig, ax = plt.subplots()
    latent_scatter(codes, labels, ax=ax)
    assert audit(fig)["colour_only"] == []
    assert sorted(t.get_text() for t in ax.texts) == ["0", "1", "2", "3", "4"]


def test_png_metadata_rejects_other_files():
    from vaelib.figure_style import png_metadata

    with pytest.raises(ValueError, match="not a PNG"):
        png_metadata(b"GIF89a")
