"""A grading's result as typed data: grading -> parts -> tests -> checks, each with its causes.

This is the one result model. The grading session (``grader/session.py``) builds a ``Grading``
from its ledger and writes it as ``grading.json`` beside results.json (``grading_path``), with
``SCHEMA_VERSION``; a batch keeps it per student (``records.StudentRecord.grading``). Every
output is a rendering of it, and none reads prose back:

- the score table and Gradescope's results.json: ``grader/outputs/report.py``;
- feedback markdown and HTML, with the experiments' figures: ``grader/batch/feedback.py``;
- summary.html (grouped by cause id): ``grader/batch/summary.py``;
- the gradebook CSV and the nbgrader export: ``grader/batch/gradebook.py`` (part totals).

Statuses of a grading: ``graded``; ``incomplete`` (the grading process was stopped midway: the
tests that finished keep their scores, ``reason`` says why); ``could_not_grade`` (the
environment's fault: no score at all, ``reason``); ``invalid`` (not gradable code: every test
scores 0, ``reason`` says why, in words for the student).

Schema 1 (``to_json``; ``from_json`` reads it back):

    {"schema": 1, "status": str, "reason": str, "submission": str, "seconds": float,
     "score": float, "max_score": float,
     "notes": {"partial": str, "load_warning": str, "load_failure": str, "headline": str},
     "limits": {...}, "reproducibility": {...}, "sandbox": {...},
     "restarts": {"worker": int, "isolation": int}, "platform": {...},
     "parts": [{"name": str, "score": float, "max_score": float,
                "tests": [{"test": str, "part": str, "title": str, "points": float,
                           "hidden": bool, "status": str, "fraction": float, "score": float,
                           "message": str, "notes": [str], "details": str, "seconds": float,
                           "causes": [{"id": str, "text": str}],
                           "checks": [{"weight": float, "passed": bool, "message": str,
                                       "cause": str, "cause_text": str}],
                           "experiment": {...}}]}]}

``notes.headline`` is what the platform's runner says first (a misnamed file graded in place of
solution.py, a grading stopped by the platform); ``platform`` holds what that runner adds as
data (its stage, the grading's last output, memory kills).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from grader.rubric import PARTS, RUBRIC

SCHEMA_VERSION = 1

GRADED, INCOMPLETE, COULD_NOT_GRADE, INVALID = "graded", "incomplete", "could_not_grade", "invalid"

# A test's status (``TestRecord.status``). ``error`` is a fault of the grader itself (never the
# student's); ``not run`` and ``not selected`` rows earn nothing and their message says why;
# ``invalid``: the whole submission is not gradable code.
PASSED, FAILED, ERROR = "passed", "failed", "error"
NOT_RUN, NOT_SELECTED, TEST_INVALID = "not run", "not selected", "invalid"

_RUBRIC_INDEX = {row.test: index for index, row in enumerate(RUBRIC)}


@dataclass
class TestRecord:
    """One rubric row's result. ``fraction`` of ``points`` was earned (``score`` is it, rounded);
    ``message`` is the diagnosis for the student, ``details`` the staff's traceback of a grader
    error, ``causes`` the named causes of the points lost (``grader/causes.py``)."""
    test: str
    part: str
    title: str
    points: float
    hidden: bool
    status: str
    score: float
    fraction: float = 0.0
    message: str = ""
    notes: list = field(default_factory=list)
    causes: list = field(default_factory=list)
    checks: list = field(default_factory=list)
    experiment: dict = field(default_factory=dict)
    details: str = ""
    seconds: float = 0.0

    @property
    def full(self) -> bool:
        return self.fraction >= 1.0

    @property
    def lost(self) -> float:
        return max(0.0, self.points - self.score)

    @property
    def charged(self) -> bool:
        """Whether this test lost points for something in the submission (a grader error or a
        part left out of the run is not the student's doing)."""
        return self.lost > 1e-9 and self.status not in (NOT_SELECTED, ERROR)

    def cause_pairs(self) -> tuple:
        """``((cause id, sentence), ...)``."""
        return tuple((str(c.get("id") or ""), str(c.get("text") or "")) for c in self.causes
                     if isinstance(c, dict))


@dataclass
class PartRecord:
    name: str
    score: float
    max_score: float
    tests: list = field(default_factory=list)


@dataclass
class Grading:
    status: str
    submission: str
    score: float = 0.0
    max_score: float = 0.0
    reason: str = ""
    seconds: float = 0.0
    notes: dict = field(default_factory=dict)
    limits: dict = field(default_factory=dict)
    reproducibility: dict = field(default_factory=dict)
    sandbox: dict = field(default_factory=dict)
    restarts: dict = field(default_factory=dict)
    platform: dict = field(default_factory=dict)
    parts: list = field(default_factory=list)
    schema: int = SCHEMA_VERSION

    @property
    def scored(self) -> bool:
        """Whether this grading gives the student a score (graded or invalid, never could not
        grade nor a grading stopped midway)."""
        return self.status in (GRADED, INVALID)

    def tests(self) -> list[TestRecord]:
        """Every test, in the rubric's order (a part's hidden rows come after every visible row,
        as results.json lists them)."""
        found = [test for part in self.parts for test in part.tests]
        return sorted(found, key=lambda test: (_RUBRIC_INDEX.get(test.test, len(_RUBRIC_INDEX)),
                                               test.test))

    def tests_by_part(self) -> list[TestRecord]:
        """Every test, by part (in the order of ``PARTS``), then in the rubric's order: a part's
        hidden tests after its visible ones (as feedback shows them)."""
        def order(test: TestRecord) -> tuple:
            part = PARTS.index(test.part) if test.part in PARTS else len(PARTS)
            return part, _RUBRIC_INDEX.get(test.test, len(_RUBRIC_INDEX)), test.test

        return sorted(self.tests(), key=order)

    def part_totals(self) -> dict[str, tuple[float, float]]:
        """``{part: (score, max_score)}`` in the order of ``PARTS``."""
        return {part.name: (part.score, part.max_score) for part in self.parts}

    def note(self, name: str) -> str:
        return str(self.notes.get(name) or "")

    def to_json(self) -> dict:
        """The model as JSON data. Shallow (no copy of the values, which no one changes), because
        a grading writes it after every row: ``dataclasses.asdict`` deep-copied every check."""
        data = {"schema": self.schema}
        for name in (f.name for f in fields(self) if f.name != "schema"):
            data[name] = getattr(self, name)
        data["parts"] = [{"name": part.name, "score": part.score, "max_score": part.max_score,
                          "tests": [{f.name: getattr(test, f.name) for f in fields(TestRecord)}
                                    for test in part.tests]}
                         for part in self.parts]
        return data

    @classmethod
    def from_json(cls, data: dict) -> Grading:
        """The model ``to_json`` wrote. Raises ``ValueError`` for another schema or a shape that
        is not this model's."""
        if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"not a grading of schema {SCHEMA_VERSION}")
        try:
            parts = [PartRecord(part["name"], float(part["score"]), float(part["max_score"]),
                                [_known(TestRecord, test) for test in part.get("tests", [])])
                     for part in data.get("parts", [])]
            known = _known(cls, {**data, "parts": parts})
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a grading: {error}") from None
        return known


