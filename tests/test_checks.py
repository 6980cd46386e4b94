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
    assert "returned a list" in compare_array("x", EXPECTED.tolist(), EXPECTED).message
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
