"""The class report, ``summary.html``: how a class did, and the mistakes its students share.

One self-contained page that opens from disk with no server and no network: inline CSS, charts
drawn here as inline SVG, no script, no font, no image file; a Content-Security-Policy that
forbids every load backs this up (``feedback.html_page``). Every text that comes from a record
(names, reasons, diagnoses, which quote what a student's code printed or raised) is escaped.

Contents: the counts (students, graded, invalid, not graded); a histogram of the totals; per
part, the mean, median, share of full marks and a box plot; the class's common mistakes
(``common_mistakes``); the slowest gradings; the submissions that were not graded, and the
invalid ones, with their reasons.

How a diagnosis becomes a named cause (``causes_of``). A failed test's ``output`` is its
checks' messages, one a line, the first failed check first (the grader tells students to fix
that one first: later ones often share its cause). The cause of the test is:

- when the test ended at a call that did not return (the first line says ``not implemented``,
  ``raised SomeError``, ``did not finish within the time limit``, ``the worker process died``,
  or ``not run``), that outcome alone, without the student's own error message, which varies
  from student to student;
- otherwise every named cause its lines give: the text after ``Likely cause:`` (the grader's
  pattern or variant match, ``checks._generic_patterns`` and the tests' own variants), a shape
  hint such as ``(transposed?)``, and a few other named phrases (``applies softmax in forward``);
- and when no line names one, the first failed check alone: "wrong values, no pattern
  recognised" when it is a value mismatch (its numbers describe one student's data, not a
  cause), else its first clause (a returned type, a missing key, an argument changed in place),
  numbers normalised. The alternative, one generic bucket per test, would put a student who
  returned None with one whose values are slightly off; the first clause keeps them apart and
  stays a single group per test and student.

Lines after ``your code printed:`` are the student's own output and never name a cause. Causes
group by (test, cause with every number replaced by N), so "exactly 6 (the batch size) times"
and "exactly 33 (the batch size) times" meet. A group's shown text keeps a number every member
shares and shows N where they differ.
"""
from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote

from grader.batch.feedback import (GRADER_ERROR, NOT_SELECTED, PAGE_CSS, Outcome, display_name,
                                   esc, html_page, load_failure, outcomes)
from grader.batch.records import GRADED, INVALID, NOT_GRADED, StudentRecord
from grader.rubric import PARTS, RUBRIC

NO_PATTERN = "wrong values, no pattern recognised"
NON_FINITE = "NaN or Inf where the reference is finite, no pattern recognised"
LOAD_FAILED = "could not be loaded"
MAX_CAUSE_CHARS = 300
SLOWEST_SHOWN = 10
HISTOGRAM_BINS = 10

_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?!\w)")
_NUMBER_SPLIT = re.compile(f"({_NUMBER.pattern})")

_NAMED_PHRASES = {
    # phrase in a diagnosis (not after "Likely cause:"): the cause it names
    "applies softmax in forward": "forward returns probabilities: it applies softmax in forward",
    "applies a ReLU to the logits": "forward applies a ReLU to the logits",
}
_SHAPE_HINT = re.compile(r": shape \([^()]*\), expected \([^()]*\) (\([^()]*\?\))\s*$")
_RAISED = re.compile(r"(?:^|: )raised ([A-Za-z_][\w.]*)")
_RUBRIC_INDEX = {row.test: index for index, row in enumerate(RUBRIC)}


def normalise(text: str) -> str:
    """``text`` with every number (not a digit inside a name like ``dW4``) replaced by N."""
    return _NUMBER.sub("N", text)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_CAUSE_CHARS else text[:MAX_CAUSE_CHARS - 1] + "…"


def _first_clause(text: str) -> str:
    return re.split(r"; |\. ", text, maxsplit=1)[0].rstrip(".")


def _likely_cause(line: str) -> str:
    """The text after "Likely cause:" (or the grader's "(likely cause: ...)"), or ""."""
    match = re.search(r"(\()?likely cause: (.*)$", line, re.IGNORECASE)
    if not match:
        return ""
    text = match.group(2).strip()
    if match.group(1) and text.endswith(")"):
        text = text[:-1]
    return text.rstrip(".").strip()


