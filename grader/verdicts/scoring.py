"""Partial credit inside one test: the ``grade`` fixture's ``Scorer``.

A test adds weighted checks; its fraction of the rubric points is the weight of the checks that
passed over the total. A call that fails outright (not implemented, crash, timeout) ends the test
with 0 and the reason. A call that changed an array it was given keeps its checks but costs the
test a share of what they earn (``INPUT_CHANGE_SHARE``). The pytest plugin turns a scorer with
failures into a failed test whose message is the diagnosis.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from grader import causes
from grader.isolation.worker import CallOutcome
from grader.verdicts import inputs
from grader.verdicts.checks import Verdict

MAX_PRINTED_CHARS = 1500
MAX_FAILURES_SHOWN = 3

INPUT_CHANGE_SHARE = 0.25
"""What changing an argument in place costs a test, as a share of what its checks earn.

A multiplier, not a check of its own: not changing the inputs is a property, and like every
property it earns nothing without right values (a check that always passed would give points to
code whose values are all wrong, and dilute every other check of the test). The values stay
the main thing graded, so right values keep 75 % of the test; but the change is a real bug, not
a style point: the worked solution's conventions forbid it, and in ``train_loop`` a ``forward``
that writes into its input destroys the training data it is handed as slices. A quarter is what
one of four equal checks of a test costs, and a test whose values are wrong anyway loses
nothing more for it (0 stays 0)."""


TYPE_SHARE = 0.1
"""What returning the right values in another type than the interface's costs a test (a list of
rows where a numpy array is expected: ``checks.compare_array`` grades the array it makes), as a
share of what its checks earn, once per test. Small, because the values are right and numpy
code downstream mostly accepts a list; not nothing, because ``.shape``, ``@`` and in-place
updates on it fail in the student's own later code."""


class GradeFailure(AssertionError):
    """A graded test lost points; the message says why."""


class NotGraded(Exception):
    """A test that cannot run where it is graded (the handout lacks what it needs): the row is
    "not run", 0 points, and the message says why; never the student's fault."""


class GraderError(Exception):
    """The grader itself went wrong (for example a graded test that made no check): never the
    student's fault, and never a pass."""


