"""Verdicts: the order type/dtype/shape/values, the tolerance policy and the named causes."""
import numpy as np

from grader import tolerances as tol
from grader.verdicts.checks import compare_array, compare_mapping, compare_scalar
from grader.isolation.wire import Unsupported

EXPECTED = np.arange(1.0, 13.0).reshape(3, 4) / 7.0


def test_correct_and_float32_answers_pass():
    assert compare_array("x", EXPECTED.copy(), EXPECTED).passed
    assert compare_array("x", EXPECTED.astype(np.float32), EXPECTED).passed
    assert compare_array("x", EXPECTED * (1 + 0.5 * tol.RTOL), EXPECTED).passed


def test_type_then_shape_then_values():
    assert "torch.Tensor" in compare_array("x", Unsupported("torch.Tensor"), EXPECTED).message
    # Right values in a list are graded as the array they make, with the type named (issue 24)
    listed = compare_array("x", EXPECTED.tolist(), EXPECTED)
    assert listed.passed and "returned a list, graded as the array" in listed.type_penalty
    assert "returned a list" in compare_array("x", [EXPECTED[0], "a"], EXPECTED).message
    verdict = compare_array("x", EXPECTED.T.copy(), EXPECTED)
    assert "shape (4, 3), expected (3, 4) (transposed?)" in verdict.message
    wrong = EXPECTED.copy()
    wrong[2, 1] += 1.0
    verdict = compare_array("x", wrong, EXPECTED)
    assert not verdict.passed
    assert "1 of 12 entries differ; worst at index (2, 1)" in verdict.message


def test_nan_is_counted_and_never_passes():
    got = EXPECTED.copy()
    got[0, :2] = np.nan
    verdict = compare_array("x", got, EXPECTED)
    assert not verdict.passed and "2 entries are NaN or Inf" in verdict.message


def test_named_patterns():
    assert "exactly 5 (the batch size) times too large" in compare_array(
        "g", EXPECTED * 5, EXPECTED, batch_size=5).message
    assert "divided by the batch size twice" in compare_array(
        "g", EXPECTED / 5, EXPECTED, batch_size=5).message
    assert "opposite sign" in compare_array("g", -EXPECTED, EXPECTED).message
    square = np.arange(9.0).reshape(3, 3)
    assert "transposed" in compare_array("g", square.T.copy(), square).message
    assert "every entry is 0" in compare_array("g", np.zeros((3, 4)), EXPECTED).message
    verdict = compare_array("g", EXPECTED + 1, EXPECTED, hypotheses={"plus one": EXPECTED + 1})
    assert verdict.message.endswith("Likely cause: plus one")


def test_squeezable_shapes_pass_with_a_note():
    verdict = compare_array("b", np.ones(4), np.ones((1, 4)))
    assert verdict.passed and "accepted" in verdict.notes[0]


def test_scalars_and_mappings():
    assert compare_scalar("loss", np.float64(0.5), 0.5).passed
    assert compare_scalar("loss", np.array([0.5]), 0.5).passed
    assert not compare_scalar("loss", "0.5", 0.5).passed
    assert not compare_scalar("loss", None, 0.5).passed
    verdicts = compare_mapping("grads", {"dW1": EXPECTED}, {"dW1": EXPECTED, "db1": EXPECTED})
    assert verdicts["dW1"].passed and "missing" in verdicts["db1"].message
    assert "expected a dict" in compare_mapping("grads", [1], {"dW1": EXPECTED})["dW1"].message


# -- the tolerance scales with the reference only -------------------------------------------------

