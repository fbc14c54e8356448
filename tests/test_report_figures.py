"""The score histogram of summary.md: its axis ends at the maximum it names (or at maximum + bonus, marked, when
someone scored above it), and it counts submissions in whole numbers."""

import pytest

from autograder.report import histogram_figure


@pytest.mark.parametrize("scores, max_score, bonus, upper", [
    ([0, 3, 3, 17, 12.5], 17, 3, 17),  # nobody above the maximum: the axis ends there
    ([0, 17, 20], 17, 3, 20),  # bonus points above it: up to maximum + bonus, with a line at the maximum
    ([1, 2], 25, 0, 25),
])
def test_histogram_axis_and_whole_counts(scores, max_score, bonus, upper):
    import matplotlib.pyplot as plt

    figure = histogram_figure(scores, max_score, bonus, "t")
    axes = figure.axes[0]
    assert axes.get_xlim() == (0, upper)
    assert f"max {max_score}" in axes.get_xlabel()
    ticks = [t for t in axes.get_yticks() if axes.get_ylim()[0] <= t <= axes.get_ylim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert sum(p.get_height() for p in axes.patches) == len(scores)  # every score in a bar
    assert bool(axes.lines) == (upper > max_score)
    plt.close(figure)
