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
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.isolation import INSIDE_COPIES, lifeline, sandbox, wire

_HERE = Path(__file__).resolve().parent


# Environment variables the worker may keep; everything else (tokens, CI secrets) is dropped.
_KEPT_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

# Parallel workers must not each start a thread per core (see the README on oversubscription).
SINGLE_THREAD_ENVIRONMENT = {
    "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1",
}

# Course files import matplotlib.pyplot at the top: with no display, it must pick a backend that
# needs none (and keep its cache in the worker's HOME, the private folder).
_HEADLESS_ENVIRONMENT = {"MPLBACKEND": "Agg"}


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker process (its whole life, across calls)."""

    call_timeout_s: float = 30.0
    load_timeout_s: float = 60.0
    # One grading's allowance for calls that do not finish. Each timed-out call costs its whole
    # limit, and a submission that hangs in every method would otherwise cost some 70 tests x
    # 30 s; once the time lost to timed-out calls reaches ``hang_budget_s``, every later call gets
    # ``call_timeout_after_hangs_s`` of CPU. A correct call takes well under a second, so tests
    # that do not hang still pass; the hanging ones fail fast, with the reason in their message.
    hang_budget_s: float = 120.0
    call_timeout_after_hangs_s: float = 3.0
    memory_bytes: int = 6 * 1024 ** 3       # in all: address space + /tmp + the worker folder
    tmp_bytes: int = 512 * 1024 ** 2         # the sandbox's /tmp (a tmpfs, so memory)
    folder_bytes: int = 512 * 1024 ** 2      # the worker folder (a tmpfs under bubblewrap)
    cpu_seconds: int = 900
    file_size_bytes: int = 64 * 1024 ** 2
    open_files: int = 256
    processes: int = 64                      # processes + threads, where a private uid allows it
    output_bytes: int = 64 * 1024            # captured stdout + stderr kept per worker

    def as_record(self) -> dict:
        return dict(self.__dict__)

    @property
    def address_space_bytes(self) -> int:
        """What the process itself may map: files in /tmp and in the folder use RAM (tmpfs) or
        disk that counts against the same total, ``memory_bytes``."""
        return self.memory_bytes - self.tmp_bytes - self.folder_bytes

    def rlimits(self, private_uid: bool) -> dict:
        """``{RLIMIT_NAME: value}`` applied by the worker before it imports the submission."""
        limits = {"RLIMIT_AS": self.address_space_bytes, "RLIMIT_CPU": self.cpu_seconds,
                  "RLIMIT_FSIZE": self.file_size_bytes, "RLIMIT_NOFILE": self.open_files,
                  "RLIMIT_CORE": 0}
        if private_uid:  # counted per user: meaningless (or harmful) for a shared user id
            limits["RLIMIT_NPROC"] = self.processes
        return limits


class CouldNotGrade(RuntimeError):
    """The grader cannot run a worker here (sandbox, interpreter or its libraries): an
    environment fault, never the submission's. The message says what failed, with the
    worker's own output."""


REPLY_FLOOR_BYTES = 64 * 1024 ** 2
"""Every reply may be this large (plus ``REPLY_FACTOR`` times its request): the largest replies
of a full grading of the worked solution are a few MiB."""
REPLY_FACTOR = 4
HEADER_FLOOR_BYTES = 2 * 1024 ** 2
"""The JSON part of a reply (arrays travel beside it) may be this large plus ``REPLY_FACTOR``
times the request's. JSON is what costs the grader memory to decode (an empty list, 2 bytes on
the wire, is a 56-byte object), so it has its own, smaller bound."""
FOLDER_ENTRIES = 10_000
"""More files than this in the worker folder count as a full folder (it is measured by walking)."""


@dataclass(frozen=True)
class _ReplyLimits:
    """How large the reply to one request may be (``body``: the whole frame, ``header``: its JSON)."""

    body: int
    header: int

    @classmethod
    def for_request(cls, frame: bytes) -> _ReplyLimits:
        (header,) = struct.unpack_from("<I", frame, 8)
        return cls(min(wire.MAX_MESSAGE_BYTES, REPLY_FLOOR_BYTES + REPLY_FACTOR * len(frame)),
                   HEADER_FLOOR_BYTES + REPLY_FACTOR * header)


class _FolderFull(Exception):
    """The worker folder holds more than ``Limits.folder_bytes`` (outside bubblewrap)."""


