"""Who copied: the batch's similarity report (``OUTDIR/similarity.html``, ``similarity.json``).

The comparison is ``copydetect``'s (the ``similarity`` extra): winnowing fingerprints of each
file's tokens, after pygments has replaced every name by a placeholder and dropped comments and
whitespace, so that renamed variables, edited comments and reordered functions still match. The
template students start from is boilerplate: its fingerprints are removed from every file before
the files are compared, so two honest solutions of the template do not match on the template's
code. Each pair gets two numbers, the share of each file's fingerprinted tokens found in the
other; a pair is ranked by the larger (a short file copied whole into a long one is a copy).

Chosen over Dolos after measuring both on a synthetic class (``tests/similarity_class.py``:
renamed, reordered and recommented copies, twins, a copied public solution and honest
solutions of the template); the numbers and the reasons are in the README ("Who copied").

Byte-identical files are named as such, apart from any score. A group submission (one file for
several students) is one file here: its members are not a pair. ``references``, known past or
public solutions (``--similarity-reference DIR``), are compared with every submission and never
with each other.

Nothing here runs student code: the files are read as text.
"""
from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from grader.batch.feedback import PAGE_CSS, esc, html_page
from grader.outputs.report import write_json_atomic, write_text_atomic

NOISE_TOKENS = 25
"""Matches shorter than this many tokens are never counted (copydetect's noise threshold: one
line of a formula that any two solutions write alike)."""
GUARANTEE_TOKENS = 25
"""Matches at least this long are always found (copydetect's guarantee threshold; the window of
the winnowing is their difference plus one)."""
FLAG_AT = 0.8
"""Pairs whose larger similarity reaches this are flagged in summary.html. On the synthetic class
every copy scored at least 0.94 and every honest pair at most 0.51 (README, "Who copied")."""
SHOW_AT = 0.5
"""Pairs listed in similarity.html, each with a side-by-side view of what matches."""
MAX_VIEWS = 200
"""At most this many side-by-side views are written (the highest pairs first)."""


class SimilarityUnavailable(RuntimeError):
    """copydetect is not installed: the batch says so and writes no similarity report."""


@dataclass
class Pair:
    """Two files and how much of each is found in the other (0..1). ``left_slices`` and
    ``right_slices`` are the matching regions, as ``(start, end)`` character offsets in each
    file's text."""
    left: str
    right: str
    left_share: float
    right_share: float
    reference: bool = False          # ``right`` is a reference solution, not a student
    left_slices: list = field(default_factory=list)
    right_slices: list = field(default_factory=list)

    @property
    def score(self) -> float:
        return max(self.left_share, self.right_share)

    @property
    def view(self) -> str:
        """The side-by-side page's name, under ``similarity/``."""
        digest = hashlib.sha256(f"{self.left}\0{self.right}".encode()).hexdigest()[:12]
        return f"{_safe(self.left)}--{_safe(self.right)}-{digest}.html"

    def to_json(self) -> dict:
        return {"left": self.left, "right": self.right, "left_share": round(self.left_share, 4),
                "right_share": round(self.right_share, 4), "score": round(self.score, 4),
                "reference": self.reference}


@dataclass
class Report:
    """The similarity of a batch: ``files`` maps each compared name (a student, or several
    joined when they handed in one file) to its text; ``identical`` groups students whose files
    are byte-identical; ``pairs`` are ranked by score, highest first."""
    students: dict[str, list[str]]            # file name -> the students who handed it in
    texts: dict[str, str]
    references: dict[str, str]
    pairs: list[Pair]
    identical: list[list[str]]
    boilerplate: str = ""                     # the template's path, as shown

    def flagged(self) -> list[Pair]:
        return [pair for pair in self.pairs if pair.score >= FLAG_AT]

    def to_json(self) -> dict:
        return {"flag_at": FLAG_AT, "show_at": SHOW_AT, "noise_tokens": NOISE_TOKENS,
                "guarantee_tokens": GUARANTEE_TOKENS, "boilerplate": self.boilerplate,
                "identical": self.identical, "references": sorted(self.references),
                "pairs": [pair.to_json() for pair in self.pairs if pair.score >= SHOW_AT]}


