"""The batch's grading process: grade one submission after another, each in a fresh sandbox.

Run as ``python -m grader.batch.grading_process`` by ``engine.GradingServer`` (the client side,
one server per engine thread). Starting a grading process (the interpreter, torch, numpy and the
grader) costs about 3 s; a server pays it once and then grades many submissions, each with
``grader.session.grade`` as ``python -m grader grade`` does. Nothing of the student's code runs in
this process: every grading makes a new ``GradingSession`` and so a fresh sandboxed worker
(``grader/isolation/worker.py``), which dies with its grading. What a grading changes in this
process (torch's global generator, the environment, the working folder) is put back before the
next; a grading that leaves a process or a thread behind makes the server ask to be replaced.

Protocol (version 1). Plain JSON, one UTF-8 object per line, never pickles; stdin carries the
requests, stdout the replies and nothing else (the grading's own output goes to the request's log).

- When its imports are done, the server writes ``{"ready": true, "protocol": 1, "pid": N}``.
- Request: ``{"id": "...", "submission": "/abs/solution.py", "results_json": "/abs/results.json",
  "log": "/abs/grading.log", "parts": ["softmax", ...] ([]: the default parts),
  "budget_scale": 1.0, "cwd": "/abs/folder"}`` (``cwd`` optional: the submission's folder).
  ``results_json`` is written by the grading (atomically, with progress after each row) exactly
  as by ``python -m grader grade --results-json``; ``log`` receives the grading's stdout and
  stderr (fds 1 and 2, so child processes' output too), and then its score table.
- Reply: ``{"id": (the request's), "done": true, "code": C}`` with ``python -m grader grade``'s
  exit code (0 full marks, 1 points lost, 2 could not grade); ``"done": false`` with ``"error"``
  when the request was refused (malformed, an unknown part, no file) or the grading raised (the
  traceback is in the log); ``"restart": "why"`` when the grading left something behind in
  this process. The client replaces the server after any reply but ``done`` with code 0 or 1 and
  no ``restart``, after a fixed number of gradings (``engine.SERVER_GRADINGS``), and whenever it
  had to kill it (the wall-clock cap) or it died or answered anything else.
- End of stdin, or ``--idle-exit`` seconds without a request: the server exits with 0. It dies
  with the thread that started it (``isolation.lifeline``); the client kills its whole process
  group at the cap, and whenever it replaces it.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import select
import sys
import threading
import traceback

PROTOCOL = 1
REQUEST_BYTES = 1 << 20   # the longest request line read
IDLE_EXIT_S = 600.0
"""A server that has had no request for this long exits (``--idle-exit``): one left behind by a
client that ended without closing it (a Dask client gone) holds no memory for long, and never
grades with grader code older than what is installed."""


def _ready_message() -> dict:
    return {"ready": True, "protocol": PROTOCOL, "pid": os.getpid()}


class Refused(ValueError):
    """A request that cannot be graded as it is (a fault of the client, never the student's)."""


def _field(request: dict, name: str, kind, default=None):
    value = request.get(name, default)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise Refused(f"the request's {name!r} must be a {getattr(kind, '__name__', kind)}, "
                      f"not {value!r}")
    return value


def options_of(request: dict):
    """``GradingOptions`` from a request (``Refused`` when it is malformed)."""
    from grader import session
    from grader.parts import UnknownParts

    submission = _field(request, "submission", str)
    results_json = _field(request, "results_json", str)
    parts = _field(request, "parts", list, [])
    if not all(isinstance(part, str) for part in parts):
        raise Refused(f"the request's parts must be names, not {parts!r}")
    scale = _field(request, "budget_scale", (int, float), 1.0)
    if not os.path.isfile(submission):
        raise Refused(f"no file at {submission}: pass the path of a solution.py")
    try:
        # One process at a time per grading: a batch runs one grading per core.
        return session.GradingOptions(submission=submission, parts=tuple(parts),
                                      results_json=results_json, budget_scale=float(scale),
                                      ahead=False)
    except (ValueError, UnknownParts) as error:
        raise Refused(str(error)) from None


class _OutputTo:
    """Within ``with``: fds 1 and 2 (this process's output and its children's) go to ``path``,
    opened (and emptied) when this is made, so that an OSError comes before anything is sent."""

    def __init__(self, path: str):
        self.log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self.saved = ()

    def __enter__(self):
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = os.dup(1), os.dup(2)
        os.dup2(self.log, 1)
        os.dup2(self.log, 2)
        return self

    def __exit__(self, *exception) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self.saved[0], 1)
        os.dup2(self.saved[1], 2)
        for fd in (self.log, *self.saved):
            os.close(fd)