@dataclass
class InputEvidence:
    """What the trusted side needs to tell whether a call changed, in place, an array it was
    given (the verdict is ``grader.verdicts.inputs``): the digests of the arrays it sent,
    computed here before sending, and the worker's digests of the same arrays after the call
    (PROTOCOL.md, "inputs"). Paths are those of ``wire.array_leaves`` over the request fields
    that hold the inputs: ``("args", 0)``, ``("kwargs", "grad")``, ``("sequence", step, ...)``."""

    op: str = ""
    method: str = ""
    then_methods: dict = field(default_factory=dict)  # call_sequence: {step index: chained method}
    sent: dict = field(default_factory=dict)          # {path: digest}
    after: dict | None = None                         # {path: digest}; None: nothing reported
    parameters: dict = field(default_factory=dict)    # {method: positional parameter names}
    checked: bool = True                              # False: the test checks these inputs itself


def _input_fields(message: dict) -> dict:
    """The fields of a request whose arrays the submission receives and must leave unchanged
    (an optimizer's ``carry`` is meant to change)."""
    if message["op"] == "call":
        return {"args": message["args"], "kwargs": message["kwargs"]}
    return {"sequence": message["sequence"], "kwargs": message.get("kwargs", {})}


def _sent_inputs(fields: dict) -> dict:
    """``{path: digest}`` of every array in ``fields`` (a request's input fields)."""
    return {path: wire.array_digest(array) for path, array in wire.array_leaves(fields)}


def _reported_inputs(report) -> InputEvidence | None:
    """The worker's ``inputs`` field as evidence (``after`` and ``parameters`` only), or None
    when the reply carries none. Entries of the wrong form are dropped: a path the worker does
    not report counts as unverified, never as unchanged."""
    if not isinstance(report, dict) or not isinstance(report.get("digests"), list):
        return None
    after = {}
    for entry in report["digests"][:wire.MAX_INPUT_ARRAYS]:
        if (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], list)
                and isinstance(entry[1], str)
                and all(isinstance(p, (int, str)) and not isinstance(p, bool) for p in entry[0])):
            after[tuple(entry[0])] = entry[1]
    parameters = {}
    reported = report.get("parameters")
    for method, names in (reported.items() if isinstance(reported, dict) else ()):
        if isinstance(names, list):
            parameters[str(method)[:60]] = [str(name)[:60] for name in names[:32]]
    return InputEvidence(after=after, parameters=parameters)


@dataclass
class CallOutcome:
    """What one request to the worker produced, as seen by the trusted side."""

    ok: bool
    value: Any = None
    state: dict = field(default_factory=dict)
    args_after: list = field(default_factory=list)
    inputs: InputEvidence | None = None  # for call, call_sequence, optimizer_steps (see Session)
    notes: list = field(default_factory=list)
    error_type: str = ""
    error_message: str = ""
    traceback: str = ""
    crashed: str = ""          # why the process died, if it did
    timed_out: bool = False
    timeout_s: float = 0.0
    shortened: str = ""        # why the time limit was shorter than usual, if it was
    seconds: float = 0.0
    output: str = ""           # what the student's code printed during this call (capped)

    def failure_text(self) -> str:
        """A one-paragraph account of why the call did not return a value."""
        if self.timed_out:
            if self.shortened.startswith("not called again"):
                return f"did not run ({self.shortened})"
            text = (f"did not finish within the time limit ({self.timeout_s:g} s of CPU time, "
                    f"{self.seconds:.1f} s elapsed); the worker was killed")
            return f"{text} ({self.shortened})" if self.shortened else text
        if self.crashed:
            text = f"the worker process died: {self.crashed}"
            if self.output.strip():
                text += "\nits last output:\n" + self.output.strip()[-2000:]
            return text
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
    """The time one request may take: CPU seconds of the worker's process tree, and wall time.

    ``check`` runs on every turn of every loop that waits for the worker, whether or not data
    arrived (a worker that keeps the pipe busy must not escape it); the wall clock is read every
    time, the CPU time (a scan of /proc) and the folder's size at most every ``EVERY_S``."""

    EVERY_S = 0.25

    def __init__(self, root_pid: int, cpu_seconds: float, started: float,
                 folder_check: Callable[[], None] | None = None):
        self.root_pid = root_pid
        self.cpu_seconds = cpu_seconds
        self.wall_deadline = started + WALL_FACTOR * cpu_seconds
        self.folder_check = folder_check
        # Measured at the first scan (a quarter second in), not here: most calls end sooner,
        # and scanning /proc for every call would cost more than the call.
        self.cpu_at_start: float | None = None
        self.next_scan = started + self.EVERY_S

    def next_wait(self) -> float:
        return max(0.0, min(self.EVERY_S, self.wall_deadline - time.monotonic()))

    def check(self) -> None:
        now = time.monotonic()
        if now >= self.wall_deadline:
            raise TimeoutError
        if now < self.next_scan:
            return
        self.next_scan = now + self.EVERY_S
        used = sandbox.tree_cpu_seconds(self.root_pid)
        if self.cpu_at_start is None:
            self.cpu_at_start = used
        elif used - self.cpu_at_start > self.cpu_seconds:
            raise TimeoutError
        if self.folder_check is not None:
            self.folder_check()