@dataclass
class Scorer:
    checks: list = field(default_factory=list)   # (weight, Verdict)
    notes: list = field(default_factory=list)
    aborted: str = ""
    printed: str = ""
    penalties: list = field(default_factory=list)  # messages: arguments changed in place
    type_penalties: list = field(default_factory=list)  # messages: values in another type
    aborted_cause: tuple = ()   # (id, text) of how the call that ended the test ended
    experiment: dict = field(default_factory=dict)
    """What an experiment test measured (curves, tables, figures as data URIs), computed by the
    grader; it goes to the test's ``extra_data.experiment`` in results.json, for the staff."""

    def require(self, outcome: CallOutcome, what: str, cause=None):
        """The value of a worker call, or end the test with 0 points saying why it failed. A
        call that changed an array it was given costs the test ``INPUT_CHANGE_SHARE``.
        ``cause``: the registered ``Cause`` the failure's text names, if the test knows one
        (recorded instead of how the call ended)."""
        self.notes.extend(outcome.notes)
        if outcome.output.strip():
            self.printed += outcome.output
        if outcome.ok:
            penalty = inputs.penalty_message(outcome, INPUT_CHANGE_SHARE)
            if penalty and penalty not in self.penalties:
                self.penalties.append(penalty)
            return outcome.value
        if outcome.not_implemented:
            self.aborted = f"{what}: not implemented ({outcome.error_message})"
        else:
            self.aborted = f"{what}: {outcome.failure_text()}"
        self.aborted_cause = ((causes.id_of(cause), str(cause)) if cause is not None
                              else ended_call(outcome))
        raise GradeFailure(self.message())

    def fail(self, message: str, cause=None):
        """End the test with 0 points for the reason ``message``; ``cause``: the registered
        ``Cause`` it names, if any."""
        self.aborted = message
        if cause is not None:
            self.aborted_cause = (causes.id_of(cause), str(cause))
        raise GradeFailure(self.message())

    def causes(self) -> list[tuple[str, str]]:
        """``[(cause id, its sentence here)]`` of what this test lost points for, in order, each
        once: how the call that ended it ended, else each failed check's named cause (or that
        it had none), then the habits that cost a share (inputs changed, another type)."""
        found = [self.aborted_cause] if self.aborted else []
        if not self.aborted:
            found += [(verdict.cause, verdict.cause_text or causes.sentence_of(verdict.cause))
                      if verdict.cause or verdict.cause_text
                      else (causes.CHECK_FAILED.id, str(causes.CHECK_FAILED))
                      for _, verdict in self.checks if not verdict.passed]
        if self.penalties:
            found.append((causes.INPUT_CHANGED.id, str(causes.INPUT_CHANGED)))
        if self.type_penalties:
            found.append((causes.OTHER_TYPE.id, str(causes.OTHER_TYPE)))
        unique = []
        for cause in found:
            if cause and cause not in unique:
                unique.append(cause)
        return unique

    def check_records(self) -> list[dict]:
        """Each check as plain data: weight, passed, message, and its cause's id and sentence."""
        return [{"weight": weight, "passed": bool(verdict.passed), "message": verdict.message,
                 "cause": verdict.cause, "cause_text": verdict.cause_text}
                for weight, verdict in self.checks]

    def check(self, verdict: Verdict, weight: float = 1.0) -> bool:
        self.checks.append((float(weight), verdict))
        self.notes.extend(verdict.notes)
        if verdict.type_penalty and verdict.type_penalty not in self.type_penalties:
            self.type_penalties.append(verdict.type_penalty)
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
        earned = sum(weight for weight, verdict in self.checks if verdict.passed) / total
        # One share per test, however many calls changed their inputs: the cost is of the habit.
        if self.penalties:
            earned *= 1.0 - INPUT_CHANGE_SHARE
        return earned * (1.0 - TYPE_SHARE) if self.type_penalties else earned

    @property
    def failed(self) -> bool:
        return (bool(self.aborted) or bool(self.penalties) or bool(self.type_penalties)
                or any(not verdict.passed for _, verdict in self.checks))

    def message(self) -> str:
        lines = [self.aborted] if self.aborted else []
        failures = [verdict.message for _, verdict in self.checks if not verdict.passed]
        lines += failures[:MAX_FAILURES_SHOWN]
        if len(failures) > MAX_FAILURES_SHOWN:
            lines.append(f"... and {len(failures) - MAX_FAILURES_SHOWN} more checks of this test "
                         "failed (fix the ones above first: they often share a cause)")
        lines += self.penalties   # always shown: no value check names them
        if self.type_penalties:   # one line: a habit, whatever the number of values
            more = len(self.type_penalties) - 1
            lines.append(self.type_penalties[0] + (f"; and {more} more values of this test"
                                                   if more else "")
                         + f" (costs {TYPE_SHARE:.0%} of this test)")
        if self.printed.strip() and self.failed:
            text = self.printed.strip()
            if len(text) > MAX_PRINTED_CHARS:
                text = text[:MAX_PRINTED_CHARS] + " [...]"
            lines.append("your code printed:\n" + text)
        return "\n".join(line for line in lines if line)


def ended_call(outcome: CallOutcome) -> tuple[str, str]:
    """``(cause id, sentence)`` of a call that did not return a value."""
    if outcome.not_implemented:
        return causes.NOT_IMPLEMENTED.id, str(causes.NOT_IMPLEMENTED)
    if outcome.timed_out:
        return causes.TIMED_OUT.id, str(causes.TIMED_OUT)
    if outcome.crashed:
        return causes.WORKER_DIED.id, str(causes.WORKER_DIED)
    return causes.RAISED.id, causes.RAISED.format(error_type=outcome.error_type or "an error")
