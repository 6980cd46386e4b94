"""Comparisons that explain themselves: type, dtype, shape, then values, then a likely cause.

Every function returns a ``Verdict``; nothing here raises on bad student data. Messages name the
worst element, both values, the absolute and relative error, NaN/Inf counts, and when the wrong
answer matches a known pattern (off by the batch size, transposed, sign, a named buggy variant),
that pattern.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from grader import causes
from grader import tolerances as tol
from grader.isolation.wire import Unsupported


@dataclass
class Verdict:
    passed: bool
    message: str = ""
    notes: list = field(default_factory=list)
    type_penalty: str = ""
    """Set when the values were graded from another type than the interface's (a list where
    an array is expected): the test keeps its checks and pays ``scoring.TYPE_SHARE`` once."""
    cause: str = ""
    """The registry id of the cause this failed check names (``grader/causes.py``), else ""."""
    cause_text: str = ""
    """That cause's sentence as said here (with this case's numbers); "" when none is named."""

    def blame(self, cause, separator: str = causes.LIKELY) -> Verdict:
        """Name ``cause`` (a registered ``Cause``, or a plain sentence) as the likely cause of
        this failed check: said in the message, and recorded as data for the class report."""
        self.message += f"{separator}{cause}"
        # A plain sentence (a cause not in the registry yet) is kept as text with no id: the class
        # report then groups it by its test and words, never with the registered ones.
        self.cause, self.cause_text = causes.id_of(cause), str(cause)
        return self

    def reblame(self, cause, separator: str = causes.LIKELY) -> Verdict:
        """Name ``cause`` in place of the likely cause the message already names (its words, from
        the first ``separator`` on, are dropped; a message that names none is kept whole)."""
        self.message = self.message.split(separator.rstrip())[0]
        return self.blame(cause, separator)

    @property
    def names_cause(self) -> bool:
        """Whether the message already names a likely cause (``blame``, whatever the separator)."""
        return causes.WORDS in self.message

    def restated(self, message: str) -> Verdict:
        """A verdict saying ``message`` (another check's words around this one's), with this one's
        outcome and cause and nothing else (no notes, no type penalty): for a check that reports
        the failure of the comparison it made, as ``Scorer.expect`` would with the text alone."""
        return Verdict(self.passed, "" if self.passed else message, cause=self.cause,
                       cause_text=self.cause_text)


def expectation(condition, message: str, cause="", separator: str = causes.LIKELY) -> Verdict:
    """``Scorer.expect``'s verdict (``message`` when ``condition`` fails, else nothing) that also
    names ``cause`` (a registered ``Cause``, or "" for none) when it fails."""
    verdict = Verdict(bool(condition), "" if condition else message)
    return verdict.blame(cause, separator) if cause and not condition else verdict


def type_name(value) -> str:
    if isinstance(value, Unsupported):
        return value.description
    if isinstance(value, np.ndarray):
        return f"numpy.ndarray{value.shape} of {value.dtype}"
    return type(value).__name__


def allowed_error(expected: np.ndarray, rtol: float | None = None) -> np.ndarray:
    """The per-element bound of the tolerance policy (see ``tolerances``); with ``rtol``, the
    looser bound used to name a known wrong variant (``rtol`` in place of both RTOL and
    ATOL_SCALE).

    It depends on the reference ``expected`` alone, never on the answer compared with it, so
    ``expected`` must be computed by the grader from its own inputs: a bound that scaled with
    the student's output would let a planted 1e300 widen it to anything. An entry the reference
    gives as NaN or an infinity allows no error (only the same infinity matches it)."""
    finite = np.isfinite(expected)
    scale = float(np.max(np.abs(expected[finite]), initial=0.0))
    relative, scaled = (tol.RTOL, tol.ATOL_SCALE) if rtol is None else (rtol, rtol)
    with np.errstate(invalid="ignore", over="ignore"):
        bound = tol.ATOL_FLOOR + scaled * scale + relative * np.abs(expected)
    return np.where(finite, bound, 0.0)


def _within(got: np.ndarray, expected: np.ndarray, rtol: float | None = None) -> np.ndarray:
    """Per element: whether ``got`` lies within the reference's bound (NaN never does)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return (np.abs(got - expected) <= allowed_error(expected, rtol)) | (got == expected)


def _close(got: np.ndarray, expected: np.ndarray, rtol: float | None = None) -> bool:
    if got.shape != expected.shape:
        return False
    return bool(np.all(_within(got, expected, rtol)))


