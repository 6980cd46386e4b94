"""Grade one submission in a fresh grading process, and many of them at once on this machine.

``grade_bytes`` is the unit of work of every engine. It takes the submission's bytes (so that it
runs unchanged on a Dask worker that shares no disk with the TA), writes them to a private
temporary folder, runs ``python -m grader grade`` there with a wall-clock cap, and returns an
``Outcome``: plain JSON data built from the grader's own results.json. Nothing the student's
process prints or returns is read here; the grading process is the grader's own.

Statuses follow ``records``: the grader's results.json says ``graded`` or ``could_not_grade``;
a grading process that wrote nothing, or that ran past the cap, is the machine's failure
(``NOT_GRADED``), never a 0 for the student. The grader's own per-call limits already bound what a
hanging or memory-hungry submission can cost (a hang loses the points of the tests it hangs in),
so a grading that outlives the cap points at an overloaded or broken machine.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass

from grader.batch.records import GRADED, NOT_GRADED
from grader.isolation.lifeline import die_with_parent
from grader.isolation.worker import SINGLE_THREAD_ENVIRONMENT

GRADING_CAP_S = 1200.0
"""Default wall-clock cap of one grading of the default parts (more for the opt-in ones: see
``default_cap_s``). The worked solution grades in about 35 s on one core; the cap is above
``tolerances.minimum_cap_s``, so a submission reaches its CPU budgets, its own verdict, long before
it, and only a machine that stalls reaches the cap."""


def default_cap_s(parts) -> float:
    """The wall-clock cap of a grading of ``parts`` ([]: the default parts) when none is given."""
    from grader import tolerances
    from grader.rubric import DEFAULT_PARTS

    return max(GRADING_CAP_S, tolerances.minimum_cap_s(parts or DEFAULT_PARTS))


def budget_options(parts, cap_s: float) -> list[str]:
    """``python -m grader grade`` options that fit the grading's CPU budgets under a cap of
    ``cap_s`` (none when they already fit)."""
    from grader import tolerances
    from grader.rubric import DEFAULT_PARTS

    scale = tolerances.budget_scale_for_cap(cap_s, parts or DEFAULT_PARTS)
    return [] if scale >= 1.0 else ["--budget-scale", f"{scale:.4g}"]

_OUTPUT_TAIL = 2000   # characters of a failed grading process's output kept in the reason

# Every grading runs single-threaded, with the variables the sandboxed worker already gets:
# parallel gradings must not oversubscribe the cores (torch with 2 threads slowed 12-47x when
# another process held a core).
SINGLE_THREAD = SINGLE_THREAD_ENVIRONMENT


@dataclass
class Outcome:
    """What one grading gave: ``status`` (GRADED or NOT_GRADED), ``reason`` (why not graded),
    ``results`` (the grader's results.json, None when not graded) and ``seconds`` (wall clock)."""
    status: str
    reason: str
    results: dict | None
    seconds: float

    def to_json(self) -> dict:
        return asdict(self)


def fingerprint(data: bytes, parts: list[str], grader: str) -> str:
    """SHA-256 of a submission's bytes, the parts graded and ``grader`` (the grader's own
    ``report.suite_hash()``): a result on disk with the same fingerprint is the result this
    grading would give again, so a re-run skips it; after a fix to the grader, it grades again."""
    digest = hashlib.sha256(data)
    digest.update(("\0parts:" + ",".join(parts) + "\0grader:" + grader).encode())
    return digest.hexdigest()


# Process groups of the gradings running in this process, so that an interrupted batch kills them.
_RUNNING: set[int] = set()
_RUNNING_LOCK = threading.Lock()


def kill_running() -> None:
    """SIGKILL every grading this process started that is still running (their whole groups)."""
    with _RUNNING_LOCK:
        groups = list(_RUNNING)
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def grade_bytes(data: bytes, *, parts: list[str], cap_s: float | None = None) -> dict:
    """Grade a solution.py given as ``data`` with ``python -m grader grade`` in a fresh process;
    return ``Outcome.to_json()``. ``parts``: the parts to grade ([] for all). ``cap_s``: the
    wall-clock cap (default ``default_cap_s``); a smaller one scales the CPU budgets to fit. Safe
    to call from any thread; the grading process and all it starts die with the calling thread."""
    started = time.monotonic()
    cap_s = cap_s or default_cap_s(parts)
    with tempfile.TemporaryDirectory(prefix="nngrade-batch-") as folder:
        submission = os.path.join(folder, "solution.py")
        results_path = os.path.join(folder, "results.json")
        log_path = os.path.join(folder, "grading.log")
        with open(submission, "wb") as handle:
            handle.write(data)
        command = [sys.executable, "-m", "grader", "grade", submission, "--results-json", results_path]
        if parts:
            command += ["--parts", ",".join(parts)]
        command += budget_options(parts, cap_s)
        environment = {**os.environ, **SINGLE_THREAD}
        try:
            with open(log_path, "wb") as log:
                process = subprocess.Popen(command, cwd=folder, env=environment, stdin=subprocess.DEVNULL,
                                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                           preexec_fn=die_with_parent())
                with _RUNNING_LOCK:
                    _RUNNING.add(process.pid)
                try:
                    process.wait(timeout=cap_s)
                except subprocess.TimeoutExpired:
                    _kill_group(process)
                    return Outcome(NOT_GRADED, f"the grading ran past its wall-clock cap of {cap_s:g} s; "
                                   "the grader's own limits stop a submission long before that, so "
                                   "the grading machine was likely overloaded; a re-run grades it",
                                   None, time.monotonic() - started).to_json()
                finally:
                    _kill_group(process)
        except OSError as error:
            return Outcome(NOT_GRADED, f"could not start the grading process: {error}", None,
                           time.monotonic() - started).to_json()
        seconds = time.monotonic() - started
        results = read_results(results_path)
        if results is None:
            return Outcome(NOT_GRADED, f"the grading process exited with code {process.returncode} "
                           f"without a results file; its last output: {_tail(log_path)}", None,
                           seconds).to_json()
        nngrade = (results.get("extra_data") or {}).get("nngrade") or {}
        if nngrade.get("status") != "graded" or "score" not in results:
            reason = nngrade.get("reason") or results.get("output") or "no reason given"
            return Outcome(NOT_GRADED, f"could not grade: {reason}", results, seconds).to_json()
        return Outcome(GRADED, "", results, seconds).to_json()


def _kill_group(process: subprocess.Popen) -> None:
    with _RUNNING_LOCK:
        _RUNNING.discard(process.pid)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass


def read_results(path) -> dict | None:
    """The results.json at ``path`` as a dict, or None when there is none or it is not JSON."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _tail(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - _OUTPUT_TAIL))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return "(no output)"
    return " ".join(text.split())[-_OUTPUT_TAIL:] or "(no output)"


@dataclass
class Job:
    """One grading to run: ``key`` names it (unique in the batch), ``data`` is the file's bytes."""
    key: str
    data: bytes
    parts: list[str]


def run_local(jobs: Iterable[Job], *, workers: int, cap_s: float,
              on_done: Callable[[Job, dict], None]) -> None:
    """Grade ``jobs`` with ``workers`` gradings at once on this machine; ``on_done(job, outcome)``
    is called in the calling thread as each finishes (so it can write files without locks).
    On KeyboardInterrupt, the running gradings are killed and the exception goes on."""
    pending = list(jobs)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="nngrade-grading") as pool:
        running = {pool.submit(grade_bytes, job.data, parts=job.parts, cap_s=cap_s): job
                   for job in pending}
        try:
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    job = running.pop(future)
                    on_done(job, future.result())
        except BaseException:
            for future in running:
                future.cancel()
            kill_running()
            raise
