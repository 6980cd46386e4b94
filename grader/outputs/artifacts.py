"""What the grader and the report builder (``python -m report``) both write: files, written
atomically, and figures, drawn in the one style.

It lives in the grader, which the handout ships, so that ``report`` may import the grader and
the grader never imports ``report``: ``report/plots.py`` (the report's plotting module) takes its
style and the figures the grader also draws from here, and ``grader/outputs/experiment_figures``
draws the experiments' figures with them for results.json.

matplotlib is imported on first use (``pyplot``): most gradings draw nothing, and every one
writes its results with the functions below.
"""
from __future__ import annotations

import functools
import itertools
import json
import os
import tempfile
from pathlib import Path


# -- files ----------------------------------------------------------------------------------------
def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one: a
    killed writer leaves at most a stray ``.tmp`` file beside it, never a half-written ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as UTF-8, atomically (see ``write_bytes_atomic``)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` to ``path`` as JSON, atomically (see ``write_text_atomic``)."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


# -- the figures' style ---------------------------------------------------------------------------
FIGSIZE = (6.4, 4.0)   # inches
DPI = 120
LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "x")
COLORS = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#404040")
STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
         "axes.grid": True, "grid.alpha": 0.3, "figure.dpi": DPI, "savefig.bbox": "tight",
         "pdf.fonttype": 42, "svg.fonttype": "none"}


@functools.cache
def pyplot():
    """matplotlib's ``pyplot``, set up once for drawing without a display."""
    import matplotlib

    matplotlib.use("Agg")   # no display: figures are only ever written to files
    # The report keeps every study's figures open until the PDF has drawn them as vector art
    # (about thirty at once): that is by design, not the leak pyplot's warning guards against.
    matplotlib.rcParams["figure.max_open_warning"] = 0
    import matplotlib.pyplot as plt

    return plt


def styles():
    """(colour, line style, marker) triples that stay distinct in greyscale."""
    return zip(itertools.cycle(COLORS), itertools.cycle(LINESTYLES), itertools.cycle(MARKERS))


def integer_epochs(axes, xlabel: str) -> None:
    """Epochs are counted: no tick at 1.5 epochs. When every curve of ``axes`` has the same one
    x (a run of a single epoch), the axis is categorical: one tick, named, in the middle, and
    the curves are points (matplotlib would stretch 1 into an axis from 0.945 to 1.05)."""
    from matplotlib.ticker import MaxNLocator

    # the curves' x values (a reference line drawn across the axes, axhline, has none of its own)
    distinct = {float(x) for line in axes.get_lines() if line.get_transform() == axes.transData
                for x in line.get_xdata()}
    if len(distinct) == 1 and xlabel.startswith(("epoch", "step", "iteration")):
        (only,) = distinct
        for line in axes.get_lines():
            if line.get_transform() == axes.transData:
                line.set_markersize(max(line.get_markersize(), 8))
        axes.set_xticks([only], [f"{xlabel} {only:g} (one value only)"])
        axes.set_xlim(only - 1, only + 1)
        axes.set_xlabel("")
        return
    if xlabel.startswith("epoch"):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))


# -- figures the grader draws too (the report draws more: ``report/plots.py``) --------------------
def line_figure(series: dict[str, tuple[list, list]], *, title: str, xlabel: str, ylabel: str,
                logx: bool = False, logy: bool = False, marks: dict[str, tuple[float, float]] | None = None,
                hline: tuple[float, str] | None = None):
    """A figure with one line per entry of ``series`` (``{label: (xs, ys)}``); ``marks`` puts a
    labelled point on it (``{label: (x, y)}``), ``hline`` a dashed reference line ``(y, label)``."""
    plt = pyplot()
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=FIGSIZE)
        for (label, (xs, ys)), (color, style, marker) in zip(series.items(), styles(), strict=False):
            axes.plot(xs, ys, color=color, linestyle=style, marker=marker, markersize=3.5,
                      linewidth=1.4, label=label)
        for label, (x, y) in (marks or {}).items():
            axes.plot([x], [y], marker="*", markersize=12, color="black", linestyle="none", label=label)
        if hline is not None:
            axes.axhline(hline[0], color="grey", linestyle=(0, (4, 2)), linewidth=1.0, label=hline[1])
        axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
        integer_epochs(axes, xlabel)
        if logx:
            axes.set_xscale("log")
        if logy:
            axes.set_yscale("log")
        axes.legend(loc="best")
        figure.tight_layout()
    return figure


def panels_figure(panels: list[dict], *, title: str, logy: bool = False):
    """Side-by-side line plots: each panel ``{"series", "xlabel", "ylabel", "title"}``."""
    plt = pyplot()
    with plt.rc_context(STYLE):
        figure, axes_list = plt.subplots(1, len(panels), figsize=(FIGSIZE[0] * 1.6, FIGSIZE[1]))
        for axes, panel in zip(list(getattr(axes_list, "flat", [axes_list])), panels, strict=False):
            styled = zip(panel["series"].items(), styles(), strict=False)
            for (label, (xs, ys)), (color, style, marker) in styled:
                axes.plot(xs, ys, color=color, linestyle=style, marker=marker, markersize=3.5,
                          linewidth=1.4, label=label)
            axes.set(title=panel["title"], xlabel=panel["xlabel"], ylabel=panel["ylabel"])
            integer_epochs(axes, panel["xlabel"])
            if logy:
                axes.set_yscale("log")
            axes.legend(loc="best")
        figure.suptitle(title)
        figure.tight_layout()
    return figure


def image_grid(images, captions: list[str], *, title: str, columns: int = 6, cmap: str = "gray"):
    """A grid of images (each ``(H, W)`` grey or ``(H, W, 3)`` RGB in [0, 1]) with a caption under
    each; no axes."""
    plt = pyplot()
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


def histograms(groups: dict[str, dict[str, list]], *, title: str, xlabel: str, logx: bool = False):
    """One panel per group (e.g. per layer), each with overlaid step histograms of its series."""
    import numpy as np

    plt = pyplot()
    with plt.rc_context(STYLE):
        figure, axes_list = plt.subplots(1, len(groups), figsize=(FIGSIZE[0] * 1.6, FIGSIZE[1] * 0.8),
                                         squeeze=False)
        for axes, (group, series) in zip(axes_list.flat, groups.items(), strict=False):
            for (label, values), (color, style, _) in zip(series.items(), styles(), strict=False):
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


def data_uri(figure, dpi: int = 80, close: bool = True) -> str:
    """``figure`` as a PNG ``data:`` URI (for a page or a JSON file that must carry its figures
    itself, such as the grader's results.json), at a lower resolution than the report's files."""
    import base64
    import io

    plt = pyplot()
    buffer = io.BytesIO()
    with plt.rc_context(STYLE):
        figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    if close:
        plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
