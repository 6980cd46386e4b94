"""``grades.csv``: one row per student, the total, the maximum, then one column per part.

Written with the csv module (names with commas or quotes stay one field) and atomically, and
deterministic: the same records give the same bytes, whichever engine graded them, so nothing
in it depends on timing or order of completion.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from grader.batch.records import GRADED, INVALID, NOT_GRADED, StudentRecord
from grader.outputs.report import write_text_atomic
from grader.rubric import PARTS


def _number(value: float | None) -> str:
    """A score as the gradebook shows it: ``12``, ``7.5``, ``3.1667``; "" for none."""
    if value is None:
        return ""
    text = f"{round(float(value), 4):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def status_text(record: StudentRecord) -> str:
    """The ``status`` column: ``graded``, ``invalid: why`` or ``not graded: why``, on one line."""
    status = {GRADED: "graded", INVALID: f"invalid: {record.reason}",
              NOT_GRADED: f"not graded: {record.reason}"}[record.status]
    return " ".join(status.split())


def grades_csv(records: list[StudentRecord], parts: list[str]) -> str:
    """The gradebook's text: columns ``student, name, total, max``, one per part of ``parts``
    (rubric order), then ``status`` (``graded``, ``invalid: why``, ``not graded: why``). A
    student who was not graded has empty scores, never 0."""
    columns = [part for part in PARTS if part in parts]
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["student", "name", "total", "max", *columns, "status"])
    for record in sorted(records, key=lambda r: r.student):
        scores = record.part_scores() if record.status != NOT_GRADED else {}
        writer.writerow([record.student, record.name, _number(record.score),
                         _number(record.max_score if record.status != NOT_GRADED else None),
                         *(_number(scores[p][0]) if p in scores else "" for p in columns),
                         status_text(record)])
    return stream.getvalue()


def write_grades_csv(path: Path, records: list[StudentRecord], parts: list[str]) -> None:
    write_text_atomic(path, grades_csv(records, parts))
