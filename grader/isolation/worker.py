"""Run the student's code in a separate process and talk to it in plain data.

``Worker`` owns one process: it starts it in a private directory holding only a copy of the
submission and the worker program, sets resource limits, sends requests over a pipe, answers the
worker's reference callbacks, enforces a per-call deadline and kills the whole process group
when the deadline passes or the test is over. ``Session`` is what tests use: it restarts a dead
worker for the next call, so that a crash or a hang costs one test, never the run.
"""
from __future__ import annotations

import os
import re
import secrets
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.isolation import INSIDE_COPIES, sandbox, wire

_HERE = Path(__file__).resolve().parent


# Environment variables the worker may keep; everything else (tokens, CI secrets) is dropped.
_KEPT_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

# Parallel workers must not each start a thread per core (see the README on oversubscription).
_SINGLE_THREAD_ENVIRONMENT = {
    "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1",
}


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker process (its whole life, across calls)."""

    call_timeout_s: float = 30.0
    load_timeout_s: float = 60.0
    memory_bytes: int = 6 * 1024 ** 3       # address space
    cpu_seconds: int = 900
    file_size_bytes: int = 64 * 1024 ** 2
    open_files: int = 256
    processes: int = 64                      # processes + threads, where a private uid allows it
    output_bytes: int = 64 * 1024            # captured stdout + stderr kept per worker

    def as_record(self) -> dict:
        return dict(self.__dict__)

    def rlimits(self, private_uid: bool) -> dict:
        """``{RLIMIT_NAME: value}`` applied by the worker before it imports the submission."""
        limits = {"RLIMIT_AS": self.memory_bytes, "RLIMIT_CPU": self.cpu_seconds,
                  "RLIMIT_FSIZE": self.file_size_bytes, "RLIMIT_NOFILE": self.open_files,
                  "RLIMIT_CORE": 0}
        if private_uid:  # counted per user: meaningless (or harmful) for a shared user id
            limits["RLIMIT_NPROC"] = self.processes
        return limits


@dataclass
class CallOutcome:
    """What one request to the worker produced, as seen by the trusted side."""

    ok: bool
    value: Any = None
    state: dict = field(default_factory=dict)
    args_after: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    error_type: str = ""
    error_message: str = ""
    traceback: str = ""
    crashed: str = ""          # why the process died, if it did
    timed_out: bool = False
    timeout_s: float = 0.0
    seconds: float = 0.0
    output: str = ""           # what the student's code printed during this call (capped)

    def failure_text(self) -> str:
        """A one-paragraph account of why the call did not return a value."""
        if self.timed_out:
            return (f"did not finish within the time limit ({self.timeout_s:g} s of CPU time, "
                    f"{self.seconds:.1f} s elapsed); the worker was killed")
        if self.crashed:
            return f"the worker process died: {self.crashed}"
        text = f"raised {self.error_type}: {self.error_message}".rstrip(": ")
        if self.traceback:
            text += "\n" + self.traceback.rstrip()
        return text

    @property
    def not_implemented(self) -> bool:
        return self.error_type == "NotImplementedError"


CallbackHandler = Callable[[str, list, dict, dict], Any]


WALL_FACTOR = 3.0
"""A call may use ``call_timeout_s`` of CPU time, and ``WALL_FACTOR`` times that of wall time.

Counting CPU time (of the worker and everything it started) rather than wall time keeps a
submission from losing points because another one is hogging the machine, while a call that
sleeps or blocks is still stopped by the wall-clock cap."""


class _Budget:
    """The time one request may take: CPU seconds of the worker's process tree, and wall time."""

    def __init__(self, root_pid: int, cpu_seconds: float, started: float):
        self.root_pid = root_pid
        self.cpu_seconds = cpu_seconds
        self.wall_deadline = started + WALL_FACTOR * cpu_seconds
        # Measured at the first check (a quarter second in), not here: most calls end sooner,
        # and scanning /proc for every call would cost more than the call.
        self.cpu_at_start: float | None = None

    def next_wait(self) -> float:
        return max(0.0, min(0.25, self.wall_deadline - time.monotonic()))

    def check(self) -> None:
        if time.monotonic() >= self.wall_deadline:
            raise TimeoutError
        used = sandbox.tree_cpu_seconds(self.root_pid)
        if self.cpu_at_start is None:
            self.cpu_at_start = used
        elif used - self.cpu_at_start > self.cpu_seconds:
            raise TimeoutError


