"""Grade-import files for the learning management systems TAs upload to (``--export``).

Each format is written as its LMS documents its own CSV import, so that a TA uploads the file
as it is, with no column to rename:

- ``canvas``: Canvas's Gradebook import (Grades > Import). The first five columns identify the
  student: ``Student`` (the name), ``ID`` (Canvas's own user id), ``SIS User ID``, ``SIS Login
  ID`` and ``Section``; every further column is an assignment, by its name (a name that Canvas
  does not know makes a new assignment; ``Name (1234)`` updates assignment 1234). A second row
  whose first cell is ``Points Possible`` gives each assignment's maximum. Canvas matches a row
  to a student by ``ID``, ``SIS User ID`` or ``SIS Login ID``: nngrade never knows Canvas's
  ``ID``, so it writes the layout's student id (Gradescope's SID, nbgrader's student id; the
  folder's name where the layout has neither a SID nor an email) as the SIS User ID and the
  email, where the layout has one, as the SIS Login ID.
- ``moodle``: Moodle's "Import grades from CSV file". Any columns; on import the teacher maps
  one column to the user (``ID number`` or ``Email address`` here) and the others to grade
  items and their feedback. nngrade writes ``ID number``, ``Email address``, ``Full name``, the
  grade column and a ``Feedback`` column (the score, the parts that lost points, the notes).

A student who was not graded (the machine's fault) is left out of both: an import leaves their
grade as it is, where an empty or 0 cell would replace it. The title of the grade column is the
assignment's (``--lms-column``, default ``nngrade``).
"""
from __future__ import annotations

from pathlib import Path

from grader.batch.records import NOT_GRADED, StudentRecord
from grader.outputs import spreadsheet
from grader.outputs.report import write_text_atomic

FORMATS = ("canvas", "moodle")
DEFAULT_COLUMN = "nngrade"

CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_POSSIBLE = "Points Possible"
MOODLE_IDENTITY = ["ID number", "Email address", "Full name"]
MOODLE_FEEDBACK = "Feedback"


class ExportError(ValueError):
    """An ``--export`` that names no known format."""


def parse_formats(text: str) -> list[str]:
    """``"canvas,moodle"`` -> ``["canvas", "moodle"]``; raises ExportError naming the unknown."""
    names = [name.strip().lower() for name in (text or "").split(",") if name.strip()]
    unknown = [name for name in names if name not in FORMATS]
    if unknown:
        raise ExportError(f"--export {', '.join(unknown)}: the formats are {', '.join(FORMATS)}")
    return list(dict.fromkeys(names))


Scores = dict[str, dict[str, tuple[float, float]]]
"""``{student: {part: (score, maximum)}}`` that replace the records' own (nbgrader's gradebook,
where a TA's manual grade overrides the autograder's), as in ``gradebook.grades_csv``."""


def _graded(records: list[StudentRecord], scores: Scores | None) -> list[tuple[StudentRecord, dict]]:
    """The graded records, by student, each with its part scores (``{part: (score, max)}``)."""
    chosen = []
    for record in sorted(records, key=lambda r: r.student):
        if record.status == NOT_GRADED or record.score is None:
            continue
        given = (scores or {}).get(record.student)
        chosen.append((record, given if given is not None else record.part_scores()))
    return chosen


def _total(parts: dict) -> tuple[float, float]:
    return sum(score for score, _ in parts.values()), sum(top for _, top in parts.values())


def canvas_csv(records: list[StudentRecord], column: str = DEFAULT_COLUMN,
               scores: Scores | None = None) -> str:
    """Canvas's gradebook import of ``records``' totals (see the module's docstring)."""
    graded = _graded(records, scores)
    maxima = [_total(parts)[1] for _, parts in graded]
    rows = [[CANVAS_POINTS_POSSIBLE, "", "", "", "", max(maxima) if maxima else None]]
    rows += [[r.name or r.student, "", user_id(r), r.email, "", _total(parts)[0]]
             for r, parts in graded]
    return spreadsheet.csv_text([*CANVAS_IDENTITY, column], rows)


def user_id(record: StudentRecord) -> str:
    """The id an LMS matches a row on: the layout's SID; none where the layout gave an email
    but no SID (the email matches then: nngrade's own id, made from the email or the name, could
    be another student's SID); the folder's name in a layout with neither."""
    return record.sid or ("" if record.email else record.student)


def feedback_line(record: StudentRecord, parts: dict | None = None) -> str:
    """One line for an LMS's feedback cell: the score, the parts that lost points, the notes
    (``parts``: the part scores to report, default the record's)."""
    parts = record.part_scores() if parts is None else parts
    total, top = _total(parts)
    text = f"nngrade: {spreadsheet.number_cell(total)}/{spreadsheet.number_cell(top)}"
    lost = [f"{part} {spreadsheet.number_cell(score)}/{spreadsheet.number_cell(maximum)}"
            for part, (score, maximum) in parts.items() if score < maximum]
    if lost:
        text += "; points lost in " + ", ".join(lost)
    notes = record.notes()
    if notes:
        text += "; " + "; ".join(notes)
    return text


def moodle_csv(records: list[StudentRecord], column: str = DEFAULT_COLUMN,
               scores: Scores | None = None) -> str:
    """Moodle's grade import of ``records``' totals and feedback (see the module's docstring)."""
    rows = [[user_id(r), r.email, r.name or r.student, _total(parts)[0],
             feedback_line(r, parts)] for r, parts in _graded(records, scores)]
    return spreadsheet.csv_text([*MOODLE_IDENTITY, column, MOODLE_FEEDBACK], rows)


WRITERS = {"canvas": canvas_csv, "moodle": moodle_csv}


def write_exports(out: Path, records: list[StudentRecord], formats: list[str],
                  column: str = DEFAULT_COLUMN, scores: Scores | None = None) -> list[Path]:
    """Write ``OUT/<format>.csv`` for each of ``formats`` (atomically); return their paths."""
    written = []
    for name in formats:
        path = out / f"{name}.csv"
        write_text_atomic(path, WRITERS[name](records, column or DEFAULT_COLUMN, scores))
        written.append(path)
    return written
