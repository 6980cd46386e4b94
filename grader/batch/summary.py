"""The class report, ``summary.html``: how a class did, and the mistakes its students share.

One self-contained page that opens from disk with no server and no network: inline CSS, charts
drawn here as inline SVG, no script, no font, no image file; a Content-Security-Policy that
forbids every load backs this up (``feedback.html_page``). Every text that comes from a record
(names, reasons, diagnoses, which quote what a student's code printed or raised) is escaped.

Contents: the counts (students, graded, invalid, not graded); a histogram of the totals; per
part, the mean, median, share of full marks and a box plot; the class's common mistakes
(``common_mistakes``); the slowest gradings; the submissions that were not graded, and the
invalid ones, with their reasons.

How lost points become the class's common mistakes (``common_mistakes``). Each failed test of
a graded submission carries its causes as data (each test's ``causes`` in the result model,
``grader/model.py``: ids from the registry ``grader/causes.py``, with the sentence as said
there), written by the grading session from its checks' verdicts. The report groups by id and
never reads a diagnosis's prose, so rewording a cause changes no grouping. One row per cause: a
cause of the whole class (a named mistake) is one row across every test it appears in; a
part-wide one (not implemented, values wrong for no named cause, a crash) one row per part; a
check that names no cause one row per test. Each row gives the students, the tests involved
and an example message.
"""
from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote

from grader import causes
from grader.batch.feedback import (GRADER_ERROR, NOT_SELECTED, PAGE_CSS, display_name,
                                   esc, html_page, load_failure, outcomes)
from grader.batch.records import GRADED, INVALID, NOT_GRADED, StudentRecord
from grader.rubric import PARTS, RUBRIC

MAX_CAUSE_CHARS = 300
MAX_EXAMPLE_CHARS = 200
SLOWEST_SHOWN = 10
HISTOGRAM_BINS = 10

_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?!\w)")
_RUBRIC_INDEX = {row.test: index for index, row in enumerate(RUBRIC)}


def normalise(text: str) -> str:
    """``text`` with every number (not a digit inside a name like ``dW4``) replaced by N."""
    return _NUMBER.sub("N", text)


