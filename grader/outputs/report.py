"""Turn the ledger's rows into the score table and Gradescope's results.json.

Nothing here talks to the worker; it formats what the trusted process decided.

Two audiences read the results. The staff see everything: the terminal table (on Gradescope, the
run's stdout, which ``stdout_visibility`` keeps from students) and ``extra_data``, which
Gradescope stores without showing it. A student sees, before grades are published, the
top-level ``output`` and the tests marked ``visible``; a hidden test's entry is marked
``after_published``. So the top-level ``output`` is the public tests' table only (Gradescope
hides the total score while some tests are hidden), and no test's output carries a grader
traceback, which would show the grader's sources (hidden ones included).
"""
from __future__ import annotations

import hashlib
import platform
from dataclasses import dataclass, field
from pathlib import Path

# Re-exported: the grader's modules write their files with these (grader/outputs/artifacts.py).
from grader.outputs.artifacts import write_json_atomic, write_text_atomic  # noqa: F401
from grader.rubric import PARTS, Row

_GRADER = Path(__file__).resolve().parents[1]

SUITE_SEED = 20261123
"""Base seed of every input the tests draw (each test offsets it); recorded for reproducibility."""


OUTPUT_FORMAT = "text"
"""Gradescope's ``output_format`` of every output we write (its spec: "text" renders no HTML,
Markdown or ANSI; a test's output goes in a ``<pre>`` block). Diagnoses and the table quote
values, formulas (``d_in * d_out``, ``W_1``), ``<-`` marks and the student's own error messages,
which ``md`` would turn into emphasis and ``html`` or ``simple_format`` (the default of the
top-level output) would read as markup and reflow."""

PASSED, FAILED, ERROR = "passed", "failed", "error"
NOT_RUN, NOT_SELECTED = "not run", "not selected"
"""A row's status. ``error`` is a fault of the grader itself (never the student's); ``not run``
and ``not selected`` rows earn nothing and their message says why they did not run."""


@dataclass
class TestResult:
    row: Row
    fraction: float              # of row.points earned, in [0, 1]
    status: str                  # one of the statuses above
    message: str = ""            # the diagnosis (or why the row did not run), for the student
    notes: list = field(default_factory=list)
    seconds: float = 0.0
    details: str = ""            # for the staff only: the traceback of a grader error
    experiment: dict = field(default_factory=dict)  # an experiment test's measurements
    causes: list = field(default_factory=list)   # [(cause id, sentence)]: why points were lost
    checks: list = field(default_factory=list)   # each check as plain data (Scorer.check_records)

    @property
    def score(self) -> float:
        return round(self.row.points * self.fraction, 4)

    def cause_records(self) -> list[dict]:
        """``causes`` as plain data: ``[{"id": ..., "text": ...}]``."""
        return [{"id": cause, "text": text} for cause, text in self.causes]


def part_totals(results: list[TestResult]) -> dict[str, tuple[float, float]]:
    """``{part: (earned, possible)}`` in the order of ``PARTS``."""
    totals = {part: [0.0, 0.0] for part in PARTS}
    for result in results:
        totals[result.row.part][0] += result.score
        totals[result.row.part][1] += result.row.points
    return {part: (round(e, 4), p) for part, (e, p) in totals.items() if p > 0}


def score_table(results: list[TestResult], submission: str, load_failure: str = "",
                partial: str = "", public_only: bool = False, load_warning: str = "") -> str:
    """The human summary: points per part, the total, then the diagnosis of each lost point.

    ``public_only`` gives the table a student may see while hidden tests are unpublished: the
    visible rows only, and how many points the hidden tests are worth (not what they earned).
    ``partial`` says why this run did not grade every row of the selected parts;
    ``load_warning`` why only the file's definitions were graded (``worker.describe_fallback``).
    """
    shown = [r for r in results if not (public_only and r.row.hidden)]
    totals = part_totals(shown)
    earned = sum(e for e, _ in totals.values())
    possible = sum(p for _, p in totals.values())
    total = "public tests" if public_only else "total"
    width = max([len(part) for part in totals] + [len(total)])
    lines = [f"nngrade score for {submission}", ""]
    if partial:
        lines += [f"PARTIAL RESULT: {partial}", ""]
    lines.append(f"  {'part':<{width}}  {'points':>15}")
    for part, (e, p) in totals.items():
        mark = "" if e == p else "  <-"
        lines.append(f"  {part:<{width}}  {e:>7.2f} / {p:<5g}{mark}")
    percent = 100.0 * earned / possible if possible else 0.0
    lines.append(f"  {total:<{width}}  {earned:>7.2f} / {possible:<5g}  ({percent:.1f} %)")
    hidden_points = sum(r.row.points for r in results if r.row.hidden)
    if public_only and hidden_points:
        lines.append(f"Hidden tests worth {hidden_points:g} more point{'s' * (hidden_points != 1)} are "
                     "graded as well; their results appear when grades are published.")
    lost = [r for r in shown if r.fraction < 1.0 and r.status != NOT_SELECTED]
    if load_warning and not load_failure:
        lines += ["", "WARNING: " + load_warning]
    if load_failure:
        lines += ["", load_failure]
    elif lost:
        lines += ["", "What lost points:"]
        for result in lost:
            lines.append(f"- [{result.row.part}] {result.row.test} ({result.score:g} / "
                         f"{result.row.points:g}): {result.row.title}")
            text = result.message
            if result.status == ERROR:
                lines.append("    GRADER ERROR (not your fault; please report it):")
                if not public_only and result.details:
                    text = result.details
            elif result.status == NOT_RUN:
                text = f"not run: {result.message}"
            lines += [f"    {line}" for line in text.splitlines()]
    left_out = {}
    for result in shown:
        if result.status == NOT_SELECTED:
            left_out.setdefault(result.row.part, []).append(result.row.test)
    if left_out:
        lines += ["", "Not selected in this run (0 points each; the maximum still counts them):"]
        lines += [f"- [{part}] {', '.join(tests)}" for part, tests in left_out.items()]
    notes = sorted({note for r in shown for note in r.notes})
    if notes:
        lines += ["", "Notes (no points lost):"] + [f"- {note}" for note in notes]
    return "\n".join(lines)


