"""What a batch keeps of one student, and the statuses a student can end a batch with.

A ``StudentRecord`` is plain data (it round-trips through JSON): the runner makes one per
student, the gradebook, feedback and class report read them, and nothing in it comes from the
student's process except through the grader's own results.json.

Statuses:

- ``GRADED``: the grader ran; ``results`` is its Gradescope results.json (score may be 0);
- ``INVALID``: the submission is not gradable code (no solution.py, an empty, binary or
  notebook file, two candidates); it scores 0 and ``reason`` says why, in words for the student;
- ``NOT_GRADED``: the grading machine failed (sandbox, grader's own imports, disk, the wall-clock
  cap of a grading that was not the student's doing); no score at all, ``reason`` says why, and a
  re-run grades the student again.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from grader.outputs.report import OUTPUT_FORMAT
from grader.rubric import PARTS, RUBRIC

GRADED, INVALID, NOT_GRADED = "graded", "invalid", "not_graded"


@dataclass
class StudentRecord:
    student: str                 # file-safe id, unique in the batch: results/<student>.json
    name: str = ""               # display name(s), e.g. "Ada Lovelace <ada@example.edu>"
    status: str = NOT_GRADED     # GRADED, INVALID or NOT_GRADED
    reason: str = ""             # why INVALID or NOT_GRADED ("" when GRADED)
    results: dict | None = None  # Gradescope results.json (GRADED, INVALID); None when NOT_GRADED
    seconds: float = 0.0         # wall-clock time of this student's grading
    sha256: str = ""             # of the submission's bytes ("" when there is no file)
    source: str = ""             # the graded file, relative to the submissions folder
    parts: list = field(default_factory=list)   # the parts this grading selected ([] = all)

    @property
    def score(self) -> float | None:
        """The total, or None when there is none (not graded)."""
        if self.status == NOT_GRADED or not self.results or "score" not in self.results:
            return None
        return float(self.results["score"])

    @property
    def max_score(self) -> float | None:
        if not self.results or "max_score" not in self.results:
            return None
        return float(self.results["max_score"])

    def part_scores(self) -> dict[str, tuple[float, float]]:
        """``{part: (score, max_score)}`` from the results' tests, in rubric order."""
        totals: dict[str, list[float]] = {}
        for test in (self.results or {}).get("tests", []):
            part = (test.get("extra_data") or {}).get("part") or (test.get("tags") or [""])[0]
            entry = totals.setdefault(part, [0.0, 0.0])
            entry[0] += float(test.get("score", 0.0))
            entry[1] += float(test.get("max_score", 0.0))
        return {p: (round(totals[p][0], 4), totals[p][1]) for p in PARTS if p in totals}

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> StudentRecord:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def invalid_results(problem: str, parts: list[str] | None = None) -> dict:
    """Gradescope results.json for a submission that is not gradable code: every rubric row of
    the selected parts (all parts when ``parts`` is empty) at 0, each saying ``problem``. The
    rows are the grader's (hidden ones included where this installation has them), so the
    maximum is the same as a graded student's."""
    rows = [row for row in RUBRIC if not parts or row.part in parts]
    output = f"scored 0: {problem}"
    tests = [{"name": f"{row.part}: {row.title} ({row.test})", "number": str(number),
              "score": 0.0, "max_score": row.points, "status": "failed", "output": output,
              "output_format": OUTPUT_FORMAT, "tags": [row.part],
              "visibility": "after_published" if row.hidden else "visible",
              "extra_data": {"test": row.test, "part": row.part, "status": "invalid"}}
             for number, row in enumerate(rows, start=1)]
    return {"score": 0.0, "max_score": sum(row.points for row in rows), "execution_time": 0.0,
            "output": f"This submission scored 0. {problem}", "output_format": OUTPUT_FORMAT,
            "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests,
            "extra_data": {"nngrade": {"status": "invalid", "reason": problem}}}