def test_a_planted_huge_value_never_widens_the_bound():
    """The bound comes from the reference alone: an answer holding 1e300 fails, and its other
    entries are judged exactly as if it held nothing of the kind."""
    from grader.verdicts.checks import allowed_error

    planted = EXPECTED.copy()
    planted[0, 0] = 1e300
    assert not compare_array("x", planted, EXPECTED).passed
    assert not compare_scalar("loss", 1e300, 0.5).passed
    assert not compare_mapping("g", {"W": planted}, {"W": EXPECTED})["W"].passed
    slightly_off = EXPECTED * (1 + 10 * tol.RTOL)
    slightly_off[0, 0] = 1e300
    verdict = compare_array("x", slightly_off, EXPECTED)
    assert "12 of 12 entries differ" in verdict.message
    assert np.array_equal(allowed_error(EXPECTED), allowed_error(EXPECTED.copy()))
    # a huge reference allows a proportionate error, a huge answer none
    assert compare_array("x", np.array([1e300 * (1 + tol.RTOL / 2)]), np.array([1e300])).passed


def test_a_reference_that_is_not_finite_allows_no_error():
    assert compare_array("x", np.array([np.inf, 1.0]), np.array([np.inf, 1.0])).passed
    assert not compare_array("x", np.array([1e308, 1.0]), np.array([np.inf, 1.0])).passed
    assert not compare_array("x", np.array([np.nan, 1.0]), np.array([np.nan, 1.0])).passed
    assert not compare_array("x", np.array([0.0, 1.0]), np.array([np.nan, 1.0])).passed


def test_a_constant_factor_is_named_without_the_answers_scale():
    assert "times 3" in compare_array("g", 3 * EXPECTED, EXPECTED).message
    noisy = 3 * EXPECTED
    noisy[1, 1] = 1e300
    assert "Likely cause" not in compare_array("g", noisy, EXPECTED).message


# -- graded tests cannot be satisfied by the student's own output ---------------------------------

class _FakeWorker:
    """Stands in for the worker in a graded test: every call answers ``answer(*args)``."""

    def __init__(self, answer):
        self.answer = answer

    def call(self, method, *, args=(), **_):
        from grader.isolation.worker import CallOutcome

        return CallOutcome(ok=True, value=self.answer(*args))


def _softmax_score(answer) -> float:
    """The fraction of the softmax part (visible and hidden tests, by points) ``answer`` earns."""
    import grader.parts.softmax as visible
    from grader.hidden import cases as hidden
    from grader.rubric import RUBRIC
    from grader.verdicts.scoring import GradeFailure, Scorer

    tests = {"test_softmax_values": visible.test_softmax_values,
             "test_softmax_1d": visible.test_softmax_1d,
             "test_softmax_large_logits": visible.test_softmax_large_logits,
             "test_softmax_invariants": visible.test_softmax_invariants,
             "test_hidden_softmax_mixed_scales": hidden.test_hidden_softmax_mixed_scales}
    points = {row.test: row.points for row in RUBRIC if row.part == "softmax"}
    assert set(points) == set(tests), "the softmax part has tests this check does not run"
    earned = 0.0
    for name, test in tests.items():
        scorer = Scorer()
        try:
            test(_FakeWorker(answer), scorer, np.random.default_rng(len(name)))
        except GradeFailure:
            pass
        earned += scorer.fraction * points[name]
    return earned / sum(points.values())


def _softmax(x):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def test_softmax_properties_earn_nothing_without_right_values():
    assert _softmax_score(_softmax) == 1.0   # the harness can give full marks
    # 1/C everywhere: rows sum to 1 and it is shift-invariant, yet every value is wrong
    assert _softmax_score(lambda x: np.full(np.shape(x), 1.0 / np.shape(x)[-1])) == 0.0


def test_softmax_invariance_is_not_judged_against_the_students_answer():
    def planted(x):
        out = np.full(np.shape(x), 1.0 / np.shape(x)[-1])
        out.flat[0] = 1e300   # the same in softmax(x) and softmax(x + c)
        return out

    assert _softmax_score(planted) == 0.0