def _safe(name: str) -> str:
    """A file-name part of ``name``: ASCII letters, digits and ``._-`` only, at most 40 (a view's
    name stays far below a file system's 255 bytes whatever the students' names)."""
    return "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else "_" for c in name)[:40]


def _detector():
    try:
        from copydetect.detector import CodeFingerprint, compare_files
    except ImportError as error:
        raise SimilarityUnavailable(
            f"copydetect is not installed ({error}): pip install 'nngrade[similarity]' for the "
            "similarity report") from None
    return CodeFingerprint, compare_files


def _fingerprint(code_fingerprint, text: str, boilerplate):
    window = GUARANTEE_TOKENS - NOISE_TOKENS + 1
    # copydetect picks its tokenizer from the file name; the text is read from ``fp``.
    return code_fingerprint("submission.py", NOISE_TOKENS, window, boilerplate=boilerplate,
                            fp=_stream(text))


def compare(submissions: dict[str, str], template: str | None = None,
            references: dict[str, str] | None = None, template_name: str = "",
            teams: dict[str, frozenset] | None = None) -> Report:
    """The similarity report of ``submissions`` (``{student: source text}``), with ``template``'s
    code as boilerplate and each of ``references`` (``{name: source text}``) compared with
    every submission. ``teams``: each student's group (a group submission's members hand in one
    file, which is neither a pair nor "identical files"). Raises ``SimilarityUnavailable``
    without copydetect."""
    import numpy as np

    code_fingerprint, compare_files = _detector()
    references = dict(references or {})
    groups = _by_content(submissions)
    students = {" = ".join(group): group for group in groups}
    texts = {name: submissions[group[0]] for name, group in students.items()}
    identical = identical_files(submissions, teams)
    boilerplate = None
    if template:
        boilerplate = np.unique(np.array(list(
            code_fingerprint("template.py", NOISE_TOKENS, 1, fp=_stream(template)).hashes)))
    prints = {name: _fingerprint(code_fingerprint, text, boilerplate) for name, text in texts.items()}
    reference_prints = {name: _fingerprint(code_fingerprint, text, boilerplate)
                        for name, text in references.items()}
    pairs = []
    for left, right in itertools.combinations(sorted(prints), 2):
        pairs.append(_pair(compare_files, left, right, prints[left], prints[right], False))
    for left in sorted(prints):
        for right in sorted(reference_prints):
            pairs.append(_pair(compare_files, left, right, prints[left], reference_prints[right],
                               True))
    pairs.sort(key=lambda pair: (-pair.score, pair.left, pair.right))
    return Report(students=students, texts=texts, references=references, pairs=pairs,
                  identical=identical, boilerplate=template_name)


def _by_content(submissions: dict[str, str]) -> list[list[str]]:
    """The students grouped by the exact text of their files, each group sorted."""
    by_digest: dict[str, list[str]] = {}
    for student in sorted(submissions):
        digest = hashlib.sha256(submissions[student].encode()).hexdigest()
        by_digest.setdefault(digest, []).append(student)
    return list(by_digest.values())


def identical_files(submissions: dict[str, str],
                    teams: dict[str, frozenset] | None = None) -> list[list[str]]:
    """The groups of two or more students whose files are byte-identical (no copydetect
    needed: the batch names them even without the similarity extra), but for the members of
    one group submission, whose file is one by design (``teams``: each student's group)."""
    teams = teams or {}
    return sorted(group for group in _by_content(submissions) if len(group) > 1
                  and len({teams.get(student) or frozenset((student,)) for student in group}) > 1)


