"""The warm worker's parent: imports numpy and torch once, then forks a fresh worker on request.

Starting a worker costs importing torch (about 1.5 CPU s). A grading starts several (the
preflight, isolation restarts, a restart after a crash), so in bubblewrap mode the grader starts
this program once per submission, inside that submission's sandbox, and asks it for each
worker: every worker is a ``fork`` of this process, which never ran any of the submission, so
it starts with the modules already imported and with nothing that an earlier worker did.

This program is the init of the sandbox's PID namespace (bwrap's ``--as-pid-1``): the kernel
ignores every signal a worker sends it, SIGKILL and SIGSTOP included, and every orphan of a
worker becomes its child. Between two workers the grader asks for a ``reset``: this program kills
every other process of the sandbox (``kill(-1)`` reaches its own PID namespace only), reaps
them, and empties
every place a worker can write (``/tmp``, ``/dev/shm``, the worker folder; the rest of the
sandbox is mounted read-only) and the System V IPC objects of the sandbox's own IPC namespace.
So nothing one worker left (a file, a shared memory segment, a process, a changed module)
reaches the next. This program itself cannot be read or traced by a worker either (it is not
dumpable).

Protocol (``grader/isolation/PROTOCOL.md``, "The warm worker"): one ``SOCK_SEQPACKET`` socket,
fd ``sys.argv[1]``, JSON messages, one per packet:

- this program, once its imports are done (numpy, torch, and those of ``PRELOADABLE`` named in
  ``sys.argv[3]``, comma-separated): ``{"ready": <its pid in the sandbox>}``;
- ``{"op": "fork", "submission": path}`` with three fds (SCM_RIGHTS: the request pipe's read
  end, the reply pipe's write end, the output pipe's write end) -> ``{"pid": <the worker's pid
  in the sandbox>}``; the worker runs the worker program with those fds, its output on fd 1
  and 2, exactly as a cold worker does;
- ``{"op": "reset"}`` -> ``{"reset": true}`` once the sandbox holds no other process and no file
  or IPC object a worker made;
- ``{"op": "preload", "modules": [...]}`` (no answer): import those of ``PRELOADABLE`` when
  nothing else is asked, so that the workers forked after inherit them.

It imports nothing of the grader; everything here runs inside the sandbox.
"""
from __future__ import annotations

import array
import ctypes
import importlib
import json
import os
import select
import shutil
import signal
import socket
import stat
import sys

CONTROL = socket.socket(fileno=int(sys.argv[1]))
FOLDER = os.getcwd()
KEEP_IN_FOLDER = frozenset(os.listdir(FOLDER))
"""The files bound read-only into the folder (the submission and the inside programs)."""
WRITABLE = ("/tmp", "/dev/shm", FOLDER)
WORKER_PROGRAM = sys.argv[2]

_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_DUMPABLE = 4
_IPC_RMID = 0

# Not dumpable: a worker of the same user id can neither trace this process nor read its memory
# or fds through /proc, so it cannot reach the workers forked after it.
_LIBC.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)

import numpy  # noqa: E402,F401 - the point of this program: imported once, before any fork
import numpy.random  # noqa: E402
import torch  # noqa: E402
import torch.fx  # noqa: E402,F401
import torch.nn  # noqa: E402,F401
import torch.nn.functional  # noqa: E402,F401

import _nngrade_wire  # noqa: E402,F401 - the worker program's first import


def _send(message: dict) -> None:
    CONTROL.send(json.dumps(message).encode())


def _receive() -> tuple[dict, list[int]]:
    fds = array.array("i")
    data, ancillary, _flags, _address = CONTROL.recvmsg(65536, socket.CMSG_SPACE(16 * fds.itemsize))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    if not data:
        raise EOFError
    return json.loads(data), list(fds)


def _run_worker(submission: str, request_r: int, reply_w: int, output_w: int) -> None:
    """In the forked child: become a worker exactly as the boot code makes a cold one."""
    try:
        os.setsid()   # a process group of its own: the grader kills the worker by its group
        _LIBC.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)   # as a cold worker is
        os.dup2(output_w, 1)
        os.dup2(output_w, 2)
        keep = {0, 1, 2, request_r, reply_w}
        for fd in os.listdir("/proc/self/fd"):
            if int(fd) not in keep:
                try:
                    os.close(int(fd))
                except OSError:
                    pass
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        # Every worker draws fresh random numbers, as a process of its own would (numpy's
        # global generator was seeded once, in this program; Python's ``random`` reseeds itself
        # after a fork).
        numpy.random.seed()
        sys.argv = [WORKER_PROGRAM, str(request_r), str(reply_w), submission]
        import runpy

        runpy.run_path(WORKER_PROGRAM, run_name="__main__")
    finally:
        # Never back into this program's loop, whatever the worker did.
        os._exit(0)