def test_softmax_diagnosis_names_the_uniform_answer_and_bad_row_sums():
    from grader.parts.softmax import softmax_verdict

    x = np.random.default_rng(1).normal(size=(4, 5))
    assert "1/C" in softmax_verdict("s", np.full(x.shape, 0.2), x).message
    assert "rows sum to" in softmax_verdict("s", np.exp(x), x).message
    assert softmax_verdict("s", _softmax(x), x).passed


# -- a check that cannot evaluate fails -----------------------------------------------------------

def test_the_logits_check_fails_on_missing_or_non_finite_outputs():
    from grader.verdicts.cnn_checks import logits_verdict

    logits = np.random.default_rng(2).normal(size=(5, 10))
    probabilities = _softmax(logits)
    nan = logits.copy()
    nan[1, 2] = np.nan

    def described(out):
        return {"outputs": {"train": out, "eval": out}}

    assert logits_verdict(described(logits), "Net") == (True, "")
    assert "returns probabilities" in logits_verdict(described(probabilities), "Net")[1]
    for value in ({}, None, {"outputs": None}, described(None), described(logits[0]),
                  described(np.zeros((5, 0))), described(nan),
                  described(np.full((5, 10), np.inf))):
        passed, message = logits_verdict(value, "Net")
        assert not passed and "cannot be checked" in message, value


def test_missing_wrong_shape_or_nan_answers_fail_every_comparison():
    for got in (None, Unsupported("torch.Tensor"), np.zeros((2, 2)), np.full((3, 4), np.nan),
                np.full((3, 4), np.inf), EXPECTED.astype(complex), "0.5"):
        assert not compare_array("x", got, EXPECTED).passed, got
        assert not compare_mapping("m", {"k": got}, {"k": EXPECTED})["k"].passed, got
    for got in (None, np.nan, np.inf, np.array([0.5, 0.5]), (0.5,), True):
        assert not compare_scalar("loss", got, 0.5).passed, got
    assert not compare_mapping("m", {}, {"k": EXPECTED})["k"].passed


# -- inputs changed in place ----------------------------------------------------------------------

def _evidence(**fields):
    from grader.isolation.worker import InputEvidence

    return InputEvidence(**fields)


def test_changed_arguments_are_named_by_method_argument_and_step():
    from grader.verdicts.inputs import changed_arguments

    sent = {("args", 0): "a", ("args", 1, "Z0"): "b", ("kwargs", "grad"): "c"}
    call = _evidence(op="call", method="forward", sent=sent, parameters={"forward": ["x", "cache"]},
                     after={("args", 0): "changed", ("args", 1, "Z0"): "b", ("kwargs", "grad"): "c"})
    assert changed_arguments(call) == ["forward changed its argument x in place"]
    call.after = {("args", 0): "a", ("kwargs", "grad"): "c"}   # a path not reported back
    assert changed_arguments(call) == ["forward changed its argument cache['Z0'] in place"]
    call.checked = False
    assert changed_arguments(call) == []
    unreported = _evidence(op="call", method="relu", sent={("args", 0): "a"}, after=None)
    assert "cannot be verified" in changed_arguments(unreported)[0]
    sequence = _evidence(op="call_sequence", method="forward", then_methods={0: "backward", 1: "backward"},
                         parameters={"forward": ["x", "train"], "backward": ["dout", "cache"]},
                         sent={("sequence", 0, "args", 0): "x0", ("sequence", 0, "then", "args", 0): "d0",
                               ("sequence", 1, "then", "args", 0): "d1"},
                         after={("sequence", 0, "args", 0): "x0", ("sequence", 0, "then", "args", 0): "?",
                                ("sequence", 1, "then", "args", 0): "?"})
    assert changed_arguments(sequence) == ["backward changed its argument dout in place (steps 1, 2)"]
    steps = _evidence(op="optimizer_steps", method="step", parameters={"step": ["params", "grads"]},
                      sent={("sequence", 2, 0, "dW1"): "g"}, after={("sequence", 2, 0, "dW1"): "?"})
    assert changed_arguments(steps) == ["step changed its argument grads['dW1'] in place (step 3)"]