def remove(out: Path) -> None:
    """Take an earlier run's similarity report out of ``out`` (this run has none to replace
    it: turned off, stopped, or failed), so that no report contradicts the gradebook."""
    (out / "similarity.html").unlink(missing_ok=True)
    (out / "similarity.json").unlink(missing_ok=True)
    folder = out / "similarity"
    if folder.is_dir():
        for view in folder.glob("*.html"):
            view.unlink(missing_ok=True)


def _stream(text: str):
    import io

    return io.StringIO(text)


def _pair(compare_files, left, right, left_print, right_print, reference) -> Pair:
    _, (left_share, right_share), (left_slices, right_slices) = compare_files(left_print, right_print)
    return Pair(left, right, float(left_share), float(right_share), reference,
                _spans(left_slices), _spans(right_slices))


def _spans(slices) -> list[tuple[int, int]]:
    if len(slices) != 2 or len(slices[0]) == 0:
        return []
    return [(int(start), int(end)) for start, end in zip(slices[0], slices[1], strict=True)]


# ---- rendering ------------------------------------------------------------------------------

SIMILARITY_CSS = PAGE_CSS + """
body { max-width: 110em; }
.code { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.code pre { white-space: pre; overflow-x: auto; font-size: 0.8em; }
mark { background: #ffe08a; }
td.score { font-weight: bold; }
"""


def _highlighted(text: str, spans: list[tuple[int, int]], side: str) -> str:
    """``text`` HTML-escaped, with the ``spans`` wrapped in ``<mark>``; the first is the anchor
    ``<side>-match`` (the views open there, past the template's code)."""
    out, at, anchor = [], 0, f' id="{side}-match"'
    for start, end in sorted(spans):
        start, end = max(start, at), min(end, len(text))
        if end <= start:
            continue
        out += [esc(text[at:start]), f"<mark{anchor}>", esc(text[start:end]), "</mark>"]
        at, anchor = end, ""
    out.append(esc(text[at:]))
    return "".join(out)


def _who(report: Report, name: str, reference: bool) -> str:
    if reference:
        return f"reference {name}"
    return ", ".join(report.students.get(name, [name]))


def _identical_list(groups: list[list[str]]) -> str:
    twins = "".join(f"<li>{esc(', '.join(group))}</li>" for group in groups)
    return f"<p>Identical files (byte for byte):</p><ul id=\"identical\">{twins}</ul>" if twins else ""


def summary_section(report: Report | None, unavailable: str = "",
                    identical: list[list[str]] = ()) -> str:
    """The part of summary.html that lists the flagged pairs and the identical files (without a
    report, ``unavailable`` says why, and the ``identical`` groups are still named)."""
    if report is None:
        return (f'<h2>Similarity</h2><p class="muted">No similarity report: '
                f"{esc(unavailable)}</p>{_identical_list(list(identical))}") if unavailable else ""
    flagged = report.flagged()
    rows = "".join(
        f'<tr class="similar"><td class="num score">{100 * pair.score:.0f} %</td>'
        f"<td>{esc(_who(report, pair.left, False))}</td>"
        f"<td>{esc(_who(report, pair.right, pair.reference))}</td>"
        f'<td><a href="similarity/{esc(pair.view)}#left-match">side by side</a></td></tr>'
        for pair in flagged)
    body = (f'<table id="similar"><thead><tr><th class="num">similarity</th><th>file</th>'
            f"<th>matches</th><th></th></tr></thead><tbody>{rows}</tbody></table>"
            if flagged else "<p>No pair reaches the threshold.</p>")
    identical = _identical_list(report.identical)
    return (f"<h2>Similarity ({len(flagged)} pairs at {100 * FLAG_AT:.0f} % or more)</h2>"
            f'<p class="muted">Share of a file\'s code (names, comments and the template left '
            f'out) found in the other; every pair: <a href="similarity.html">similarity.html</a>.'
            f"</p>{identical}{body}")


