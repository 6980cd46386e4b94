"""pytest items made from the rubric, for the student's ``pytest grader``.

``grader/test_rubric.py`` is the one test module of ``pytest grader``:
``globals().update(items_of())`` gives it one pytest test per rubric row (a row ``name[case]``
becomes a case of a parametrized ``name``), so a part added to the rubric has its items with no
file of its own. Their bodies never run: the plugin (``grader/plugin.py``) grades each item
through the grading session, which calls the part's procedure, and reports the session's
verdict as the item's outcome. So pytest's selection (``-k``, a file, a test id) still chooses
what is graded, and there is one place where a test is graded, with or without pytest.
"""
from __future__ import annotations

import pytest

from grader.rubric import RUBRIC


def _not_loaded(name: str):
    raise RuntimeError(f"{name} is graded by nngrade's pytest plugin (grader/plugin.py), which "
                       "this run did not load")


def _item(name: str, cases: list[str]):
    if cases:
        def graded(case):
            _not_loaded(name)
    else:
        def graded():
            _not_loaded(name)
    graded.__name__ = graded.__qualname__ = name
    graded.nngrade_graded = True
    if cases:
        return pytest.mark.parametrize("case", cases, ids=cases)(graded)
    return graded


def items_of(part: str | None = None) -> dict:
    """``{test name: pytest test}`` for the rubric rows of ``part`` (default: every row, the
    hidden ones included where the hidden tests are present)."""
    grouped: dict[str, list[str]] = {}
    for row in RUBRIC:
        if part is not None and row.part != part:
            continue
        base, _, case = row.test.partition("[")
        grouped.setdefault(base, [])
        if case:
            grouped[base].append(case[:-1])
    return {base: _item(base, cases) for base, cases in grouped.items()}
