"""The grader's own runs of what a student described, in a child process that is metered and can
be stopped (issue 23, section 2).

A rebuilt network is the grader's code running the student's description: no student code, but a
cost the student chose. Bounding that cost by a proxy (the meta-device FLOP count, a budget
checked between training batches) leaves a gap: one operation the proxy does not price (a pooling
with a huge window, a long chain of elementwise work) can hold the grader's own process for hours,
and no check runs inside a torch kernel. So the grader runs such work in a child process of its
own and meters it as it meters the sandboxed worker: the CPU seconds of the child's whole process
tree, read from /proc while the grader waits, and a SIGKILL when a run passes its budget. A single
operation, however long, cannot outlast the budget by more than one reading (0.1 s).

Why a child process rather than a cost model that prices every allow-listed operator: the
allow-list has over a hundred operators and methods, with costs that depend on arguments
(windows, strides, dilations, dimensions) and on torch's kernels; a model that is correct for all
of them, and stays correct as the allow-list grows, cannot be tested exhaustively, while a meter
needs no model at all. The child costs one interpreter start and torch's import (about 1.5 CPU s)
per grading that runs a network; it is started on first use and kept for the grading, with the
grader's own thread count (one in a grading).

The child runs only the functions named in ``TASKS`` (grader code, never the student's), takes
their arguments and returns their values as plain data (``grader/isolation/wire.py``: JSON and
raw numeric arrays; nothing is pickled), and inherits the grader's thread settings (one thread
per library in a batch). It is not sandboxed: it runs nothing of the student's, only the grader's
interpreter of an allow-listed graph, which is what the grader's own process did before.
"""
from __future__ import annotations

import os
import resource
import select
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

from grader.isolation import sandbox, wire
from grader.isolation.lifeline import die_with_parent, kill_group

TASKS = {
    "echo": "grader.networks.metered:_echo",
    "spin": "grader.networks.metered:_spin",
    "threads": "grader.networks.metered:_threads",
    "outputs": "grader.networks.runs:outputs",
    "trained_with_controls": "grader.networks.runs:trained_with_controls",
    "study_training": "grader.networks.runs:study_training",
    "lenet_batch_norm": "grader.networks.runs:lenet_batch_norm",
}
"""The functions the child may run, by name: ``module:function`` of the grader's own code
(``grader/networks/runs.py`` holds the CNN parts' runs)."""

READ_EVERY_S = 0.1
"""How often the grader reads the child's CPU time while a run goes on."""

START_CPU_S = 30.0
"""CPU seconds the child may take to start (an interpreter and torch's import: about 1.5 s)."""

MEMORY_BYTES = 8 * 1024 ** 3
"""Address space of the child when it runs on the CPU alone (a rebuilt network's memory per
image is bounded by ``tolerances.GRAPH_MAX_ACTIVATIONS_PER_EXAMPLE``; this is the backstop). A
child that may use a GPU gets no such limit: CUDA maps far more address space than it uses."""


class BudgetSpent(RuntimeError):
    """A run used more CPU seconds than its budget; the child was stopped. The message is the
    budget's sentence for the student when the caller gives one."""

    def __init__(self, budget_s: float, sentence: str = ""):
        super().__init__(sentence or f"it used more than its {budget_s:g} CPU s")
        self.budget_s = budget_s


class ChildFailed(RuntimeError):
    """The child could not run the task: it raised (the message says what), or it died."""


def _echo(**kwargs):
    """For tests of the channel: returns its arguments."""
    return kwargs


def _threads() -> int:
    """For tests: torch's thread count in the child."""
    import torch

    return torch.get_num_threads()


def _spin(seconds: float):
    """For tests of the meter: computes for ``seconds`` of CPU time inside one call that Python
    cannot interrupt, as a long torch kernel would."""
    import numpy as np

    started = time.process_time()
    size = 256
    while time.process_time() - started < seconds:
        a = np.ones((size, size))
        for _ in range(50):
            a = a @ a / size
    return {"spun": time.process_time() - started}


def _preexec(limit_memory: bool):
    """What the child runs between fork and exec: die with the grader, and its limits."""
    arm = die_with_parent()   # here, in the grader: it records the grader's pid

    def limits() -> None:
        if arm is not None:
            arm()
        if limit_memory:
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return limits


