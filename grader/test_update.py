"""Part update: one SGD step on every weight matrix and bias."""
from grader.verdicts import cases
from grader.verdicts.checks import compare_mapping
from grader.verdicts.substitutes import all_but
from reference import mlp


def test_update(worker, grade, rng):
    hidden, lr = (7, 5), 0.05
    dims = mlp.layer_dims(6, hidden, 3)
    weights = cases.weights(rng, dims)
    x, labels = cases.batch(rng, 9, 6, 3)
    grads = mlp.backward(weights, x, labels, "relu")
    outcome = worker.call("update", args=[grads], config=cases.config(hidden, lr=lr),
                          state={"weights": weights}, substitute=all_but("update"),
                          return_state=["weights"])
    grade.require(outcome, "update(grads)")
    expected = mlp.sgd_update(weights, grads, lr)
    step = {k: weights[k] - grads["d" + k] for k in weights}
    ascent = {k: weights[k] + lr * grads["d" + k] for k in weights}
    verdicts = compare_mapping("self.weights after update(grads)", outcome.state.get("weights"),
                               expected, hypotheses={
                                   "this entry was not updated": weights,
                                   "the learning rate was ignored (W - dW)": step,
                                   "the gradient was added (W + lr dW), not subtracted": ascent})
    for verdict in verdicts.values():
        grade.check(verdict)
