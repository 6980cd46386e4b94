"""The one plotting module of the report: every figure is made and saved here.

A fixed style (size, fonts, grid), axes labelled with their units, a legend, and line styles that
differ in greyscale as well as in colour (a printed report loses the colours). ``save`` writes a
figure under a deterministic name as PNG (for the HTML) and as PDF vector art (for the PDF).
Studies call ``line_figure``, ``bar_figure``, ``image_grid`` and ``heatmap``; they never set a style.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")   # no display: figures are only ever written to files
# The report keeps every study's figures open until the PDF has drawn them as vector art (about
# thirty at once): that is by design, not the leak pyplot's warning guards against.
matplotlib.rcParams["figure.max_open_warning"] = 0

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

FIGSIZE = (6.4, 4.0)
DPI = 120
LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "x")
COLORS = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#404040")
STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
         "axes.grid": True, "grid.alpha": 0.3, "figure.dpi": DPI, "savefig.bbox": "tight",
         "pdf.fonttype": 42, "svg.fonttype": "none"}


def _styles():
    """(colour, line style, marker) triples that stay distinct in greyscale."""
    return zip(itertools.cycle(COLORS), itertools.cycle(LINESTYLES), itertools.cycle(MARKERS))


def line_figure(series: dict[str, tuple[list, list]], *, title: str, xlabel: str, ylabel: str,
                logx: bool = False, logy: bool = False, marks: dict[str, tuple[float, float]] | None = None,
                hline: tuple[float, str] | None = None):
    """A figure with one line per entry of ``series`` (``{label: (xs, ys)}``); ``marks`` puts a
    labelled point on it (``{label: (x, y)}``), ``hline`` a dashed reference line ``(y, label)``."""
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=FIGSIZE)
        for (label, (xs, ys)), (color, style, marker) in zip(series.items(), _styles(), strict=False):
            axes.plot(xs, ys, color=color, linestyle=style, marker=marker, markersize=3.5,
                      linewidth=1.4, label=label)
        for label, (x, y) in (marks or {}).items():
            axes.plot([x], [y], marker="*", markersize=12, color="black", linestyle="none", label=label)
        if hline is not None:
            axes.axhline(hline[0], color="grey", linestyle=(0, (4, 2)), linewidth=1.0, label=hline[1])
        axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
        _integer_epochs(axes, xlabel)
        if logx:
            axes.set_xscale("log")
        if logy:
            axes.set_yscale("log")
        axes.legend(loc="best")
        figure.tight_layout()
    return figure


def panels_figure(panels: list[dict], *, title: str, logy: bool = False):
    """Side-by-side line plots: each panel ``{"series", "xlabel", "ylabel", "title"}``."""
    with plt.rc_context(STYLE):
        figure, axes_list = plt.subplots(1, len(panels), figsize=(FIGSIZE[0] * 1.6, FIGSIZE[1]))
        for axes, panel in zip(list(getattr(axes_list, "flat", [axes_list])), panels, strict=False):
            styled = zip(panel["series"].items(), _styles(), strict=False)
            for (label, (xs, ys)), (color, style, marker) in styled:
                axes.plot(xs, ys, color=color, linestyle=style, marker=marker, markersize=3.5,
                          linewidth=1.4, label=label)
            axes.set(title=panel["title"], xlabel=panel["xlabel"], ylabel=panel["ylabel"])
            _integer_epochs(axes, panel["xlabel"])
            if logy:
                axes.set_yscale("log")
            axes.legend(loc="best")
        figure.suptitle(title)
        figure.tight_layout()
    return figure


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


def _integer_epochs(axes, xlabel: str) -> None:
    """Epochs are counted: no tick at 1.5 epochs."""
    if xlabel.startswith("epoch"):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))


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


def data_uri(figure, dpi: int = 80, close: bool = True) -> str:
    """``figure`` as a PNG ``data:`` URI (for a page or a JSON file that must carry its figures
    itself, such as the grader's results.json), at a lower resolution than the report's files."""
    import base64
    import io

    buffer = io.BytesIO()
    with plt.rc_context(STYLE):
        figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    if close:
        plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def image_grid(images, captions: list[str], *, title: str, columns: int = 6, cmap: str = "gray"):
    """A grid of images (each ``(H, W)`` grey or ``(H, W, 3)`` RGB in [0, 1]) with a caption under
    each; no axes."""
    count = len(images)
    rows = max(1, -(-count // columns))
    with plt.rc_context(STYLE):
        figure, axes_grid = plt.subplots(rows, columns, figsize=(FIGSIZE[0], 1.25 * rows + 0.6),
                                         squeeze=False)
        for index, axes in enumerate(axes_grid.flat):
            axes.axis("off")
            if index < count:
                image = images[index]
                axes.imshow(image, cmap=cmap if getattr(image, "ndim", 2) == 2 else None,
                            interpolation="nearest")
                axes.set_title(captions[index], fontsize=7)
        figure.suptitle(title)
        figure.tight_layout()
    return figure


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


def histograms(groups: dict[str, dict[str, list]], *, title: str, xlabel: str, logx: bool = False):
    """One panel per group (e.g. per layer), each with overlaid step histograms of its series."""
    import numpy as np

    with plt.rc_context(STYLE):
        figure, axes_list = plt.subplots(1, len(groups), figsize=(FIGSIZE[0] * 1.6, FIGSIZE[1] * 0.8),
                                         squeeze=False)
        for axes, (group, series) in zip(axes_list.flat, groups.items(), strict=False):
            for (label, values), (color, style, _) in zip(series.items(), _styles(), strict=False):
                values = np.asarray(values, dtype=float)
                values = values[np.isfinite(values)]
                if logx:
                    values = np.log10(np.abs(values[values != 0]))
                axes.hist(values, bins=40, histtype="step", color=color, linestyle=style, linewidth=1.3,
                          label=label)
            axes.set(title=group, xlabel=("log10 |" + xlabel + "|") if logx else xlabel, ylabel="count")
            axes.legend(loc="best")
        figure.suptitle(title)
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
