"""Partial credit inside one test: the ``grade`` fixture's ``Scorer``.

A test adds weighted checks; its fraction of the rubric points is the weight of the checks that
passed over the total. A call that fails outright (not implemented, crash, timeout) ends the test
with 0 and the reason. The pytest plugin turns a scorer with failures into a failed test whose
message is the diagnosis.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from grader.verdicts.checks import Verdict
from grader.isolation.worker import CallOutcome

MAX_PRINTED_CHARS = 1500
MAX_FAILURES_SHOWN = 3


class GradeFailure(AssertionError):
    """A graded test lost points; the message says why."""


class GraderError(Exception):
    """The grader itself went wrong (for example a graded test that made no check): never the
    student's fault, and never a pass."""


@dataclass
class Scorer:
    checks: list = field(default_factory=list)   # (weight, Verdict)
    notes: list = field(default_factory=list)
    aborted: str = ""
    printed: str = ""

    def require(self, outcome: CallOutcome, what: str):
        """The value of a worker call, or end the test with 0 points saying why it failed."""
        self.notes.extend(outcome.notes)
        if outcome.output.strip():
            self.printed += outcome.output
        if outcome.ok:
            return outcome.value
        if outcome.not_implemented:
            self.aborted = f"{what}: not implemented ({outcome.error_message})"
        else:
            self.aborted = f"{what}: {outcome.failure_text()}"
        raise GradeFailure(self.message())

    def fail(self, message: str):
        """End the test with 0 points for the reason ``message``."""
        self.aborted = message
        raise GradeFailure(self.message())

    def check(self, verdict: Verdict, weight: float = 1.0) -> bool:
        self.checks.append((float(weight), verdict))
        self.notes.extend(verdict.notes)
        return verdict.passed

    def expect(self, condition: bool, message: str, weight: float = 1.0) -> bool:
        return self.check(Verdict(bool(condition), "" if condition else message), weight)

    @property
    def decided(self) -> bool:
        """Whether the test reached a verdict: a failed call, or checks of positive weight."""
        return bool(self.aborted) or sum(weight for weight, _ in self.checks) > 0

    @property
    def fraction(self) -> float:
        if self.aborted:
            return 0.0
        if not self.decided:
            raise GraderError("a graded test made no check")  # a grader bug, never a student's
        total = sum(weight for weight, _ in self.checks)
        return sum(weight for weight, verdict in self.checks if verdict.passed) / total

    @property
    def failed(self) -> bool:
        return bool(self.aborted) or any(not verdict.passed for _, verdict in self.checks)

    def message(self) -> str:
        lines = [self.aborted] if self.aborted else []
        failures = [verdict.message for _, verdict in self.checks if not verdict.passed]
        lines += failures[:MAX_FAILURES_SHOWN]
        if len(failures) > MAX_FAILURES_SHOWN:
            lines.append(f"... and {len(failures) - MAX_FAILURES_SHOWN} more checks of this test "
                         "failed (fix the ones above first: they often share a cause)")
        if self.printed.strip() and self.failed:
            text = self.printed.strip()
            if len(text) > MAX_PRINTED_CHARS:
                text = text[:MAX_PRINTED_CHARS] + " [...]"
            lines.append("your code printed:\n" + text)
        return "\n".join(line for line in lines if line)
