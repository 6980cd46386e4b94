"""Part train_loop: minibatch SGD in data order, the logs it keeps, learning, and evaluate().

Every other method runs as its reference version (through the worker's proxies), so this part
is graded on the loop alone. The trusted side replays the same loop with the reference and
compares; learning is judged on held-out data that never leaves this process.
"""
import math

import numpy as np

from grader import causes
from grader import tolerances as tol
from grader.verdicts import cases
from grader.verdicts.checks import compare_scalar, type_name
from grader.verdicts.nn_parts import LOG_KEYS, grade_against_reference, loop_diagnosis, run_train_loop
from grader.verdicts.substitutes import all_but, reference_call
from reference import mlp


def test_train_loop_matches_reference(worker, grade, callback_log, rng):
    sizes, n_epochs = cases.TRAIN_LOOP, 4
    n_train, batch_size = sizes.batch, sizes.batch_size
    outcome, logs, calls, weights, expected_logs, wrong_loops = run_train_loop(
        worker, grade, callback_log, rng, **sizes.loop_sizes(), n_epochs=n_epochs, lr=0.1)
    grade_against_reference(grade, outcome, logs, calls, weights, expected_logs, n_epochs,
                            math.ceil(n_train / batch_size), wrong_loops=wrong_loops)


def test_train_loop_partial_batch(worker, grade, callback_log, rng):
    sizes, n_epochs = cases.TRAIN_LOOP_PARTIAL, 2   # 6 full minibatches and one of 5 examples
    n_train, batch_size = sizes.batch, sizes.batch_size
    outcome, logs, calls, weights, expected_logs, wrong_loops = run_train_loop(
        worker, grade, callback_log, rng, **sizes.loop_sizes(), n_epochs=n_epochs, lr=0.2,
        activation="relu")
    grade_against_reference(grade, outcome, logs, calls, weights, expected_logs, n_epochs,
                            math.ceil(n_train / batch_size), wrong_loops=wrong_loops, log_weight=0)


def test_train_loop_learns(worker, grade, callback_log, rng):
    sizes = cases.TRAIN_LOOP_LEARNS
    n_features, n_classes, others = sizes.n_features, sizes.n_classes, dict(sizes.others)
    x, y, centers = cases.blobs(rng, sizes.batch, n_features, n_classes)
    valid = cases.blobs(rng, others["validation examples"], n_features, n_classes, centers)[:2]
    held_out_x, held_out_y, _ = cases.blobs(rng, others["held-out examples"], n_features,
                                            n_classes, centers)
    data = {"train": (x, y), "valid": valid, "test": valid}
    outcome, logs, calls, _, _, _ = run_train_loop(
        worker, grade, callback_log, rng, **sizes.loop_sizes(), n_epochs=8, lr=0.3,
        activation="relu", seed=3, data=data)
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


LOOP_OWN = ("compute_loss_and_accuracy", "one_hot")
"""Methods the loop calls that no other part grades (the template gives them): in the end-to-end
run they stay the student's own even when the parts graded elsewhere are replaced."""


def end_to_end_problems(outcome, n_epochs) -> list[str]:
    """Why an end-to-end run of train_loop failed: it raised, or its logs are not one finite
    number per epoch. Empty when it ran and logged finite numbers."""
    if not outcome.ok:
        return [outcome.failure_text()]
    logs = outcome.state.get("train_logs")
    if not isinstance(logs, dict):
        return [f"self.train_logs is {type_name(logs)}, not a dict"]
    problems = []
    for key in LOG_KEYS:
        values = logs.get(key)
        try:
            array = np.asarray([float(v) for v in values], dtype=np.float64)
        except (TypeError, ValueError):
            problems.append(f"train_logs[{key!r}] is {type_name(values)}, not a list of numbers")
            continue
        if array.shape != (n_epochs,):
            problems.append(f"train_logs[{key!r}] has {array.size} entries, expected {n_epochs}")
        elif not np.all(np.isfinite(array)):
            problems.append(f"train_logs[{key!r}] = {array.tolist()} holds NaN or Inf")
    return problems


def test_train_loop_end_to_end(worker, grade, rng):
    """The loop as the student runs it, every method the student's own. The other tests replace
    forward, backward, update, loss and compute_loss_and_accuracy by the reference, so a loop
    that only works with the reference's versions (its own compute_loss_and_accuracy crashes)
    would pass them all. Only that the loop runs and logs finite numbers is checked: the values
    are the other parts' business. When the run fails, it is repeated with the parts graded
    elsewhere replaced by the reference: if that run succeeds, the fault is in one of those
    parts, which already costs points there, and is only noted here (one bug, one part)."""
    n_epochs, n_features, n_classes = 2, 6, 3
    x, y, centers = cases.blobs(rng, 40, n_features, n_classes)
    valid = cases.blobs(rng, 12, n_features, n_classes, centers)[:2]

    def run(substitute):
        return worker.call("train_loop", args=[n_epochs],
                           config=cases.config((5,), activation="tanh", lr=0.05, batch_size=16,
                                               seed=2),
                           state={"train": (x, y), "valid": valid, "test": valid},
                           substitute=substitute, return_state=["train_logs"])

    what = f"train_loop({n_epochs}) with your own methods"
    outcome = run(())
    problems = end_to_end_problems(outcome, n_epochs)
    # A run that timed out or was killed is repeated too: the slow or hostile code may sit in a
    # part graded elsewhere (an activation that forks), and the reference's parts are fast.
    if problems and not outcome.not_implemented:
        again = run(all_but("train_loop", "evaluate", *LOOP_OWN))
        if not end_to_end_problems(again, n_epochs):
            grade.notes.append(f"{what} fails ({problems[0].splitlines()[0][:300]}), but runs with "
                               "the reference's forward, backward, update and loss: the fault is "
                               "in one of those parts and is graded there")
            grade.expect(True, "")
            return
    if not outcome.ok:
        grade.require(outcome, f"{what} (forward, backward, update, loss, "
                               "compute_loss_and_accuracy)")
    grade.expect(not problems, f"{what}: " + "; ".join(problems[:4]))


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
        hypotheses = {causes.EVALUATE_WRONG_SPLIT.format(split=name):
                      np.asarray(expected[name][index]) for name in ("train", "valid")}
        grade.check(compare_scalar(f"evaluate()[{index}] ({what})", got[index],
                                   expected["test"][index], hypotheses=hypotheses))
