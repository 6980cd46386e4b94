"""Each student's feedback file: ``feedback/<student>.md`` and ``feedback/<student>.html``.

The feedback is written for after grades are published, so it shows everything a student's
grading holds (the result model, ``grader/model.py``): the points per part (in rubric order),
the total, then every test that lost points with its diagnosis, hidden tests included and
marked as such. An INVALID
submission's feedback says it scored 0 and why; a NOT_GRADED one says it was not graded, that
this is not the student's fault, and why.

Everything shown comes from the grader's model, but a diagnosis quotes what the
student's code printed or raised, and a name comes from a roster: all of it is escaped (HTML
with ``html.escape``, Markdown by backslash escapes outside code blocks and by fences longer
than any run of backticks inside them). The HTML page is one self-contained file: inline CSS,
no script, nothing loaded from anywhere.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

from grader.batch.records import INVALID, NOT_GRADED, StudentRecord
from grader import model
from grader.model import Grading
from grader.outputs import report

NOT_SELECTED, GRADER_ERROR = model.NOT_SELECTED, model.ERROR
"""Statuses of rows that cost nothing the student did (see ``grader/model.py``)."""

LOAD_FAILURE_OUTPUT = report.LOAD_FAILURE_OUTPUT
"""The ``output`` of every test when the submission could not be imported at all."""


@dataclass(frozen=True)
class Outcome:
    """One test of a grading, as the reports show it."""
    test: str          # pytest name, e.g. "test_backward[relu]"
    part: str
    title: str         # the rubric's description of the test
    score: float
    max_score: float
    output: str        # the diagnosis as results.json says it ("" for a pass without notes)
    hidden: bool       # visibility "after_published"
    status: str        # the model's: passed, failed, error, not run, not selected, invalid
    causes: tuple = () # ((cause id, sentence), ...): ids of grader/causes.py
    figures: tuple = ()  # ((name, PNG data URI), ...): an experiment's figures, drawn by the grader
    lost: float = 0.0    # points lost
    charged: bool = False  # lost for something in the submission (``TestRecord.charged``)


def outcomes(grading: Grading | None) -> list[Outcome]:
    """The tests of ``grading`` (a record's ``model``), in rubric order (by part, then the
    rubric's row order, which puts a part's hidden tests after its visible ones)."""
    if grading is None:
        return []
    failure = grading.note("load_failure")
    return [Outcome(test=test.test, part=test.part, title=test.title, score=test.score,
                    max_score=test.points, output=report.student_output(test, failure),
                    hidden=test.hidden, status=test.status, causes=test.cause_pairs(),
                    figures=_figures(test.experiment), lost=test.lost, charged=test.charged)
            for test in grading.tests_by_part()]


_PNG_DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/]+={0,2}")


def _figures(experiment) -> tuple:
    """``((name, data URI), ...)`` of an experiment test's figures; anything but a PNG data URI
    (the only form ``grader/outputs/experiment_figures.py`` writes) is left out."""
    figures = (experiment or {}).get("figures") if isinstance(experiment, dict) else None
    if not isinstance(figures, dict):
        return ()
    return tuple((str(name), uri) for name, uri in figures.items()
                 if isinstance(uri, str) and _PNG_DATA_URI.fullmatch(uri))


def load_failure(grading: Grading | None) -> str:
    """Why the submission could not be imported ("" when it could). Every test then says only
    ``LOAD_FAILURE_OUTPUT``, so this is shown once instead."""
    return grading.note("load_failure") if grading is not None else ""


def display_name(record: StudentRecord) -> str:
    return record.name or record.student


def _points(value: float) -> str:
    return f"{value:.2f}"


def _maximum(value: float) -> str:
    return f"{value:g}"


def _percent(score: float, maximum: float) -> str:
    return f"{100.0 * score / maximum:.1f} %" if maximum else "-"


def _warnings(record: StudentRecord) -> list[str]:
    """The run's own caveats: a partial run, a file whose import failed but whose definitions
    were graded."""
    grading = record.model
    if grading is None:
        return []
    warnings = []
    if grading.note("partial"):
        warnings.append(f"Partial result: {grading.note('partial')}")
    if grading.note("load_warning"):
        warnings.append(f"Warning: {grading.note('load_warning')}")
    return warnings


# ---------------------------------------------------------------------------------------------
# Markdown

_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|#!~])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _md(text: str) -> str:
    """Inline Markdown text that renders as itself: specials backslash-escaped (``\\<`` keeps a
    renderer from reading raw HTML; an underscore inside a word, as in ``train_loop``, cannot
    start emphasis and stays), newlines folded."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), " ".join(str(text).split()))


