"""Limits and budgets: what a worker, one request, each part and the whole grading may spend.

``Limits`` are one worker process's resource limits and the grading's allowances; ``_Meter``
counts what one request spends, as the submission spent it (CPU seconds and idle seconds,
never the wall clock); ``Accounts`` adds each request's spending to the grading's accounts and
tells what a part, and the grading, may still spend. Deciding what to do once an allowance is
spent is the session's policy (``policy.Session``); the sentences are ``messages``'.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from grader.isolation import messages, sandbox

if TYPE_CHECKING:
    from grader.isolation.outcome import CallOutcome
    from grader.isolation.process import Worker


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker process (its whole life, across calls)."""

    # Every limit that decides points counts what the submission spent, never the wall clock,
    # so a busy machine changes no verdict (``_Meter``): CPU seconds, and idle seconds (waiting
    # without computing: sleeping, blocking reads; waiting for a busy CPU is not idle).
    call_timeout_s: float = 30.0             # CPU seconds of one call
    load_timeout_s: float = 60.0             # CPU seconds of importing the submission
    # One grading's allowance for calls that do not finish. Each timed-out call is charged its
    # whole CPU limit, and a submission that hangs in every method would otherwise cost some 70
    # tests x 30 s; once the charges reach ``hang_budget_s`` (default: 4 calls' worth), every
    # later call gets ``call_timeout_after_hangs_s`` of CPU. A correct call takes well under a
    # second, so tests that do not hang still pass; the hanging ones fail fast, with the reason.
    hang_budget_s: float | None = None       # default 4 x call_timeout_s
    call_timeout_after_hangs_s: float = 3.0
    # One grading's allowance for waiting without computing, all calls together (default: 2
    # calls' CPU limit), and one call's (default: its CPU limit). Once the grading's allowance
    # is spent, a call that waits longer than ``idle_after_budget_s`` is stopped: a submission
    # that sleeps in every call cannot stretch a grading past its platform's cap.
    idle_budget_s: float | None = None       # default 2 x call_timeout_s
    call_idle_s: float | None = None         # default call_timeout_s
    idle_after_budget_s: float = 0.25
    # Importing the submission imports torch (about 1.5 CPU s here), and the grader starts a
    # fresh worker whenever isolation needs one: a load's first seconds are the grader's cost,
    # and only what a load spends past them counts against the part's budget.
    load_free_cpu_s: float = 5.0
    # Importing reads torch's files: on a cold or busy disk the worker waits for them, which is
    # the machine's time, not the student's; only a load's idle time past this counts.
    load_free_idle_s: float = 5.0
    memory_bytes: int = 6 * 1024 ** 3       # in all: address space + /tmp + /dev/shm + folder
    tmp_bytes: int = 512 * 1024 ** 2         # the sandbox's /tmp (a tmpfs, so memory)
    shm_bytes: int = 64 * 1024 ** 2          # its /dev/shm (POSIX shared memory; a tmpfs)
    folder_bytes: int = 512 * 1024 ** 2      # the worker folder (a tmpfs under bubblewrap)
    cpu_seconds: int = 900
    file_size_bytes: int = 64 * 1024 ** 2
    open_files: int = 256
    processes: int = 64                      # processes + threads, where a private uid allows it
    output_bytes: int = 64 * 1024            # captured stdout + stderr kept per worker

    def __post_init__(self):
        # Frozen: the derived defaults are set once, here, so every record shows the values used.
        derived = {"hang_budget_s": 4 * self.call_timeout_s,
                   "idle_budget_s": 2 * self.call_timeout_s, "call_idle_s": self.call_timeout_s}
        for name, value in derived.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, float(value))

    def as_record(self) -> dict:
        return dict(self.__dict__)

    @property
    def address_space_bytes(self) -> int:
        """What the process itself may map: files in /tmp, /dev/shm and the folder use RAM
        (tmpfs) or disk that counts against the same total, ``memory_bytes``."""
        return self.memory_bytes - self.tmp_bytes - self.shm_bytes - self.folder_bytes

    def rlimits(self, private_uid: bool) -> dict:
        """``{RLIMIT_NAME: value}`` applied by the worker before it imports the submission."""
        limits = {"RLIMIT_AS": self.address_space_bytes, "RLIMIT_CPU": self.cpu_seconds,
                  "RLIMIT_FSIZE": self.file_size_bytes, "RLIMIT_NOFILE": self.open_files,
                  "RLIMIT_CORE": 0,
                  # No POSIX message queue: one outlives its process and, unlike a file or a
                  # System V object, cannot be listed to be removed between two warm workers.
                  "RLIMIT_MSGQUEUE": 0}
        if private_uid:  # counted per user: meaningless (or harmful) for a shared user id
            limits["RLIMIT_NPROC"] = self.processes
        return limits


