"""Part train_loop: minibatch SGD in data order, the logs it keeps, learning, and evaluate().

Every other method runs as its reference version (through the worker's proxies), so this part
is graded on the loop alone. The trusted side replays the same loop with the reference and
compares; learning is judged on held-out data that never leaves this process.
"""
import math

import numpy as np

from grader import cases
from grader import tolerances as tol
from grader.checks import compare_array, compare_mapping, compare_scalar, type_name
from grader.substitutes import all_but, reference_call
from reference import mlp

LOG_KEYS = ("train_accuracy", "validation_accuracy", "train_loss", "validation_loss")


def run_train_loop(worker, grade, callback_log, rng, *, hidden, n_train, batch_size, n_epochs,
                   lr, activation="tanh", seed=5, n_features=12, n_classes=4, data=None):
    if data is None:
        x, y, centers = cases.blobs(rng, n_train, n_features, n_classes)
        valid = cases.blobs(rng, 32, n_features, n_classes, centers)[:2]
        data = {"train": (x, y), "valid": valid, "test": valid}
    config = cases.config(hidden, activation=activation, lr=lr, batch_size=batch_size, seed=seed)
    callback_log.clear()
    outcome = worker.call("train_loop", args=[n_epochs], config=config, state=data,
                          substitute=all_but("train_loop"), return_state=["weights", "train_logs"])
    logs = grade.require(outcome, f"train_loop({n_epochs})")
    calls = callback_log.names()
    initial = mlp.initialize([n_features, n_classes], hidden, "glorot", seed)
    expected_weights, expected_logs = mlp.train(initial, data["train"], data["valid"], n_epochs,
                                                batch_size, lr, activation, 1e-6)
    return outcome, logs, calls, expected_weights, expected_logs, data


def loop_diagnosis(calls, n_epochs, n_batches) -> str:
    """What the sequence of reference calls says about a wrong loop."""
    hints = []
    if "initialize_weights" not in calls:
        hints.append("initialize_weights was never called")
    updates = calls.count("update")
    if updates != n_epochs * n_batches:
        hints.append(f"update was called {updates} times, expected {n_epochs * n_batches} "
                     f"(n_epochs x ceil(N / batch_size) = {n_epochs} x {n_batches})")
    backwards = calls.count("backward")
    if backwards != updates:
        hints.append(f"backward was called {backwards} times for {updates} updates")
    return ("; ".join(hints) + ".") if hints else ""


def grade_against_reference(grade, outcome, logs, calls, expected_weights, expected_logs,
                            n_epochs, n_batches, log_weight=2.0, weight_weight=3.0):
    diagnosis = loop_diagnosis(calls, n_epochs, n_batches)
    verdicts = compare_mapping("final self.weights", outcome.state.get("weights"), expected_weights)
    wrong = [v.message for v in verdicts.values() if not v.passed]
    message = ""
    if wrong:
        message = (f"after train_loop({n_epochs}) the weights differ from the reference loop's "
                   f"(minibatch SGD in data order): {wrong[0]}")
        if diagnosis:
            message += f". {diagnosis}"
    grade.expect(not wrong, message, weight_weight)
    if log_weight == 0:
        return
    if not isinstance(logs, dict):
        grade.expect(False, f"train_loop returned {type_name(logs)}, expected the train_logs dict",
                     log_weight)
        return
    for key in LOG_KEYS:
        values = logs.get(key)
        label = f"train_logs[{key!r}]"
        if not isinstance(values, (list, tuple, np.ndarray)):
            grade.expect(False, f"{label} is {type_name(values)}, expected a list of {n_epochs} "
                         "numbers", log_weight / 4)
            continue
        try:
            array = np.asarray([float(v) for v in values])
        except (TypeError, ValueError):
            grade.expect(False, f"{label} holds something other than numbers", log_weight / 4)
            continue
        if array.shape != (n_epochs,):
            grade.expect(False, f"{label} has {array.size} entries, expected one per epoch "
                         f"({n_epochs})", log_weight / 4)
            continue
        grade.check(compare_array(label, array, np.asarray(expected_logs[key])), log_weight / 4)