def _clip(text: str, limit: int = MAX_CAUSE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass
class Mistake:
    """One cause of lost points across the class, and the students and tests it was found in."""
    cause: str                 # the registry id, or its family's name ("" for a sentence the
                               # registry lacks)
    text: str                  # the cause's sentence, as the first student's diagnosis said it
    part: str = ""             # the part, for a cause grouped per part or per test ("" class-wide)
    tests: list = field(default_factory=list)      # [(test, title, hidden)] in rubric order
    count: int = 0             # how many students
    students: list = field(default_factory=list)  # their ``StudentRecord.student`` ids, sorted
    example: str = ""          # one student's message for it (the first failed check's line)

    @property
    def hidden(self) -> bool:
        return bool(self.tests) and all(hidden for _, _, hidden in self.tests)


def _group_key(cause: str, text: str, part: str, test: str) -> tuple:
    scope = causes.scope_of(cause) if cause else causes.PART
    if not cause:   # a sentence not registered: its words and part are all there is to group by
        return ("", normalise(text), part, "")
    if scope == causes.TEST:
        return (cause, "", part, test)
    # causes of one family (one misconception, several ids) share a row
    return (causes.family_of(cause), "", part if scope == causes.PART else "", "")


def common_mistakes(records: list[StudentRecord]) -> list[Mistake]:
    """The causes of lost points over the GRADED records, one ``Mistake`` per cause (see the
    module docstring), most students first, then rubric order. A student counts once per row;
    INVALID and NOT_GRADED records are listed elsewhere, and a test lost to a grader error or
    left out of the run is not a mistake."""
    groups: dict[tuple, Mistake] = {}
    for record in records:
        if record.status != GRADED or record.model is None:
            continue
        failure = load_failure(record.model)
        if failure:
            found = [("", "", "", False, causes.LOAD_FAILED.id, str(causes.LOAD_FAILED),
                      failure.splitlines()[0])]
        else:
            found = [(entry.part, entry.test, entry.title, entry.hidden, cause, text,
                      (entry.output.splitlines() or [""])[0])
                     for entry in outcomes(record.model) if entry.charged
                     for cause, text in entry.causes]
        for part, test, title, hidden, cause, text, example in found:
            key = _group_key(cause, text, part, test)
            text = text or causes.sentence_of(cause) or cause
            mistake = groups.setdefault(key, Mistake(cause=key[0], text=_clip(text),
                                                     part=key[2], example=_clip(example, MAX_EXAMPLE_CHARS)))
            if test and (test, title, hidden) not in mistake.tests:
                mistake.tests.append((test, title, hidden))
            if record.student not in mistake.students:
                mistake.students.append(record.student)
    for mistake in groups.values():
        mistake.count = len(mistake.students)
        mistake.students.sort()
        mistake.tests.sort(key=lambda item: _RUBRIC_INDEX.get(item[0], len(_RUBRIC_INDEX)))

    def order(mistake: Mistake) -> tuple:
        first = mistake.tests[0][0] if mistake.tests else ""
        part = PARTS.index(mistake.part) if mistake.part in PARTS else -1
        return -mistake.count, part, _RUBRIC_INDEX.get(first, -1), mistake.text

    return sorted(groups.values(), key=order)


# ---------------------------------------------------------------------------------------------
# Statistics

def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (non-empty), linear between order statistics."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class PartStats:
    part: str
    max_score: float     # the part's maximum (the commonest one, should records differ)
    n: int               # GRADED students with this part in their grading
    mean: float          # points
    median: float        # points
    full: float          # share of those students with full marks, in [0, 1]
    fractions: list      # each student's score / max, in [0, 1]


def part_stats(records: list[StudentRecord], parts=()) -> list[PartStats]:
    """Per part (``parts``, else every part a GRADED record has, in rubric order): statistics
    over the GRADED records. INVALID submissions (0 everywhere) are left out: they would say
    nothing about the part, and they are counted and listed on their own."""
    scores: dict[str, list[tuple[float, float]]] = {}
    for record in records:
        if record.status != GRADED:
            continue
        for part, pair in record.part_scores().items():
            scores.setdefault(part, []).append(pair)
    chosen = [p for p in PARTS if p in parts] if parts else [p for p in PARTS if p in scores]
    stats = []
    for part in chosen:
        pairs = scores.get(part, [])
        if not pairs:
            stats.append(PartStats(part, 0.0, 0, 0.0, 0.0, 0.0, []))
            continue
        points = [score for score, _ in pairs]
        maximum = Counter(m for _, m in pairs).most_common(1)[0][0]
        stats.append(PartStats(
            part=part, max_score=maximum, n=len(pairs), mean=statistics.fmean(points),
            median=statistics.median(points),
            full=sum(score >= m - 1e-9 for score, m in pairs) / len(pairs),
            fractions=[score / m if m else 0.0 for score, m in pairs]))
    return stats


def histogram(records: list[StudentRecord], bins: int = HISTOGRAM_BINS) -> list[dict]:
    """Totals in ``bins`` equal bins of percent of the maximum (the last bin includes 100 %),
    over the records with a score (GRADED and INVALID): ``[{"low", "high", "graded",
    "invalid"}]``."""
    counts = [{"low": 100.0 * i / bins, "high": 100.0 * (i + 1) / bins, GRADED: 0, INVALID: 0}
              for i in range(bins)]
    for record in records:
        if record.score is None or record.status not in (GRADED, INVALID):
            continue
        percent = 100.0 * record.score / record.max_score if record.max_score else 0.0
        index = min(bins - 1, max(0, int(percent * bins / 100.0)))
        counts[index][record.status] += 1
    return counts


# ---------------------------------------------------------------------------------------------
# SVG, drawn here

_GRADED_COLOUR, _INVALID_COLOUR, _AXIS_COLOUR = "#3b6ea8", "#b0b0b0", "#555"


def histogram_svg(counts: list[dict]) -> str:
    """A stacked bar chart of ``histogram``'s bins (graded, then invalid on top)."""
    width, height, left, bottom, top = 640, 260, 40, 40, 20
    plot_w, plot_h = width - left - 10, height - bottom - top
    tallest = max([c[GRADED] + c[INVALID] for c in counts] + [1])
    bar_w = plot_w / len(counts)
    parts = [f'<svg id="histogram" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             'aria-label="histogram of total scores">']
    for tick in sorted({0, tallest // 2, tallest}):
        y = top + plot_h - plot_h * tick / tallest
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" '
                     'stroke="#e5e5e5"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="{_AXIS_COLOUR}">{tick}</text>')
    for index, c in enumerate(counts):
        x = left + index * bar_w
        base = top + plot_h
        for status, colour in ((GRADED, _GRADED_COLOUR), (INVALID, _INVALID_COLOUR)):
            if not c[status]:
                continue
            h = plot_h * c[status] / tallest
            base -= h
            label = f"{c['low']:g}-{c['high']:g} %: {c[status]} {status.replace('_', ' ')}"
            parts.append(f'<rect class="bar {status}" x="{x + 2:.1f}" y="{base:.1f}" '
                         f'width="{bar_w - 4:.1f}" height="{h:.1f}" fill="{colour}">'
                         f"<title>{esc(label)}</title></rect>")
        total = c[GRADED] + c[INVALID]
        if total:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{base - 4:.1f}" text-anchor="middle" '
                         f'font-size="11">{total}</text>')
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 15:.1f}" '
                     f'text-anchor="middle" font-size="10" fill="{_AXIS_COLOUR}">'
                     f"{c['low']:g}–{c['high']:g}</text>")
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" '
                 f'stroke="{_AXIS_COLOUR}"/>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" '
                 f'font-size="12" fill="{_AXIS_COLOUR}">total, % of the maximum</text>')
    parts.append("</svg>")
    return "".join(parts)