_SYNC = re.compile(rb"\x1enngrade-sync:[0-9a-f]{32}\x1e")
"""The marker the worker prints after each request, so the output of a call is complete."""

READY = b"\x1enngrade-ready\x1e"
"""What the worker program prints first, before it reads a request: a worker that dies without
it never ran any of the submission (the sandbox or the interpreter failed)."""

_MARKERS = re.compile(rb"\x1enngrade-(?:sync:[0-9a-f]{32}|ready)\x1e")

_READ_CHUNK = 1 << 20
"""The most the grader reads from the worker's pipe at once."""

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
                for found in _MARKERS.findall(window):
                    self._markers.add(found)
                self._recent = window[-64:]
                self.lock.notify_all()

    def wait_for(self, marker: bytes, timeout: float) -> None:
        """Wait until the worker's output up to ``marker`` has been read (or ``timeout``)."""
        with self.lock:
            self.lock.wait_for(lambda: marker in self._markers or self.closed, timeout)
            self._markers.discard(marker)

    def seen(self, marker: bytes) -> bool:
        with self.lock:
            return marker in self._markers

    def mark(self) -> int:
        with self.lock:
            return len(self.kept)

    def since(self, mark: int) -> str:
        with self.lock:
            text = _MARKERS.sub(b"", bytes(self.kept[mark:])).decode("utf-8", "replace")
            if self.total > self.cap and len(self.kept) >= self.cap:
                text += f"\n[output cut: {self.total} bytes printed, {self.cap} kept]"
            return text


def _describe_exit(returncode: int | None, under_bubblewrap: bool = False,
                   started: bool = True) -> str:
    if not started:
        return (f"{_describe_exit(returncode, under_bubblewrap).split(' (')[0]} before the worker "
                "program started, so none of the submission had run (the sandbox or the "
                "interpreter failed)")
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


