"""Render a grading (``grader/model.py``) as the score table and Gradescope's results.json.

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
from grader import model
from grader.model import Grading, TestRecord
from grader.rubric import Row

_GRADER = Path(__file__).resolve().parents[1]

SUITE_SEED = 20261123
"""Base seed of every input the tests draw (each test offsets it); recorded for reproducibility."""


OUTPUT_FORMAT = "text"
"""Gradescope's ``output_format`` of every output we write (its spec: "text" renders no HTML,
Markdown or ANSI; a test's output goes in a ``<pre>`` block). Diagnoses and the table quote
values, formulas (``d_in * d_out``, ``W_1``), ``<-`` marks and the student's own error messages,
which ``md`` would turn into emphasis and ``html`` or ``simple_format`` (the default of the
top-level output) would read as markup and reflow."""

# A row's status: the model's (``grader/model.py``), where they are explained.
PASSED, FAILED, ERROR = model.PASSED, model.FAILED, model.ERROR
NOT_RUN, NOT_SELECTED = model.NOT_RUN, model.NOT_SELECTED


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

    def record(self) -> TestRecord:
        """This row's result in the result model."""
        row = self.row
        return TestRecord(row.test, row.part, row.title, row.points, row.hidden, self.status,
                          self.score, fraction=self.fraction, message=self.message,
                          notes=list(self.notes), causes=self.cause_records(),
                          checks=list(self.checks), experiment=self.experiment,
                          details=self.details, seconds=round(self.seconds, 3))


def score_table(grading: Grading, public_only: bool = False) -> str:
    """The human summary of ``grading``: points per part, the total, then the diagnosis of each
    lost point.

    ``public_only`` gives the table a student may see while hidden tests are unpublished: the
    visible rows only, and how many points the hidden tests are worth (not what they earned).
    The grading's notes say why the run did not grade every row of the selected parts
    (``partial``) and why only the file's definitions were graded (``load_warning``).
    """
    tests = grading.tests()
    load_failure, partial = grading.note("load_failure"), grading.note("partial")
    load_warning = grading.note("load_warning")
    shown = [t for t in tests if not (public_only and t.hidden)]
    totals = model.totals_of(shown)
    earned = sum(e for e, _ in totals.values())
    possible = sum(p for _, p in totals.values())
    total = "public tests" if public_only else "total"
    width = max([len(part) for part in totals] + [len(total)])
    lines = [f"nngrade score for {grading.submission}", ""]
    if partial:
        lines += [f"PARTIAL RESULT: {partial}", ""]
    lines.append(f"  {'part':<{width}}  {'points':>15}")
    for part, (e, p) in totals.items():
        mark = "" if e == p else "  <-"
        lines.append(f"  {part:<{width}}  {e:>7.2f} / {p:<5g}{mark}")
    percent = 100.0 * earned / possible if possible else 0.0
    lines.append(f"  {total:<{width}}  {earned:>7.2f} / {possible:<5g}  ({percent:.1f} %)")
    hidden_points = sum(t.points for t in tests if t.hidden)
    if public_only and hidden_points:
        # Gradescope may show the submission's score (hidden tests included) above this table:
        # the two numbers differ, and the student is told why.
        lines.append(f"These are the tests you can see now, {possible:g} points. Hidden tests worth "
                     f"{hidden_points:g} more point{'s' * (hidden_points != 1)} are graded as "
                     f"well: the submission's score (out of {possible + hidden_points:g}) counts "
                     "them, and their results appear when grades are published.")
    lost = [t for t in shown if not t.full and t.status != NOT_SELECTED]
    if load_warning and not load_failure:
        lines += ["", "WARNING: " + load_warning]
    if load_failure:
        lines += ["", load_failure]
    elif lost:
        lines += ["", "What lost points:"]
        for test in lost:
            lines.append(f"- [{test.part}] {test.test} ({test.score:g} / {test.points:g}): "
                         f"{test.title}")
            text = test.message
            if test.status == ERROR:
                lines.append("    GRADER ERROR (not your fault; please report it):")
                if not public_only and test.details:
                    text = test.details
            elif test.status == NOT_RUN:
                text = f"not run: {test.message}"
            lines += [f"    {line}" for line in text.splitlines()]
    left_out = {}
    for test in shown:
        if test.status == NOT_SELECTED:
            left_out.setdefault(test.part, []).append(test.test)
    if left_out:
        lines += ["", "Not selected in this run (0 points each; the maximum still counts them):"]
        lines += [f"- [{part}] {', '.join(names)}" for part, names in left_out.items()]
    notes = sorted({note for t in shown for note in t.notes})
    if notes:
        lines += ["", "Notes (no points lost):"] + [f"- {note}" for note in notes]
    return "\n".join(lines)