def _ended_call(line: str) -> str:
    """The cause of a test that ended at a call that did not return, from its first line
    (without the student's own error message), or ""."""
    if line.startswith("not run:"):
        return "not run: " + _first_clause(line[len("not run:"):].strip())
    if re.search(r": not implemented(?: \(|$)", line):
        return "not implemented"
    if "did not finish within the time limit" in line:
        return "did not finish within the time limit"
    if "the worker process died" in line:
        return _first_clause(line[line.index("the worker process died"):])
    raised = _RAISED.search(line)
    if raised:
        # only the grader's own "(likely cause: ...)" at the end; the rest is the student's message
        named = re.search(r"\(likely cause: ([^()]*(?:\([^()]*\)[^()]*)*)\)$", line)
        return f"raised {raised.group(1)}" + (f" (likely cause: {named.group(1)})" if named else "")
    return ""


def _named_cause(line: str) -> str:
    """The cause one check's message names, or ""."""
    cause = _likely_cause(line)
    if cause:
        return cause
    hint = _SHAPE_HINT.search(line)
    if hint:
        return f"wrong shape {hint.group(1)}"
    for phrase, named in _NAMED_PHRASES.items():
        if phrase in line:
            return named
    return ""


def _check_lines(output: str) -> list[str]:
    """The checks' messages of a diagnosis: up to the student's printed output, without the
    grader's "... and N more checks" and "note:" lines."""
    lines = []
    for line in output.splitlines():
        if line.startswith("your code printed:"):
            break
        if line.strip() and not line.startswith(("... and ", "note: ")):
            lines.append(line.strip())
    return lines


def causes_of(entry: Outcome) -> list[str]:
    """The causes a failed test's diagnosis names, raw (numbers kept), in order, each once
    (see the module docstring)."""
    lines = _check_lines(entry.output)
    if not lines:
        return [NO_PATTERN]
    ended = _ended_call(lines[0])
    if ended:
        return [ended]
    causes = []
    for line in lines:
        cause = _named_cause(line)
        if cause and cause not in causes:
            causes.append(cause)
    if causes:
        return causes
    first = lines[0]
    if "entries are NaN or Inf where the reference is finite" in first:
        return [NON_FINITE]
    if re.search(r"\d+ of \d+ entries differ", first):
        return [NO_PATTERN]
    return [_first_clause(first)]


def _load_failure_cause(failure: str) -> str:
    first = failure.splitlines()[0] if failure else ""
    rest = first.split("nothing was graded:", 1)[-1].strip()
    return f"{LOAD_FAILED}: " + (_ended_call(rest) or _first_clause(rest) or "unknown reason")


@dataclass
class Mistake:
    """One cause of lost points, and the students whose diagnosis named it for this test."""
    part: str                  # "" for a submission that could not be loaded at all
    test: str                  # pytest name ("" for a load failure)
    title: str                 # the rubric's description of the test
    cause: str                 # numbers the members do not share shown as N
    count: int = 0             # how many students
    students: list = field(default_factory=list)  # their ``StudentRecord.student`` ids, sorted
    hidden: bool = False       # a hidden test


def _shown_cause(raw_causes: list[str]) -> str:
    """One text for a group's causes (equal but for numbers): a number all share stays, a
    number that differs between them becomes N."""
    splits = [_NUMBER_SPLIT.split(cause) for cause in raw_causes]
    if any(len(pieces) != len(splits[0]) for pieces in splits):
        return normalise(raw_causes[0])
    merged = []
    for index, piece in enumerate(splits[0]):
        if index % 2 and any(pieces[index] != piece for pieces in splits):
            piece = "N"
        merged.append(piece)
    return "".join(merged)