class _OverBudget(TimeoutError):
    """A request passed one of its limits: ``kind`` is "cpu" or "idle"."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


class _Meter:
    """What one request may spend, counted as the submission spent it: CPU seconds of the
    worker's process tree, and idle seconds, the wall time in which none of the worker's
    threads was on a CPU or waiting in a run queue for one.

    A busy machine changes neither: CPU time is what the submission computed, and time spent
    runnable but waiting for a CPU is not idle (``sandbox.thread_busy_ns``). Idle time is what a
    submission that sleeps or blocks spends. The grader's own time is excused: the wall time it
    spent serving callbacks, and the CPU and run-queue time of its threads that talk to the
    worker (a worker waiting for a grader that a busy machine slowed is not idle).

    ``check`` runs on every turn of every loop that waits for the worker, whether or not data
    arrived (a worker that keeps the pipe busy must not escape it); it scans /proc (the CPU of
    the whole tree, descendants that left its process group included, and which processes the
    tree holds) at most every ``EVERY_S``. ``finish`` reads the known processes once more when
    the reply has arrived, so that a short request is metered too."""

    EVERY_S = 0.25

    def __init__(self, worker: Worker, cpu_seconds: float, idle_seconds: float,
                 folder_check: Callable[[], None] | None = None):
        self.worker = worker
        self.root_pid = worker.meter_root
        self.cpu_seconds, self.idle_seconds = cpu_seconds, idle_seconds
        self.folder_check = folder_check
        self.grader_threads = {threading.get_native_id(), *worker.sink_threads()}
        self.idle = 0.0
        self.excused = 0.0
        self.sending = False
        """Set while the request is being written: the worker is waiting for the grader."""
        now = time.monotonic()
        self.next_scan = now + self.EVERY_S
        self.cpu_at_start = sandbox.pids_cpu_seconds(worker.known_pids)
        self.cpu_used = 0.0
        self._last_wall = now
        self._last_grader = sandbox.own_threads_times_ns(self.grader_threads)
        worker.busy_seen = sandbox.thread_busy_ns(worker.known_pids)

    def next_wait(self) -> float:
        return max(0.0, min(self.EVERY_S, self.next_scan - time.monotonic()))

    def excuse(self, seconds: float) -> None:
        """Wall time the worker spent waiting for the grader (a callback being served)."""
        self.excused += seconds

    def _account(self, waited_on_grader: bool) -> None:
        """Add the idle time since the last reading. The grader's own time is excused where it
        may have kept the worker waiting: the CPU time of its threads that talk to the worker,
        and their waits for a CPU only when the worker was waiting on them
        (``waited_on_grader``: a request being written, a reply or output not yet read). A
        grader thread that waits for a CPU while the worker sleeps (waking to read the meter,
        or to read output the worker wrote before it slept) keeps no one waiting: on a busy
        machine those waits are long, and excusing them made a sleeping worker look less idle
        there than on a quiet one (a verdict of the load test differed)."""
        now = time.monotonic()
        busy = sandbox.thread_busy_ns(self.worker.known_pids)
        seen = self.worker.busy_seen
        worker_busy = sum(max(0, ns - seen.get(key, 0)) for key, ns in busy.items()) / 1e9
        self.worker.busy_seen = busy
        on_cpu, waiting = sandbox.own_threads_times_ns(self.grader_threads)
        grader_busy = (on_cpu - self._last_grader[0]
                       + (waiting - self._last_grader[1] if waited_on_grader else 0)) / 1e9
        self._last_grader = (on_cpu, waiting)
        wall, self._last_wall = now - self._last_wall, now
        self.idle += max(0.0, wall - worker_busy - grader_busy - self.excused)
        self.excused = 0.0

    def check(self) -> None:
        now = time.monotonic()
        if now < self.next_scan:
            return
        self.next_scan = now + self.EVERY_S
        used, pids = sandbox.tree_usage(self.root_pid, self.worker.not_metered)
        self.worker.known_pids = pids
        self.cpu_used = max(self.cpu_used, used - self.cpu_at_start)
        if self.cpu_used > self.cpu_seconds:
            raise _OverBudget("cpu")
        self._account(self.sending or self.worker.output_waiting())
        if self.idle > self.idle_seconds:
            raise _OverBudget("idle")
        if self.folder_check is not None:
            self.folder_check()

    def finish(self) -> None:
        """The last reading, when the reply has arrived: raises _OverBudget when the request
        passed a limit since the last scan (the verdict must not depend on when that was)."""
        self.cpu_used = max(self.cpu_used,
                            sandbox.pids_cpu_seconds(self.worker.known_pids) - self.cpu_at_start)
        self._account(True)   # the grader woke for the reply: its wait for a CPU delayed it
        if self.cpu_used > self.cpu_seconds:
            raise _OverBudget("cpu")
        if self.idle > self.idle_seconds:
            raise _OverBudget("idle")


class Accounts:
    """What one grading has spent, and what each part and the grading may still spend.

    Every request's CPU and idle seconds are charged here (``_charge``), as are the grader's own
    runs of what the student described (``begin_part_test``/``end_part_test``, and
    ``policy.Session.run_network_task``). The budgets (``tolerances.PART_CPU_BUDGET_S``; set by
    the plugin) are CPU seconds: what each part, and the grading, may spend, calls into the
    worker and the grader's own runs together. ``part`` is the part being graded now."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.hung_s = 0.0              # CPU limits of the calls that ran out of CPU time
        self.hangs = 0                 # how many calls ran out of CPU time
        self.hung_calls: set = set()   # (op, class, method) of the requests that timed out
        self.idle_s = 0.0              # idle seconds of all calls (see Limits, _Meter)
        self.waits = 0                 # how many calls were stopped for waiting too long
        self.waited_calls: set = set() # (op, class, method) of those
        self.cpu_s = 0.0               # CPU seconds of all requests, the loads included
        self.part = ""
        self.part_budgets: dict[str, float] = {}
        self.grading_budget_s = float("inf")
        self.spent_by_part: dict[str, float] = {}
        self._grader_cpu_since: float | None = None

    def begin_part_test(self, part: str, grader_runs_student_work: bool) -> None:
        """A test of ``part`` starts. ``grader_runs_student_work``: the grader's own CPU time
        during the test counts against the budget (it runs what the student described)."""
        self.part = part
        self._grader_cpu_since = time.process_time() if grader_runs_student_work else None

    def end_part_test(self) -> None:
        if self._grader_cpu_since is not None:
            self._spend(time.process_time() - self._grader_cpu_since)
        self._grader_cpu_since = None

    def _spend(self, seconds: float) -> None:
        self.spent_by_part[self.part] = self.spent_by_part.get(self.part, 0.0) + seconds

    def _budgets_left(self) -> tuple[float, float]:
        """CPU seconds the current part, and the grading, may still spend; the grader's own CPU
        time in the current test counts when it runs the student's work."""
        running = (time.process_time() - self._grader_cpu_since
                   if self._grader_cpu_since is not None else 0.0)
        part_left = self.part_budgets.get(self.part, float("inf")) \
            - self.spent_by_part.get(self.part, 0.0)
        grading_left = self.grading_budget_s - sum(self.spent_by_part.values())
        return part_left - running, grading_left - running

    def budget_left(self) -> float:
        """CPU seconds the current part may still spend (the grading's total included)."""
        return min(self._budgets_left())

    def budget_left_for(self, part: str) -> float:
        """CPU seconds ``part`` may still spend (the grading's total included), whichever part
        is being graded now."""
        part_left = self.part_budgets.get(part, float("inf")) - self.spent_by_part.get(part, 0.0)
        return min(part_left, self.grading_budget_s - sum(self.spent_by_part.values()))

    def budget_spent(self) -> str:
        """The sentence for the budget that binds now: the part's, or the grading's."""
        part_left, grading_left = self._budgets_left()
        if part_left <= grading_left:
            return messages.part_budget_spent(self.part,
                                              self.part_budgets.get(self.part, float("inf")))
        return messages.grading_budget_spent(self.grading_budget_s)

    def _idle_limit(self) -> tuple[float, str]:
        """The idle seconds the next request may spend, and why it is short once the grading's
        allowance is spent ("" while it is not)."""
        left = self.limits.idle_budget_s - self.idle_s
        if left > self.limits.idle_after_budget_s:
            return min(self.limits.call_idle_s, left), ""
        return 0.0, messages.idle_allowance_spent(self.limits.idle_budget_s)

    def _charge(self, outcome: CallOutcome, what: tuple, free_s: float = 0.0,
                free_idle_s: float = 0.0) -> None:
        """Add a request's CPU and idle time to the grading's accounts. A request stopped at a
        limit is charged that limit, not what was measured when it was stopped: the accounts,
        and so every later verdict, are the same on a quiet and on a busy machine."""
        spent = max(outcome.cpu_s, outcome.timeout_s if outcome.timed_out
                    and not outcome.idle_out else 0.0)
        self.cpu_s += spent
        self._spend(max(0.0, spent - free_s))
        if outcome.timed_out and outcome.idle_out:
            self.waits += 1
            self.idle_s += outcome.timeout_s
            self.waited_calls.add(what)
        else:
            self.idle_s += max(0.0, outcome.idle_s - free_idle_s)
            if outcome.timed_out and not outcome.budget_out:
                self.hangs += 1
                self.hung_s += outcome.timeout_s
                self.hung_calls.add(what)