class Runner:
    """One child process of the grader, started on first use, that runs ``TASKS``."""

    def __init__(self):
        self.process: subprocess.Popen | None = None
        self.cpu_used = 0.0
        """CPU seconds of the last run (what the grader charges to the part's budget)."""
        self._answered = False
        """Whether the child has answered once (its imports are done: no run pays for them)."""

    def spawn(self) -> None:
        """Start the child now and return at once: its interpreter and imports run while the
        grading goes on, and the first run waits for them (charged to no one). Must be called
        from a thread that outlives the child (``die_with_parent``)."""
        if self.process is None or self.process.poll() is not None:
            self._spawn()

    def _start(self) -> None:
        self._spawn()
        self._ready()

    def _ready(self) -> None:
        self._call({"task": "echo", "kwargs": {}}, START_CPU_S)
        self._answered = True

    def _spawn(self) -> None:
        # The grader's own thread count (one in a grading: several gradings, or the worker
        # beside it, share the cores; torch's default of one per core would oversubscribe them).
        threads = str(_torch_threads())
        environment = {**os.environ, "NNGRADE_CHILD_THREADS": threads, "OMP_NUM_THREADS": threads,
                       "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
        # The grader's own folder on sys.path, whatever the current directory: the child runs
        # the grader's code only.
        root = str(Path(__file__).resolve().parents[2])
        environment["PYTHONPATH"] = os.pathsep.join(
            [root, *filter(None, [os.environ.get("PYTHONPATH")])])
        self.process = subprocess.Popen(
            [sys.executable, "-m", "grader.networks.metered"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=environment, cwd=root,
            start_new_session=True, preexec_fn=_preexec(limit_memory=not _gpu_present()))
        self._answered = False

    def run(self, task: str, cpu_budget_s: float, **kwargs):
        """``TASKS[task](**kwargs)`` in the child; its value. Raises BudgetSpent when the run
        passes ``cpu_budget_s`` CPU seconds (the child is stopped; the next run starts a fresh
        one), ChildFailed when the task raised or the child died."""
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}")
        if self.process is None or self.process.poll() is not None:
            self._start()
        elif not self._answered:   # spawned ahead: wait for its imports, uncharged
            self._ready()
        return self._call({"task": task, "kwargs": kwargs}, cpu_budget_s)

    def _call(self, message: dict, cpu_budget_s: float):
        process = self.process
        started, _ = sandbox.tree_usage(process.pid)
        self.cpu_used = 0.0
        try:
            frame = wire.encode(message)
            process.stdin.write(frame)
            process.stdin.flush()
            reply = self._read_reply(process, started, cpu_budget_s)
        except BudgetSpent:
            self.close()
            raise
        except (OSError, ValueError, EOFError, wire.WireError) as error:
            code = process.poll()
            self.close()
            raise ChildFailed(f"the grader's child process died ({_describe(code, error)})") from None
        if not isinstance(reply, dict) or not reply.get("ok"):
            error = reply.get("error") if isinstance(reply, dict) else "a malformed reply"
            raise ChildFailed(str(error))
        return reply.get("value")

    def _read_reply(self, process, started: float, budget: float):
        fd = process.stdout.fileno()
        buffer = bytearray()
        needed = 8
        length = None
        while True:
            used, _ = sandbox.tree_usage(process.pid)
            self.cpu_used = max(0.0, used - started)
            if self.cpu_used > budget:
                raise BudgetSpent(budget)
            ready, _, _ = select.select([fd], [], [], READ_EVERY_S)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise EOFError("the child closed its output")
            buffer += chunk
            if length is None and len(buffer) >= needed:
                (length,) = struct.unpack_from("<Q", buffer, 0)
                needed = 8 + length
            if length is not None and len(buffer) >= needed:
                used, _ = sandbox.tree_usage(process.pid)
                self.cpu_used = max(self.cpu_used, used - started)
                if self.cpu_used > budget:
                    raise BudgetSpent(budget)
                return wire.decode(bytes(buffer[8:needed]))

    def close(self) -> None:
        # Taken first: a run ahead (grader/networks/ahead.py) may be closed from another thread.
        process, self.process = self.process, None
        if process is None:
            return
        kill_group(process, 10)
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except OSError:
                pass


def _describe(code, error) -> str:
    if code is not None and code < 0:
        return f"signal {signal.Signals(-code).name}"
    if code is not None:
        return f"exit status {code}"
    return f"{type(error).__name__}: {error}"


def _torch_threads() -> int:
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else 1


def _gpu_present() -> bool:
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_available())


def _serve() -> None:
    """The child's loop: one message in, one reply out, until its input closes."""
    import importlib

    # The channel keeps the original stdout; anything a task prints goes to stderr instead of
    # into a reply.
    channel = os.dup(1)
    os.dup2(2, 1)
    threads = os.environ.get("NNGRADE_CHILD_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    # What the first training would import (a torch optimizer imports torch._dynamo, 0.9 s),
    # imported before the child answers: a child spawned ahead does it while the grading goes
    # on, and no run is charged for it either way.
    import torch._dynamo  # noqa: F401
    while True:
        try:
            message = wire.read_message(0)
        except EOFError:
            return
        try:
            module_name, function_name = TASKS[message["task"]].split(":")
            function = getattr(importlib.import_module(module_name), function_name)
            reply = {"ok": True, "value": function(**message.get("kwargs", {}))}
        except Exception as error:  # noqa: BLE001 - reported to the grader, which decides
            reply = {"ok": False, "error": f"{type(error).__name__}: {str(error)[:1000]}"}
        wire.write_message(channel, reply)


if __name__ == "__main__":
    _serve()
