"""The worker process and its transport: start the sandboxed process, talk to it over its pipes,
drain its output, and say how each request ended, as data.

``Worker`` owns one process: it starts it in a private directory holding only a copy of the
submission and the worker program, sets resource limits, sends requests over a pipe, answers the
worker's reference callbacks, enforces a per-call deadline (``limits._Meter``) and kills the whole
process group when the deadline passes or the test is over. It decides no policy (which calls to
make, with what limits: ``policy.Session``) and words nothing a student reads (``messages``).
"""
from __future__ import annotations

import os
import secrets
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.isolation import INSIDE_COPIES, WORKER_PROGRAM, lifeline, messages, sandbox, wire
from grader.isolation.evidence import reported_inputs
from grader.isolation.limits import Limits, _Meter, _OverBudget
from grader.isolation.outcome import CallOutcome, ProcessExit
from grader.isolation.output_sink import READY, _OutputSink, sync_marker
from grader.isolation.warm import WarmSandbox, WarmUnavailable

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
    """The worker folder holds more than ``Limits.folder_bytes`` (outside bubblewrap); its
    message is why the worker was stopped (``messages.folder_full``)."""


_READ_CHUNK = 1 << 20
"""The most the grader reads from the worker's pipe at once."""

_LIVE_WORKERS: set[int] = set()
"""Pids of this process's running workers (never taken for orphans)."""


def worker_environment(directory: Path, limits: Limits, uid: int | None, program: str) -> dict:
    """The whole environment of a worker (or of a warm sandbox's zygote) whose private folder is
    ``directory``: what the boot code needs, the kept variables, one thread each."""
    environment = {k: os.environ[k] for k in _KEPT_ENVIRONMENT if k in os.environ}
    environment.update(SINGLE_THREAD_ENVIRONMENT)
    environment.update(_HEADLESS_ENVIRONMENT)
    environment.update({"HOME": str(directory), "TMPDIR": str(directory),
                        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
                        "NNGRADE_SANDBOX": sandbox.boot_environment(
                            limits.rlimits(private_uid=uid is not None), uid, program)})
    return environment


