"""The report as HTML and as PDF, both from the same list of ``engine.Section``.

- ``report.html`` is one self-contained file: inline CSS, its figures embedded as PNG data URIs,
  no script and nothing loaded from anywhere. Every text from a study (an error message quotes
  the student's code) is escaped.
- ``report.pdf`` is written with matplotlib alone (no system library, no browser): a title page,
  then for each study a text page (question, status, notes, configuration, the table of numbers
  and an empty discussion box) followed by its figures as vector pages.
"""
from __future__ import annotations

import base64
import html
import os
import tempfile
import textwrap
from pathlib import Path

from report.engine import FAILED, NEEDS, OK, Section

CSS = """
body { font-family: Georgia, 'DejaVu Serif', serif; max-width: 58em; margin: 2em auto; padding: 0 1em;
       color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; border-bottom: 1px solid #bbb; margin-top: 2em; }
.question { font-style: italic; }
.status-needs, .status-failed { border-left: 4px solid #c55a11; padding: .4em .8em; background: #fbf1ea; }
.status-failed pre { white-space: pre-wrap; font-size: .85em; }
figure { margin: 1em 0; } figure img { max-width: 100%; }
figcaption { font-size: .85em; color: #444; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
th { background: #f0f0f0; }
.discussion { border: 1px dashed #888; min-height: 7em; padding: .6em; color: #777; }
.muted { color: #666; font-size: .9em; }
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _table_html(headers, rows) -> str:
    if not headers:
        return ""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section_html(section: Section) -> str:
    parts = [f'<section id="{_e(section.name)}"><h2>{_e(section.title)}</h2>',
             f'<p class="question">{_e(section.question)}</p>']
    if section.status == NEEDS:
        parts.append(f'<p class="status-needs">This study did not run: it {_e(section.message)}. '
                     "Write that part of solution.py, then run python -m report again.</p>")
    elif section.status == FAILED:
        parts.append(f'<div class="status-failed"><p>This study failed; the others ran.</p>'
                     f"<pre>{_e(section.message)}</pre></div>")
    for note in section.notes:
        parts.append(f'<p class="muted">{_e(note)}</p>')
    for name, paths in section.figures.items():
        data = base64.b64encode(Path(paths["png"]).read_bytes()).decode("ascii")
        parts.append(f'<figure><img alt="{_e(section.title)}: {_e(name)}" '
                     f'src="data:image/png;base64,{data}"><figcaption>Figure: {_e(name)}, at scale '
                     f"{_e(section.scale)} ({_e(Path(paths['pdf']).name)} beside the logs)"
                     "</figcaption></figure>")
    if section.status == OK:
        parts.append(_table_html(*section.table))
        settings = _table_html(("setting", "value"), list(section.settings.items()))
        parts.append(f"<h3>Configuration</h3>{settings}")
    parts.append('<h3>Discussion</h3><div class="discussion">Your discussion here.</div></section>')
    return "\n".join(parts)


def render_html(sections: list[Section], *, title: str, subtitle: str) -> str:
    body = [f"<h1>{_e(title)}</h1>", f'<p class="muted">{_e(subtitle)}</p>',
            "<ol>" + "".join(f'<li><a href="#{_e(s.name)}">{_e(s.title)}</a> ({_e(s.status)})</li>'
                             for s in sections) + "</ol>"]
    body += [_section_html(section) for section in sections]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "img-src data:; style-src 'unsafe-inline'\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n" + "\n".join(body)
            + "\n</body></html>\n")


# ---- PDF -------------------------------------------------------------------------------------

PAGE = (8.27, 11.69)   # A4, inches
_WRAP = 92


def _text_lines(section: Section) -> list[tuple[str, str]]:
    """(style, line) pairs of a section's text page: title, body, mono (tables), heading."""
    lines = [("title", section.title), ("body", "")]
    lines += [("italic", line) for line in textwrap.wrap(section.question, _WRAP)]
    lines.append(("body", ""))
    if section.status == NEEDS:
        lines += [("body", line) for line in textwrap.wrap(
            f"This study did not run: it {section.message}. Write that part of solution.py, then "
            "run python -m report again.", _WRAP)]
    elif section.status == FAILED:
        lines += [("body", "This study failed; the others ran:")]
        lines += [("mono", line) for line in textwrap.wrap(section.message, _WRAP)[:12]]
    for note in section.notes:
        lines += [("body", line) for line in textwrap.wrap(note, _WRAP)]
    if section.status == OK:
        headers, rows = section.table
        if headers:
            lines += [("body", ""), ("heading", "Results")]
            lines += [("mono", line) for line in _mono_table(headers, rows)]
        lines += [("body", ""), ("heading", "Configuration")]
        settings = list(section.settings.items())
        lines += [("mono", line) for line in _mono_table(("setting", "value"), settings)]
        if section.figures:
            lines += [("body", ""), ("body", "Figures: " + ", ".join(section.figures) + " (next pages).")]
    return lines


def _mono_table(headers, rows, width: int = 100) -> list[str]:
    cells = [list(map(str, headers))] + [list(map(str, row)) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row))[:width])
        if index == 0:
            lines.append("  ".join("-" * w for w in widths)[:width])
    return lines


_FONTS = {"title": dict(size=15, weight="bold"), "heading": dict(size=11, weight="bold"),
          "body": dict(size=9), "italic": dict(size=9, style="italic"),
          "mono": dict(size=7.5, family="monospace")}
_STEP = {"title": 0.032, "heading": 0.024, "body": 0.018, "italic": 0.018, "mono": 0.0145}


def _text_page(pdf, lines: list[tuple[str, str]], discussion: bool) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    figure = plt.figure(figsize=PAGE)
    y = 0.95
    for style, line in lines:
        if y < 0.06:
            break
        figure.text(0.08, y, line, va="top", ha="left", **_FONTS[style])
        y -= _STEP[style]
    if discussion:
        y -= 0.01
        figure.text(0.08, y, "Discussion", va="top", **_FONTS["heading"])
        bottom = 0.05
        top = y - 0.03
        if top - bottom > 0.05:
            figure.add_artist(Rectangle((0.08, bottom), 0.84, top - bottom, fill=False,
                                        linestyle="--", edgecolor="#888888", transform=figure.transFigure))
    pdf.savefig(figure)
    plt.close(figure)


def render_pdf(sections: list[Section], figures: dict, path: Path, *, title: str, subtitle: str) -> None:
    """Write the PDF to ``path`` atomically. ``figures``: ``{section name: {name: live figure}}``."""
    from matplotlib.backends.backend_pdf import PdfPages

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        with PdfPages(partial, metadata={"Title": title, "CreationDate": None, "Creator": None,
                                         "Producer": None}) as pdf:
            contents = [("title", title), ("body", "")]
            contents += [("body", line) for line in textwrap.wrap(subtitle, _WRAP)]
            contents += [("body", ""), ("heading", "Contents")]
            contents += [("body", f"{s.title} ({s.status})") for s in sections]
            _text_page(pdf, contents, discussion=False)
            for section in sections:
                _text_page(pdf, _text_lines(section), discussion=True)
                for name, figure in figures.get(section.name, {}).items():
                    # every figure page says what it is and at which scale it was run
                    figure.text(0.995, 0.005, f"{section.title}: {name}, scale {section.scale}",
                                ha="right", va="bottom", fontsize=6, color="#555555")
                    pdf.savefig(figure)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
