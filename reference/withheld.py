"""Reference rules that would answer a part: kept by the instructor, withheld from the handout.

Most references are torch (autograd, ``torch.optim``, ``torch.nn.init``), which a numpy answer
cannot be copied from. Two parts have no torch counterpart, so their reference is the rule itself,
written by hand, and reading it would answer the part; and the grader names likely causes with
numpy versions of the parts done as frequent bugs do them, each one edit from the answer:

- ``rmsprop_nesterov``: RMSProp with Nesterov momentum (part ``optimizers``);
- ``finite_differences``: central differences of the loss and their known wrong variants (part
  ``finite_difference``);
- ``known_mistakes``: the numpy wrong variants of backward, softmax, the optimizers and
  BatchNorm (the grader asks for them with ``hypotheses``).

Each lives in a module of its own in ``reference/`` (``RULE_MODULES``), present in the instructor's
repository and left out of the student handout. In the handout their outputs on the public tests'
cases stand in for them: ``python -m grader release`` replays the public tests' cases inside
``recording()`` and writes every output to ``PUBLIC_OUTPUTS``. There, ``compute`` finds a case by
``case_key`` (a SHA-256 of what the computation is and of its inputs) and raises ``LookupError``
for any other input, so the handout cannot be used to run the rule on inputs of one's own.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np

RULE_MODULES = ("rmsprop_nesterov", "finite_differences", "known_mistakes")
"""Modules of ``reference/`` that hold a rule which is an answer (absent from the handout)."""
PUBLIC_OUTPUTS = Path(__file__).with_name("public_outputs.json")
"""The rules' outputs on the public tests' cases: the handout's stand-in for the rules."""
ANSWER_FILES = tuple(f"reference/{module}.py" for module in RULE_MODULES)
"""The rule modules relative to the repository (what ``release`` leaves out)."""

_recorded: dict | None = None   # while recording(): {case key: encoded output}
_public_table: dict | None = None


def rule(module: str):
    """The rule module ``reference.<module>``, or None where it is absent (the handout)."""
    if module not in RULE_MODULES:
        raise ValueError(f"{module!r} is not a withheld rule module")
    if not Path(__file__).with_name(f"{module}.py").is_file():
        return None
    return importlib.import_module(f"reference.{module}")


def compute(module: str, kind: str, inputs: list, run: Callable[[Any], Any]):
    """``run(rule module)`` where the rule is here (recorded while ``recording()``), else its
    recorded output for these ``inputs``.

    ``kind`` names the computation within the module; ``inputs`` is everything its result
    depends on (arrays, dicts and lists of them, numbers, strings). The result may be an array, a
    number, or lists and dicts of them.
    """
    key = case_key(f"{module}.{kind}", inputs)
    found = rule(module)
    if found is None:
        return _decode(_public_output(module, key))
    result = run(found)
    if _recorded is not None:
        _recorded[key] = _encode(result)
    return result


def hypotheses(module: str, kind: str, inputs: list, run: Callable[[Any], dict]) -> dict:
    """``compute(...)`` for a dict of known wrong variants, or ``{}`` where neither the rule
    nor its recorded output on these ``inputs`` is here (the handout, on inputs other than the
    public tests' cases): a hypothesis that names a likely cause is then absent, not an error."""
    try:
        return compute(module, kind, inputs, run)
    except LookupError:
        return {}


def case_key(kind: str, inputs) -> str:
    """A SHA-256 naming one computation: ``kind`` and the exact values of ``inputs``."""
    digest = hashlib.sha256(kind.encode())
    _feed(digest, inputs)
    return digest.hexdigest()


def _feed(digest, value) -> None:
    # Dict keys in sorted order and arrays by their float64 bytes and shape, so the same values
    # give the same key whatever the container order or the integer/float type they arrived in.
    if isinstance(value, dict):
        digest.update(b"{")
        for key in sorted(value, key=str):
            digest.update(repr(str(key)).encode())
            _feed(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(f"[{len(value)}".encode())
        for item in value:
            _feed(digest, item)
        digest.update(b"]")
    elif isinstance(value, str) or value is None or isinstance(value, bool):
        digest.update(repr(value).encode())
    else:
        array = np.ascontiguousarray(value, dtype=np.float64)
        digest.update(f"a{array.shape}".encode())
        digest.update(array.tobytes())


@contextlib.contextmanager
def recording():
    """Collect ``{case key: output}`` of every withheld computation run in the block."""
    global _recorded
    _recorded = {}
    try:
        yield _recorded
    finally:
        _recorded = None


def _encode(value):
    if isinstance(value, np.ndarray):
        return {"array": value.astype(np.float64).tolist(), "shape": list(value.shape)}
    if isinstance(value, dict):
        return {"dict": {str(k): _encode(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"list": [_encode(v) for v in value]}
    if isinstance(value, (float, int, np.floating, np.integer)):
        return {"number": float(value)}
    raise TypeError(f"cannot record a {type(value).__name__}")


def _decode(value):
    if "array" in value:
        return np.asarray(value["array"], dtype=np.float64).reshape(value["shape"])
    if "dict" in value:
        return {k: _decode(v) for k, v in value["dict"].items()}
    if "list" in value:
        return [_decode(v) for v in value["list"]]
    return value["number"]


def _public_output(module: str, key: str):
    global _public_table
    if _public_table is None:
        if not PUBLIC_OUTPUTS.is_file():
            raise LookupError(f"neither the rule reference/{module}.py nor its outputs on the "
                              f"public cases ({PUBLIC_OUTPUTS.name}) are here")
        _public_table = json.loads(PUBLIC_OUTPUTS.read_text())["cases"]
    if key not in _public_table:
        raise LookupError(f"the student handout has the outputs of reference/{module}.py on the "
                          f"public tests' cases only, and these inputs are not one of them")
    return _public_table[key]