def report_html(report: Report, title: str) -> str:
    """similarity.html: every pair at ``SHOW_AT`` or more, ranked, linking to its view."""
    shown = [pair for pair in report.pairs if pair.score >= SHOW_AT]
    rows = []
    for rank, pair in enumerate(shown, start=1):
        link = (f'<a href="similarity/{esc(pair.view)}#left-match">side by side</a>'
                if rank <= MAX_VIEWS else "")
        rows.append(f'<tr><td class="num">{rank}</td><td class="num score">{100 * pair.score:.0f} %</td>'
                    f"<td>{esc(_who(report, pair.left, False))} "
                    f'<span class="muted">({100 * pair.left_share:.0f} %)</span></td>'
                    f"<td>{esc(_who(report, pair.right, pair.reference))} "
                    f'<span class="muted">({100 * pair.right_share:.0f} %)</span></td>'
                    f"<td>{link}</td></tr>")
    table = (f'<table id="pairs"><thead><tr><th class="num">#</th><th class="num">similarity</th>'
             f"<th>file (share)</th><th>matches (share)</th><th></th></tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table>" if rows else "<p>No pair reaches it.</p>")
    twins = "".join(f"<li>{esc(', '.join(group))}</li>" for group in report.identical)
    template = (f"the template ({esc(report.boilerplate)}) is boilerplate and never counts"
                if report.boilerplate else "no template was given: shared template code counts")
    references = (f"; references: {esc(', '.join(sorted(report.references)))}"
                  if report.references else "")
    body = (f"<h1>{esc(title)}</h1>"
            f'<p class="muted">{len(report.texts)} distinct files; pairs at {100 * SHOW_AT:.0f} % or '
            f"more, flagged at {100 * FLAG_AT:.0f} %; {template}{references}. Similarity: the share "
            "of each file's code found in the other, after names, comments and whitespace are "
            "left out (copydetect).</p>"
            + (f"<h2>Identical files</h2><ul id=\"identical\">{twins}</ul>" if twins else "")
            + f"<h2>Pairs</h2>{table}")
    return html_page(title, body, SIMILARITY_CSS)


def view_html(report: Report, pair: Pair) -> str:
    """One pair side by side, the matching regions marked."""
    right_text = report.references[pair.right] if pair.reference else report.texts[pair.right]
    left_who, right_who = _who(report, pair.left, False), _who(report, pair.right, pair.reference)
    body = (f'<p><a href="../similarity.html">all pairs</a></p>'
            f"<h1>{esc(left_who)} and {esc(right_who)}: {100 * pair.score:.0f} %</h1>"
            f'<p class="muted">{100 * pair.left_share:.0f} % of {esc(left_who)}\'s code is found in '
            f"{esc(right_who)}'s, {100 * pair.right_share:.0f} % the other way. Marked: the "
            "matching regions.</p>"
            f'<div class="code"><div><h3>{esc(left_who)}</h3><pre id="left">'
            f"{_highlighted(report.texts[pair.left], pair.left_slices, 'left')}</pre></div>"
            f'<div><h3>{esc(right_who)}</h3><pre id="right">'
            f"{_highlighted(right_text, pair.right_slices, 'right')}</pre></div></div>")
    return html_page(f"{left_who} / {right_who}", body, SIMILARITY_CSS)


def write(out: Path, report: Report, title: str) -> None:
    """similarity.html, similarity.json and the side-by-side views, each file atomically; views
    of an earlier run that are no longer ranked are removed."""
    folder = out / "similarity"
    views = [pair for pair in report.pairs if pair.score >= SHOW_AT][:MAX_VIEWS]
    keep = {pair.view for pair in views}
    for pair in views:
        write_text_atomic(folder / pair.view, view_html(report, pair))
    if folder.is_dir():
        for stale in folder.glob("*.html"):
            if stale.name not in keep:
                stale.unlink(missing_ok=True)
    write_json_atomic(out / "similarity.json", report.to_json())
    write_text_atomic(out / "similarity.html", report_html(report, title))
