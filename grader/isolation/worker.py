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
    memory_bytes: int = 6 * 1024 ** 3       # in all: address space + /tmp + the worker folder
    tmp_bytes: int = 512 * 1024 ** 2         # the sandbox's /tmp (a tmpfs, so memory)
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
    timed_out: bool = False    # passed its CPU limit, or (``idle_out``) its idle limit
    idle_out: bool = False
    budget_out: bool = False   # stopped, or not made, because the part's CPU budget was spent
    timeout_s: float = 0.0     # the limit it passed
    shortened: str = ""        # why the time limit was shorter than usual, if it was
    seconds: float = 0.0       # wall time: for the logs only, never for a verdict or a message
    cpu_s: float = 0.0         # CPU seconds of the worker's process tree in this request
    idle_s: float = 0.0        # seconds in which it neither computed nor waited for a CPU
    output: str = ""           # what the student's code printed during this call (capped)

    def failure_text(self) -> str:
        """A one-paragraph account of why the call did not return a value."""
        if self.timed_out:
            if self.shortened.startswith("not called"):
                return f"did not run ({self.shortened})"
            if self.budget_out:
                return f"did not finish: {self.shortened.removeprefix('it was stopped when ')}"
            # No wall time here: the message must read the same on a quiet and a busy machine.
            if self.idle_out:
                # The limit itself is not shown when it is what was left of the grading's
                # allowance: that rest carries the measurement's last digits.
                limit = "what was left of its allowance" if self.shortened else f"{self.timeout_s:g} s"
                text = (f"did not finish within the time limit: it waited longer than "
                        f"{limit} without computing (sleeping, or blocked on a read that never "
                        "returns); the worker was killed")
            else:
                text = (f"did not finish within the time limit ({self.timeout_s:g} s of CPU "
                        "time); the worker was killed")
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
        self.root_pid = worker.process.pid
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
        used, pids = sandbox.tree_usage(self.root_pid)
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
        self.known_pids: set[int] = set()
        """The worker's processes as last seen (its meter reads these between scans)."""
        self.busy_seen: dict = {}
        """Each thread's CPU + run-queue time at the last reading (``_Meter``)."""

    def sink_threads(self) -> set[int]:
        """Native ids of this process's threads that read from the worker."""
        native = getattr(self._sink, "native_id", None)
        return {native} if native else set()

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
        self.known_pids = {self.process.pid}
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
    def _read_with_deadline(self, n: int, budget: _Meter) -> bytes:
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

    def _skip(self, n: int, budget: _Meter) -> None:
        """Read and drop ``n`` bytes, a chunk at a time (a stale message is never held whole)."""
        while n:
            taken = min(n, _READ_CHUNK)
            self._read_with_deadline(taken, budget)
            n -= taken

    def _receive(self, budget: _Meter, limits: _ReplyLimits):
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

    def output_waiting(self) -> bool:
        """Whether the worker has written something the grader has not read yet: a message (a
        reply, a callback) or printed output; the worker may be waiting on us."""
        pipes = [self._reply_r] + ([self.process.stdout] if self.process is not None
                                   and self.process.stdout is not None else [])
        if self._buffer:
            return True
        try:
            return bool(select.select(pipes, [], [], 0)[0])
        except (OSError, ValueError):
            return False

    def _send(self, message, budget: _Meter) -> None:
        """Write a whole message; a worker that stops reading cannot block us past the budget."""
        budget.sending = True
        try:
            self._send_all(message, budget)
        finally:
            budget.sending = False

    def _send_all(self, message, budget: _Meter) -> None:
        data = memoryview(message if isinstance(message, bytes) else wire.encode(message))
        while data:
            budget.check()
            _, ready, _ = select.select([], [self._request_w], [], budget.next_wait())
            if not ready:
                continue
            data = data[os.write(self._request_w, data):]

    def request(self, message: dict, timeout_s: float, idle_s: float | None = None) -> CallOutcome:
        """Send one request and serve callbacks until its reply, a crash, or until it passes
        ``timeout_s`` CPU seconds or ``idle_s`` idle seconds (default: ``timeout_s``)."""
        started = time.monotonic()
        budget = _Meter(self, timeout_s, timeout_s if idle_s is None else idle_s,
                        self._check_folder)
        # What the worker printed before its first request (e.g. bubblewrap's own error, which
        # the sink may read before this line runs) belongs to that first request, the load.
        mark = self._sink.mark() if self._sink and self._request_id else 0
        private_prefix = f"{self.directory}{os.sep}"
        outcome = self._request(message, budget)
        outcome.seconds = time.monotonic() - started
        outcome.cpu_s, outcome.idle_s = budget.cpu_used, budget.idle
        if self._sink is not None:
            if not self.alive:
                self._sink.join(timeout=1)
            else:
                self._sink.wait_for(f"\x1enngrade-sync:{self._request_id}\x1e".encode(), 1.0)
            outcome.output = self._sink.since(mark)
            # Show "solution.py:12" rather than the worker's private path.
            outcome.output = outcome.output.replace(private_prefix, "")
        return outcome

    def _request(self, message: dict, budget: _Meter) -> CallOutcome:
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
                    began = time.monotonic()
                    self._serve_callback(reply, allowed, budget)
                    budget.excuse(time.monotonic() - began)
                    continue
                outcome = self._outcome_from_reply(reply)
                budget.finish()
                return outcome
        except _OverBudget as over:
            self.kill()
            if over.kind == "idle":
                return CallOutcome(ok=False, timed_out=True, idle_out=True,
                                   timeout_s=budget.idle_seconds)
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

    def _serve_callback(self, message: dict, allowed: set, budget: _Meter) -> None:
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
        self.hung_s = 0.0              # CPU limits of the calls that ran out of CPU time
        self.hangs = 0                 # how many calls ran out of CPU time
        self.hung_calls: set = set()   # (op, class, method) of the requests that timed out
        self.idle_s = 0.0              # idle seconds of all calls (see Limits, _Meter)
        self.waits = 0                 # how many calls were stopped for waiting too long
        self.waited_calls: set = set() # (op, class, method) of those
        self.cpu_s = 0.0               # CPU seconds of all requests, the loads included
        # Budgets (``tolerances.PART_CPU_BUDGET_S``; set by the plugin): what each part, and the
        # grading, may spend in CPU seconds, calls into the worker and the grader's own runs of
        # what the student described together. ``part`` is the part being graded now.
        self.part = ""
        self.part_budgets: dict[str, float] = {}
        self.grading_budget_s = float("inf")
        self.spent_by_part: dict[str, float] = {}
        self._grader_cpu_since: float | None = None
        self._network_runner = None     # grader.networks.metered.Runner, started on first use
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
        outcome = self.worker.request({"op": "load"}, self.limits.load_timeout_s,
                                      (self._idle_limit()[0] or self.limits.idle_after_budget_s)
                                      + self.limits.load_free_idle_s)
        self._charge(outcome, ("load", None, None, ()), free_s=self.limits.load_free_cpu_s,
                     free_idle_s=self.limits.load_free_idle_s)
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
        timeout, shortened = timeout_s or self.limits.call_timeout_s, []
        left = self.budget_left()
        if left <= 0:
            return CallOutcome(ok=False, timed_out=True, budget_out=True, timeout_s=0.0,
                               shortened=f"not called: {self.budget_spent()}")
        by_budget = left < timeout
        timeout = min(timeout, left)
        # A call that hung is not made again once the allowance is spent; one that replaces
        # other methods by the reference is another call (the hang may be in what it replaces).
        what = (message.get("op"), message.get("cls"), message.get("method") or message.get("task"),
                tuple(sorted(map(str, message.get("substitute") or ()))))
        if self.hung_s >= self.limits.hang_budget_s:
            spent = (f"{self.hangs} calls of this submission did not finish, using up its "
                     f"{self.limits.hang_budget_s:g} CPU s allowance for calls that hang; look "
                     "for an infinite loop")
            if what in self.hung_calls:
                # Calling it again would only hang again: one hanging submission must not hold
                # up a batch for an hour.
                return CallOutcome(ok=False, timed_out=True, timeout_s=0.0, shortened=(
                    f"not called again: it did not finish in an earlier test, and {spent}"))
            timeout = min(timeout, self.limits.call_timeout_after_hangs_s)
            shortened.append(f"a shorter limit: {spent}")
        idle, spent = self._idle_limit()
        if not spent and idle < self.limits.call_idle_s:
            shortened.append("a shorter limit: earlier calls of this submission waited without "
                             f"computing for most of its {self.limits.idle_budget_s:g} s allowance")
        if spent:
            if what in self.waited_calls:
                return CallOutcome(ok=False, timed_out=True, idle_out=True, timeout_s=0.0,
                                   shortened=f"not called again: it waited without computing "
                                             f"in an earlier test, and {spent}")
            idle = self.limits.idle_after_budget_s
            shortened.append(f"a shorter limit: {spent}")
        outcome = self.worker.request(message, timeout, idle)
        if outcome.timed_out and by_budget and not outcome.idle_out:
            outcome.budget_out = True   # not a hang: the call would have had more time
        self._charge(outcome, what)
        if outcome.timed_out:
            if outcome.budget_out:
                shortened = [f"it was stopped when {self.budget_spent()}"]
            outcome.shortened = "; ".join(shortened)
        if inputs is not None and outcome.ok:
            reported = outcome.inputs or InputEvidence()
            inputs.after, inputs.parameters = reported.after, reported.parameters
            outcome.inputs = inputs
        else:
            outcome.inputs = None
        return outcome

    # -- budgets -----------------------------------------------------------------------------
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

    def budget_spent(self) -> str:
        """The sentence for the budget that binds now: the part's, or the grading's."""
        part_left, grading_left = self._budgets_left()
        if part_left <= grading_left:
            budget = self.part_budgets.get(self.part, float("inf"))
            return f"this submission used its whole budget of {budget:g} CPU s in {self.part}"
        return (f"this submission used its whole budget of {self.grading_budget_s:g} CPU s for the "
                "grading")

    def run_network_task(self, task: str, limit_s: float | None = None, **kwargs):
        """Run one of the grader's own computations on what the student described
        (``grader.networks.metered.TASKS``: a rebuilt network's training or evaluation) in the
        grader's metered child process, under what is left of the part's budget, and charge its
        CPU time to the part. ``limit_s``: a smaller limit of this run alone (one study of the
        experiments, so that one costly network does not take the other studies' share).
        Raises ``metered.BudgetSpent`` (with the budget's sentence, or the run's limit) when the
        run uses the rest of the budget or its limit, ``metered.ChildFailed`` when it fails."""
        from grader.networks import metered

        left = self.budget_left()
        if left <= 0:
            raise metered.BudgetSpent(0.0, self.budget_spent())
        allowed = left if limit_s is None else min(left, limit_s)
        if self._network_runner is None:
            self._network_runner = metered.Runner()
        runner = self._network_runner
        try:
            return runner.run(task, allowed, **kwargs)
        except metered.BudgetSpent:
            pass
        finally:
            self._spend(runner.cpu_used)
        if allowed < left:
            raise metered.BudgetSpent(allowed, f"the run used its whole limit of {allowed:g} CPU s")
        raise metered.BudgetSpent(left, self.budget_spent())

    def _idle_limit(self) -> tuple[float, str]:
        """The idle seconds the next request may spend, and why it is short once the grading's
        allowance is spent ("" while it is not)."""
        left = self.limits.idle_budget_s - self.idle_s
        if left > self.limits.idle_after_budget_s:
            return min(self.limits.call_idle_s, left), ""
        return 0.0, (f"calls of this submission waited without computing for its whole "
                     f"{self.limits.idle_budget_s:g} s allowance; look for a sleep or a read "
                     "that waits for something that never comes")

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
        if self._network_runner is not None:
            self._network_runner.close()
            self._network_runner = None

    def record(self) -> dict:
        """What the results say about the confinement: mode, warning and resource limits."""
        private_uid = os.geteuid() == 0 and self.mode.name != "rlimits-only"
        return {"mode": self.mode.name, "warning": self.mode.warning,
                "limits": self.limits.as_record(),
                "rlimits": self.limits.rlimits(private_uid=private_uid),
                "private_user_id": private_uid,
                "spent": {"cpu_s": round(self.cpu_s, 2), "idle_s": round(self.idle_s, 2),
                          "cpu_s_by_part": {k: round(v, 2) for k, v in self.spent_by_part.items()},
                          "calls_over_cpu": self.hangs, "calls_over_idle": self.waits}}
