"""Part loss: mean cross-entropy, clipping into [epsilon, 1 - epsilon], inputs left unchanged."""
import numpy as np

from grader import causes
from grader.verdicts import cases, styles
from grader.verdicts.checks import compare_scalar
from grader.verdicts.substitutes import all_but
from reference import mlp

EPSILON = 1e-6


def call_loss(worker, grade, prediction, labels, what, return_args=False):
    # check_inputs=False: whether loss changes its arguments is this part's own test, with its
    # own points (test_loss_leaves_input_unchanged); the other loss tests do not charge it again.
    outcome = worker.call("loss", args=[prediction, labels], config=cases.config(epsilon=EPSILON),
                          substitute=all_but("loss"), return_args=return_args, check_inputs=False)
    value = grade.require(outcome, what)
    return value, outcome


def test_loss_value(worker, grade, rng):
    n, c = 10, 6   # both differ from self.batch_size (cases.CONFIGURED_BATCH_SIZE)
    prediction = cases.probabilities(rng, n, c)
    labels = cases.one_hot(rng.integers(0, c, size=n), c)
    got, _ = call_loss(worker, grade, prediction, labels, "loss(prediction, labels)")
    expected = mlp.mean_cross_entropy(prediction, labels, EPSILON)
    # Each wrong loss from the torch reference (a numpy cross-entropy one edit from these would
    # be the answer, and this file ships in the student handout): a rescaling of the mean, or
    # the mean with every label set to 1.
    c = labels.shape[1]
    hypotheses = {
        causes.LOSS_SUMMED: np.asarray(expected * n),
        causes.LOSS_AVERAGED_OVER_ENTRIES: np.asarray(expected / c),
        causes.LOSS_SIGN: np.asarray(-expected),
        causes.LOSS_LABELS_UNUSED:
            np.asarray(mlp.mean_cross_entropy(prediction, np.ones_like(labels), EPSILON)),
        causes.LOSS_CONFIGURED_BATCH_SIZE.format(configured=cases.CONFIGURED_BATCH_SIZE, n=n):
            np.asarray(expected * n / cases.CONFIGURED_BATCH_SIZE),
    }
    grade.check(compare_scalar("loss(prediction, labels)", got, expected, hypotheses=hypotheses,
                               batch_size=n))


def clipping_case(rng):
    prediction = cases.probabilities(rng, 6, 4)
    prediction[0] = [1.0, 0.0, 0.0, 0.0]
    prediction[1] = [0.0, 1.0, 0.0, 0.0]
    labels = cases.one_hot(np.array([0, 2, 1, 3, 0, 1]), 4)   # row 1: probability 0 on the label
    return prediction, labels


def test_loss_clipping(worker, grade, rng):
    prediction, labels = clipping_case(rng)
    got, _ = call_loss(worker, grade, prediction, labels,
                       "loss(prediction, labels) with probabilities of exactly 0 and 1")
    expected = mlp.mean_cross_entropy(prediction, labels, EPSILON)
    verdict = compare_scalar("loss with probabilities of exactly 0 and 1", got, expected,
                             batch_size=prediction.shape[0])
    if not verdict.passed and isinstance(got, (float, np.floating)) and not np.isfinite(got):
        verdict.blame(causes.LOSS_LOG_ZERO)
    grade.check(verdict)


def test_loss_leaves_input_unchanged(worker, grade, rng, style):
    prediction, labels = clipping_case(rng)
    _, outcome = call_loss(worker, grade, prediction, labels, "loss(prediction, labels)",
                           return_args=True)
    after = outcome.args_after
    pairs = zip(("prediction", "labels"), (prediction, labels), after, strict=False)
    changed = [name for name, before, now in pairs
               if not (isinstance(now, np.ndarray) and now.shape == before.shape
                       and np.array_equal(now, before))]
    if (style.original_template and changed == ["prediction"]
            and styles.handout_clipping(prediction, after[0], EPSILON)):
        # The original templates' own given lines clip in place; their students are not charged.
        grade.notes.append("loss() clips the caller's predictions in place, as the original "
                           "course template's given lines do: not charged for a file written for "
                           "that template (this project's template asks for a copy)")
        changed = []
    grade.expect(not changed, f"loss() modified its argument(s) {', '.join(changed)}: clip a copy "
                 "(np.clip(prediction, eps, 1 - eps) returns one), not the caller's array")