CallbackHandler = Callable[[str, list, dict, dict], Any]
"""Answers the worker's reference callbacks: ``(method, args, kwargs, attributes) -> value``."""


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
        self.warm: WarmSandbox | None = None
        """The warm sandbox whose zygote forked this worker, while it runs."""
        self.forked = False
        """Whether the worker was forked by a warm sandbox's zygote (else: started cold)."""
        self.meter_root: int | None = None
        """The host pid whose process tree is this worker's (``_Meter``)."""
        self.not_metered: frozenset[int] = frozenset()
        """Processes of that tree that are not the worker's (a warm sandbox's zygote)."""

    def sink_threads(self) -> set[int]:
        """Native ids of this process's threads that read from the worker."""
        native = getattr(self._sink, "native_id", None)
        return {native} if native else set()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, warm: WarmSandbox | None = None, submission_name: str = "solution.py") -> None:
        """Start the worker: forked by ``warm``'s zygote when one is given (``submission_name``
        is then the file of its folder to load), else a cold one in a sandbox of its own.
        Raises ``warm.WarmUnavailable`` when the warm sandbox cannot serve it."""
        if warm is not None:
            self._start_forked(warm, submission_name)
            return
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
        environment = worker_environment(self.directory, self.limits, uid, WORKER_PROGRAM)
        # -I: no PYTHONPATH, no user site, no current directory on sys.path; the boot code adds
        # the private directory back so the worker finds its copy of the wire module.
        command = sandbox.worker_command(
            self.mode, self.directory, copies,
            [str(request_r), str(reply_w), str(self.directory / "solution.py")],
            drop_privileges=uid is not None, tmp_bytes=self.limits.tmp_bytes,
            folder_bytes=self.limits.folder_bytes, shm_bytes=self.limits.shm_bytes)
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
        self.meter_root = self.process.pid
        self.known_pids = {self.process.pid}
        self._sink = _OutputSink(self.process.stdout, self.limits.output_bytes)
        self._sink.start()

    def _start_forked(self, warm: WarmSandbox, submission_name: str) -> None:
        forked = warm.fork(submission_name)
        self.warm, self.process, self.directory, self.forked = warm, forked, warm.directory, True
        self._request_w, self._reply_r = forked.request_w, forked.reply_r
        os.set_blocking(self._request_w, False)
        # Metered as the whole sandbox's tree, as a cold worker is (what left the worker's
        # process group, now the zygote's child, is counted too), but for the zygote itself:
        # what it does (an import in its idle time, WarmSandbox.preload) is not the student's.
        self.meter_root = warm.root_pid
        self.not_metered = frozenset({warm.zygote_pid})
        self.known_pids = sandbox.tree_usage(self.meter_root, self.not_metered)[1]
        self._sink = _OutputSink(forked.stdout, self.limits.output_bytes)
        self._sink.start()

    @property
    def alive(self) -> bool:
        if self.process is None:
            return False
        self.process.poll()
        return not getattr(self.process, "ended", self.process.returncode is not None)

    @property
    def ready(self) -> bool:
        """Whether the worker program started (printed ``READY``) before anything of the
        submission could run."""
        return self._sink is not None and self._sink.seen(READY)

    def kill(self) -> None:
        """Kill the worker and everything it started (its whole process group)."""
        if self.forked:
            if self.warm is not None:   # once only: its pid may be reused after the reset
                self._kill_forked()
            return
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
        self._close_pipes()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def _kill_forked(self) -> None:
        """A forked worker's end: its group is killed here, and the zygote's reset kills what
        left the group and empties what it wrote; a zygote that cannot do that is closed (the
        next worker is then a cold one)."""
        warm, self.warm = self.warm, None
        self.process.kill()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        try:
            warm.reset()   # a daemon that left the group holds the output pipe until then
        except WarmUnavailable as error:
            warm.close(because=str(error))
        self._close_pipes()
        self.process.close()
        if self._sink is None or not self._sink.is_alive():
            self.process.stdout.close()   # while the sink reads it, closing it would block
        self.directory = None   # the warm sandbox's, removed when it closes

    def _close_pipes(self) -> None:
        for fd in (self._request_w, self._reply_r):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._request_w = self._reply_r = -1
        if self._sink is not None:
            self._sink.join(timeout=2)

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
                raise _FolderFull(messages.folder_unmeasurable(error.strerror)) from None
            if used > self.limits.folder_bytes or entries > FOLDER_ENTRIES:
                raise _FolderFull(messages.folder_full(self.limits.folder_bytes, FOLDER_ENTRIES))

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
                self._sink.wait_for(sync_marker(self._request_id), 1.0)
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
            return CallOutcome(ok=False, crashed=str(error))
        except (EOFError, BrokenPipeError, OSError):
            returncode = self.process.wait(timeout=10) if self.process else None
            if self._sink is not None:
                self._sink.join(timeout=1)   # its last output, and whether it ever started
            started = self.ready
            # bwrap reports its child's death by signal N as 128 + N; the kernel, read for a
            # forked worker, does not.
            through_bwrap = self.mode.name == "bubblewrap" and self.warm is None
            self.kill()
            return CallOutcome(ok=False, crashed=messages.describe_exit(ProcessExit(
                returncode, under_bubblewrap=through_bwrap, started=started)))
        except wire.WireError as error:
            self.kill()
            return CallOutcome(ok=False, error_type="ProtocolError",
                               error_message=messages.malformed_message(error))

    def _serve_callback(self, message: dict, allowed: set, budget: _Meter) -> None:
        name = message.get("callback")
        if not isinstance(name, str) or name not in allowed:
            self._send({"ok": False, "error": messages.not_substituted(name)}, budget)
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
                               inputs=reported_inputs(reply.get("inputs")))
        error = reply.get("error") or {}
        if not isinstance(error, dict):
            error = {"message": str(error)}
        return CallOutcome(ok=False, error_type=str(error.get("type", "Error")),
                           error_message=str(error.get("message", "")),
                           traceback=str(error.get("traceback", "")))