def common_mistakes(records: list[StudentRecord]) -> list[Mistake]:
    """The causes of lost points over the GRADED records, grouped by (test, normalised cause),
    most students first (then rubric order). A student counts once per group; INVALID and
    NOT_GRADED records are listed elsewhere, and a test lost to a grader error or left out of
    the run is not a mistake."""
    groups: dict[tuple[str, str], dict] = {}
    for record in records:
        if record.status != GRADED or not record.results:
            continue
        failure = load_failure(record.results)
        if failure:
            found = [("", "", "the whole submission", False, _load_failure_cause(failure))]
        else:
            found = [(entry.part, entry.test, entry.title, entry.hidden, cause)
                     for entry in outcomes(record.results) if entry.charged
                     for cause in causes_of(entry)]
        for part, test, title, hidden, cause in found:
            group = groups.setdefault((test, normalise(cause)), {
                "part": part, "test": test, "title": title, "hidden": hidden, "raw": [],
                "students": set()})
            if record.student not in group["students"]:
                group["students"].add(record.student)
                group["raw"].append(cause)
    mistakes = [Mistake(part=g["part"], test=g["test"], title=g["title"],
                        cause=_clip(_shown_cause(g["raw"])), count=len(g["students"]),
                        students=sorted(g["students"]), hidden=g["hidden"])
                for g in groups.values()]

    def order(mistake: Mistake) -> tuple:
        part = PARTS.index(mistake.part) if mistake.part in PARTS else -1
        return -mistake.count, part, _RUBRIC_INDEX.get(mistake.test, -1), mistake.cause

    return sorted(mistakes, key=order)


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
    n: int               # GRADED students with this part in their results
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
.mistakes td.cause { max-width: 32em; }
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
    intro = ("<h2>Common mistakes</h2><p class=\"muted\">Each failed test's diagnosis, grouped by "
             "the cause it names (numbers that differ between students shown as N); a test whose "
             "diagnosis names none is grouped by its first failed check. Most students first.</p>")
    if not mistakes:
        return intro + "<p>No graded submission lost points.</p>"
    rows = []
    for number, m in enumerate(mistakes, start=1):
        hidden = ' <span class="badge">hidden</span>' if m.hidden else ""
        test = f"{esc(m.title)}{hidden}" + (f'<br><code class="muted">{esc(m.test)}</code>'
                                            if m.test else "")
        rows.append(f'<tr class="mistake"><td class="num">{number}</td>'
                    f'<td class="num count">{m.count}</td><td>{esc(m.part or "-")}</td>'
                    f'<td>{test}</td><td class="cause">{esc(m.cause)}</td>'
                    f'<td class="students">{page.students(m.students)}</td></tr>')
    return (intro + '<table class="mistakes" id="common-mistakes"><thead><tr><th class="num">#</th>'
            '<th class="num">students</th><th>part</th><th>test</th><th>cause</th><th>who</th>'
            "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _slowest_section(records: list[StudentRecord], page: _Page) -> str:
    slowest = sorted(records, key=lambda r: (-r.seconds, r.student))[:SLOWEST_SHOWN]
    rows = "".join(f'<tr><td>{page.student(r.student)}</td><td>{esc(r.status.replace("_", " "))}'
                   f'</td><td class="num">{r.seconds:.1f}</td><td class="num">{_score_text(r)}</td></tr>'
                   for r in slowest)
    return (f"<h2>Slowest gradings</h2><table class=\"slowest\"><thead><tr><th>student</th>"
            f'<th>status</th><th class="num">seconds</th><th class="num">score</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


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
              for entry in outcomes(r.results) if entry.status == GRADER_ERROR]
    if errors:
        items = "".join(f"<tr><td>{page.student(r.student)}</td><td><code>{esc(e.test)}</code></td>"
                        f"<td>{esc(e.output)}</td></tr>" for r, e in errors)
        sections.append("<h2>Grader errors</h2><p class=\"muted\">Tests that failed because of the "
                        "grader, not the student (they scored 0; the staff details are in each "
                        "results.json's extra_data).</p><table><thead><tr><th>student</th>"
                        f"<th>test</th><th>output</th></tr></thead><tbody>{items}</tbody></table>")
    return "".join(sections)


def summary_html(records: list[StudentRecord], *, title: str = "nngrade class report",
                 layout: str = "", parts=(), feedback_dir: str | None = "feedback") -> str:
    """The class report as one self-contained HTML page.

    ``layout`` names where the submissions came from (shown as is); ``parts`` are the parts the
    batch graded (empty: all). Students link to ``<feedback_dir>/<student>.html``, relative to
    the page (``None``: no links)."""
    records = list(records)
    page = _Page(records, feedback_dir)
    graded_parts = ", ".join(parts) if parts else "all"
    meta = [f"{len(records)} students", f"parts: {graded_parts}"]
    if layout:
        meta.insert(0, f"layout: {layout}")
    not_selected = sum(1 for r in records if r.status == GRADED
                       for e in outcomes(r.results) if e.status == NOT_SELECTED)
    if not_selected:
        meta.append(f"{not_selected} test results not selected")
    body = [f"<h1>{esc(title)}</h1>", f'<p class="muted">{esc(" · ".join(meta))}</p>',
            _counts_section(records), _histogram_section(records), _parts_section(records, parts),
            _mistakes_section(records, page), _slowest_section(records, page),
            _problems_section(records, page)]
    return html_page(title, "\n".join(body), PAGE_CSS + SUMMARY_CSS)