def student_output(result: TestResult, load_failure: str = "") -> str:
    """The ``output`` of a test in results.json: its diagnosis, never a grader traceback."""
    if load_failure:
        output = "not graded: the submission could not be loaded"
    elif result.status == ERROR:
        # The traceback stays with the staff (it shows the grader's own, maybe hidden, sources).
        output = "GRADER ERROR (not your fault; the course staff has the details)"
        if not result.row.hidden and result.message:
            output += f": {result.message}"
    elif result.status in (NOT_RUN, NOT_SELECTED):
        output = f"{result.status}: {result.message}"
    else:
        output = result.message
    if result.notes:
        output = (output + "\n" if output else "") + "\n".join(f"note: {n}" for n in result.notes)
    return output


# Tools around the grading that cannot change a score: a new batch or authoring feature must
# not make a batch grade its whole class again (the batch's fingerprint includes this hash).
_NOT_GRADING = ("batch", "authoring", "platforms")


def suite_hash() -> str:
    """SHA-256 over the source files that decide a score (the grader's and the references'),
    in a fixed order."""
    digest = hashlib.sha256()
    roots = [_GRADER, _GRADER.parent / "reference"]
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if root == _GRADER and path.relative_to(root).parts[0] in _NOT_GRADING:
                continue
            digest.update(str(path.relative_to(root.parent)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def reproducibility() -> dict:
    import numpy
    import torch

    return {"suite_seed": SUITE_SEED, "suite_sha256": suite_hash(),
            "python": platform.python_version(), "numpy": numpy.__version__,
            "torch": torch.__version__, "platform": platform.platform()}


def results_json(results: list[TestResult], *, submission: str, seconds: float,
                 extra: dict, load_failure: str = "", partial: str = "",
                 load_warning: str = "") -> dict:
    """Gradescope's results.json: score, tests[] (tags hold the part), and our metadata.

    Each test's ``visibility`` is its own: ``visible``, or ``after_published`` for a hidden
    test. The top-level ``output`` is the public tests' table (see the module docstring);
    ``stdout_visibility`` is ``hidden`` because the run's output is the staff's full table.
    ``extra_data.nngrade.partial`` is ``None`` for a complete run, else ``{"reason": ...}``.
    """
    totals = part_totals(results)
    tests = []
    for number, result in enumerate(results, start=1):
        test_extra = {"test": result.row.test, "part": result.row.part, "status": result.status}
        if result.details:
            test_extra["details"] = result.details
        if result.experiment:
            test_extra["experiment"] = result.experiment
        if result.fraction < 1.0 and result.causes:
            # The causes as data (grader/causes.py), for the class report: it groups by id and
            # never reads the prose of ``output``.
            test_extra["causes"] = result.cause_records()
        tests.append({
            "name": f"{result.row.part}: {result.row.title} ({result.row.test})",
            "number": str(number),
            "score": result.score,
            "max_score": result.row.points,
            "status": "passed" if result.fraction == 1.0 else "failed",
            "output": student_output(result, load_failure),
            "output_format": OUTPUT_FORMAT,
            "tags": [result.row.part],
            "visibility": "after_published" if result.row.hidden else "visible",
            "extra_data": test_extra,
        })
    return {
        "score": round(sum(e for e, _ in totals.values()), 4),
        "max_score": sum(p for _, p in totals.values()),
        "execution_time": round(seconds, 3),
        "output": score_table(results, submission, load_failure, partial, public_only=True,
                              load_warning=load_warning),
        "output_format": OUTPUT_FORMAT,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"nngrade": {"status": "graded",
                                   "parts": {k: {"score": e, "max_score": p}
                                             for k, (e, p) in totals.items()},
                                   "partial": {"reason": partial} if partial else None,
                                   "load_warning": load_warning or None,
                                   "load_failure": load_failure or None, **extra}},
    }


def could_not_grade_results(reason: str, submission: str, extra: dict) -> dict:
    """results.json for a run that graded nothing because the grader could not run here.

    It must not read as a score of 0: ``score`` is left out on purpose. Gradescope's spec makes
    ``score`` optional only when every test carries one, and here no test does, so there is no
    number to record as the student's grade (a ``"score": 0`` would be stored as one); staff
    see the top-level ``output`` and can rerun. Batch tools tell it apart by
    ``extra_data.nngrade.status == "could_not_grade"`` (a graded run says ``"graded"``) and by
    the missing ``score``. Nothing in it says the student did something wrong."""
    return {
        "output": (f"could not grade: {reason}\n\nThis is a fault of the grading environment, "
                   f"not of the submission ({Path(submission).name}); nothing was scored. "
                   "Please tell the course staff."),
        "output_format": OUTPUT_FORMAT,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
        "extra_data": {"nngrade": {"status": "could_not_grade", "reason": reason,
                                   "submission": submission, **extra}},
    }
