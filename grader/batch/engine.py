"""Grade one submission in a grading process, and many of them at once on this machine.

``grade_bytes`` is the unit of work of every engine. It takes the submission's bytes (so that it
runs unchanged on a Dask worker that shares no disk with the TA), writes them to a private
temporary folder, has the calling thread's grading server grade them there with a wall-clock cap,
and returns an ``Outcome``: plain JSON data, the grader's own result model (``grader/model.py``,
written beside its results.json). Nothing the
student's process prints or returns is read here; the grading process is the grader's own.

The grading server (``GradingServer``, the client of ``grader.batch.grading_process``, whose
docstring is the protocol: one JSON request per line, one JSON reply per line) is one long-lived
grading process per engine thread (a thread of ``run_local``, a Dask worker's thread), so that
the interpreter and the imports of torch, numpy and the grader (about 3 s) are paid once per
server rather than once per submission. Each submission still gets a fresh sandboxed worker, and
its own results.json and log. A server is replaced (a fresh process for the next submission)
after a grading that did not end normally (the cap, a death, a reply that is not the
protocol's, exit code 2, something left behind), after ``SERVER_GRADINGS`` gradings, and when
the environment it was started with has changed.

Statuses follow ``records``: the grader's model says ``graded`` or ``could_not_grade``;
a grading process that wrote nothing, that died or broke its protocol, or that ran past the cap,
is the machine's failure (``NOT_GRADED``), never a 0 for the student. The grader's own per-call
limits already bound what a hanging or memory-hungry submission can cost (a hang loses the points
of the tests it hangs in), so a grading that outlives the cap points at an overloaded or broken
machine.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass

from grader import model
from grader.batch.records import GRADED, NOT_GRADED
from grader.isolation.lifeline import die_with_parent, kill_group
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


def budget_scale(parts, cap_s: float) -> float:
    """The scale of the grading's CPU budgets that fits them under a cap of ``cap_s`` (1.0 when
    they already fit; 4 significant digits, as ``--budget-scale`` was given before)."""
    from grader import tolerances
    from grader.rubric import DEFAULT_PARTS

    scale = tolerances.budget_scale_for_cap(cap_s, parts or DEFAULT_PARTS)
    return 1.0 if scale >= 1.0 else float(f"{scale:.4g}")


def budget_options(parts, cap_s: float) -> list[str]:
    """``python -m grader grade`` options that fit the grading's CPU budgets under a cap of
    ``cap_s`` (none when they already fit)."""
    scale = budget_scale(parts, cap_s)
    return [] if scale == 1.0 else ["--budget-scale", f"{scale:.4g}"]

_OUTPUT_TAIL = 2000   # characters of a failed grading process's output kept in the reason

# Every grading runs single-threaded, with the variables the sandboxed worker already gets:
# parallel gradings must not oversubscribe the cores (torch with 2 threads slowed 12-47x when
# another process held a core).
SINGLE_THREAD = SINGLE_THREAD_ENVIRONMENT


@dataclass
class Outcome:
    """What one grading gave: ``status`` (GRADED or NOT_GRADED), ``reason`` (why not graded),
    ``grading`` (the grader's result model as JSON, ``grader/model.py``; None when there is
    none) and ``seconds`` (wall clock)."""
    status: str
    reason: str
    grading: dict | None
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


# Process groups of the grading processes running in this process, so that an interrupted batch
# kills them, and the servers themselves (``close_servers``).
_RUNNING: set[int] = set()
_SERVERS: set[GradingServer] = set()
_RUNNING_LOCK = threading.Lock()
_THREAD = threading.local()   # .server: this thread's GradingServer

SERVER_GRADINGS = 50
"""A grading server is replaced after this many gradings, which bounds what it can accumulate
(memory, caches); a fresh one costs one process start (about 3 s)."""

SERVER_IDLE_S = 240.0
"""A server idle for longer is not used again, but replaced: it exits on its own a minute later
(``grading_process --idle-exit``), and must not be doing so while it is handed a submission."""

_REPLY_BYTES = 64 * 1024   # the longest reply line a server may write

_PROTOCOL_FAULT = "could not grade: the grading process broke its protocol"


def kill_running() -> None:
    """SIGKILL every grading process this process started that is still running (their whole
    groups): the servers, busy or idle, and everything they started."""
    with _RUNNING_LOCK:
        groups = list(_RUNNING)
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def close_servers(owners: set[int] | None = None) -> None:
    """End the grading servers of this process that are not grading now: those started by the
    threads ``owners`` (``threading.get_ident()``), or all."""
    with _RUNNING_LOCK:
        servers = [s for s in _SERVERS if owners is None or s.owner in owners]
    for server in servers:
        if server.lock.acquire(blocking=False):
            try:
                server.stop()
            finally:
                server.lock.release()


atexit.register(close_servers)


class ServerFailed(Exception):
    """The grading server died, or answered what is not its protocol: ``reason`` says which,
    ``protocol`` is True for the latter."""

    def __init__(self, reason: str, protocol: bool = False):
        super().__init__(reason)
        self.reason, self.protocol = reason, protocol


class GradingServer:
    """One long-lived grading process (``python -m grader.batch.grading_process``, whose
    docstring is the protocol), used by the thread that started it (``owner``), which must
    outlive it (``die_with_parent``). Its ``lock`` is held while it grades, and from its start
    until the first grading: ``close_servers`` ends only a server whose lock it gets.
    ``grade`` sends one request and waits for its reply until a deadline. The server's output
    outside gradings goes to ``server.log`` in its private folder."""

    program = ("-m", "grader.batch.grading_process")   # what the interpreter runs

    def __init__(self, environment: dict[str, str]):
        self.environment = environment
        self.owner = threading.get_ident()
        self.gradings = 0
        self.stopped = False
        self.lock = threading.Lock()
        self.lock.acquire()
        self.folder = tempfile.mkdtemp(prefix="nngrade-server-")
        self.log_path = os.path.join(self.folder, "server.log")
        self._buffer = b""
        self._ready = False
        self.last_used = time.monotonic()
        try:
            with open(self.log_path, "wb") as log:
                self.process = subprocess.Popen(
                    [sys.executable, *self.program, "--idle-exit", f"{SERVER_IDLE_S + 60:g}"],
                    cwd=self.folder,
                    env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                    start_new_session=True, preexec_fn=die_with_parent())
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.lock.release()
            raise
        with _RUNNING_LOCK:
            _RUNNING.add(self.process.pid)
            _SERVERS.add(self)

    @property
    def usable(self) -> bool:
        """Whether the next grading may go to this server."""
        return (not self.stopped and self.process.poll() is None
                and self.gradings < SERVER_GRADINGS
                and time.monotonic() - self.last_used < SERVER_IDLE_S
                and self.environment == _grading_environment())

    def grade(self, request: dict, deadline: float) -> dict | None:
        """Send ``request`` and return the server's reply, or None when ``deadline`` (a
        ``time.monotonic()``) passed first. Raises ``ServerFailed``."""
        if not self._ready:
            ready = self._read_line(deadline)
            if ready is None:
                return None
            if not (isinstance(ready, dict) and ready.get("ready") is True
                    and ready.get("protocol") == 1):
                raise ServerFailed(f"its first line was {ready!r}, not its ready message", True)
            self._ready = True
        self.gradings += 1
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
        except OSError:   # it died: its exit is reported below
            pass
        reply = self._read_line(deadline)
        if reply is None:
            return None
        if not (isinstance(reply, dict) and reply.get("id") == request["id"]
                and isinstance(reply.get("done"), bool) and type(reply.get("code")) is int):
            raise ServerFailed(f"it answered {reply!r}, which is not a reply to the request", True)
        self.last_used = time.monotonic()
        return reply

    def _read_line(self, deadline: float):
        """The next line's JSON value (a line that is not JSON is a protocol fault), or None
        at the deadline. Raises ``ServerFailed`` when the server exits first."""
        stream = self.process.stdout.fileno()
        while b"\n" not in self._buffer:
            if len(self._buffer) > _REPLY_BYTES:
                raise ServerFailed(f"it wrote more than {_REPLY_BYTES} bytes without a line end", True)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            readable, _, _ = select.select([stream], [], [], left)
            if not readable:
                continue
            chunk = os.read(stream, 65536)
            if not chunk:
                try:
                    code = self.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    code = None
                raise ServerFailed(f"exited with code {code}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            raise ServerFailed(f"it wrote {line[:200]!r}, which is not JSON", True) from None

    def stop(self) -> None:
        """Kill the server's whole process group (idle or not) and forget it."""
        with _RUNNING_LOCK:
            if self.stopped:
                return
            self.stopped = True
            _RUNNING.discard(self.process.pid)
            _SERVERS.discard(self)
        kill_group(self.process, 30)
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        shutil.rmtree(self.folder, ignore_errors=True)


