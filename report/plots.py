"""The one plotting module of the report: every figure is made and saved here (the style, and the
figures the grader draws too, come from ``grader/outputs/artifacts.py`` and are named here).

A fixed style (size, fonts, grid), axes labelled with their units, a legend, and line styles that
differ in greyscale as well as in colour (a printed report loses the colours). ``save`` writes a
figure under a deterministic name as PNG (for the HTML) and as PDF vector art (for the PDF).
Studies call ``line_figure``, ``bar_figure``, ``image_grid`` and ``heatmap``; they never set a style.
"""
from __future__ import annotations

import itertools
from pathlib import Path

# The style and the figures the grader draws too (the experiments' figures in results.json) live
# in the grader, which must not import the report: they are named here as the report's own.
from grader.outputs.artifacts import (  # noqa: F401 (re-exported for the studies)
    COLORS,
    DPI,
    FIGSIZE,
    LINESTYLES,
    MARKERS,
    STYLE,
    data_uri,
    histograms,
    image_grid,
    line_figure,
    panels_figure,
    pyplot,
)

plt = pyplot()   # no display: figures are only ever written to files


def bar_figure(values: dict[str, float], *, title: str, ylabel: str, errors: dict[str, float] | None = None):
    """One bar per entry of ``values`` (``{label: height}``), its height written above it; ``errors``
    (``{label: half-width}``) adds error bars. Hatches tell the bars apart in greyscale."""
    hatches = itertools.cycle(("", "//", "..", "xx", "\\\\", "++"))
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=FIGSIZE)
        for index, ((label, height), color, hatch) in enumerate(zip(values.items(), itertools.cycle(COLORS),
                                                                    hatches, strict=False)):
            error = (errors or {}).get(label)
            axes.bar(index, height, width=0.6, color=color, hatch=hatch, edgecolor="black", linewidth=0.8,
                     yerr=error, capsize=4 if error is not None else 0, label=label)
            axes.annotate(f"{height:.3g}", (index, height + (error or 0)), textcoords="offset points",
                          xytext=(0, 3), ha="center", va="bottom")
        axes.set_xticks(range(len(values)), list(values))
        axes.set(title=title, ylabel=ylabel)
        axes.set_ylim(0, max([*values.values(), 0]) * 1.15 or 1)
        axes.grid(axis="x", visible=False)
        axes.legend(loc="best")
        figure.tight_layout()
    return figure


SMOKE_STAMP = "SMOKE SCALE: a quick check of the code, not the assignment's result"


def mark_scale(figure, scale: str) -> None:
    """Write on ``figure`` itself, in its bottom left corner (clear of the title and of the
    centred axis label), that it was run at smoke scale: a figure copied out of the report keeps
    the warning. Nothing at the other scales."""
    if scale != "smoke":
        return
    figure.text(0.005, 0.005, SMOKE_STAMP, ha="left", va="bottom", fontsize=7, fontweight="bold",
                color="#8c1d18", bbox={"boxstyle": "square,pad=0.25", "facecolor": "#fde7e9",
                                       "edgecolor": "#8c1d18", "linewidth": 0.8})


