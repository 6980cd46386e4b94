"""Run the student's code in a separate process and talk to it in plain data.

This module is the boundary's front door: it holds no code of its own and names what the rest of
the grader imports, from the modules that each hold one concern:

- ``process``: the worker process and its transport (``Worker``: starting the sandboxed process,
  its pipes and messages, how it ended, as data), with ``output_sink`` (the thread that drains
  its output, and the markers in it);
- ``limits``: ``Limits``, the meter of one request's CPU and idle seconds, and the accounts of
  each part's and the grading's budgets;
- ``evidence``: ``InputEvidence``, what the grader records about the arrays a call received;
- ``outcome``: ``CallOutcome``, what one request produced;
- ``policy``: ``Session``, what tests use: restarts, the hang policy, forgetting reference
  answers, template adaptation; ``CouldNotGrade``;
- ``messages``: the sentences a student (or the staff) reads about all of the above.
"""
from __future__ import annotations

from grader.isolation.evidence import InputEvidence
from grader.isolation.limits import Accounts, Limits
from grader.isolation.messages import describe_fallback
from grader.isolation.outcome import CallOutcome, ProcessExit
from grader.isolation.output_sink import READY
from grader.isolation.policy import CouldNotGrade, Session
from grader.isolation.process import (
    FOLDER_ENTRIES,
    HEADER_FLOOR_BYTES,
    REPLY_FACTOR,
    REPLY_FLOOR_BYTES,
    SINGLE_THREAD_ENVIRONMENT,
    CallbackHandler,
    Worker,
)

__all__ = [
    "FOLDER_ENTRIES", "HEADER_FLOOR_BYTES", "READY", "REPLY_FACTOR", "REPLY_FLOOR_BYTES",
    "SINGLE_THREAD_ENVIRONMENT", "Accounts", "CallOutcome", "CallbackHandler", "CouldNotGrade",
    "InputEvidence", "Limits", "ProcessExit", "Session", "Worker", "describe_fallback",
]