def _generic_patterns(got: np.ndarray, expected: np.ndarray, batch_size: int | None) -> str:
    """Name a systematic relation between a wrong ``got`` and ``expected``, if there is one."""
    if not np.all(np.isfinite(got)):
        return ""
    if np.all(got == 0) and np.any(expected != 0):
        return causes.ALL_ZEROS
    if got.ndim == 2 and got.shape[0] == got.shape[1] and _close(got, expected.T, tol.PATTERN_RTOL):
        return causes.TRANSPOSED
    with np.errstate(invalid="ignore", over="ignore"):
        denominator = float(np.sum(expected * expected))
        factor = float(np.sum(got * expected)) / denominator if denominator > 0 else 0.0
    if np.isfinite(factor) and factor != 0:
        # got / factor against expected: the bound stays the reference's, whatever got holds
        with np.errstate(invalid="ignore", over="ignore"):
            rescaled = got / factor
        if _close(rescaled, expected, tol.PATTERN_RTOL):
            if batch_size and batch_size > 1 and abs(factor - batch_size) < 1e-3 * batch_size:
                return causes.BATCH_TIMES_LARGE.format(batch_size=batch_size)
            if batch_size and batch_size > 1 and abs(factor * batch_size - 1) < 1e-3:
                return causes.BATCH_TIMES_SMALL.format(batch_size=batch_size)
            if abs(factor + 1) < 1e-3:
                return causes.SIGN_FLIPPED
            if abs(factor - 1) > 1e-3:  # a factor of ~1 explains nothing
                return causes.CONSTANT_FACTOR.format(factor=factor)
    return ""


def _value_report(got: np.ndarray, expected: np.ndarray) -> tuple[str, int]:
    """A short account of where ``got`` differs from ``expected`` (same shape)."""
    with np.errstate(invalid="ignore", over="ignore"):
        difference = np.abs(got - expected)
        bound = allowed_error(expected)
    bad = ~_within(got, expected)  # NaN counts as bad
    n_bad = int(np.sum(bad))
    if got.ndim == 0:
        worst = ()
    else:
        score = np.where(bad, np.where(np.isnan(difference), np.inf, difference - bound),
                         -np.inf)
        worst = np.unravel_index(int(np.argmax(score)), got.shape)
    g, e = float(got[worst]), float(expected[worst])
    abs_error = abs(g - e)
    rel_error = abs_error / abs(e) if e != 0 else float("inf")
    where = f" at index {tuple(int(i) for i in worst)}" if got.ndim else ""
    text = (f"{n_bad} of {got.size} entries differ; worst{where}: got {g:.8g}, expected {e:.8g} "
            f"(abs error {abs_error:.3g}, rel error {rel_error:.3g})")
    return text, n_bad


