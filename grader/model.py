"""A grading's result as typed data: grading -> parts -> tests -> checks, each with its causes.

The grading session (``grader/session.py``) builds one ``Grading`` when it finishes and writes it
as ``grading.json`` beside results.json (``grading_path``), with ``SCHEMA_VERSION``. Gradescope's
results.json is a rendering of the same rows for one platform, mostly prose; this file is what a
program reads: every failed check's cause as a registry id (``grader/causes.py``), the notes,
the limits and the reproducibility block.

Schema 1:

    {"schema": 1, "status": "graded" | "could_not_grade", "reason": str (could_not_grade),
     "submission": str, "score": float, "max_score": float,
     "notes": {"partial": str, "load_warning": str, "load_failure": str},
     "limits": {...}, "reproducibility": {...}, "sandbox": {...},
     "parts": [{"name": str, "score": float, "max_score": float,
                "tests": [{"test": str, "title": str, "points": float, "hidden": bool,
                           "status": str, "score": float, "message": str, "notes": [str],
                           "causes": [{"id": str, "text": str}],
                           "checks": [{"weight": float, "passed": bool, "message": str,
                                       "cause": str, "cause_text": str}],
                           "experiment": {...}}]}]}
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.outputs import report

SCHEMA_VERSION = 1


@dataclass
class TestRecord:
    test: str
    title: str
    points: float
    hidden: bool
    status: str
    score: float
    message: str
    notes: list = field(default_factory=list)
    causes: list = field(default_factory=list)
    checks: list = field(default_factory=list)
    experiment: dict = field(default_factory=dict)


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
    notes: dict = field(default_factory=dict)
    limits: dict = field(default_factory=dict)
    reproducibility: dict = field(default_factory=dict)
    sandbox: dict = field(default_factory=dict)
    parts: list = field(default_factory=list)
    schema: int = SCHEMA_VERSION

    def to_json(self) -> dict:
        return {"schema": self.schema, **{k: v for k, v in asdict(self).items() if k != "schema"}}


def graded(results: list[report.TestResult], *, submission: str, notes: dict, limits: dict,
           extra: dict) -> Grading:
    """The model of a finished grading, from the ledger's rows."""
    totals = report.part_totals(results)
    parts = {name: PartRecord(name, earned, possible) for name, (earned, possible) in totals.items()}
    for result in results:
        parts[result.row.part].tests.append(TestRecord(
            test=result.row.test, title=result.row.title, points=result.row.points,
            hidden=result.row.hidden, status=result.status, score=result.score,
            message=result.message, notes=list(result.notes),
            causes=result.cause_records(),
            checks=list(result.checks), experiment=result.experiment))
    return Grading("graded", submission, round(sum(e for e, _ in totals.values()), 4),
                   sum(p for _, p in totals.values()), notes=notes, limits=limits,
                   reproducibility=extra.get("reproducibility", {}),
                   sandbox=extra.get("sandbox", {}), parts=list(parts.values()))


def grading_path(results_json: Path) -> Path:
    """Where the model goes beside ``results_json``: ``grading.json`` in the same folder (for
    ``results.json``), else ``<stem>.grading.json``."""
    results_json = Path(results_json)
    name = "grading.json" if results_json.name == "results.json" else f"{results_json.stem}.grading.json"
    return results_json.with_name(name)