def box_svg(fractions: list[float], mean: float | None = None) -> str:
    """A small box plot of ``fractions`` in [0, 1]: whiskers min-max, box q1-q3, a median bar,
    a dot at ``mean`` (also a fraction)."""
    width, height, pad = 180, 22, 4
    span = width - 2 * pad

    def x(value: float) -> float:
        return pad + span * min(1.0, max(0.0, value))

    parts = [f'<svg class="boxplot" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">',
             f'<rect x="{pad}" y="3" width="{span}" height="{height - 6}" fill="#f3f3f3"/>']
    if fractions:
        low, q1, median, q3, high = (quantile(fractions, q) for q in (0, 0.25, 0.5, 0.75, 1))
        middle = height / 2
        parts.append(f'<line x1="{x(low):.1f}" y1="{middle}" x2="{x(high):.1f}" y2="{middle}" '
                     f'stroke="{_AXIS_COLOUR}"/>')
        parts.append(f'<rect x="{x(q1):.1f}" y="5" width="{max(1.0, x(q3) - x(q1)):.1f}" '
                     f'height="{height - 10}" fill="#a9c4e4" stroke="{_GRADED_COLOUR}"/>')
        parts.append(f'<line x1="{x(median):.1f}" y1="4" x2="{x(median):.1f}" y2="{height - 4}" '
                     'stroke="#1d3f66" stroke-width="2"/>')
        if mean is not None:
            parts.append(f'<circle cx="{x(mean):.1f}" cy="{middle}" r="2.5" fill="#b3261e"/>')
        summary = f"min {low:.0%}, quartiles {q1:.0%} / {median:.0%} / {q3:.0%}, max {high:.0%}"
        parts.append(f"<title>{esc(summary)}</title>")
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# The page

SUMMARY_CSS = """
.counts td { font-size: 1.1em; }
.mistakes td.cause { max-width: 22em; }
.mistakes td.example { max-width: 20em; font-size: 0.85em; color: #444; }
.mistakes td.tests { font-size: 0.9em; }
.mistakes td.students { max-width: 20em; font-size: 0.9em; }
details summary { cursor: pointer; color: #3b6ea8; }
.legend span { display: inline-block; width: 0.9em; height: 0.9em; vertical-align: middle;
               margin: 0 0.3em 0 1em; }
"""


class _Page:
    """How the page names and links students."""

    def __init__(self, records: list[StudentRecord], feedback_dir: str | None):
        self.by_id = {record.student: record for record in records}
        self.feedback_dir = feedback_dir

    def student(self, student: str) -> str:
        record = self.by_id.get(student)
        name = display_name(record) if record else student
        label = esc(name) if name == student else f"{esc(name)} <span class=\"muted\">({esc(student)})</span>"
        if self.feedback_dir is None:
            return label
        href = f"{self.feedback_dir.rstrip('/')}/{quote(student, safe='')}.html"
        return f'<a href="{esc(href)}">{label}</a>'

    def students(self, students: list[str], inline: int = 6) -> str:
        items = ", ".join(self.student(s) for s in students)
        if len(students) <= inline:
            return items
        return f"<details><summary>{len(students)} students</summary>{items}</details>"


