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
started then. A run that fails is reported by its own test, in its own part.

Runs started ahead go one after the other, in the session's one metered child (one core for
them, one for the rest of the grading): a second child would cost another interpreter and
torch's import (measured: 4.6 CPU s more for Part 4 with a child of its own). A run the grading
asks for meanwhile waits for the child (``lock``). One thread runs them all and lives as long
as the grading: the child dies with the thread that started it (``die_with_parent`` is the
kernel's parent-death signal, which follows the starting thread), so no thread may end while a
child it started can still be used.
"""
from __future__ import annotations

import hashlib
import queue
import threading

from grader.isolation import wire


def digest(kwargs: dict) -> str:
    """SHA-256 of ``kwargs`` in the wire format (arrays by their bytes, dtype and shape)."""
    return hashlib.sha256(wire.encode(kwargs)).hexdigest()


class AheadRun:
    """One run started ahead: ``runner.run(task, budget_s, **kwargs)``, run by ``AheadRuns``."""

    def __init__(self, task: str, kwargs: dict, budget_s: float):
        self.task = task
        self.digest = digest(kwargs)
        self._kwargs = kwargs
        self._budget_s = budget_s
        self._cancelled = threading.Event()
        self._started = threading.Event()
        self._finished = threading.Event()
        self.value = None
        self.error: BaseException | None = None
        self.cpu_used = 0.0

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def matches(self, kwargs: dict) -> bool:
        """Whether ``kwargs`` are the arguments this run was started with."""
        return digest(kwargs) == self.digest

    def execute(self, runner, lock: threading.Lock) -> None:
        from grader.networks import metered

        try:
            with lock:
                if self._cancelled.is_set():
                    raise metered.ChildFailed("the run was cancelled")
                if self._budget_s <= 0:
                    raise metered.BudgetSpent(0.0)
                self._started.set()
                try:
                    self.value = runner.run(self.task, self._budget_s, **self._kwargs)
                finally:
                    self.cpu_used = runner.cpu_used
        except BaseException as error:   # noqa: BLE001 - handed to the test that takes the run
            self.error = error
        finally:
            self._kwargs = None
            self._finished.set()

    def result(self) -> tuple:
        """``(value, error, cpu_used)`` once the run has ended (waits for it)."""
        self._finished.wait()
        return self.value, self.error, self.cpu_used


class AheadRuns:
    """The runs started ahead in one grading, run in the order started by one thread of their
    own, in ``runner``'s child, holding ``lock`` while each runs."""

    def __init__(self, runner, lock: threading.Lock):
        self._runner = runner
        self._lock = lock
        self._queue: queue.Queue = queue.Queue()
        self._pending: list[AheadRun] = []
        self._thread: threading.Thread | None = None

    def start(self, task: str, kwargs: dict, budget_s: float) -> AheadRun:
        run = AheadRun(task, kwargs, budget_s)
        self._pending.append(run)
        self._queue.put(run)
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="nngrade-ahead", daemon=True)
            self._thread.start()
        return run

    def _loop(self) -> None:
        while True:
            run = self._queue.get()
            if run is None:
                return
            run.execute(self._runner, self._lock)

    def cancel(self, run: AheadRun) -> None:
        """Stop ``run``: not started, it never starts; running, its child is killed."""
        run._cancelled.set()
        if run._started.is_set() and not run.done:
            self._runner.close()
        run._finished.wait(timeout=30)

    def close(self) -> None:
        """Stop every run and the thread (the end of the grading)."""
        for run in self._pending:
            run._cancelled.set()
        for run in self._pending:
            if run._started.is_set() and not run.done:
                self._runner.close()
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