def compare_array(label: str, got, expected, *, batch_size: int | None = None,
                  hypotheses: Mapping[str, np.ndarray] | None = None,
                  allow_squeeze: bool = True) -> Verdict:
    """Check ``got`` against the float64 ``expected`` array: type, dtype, shape, then values.
    ``expected`` sets the tolerance (``allowed_error``), so it is always the grader's reference,
    computed from the grader's own inputs, never anything the student returned."""
    expected = np.asarray(expected, dtype=np.float64)
    if isinstance(got, (list, tuple)) and not isinstance(got, Unsupported):
        # Right values in a list (a softmax that returns its rows as a list, a bias gradient
        # built as [array]) are graded as the array they make; the type costs a small share.
        converted = _as_numeric_array(got)
        if converted is None:
            return Verdict(False, f"{label}: returned a {type(got).__name__}; expected a numpy "
                                  f"array of shape {expected.shape}", cause=causes.WRONG_TYPE.id)
        verdict = compare_array(label, converted, expected, batch_size=batch_size,
                                hypotheses=hypotheses, allow_squeeze=allow_squeeze)
        verdict.type_penalty = (f"{label}: returned a {type(got).__name__}, graded as the array "
                                f"np.asarray makes of it; the interface returns a numpy array "
                                f"(np.array(...) it)")
        return verdict
    if isinstance(got, (int, float, np.number)) and not isinstance(got, bool):
        got = np.asarray(got)
    if not isinstance(got, np.ndarray):
        return Verdict(False, f"{label}: returned {type_name(got)}; expected a numpy array of "
                              f"shape {expected.shape}", cause=causes.WRONG_TYPE.id)
    notes = []
    if got.dtype.kind not in "biuf":
        return Verdict(False, f"{label}: dtype {got.dtype} is not numeric", cause=causes.WRONG_TYPE.id)
    if got.dtype.kind == "f" and got.dtype.itemsize < 4:
        notes.append(f"{label}: dtype {got.dtype} is too imprecise; use float64")
    got = got.astype(np.float64)
    if got.shape != expected.shape:
        if (allow_squeeze and got.size == expected.size
                and np.squeeze(got).shape == np.squeeze(expected).shape):
            notes.append(f"{label}: shape {got.shape} accepted, the interface says {expected.shape}")
            got = got.reshape(expected.shape)
        else:
            hint, cause = "", causes.WRONG_SHAPE
            if got.shape == expected.shape[::-1] and got.ndim == 2:
                hint, cause = " (transposed?)", causes.SHAPE_TRANSPOSED
            elif (got.ndim == expected.ndim >= 2 and expected.shape[0] == 1 < got.shape[0]
                  and got.shape[1:] == expected.shape[1:]):
                hint, cause = (" (one row per example: not summed over the batch axis?)",
                               causes.SHAPE_PER_EXAMPLE)
            return Verdict(False, f"{label}: shape {got.shape}, expected {expected.shape}{hint}",
                           cause=cause.id, cause_text=str(cause) if hint else "")
    non_finite = int(np.sum(~np.isfinite(got) & np.isfinite(expected)))
    if _close(got, expected):
        return Verdict(True, "", notes)
    report, _ = _value_report(got, expected)
    message = f"{label}: {report}"
    if non_finite:
        message += f"; {non_finite} entries are NaN or Inf where the reference is finite"
    cause = ""
    for name, pattern in (hypotheses or {}).items():
        pattern = np.asarray(pattern, dtype=np.float64)
        if pattern.shape == got.shape and _close(got, pattern, tol.PATTERN_RTOL):
            cause = name
            break
    if not cause:
        cause = _generic_patterns(got, expected, batch_size)
    verdict = Verdict(False, message, notes, cause=causes.WRONG_VALUES.id)
    return verdict.blame(cause) if cause else verdict


def _as_numeric_array(value) -> np.ndarray | None:
    """``np.asarray(value)`` when that is a numeric array (a rectangular list of numbers or
    arrays), else None."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        return None
    return array if array.dtype.kind in "biuf" and array.size else None


def compare_scalar(label: str, got, expected: float, **kwargs) -> Verdict:
    """Check a number (float, numpy scalar, 0-d or 1-element array) against ``expected``."""
    wrong_type = causes.WRONG_TYPE.id
    if isinstance(got, bool) or got is None or isinstance(got, (str, dict, list, Unsupported)):
        return Verdict(False, f"{label}: returned {type_name(got)}; expected a number", cause=wrong_type)
    if isinstance(got, tuple):
        return Verdict(False, f"{label}: returned a tuple; expected a number", cause=wrong_type)
    array = np.asarray(got)
    if array.dtype.kind not in "iuf":
        return Verdict(False, f"{label}: returned {type_name(got)}; expected a number", cause=wrong_type)
    notes = []
    if array.size != 1:
        return Verdict(False, f"{label}: returned an array of shape {array.shape}; expected a number",
                       cause=causes.WRONG_SHAPE.id)
    if array.ndim:
        notes.append(f"{label}: returned an array of shape {array.shape}; a float was expected")
    verdict = compare_array(label, array.reshape(()), np.asarray(expected), **kwargs)
    verdict.notes = notes + verdict.notes
    return verdict


def compare_mapping(label: str, got, expected: Mapping[str, np.ndarray], *,
                    batch_size: int | None = None,
                    hypotheses: Mapping[str, Mapping[str, np.ndarray]] | None = None,
                    keys=None) -> dict[str, Verdict]:
    """Compare the arrays of a dict key by key; returns a verdict for each expected key."""
    keys = list(keys or expected)
    if not isinstance(got, dict):
        failed = Verdict(False, f"{label}: returned {type_name(got)}; expected a dict with keys "
                                f"{', '.join(keys)}", cause=causes.WRONG_TYPE.id)
        return {key: failed for key in keys}
    verdicts = {}
    for key in keys:
        if key not in got:
            verdicts[key] = Verdict(False, f"{label}: key {key!r} is missing (keys present: "
                                           f"{', '.join(sorted(map(str, got))[:20]) or 'none'})",
                                    cause=causes.WRONG_TYPE.id)
            continue
        per_key = {name: arrays[key] for name, arrays in (hypotheses or {}).items() if key in arrays}
        verdicts[key] = compare_array(f"{label}[{key!r}]", got[key], expected[key],
                                      batch_size=batch_size, hypotheses=per_key)
    return verdicts