def _known(kind, data: dict):
    names = {f.name for f in fields(kind)}
    return kind(**{key: value for key, value in data.items() if key in names})


def totals_of(tests: list[TestRecord]) -> dict[str, tuple[float, float]]:
    """``{part: (earned, possible)}`` of ``tests`` in the order of ``PARTS``."""
    totals = {part: [0.0, 0.0] for part in PARTS}
    for test in tests:
        totals.setdefault(test.part, [0.0, 0.0])
        totals[test.part][0] += test.score
        totals[test.part][1] += test.points
    return {part: (round(e, 4), p) for part, (e, p) in totals.items() if p > 0}


def assemble(status: str, submission: str, tests: list[TestRecord], **fields_) -> Grading:
    """A grading of ``tests`` (in rubric order): the parts and totals are summed here."""
    totals = totals_of(tests)
    parts = {name: PartRecord(name, earned, possible) for name, (earned, possible) in totals.items()}
    for test in tests:
        parts[test.part].tests.append(test)
    return Grading(status, submission, round(sum(e for e, _ in totals.values()), 4),
                   sum(p for _, p in totals.values()), parts=list(parts.values()), **fields_)


def invalid(problem: str, parts: list[str] | None = None, submission: str = "") -> Grading:
    """A submission that is not gradable code: every rubric row of the selected parts (all parts
    when ``parts`` is empty) at 0, each saying ``problem``. The rows are the grader's (hidden
    ones included where this installation has them), so the maximum is a graded student's."""
    tests = [TestRecord(row.test, row.part, row.title, row.points, row.hidden, TEST_INVALID, 0.0,
                        message=f"scored 0: {problem}")
             for row in RUBRIC if not parts or row.part in parts]
    return assemble(INVALID, submission, tests, reason=problem)


def could_not_grade(reason: str, submission: str, *, reproducibility: dict | None = None,
                    platform: dict | None = None) -> Grading:
    """Nothing was scored: the grading environment's fault, never the student's."""
    return Grading(COULD_NOT_GRADE, submission, reason=reason,
                   reproducibility=reproducibility or {}, platform=platform or {})


def grading_path(results_json: Path) -> Path:
    """Where the model goes beside ``results_json``: ``grading.json`` in the same folder (for
    ``results.json``), else ``<stem>.grading.json``."""
    results_json = Path(results_json)
    name = "grading.json" if results_json.name == "results.json" else f"{results_json.stem}.grading.json"
    return results_json.with_name(name)


def write(path: Path, grading: Grading) -> None:
    """Write ``grading`` to ``path`` atomically, as compact JSON (written after every row of a
    grading: indented JSON goes through the json module's slow pure-Python encoder)."""
    import json

    from grader.outputs.artifacts import write_text_atomic

    write_text_atomic(path, json.dumps(grading.to_json(), separators=(",", ":")) + "\n")


def read(path) -> Grading | None:
    """The grading at ``path``, or None when there is none or it is not one."""
    import json
    try:
        with open(path, encoding="utf-8") as handle:
            return Grading.from_json(json.load(handle))
    except (OSError, ValueError):
        return None
