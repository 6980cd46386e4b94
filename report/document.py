"""The report as HTML, from the same list of ``engine.Section`` as the LaTeX project
(``report/latex.py``, which makes the PDF).

``report.html`` is one self-contained file: inline CSS, its figures embedded as PNG data URIs,
no script and nothing loaded from anywhere. Every text from a study (an error message quotes the
student's code) is escaped. Each section ends with the student's discussion, read from the
project's ``discussion/<study>.tex`` (its comment lines left out) and shown as text, so that the
report reads in a browser as it will in the PDF.
"""
from __future__ import annotations

import base64
import html
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
caption { caption-side: top; text-align: left; color: #8c1d18; font-weight: bold; font-size: .85em; }
.discussion { border: 1px dashed #888; min-height: 7em; padding: .6em; color: #777; }
pre.discussion { color: #1a1a1a; white-space: pre-wrap; font-family: inherit; }
.muted { color: #666; font-size: .9em; }
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _table_html(headers, rows, caption: str = "") -> str:
    if not headers:
        return ""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    title = f"<caption>{_e(caption)}</caption>" if caption else ""
    return f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section_html(section: Section, discussion: str = "") -> str:
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
        smoke = ("Smoke scale: a quick check of the code, not the assignment's result"
                 if section.scale == "smoke" else "")
        parts.append(_table_html(*section.table, caption=smoke))
        settings = _table_html(("setting", "value"), list(section.settings.items()))
        parts.append(f"<h3>Configuration</h3>{settings}")
    shown = (f'<pre class="discussion">{_e(discussion)}</pre>' if discussion else
             f'<div class="discussion">Write your discussion in discussion/{_e(section.name)}.tex.</div>')
    parts.append(f"<h3>Discussion</h3>{shown}</section>")
    return "\n".join(parts)


def render_html(sections: list[Section], *, title: str, subtitle: str,
                discussions: dict[str, str] | None = None) -> str:
    """The whole page; ``discussions``: ``{study: the student's text}`` (``latex.discussion_text``)."""
    body = [f"<h1>{_e(title)}</h1>", f'<p class="muted">{_e(subtitle)}</p>',
            "<ol>" + "".join(f'<li><a href="#{_e(s.name)}">{_e(s.title)}</a> ({_e(s.status)})</li>'
                             for s in sections) + "</ol>"]
    body += [_section_html(section, (discussions or {}).get(section.name, "")) for section in sections]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "img-src data:; style-src 'unsafe-inline'\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n" + "\n".join(body)
            + "\n</body></html>\n")