def test_train_loop_matches_reference(worker, grade, callback_log, rng):
    n_train, batch_size, n_epochs = 96, 16, 4
    outcome, logs, calls, weights, expected_logs, _ = run_train_loop(
        worker, grade, callback_log, rng, hidden=(16,), n_train=n_train, batch_size=batch_size,
        n_epochs=n_epochs, lr=0.1)
    grade_against_reference(grade, outcome, logs, calls, weights, expected_logs, n_epochs,
                            math.ceil(n_train / batch_size))


def test_train_loop_partial_batch(worker, grade, callback_log, rng):
    n_train, batch_size, n_epochs = 100, 16, 2   # 6 full minibatches and one of 4 examples
    outcome, logs, calls, weights, expected_logs, _ = run_train_loop(
        worker, grade, callback_log, rng, hidden=(8,), n_train=n_train, batch_size=batch_size,
        n_epochs=n_epochs, lr=0.2, activation="relu")
    grade_against_reference(grade, outcome, logs, calls, weights, expected_logs, n_epochs,
                            math.ceil(n_train / batch_size), log_weight=0)


def test_train_loop_learns(worker, grade, callback_log, rng):
    n_features, n_classes = 10, 4
    x, y, centers = cases.blobs(rng, 240, n_features, n_classes)
    valid = cases.blobs(rng, 60, n_features, n_classes, centers)[:2]
    held_out_x, held_out_y, _ = cases.blobs(rng, 400, n_features, n_classes, centers)
    data = {"train": (x, y), "valid": valid, "test": valid}
    outcome, logs, calls, _, _, _ = run_train_loop(
        worker, grade, callback_log, rng, hidden=(32,), n_train=240, batch_size=24, n_epochs=8,
        lr=0.3, activation="relu", seed=3, n_features=n_features, n_classes=n_classes, data=data)
    weights = outcome.state.get("weights")
    try:
        _, accuracy, _ = reference_call("compute_loss_and_accuracy", [held_out_x, held_out_y], {},
                                        {"weights": weights, "activation_str": "relu",
                                         "epsilon": 1e-6})
    except (TypeError, ValueError, KeyError) as error:
        grade.fail(f"the weights left by train_loop cannot be evaluated: {error}")
    message = ""
    if accuracy < tol.LEARNING_FLOOR:
        message = (f"after train_loop(8) the network classifies {accuracy:.1%} of held-out examples "
                   f"correctly; at least {tol.LEARNING_FLOOR:.0%} is expected (chance: 25%). "
                   + loop_diagnosis(calls, 8, 10))
    grade.expect(accuracy >= tol.LEARNING_FLOOR, message)


def test_evaluate(worker, grade, rng):
    hidden, activation = (9,), "sigmoid"
    dims = mlp.layer_dims(7, hidden, 3)
    weights = cases.weights(rng, dims)
    splits = {name: cases.batch(rng, n, 7, 3) for name, n in (("train", 30), ("valid", 20), ("test", 25))}
    outcome = worker.call("evaluate", config=cases.config(hidden, activation=activation),
                          state={"weights": weights, **splits}, substitute=all_but("evaluate"))
    got = grade.require(outcome, "evaluate()")
    if not (isinstance(got, (tuple, list)) and len(got) >= 2):
        grade.fail(f"evaluate() returned {type_name(got)}; expected (test_loss, test_accuracy)")
    expected = {name: mlp.loss_and_accuracy(weights, *splits[name], activation, 1e-6)[:2]
                for name in splits}
    for index, what in enumerate(("test loss", "test accuracy")):
        hypotheses = {f"it was computed on the {name} split, not the test split":
                      np.asarray(expected[name][index]) for name in ("train", "valid")}
        grade.check(compare_scalar(f"evaluate()[{index}] ({what})", got[index],
                                   expected["test"][index], hypotheses=hypotheses))
