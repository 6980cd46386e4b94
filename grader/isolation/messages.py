"""The sentences the isolation boundary writes for people: what a student reads about a call
that did not return a value, and what the staff read when the grader cannot run a worker.

Everything here turns data into text (an outcome, a process's exit, a ``load`` reply, a limit),
and decides nothing: the transport (``process``) and the limits (``limits``) report facts, and
the words are chosen here, in one place. A message must read the same on a quiet and on a busy
machine, so none shows wall time. The hang policy's own sentences are the policy's (``policy``).
"""
from __future__ import annotations

import dataclasses
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.isolation.outcome import CallOutcome, ProcessExit

_SIGNAL_HINTS = {"SIGSEGV": " (segmentation fault)", "SIGKILL": " (killed: memory or CPU limit?)",
                 "SIGXCPU": " (CPU time limit)", "SIGXFSZ": " (file size limit)"}


def failure_text(outcome: CallOutcome) -> str:
    """A one-paragraph account of why the call did not return a value."""
    if outcome.timed_out:
        if outcome.shortened.startswith("not called"):
            return f"did not run ({outcome.shortened})"
        if outcome.budget_out:
            return f"did not finish: {outcome.shortened.removeprefix('it was stopped when ')}"
        # No wall time here: the message must read the same on a quiet and a busy machine.
        if outcome.idle_out:
            # The limit itself is not shown when it is what was left of the grading's
            # allowance: that rest carries the measurement's last digits.
            limit = ("what was left of its allowance" if outcome.shortened
                     else f"{outcome.timeout_s:g} s")
            text = (f"did not finish within the time limit: it waited longer than "
                    f"{limit} without computing (sleeping, or blocked on a read that never "
                    "returns); the worker was killed")
        else:
            text = (f"did not finish within the time limit ({outcome.timeout_s:g} s of CPU "
                    "time); the worker was killed")
        return f"{text} ({outcome.shortened})" if outcome.shortened else text
    if outcome.crashed:
        text = f"the worker process died: {outcome.crashed}"
        if outcome.output.strip():
            text += "\nits last output:\n" + outcome.output.strip()[-2000:]
        return text
    text = f"raised {outcome.error_type}: {outcome.error_message}".rstrip(": ")
    if outcome.traceback:
        text += "\n" + outcome.traceback.rstrip()
    return text


# -- the transport's facts ------------------------------------------------------------------------
def describe_exit(ended: ProcessExit) -> str:
    """Why the worker process died (``CallOutcome.crashed``)."""
    if not ended.started:
        died = describe_exit(dataclasses.replace(ended, started=True)).split(" (")[0]
        return (f"{died} before the worker program started, so none of the submission had run "
                "(the sandbox or the interpreter failed)")
    returncode = ended.returncode
    if returncode is None:
        return "it stopped answering"
    if ended.under_bubblewrap and 128 < returncode < 128 + 65:
        returncode = 128 - returncode  # bwrap reports a child killed by signal N as 128 + N
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}{_SIGNAL_HINTS.get(name, '')}"
    return f"exited with status {returncode} (sys.exit or os._exit in the submission?)"


def output_cut(printed: int, kept: int) -> str:
    """The note under output that was cut to ``Limits.output_bytes``."""
    return f"[output cut: {printed} bytes printed, {kept} kept]"


def _mib(n: int) -> str:
    return f"{n / 1024 ** 2:g} MiB"


def folder_full(limit_bytes: int, entries: int) -> str:
    """Why a worker that filled its folder was stopped (``CallOutcome.crashed``)."""
    return (f"it was stopped: it wrote more than {_mib(limit_bytes)} or {entries} files into its "
            "folder (the limit)")


def folder_unmeasurable(reason: str) -> str:
    """Why a worker whose folder could not be measured was stopped (``CallOutcome.crashed``)."""
    return f"it was stopped: its folder could not be measured ({reason})"


def malformed_message(error: Exception) -> str:
    """The ``error_message`` of a request whose reply broke the protocol."""
    return f"the worker sent a malformed message ({error}); it was stopped"


def not_substituted(name) -> str:
    """What the submission's code is told when it asks for a reference answer this request does
    not offer (it sees it as the callback's error)."""
    return (f"{name!r} is not replaced by the reference in this test; the submission's own method "
            "must be used")


# -- the limits' facts ----------------------------------------------------------------------------
def part_budget_spent(part: str, budget_s: float) -> str:
    return f"this submission used its whole budget of {budget_s:g} CPU s in {part}"


def grading_budget_spent(budget_s: float) -> str:
    return f"this submission used its whole budget of {budget_s:g} CPU s for the grading"


def idle_allowance_spent(allowance_s: float) -> str:
    return (f"calls of this submission waited without computing for its whole {allowance_s:g} s "
            "allowance; look for a sleep or a read that waits for something that never comes")


# -- for the staff: the grader cannot run a worker here ------------------------------------------
def could_not_start(mode_name: str, outcome: CallOutcome) -> str:
    """Why a worker that ran none of the submission failed, with its own output."""
    if outcome.timed_out:
        what = f"it did not answer within {outcome.timeout_s:g} s"
    elif outcome.crashed:
        what = outcome.crashed
    else:
        what = f"{outcome.error_type}: {outcome.error_message}"
    text = f"the worker could not be started in {mode_name} mode: {what}"
    output = outcome.output.strip()
    return text + (f"\nthe worker's output:\n{output[-4000:]}" if output else
                   "\n(the worker printed nothing)")


def could_not_launch(mode_name: str, error: Exception) -> str:
    """Why the worker process could not even be launched (the operating system refused it)."""
    return f"the worker could not be started in {mode_name} mode: {type(error).__name__}: {error}"


# -- the load's fallback --------------------------------------------------------------------------
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
