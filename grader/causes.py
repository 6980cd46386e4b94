"""The registry of named causes: every likely cause a diagnosis can give, each with a stable id.

A check that fails and can name why (a known wrong variant matched, a systematic pattern, a call
that did not return) records the cause's **id** beside its message (``Verdict.cause``,
``Check.cause`` in ``grader/model.py``). Every output that groups or counts mistakes (the class
report's common mistakes, above all) groups by id, never by the words: a cause's sentence can be
reworded, or carry the numbers of one case ("exactly 6 (the batch size) times too large"), and
its students still meet in one row.

A ``Cause`` is its sentence (a ``str``, so it reads as before in messages and works as a key of
the hypotheses of ``checks.compare_array``) with an ``id``. ``cause.format(**values)`` fills the
sentence's fields and keeps the id. ``scope`` says how the class report groups it:

- ``CLASS``: one row for the whole class, across every test it appears in;
- ``PART``: one row per part (a part not implemented, values wrong for no cause the grader could
  name, a crash: the same words in two parts are two different problems);
- ``TEST``: one row per test (a check that names no cause at all: only its test says what it is).
"""
from __future__ import annotations

from dataclasses import dataclass

CLASS, PART, TEST = "class", "part", "test"


class Cause(str):
    """A cause's sentence, with its registry ``id``."""

    id: str

    def __new__(cls, id: str, sentence: str):
        made = super().__new__(cls, sentence)
        made.id = id
        return made

    def format(self, *args, **values) -> Cause:
        return Cause(self.id, str.format(self, *args, **values))

    def __reduce__(self):
        return Cause, (self.id, str(self))


@dataclass(frozen=True)
class Entry:
    id: str
    sentence: str    # the template (fields in braces), as registered
    scope: str = CLASS


REGISTRY: dict[str, Entry] = {}


def named(id: str, sentence: str, scope: str = CLASS) -> Cause:
    """Register a cause (once per id) and return it."""
    if id in REGISTRY and REGISTRY[id].sentence != sentence:
        raise ValueError(f"cause {id!r} registered twice with different sentences")
    REGISTRY[id] = Entry(id, sentence, scope)
    return Cause(id, sentence)


def id_of(cause) -> str:
    """The registry id of ``cause`` ("" for a plain string: a cause not registered)."""
    return getattr(cause, "id", "")


def sentence_of(id: str) -> str:
    """The registered sentence of ``id`` ("" for an id not registered)."""
    entry = REGISTRY.get(id)
    return entry.sentence if entry else ""


def scope_of(id: str) -> str:
    entry = REGISTRY.get(id)
    return entry.scope if entry else CLASS


# ---- how a call ended (grader/verdicts/scoring.py) -------------------------------------------
NOT_IMPLEMENTED = named("call.not_implemented", "not implemented", PART)
RAISED = named("call.raised", "raised {error_type}", PART)
TIMED_OUT = named("call.timed_out", "did not finish within the time limit", PART)
WORKER_DIED = named("call.worker_died", "the worker process died", PART)
NOT_RUN = named("row.not_run", "not run", PART)
GRADER_ERROR = named("row.grader_error", "a fault of the grader (not the student's)", PART)
NUMPY_ONLY = named("rule.numpy_only", "the part's code uses an automatic-differentiation framework",
                   PART)
INPUT_CHANGED = named("habit.input_changed", "changed an array it was given, in place")
OTHER_TYPE = named("habit.other_type", "returned the right values in another type than a numpy array")

CHECK_FAILED = named("check.unnamed", "a check failed; the grader names no cause for it", TEST)
LOAD_FAILED = named("submission.load_failed", "the submission could not be loaded", CLASS)

# ---- what a check found (grader/verdicts/checks.py) -----------------------------------------
WRONG_VALUES = named("values.unnamed", "wrong values, no pattern recognised", PART)
WRONG_TYPE = named("values.wrong_type", "returned another type than the interface's", PART)
WRONG_SHAPE = named("values.wrong_shape", "wrong shape", PART)
ALL_ZEROS = named("pattern.all_zeros", "every entry is 0 (a result never computed or never assigned?)")
TRANSPOSED = named("pattern.transposed", "it equals the expected matrix transposed")
BATCH_TIMES_LARGE = named("pattern.summed_over_batch",
                          "it is exactly {batch_size} (the batch size) times too large: summed over "
                          "the batch instead of averaging?")
BATCH_TIMES_SMALL = named("pattern.divided_twice",
                          "it is exactly {batch_size} (the batch size) times too small: divided by "
                          "the batch size twice?")
SIGN_FLIPPED = named("pattern.sign_flipped", "it has the opposite sign (sign flipped)")
CONSTANT_FACTOR = named("pattern.constant_factor",
                        "it is the expected value times {factor:.6g} (a wrong constant factor)")
SHAPE_TRANSPOSED = named("shape.transposed", "wrong shape (transposed?)")
SHAPE_PER_EXAMPLE = named("shape.per_example",
                          "wrong shape (one row per example: not summed over the batch axis?)")