def student_output(test: TestRecord, load_failure: str = "") -> str:
    """The ``output`` of a test in results.json: its diagnosis, never a grader traceback."""
    if load_failure:
        output = LOAD_FAILURE_OUTPUT
    elif test.status == ERROR:
        # The traceback stays with the staff (it shows the grader's own, maybe hidden, sources).
        output = "GRADER ERROR (not your fault; the course staff has the details)"
        if not test.hidden and test.message:
            output += f": {test.message}"
    elif test.status in (NOT_RUN, NOT_SELECTED):
        output = f"{test.status}: {test.message}"
    else:
        output = test.message
    if test.notes:
        output = (output + "\n" if output else "") + "\n".join(f"note: {n}" for n in test.notes)
    return output


LOAD_FAILURE_OUTPUT = "not graded: the submission could not be loaded"
"""The ``output`` of every test when the submission could not be imported at all (the reason
is said once, in the table)."""


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


def results_json(grading: Grading) -> dict:
    """Gradescope's results.json of ``grading``: score, tests[] (tags hold the part), and our
    metadata in ``extra_data``.

    Each test's ``visibility`` is its own: ``visible``, or ``after_published`` for a hidden
    test. The top-level ``output`` is the public tests' table (see the module docstring), after
    the platform's headline when there is one; ``stdout_visibility`` is ``hidden`` because the
    run's output is the staff's full table. ``extra_data.nngrade.partial`` is ``None`` for a
    complete run, else ``{"reason": ...}``.
    """
    if grading.status == model.COULD_NOT_GRADE:
        return _could_not_grade_json(grading)
    load_failure = grading.note("load_failure")
    tests = []
    for number, test in enumerate(grading.tests(), start=1):
        test_extra = {"test": test.test, "part": test.part, "status": test.status}
        if test.details:
            test_extra["details"] = test.details
        if test.experiment:
            test_extra["experiment"] = test.experiment
        if not test.full and test.causes:
            # The causes as data (grader/causes.py) for a program reading results.json; nngrade's
            # own reports read them from the model.
            test_extra["causes"] = test.causes
        tests.append({
            "name": f"{test.part}: {test.title} ({test.test})",
            "number": str(number),
            "score": test.score,
            "max_score": test.points,
            "status": "passed" if test.full else "failed",
            "output": student_output(test, load_failure),
            "output_format": OUTPUT_FORMAT,
            "tags": [test.part],
            "visibility": "after_published" if test.hidden else "visible",
            "extra_data": test_extra,
        })
    if grading.status == model.INVALID:
        output = f"This submission scored 0. {grading.reason}"
        nngrade = {"status": model.INVALID, "reason": grading.reason}
    else:
        output = score_table(grading, public_only=True)
        partial = grading.note("partial")
        nngrade = {"status": grading.status,
                   "parts": {k: {"score": e, "max_score": p} for k, (e, p) in grading.part_totals().items()},
                   "partial": {"reason": partial} if partial else None,
                   "load_warning": grading.note("load_warning") or None,
                   "load_failure": load_failure or None,
                   "reproducibility": grading.reproducibility,
                   "submission": grading.submission,
                   "sandbox": grading.sandbox,
                   "worker_restarts": grading.restarts.get("worker", 0),
                   "isolation_restarts": grading.restarts.get("isolation", 0)}
        if grading.status == model.INCOMPLETE:
            nngrade["reason"] = grading.reason
    headline = grading.note("headline")
    return {
        "score": grading.score,
        "max_score": grading.max_score,
        "execution_time": round(grading.seconds, 3),
        "output": f"{headline}\n\n{output}" if headline else output,
        "output_format": OUTPUT_FORMAT,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"nngrade": {**nngrade, **grading.platform}},
    }


def _could_not_grade_json(grading: Grading) -> dict:
    """results.json for a run that graded nothing because the grader could not run here.

    It must not read as a score of 0: ``score`` is left out on purpose. Gradescope's spec makes
    ``score`` optional only when every test carries one, and here no test does, so there is no
    number to record as the student's grade (a ``"score": 0`` would be stored as one); staff
    see the top-level ``output`` and can rerun. Batch tools tell it apart by
    ``extra_data.nngrade.status == "could_not_grade"`` (a graded run says ``"graded"``) and by
    the missing ``score``. Nothing in it says the student did something wrong."""
    extra = {"reproducibility": grading.reproducibility} if grading.reproducibility else {}
    return {
        "output": (f"could not grade: {grading.reason}\n\nThis is a fault of the grading "
                   f"environment, not of the submission ({Path(grading.submission).name}); "
                   "nothing was scored. Please tell the course staff."),
        "output_format": OUTPUT_FORMAT,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
        "extra_data": {"nngrade": {"status": model.COULD_NOT_GRADE, "reason": grading.reason,
                                   "submission": grading.submission, **extra, **grading.platform}},
    }


def could_not_grade_results(reason: str, submission: str, runner: dict | None = None) -> dict:
    """results.json of ``model.could_not_grade`` (``runner``: what the platform's runner adds)."""
    return results_json(model.could_not_grade(reason, submission, platform=runner))