def save(figure, folder: Path, name: str, close: bool = True) -> dict[str, Path]:
    """Write ``figure`` as ``folder/name.png`` and ``folder/name.pdf``; return both paths.
    ``close=False`` keeps it open (the report's PDF draws it again as vector art)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"png": folder / f"{name}.png", "pdf": folder / f"{name}.pdf"}
    with plt.rc_context(STYLE):
        # Fixed metadata: the same logs give the same files.
        figure.savefig(paths["png"], format="png", metadata={"Software": None})
        figure.savefig(paths["pdf"], format="pdf", metadata={"CreationDate": None, "Creator": None,
                                                             "Producer": None})
    if close:
        plt.close(figure)
    return paths


def heatmap(matrix, *, title: str, xlabel: str, ylabel: str, ticks: list[str] | None = None,
            colorbar_label: str = "", annotate: bool = True):
    """A matrix as a heatmap (greyscale-safe colormap), with its values written in the cells."""
    import numpy as np

    matrix = np.asarray(matrix, dtype=float)
    with plt.rc_context({**STYLE, "axes.grid": False}):
        figure, axes = plt.subplots(figsize=(FIGSIZE[0] * 0.8, FIGSIZE[0] * 0.7))
        shown = axes.imshow(matrix, cmap="viridis")
        bar = figure.colorbar(shown, ax=axes)
        bar.set_label(colorbar_label)
        if ticks is not None:
            axes.set_xticks(range(len(ticks)), ticks)
            axes.set_yticks(range(len(ticks)), ticks)
        if annotate and matrix.size <= 400:
            middle = (matrix.max() + matrix.min()) / 2
            for (row, column), value in np.ndenumerate(matrix):
                axes.text(column, row, f"{value:g}", ha="center", va="center", fontsize=6,
                          color="black" if value > middle else "white")
        axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
        figure.tight_layout()
    return figure


HATCHES = ("", "//", "..", "xx", "\\\\", "--")


def grouped_bar_figure(groups: dict[str, dict[str, float]], *, title: str, xlabel: str, ylabel: str,
               ylim: tuple[float, float] | None = None, value_format: str = "{:.1f}"):
    """Grouped bars: one group per key of ``groups`` (``{group: {bar label: value}}``), the bars of
    a label in one colour and hatch across the groups (hatches keep them apart in greyscale), each
    bar's value written on it (``value_format``), so that small differences stay readable."""
    import numpy as np

    labels = list(dict.fromkeys(label for bars in groups.values() for label in bars))
    width = 0.8 / max(1, len(labels))
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=FIGSIZE)
        centres = np.arange(len(groups))
        styles = zip(labels, itertools.cycle(COLORS), itertools.cycle(HATCHES), strict=False)
        for index, (label, color, hatch) in enumerate(styles):
            xs = [centre + (index - (len(labels) - 1) / 2) * width
                  for centre, bars in zip(centres, groups.values(), strict=True) if label in bars]
            values = [bars[label] for bars in groups.values() if label in bars]
            drawn = axes.bar(xs, values, width * 0.95, color=color, hatch=hatch, edgecolor="white",
                             linewidth=0.6, label=label)
            axes.bar_label(drawn, labels=[value_format.format(v) for v in values], fontsize=6,
                           padding=1.5)
        axes.set_xticks(centres, list(groups))
        axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
        axes.grid(axis="x", visible=False)
        if ylim is not None:
            axes.set_ylim(*ylim)
        axes.legend(loc="lower right", framealpha=0.9)
        figure.tight_layout()
    return figure


def scatter_figure(points, labels, *, title: str, xlabel: str, ylabel: str,
                   lines: dict[str, tuple[list, list]] | None = None, legend_title: str = "class"):
    """2-D ``points`` (N, 2) coloured and marked by their integer ``labels`` (N,): a different
    marker per class, so that the classes stay apart in greyscale. ``lines`` (``{label: (xs, ys)}``)
    draws curves over them, e.g. decision boundaries, in line styles that differ in greyscale."""
    import numpy as np

    points, labels = np.asarray(points, dtype=float), np.asarray(labels)
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=(FIGSIZE[0], FIGSIZE[0] * 0.8))
        colors = itertools.cycle(COLORS + ("#999999", "#2e75b6", "#ff66cc", "#00a0a0"))
        markers = itertools.cycle(MARKERS + ("P", "*", "<", ">"))
        styles = zip(sorted(set(labels.tolist())), colors, markers, strict=False)
        for label, color, marker in styles:
            chosen = labels == label
            axes.scatter(points[chosen, 0], points[chosen, 1], s=9, color=color, marker=marker,
                         label=str(label), alpha=0.8, linewidths=0.4)
        line_styles = zip((lines or {}).items(), itertools.cycle(("#000000",) + COLORS[1:]),
                          itertools.cycle(LINESTYLES), strict=False)
        for (label, (xs, ys)), color, style in line_styles:
            axes.plot(xs, ys, color=color, linestyle=style, linewidth=1.6, label=label)
        axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
        axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), title=legend_title, markerscale=1.5)
        figure.tight_layout()
    return figure