class Server:
    """The state one grading must not pass to the next, and the loop that grades."""

    def __init__(self):
        import torch

        # The references do small float64 work; one thread is as fast and cannot oversubscribe
        # the cores when several graders (or the worker beside us) run at once.
        torch.set_num_threads(1)
        from grader import session
        from grader.parts import BY_NAME, PARTS

        for part in PARTS:   # what a first grading would import, paid here once
            importlib.import_module(BY_NAME[part].module_name)
        self.session = session
        self.home = os.getcwd()
        self.environment = dict(os.environ)
        self.torch_state = torch.get_rng_state()   # a fresh process's global generator
        self.threads = threading.active_count()

    def handle(self, line: bytes) -> dict:
        try:
            request = json.loads(line)
        except ValueError:
            return {"id": None, "done": False, "code": 2, "error": "the request is not JSON"}
        if not isinstance(request, dict):
            return {"id": None, "done": False, "code": 2, "error": "the request is not an object"}
        reply = {"id": request.get("id")}
        try:
            output = _OutputTo(_field(request, "log", str))
        except (Refused, OSError) as error:
            return {**reply, "done": False, "code": 2, "error": f"the log: {error}"}
        with output:
            reply.update(self._grade(request))
        left = self._left_behind()
        if left:
            reply["restart"] = left
        return reply

    def _grade(self, request: dict) -> dict:
        import torch

        try:
            options = options_of(request)
            folder = _field(request, "cwd", str, str(options.submission.parent))
            os.chdir(folder)
        except (Refused, OSError) as error:
            print(f"nngrade: {error}", file=sys.stderr)
            return {"done": False, "code": 2, "error": str(error)}
        torch.set_rng_state(self.torch_state)
        try:
            graded = self.session.grade(options)
        except Exception as error:   # the grader's own fault: the traceback goes to the log
            traceback.print_exc()
            return {"done": False, "code": 1, "error": f"{type(error).__name__}: {error}"[:500]}
        finally:
            os.chdir(self.home)
            if os.environ != self.environment:
                os.environ.clear()
                os.environ.update(self.environment)
        print(graded.table)
        return {"done": True, "code": graded.code}

    def _left_behind(self) -> str:
        """What the grading left running in this process: child processes (killed here) or
        threads. Either way the server is replaced rather than trusted with the next one."""
        from grader.isolation import sandbox

        me = str(os.getpid())
        children = [pid for pid, fields in sandbox._process_table().items() if fields[1] == me]
        if children:
            sandbox.kill_orphans(keep=set())
            return f"the grading left {len(children)} process(es) running"
        if threading.active_count() > self.threads:
            return f"the grading left {threading.active_count() - self.threads} thread(s) running"
        return ""


def _lines(fd: int, idle_s: float):
    """The lines read from ``fd`` (each with its end), until its end or ``idle_s`` seconds without
    one; a line longer than ``REQUEST_BYTES`` is yielded cut there."""
    buffer = b""
    while True:
        while b"\n" not in buffer and len(buffer) <= REQUEST_BYTES:
            if not select.select([fd], [], [], idle_s)[0]:
                return
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            buffer += chunk
        end = buffer.find(b"\n")
        end = end + 1 if 0 <= end <= REQUEST_BYTES else REQUEST_BYTES + 1
        line, buffer = buffer[:end], buffer[end:]
        yield line


def main(argv: list[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(prog="python -m grader.batch.grading_process")
    arguments.add_argument("--idle-exit", type=float, default=IDLE_EXIT_S,
                           help="exit after this many seconds without a request")
    idle_s = arguments.parse_args(argv).idle_exit
    # The protocol's own channels: stdout is kept for replies only, and fd 1 goes where stderr
    # goes (a print anywhere in the grader cannot corrupt a reply); stdin is read only here.
    requests = os.dup(0)
    replies = os.fdopen(os.dup(1), "wb", buffering=0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    server = Server()

    def answer(message: dict) -> None:
        replies.write(json.dumps(message).encode() + b"\n")

    answer(_ready_message())
    for line in _lines(requests, idle_s):
        if len(line) > REQUEST_BYTES:
            answer({"id": None, "done": False, "code": 2, "error": "the request is too long"})
            return 2
        answer(server.handle(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