def _mib(n: int) -> str:
    return f"{n / 1024 ** 2:g} MiB"


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
        copies = ["solution.py", *INSIDE_COPIES.values()]
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
        environment.update(SINGLE_THREAD_ENVIRONMENT)
        environment.update(_HEADLESS_ENVIRONMENT)
        environment.update({"HOME": str(self.directory), "TMPDIR": str(self.directory),
                            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
                            "NNGRADE_SANDBOX": sandbox.boot_environment(
                                self.limits.rlimits(private_uid=uid is not None), uid)})
        # -I: no PYTHONPATH, no user site, no current directory on sys.path; the boot code adds
        # the private directory back so the worker finds its copy of the wire module.
        command = sandbox.worker_command(
            self.mode, self.directory, copies,
            [str(request_r), str(reply_w), str(self.directory / "solution.py")],
            drop_privileges=uid is not None, tmp_bytes=self.limits.tmp_bytes,
            folder_bytes=self.limits.folder_bytes)
        self._subreaper = self.mode.name == "rlimits-only" and sandbox.become_subreaper()
        try:
            self.process = subprocess.Popen(
                command, cwd=self.directory, env=environment, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(request_r, reply_w),
                start_new_session=True, close_fds=True, preexec_fn=lifeline.die_with_parent())
        finally:
            os.close(request_r)
            os.close(reply_w)
        _LIVE_WORKERS.add(self.process.pid)
        self._sink = _OutputSink(self.process.stdout, self.limits.output_bytes)
        self._sink.start()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def ready(self) -> bool:
        """Whether the worker program started (printed ``READY``) before anything of the
        submission could run."""
        return self._sink is not None and self._sink.seen(READY)

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

    def _check_folder(self) -> None:
        """Outside bubblewrap the worker folder is a plain directory on the host's disk: measure
        it (allocated blocks, not announced sizes) and stop a worker that filled it."""
        if self.mode.name == "bubblewrap" or self.directory is None:
            return  # a tmpfs of folder_bytes: the kernel refuses the excess
        used, entries, pending = 0, 0, [self.directory]
        while pending:
            try:
                with os.scandir(pending.pop()) as listing:
                    for entry in listing:
                        entries += 1
                        info = entry.stat(follow_symlinks=False)
                        used += info.st_blocks * 512
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(Path(entry.path))
            except FileNotFoundError:
                continue  # removed while we looked
            except OSError as error:
                raise _FolderFull(f"its folder could not be measured ({error.strerror})") from None
            if used > self.limits.folder_bytes or entries > FOLDER_ENTRIES:
                raise _FolderFull(f"it wrote more than {_mib(self.limits.folder_bytes)} or "
                                  f"{FOLDER_ENTRIES} files into its folder (the limit)")

    # -- messaging ---------------------------------------------------------------------------
    def _read_with_deadline(self, n: int, budget: _Budget) -> bytes:
        while len(self._buffer) < n:
            budget.check()   # every turn: a stream of data must not keep the clock from running
            ready, _, _ = select.select([self._reply_r], [], [], budget.next_wait())
            if not ready:
                continue
            chunk = os.read(self._reply_r, min(_READ_CHUNK, max(65536, n - len(self._buffer))))
            if not chunk:
                raise EOFError
            self._buffer += chunk
        with memoryview(self._buffer) as view:
            data = bytes(view[:n])   # one copy (a slice of the bytearray would be a second)
        del self._buffer[:n]
        return data

    def _skip(self, n: int, budget: _Budget) -> None:
        """Read and drop ``n`` bytes, a chunk at a time (a stale message is never held whole)."""
        while n:
            taken = min(n, _READ_CHUNK)
            self._read_with_deadline(taken, budget)
            n -= taken

    def _receive(self, budget: _Budget, limits: _ReplyLimits):
        """The next message for the current request, or None for one that is not (skipped).

        A message belongs to the current request when its JSON starts with its id
        (``wire.id_prefix``); anything else is dropped unread, whatever its size. Only then
        are the request's size limits applied and the message decoded."""
        (length,) = struct.unpack("<Q", self._read_with_deadline(8, budget))
        if length > wire.MAX_MESSAGE_BYTES or length < 4:
            raise wire.WireError(f"the worker announced a message of {length} bytes")
        (header_length,) = struct.unpack("<I", self._read_with_deadline(4, budget))
        if header_length > length - 4:
            raise wire.WireError("a message header longer than its message")
        expected = wire.id_prefix(self._request_id)
        prefix = self._read_with_deadline(min(len(expected), header_length), budget)
        if prefix != expected:
            self._skip(length - 4 - len(prefix), budget)
            return None
        if length > limits.body or header_length > limits.header:
            raise wire.WireError(
                f"a reply of {length} bytes with {header_length} bytes of JSON; this request "
                f"allows {limits.body} and {limits.header}")
        header = prefix + self._read_with_deadline(header_length - len(prefix), budget)
        payload = self._read_with_deadline(length - 4 - header_length, budget)
        return wire.decode_parts(header, payload)

    def _send(self, message, budget: _Budget) -> None:
        """Write a whole message; a worker that stops reading cannot block us past the budget."""
        data = memoryview(message if isinstance(message, bytes) else wire.encode(message))
        while data:
            budget.check()
            _, ready, _ = select.select([], [self._request_w], [], budget.next_wait())
            if not ready:
                continue
            data = data[os.write(self._request_w, data):]

    def request(self, message: dict, timeout_s: float) -> CallOutcome:
        """Send one request and serve callbacks until its reply, the deadline, or a crash."""
        started = time.monotonic()
        budget = _Budget(self.process.pid, timeout_s, started, self._check_folder)
        # What the worker printed before its first request (e.g. bubblewrap's own error, which
        # the sink may read before this line runs) belongs to that first request, the load.
        mark = self._sink.mark() if self._sink and self._request_id else 0
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
        frame = wire.encode({**message, "id": self._request_id})
        limits = _ReplyLimits.for_request(frame)
        # Only the methods this request replaces may be answered by the reference: anything else
        # would let a submission ask the grader for the answer to the part under test.
        allowed = set(message.get("substitute") or ())
        try:
            self._check_folder()   # what a background process wrote since the last request
            self._send(frame, budget)
            while True:
                budget.check()
                reply = self._receive(budget, limits)
                if reply is None:
                    continue  # a stale or forged message: only the answer to this request counts
                if not isinstance(reply, dict):
                    raise wire.WireError("a reply that is not a dict")
                if "callback" in reply:
                    self._serve_callback(reply, allowed, budget)
                    continue
                return self._outcome_from_reply(reply)
        except TimeoutError:
            self.kill()
            return CallOutcome(ok=False, timed_out=True, timeout_s=budget.cpu_seconds)
        except _FolderFull as error:
            self.kill()
            return CallOutcome(ok=False, crashed=f"it was stopped: {error}")
        except (EOFError, BrokenPipeError, OSError):
            returncode = self.process.wait(timeout=10) if self.process else None
            if self._sink is not None:
                self._sink.join(timeout=1)   # its last output, and whether it ever started
            started = self.ready
            self.kill()
            return CallOutcome(ok=False, crashed=_describe_exit(
                returncode, under_bubblewrap=self.mode.name == "bubblewrap", started=started))
        except wire.WireError as error:
            self.kill()
            return CallOutcome(ok=False, error_type="ProtocolError",
                               error_message=f"the worker sent a malformed message ({error}); "
                                             "it was stopped")

    def _serve_callback(self, message: dict, allowed: set, budget: _Budget) -> None:
        name = message.get("callback")
        if not isinstance(name, str) or name not in allowed:
            self._send({"ok": False, "error": f"{name!r} is not replaced by the reference in this "
                                              "test; the submission's own method must be used"},
                       budget)
            return
        self.served.add(name)
        try:
            value = self.callbacks(name, list(message.get("args") or []),
                                   dict(message.get("kwargs") or {}), dict(message.get("self") or {}))
            answer = {"ok": True, "value": value}
        except Exception as error:  # noqa: BLE001 - bad input from the student side
            answer = {"ok": False, "error": f"{type(error).__name__}: {error}"[:1000]}
        self._send(answer, budget)

    @staticmethod
    def _outcome_from_reply(reply: dict) -> CallOutcome:
        """The outcome a reply reports; WireError for fields of the wrong type."""
        notes, state, args_after = reply.get("notes") or [], reply.get("state") or {}, \
            reply.get("args_after") or []
        if not (isinstance(notes, list) and isinstance(state, dict)
                and isinstance(args_after, (list, tuple))):
            raise wire.WireError("a reply whose notes, state or args_after have the wrong type")
        if reply.get("ok"):
            return CallOutcome(ok=True, value=reply.get("value"), state=state,
                               args_after=list(args_after), notes=[str(n) for n in notes],
                               inputs=_reported_inputs(reply.get("inputs")))
        error = reply.get("error") or {}
        if not isinstance(error, dict):
            error = {"message": str(error)}
        return CallOutcome(ok=False, error_type=str(error.get("type", "Error")),
                           error_message=str(error.get("message", "")),
                           traceback=str(error.get("traceback", "")))