def _score_text(record: StudentRecord) -> str:
    if record.score is None:
        return "-"
    return f"{record.score:.2f} / {record.max_score or 0:g}"


def _counts_section(records: list[StudentRecord]) -> str:
    status = Counter(record.status for record in records)
    scored = [100.0 * r.score / r.max_score for r in records
              if r.score is not None and r.max_score and r.status in (GRADED, INVALID)]
    rows = [("students", "students", len(records)), ("graded", GRADED, status[GRADED]),
            ("invalid (scored 0)", INVALID, status[INVALID]),
            ("not graded", NOT_GRADED, status[NOT_GRADED])]
    cells = "".join(f'<tr><td>{label}</td><td class="num" id="count-{key}">{value}</td></tr>'
                    for label, key, value in rows)
    averages = ""
    if scored:
        averages = (f"<p>Totals of the {len(scored)} scored submissions (graded and invalid): mean "
                    f"{statistics.fmean(scored):.1f} %, median {statistics.median(scored):.1f} %.</p>")
    return f'<h2>Counts</h2><table class="counts"><tbody>{cells}</tbody></table>{averages}'


def _histogram_section(records: list[StudentRecord]) -> str:
    legend = (f'<p class="legend muted"><span style="background:{_GRADED_COLOUR}"></span>graded'
              f'<span style="background:{_INVALID_COLOUR}"></span>invalid (0)</p>')
    return "<h2>Totals</h2>" + histogram_svg(histogram(records)) + legend