_SYNC = re.compile(rb"\x1enngrade-sync:[0-9a-f]{32}\x1e")
"""The marker the worker prints after each request, so the output of a call is complete."""

_LIVE_WORKERS: set[int] = set()
"""Pids of this process's running workers (never taken for orphans)."""


class _OutputSink(threading.Thread):
    """Drains the worker's stdout/stderr so it can never block, keeping at most ``cap`` bytes."""

    def __init__(self, stream, cap: int):
        super().__init__(daemon=True)
        self.stream, self.cap = stream, cap
        self.kept = bytearray()
        self.total = 0
        self.lock = threading.Condition()
        self._recent = b""          # the last bytes seen, to find a marker split across reads
        self._markers: set[bytes] = set()
        self.closed = False

    def run(self) -> None:
        while True:
            chunk = self.stream.read1(65536) if hasattr(self.stream, "read1") else self.stream.read(65536)
            with self.lock:
                if not chunk:
                    self.closed = True
                    self.lock.notify_all()
                    return
                self.total += len(chunk)
                room = self.cap - len(self.kept)
                if room > 0:
                    self.kept += chunk[:room]
                window = self._recent + chunk
                for found in _SYNC.findall(window):
                    self._markers.add(found)
                self._recent = window[-64:]
                self.lock.notify_all()

    def wait_for(self, marker: bytes, timeout: float) -> None:
        """Wait until the worker's output up to ``marker`` has been read (or ``timeout``)."""
        with self.lock:
            self.lock.wait_for(lambda: marker in self._markers or self.closed, timeout)
            self._markers.discard(marker)

    def mark(self) -> int:
        with self.lock:
            return len(self.kept)

    def since(self, mark: int) -> str:
        with self.lock:
            text = _SYNC.sub(b"", bytes(self.kept[mark:])).decode("utf-8", "replace")
            if self.total > self.cap and len(self.kept) >= self.cap:
                text += f"\n[output cut: {self.total} bytes printed, {self.cap} kept]"
            return text


def _describe_exit(returncode: int | None, under_bubblewrap: bool = False) -> str:
    if returncode is None:
        return "it stopped answering"
    if under_bubblewrap and 128 < returncode < 128 + 65:
        returncode = 128 - returncode  # bwrap reports a child killed by signal N as 128 + N
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hints = {"SIGSEGV": " (segmentation fault)", "SIGKILL": " (killed: memory or CPU limit?)",
                 "SIGXCPU": " (CPU time limit)", "SIGXFSZ": " (file size limit)"}
        return f"killed by {name}{hints.get(name, '')}"
    return f"exited with status {returncode} (sys.exit or os._exit in the submission?)"


