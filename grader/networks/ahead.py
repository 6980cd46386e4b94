"""A run of the grader's metered child started ahead of the test that needs it (issue 26).

The CNN parts' trainings are most of a full grading's time, and the grader used to run them
after the numpy parts, on one core. A test whose run can be described before it starts (the
captured network, the data, the seeds) has it started ahead, at the start of the grading, in a
metered child of its own (``grader/networks/metered.py``); the numpy parts are graded on the
other core meanwhile. The test then takes the result (``policy.Session.run_network_task``).

Nothing about the verdict changes: the run is the same function on the same arguments (the test
checks they are, by digest), metered the same way (CPU seconds of the child's process tree, a
SIGKILL past its budget), and charged to the part when the test takes it; a run that used more
than what the part has left at that moment is a spent budget, as it would have been had it
started then. A run that fails is reported by its own test, in its own part. Runs started ahead
go one after the other (one core for them, one for the rest of the grading).
"""
from __future__ import annotations

import hashlib
import threading

from grader.isolation import wire


def digest(kwargs: dict) -> str:
    """SHA-256 of ``kwargs`` in the wire format (arrays by their bytes, dtype and shape)."""
    return hashlib.sha256(wire.encode(kwargs)).hexdigest()


class AheadRun:
    """``metered.Runner().run(task, budget_s, **kwargs)`` in a thread of its own, in a child of
    its own; ``after``: a run to wait for before starting (runs ahead go one at a time)."""

    def __init__(self, task: str, kwargs: dict, budget_s: float, after: AheadRun | None = None):
        from grader.networks import metered

        self.task = task
        self.digest = digest(kwargs)
        self._kwargs = kwargs
        self._budget_s = budget_s
        self._after = after
        self._runner = metered.Runner()
        self._cancelled = threading.Event()
        self.value = None
        self.error: BaseException | None = None
        self.cpu_used = 0.0
        self._thread = threading.Thread(target=self._run, name=f"nngrade-ahead-{task}", daemon=True)
        self._thread.start()

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def matches(self, kwargs: dict) -> bool:
        """Whether ``kwargs`` are the arguments this run was started with."""
        return digest(kwargs) == self.digest

    def _run(self) -> None:
        from grader.networks import metered

        try:
            if self._after is not None:
                self._after._thread.join()
            if self._cancelled.is_set():
                raise metered.ChildFailed("the run was cancelled")
            if self._budget_s <= 0:
                raise metered.BudgetSpent(0.0)
            self.value = self._runner.run(self.task, self._budget_s, **self._kwargs)
        except BaseException as error:   # noqa: BLE001 - handed to the test that takes the run
            self.error = error
        finally:
            self.cpu_used = self._runner.cpu_used
            self._runner.close()
            self._kwargs = None

    def result(self) -> tuple:
        """``(value, error, cpu_used)`` once the run has ended (waits for it)."""
        self._thread.join()
        return self.value, self.error, self.cpu_used

    def close(self) -> None:
        """Stop the run (its child is killed) and wait for its thread."""
        self._cancelled.set()
        self._runner.close()
        self._thread.join(timeout=30)
