"""Part update: one SGD step on every weight matrix and bias (``cases.UPDATE``: W2 is square)."""
from grader import causes
from grader.verdicts import cases
from grader.verdicts.checks import compare_mapping
from grader.verdicts.nn_parts import transposed_square
from grader.verdicts.substitutes import all_but
from reference import mlp


def test_update(worker, grade, rng):
    sizes, lr = cases.UPDATE, 0.05
    weights = cases.weights(rng, sizes.dims)
    x, labels = cases.batch(rng, sizes.batch, sizes.n_features, sizes.n_classes)
    grads = mlp.backward(weights, x, labels, "relu")
    outcome = worker.call("update", args=[grads], config=sizes.config(lr=lr),
                          state={"weights": weights}, substitute=all_but("update"),
                          return_state=["weights"])
    grade.require(outcome, "update(grads)")
    expected = mlp.sgd_update(weights, grads, lr)
    # The wrong steps from the torch reference too: a numpy step one edit from these would be
    # the answer, and this file ships in the student handout.
    step = mlp.sgd_update(weights, grads, 1.0)
    ascent = mlp.sgd_update(weights, {k: -v for k, v in grads.items()}, lr)
    square_step = mlp.sgd_update(weights, transposed_square(grads), lr)
    verdicts = compare_mapping("self.weights after update(grads)", outcome.state.get("weights"),
                               expected, hypotheses={
                                   causes.UPDATE_NOT_UPDATED: weights,
                                   causes.UPDATE_LR_IGNORED: step,
                                   causes.UPDATE_GRADIENT_ADDED: ascent,
                                   causes.UPDATE_SQUARE_DW_TRANSPOSED: square_step})
    for verdict in verdicts.values():
        grade.check(verdict)