class Worker:
    """One worker process serving one submission."""

    def __init__(self, submission: Path, limits: Limits, callbacks: CallbackHandler,
                 mode: sandbox.Mode | None = None):
        self.submission = Path(submission)
        self.limits = limits
        self.callbacks = callbacks
        self.mode = mode or sandbox.choose_mode()
        self.lease: sandbox.UidLease | None = None
        self.process: subprocess.Popen | None = None
        self.directory: Path | None = None
        self._request_w = self._reply_r = -1
        self._sink: _OutputSink | None = None
        self._buffer = bytearray()
        self._request_id = ""
        self.served: set[str] = set()
        """Methods whose reference answers this process has received (see Session.call)."""

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="nngrade-worker-"))
        shutil.copyfile(self.submission, self.directory / "solution.py")
        for source, copy in INSIDE_COPIES.items():
            shutil.copyfile(_HERE / source, self.directory / copy)
        uid = None
        if os.geteuid() == 0 and self.mode.name in ("bubblewrap", "unprivileged-user"):
            self.lease = sandbox.UidLease()
            uid = self.lease.uid
            for path in (self.directory, *self.directory.iterdir()):
                os.chown(path, uid, uid)
        request_r, self._request_w = os.pipe()
        self._reply_r, reply_w = os.pipe()
        os.set_blocking(self._request_w, False)
        environment = {k: os.environ[k] for k in _KEPT_ENVIRONMENT if k in os.environ}
        environment.update(_SINGLE_THREAD_ENVIRONMENT)
        environment.update({"HOME": str(self.directory), "TMPDIR": str(self.directory),
                            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
                            "NNGRADE_SANDBOX": sandbox.boot_environment(
                                self.limits.rlimits(private_uid=uid is not None), uid)})
        # -I: no PYTHONPATH, no user site, no current directory on sys.path; the boot code adds
        # the private directory back so the worker finds its copy of the wire module.
        command = [sys.executable, "-I", "-c", sandbox.BOOT, str(request_r), str(reply_w),
                   str(self.directory / "solution.py")]
        if self.mode.name == "bubblewrap":
            command = sandbox.bubblewrap_command(self.directory, uid is not None) + command
        self._subreaper = self.mode.name == "rlimits-only" and sandbox.become_subreaper()
        self.process = subprocess.Popen(
            command, cwd=self.directory, env=environment, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(request_r, reply_w),
            start_new_session=True, close_fds=True)
        os.close(request_r)
        os.close(reply_w)
        _LIVE_WORKERS.add(self.process.pid)
        self._sink = _OutputSink(self.process.stdout, self.limits.output_bytes)
        self._sink.start()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """Kill the worker and everything it started (its whole process group)."""
        if self.process is not None:
            _LIVE_WORKERS.discard(self.process.pid)
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.process.kill()
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        # Processes that left the group (setsid, double fork): all of the private user id, or
        # the orphans that were re-parented to this process.
        if self.lease is not None:
            self.lease.release()
            self.lease = None
        elif self.mode.name == "rlimits-only" and self._subreaper:
            sandbox.kill_orphans(keep=_LIVE_WORKERS)
        for fd in (self._request_w, self._reply_r):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._request_w = self._reply_r = -1
        if self._sink is not None:
            self._sink.join(timeout=2)
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    # -- messaging ---------------------------------------------------------------------------
    def _read_with_deadline(self, n: int, budget: _Budget) -> bytes:
        while len(self._buffer) < n:
            ready, _, _ = select.select([self._reply_r], [], [], budget.next_wait())
            if not ready:
                budget.check()
                continue
            chunk = os.read(self._reply_r, max(65536, n - len(self._buffer)))
            if not chunk:
                raise EOFError
            self._buffer += chunk
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def _receive(self, budget: _Budget):
        (length,) = struct.unpack("<Q", self._read_with_deadline(8, budget))
        if length > wire.MAX_MESSAGE_BYTES or length < 4:
            raise wire.WireError(f"the worker announced a message of {length} bytes")
        return wire.decode(self._read_with_deadline(length, budget))

    def _send(self, message, budget: _Budget) -> None:
        """Write a whole message; a worker that stops reading cannot block us past the budget."""
        data = memoryview(wire.encode(message))
        while data:
            _, ready, _ = select.select([], [self._request_w], [], budget.next_wait())
            if not ready:
                budget.check()
                continue
            data = data[os.write(self._request_w, data):]

    def request(self, message: dict, timeout_s: float) -> CallOutcome:
        """Send one request and serve callbacks until its reply, the deadline, or a crash."""
        started = time.monotonic()
        budget = _Budget(self.process.pid, timeout_s, started)
        mark = self._sink.mark() if self._sink else 0
        private_prefix = f"{self.directory}{os.sep}"
        outcome = self._request(message, budget)
        outcome.seconds = time.monotonic() - started
        if self._sink is not None:
            if not self.alive:
                self._sink.join(timeout=1)
            else:
                self._sink.wait_for(f"\x1enngrade-sync:{self._request_id}\x1e".encode(), 1.0)
            outcome.output = self._sink.since(mark)
            # Show "solution.py:12" rather than the worker's private path.
            outcome.output = outcome.output.replace(private_prefix, "")
        return outcome

    def _request(self, message: dict, budget: _Budget) -> CallOutcome:
        # An unpredictable id: replies forged in advance (for later requests) can never match.
        self._request_id = secrets.token_hex(16)
        message = {**message, "id": self._request_id}
        # Only the methods this request replaces may be answered by the reference: anything else
        # would let a submission ask the grader for the answer to the part under test.
        allowed = set(message.get("substitute") or ())
        try:
            self._send(message, budget)
            while True:
                reply = self._receive(budget)
                if not isinstance(reply, dict):
                    return CallOutcome(ok=False, error_type="ProtocolError",
                                       error_message="the worker sent a malformed reply")
                if "callback" in reply:
                    self._serve_callback(reply, allowed, budget)
                    continue
                if reply.get("id") != self._request_id:
                    continue  # a stale or forged reply: only the answer to this request counts
                return self._outcome_from_reply(reply)
        except TimeoutError:
            self.kill()
            return CallOutcome(ok=False, timed_out=True, timeout_s=budget.cpu_seconds)
        except (EOFError, BrokenPipeError, OSError):
            returncode = self.process.wait(timeout=10) if self.process else None
            self.kill()
            return CallOutcome(ok=False, crashed=_describe_exit(
                returncode, under_bubblewrap=self.mode.name == "bubblewrap"))
        except wire.WireError as error:
            self.kill()
            return CallOutcome(ok=False, error_type="ProtocolError",
                               error_message=f"the worker sent a malformed message ({error})")

    def _serve_callback(self, message: dict, allowed: set, budget: _Budget) -> None:
        name = message.get("callback")
        if name not in allowed:
            self._send({"ok": False, "error": f"{name!r} is not replaced by the reference in this "
                                              "test; the submission's own method must be used"},
                       budget)
            return
        self.served.add(str(name))
        try:
            value = self.callbacks(str(name), list(message.get("args") or []),
                                   dict(message.get("kwargs") or {}), dict(message.get("self") or {}))
            self._send({"ok": True, "value": value}, budget)
        except Exception as error:  # noqa: BLE001 - bad input from the student side
            self._send({"ok": False, "error": f"{type(error).__name__}: {error}"[:1000]}, budget)

    @staticmethod
    def _outcome_from_reply(reply: dict) -> CallOutcome:
        if reply.get("ok"):
            return CallOutcome(ok=True, value=reply.get("value"), state=reply.get("state") or {},
                               args_after=reply.get("args_after") or [],
                               notes=[str(n) for n in reply.get("notes") or []])
        error = reply.get("error") or {}
        if not isinstance(error, dict):
            error = {"message": str(error)}
        return CallOutcome(ok=False, error_type=str(error.get("type", "Error")),
                           error_message=str(error.get("message", "")),
                           traceback=str(error.get("traceback", "")))


