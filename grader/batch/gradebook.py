"""``grades.csv``: one row per student: who (``student``, the batch's file-safe id; ``name``,
``sid`` and ``email`` where the layout has them), the total, the maximum, one column per part,
the ``status`` and the ``notes`` (``StudentRecord.notes``: what a TA should know beyond the score).

Written through ``grader/outputs/spreadsheet.py`` (no cell a student controls can run as a
formula; names with commas or quotes stay one field) and atomically, and deterministic: the same
records give the same bytes, whichever engine graded them, so nothing in it depends on timing or
order of completion.
"""
from __future__ import annotations

from pathlib import Path

from grader.batch.records import GRADED, INVALID, NOT_GRADED, StudentRecord
from grader.outputs import spreadsheet
from grader.outputs.report import write_text_atomic
from grader.rubric import PARTS


def status_text(record: StudentRecord) -> str:
    """The ``status`` column: ``graded``, ``invalid: why`` or ``not graded: why``, on one line."""
    status = {GRADED: "graded", INVALID: f"invalid: {record.reason}",
              NOT_GRADED: f"not graded: {record.reason}"}[record.status]
    return " ".join(status.split())


def grades_csv(records: list[StudentRecord], parts: list[str],
               scores: dict[str, dict[str, tuple[float, float]]] | None = None) -> str:
    """The gradebook's text: columns ``student, name, sid, email, total, max``, one per part of
    ``parts`` (rubric order), then ``status`` (``graded``, ``invalid: why``, ``not graded: why``)
    and ``notes`` (joined with "; "). A student who was not graded has empty scores, never 0.

    ``scores``: ``{student: {part: (score, maximum)}}`` that replace the records' own (nbgrader's
    gradebook, where a TA's manual grade overrides the autograder's); total and max are then
    their sums over ``parts``."""
    columns = [part for part in PARTS if part in parts]
    rows = []
    for record in sorted(records, key=lambda r: r.student):
        graded = record.status != NOT_GRADED
        given = (scores or {}).get(record.student)
        part_scores = given if given is not None else record.part_scores() if graded else {}
        if given is not None and graded:
            total = sum(part_scores[p][0] for p in columns if p in part_scores)
            maximum = sum(part_scores[p][1] for p in columns if p in part_scores)
        else:
            total, maximum = record.score, record.max_score if graded else None
        rows.append([record.student, record.name, record.sid, record.email,
                     total if graded else None, maximum,
                     *(part_scores[p][0] if graded and p in part_scores else None for p in columns),
                     status_text(record), "; ".join(record.notes())])
    return spreadsheet.csv_text(["student", "name", "sid", "email", "total", "max", *columns,
                                 "status", "notes"], rows)


def write_grades_csv(path: Path, records: list[StudentRecord], parts: list[str]) -> None:
    write_text_atomic(path, grades_csv(records, parts))