def _fork(message: dict, fds: list[int]) -> None:
    if len(fds) != 3 or not isinstance(message.get("submission"), str):
        for fd in fds:
            os.close(fd)
        _send({"error": "a fork needs a submission path and three fds"})
        return
    pid = os.fork()
    if pid == 0:
        CONTROL.close()
        _run_worker(message["submission"], *fds)
    for fd in fds:
        os.close(fd)
    _send({"pid": pid})


def _others() -> list[int]:
    me = os.getpid()
    return [int(entry) for entry in os.listdir("/proc")
            if entry.isdigit() and int(entry) not in (1, me)]


def _kill_others() -> None:
    """Kill and reap every process of the sandbox but this one, its init."""
    for _ in range(100):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        while True:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        if not _others():
            return
    raise RuntimeError("processes of an earlier worker are still running")


def _remove(path: str) -> None:
    def allow(function, name, _info):   # a folder the worker made unreadable or unwritable
        try:
            os.chmod(os.path.dirname(name) or name, stat.S_IRWXU)
            os.chmod(name, stat.S_IRWXU)
        except OSError:
            pass
        try:
            function(name)
        except OSError:
            pass

    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, onerror=allow)
    else:
        try:
            os.unlink(path)
        except OSError:
            pass


def _wipe() -> None:
    for place in WRITABLE:
        try:
            names = os.listdir(place)
        except OSError:
            continue
        for name in names:
            path = os.path.join(place, name)
            if place == FOLDER and name in KEEP_IN_FOLDER:
                continue
            if place == "/tmp" and os.path.join(place, name) == FOLDER.rstrip("/"):
                continue   # the folder's own mount point, when it lies under /tmp
            if place == "/tmp" and FOLDER.startswith(path + os.sep):
                _wipe_above_folder(path)
                continue
            _remove(path)
    _remove_ipc_objects()


def _wipe_above_folder(path: str) -> None:
    """Empty a directory that holds the folder's mount point, keeping the way down to it."""
    for name in os.listdir(path):
        inner = os.path.join(path, name)
        if inner == FOLDER.rstrip("/"):
            continue
        if FOLDER.startswith(inner + os.sep):
            _wipe_above_folder(inner)
        else:
            _remove(inner)


def _remove_ipc_objects() -> None:
    """System V shared memory, semaphores and message queues live as long as the IPC namespace
    (the sandbox's), not as long as the process that made them."""
    for table, remove in (("shm", lambda i: _LIBC.shmctl(i, _IPC_RMID, None)),
                          ("sem", lambda i: _LIBC.semctl(i, 0, _IPC_RMID)),
                          ("msg", lambda i: _LIBC.msgctl(i, _IPC_RMID, None))):
        try:
            with open(f"/proc/sysvipc/{table}") as handle:
                rows = handle.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 1 and fields[1].lstrip("-").isdigit():
                remove(int(fields[1]))


PRELOADABLE = ("torch._dynamo",)
"""What may be imported on request: torch imports ``torch._dynamo`` the first time a torch
optimizer is made or ``make_fx`` traces (0.9 s), which Part 4's capture and BatchNorm2d's do."""
_preloads: list[str] = []


def _import(name: str) -> None:
    try:
        importlib.import_module(name)
    except Exception:   # noqa: BLE001 - a worker then imports it itself, as a cold one
        pass


def _idle() -> bool:
    """Whether no message is waiting (the time to import what was asked for)."""
    return not select.select([CONTROL], [], [], 0)[0]


def main() -> None:
    # What the grading will need in every worker is imported before the first fork: a grading of
    # Part 4 forks its preflight's worker, which then captures the networks, at once.
    _preloads.extend(name for name in (sys.argv[3] if len(sys.argv) > 3 else "").split(",")
                     if name in PRELOADABLE)
    while _preloads:
        _import(_preloads.pop(0))
    _send({"ready": os.getpid()})
    while True:
        while _preloads and _idle():
            _import(_preloads.pop(0))
        try:
            message, fds = _receive()
        except (EOFError, OSError, ValueError):
            # The grader closed the sandbox. As the namespace's init, this exit ends every
            # process of the sandbox; skipping the interpreter's teardown (torch's modules,
            # 0.5 s) is what makes the end of a grading prompt. Nothing here is left to flush.
            os._exit(0)
        op = message.get("op") if isinstance(message, dict) else None
        if op == "fork":
            _fork(message, fds)
        elif op == "reset":
            for fd in fds:
                os.close(fd)
            try:
                _kill_others()
                _wipe()
            except (OSError, RuntimeError) as error:
                _send({"error": f"{type(error).__name__}: {error}"})
                continue
            _send({"reset": True})
        elif op == "preload":
            for fd in fds:
                os.close(fd)
            modules = message.get("modules")
            if isinstance(modules, list):
                _preloads.extend(name for name in modules if name in PRELOADABLE)
        else:
            for fd in fds:
                os.close(fd)
            _send({"error": f"unknown op {op!r}"})


if __name__ == "__main__":
    main()