class Session:
    """The worker for one graded submission, restarted after a crash or a timeout."""

    def __init__(self, submission: Path, callbacks: CallbackHandler, limits: Limits | None = None,
                 mode: sandbox.Mode | None = None):
        self.submission = Path(submission)
        self.callbacks = callbacks
        self.limits = limits or Limits()
        self.mode = mode or sandbox.choose_mode()
        self.worker: Worker | None = None
        self.load_failure: CallOutcome | None = None
        self.restarts = 0              # after a crash or a timeout
        self.isolation_restarts = 0    # before a call that must not see earlier reference answers

    def _ensure_loaded(self) -> CallOutcome | None:
        """Start and load a worker if none is alive; return the failure if the submission cannot load."""
        if self.load_failure is not None:
            return self.load_failure
        if self.worker is not None and self.worker.alive:
            return None
        if self.worker is not None:
            self.worker.kill()
            self.restarts += 1
        if not self.submission.is_file():
            self.load_failure = CallOutcome(ok=False, error_type="FileNotFoundError",
                                            error_message=f"no submission at {self.submission}")
            return self.load_failure
        self.worker = Worker(self.submission, self.limits, self.callbacks, self.mode)
        self.worker.start()
        outcome = self.worker.request({"op": "load"}, self.limits.load_timeout_s)
        if not outcome.ok:
            self.worker.kill()
            self.load_failure = outcome
            return outcome
        return None

    def _forget_answers_unless(self, substituted: set) -> None:
        """Replace the worker if it has received reference answers for a method that the next
        request runs as the submission's own: it could have kept them; a fresh process has not."""
        if self.worker is not None and not self.worker.served <= substituted:
            self.worker.kill()
            self.worker = None
            self.isolation_restarts += 1

    def _send(self, message: dict, substituted: set, timeout_s: float | None) -> CallOutcome:
        """Send one request to a loaded worker that holds no reference answers for the methods
        the request runs as the submission's own (``substituted`` are the ones it replaces)."""
        self._forget_answers_unless(substituted)
        failure = self._ensure_loaded()
        if failure is not None:
            return failure
        return self.worker.request(message, timeout_s or self.limits.call_timeout_s)

    def call(self, method: str, *, args=(), kwargs=None, config=None, state=None,
             substitute=(), return_state=(), return_args=False, cls: str = "NN",
             timeout_s: float | None = None) -> CallOutcome:
        """Build ``cls(**config)`` in the worker, set ``state``, replace ``substitute`` by reference
        proxies and call ``method(*args, **kwargs)`` there (``"__init__"``: build it only)."""
        message = {
            "op": "call", "cls": cls, "method": method, "args": list(args), "kwargs": kwargs or {},
            "config": config or {}, "state": state or {}, "substitute": list(substitute),
            "return_state": list(return_state), "return_args": return_args,
        }
        return self._send(message, set(substitute), timeout_s)

    def call_sequence(self, method: str, sequence: list, *, cls: str, config=None, state=None,
                      kwargs=None, record_state=(), timeout_s: float | None = None) -> CallOutcome:
        """Call ``method`` on one ``cls(**config)`` once per step of ``sequence`` (steps of
        ``{"args": [...], "then": {"method", "args"}}``, see PROTOCOL.md); no method is replaced."""
        message = {"op": "call_sequence", "cls": cls, "method": method, "config": config or {},
                   "state": state or {}, "kwargs": kwargs or {}, "sequence": list(sequence),
                   "record_state": list(record_state)}
        return self._send(message, set(), timeout_s)

    def optimizer_steps(self, cls: str, config: dict, carry, sequence: list, *,
                        method: str = "step", timeout_s: float | None = None) -> CallOutcome:
        """Call ``method(carry, *step_args)`` on one ``cls(**config)`` for each ``step_args`` of
        ``sequence``; the value is ``carry`` after every step (an optimizer's parameters)."""
        message = {"op": "optimizer_steps", "cls": cls, "method": method, "config": config,
                   "carry": carry, "sequence": [list(step) for step in sequence]}
        return self._send(message, set(), timeout_s)

    def torch_steps(self, cls: str, config: dict, set_values: dict, steps: list,
                    timeout_s: float | None = None) -> CallOutcome:
        """Run a student ``torch.nn.Module`` over ``steps`` in the worker (see PROTOCOL.md)."""
        return self._send({"op": "torch_steps", "cls": cls, "config": config, "set": set_values,
                           "steps": steps}, set(), timeout_s)

    def cnn(self, task: str, timeout_s: float | None = None, **fields) -> CallOutcome:
        """Run one CNN task of ``inside/worker_cnn`` (class_of, describe, train, kaggle)."""
        return self._send({"op": "cnn", "task": task, **fields}, set(), timeout_s)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.kill()
            self.worker = None

    def record(self) -> dict:
        """What the results say about the confinement: mode, warning and resource limits."""
        private_uid = os.geteuid() == 0 and self.mode.name != "rlimits-only"
        return {"mode": self.mode.name, "warning": self.mode.warning,
                "limits": self.limits.as_record(),
                "rlimits": self.limits.rlimits(private_uid=private_uid),
                "private_user_id": private_uid}
