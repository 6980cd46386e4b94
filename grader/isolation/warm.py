"""The warm worker: one sandbox per submission whose zygote forks each worker the grading needs.

A cold worker start is a new sandbox and a new interpreter that imports torch (about 1.5 CPU s);
a grading needs several (the preflight, isolation restarts, restarts after a crash). In
bubblewrap mode the session starts one sandbox for the submission instead, running
``inside/zygote.py``, which imports numpy and torch once and forks a fresh worker on request
(``WarmSandbox.fork``). Between two workers the zygote kills whatever the last one left running
and empties every place it could write (``WarmSandbox.reset``): each worker starts as a cold one
would, with the imports already done.

Everything here is a shortcut, never a requirement: whenever the warm sandbox cannot start,
stops answering or fails to reset, it is closed and the session starts cold workers
(``Worker.start`` without one), which are the reference. A warm sandbox is used in bubblewrap
mode only: its reset kills every process of a PID namespace of its own, which the weaker modes
do not have.

What the grader reads about a forked worker comes from the kernel, not from the zygote (which
shares the sandbox with the student's code): its host pid is found in /proc (the process whose
innermost PID is the one the zygote named, under the sandbox's tree), its exit status is read
from /proc while it is a zombie (the zygote reaps only on reset), and it is metered as the whole
sandbox's tree, as a cold worker is.
"""
from __future__ import annotations

import array
import atexit
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from grader.isolation import INSIDE_COPIES, ZYGOTE_PROGRAM, WORKER_PROGRAM, lifeline, sandbox
from grader.isolation.limits import Limits
from grader.isolation.output_sink import _OutputSink

_HERE = Path(__file__).resolve().parent

READY_S = 120.0
"""Wall seconds the zygote may take to import numpy and torch before the session gives up on it
and starts cold workers (a busy disk or machine; nothing is charged to the student)."""
ANSWER_S = 30.0
"""Wall seconds the zygote may take to answer a fork or a reset (it deletes files on reset)."""

CLOSE_S = 2.0
"""Wall seconds a closed sandbox may take to end by itself before it is killed."""
WARM_ATTEMPTS = 2
"""Warm sandboxes a grading may give up on before its workers are all started cold."""

PREFLIGHT_MODULE = "_nngrade_preflight.py"
"""The module the preflight's worker loads in place of the submission."""
PREFLIGHT_TEXT = '"""nngrade\'s preflight: stands in for the submission."""\n'


class WarmUnavailable(Exception):
    """The warm sandbox cannot serve a worker now; the caller starts a cold one."""


