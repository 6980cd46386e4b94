"""What the grading notebook's cells call, in the Jupyter kernel that ``nbgrader autograde`` starts.

The kernel never imports the student's code. Its first code cell (hidden from students) calls
``grade_here``: the isolated grader (``grader.batch.engine.grade_bytes``, the batch's unit of
work) grades ``solution.py`` in a process of its own, and the kernel keeps only the grader's
result model (``grader/model.py``). Each part's cell then ends with ``GRADING.points(part)``: a
plain float, the part's score clamped to ``[0, the cell's points]``, because nbgrader reads a
cell's last value as its partial credit and fails the whole submission on a value above the
cell's points.

By the time this runs, ``nbgrader_preprocessors.PrepareSubmission`` (in the nbgrader process,
before the kernel starts) has put the cells back to the source notebook's and set the student's
other files aside, and written ``SUBMISSION_FILE``: which file it found and, when there is none
to grade, the sentence that says why. So nothing the student added runs in this kernel, and
``solution.py`` is the only student file left where the kernel imports from.

nbgrader scores a test cell 0 when it wrote anything to stderr, so nothing here does: imports
and the grading run with warnings silenced, and the grading process's output goes to a log file.

The runner cell's output carries the grader's result model under ``RESULTS_MIME`` (with a plain
text table beside it): ``nbgrader_preprocessors.RequireVerdict`` reads it after execution, and
``python -m grader nbgrader export`` writes each student's feedback from it.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

RESULTS_MIME = "application/vnd.nngrade.grading+json"
"""The mime type of the runner cell's output that holds the grading (``Grading.to_json``)."""

SUBMISSION_FILE = ".nngrade-submission.json"
"""Written by ``PrepareSubmission`` into the folder it grades: ``{"source": the file found,
relative (null when none), "problem": why the submission scores 0 ("" when it is graded)}``."""

TOKEN_VARIABLE = "NNGRADE_NBGRADER_TOKEN"
"""``PrepareSubmission`` puts a fresh random token in this environment variable (the kernel that
``Execute`` then starts inherits it) and in ``SUBMISSION_FILE``. A kernel that finds no token, or
another one, knows nngrade's preprocessors did not run: nbgrader went on without the course's
nbgrader_config.py (it only logs a config file that fails to load), or the file is the
student's."""

SOURCE_NAME = "solution.py"
RUNNER_ID = "nngrade_grading"
"""The grade id of the runner cell in the grading notebook."""
PART_PREFIX = "nngrade_part_"
"""The grade id of a part's cell is this followed by the part's name."""


@dataclass
class Grading:
    """One submission's grading: ``status`` (``records.GRADED``, ``INVALID`` or ``NOT_GRADED``),
    ``reason`` (why not graded or invalid), ``grading`` (the grader's result model as JSON,
    ``grader/model.py``), ``source`` (the file graded, as the student named it) and ``seconds``."""
    status: str
    reason: str
    grading: dict | None
    source: str | None
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"status": self.status, "reason": self.reason, "grading": self.grading,
                "source": self.source, "seconds": round(self.seconds, 3)}

    def record(self, student: str = "-", name: str = ""):
        """This grading as a batch record (``grader/batch/records.py``)."""
        from grader.batch.records import GRADED, StudentRecord
        return StudentRecord(student=student, name=name, status=self.status,
                             reason="" if self.status == GRADED else self.reason,
                             grading=self.grading, seconds=self.seconds, source=self.source or "")

    def part_scores(self) -> dict[str, tuple[float, float]]:
        return self.record().part_scores()

    def points(self, part: str, maximum: float) -> float:
        """The score of ``part``, clamped to ``[0, maximum]`` (the cell's points). Raises when the
        submission was not graded: nbgrader then scores the cell 0, and ``RequireVerdict`` refuses
        to record any score for it."""
        from grader.batch.records import NOT_GRADED
        if self.status == NOT_GRADED:
            raise RuntimeError(f"nngrade could not grade this submission: {self.reason}")
        scores = self.part_scores()
        if part not in scores:
            raise RuntimeError(f"nngrade's results have no part {part!r}")
        return float(min(max(scores[part][0], 0.0), float(maximum)))

    def diagnoses(self, part: str) -> str:
        """What the part's cell shows above its score, in nbgrader's feedback too: each visible
        test that lost points, with its diagnosis; hidden tests only as a count and the points
        they lost (their names and diagnoses stay with the staff)."""
        from grader import model
        from grader.outputs.report import student_output

        record = self.record()
        grading = record.model
        if self.status not in ("graded", "invalid") or grading is None:
            return f"nngrade could not grade this submission: {self.reason}"
        score, top = record.part_scores().get(part, (0.0, 0.0))
        lines = [f"{part}: {score:.2f} / {top:g}"]
        failure = grading.note("load_failure")
        if failure:
            lines.append("  " + " ".join(failure.split())[:800])
        tests = [test for test in grading.tests_by_part() if test.part == part]
        hidden = [test for test in tests if test.hidden and test.lost > 1e-9]
        for test in tests:
            if test.hidden or test.lost <= 1e-9:
                continue
            output = student_output(test, failure) if not failure else ""
            lines.append(f"- {test.test} ({test.title}): {test.score:.2f} / {test.points:g}")
            lines.extend("    " + line for line in output.strip().splitlines()[:20])
        if hidden:
            lost = sum(test.lost for test in hidden)
            lines.append(f"- {len(hidden)} hidden test{'s' if len(hidden) > 1 else ''} lost "
                         f"{lost:.2f} point{'s' if abs(lost - 1) > 1e-9 else ''}")
        if len(lines) == 1 and score >= top:
            lines.append("  every test passed")
        elif len(lines) == 1 and grading.status == model.INVALID:
            lines.append("  " + self.reason)
        return "\n".join(lines)

    def part(self, part: str, maximum: float) -> float:
        """The part cell's call: print the part's diagnoses (stdout, which nbgrader keeps in the
        cell's output and in its feedback) and return its points (``points``)."""
        value = self.points(part, maximum)
        try:
            text = self.diagnoses(part)
        except Exception as error:   # noqa: BLE001 - a message must never cost the part its score
            text = f"{part}: {value:.2f} / {maximum:g} (the diagnoses could not be shown: {error})"
        print(text, flush=True)
        return value

    def table(self) -> str:
        """The score table shown under the runner cell."""
        if self.status != "graded" and self.status != "invalid":
            return f"nngrade could not grade this submission: {self.reason}"
        lines = [f"nngrade: {self.source or SOURCE_NAME}" + (f" ({self.reason})" if self.reason else "")]
        for part, (score, top) in self.part_scores().items():
            lines.append(f"  {part:<18} {score:7.2f} / {top:g}")
        record = self.record()
        lines.append(f"  {'total':<18} {record.score or 0.0:7.2f} / {record.max_score or 0:g}")
        return "\n".join(lines)