def _could_not_start(mode: sandbox.Mode, outcome: CallOutcome) -> str:
    """Why a worker that ran none of the submission failed, with its own output."""
    if outcome.timed_out:
        what = f"it did not answer within {outcome.timeout_s:g} s"
    elif outcome.crashed:
        what = outcome.crashed
    else:
        what = f"{outcome.error_type}: {outcome.error_message}"
    text = f"the worker could not be started in {mode.name} mode: {what}"
    output = outcome.output.strip()
    return text + (f"\nthe worker's output:\n{output[-4000:]}" if output else
                   "\n(the worker printed nothing)")


def describe_fallback(value) -> str:
    """What the student is told when importing the file raised and the worker graded its
    definitions instead (the ``load`` reply's value, see PROTOCOL.md); "" when it did not.
    The value comes from the sandbox: only its plain fields are used, cut to size."""
    if not isinstance(value, dict) or not isinstance(value.get("import_error"), dict):
        return ""
    error = value["import_error"]
    kind, message = str(error.get("type", "an error"))[:100], str(error.get("message", ""))[:500]
    line, source = error.get("line"), str(error.get("source", ""))[:200]
    where = (f"solution.py line {line} (`{source}`)" if isinstance(line, int) and source
             else f"solution.py line {line}" if isinstance(line, int) else "solution.py")
    text = f"importing solution.py failed: {where} raised {kind}: {message}".rstrip(": ")
    trace = str(error.get("traceback", "")).strip("\n").rstrip()
    if trace:
        text += "\n" + trace[-1500:]
    skipped = [span for span in value.get("skipped") or [] if isinstance(span, (list, tuple))
               and len(span) == 2 and all(isinstance(n, int) for n in span)]
    spans = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in skipped[:12])
    text += ("\nThe grader graded the file's definitions (imports, functions, classes and "
             "constants) without its script code")
    text += f" (lines {spans})." if spans else "."
    text += (" Code that should run only when you run the file yourself (loading data, training, "
             "a search, plots) belongs under `if __name__ == \"__main__\":` at the bottom of the "
             "file, so that importing the file runs none of it.")
    return text


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
        self.hung_s = 0.0              # wall time spent in calls that timed out
        self.hangs = 0                 # how many calls timed out
        self.hung_calls: set = set()   # (op, class, method) of the requests that timed out
        self.isolation_restarts = 0    # before a call that must not see earlier reference answers
        self.load_warning = ""
        """Set when importing the submission raised and its definitions were graded instead."""
        self.adapt: Callable[[dict], dict] = lambda message: message
        """Rewrites each request for the submission's template style (``verdicts.styles``)."""

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
        try:
            self.worker.start()
        except (OSError, RuntimeError, subprocess.SubprocessError) as error:
            self.worker.kill()
            raise CouldNotGrade(f"the worker could not be started in {self.mode.name} mode: "
                                f"{type(error).__name__}: {error}") from None
        outcome = self.worker.request({"op": "load"}, self.limits.load_timeout_s)
        if not outcome.ok:
            started = self.worker.ready
            self.worker.kill()
            if not started:
                # Nothing of the submission ran (it runs only after the worker program's ready
                # line): the environment failed, e.g. bwrap refused a later worker or the
                # interpreter hung starting, which must never be scored as the student's fault.
                raise CouldNotGrade(_could_not_start(self.mode, outcome))
            self.load_failure = outcome
            return outcome
        self.load_warning = describe_fallback(outcome.value)
        return None

    def preflight(self) -> None:
        """Start a worker exactly as grading will, with a trivial module in place of the
        submission, and exchange one message (``load``). Raises CouldNotGrade, saying what
        failed with the worker's own output, if that does not work."""
        with tempfile.TemporaryDirectory(prefix="nngrade-preflight-") as folder:
            trivial = Path(folder) / "solution.py"
            trivial.write_text('"""nngrade\'s preflight: stands in for the submission."""\n')
            worker = Worker(trivial, self.limits, self.callbacks, self.mode)
            try:
                worker.start()
                outcome = worker.request({"op": "load"}, self.limits.load_timeout_s)
            except (OSError, RuntimeError, subprocess.SubprocessError) as error:
                raise CouldNotGrade(f"the worker could not be started in {self.mode.name} mode: "
                                    f"{type(error).__name__}: {error}") from None
            finally:
                worker.kill()
        if not outcome.ok:
            raise CouldNotGrade(_could_not_start(self.mode, outcome))

    def _forget_answers_unless(self, substituted: set) -> None:
        """Replace the worker if it has received reference answers for a method that the next
        request runs as the submission's own: it could have kept them; a fresh process has not."""
        if self.worker is not None and not self.worker.served <= substituted:
            self.worker.kill()
            self.worker = None
            self.isolation_restarts += 1

    def _send(self, message: dict, substituted: set, timeout_s: float | None,
              inputs: InputEvidence | None = None) -> CallOutcome:
        """Send one request to a loaded worker that holds no reference answers for the methods
        the request runs as the submission's own (``substituted`` are the ones it replaces).
        ``inputs``: the digests of the arrays the request hands to the submission, to which the
        worker's report of them after the call is added."""
        message = self.adapt(message)
        if inputs is not None:
            # Digests of what is actually sent: a style adapter may have rewritten the arrays
            # (integer labels for the original templates), and those are what the worker sees.
            inputs.sent = _sent_inputs(_input_fields(message))
        substituted = substituted | set(message.get("substitute") or ())
        self._forget_answers_unless(substituted)
        failure = self._ensure_loaded()
        if failure is not None:
            return failure
        timeout, shortened = timeout_s or self.limits.call_timeout_s, ""
        what = (message.get("op"), message.get("cls"), message.get("method") or message.get("task"))
        if self.hung_s >= self.limits.hang_budget_s:
            spent = (f"{self.hangs} calls of this submission did not finish, using up its "
                     f"{self.limits.hang_budget_s:g} s allowance for calls that hang; look for an "
                     "infinite loop or a wait that never ends")
            if what in self.hung_calls:
                # Calling it again would only hang again: one hanging submission must not hold
                # up a batch for an hour.
                return CallOutcome(ok=False, timed_out=True, timeout_s=0.0, shortened=(
                    f"not called again: it did not finish in an earlier test, and {spent}"))
            timeout = min(timeout, self.limits.call_timeout_after_hangs_s)
            shortened = f"a shorter limit: {spent}"
        outcome = self.worker.request(message, timeout)
        if outcome.timed_out:
            self.hangs += 1
            self.hung_s += outcome.seconds
            self.hung_calls.add(what)
            outcome.shortened = shortened
        if inputs is not None and outcome.ok:
            reported = outcome.inputs or InputEvidence()
            inputs.after, inputs.parameters = reported.after, reported.parameters
            outcome.inputs = inputs
        else:
            outcome.inputs = None
        return outcome

    def call(self, method: str, *, args=(), kwargs=None, config=None, state=None,
             substitute=(), return_state=(), return_args=False, cls: str = "NN",
             timeout_s: float | None = None, check_inputs: bool = True) -> CallOutcome:
        """Build ``cls(**config)`` in the worker, set ``state``, replace ``substitute`` by reference
        proxies and call ``method(*args, **kwargs)`` there (``"__init__"``: build it only).
        ``check_inputs=False``: the test judges itself whether the arrays in ``args`` changed
        (``grade.require`` then does not; see ``grader.verdicts.inputs``)."""
        message = {
            "op": "call", "cls": cls, "method": method, "args": list(args), "kwargs": kwargs or {},
            "config": config or {}, "state": state or {}, "substitute": list(substitute),
            "return_state": list(return_state), "return_args": return_args,
        }
        inputs = None
        if method != "__init__":
            inputs = InputEvidence(op="call", method=method, checked=check_inputs)
        return self._send(message, set(substitute), timeout_s, inputs)

    def call_sequence(self, method: str, sequence: list, *, cls: str, config=None, state=None,
                      kwargs=None, record_state=(), timeout_s: float | None = None,
                      check_inputs: bool = True) -> CallOutcome:
        """Call ``method`` on one ``cls(**config)`` once per step of ``sequence`` (steps of
        ``{"args": [...], "then": {"method", "args"}}``, see PROTOCOL.md); no method is replaced."""
        message = {"op": "call_sequence", "cls": cls, "method": method, "config": config or {},
                   "state": state or {}, "kwargs": kwargs or {}, "sequence": list(sequence),
                   "record_state": list(record_state)}
        then_methods = {index: str(step["then"].get("method"))
                        for index, step in enumerate(message["sequence"])
                        if isinstance(step, dict) and isinstance(step.get("then"), dict)}
        inputs = InputEvidence(op="call_sequence", method=method, then_methods=then_methods,
                               checked=check_inputs)
        return self._send(message, set(), timeout_s, inputs)

    def optimizer_steps(self, cls: str, config: dict, carry, sequence: list, *,
                        method: str = "step", timeout_s: float | None = None,
                        check_inputs: bool = True) -> CallOutcome:
        """Call ``method(carry, *step_args)`` on one ``cls(**config)`` for each ``step_args`` of
        ``sequence``; the value is ``carry`` after every step (an optimizer's parameters).
        ``carry`` is meant to change; the arrays of ``sequence`` (the gradients) are not."""
        message = {"op": "optimizer_steps", "cls": cls, "method": method, "config": config,
                   "carry": carry, "sequence": [list(step) for step in sequence]}
        inputs = InputEvidence(op="optimizer_steps", method=method, checked=check_inputs)
        return self._send(message, set(), timeout_s, inputs)

    def cnn(self, task: str, timeout_s: float | None = None, **fields) -> CallOutcome:
        """Run one CNN task of ``inside/worker_cnn`` (capture, capture_layer, kaggle)."""
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