def _md_code(text: str) -> str:
    """An inline code span of ``text`` (one line), delimited by more backticks than it holds."""
    text = " ".join(str(text).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_code_block(text: str) -> str:
    """A fenced block that ``text`` cannot close: the fence is longer than any backtick run."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _md_score_table(record: StudentRecord) -> list[str]:
    lines = ["| part | points | out of |", "|:---|---:|---:|"]
    for part, (score, maximum) in record.part_scores().items():
        mark = "" if score >= maximum else " ←"
        lines.append(f"| {_md(part)} | {_points(score)}{mark} | {_maximum(maximum)} |")
    score, maximum = record.score or 0.0, record.max_score or 0.0
    lines.append(f"| **total** | **{_points(score)}** | **{_maximum(maximum)}** |")
    return lines


def _md_heading(entry: Outcome) -> str:
    hidden = " *(hidden test)*" if entry.hidden else ""
    return (f"### [{_md(entry.part)}] {_md(entry.title)} — {_points(entry.score)} / "
            f"{_maximum(entry.max_score)}{hidden}")


def feedback_markdown(record: StudentRecord) -> str:
    """The student's feedback as Markdown (one string, ending in a newline)."""
    lines = [f"# nngrade feedback for {_md(display_name(record))}", ""]
    if record.source:
        lines += [f"Graded file: {_md_code(record.source)}", ""]
    if record.status == NOT_GRADED:
        lines += ["**Your submission was not graded.** This is not your fault: the grading "
                  "machine could not grade it, and nothing was scored. The course staff will grade "
                  "it again.", "", f"Reason: {_md(record.reason or 'not recorded')}"]
        return "\n".join(lines) + "\n"
    maximum = record.max_score or 0.0
    if record.status == INVALID:
        lines += [f"**Your submission scored 0 / {_maximum(maximum)}**, because it could not be "
                  "graded as code:", "", f"> {_md(record.reason or 'no reason recorded')}"]
        return "\n".join(lines) + "\n"
    score = record.score or 0.0
    lines += [f"**Score: {_points(score)} / {_maximum(maximum)}** ({_percent(score, maximum)})", ""]
    lines += [f"> {_md(warning)}" for warning in _warnings(record)]
    if _warnings(record):
        lines.append("")
    lines += _md_score_table(record)
    entries = outcomes(record.model)
    if any(entry.hidden for entry in entries):
        lines += ["", "Tests marked *(hidden test)* were hidden until grades were published."]
    failure = load_failure(record.model)
    lost = [entry for entry in entries if entry.lost > 1e-9 and entry.status != NOT_SELECTED]
    if failure:
        lines += ["", "## What lost points", "", "Your file could not be loaded, so every test "
                  "scored 0:", "", _md_code_block(failure)]
    elif lost:
        lines += ["", "## What lost points"]
        for entry in lost:
            lines += ["", _md_heading(entry), "", f"Test: {_md_code(entry.test)}"]
            if entry.status == GRADER_ERROR:
                lines += ["", "A grader error, not your fault: the course staff has the details."]
            if entry.output:
                lines += ["", _md_code_block(entry.output)]
    else:
        lines += ["", "Full marks: no test lost points."]
    left_out = [entry for entry in entries if entry.status == NOT_SELECTED]
    if left_out:
        lines += ["", "## Not graded in this run", "",
                  "These tests were not selected (0 points each; the maximum still counts them):", ""]
        lines += [f"- [{_md(e.part)}] {_md(e.title)} ({_md_code(e.test)})" for e in left_out]
    notes = [entry for entry in entries if entry.lost <= 1e-9 and entry.output]
    if notes:
        lines += ["", "## Notes (no points lost)"]
        for entry in notes:
            lines += ["", _md_heading(entry), "", _md_code_block(entry.output)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# HTML

def esc(value) -> str:
    """HTML-escaped text (quotes too, so it is safe in an attribute as well)."""
    return html.escape(str(value), quote=True)


PAGE_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto;
       max-width: 60em; padding: 0 1em; color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
h3 { font-size: 1em; margin: 1.2em 0 0.3em; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.7em; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: bold; border-top: 2px solid #888; }
tr.lost td.num { color: #b3261e; }
pre { background: #f5f5f7; border: 1px solid #e0e0e0; padding: 0.6em; overflow-x: auto;
      white-space: pre-wrap; word-break: break-word; font-size: 0.9em; }
code { font-size: 0.92em; }
.badge { display: inline-block; font-size: 0.75em; padding: 0.05em 0.5em; border-radius: 0.8em;
         background: #e8def8; color: #4a2a7a; margin-left: 0.4em; vertical-align: middle; }
.badge.error { background: #fde7e9; color: #8c1d18; }
.box { border-left: 4px solid #888; background: #fafafa; padding: 0.6em 1em; margin: 1em 0; }
.box.bad { border-color: #b3261e; } .box.warn { border-color: #d08b00; } .box.good { border-color: #2e7d32; }
.muted { color: #666; }
"""


def html_page(title: str, body: str, css: str = PAGE_CSS) -> str:
    """A whole self-contained page: ``title`` is escaped here, ``body`` must already be HTML.
    The Content-Security-Policy forbids every load but inline styles and ``data:`` images, so
    even a mistake in escaping could fetch nothing and run no script."""
    policy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n{body}\n"
            "</body>\n</html>\n")


def _html_score_table(record: StudentRecord) -> str:
    rows = []
    for part, (score, maximum) in record.part_scores().items():
        lost = ' class="lost"' if score < maximum else ""
        rows.append(f"<tr{lost}><td>{esc(part)}</td><td class=\"num\">{_points(score)}</td>"
                    f"<td class=\"num\">{_maximum(maximum)}</td></tr>")
    score, maximum = record.score or 0.0, record.max_score or 0.0
    rows.append(f'<tr class="total"><td>total</td><td class="num">{_points(score)}</td>'
                f'<td class="num">{_maximum(maximum)}</td></tr>')
    return ('<table class="scores"><thead><tr><th>part</th><th class="num">points</th>'
            '<th class="num">out of</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")


def _html_entry(entry: Outcome) -> str:
    badges = ' <span class="badge">hidden test</span>' if entry.hidden else ""
    if entry.status == GRADER_ERROR:
        badges += ' <span class="badge error">grader error, not your fault</span>'
    output = f"<pre>{esc(entry.output)}</pre>" if entry.output else ""
    return (f'<section class="test"><h3>[{esc(entry.part)}] {esc(entry.title)} — '
            f"{_points(entry.score)} / {_maximum(entry.max_score)}{badges}</h3>"
            f'<div class="muted"><code>{esc(entry.test)}</code></div>{output}</section>')


def feedback_html(record: StudentRecord) -> str:
    """The student's feedback as one self-contained HTML page."""
    name = display_name(record)
    parts = [f"<h1>nngrade feedback for {esc(name)}</h1>"]
    if record.source:
        parts.append(f'<p class="muted">Graded file: <code>{esc(record.source)}</code></p>')
    if record.status == NOT_GRADED:
        parts.append('<div class="box warn"><p><strong>Your submission was not graded.</strong> '
                     "This is not your fault: the grading machine could not grade it, and nothing "
                     "was scored. The course staff will grade it again.</p>"
                     f"<p>Reason: {esc(record.reason or 'not recorded')}</p></div>")
        return html_page(f"nngrade feedback: {name}", "\n".join(parts))
    maximum = record.max_score or 0.0
    if record.status == INVALID:
        parts.append(f'<div class="box bad"><p><strong>Your submission scored 0 / '
                     f"{_maximum(maximum)}</strong>, because it could not be graded as code:</p>"
                     f"<p>{esc(record.reason or 'no reason recorded')}</p></div>")
        return html_page(f"nngrade feedback: {name}", "\n".join(parts))
    score = record.score or 0.0
    parts.append(f'<p class="total-line"><strong>Score: {_points(score)} / {_maximum(maximum)}'
                 f"</strong> ({_percent(score, maximum)})</p>")
    parts += [f'<div class="box warn">{esc(warning)}</div>' for warning in _warnings(record)]
    parts.append(_html_score_table(record))
    entries = outcomes(record.model)
    if any(entry.hidden for entry in entries):
        parts.append('<p class="muted">Tests marked <span class="badge">hidden test</span> were '
                     "hidden until grades were published.</p>")
    failure = load_failure(record.model)
    lost = [entry for entry in entries if entry.lost > 1e-9 and entry.status != NOT_SELECTED]
    if failure:
        parts.append("<h2>What lost points</h2><p>Your file could not be loaded, so every test "
                     f"scored 0:</p><pre>{esc(failure)}</pre>")
    elif lost:
        parts.append("<h2>What lost points</h2>")
        parts += [_html_entry(entry) for entry in lost]
    else:
        parts.append('<div class="box good">Full marks: no test lost points.</div>')
    left_out = [entry for entry in entries if entry.status == NOT_SELECTED]
    if left_out:
        items = "".join(f"<li>[{esc(e.part)}] {esc(e.title)} (<code>{esc(e.test)}</code>)</li>"
                        for e in left_out)
        parts.append("<h2>Not graded in this run</h2><p>These tests were not selected (0 points "
                     f"each; the maximum still counts them):</p><ul>{items}</ul>")
    notes = [entry for entry in entries if entry.lost <= 1e-9 and entry.output]
    if notes:
        parts.append("<h2>Notes (no points lost)</h2>")
        parts += [_html_entry(entry) for entry in notes]
    studies = [entry for entry in entries if entry.figures]
    if studies:
        parts.append('<h2>Your experiments</h2><p class="muted">Drawn by the grader from what it '
                     "measured when it ran your code on the assignment's studies.</p>")
        for entry in studies:
            images = "".join(f'<figure><img src="{uri}" alt="{esc(figure)}" style="max-width:100%">'
                             f"<figcaption>{esc(figure.replace('_', ' '))}</figcaption></figure>"
                             for figure, uri in entry.figures)
            parts.append(f'<section class="study"><h3>{esc(entry.title)}</h3>{images}</section>')
    return html_page(f"nngrade feedback: {name}", "\n".join(parts))