class WarmSandbox:
    """One submission's sandbox with a zygote in it (see the module's docstring)."""

    def __init__(self, submission: Path, limits: Limits, mode: sandbox.Mode,
                 preloads: tuple[str, ...] = ()):
        if mode.name != "bubblewrap":
            raise WarmUnavailable("a warm sandbox needs bubblewrap's PID namespace")
        self.submission = Path(submission)
        self.limits = limits
        self.mode = mode
        self.preloads = tuple(preloads)
        """Modules the zygote imports before it says it is ready (``preloads_for``)."""
        self.directory: Path | None = None
        self.lease: sandbox.UidLease | None = None
        self.process: subprocess.Popen | None = None
        self._control: socket.socket | None = None
        self._output: _OutputSink | None = None
        self.zygote_pid: int | None = None
        """The zygote's host pid, once it said it was ready."""
        self.forks = 0
        self.closed_because = ""
        """Why it was closed before the grading ended (it is then given up on)."""

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the sandbox and its zygote; returns at once (``fork`` waits for it)."""
        self.directory = Path(tempfile.mkdtemp(prefix="nngrade-worker-"))
        shutil.copyfile(self.submission, self.directory / "solution.py")
        (self.directory / PREFLIGHT_MODULE).write_text(PREFLIGHT_TEXT)
        for source, copy in INSIDE_COPIES.items():
            shutil.copyfile(_HERE / source, self.directory / copy)
        copies = ["solution.py", PREFLIGHT_MODULE, *INSIDE_COPIES.values()]
        uid = None
        if os.geteuid() == 0:
            self.lease = sandbox.UidLease()
            uid = self.lease.uid
            for path in (self.directory, *self.directory.iterdir()):
                os.chown(path, uid, uid)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        from grader.isolation.process import worker_environment   # it imports this module

        environment = worker_environment(self.directory, self.limits, uid, ZYGOTE_PROGRAM)
        command = sandbox.worker_command(
            self.mode, self.directory, copies,
            [str(theirs.fileno()), WORKER_PROGRAM, ",".join(self.preloads)],
            drop_privileges=uid is not None, tmp_bytes=self.limits.tmp_bytes,
            folder_bytes=self.limits.folder_bytes, shm_bytes=self.limits.shm_bytes,
            as_pid_1=True)
        try:
            self.process = subprocess.Popen(
                command, cwd=self.directory, env=environment, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(theirs.fileno(),),
                start_new_session=True, close_fds=True, preexec_fn=lifeline.die_with_parent())
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._control = ours
        # The zygote's own output (an import error, bwrap's complaint): kept for the message.
        self._output = _OutputSink(self.process.stdout, 16 * 1024)
        self._output.start()

    @property
    def root_pid(self) -> int:
        """The host pid of the sandbox (bwrap): the root of the tree a worker is metered by."""
        return self.process.pid

    def _wait_ready(self) -> None:
        if self.zygote_pid is not None:
            return
        answer = self._answer(READY_S)
        ns_pid = answer.get("ready")
        if not isinstance(ns_pid, int):
            raise WarmUnavailable(f"the zygote said {answer!r}")
        self.zygote_pid = sandbox.host_pid(self.root_pid, ns_pid)
        if self.zygote_pid is None:
            raise WarmUnavailable("the zygote's process was not found")

    def fork(self, submission_name: str = "solution.py") -> ForkedProcess:
        """A fresh worker for ``submission_name`` (a file of the folder); raises WarmUnavailable."""
        if self.process is None or self._control is None:
            raise WarmUnavailable("the warm sandbox is closed")
        self._wait_ready()
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        output_r, output_w = os.pipe()
        try:
            message = json.dumps({"op": "fork",
                                  "submission": str(self.directory / submission_name)}).encode()
            fds = array.array("i", [request_r, reply_w, output_w])
            try:
                self._control.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
            except OSError as error:
                raise WarmUnavailable(f"the zygote is gone ({error})") from None
        finally:
            for fd in (request_r, reply_w, output_w):
                os.close(fd)
        try:
            answer = self._answer(ANSWER_S)
            pid = sandbox.host_pid(self.root_pid, answer.get("pid"), parent=self.zygote_pid)
            if pid is None:
                raise WarmUnavailable(f"no forked worker for the zygote's answer {answer!r}")
            forked = ForkedProcess(pid, os.fdopen(output_r, "rb"), request_w, reply_r)
        except BaseException:
            for fd in (request_w, reply_r, output_r):
                try:
                    os.close(fd)
                except OSError:
                    pass
            raise
        self.forks += 1
        return forked

    def preload(self, modules) -> None:
        """Have the zygote import ``modules`` (of ``zygote.PRELOADABLE``) when idle, so that the
        workers forked after start with them; no answer is awaited, and a zygote that cannot
        only leaves each worker to import them itself."""
        if self._control is not None:
            try:
                self._control.send(json.dumps({"op": "preload", "modules": list(modules)}).encode())
            except OSError:
                pass

    def reset(self) -> None:
        """Have the zygote kill what the last worker left and empty what it wrote; raises
        WarmUnavailable when it does not (the sandbox must then be closed)."""
        if self._control is None:
            raise WarmUnavailable("the warm sandbox is closed")
        try:
            self._control.send(json.dumps({"op": "reset"}).encode())
        except OSError as error:
            raise WarmUnavailable(f"the zygote is gone ({error})") from None
        answer = self._answer(ANSWER_S)
        if answer.get("reset") is not True:
            raise WarmUnavailable(f"the zygote could not reset: {answer!r}")

    def _answer(self, timeout_s: float) -> dict:
        """The zygote's next message (wall-clock ``timeout_s``: nothing here is the student's)."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WarmUnavailable(f"the zygote did not answer in {timeout_s:g} s")
            ready, _, _ = select.select([self._control], [], [], min(left, 1.0))
            if ready:
                break
            if self.process.poll() is not None:
                raise WarmUnavailable(f"the warm sandbox ended: {self.output()}")
        try:
            data = self._control.recv(65536)
        except OSError as error:
            raise WarmUnavailable(f"the zygote is gone ({error})") from None
        if not data:
            raise WarmUnavailable(f"the zygote is gone: {self.output()}")
        try:
            answer = json.loads(data)
        except ValueError:
            raise WarmUnavailable("the zygote's answer is not JSON") from None
        if not isinstance(answer, dict):
            raise WarmUnavailable("the zygote's answer is not an object")
        return answer

    def output(self) -> str:
        return self._output.since(0).strip()[-2000:] if self._output is not None else ""

    def close(self, because: str = "") -> None:
        """End the sandbox: the zygote reads the end of its socket and exits, and with it, the
        namespace's init, every process of the sandbox; all are then reaped (and their CPU
        counted for the grader's process). One that does not end in ``CLOSE_S`` is killed."""
        self.closed_because = self.closed_because or because
        if self._control is not None:
            self._control.close()
            self._control = None
        if self.process is not None:
            try:
                self.process.wait(timeout=CLOSE_S)
            except subprocess.TimeoutExpired:
                pass
            lifeline.kill_group(self.process, wait_s=10)
        if self.lease is not None:
            self.lease.release()
            self.lease = None
        if self._output is not None:
            self._output.join(timeout=2)
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