def _quietly(function, *args, **kwargs):
    """Call ``function`` with warnings silenced and Python-level stderr swallowed (a warning
    printed by an import would cost the cell all its points)."""
    import contextlib
    import io
    import warnings
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


def _grade(folder: Path, parts: list[str], cap_s: float | None) -> Grading:
    from grader.batch import engine
    from grader.batch.student_files import misnamed_note
    from grader.batch.records import GRADED, INVALID, NOT_GRADED, invalid_grading

    try:
        found = json.loads((folder / SUBMISSION_FILE).read_text(encoding="utf-8"))
        source, problem, token = found.get("source"), found.get("problem", ""), found.get("token")
    except (OSError, ValueError, AttributeError):
        token = None
    if not token or token != os.environ.get(TOKEN_VARIABLE):
        raise PreprocessorsMissing(
            "nngrade's preprocessors did not run before this kernel started: nbgrader graded "
            "without the course's nbgrader_config.py (does it load? nbgrader only logs a config "
            "that fails, e.g. when nngrade is not importable where nbgrader runs)")
    if problem or not source:
        return Grading(INVALID, problem, invalid_grading(problem, parts), source)
    try:
        data = (folder / SOURCE_NAME).read_bytes()
    except OSError as error:
        return Grading(NOT_GRADED, f"could not read {SOURCE_NAME}: {error}", None, source)
    # One grading in this kernel: its grading process ends with it, none is kept idle.
    outcome = engine.grade_bytes(data, parts=parts, cap_s=cap_s, keep_server=False)
    grading = outcome["grading"]
    note = misnamed_note(source)
    if outcome["status"] == GRADED and note:
        grading["notes"] = {**grading.get("notes", {}), "headline": note}
    status = GRADED if outcome["status"] == GRADED else NOT_GRADED
    return Grading(status, note if status == GRADED else outcome["reason"], grading, source,
                   outcome["seconds"])


class PreprocessorsMissing(RuntimeError):
    """The kernel runs without nngrade's preprocessors (see ``TOKEN_VARIABLE``)."""


def grade_here(parts=(), cap_s: float | None = None) -> Grading:
    """Grade the submission in the kernel's working folder (the student's autograded folder) on
    ``parts`` (all when empty); display the score table and the results; return the Grading.

    Without nngrade's preprocessors nothing would stop nbgrader from recording 0 for every part
    (the part cells fail), and nothing protects this kernel from the student's files: the kernel
    then says why and ends its own process, and nbgrader records no score ("kernel died")."""
    try:
        grading = _quietly(_grade, Path(os.getcwd()), list(parts), cap_s)
    except PreprocessorsMissing as error:
        print(f"nngrade: not graded: {error}", flush=True)
        os._exit(3)
    try:
        from IPython.display import display
    except ImportError:   # not in a kernel (the project's tests call this directly)
        return grading
    display({"text/plain": grading.table(), RESULTS_MIME: grading.to_json()}, raw=True)
    return grading


def read_grading(notebook: dict) -> dict | None:
    """The ``Grading.to_json`` a graded notebook (as nbformat JSON) holds, or None."""
    for cell in notebook.get("cells", []):
        if ((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id") != RUNNER_ID:
            continue
        for output in cell.get("outputs", []) or []:
            data = output.get("data") or {}
            if RESULTS_MIME in data:
                value = data[RESULTS_MIME]
                return json.loads(value) if isinstance(value, str) else value
    return None
