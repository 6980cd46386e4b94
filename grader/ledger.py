"""The ledger of one grading run: a row for every rubric test of the selected parts.

The score is the ledger's sum, never the sum of what happened to run:

- When collection ends, every rubric row of the selected parts is entered as "not run" (0 of
  its points). Rows that pytest's own selection left out (``-k``, ``-m``, a file or test id)
  are "not selected"; such a run is *partial*, and says so.
- Each phase of a test fills its row: a setup error or a skip, the call's verdict, a teardown
  error.
- When the session ends, the rows still "not run" say why (the run stopped at a failure, was
  interrupted, or the grading process failed), and the run is partial.

So the maximum is always the rubric's total for the selected parts.
"""
from __future__ import annotations

from collections.abc import Iterable

from grader.outputs.report import ERROR, NOT_RUN, NOT_SELECTED, TestResult
from grader.rubric import RUBRIC, Row


class Ledger:
    """The rows of one run, in rubric order; ``partial`` says why the run is incomplete."""

    def __init__(self, rows: Iterable[Row], selected_tests: set[str], selection: str):
        """``rows``: the rubric rows of the selected parts; ``selected_tests``: the names of the
        tests that will run; ``selection``: what left the others out (e.g. "-k 'softmax'")."""
        self._rows: dict[str, TestResult] = {}
        self._filled: set[str] = set()     # rows some phase of their test has reported on
        self._reasons: list[str] = []
        left_out = 0
        for row in rows:
            if row.test in selected_tests:
                self._rows[row.test] = TestResult(row, 0.0, NOT_RUN, "the run ended before this test")
            else:
                left_out += 1
                self._rows[row.test] = TestResult(row, 0.0, NOT_SELECTED,
                                                  f"left out by this run's selection ({selection})")
        if left_out:
            self._reasons.append(f"{left_out} of the {len(self._rows)} tests of the selected parts "
                                 f"were not selected ({selection}); they count 0 and the maximum "
                                 "keeps their points")

    def __contains__(self, test: str) -> bool:
        return test in self._rows

    def fill(self, result: TestResult) -> None:
        """Enter the outcome of a phase of ``result.row``'s test."""
        if result.row.test not in self._rows:
            raise KeyError(f"{result.row.test} is not a selected row of this run")
        self._rows[result.row.test] = result
        self._filled.add(result.row.test)

    def filled(self, test: str) -> bool:
        """Whether some outcome was entered for ``test``'s row."""
        return test in self._filled

    def get(self, test: str) -> TestResult:
        return self._rows[test]

    def close(self, why: str) -> None:
        """End the run: the rows that never ran say ``why``, and the run is partial."""
        never_ran = [result for test, result in self._rows.items()
                     if result.status == NOT_RUN and test not in self._filled]
        for result in never_ran:
            result.message = why
        if never_ran:
            self._reasons.append(f"{len(never_ran)} tests did not run: {why}")

    @property
    def results(self) -> list[TestResult]:
        order = {row.test: index for index, row in enumerate(RUBRIC)}
        return sorted(self._rows.values(), key=lambda result: order[result.row.test])

    @property
    def partial(self) -> str:
        """Why this run does not grade every row of the selected parts ("" when it does)."""
        return "; ".join(self._reasons)

    @property
    def complete_and_full(self) -> bool:
        """Whether every row that was to run earned all its points (not-selected rows aside)."""
        return all(result.fraction == 1.0 and result.status != ERROR
                   for result in self._rows.values() if result.status != NOT_SELECTED)