def preloads_for(parts) -> tuple[str, ...]:
    """What the zygote of a grading of ``parts`` imports before its first fork: ``torch._dynamo``
    when a part's capture makes a torch optimizer or traces with ``make_fx`` in the worker
    (``parts.GRADER_RUNS_STUDENT_WORK``), which imports it (0.9 s) where the zygote has not. A
    grading of numpy parts only does not wait for it."""
    from grader.parts import GRADER_RUNS_STUDENT_WORK

    return ("torch._dynamo",) if GRADER_RUNS_STUDENT_WORK & set(parts) else ()


_PRESTARTED: dict[tuple, WarmSandbox] = {}


def _key(submission: Path, limits: Limits, mode_name: str) -> tuple:
    """What a warm sandbox was made for: the submission, the mode, and every limit its boot code
    or its mounts fix (a prestarted one serves only a session with the same)."""
    rlimits = limits.rlimits(private_uid=os.geteuid() == 0)
    return (str(Path(submission).resolve()), mode_name, tuple(sorted(rlimits.items())),
            limits.tmp_bytes, limits.shm_bytes, limits.folder_bytes)


def prestart(submission: Path, requested_mode: str = "auto", parts=()) -> None:
    """Start the warm sandbox of ``submission`` now, with the default limits, for a grading of
    ``parts`` (``preloads_for``): called first thing by ``python -m grader grade`` and ``pytest
    grader``, so that the zygote imports torch on one core while the grading process imports
    torch and the grader on the other. A shortcut only: any failure here is silent, and the
    session then starts its own (``take_prestarted``)."""
    if os.environ.get("NNGRADE_WARM_WORKER", "1") == "0":
        return
    try:
        mode = sandbox.choose_mode(requested_mode)
        if mode.name != "bubblewrap" or not Path(submission).is_file():
            return
        warm = WarmSandbox(Path(submission), Limits(), mode, preloads_for(parts))
        warm.start()
    except Exception:   # noqa: BLE001 - the session tries again, and says why if it fails
        return
    if not _PRESTARTED:
        atexit.register(_close_prestarted)
    _PRESTARTED[_key(submission, warm.limits, mode.name)] = warm


def take_prestarted(submission: Path, limits: Limits, mode: sandbox.Mode) -> WarmSandbox | None:
    """The warm sandbox ``prestart`` made for exactly this submission, mode and limits."""
    return _PRESTARTED.pop(_key(submission, limits, mode.name), None)


def _close_prestarted() -> None:
    while _PRESTARTED:
        _PRESTARTED.popitem()[1].close()


class ForkedProcess:
    """A worker forked by the zygote, as ``Worker`` sees its process (what it uses of
    ``subprocess.Popen``). It is not the grader's child: its end is watched through a pidfd and
    its exit status read from /proc while it is a zombie."""

    def __init__(self, pid: int, stdout, request_w: int, reply_r: int):
        self.pid = pid
        self.stdout = stdout
        self.request_w, self.reply_r = request_w, reply_r
        self.returncode: int | None = None
        """Popen's convention (minus a signal's number); None while running, or when the
        process ended and its status could not be read (reaped by someone else)."""
        self.ended = False
        self._pidfd = os.pidfd_open(pid)

    def _ended(self, timeout: float | None) -> bool:
        if not self.ended and self._pidfd >= 0 \
                and select.select([self._pidfd], [], [], timeout)[0]:
            self.ended = True
            self.returncode = sandbox.exit_code(self.pid)
        return self.ended

    def poll(self) -> int | None:
        self._ended(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        if not self._ended(timeout) and timeout is not None:
            raise subprocess.TimeoutExpired("forked worker", timeout)
        return self.returncode

    def kill(self) -> None:
        """SIGKILL the worker's process group (what left it is the zygote's reset's)."""
        for kill in (os.killpg, os.kill):
            try:
                kill(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def close(self) -> None:
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1