def _grading_environment() -> dict[str, str]:
    return {**os.environ, **SINGLE_THREAD}


def _thread_server() -> GradingServer:
    """This thread's grading server, its lock held: the one it has if that may still grade,
    else a new one. Raises OSError when none can be started."""
    server = getattr(_THREAD, "server", None)
    if server is not None:
        server.lock.acquire()
        if server.usable:
            return server
        server.stop()
        server.lock.release()
    _THREAD.server = None
    server = _THREAD.server = GradingServer(_grading_environment())
    return server


def grade_bytes(data: bytes, *, parts: list[str], cap_s: float | None = None,
                keep_server: bool = True) -> dict:
    """Grade a solution.py given as ``data`` in this thread's grading server (a fresh sandboxed
    worker for it, as ``python -m grader grade`` would); return ``Outcome.to_json()``.
    ``parts``: the parts to grade ([] for all). ``cap_s``: the wall-clock cap (default
    ``default_cap_s``); a smaller one scales the CPU budgets to fit. ``keep_server``: keep the
    server for this thread's next grading (False: end it, for a single grading). Safe to call
    from any thread; the grading process and all it starts die with the calling thread."""
    started = time.monotonic()
    cap_s = cap_s or default_cap_s(parts)
    with tempfile.TemporaryDirectory(prefix="nngrade-batch-") as folder:
        submission = os.path.join(folder, "solution.py")
        results_path = os.path.join(folder, "results.json")
        log_path = os.path.join(folder, "grading.log")
        with open(submission, "wb") as handle:
            handle.write(data)
        request = {"id": os.path.basename(folder), "submission": submission,
                   "results_json": results_path, "log": log_path, "parts": list(parts),
                   "budget_scale": budget_scale(parts, cap_s), "cwd": folder}
        try:
            server = _thread_server()
        except OSError as error:
            return Outcome(NOT_GRADED, f"could not start the grading process: {error}", None,
                           time.monotonic() - started).to_json()
        try:
            reply = server.grade(request, started + cap_s)
            if reply is None or not keep_server or not reply["done"] or reply["code"] not in (0, 1) \
                    or reply.get("restart"):
                server.stop()   # past the cap (its whole group), or not to be trusted again
        except ServerFailed as failure:
            tail = _tail(log_path if _has_output(log_path) else server.log_path)
            server.stop()
            if failure.protocol:
                return Outcome(NOT_GRADED, f"{_PROTOCOL_FAULT}: {failure.reason}; its last output: "
                               f"{tail}", None, time.monotonic() - started).to_json()
            return _outcome(started, results_path, f"the grading process {failure.reason} without "
                            f"a results file; its last output: {tail}")
        finally:
            server.lock.release()
        if reply is None:
            return Outcome(NOT_GRADED, f"the grading ran past its wall-clock cap of {cap_s:g} s; "
                           "the grader's own limits stop a submission long before that, so "
                           "the grading machine was likely overloaded; a re-run grades it",
                           None, time.monotonic() - started).to_json()
        return _outcome(started, results_path, f"the grading process exited with code "
                        f"{reply['code']} without a results file; its last output: {_tail(log_path)}")


def _outcome(started: float, results_path: str, missing: str) -> dict:
    """The outcome the grading's model gives (written beside ``results_path``; ``missing``: the
    reason when there is none)."""
    seconds = time.monotonic() - started
    grading = model.read(model.grading_path(results_path))
    if grading is None:
        return Outcome(NOT_GRADED, missing, None, seconds).to_json()
    if grading.status != model.GRADED:
        reason = grading.reason or "no reason given"
        return Outcome(NOT_GRADED, f"could not grade: {reason}", grading.to_json(), seconds).to_json()
    return Outcome(GRADED, "", grading.to_json(), seconds).to_json()


def _has_output(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False


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
    owners: set[int] = set()

    def grade(job: Job) -> dict:
        owners.add(threading.get_ident())
        return grade_bytes(job.data, parts=job.parts, cap_s=cap_s)

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="nngrade-grading") as pool:
        running = {pool.submit(grade, job): job for job in pending}
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
        finally:
            close_servers(owners)   # the pool's threads end with it, and their servers too
