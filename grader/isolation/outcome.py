"""What one request to the worker produced, as plain data: the record every layer shares.

The transport (``process``) fills it from a reply or from how the request ended, the session's
policy (``policy``) adds what its limits decided, and the verdicts read it. The sentences a
student reads about it are ``messages``'; nothing here words anything.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grader.isolation import messages
from grader.isolation.evidence import InputEvidence


@dataclass(frozen=True)
class ProcessExit:
    """How a worker process ended, as data (``messages.describe_exit`` words it)."""

    returncode: int | None          # None: it was still running (it stopped answering)
    under_bubblewrap: bool = False  # bwrap reports a child killed by signal N as 128 + N
    started: bool = True            # whether the worker program printed its ready line


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
        return messages.failure_text(self)

    @property
    def not_implemented(self) -> bool:
        return self.error_type == "NotImplementedError"
