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

Runs started ahead go to lanes: a lane is one thread and one metered child, and runs one run at
a time, in the order started. A one-at-a-time grading has none; an interactive one has one lane
per core, up to two (``policy.Session.ahead_lanes``): the first lane is the session's own child
(a run the grading asks for meanwhile waits for it, ``lock``), a second one is a child of its own,
so that Part 4's two trainings run side by side. Each run stays single-threaded and is charged
its own CPU seconds, so its numbers and its verdict are those of a run one at a time; what a
second lane costs is one more interpreter and torch's import (measured before lanes: 4.6 CPU s
more for Part 4 with a child per run). Each lane's thread lives as long as the grading: the child
dies with the thread that started it (``die_with_parent`` is the kernel's parent-death signal,
which follows the starting thread), so no thread may end while a child it started can still be
used.
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


class _Lane:
    """One thread and one metered child, running the runs given to it in order."""

    def __init__(self, runner, lock: threading.Lock, owned: bool):
        self.runner, self.lock, self.owned = runner, lock, owned
        self.queue: queue.Queue = queue.Queue()
        self.runs: list[AheadRun] = []
        self.thread: threading.Thread | None = None

    def start(self, run: AheadRun) -> None:
        self.runs.append(run)
        self.queue.put(run)
        if self.thread is None:
            self.thread = threading.Thread(target=self._loop, name="nngrade-ahead", daemon=True)
            self.thread.start()

    def waiting(self) -> int:
        return sum(not run.done for run in self.runs)

    def _loop(self) -> None:
        while True:
            run = self.queue.get()
            if run is None:
                return
            run.execute(self.runner, self.lock)


class AheadRuns:
    """The runs started ahead in one grading, spread over ``lanes`` (``(runner, lock, owned)``:
    a metered child, the lock held while a run uses it, and whether closing the runs closes it)."""

    def __init__(self, lanes: list[tuple]):
        self._lanes = [_Lane(runner, lock, owned) for runner, lock, owned in lanes]
        self._placed: dict[int, _Lane] = {}

    def start(self, task: str, kwargs: dict, budget_s: float) -> AheadRun:
        """Start a run on the lane with the fewest unfinished runs (the first, on a tie)."""
        run = AheadRun(task, kwargs, budget_s)
        lane = min(self._lanes, key=_Lane.waiting)
        self._placed[id(run)] = lane
        lane.start(run)
        return run

    def cancel(self, run: AheadRun) -> None:
        """Stop ``run``: not started, it never starts; running, its child is killed."""
        run._cancelled.set()
        if run._started.is_set() and not run.done:
            self._placed[id(run)].runner.close()
        run._finished.wait(timeout=30)

    def close(self) -> None:
        """Stop every run, every lane's thread, and the children the lanes own (the end of the
        grading)."""
        for lane in self._lanes:
            for run in lane.runs:
                run._cancelled.set()
            if any(run._started.is_set() and not run.done for run in lane.runs):
                lane.runner.close()
        for lane in self._lanes:
            if lane.thread is not None:
                lane.queue.put(None)
                lane.thread.join(timeout=30)
            if lane.owned:
                lane.runner.close()