def test_a_changed_input_costs_a_share_of_the_test_never_more():
    from grader.isolation.worker import CallOutcome
    from grader.verdicts.checks import Verdict
    from grader.verdicts.scoring import INPUT_CHANGE_SHARE, Scorer

    changed = _evidence(op="call", method="forward", parameters={"forward": ["x"]},
                        sent={("args", 0): "a"}, after={("args", 0): "b"})
    right = Scorer()
    right.require(CallOutcome(ok=True, value=1, inputs=changed), "forward(x)")
    right.require(CallOutcome(ok=True, value=1, inputs=changed), "forward(x) again")
    right.check(Verdict(True), 3.0)
    assert right.fraction == 1.0 - INPUT_CHANGE_SHARE and right.failed
    assert right.message().count("forward changed its argument x in place; work on a copy") == 1
    wrong = Scorer()
    wrong.require(CallOutcome(ok=True, value=1, inputs=changed), "forward(x)")
    wrong.check(Verdict(False, "values differ"))
    assert wrong.fraction == 0.0
    unchanged = Scorer()
    unchanged.require(CallOutcome(ok=True, value=1, inputs=_evidence(
        op="call", method="forward", sent={("args", 0): "a"}, after={("args", 0): "a"})), "forward")
    unchanged.check(Verdict(True))
    assert unchanged.fraction == 1.0 and not unchanged.failed


def test_digests_survive_the_wire_and_see_every_change():
    from grader.isolation import wire

    value = {"args": [np.arange(6.0).reshape(2, 3), {"Z0": np.ones(3, np.float32)}, 3.0],
             "kwargs": {"mask": np.array([True, False])}}
    decoded = wire.decode(wire.encode(value)[8:])
    before = {p: wire.array_digest(a) for p, a in wire.array_leaves(value)}
    assert before == {p: wire.array_digest(a) for p, a in wire.array_leaves(decoded)}
    assert set(before) == {("args", 0), ("args", 1, "Z0"), ("kwargs", "mask")}
    x = decoded["args"][0]
    # the changes act on whichever array ``x`` names when they run (a fresh one each round)
    for change in (lambda: x.__setitem__((0, 0), -0.0 if x[0, 0] else 1.0),  # noqa: B023
                   lambda: setattr(x, "shape", (3, 2)),  # noqa: B023
                   lambda: setattr(x, "dtype", np.int64)):  # noqa: B023
        fresh = np.arange(6.0).reshape(2, 3)
        x = fresh
        change()
        assert wire.array_digest(x) != before[("args", 0)]
    assert len(wire.array_leaves([np.zeros(1)] * (wire.MAX_INPUT_ARRAYS + 5))) == wire.MAX_INPUT_ARRAYS


def test_kaggle_labels_that_are_nan_fail():
    import grader.parts.kaggle_submission as kaggle
    from grader.isolation.worker import CallOutcome
    from grader.verdicts.scoring import GradeFailure, Scorer

    class Writer:
        def __init__(self, label):
            self.label = label

        def cnn(self, task, *, x, ids, weight, bias, **_):
            dog, _ = kaggle.probabilities(x, weight, bias)
            rows = "".join(f"{i},{self.label(p)}\n" for i, p in sorted(zip(ids.tolist(), dog, strict=True)))
            text = np.frombuffer(("id,label\n" + rows).encode(), dtype=np.uint8)
            return CallOutcome(ok=True, value={"written": True, "truncated": False, "bytes": text})

    def score(label) -> float:
        scorer = Scorer()
        try:
            kaggle.test_kaggle_csv_probabilities(Writer(label), scorer, np.random.default_rng(3))
        except GradeFailure:
            pass
        return scorer.fraction

    assert score(lambda p: f"{p:.6f}") == 1.0
    assert score(lambda p: "nan") == 0.0
