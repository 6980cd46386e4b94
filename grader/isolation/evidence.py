"""Input evidence: what the grader records about the arrays a request hands to the submission,
so that a verdict can tell whether the student's code changed one of them in place.

The verdict itself is ``grader.verdicts.inputs``; the exchange is PROTOCOL.md, "inputs". The
grader digests the arrays it sends (``sent_inputs``, before sending), the worker digests the same
array objects after the call, and ``reported_inputs`` reads that report as plain data.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from grader.isolation import wire


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


def input_fields(message: dict) -> dict:
    """The fields of a request whose arrays the submission receives and must leave unchanged
    (an optimizer's ``carry`` is meant to change)."""
    if message["op"] == "call":
        return {"args": message["args"], "kwargs": message["kwargs"]}
    return {"sequence": message["sequence"], "kwargs": message.get("kwargs", {})}


def sent_inputs(fields: dict) -> dict:
    """``{path: digest}`` of every array in ``fields`` (a request's input fields)."""
    return {path: wire.array_digest(array) for path, array in wire.array_leaves(fields)}


def reported_inputs(report) -> InputEvidence | None:
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
