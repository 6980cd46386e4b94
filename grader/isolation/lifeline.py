"""Child processes that die with their parent, even when the parent is killed with SIGKILL.

A batch grades each submission in a child process tree: each thread of the batch (or of a Dask
worker) starts a grading process (``python -m grader.batch.grading_process``), which starts a
sandboxed worker for each submission it grades. When a parent is killed outright (Ctrl-C twice,
SIGKILL, a Dask nanny restarting its worker), nothing runs in it to clean up, and its children
would go on grading as orphans, holding a core. Linux's parent-death signal
(``prctl(PR_SET_PDEATHSIG)``) makes the kernel kill the child instead. It is tied to the thread
that started the child: that thread must outlive the child, which holds for the main thread, for
a pool thread that waits for its child, and for a pool thread that keeps its grading process
(the pool's threads live as long as the pool, and it ends their grading processes first).
"""
from __future__ import annotations

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1

try:   # loaded before any fork: a child must not import or dlopen between fork and exec
    _LIBC = ctypes.CDLL(None, use_errno=True)
    _prctl = _LIBC.prctl
except (OSError, AttributeError):   # not Linux: no parent-death signal, children may outlive
    _prctl = None


def die_with_parent(parent_pid: int | None = None):
    """A ``preexec_fn`` for ``subprocess.Popen``: the child gets SIGKILL when the thread that
    started it ends. ``parent_pid`` (default: the caller) closes the race of a parent that died
    before the child set the signal. Returns None where the platform has no such signal."""
    if _prctl is None:
        return None
    parent = os.getpid() if parent_pid is None else parent_pid

    def arm() -> None:   # runs in the child, between fork and exec
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)
    return arm


def kill_group(process, wait_s: float) -> None:
    """SIGKILL ``process``'s whole process group (it was started with ``start_new_session``),
    then wait up to ``wait_s`` seconds for it to be reaped."""
    import subprocess

    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        pass