def _parts_section(records: list[StudentRecord], parts) -> str:
    rows = []
    for s in part_stats(records, parts):
        mean_fraction = s.mean / s.max_score if s.max_score else None
        rows.append(f'<tr data-part="{esc(s.part)}"><td>{esc(s.part)}</td>'
                    f'<td class="num">{s.max_score:g}</td><td class="num">{s.n}</td>'
                    f'<td class="num mean">{s.mean:.2f}</td><td class="num median">{s.median:.2f}</td>'
                    f'<td class="num full">{100 * s.full:.0f} %</td>'
                    f"<td>{box_svg(s.fractions, mean_fraction)}</td></tr>")
    return ("<h2>Per part</h2><p class=\"muted\">Over the graded submissions. The box spans the "
            "middle half of the class, the bar is the median, the dot the mean, the line min to max "
            "(0 to the part's maximum).</p>"
            '<table class="parts"><thead><tr><th>part</th><th class="num">max</th>'
            '<th class="num">n</th><th class="num">mean</th><th class="num">median</th>'
            '<th class="num">full marks</th><th>distribution</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def _mistakes_section(records: list[StudentRecord], page: _Page) -> str:
    mistakes = common_mistakes(records)
    intro = ("<h2>Common mistakes</h2><p class=\"muted\">One row per cause the grader named, over "
             "every test it appears in (a part not implemented, or values wrong for no named "
             "cause, one row per part); the sentence is one student's, numbers may differ between "
             "students. Most students first.</p>")
    if not mistakes:
        return intro + "<p>No graded submission lost points.</p>"
    rows = []
    badge = ' <span class="badge">hidden</span>'
    for number, m in enumerate(mistakes, start=1):
        tests = "<br>".join(
            f"{esc(title)}{badge if hidden else ''}"
            f' <code class="muted">{esc(test)}</code>' for test, title, hidden in m.tests) or "-"
        cause = esc(m.text) + (f'<br><code class="muted">{esc(m.cause)}</code>' if m.cause else "")
        rows.append(f'<tr class="mistake" data-cause="{esc(m.cause)}"><td class="num">{number}</td>'
                    f'<td class="num count">{m.count}</td><td class="cause">{cause}</td>'
                    f'<td>{esc(m.part or "all")}</td><td class="tests">{tests}</td>'
                    f'<td class="example">{esc(m.example)}</td>'
                    f'<td class="students">{page.students(m.students)}</td></tr>')
    return (intro + '<table class="mistakes" id="common-mistakes"><thead><tr><th class="num">#</th>'
            '<th class="num">students</th><th>cause</th><th>part</th><th>tests</th>'
            "<th>example</th><th>who</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _slowest_section(records: list[StudentRecord], page: _Page) -> str:
    slowest = sorted(records, key=lambda r: (-r.seconds, r.student))[:SLOWEST_SHOWN]
    rows = "".join(f'<tr><td>{page.student(r.student)}</td><td>{esc(r.status.replace("_", " "))}'
                   f'</td><td class="num">{r.seconds:.1f}</td><td class="num">{_score_text(r)}</td></tr>'
                   for r in slowest)
    return (f"<h2>Slowest gradings</h2><table class=\"slowest\"><thead><tr><th>student</th>"
            f'<th>status</th><th class="num">seconds</th><th class="num">score</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def _notes_section(records: list[StudentRecord], page: _Page) -> str:
    """The students whose grade comes with a note (``StudentRecord.notes``): a score that is
    right for the file graded, which a TA may still want to look at."""
    noted = [(r, note) for r in sorted(records, key=lambda r: r.student) for note in r.notes()]
    if not noted:
        return ""
    items = "".join(f'<tr><td>{page.student(r.student)}</td><td class="num">{_score_text(r)}</td>'
                    f'<td class="note">{esc(note)}</td></tr>' for r, note in noted)
    return (f"<h2>Notes ({len(noted)})</h2><p class=\"muted\">Grades that stand, with something a "
            "TA may want to look at (also in grades.csv's notes column).</p><table id=\"notes\">"
            "<thead><tr><th>student</th><th class=\"num\">score</th><th>note</th></tr></thead>"
            f"<tbody>{items}</tbody></table>")


def _problems_section(records: list[StudentRecord], page: _Page) -> str:
    sections = []
    for status, heading, explanation in (
            (NOT_GRADED, "Not graded", "The grading machine failed: no score; re-run the batch to "
                                       "grade them again."),
            (INVALID, "Invalid submissions", "Not gradable code: each scored 0.")):
        chosen = sorted((r for r in records if r.status == status), key=lambda r: r.student)
        if not chosen:
            body = "<p>None.</p>"
        else:
            items = "".join(f"<tr><td>{page.student(r.student)}</td><td>{esc(r.source or '-')}</td>"
                            f"<td>{esc(r.reason or 'no reason recorded')}</td></tr>" for r in chosen)
            body = (f'<table id="{status}"><thead><tr><th>student</th><th>file</th><th>reason</th>'
                    f"</tr></thead><tbody>{items}</tbody></table>")
        sections.append(f"<h2>{heading} ({len(chosen)})</h2><p class=\"muted\">{explanation}</p>{body}")
    errors = [(r, entry) for r in records if r.status == GRADED
              for entry in outcomes(r.model) if entry.status == GRADER_ERROR]
    if errors:
        items = "".join(f"<tr><td>{page.student(r.student)}</td><td><code>{esc(e.test)}</code></td>"
                        f"<td>{esc(e.output)}</td></tr>" for r, e in errors)
        sections.append("<h2>Grader errors</h2><p class=\"muted\">Tests that failed because of the "
                        "grader, not the student (they scored 0; the staff details are in "
                        "results/&lt;student&gt;.grading.json).</p><table><thead><tr><th>student</th>"
                        f"<th>test</th><th>output</th></tr></thead><tbody>{items}</tbody></table>")
    return "".join(sections)


def summary_html(records: list[StudentRecord], *, title: str = "nngrade class report",
                 layout: str = "", parts=(), feedback_dir: str | None = "feedback",
                 similarity: str = "") -> str:
    """The class report as one self-contained HTML page.

    ``layout`` names where the submissions came from (shown as is); ``parts`` are the parts the
    batch graded (empty: all). Students link to ``<feedback_dir>/<student>.html``, relative to
    the page (``None``: no links). ``similarity``: the similarity report's section, as HTML
    (``similarity.summary_section``)."""
    records = list(records)
    page = _Page(records, feedback_dir)
    graded_parts = ", ".join(parts) if parts else "all"
    meta = [f"{len(records)} students", f"parts: {graded_parts}"]
    if layout:
        meta.insert(0, f"layout: {layout}")
    not_selected = sum(1 for r in records if r.status == GRADED
                       for e in outcomes(r.model) if e.status == NOT_SELECTED)
    if not_selected:
        meta.append(f"{not_selected} test results not selected")
    body = [f"<h1>{esc(title)}</h1>", f'<p class="muted">{esc(" · ".join(meta))}</p>',
            _counts_section(records), _histogram_section(records), _parts_section(records, parts),
            _mistakes_section(records, page), _slowest_section(records, page),
            _problems_section(records, page), _notes_section(records, page), similarity]
    return html_page(title, "\n".join(body), PAGE_CSS + SUMMARY_CSS)
