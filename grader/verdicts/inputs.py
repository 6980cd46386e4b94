"""Whether a graded call changed, in place, an array it was given.

The worked solution's conventions say: never modify the caller's arrays. A ``forward`` that
zeroes its input returns the right cache, yet in ``train_loop`` it wipes the training data it
receives as slices. After every ``call``, ``call_sequence`` and ``optimizer_steps`` (whose
parameters, the first argument, are meant to change), the grader compares the digests of the
arrays it sent with the worker's digests of the same arrays after the call
(``isolation.worker.InputEvidence``); ``Scorer.require`` turns a difference into a penalty of
its test (``scoring.INPUT_CHANGE_SHARE``) whose message names the method and the argument.
"""
from __future__ import annotations

from grader.isolation.worker import CallOutcome, InputEvidence

MAX_NAMED = 4
"""At most this many changed arguments are named in one message."""


def _argument(names: list, index: int) -> str:
    """The name of positional argument ``index`` (0-based, ``self`` excluded)."""
    for position, name in enumerate(names):
        if name.startswith("*"):
            return f"{name[1:]}[{index - position}]" if index >= position else names[index]
        if position == index:
            return name
    return f"#{index + 1}"


def _suffix(rest: tuple) -> str:
    return "".join(f"[{part!r}]" if isinstance(part, str) else f"[{part}]" for part in rest)


def _describe(evidence: InputEvidence, path: tuple) -> tuple[str, str, int | None]:
    """``(method, argument, step)`` of the array at ``path`` (``step``: 1-based, or None)."""
    names = evidence.parameters
    method, step = evidence.method, None
    if path[:1] == ("kwargs",) and len(path) >= 2:
        return method, f"{path[1]}{_suffix(path[2:])}", None
    if evidence.op == "call" and path[:1] == ("args",) and len(path) >= 2:
        return method, _argument(names.get(method, []), path[1]) + _suffix(path[2:]), None
    if path[:1] == ("sequence",) and len(path) >= 3 and isinstance(path[1], int):
        step, rest = path[1] + 1, path[2:]
        if evidence.op == "optimizer_steps":
            # step(params, *step_args): the step's argument i is the method's argument i + 1
            return method, _argument(names.get(method, []), rest[0] + 1) + _suffix(rest[1:]), step
        if rest[:1] == ("args",) and len(rest) >= 2:
            return method, _argument(names.get(method, []), rest[1]) + _suffix(rest[2:]), step
        if rest[:2] == ("then", "args") and len(rest) >= 3:
            chained = evidence.then_methods.get(path[1], "the chained method")
            return chained, _argument(names.get(chained, []), rest[2]) + _suffix(rest[3:]), step
    return method, "an argument", step


def changed_arguments(evidence: InputEvidence | None) -> list[str]:
    """``"forward changed its argument x"``-style phrases, one per method and argument whose
    array differs after the call (or was not reported back: what cannot be verified does not
    pass). Empty when nothing changed, when nothing was sent, or when the test checks these
    inputs itself (``checked`` is False)."""
    if evidence is None or not evidence.checked or not evidence.sent:
        return []
    if evidence.after is None:
        return [f"after {evidence.method}, the worker did not report the arrays it was given, "
                "so whether they changed cannot be verified"]
    phrases: dict[tuple[str, str], list[int]] = {}
    for path, digest in evidence.sent.items():
        if evidence.after.get(path) == digest:
            continue
        method, argument, step = _describe(evidence, path)
        phrases.setdefault((method, argument), [])
        if step is not None:
            phrases[(method, argument)].append(step)
    result = []
    for (method, argument), steps in phrases.items():
        where = ""
        if steps:
            where = f" (step {steps[0]})" if len(steps) == 1 else (
                f" (steps {', '.join(map(str, steps[:5]))}{', ...' if len(steps) > 5 else ''})")
        result.append(f"{method} changed its argument {argument} in place{where}")
    return result


def penalty_message(outcome: CallOutcome, share: float) -> str:
    """The message of the penalty a call's in-place changes cost, or "" if it changed nothing."""
    phrases = changed_arguments(outcome.inputs)
    if not phrases:
        return ""
    shown = "; ".join(phrases[:MAX_NAMED])
    if len(phrases) > MAX_NAMED:
        shown += f"; and {len(phrases) - MAX_NAMED} more"
    return (f"{shown}; work on a copy (x = x.copy(), or x = x * m rather than x *= m): a method "
            "must never change the arrays its caller passes, which the caller may still need "
            "(train_loop hands forward slices of the training data). This costs "
            f"{share:.0%} of this test's points")
