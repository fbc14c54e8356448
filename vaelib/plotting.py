"""Figures drawn by our own code: graphical models, computation graphs and image grids."""

import matplotlib.pyplot as plt
import numpy as np
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
    """Scatter 2-D codes coloured by digit label (``size``: marker area), with a colour bar of the labels."""
    ax = ax or plt.gca()
    codes = np.asarray(codes.detach().cpu() if hasattr(codes, "detach") else codes)
    labels = np.asarray(labels.cpu() if hasattr(labels, "cpu") else labels)
    scatter = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=size, vmin=-0.5, vmax=9.5)
    ax.figure.colorbar(scatter, ax=ax, ticks=range(10), label="digit")
    if title:
        ax.set_title(title)
    return ax
