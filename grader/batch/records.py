"""What a batch keeps of one student, and the statuses a student can end a batch with.

A ``StudentRecord`` is plain data (it round-trips through JSON): the runner makes one per
student, the gradebook, feedback and class report read them, and nothing in it comes from the
student's process except through the grader's own result model (``grader/model.py``), which
``grading`` holds as its JSON.

Statuses:

- ``GRADED``: the grader ran; ``grading`` is its model (the score may be 0);
- ``INVALID``: the submission is not gradable code (no solution.py, an empty, binary or
  notebook file, two candidates); it scores 0 and ``reason`` says why, in words for the student;
- ``NOT_GRADED``: the grading machine failed (sandbox, grader's own imports, disk, the wall-clock
  cap of a grading that was not the student's doing); no score at all, ``reason`` says why, and a
  re-run grades the student again.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property

from grader import model as result_model
from grader.outputs import report
from grader.batch.student_files import SOURCE_NAME

GRADED, INVALID, NOT_GRADED = "graded", "invalid", "not_graded"


@dataclass
class StudentRecord:
    student: str                 # file-safe id, unique in the batch: results/<student>.json
    name: str = ""               # display name, e.g. "Ada Lovelace" (the folder's name if none)
    status: str = NOT_GRADED     # GRADED, INVALID or NOT_GRADED
    reason: str = ""             # why INVALID or NOT_GRADED ("" when GRADED)
    grading: dict | None = None  # the result model's JSON (GRADED, INVALID); None when NOT_GRADED
    seconds: float = 0.0         # wall-clock time of this student's grading
    sha256: str = ""             # of the submission's bytes ("" when there is no file)
    source: str = ""             # the graded file, relative to the submissions folder
    parts: list = field(default_factory=list)   # the parts this grading selected ([] = all)
    sid: str = ""                # the student id the layout gives (Gradescope's SID), if any
    email: str = ""              # the email the layout gives (Gradescope, nbgrader), if any

    @cached_property
    def model(self) -> result_model.Grading | None:
        """``grading`` as the typed model (None when there is none, or it is not one)."""
        try:
            return result_model.Grading.from_json(self.grading) if self.grading else None
        except ValueError:
            return None

    @property
    def scored(self) -> bool:
        return self.status != NOT_GRADED and self.model is not None and self.model.scored

    @property
    def score(self) -> float | None:
        """The total, or None when there is none (not graded)."""
        return self.model.score if self.scored else None

    @property
    def max_score(self) -> float | None:
        return self.model.max_score if self.model is not None and self.model.parts else None

    def part_scores(self) -> dict[str, tuple[float, float]]:
        """``{part: (score, max_score)}`` in rubric order ({} when there is no model)."""
        return self.model.part_totals() if self.model is not None else {}

    def notes(self) -> list[str]:
        """What a TA should know about this grade beyond its score, one short line each (the
        gradebook's ``notes`` column, the class summary): a file graded under another name than
        solution.py, script code that was skipped at import, a selection of some parts only."""
        notes = []
        # A file in a student's folder (a folder per student, Gradescope, nbgrader) is meant to
        # be solution.py; the layout took another candidate (``solution (1).py``) in its place.
        # A file per student (``ada.py``) is named after its student by design.
        folder, _, graded_file = self.source.replace("\\", "/").rpartition("/")
        if folder and graded_file != SOURCE_NAME:
            notes.append(f"graded {self.source} in place of {SOURCE_NAME}")
        model = self.model
        if model is not None and self.status != NOT_GRADED:
            warning = model.note("load_warning").strip().splitlines()
            if warning:
                notes.append("script code at import was skipped (" + warning[0][:200] + ")")
            partial = " ".join(model.note("partial").split())
            if partial:
                notes.append(f"partial selection: {partial[:200]}")
        return notes

    def results(self) -> dict:
        """Gradescope's results.json of this record (a rendering of the model; a could-not-grade
        one for a student who was not graded)."""
        if self.status == NOT_GRADED or self.model is None:
            return report.could_not_grade_results(self.reason, self.source)
        return report.results_json(self.model)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> StudentRecord:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def invalid_grading(problem: str, parts: list[str] | None = None) -> dict:
    """The model's JSON for a submission that is not gradable code (``grader.model.invalid``)."""
    return result_model.invalid(problem, parts).to_json()
