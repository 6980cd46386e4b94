"""How each part of the NN is graded at given sizes: shared by the visible and the hidden tests.

A graded test in ``grader/test_<part>.py`` (or ``grader/hidden/``) picks sizes and seeds and
calls the procedure of its part here. Each procedure sends the inputs to the worker, computes the
expected values in this process with ``reference/`` and records weighted checks on the test's
``Scorer``; buggy variants that name a likely cause are computed here too.
"""
from __future__ import annotations

import numpy as np

from grader import tolerances as tol
from grader.verdicts import cases, styles
from grader.verdicts.checks import Verdict, compare_array, compare_mapping, type_name
from grader.verdicts.substitutes import all_but
from reference import distributions, mlp

INIT_SIZES = dict(n_features=300, hidden=(200, 200), n_classes=10)
"""Non-square layers and one square one (200 -> 200), big enough for sharp statistics."""

FORWARD_SIZES = dict(n_features=15, hidden=(12, 9), n_classes=5, batch=6)
BACKWARD_SIZES = dict(n_features=6, hidden=(10, 8), n_classes=4, batch=7)

EPSILON_LOSS = 1e-6
"""The loss's epsilon (clipping) in the finite-difference tests."""

LOG_KEYS = ("train_accuracy", "validation_accuracy", "train_loss", "validation_loss")
"""The lists of ``NN.train_logs``, one number per epoch each."""


# -- init ------------------------------------------------------------------------------------------

def initialized_weights(worker, grade, method, seed=None, hidden=INIT_SIZES["hidden"],
                        n_features=INIT_SIZES["n_features"], n_classes=INIT_SIZES["n_classes"]) -> dict:
    outcome = worker.call("initialize_weights", args=[[n_features, n_classes]],
                          config=cases.config(hidden, init_method=method, seed=seed),
                          return_state=["weights"])
    grade.require(outcome, f"initialize_weights (init_method={method!r}; the names the grader "
                           f"passes are {styles.accepted_init_names()})")
    weights = outcome.state.get("weights")
    if not isinstance(weights, dict):
        grade.fail(f"after initialize_weights, self.weights is {type_name(weights)}, not a dict")
    return weights


def check_structure(grade, weights, dims, weight=1.0) -> bool:
    """Keys, shapes and zero biases of every layer; returns whether they are all right."""
    problems = []
    for layer in range(1, len(dims)):
        for key, shape in ((f"W{layer}", (dims[layer - 1], dims[layer])), (f"b{layer}", (1, dims[layer]))):
            value = weights.get(key)
            if not isinstance(value, np.ndarray):
                problems.append(f"self.weights[{key!r}] is {type_name(value)}, expected an array {shape}")
            elif value.shape != shape:
                hint = " (transposed?)" if value.shape == shape[::-1] else ""
                problems.append(f"{key} has shape {value.shape}, expected {shape}{hint}")
            elif key.startswith("b") and np.any(value != 0):
                problems.append(f"{key} is not all zeros (biases start at 0)")
    extra = sorted(k for k in weights if k not in {f"{p}{n}" for n in range(1, len(dims)) for p in "Wb"})
    if extra:
        problems.append(f"unexpected keys in self.weights: {', '.join(map(str, extra[:10]))}")
    return grade.check(Verdict(not problems, "; ".join(problems)), weight)


def check_statistics(grade, weights, dims, method, weight_per_layer=1.0) -> None:
    for layer in range(1, len(dims)):
        w = weights.get(f"W{layer}")
        shape = (dims[layer - 1], dims[layer])
        if not isinstance(w, np.ndarray) or w.shape != shape or w.dtype.kind not in "biuf":
            grade.expect(False, f"W{layer}: cannot test its statistics (shape or type is wrong)",
                         weight_per_layer)
            continue
        expected = distributions.weight_distribution(method, *shape)
        stats = distributions.check_sample(w, expected, tol.STAT_ALPHA)
        failed = [s for s in stats if not s.passed]
        message = ""
        if failed:
            message = (f"W{layer} {shape} does not look like {expected.describe()}: "
                       + "; ".join(s.describe() for s in failed) + _likely_init_cause(w, expected))
        grade.expect(not failed, message, weight_per_layer)
        check_independent_units(grade, w, f"W{layer}", weight_per_layer)


def check_independent_units(grade, w: np.ndarray, name: str, weight: float) -> None:
    """The units (columns) of ``w`` and its inputs (rows) must be drawn independently: a layer
    whose units all get the same incoming weights matches every marginal statistic, yet its
    units compute the same function and receive the same gradient, so it can never learn more
    than one of them. Exact tests at ``STAT_ALPHA`` for the pair (see
    ``distributions.independent_units_checks``)."""
    if w.ndim != 2 or min(w.shape) < 2:
        return
    failed = [s for s in distributions.independent_units_checks(w, tol.STAT_ALPHA) if not s.passed]
    message = ""
    if failed:
        values = w.astype(np.float64)
        if np.all(values == values[:, :1]):
            cause = (f"every unit (column) of {name} has the same incoming weights (the columns "
                     "are copies of one another), so the units can never become different")
        elif np.all(values == values[:1, :]):
            cause = (f"every row of {name} is the same: each unit gives all of its inputs one "
                     "weight")
        else:
            cause = (f"the entries of {name} are not independent draws (are some of them copies "
                     "of others, or a pattern repeated across units?)")
        message = (f"{cause}: " + "; ".join(s.describe() for s in failed)
                   + ". Draw every entry independently, e.g. np.random.uniform(-d, d, "
                   "size=(d_in, d_out))")
    grade.expect(not failed, message, weight)


def _likely_init_cause(w: np.ndarray, expected: distributions.Distribution) -> str:
    values = w.astype(np.float64).ravel()
    if np.all(values == 0):
        return ". Likely cause: all zeros (the zero branch used for every method?)"
    if expected.kind == "uniform":
        bound = expected.high
        if values.min() >= 0:
            return ". Likely cause: drawn from U(0, d) instead of U(-d, d)"
        observed_bound = float(np.max(np.abs(values)))
        if abs(np.var(values) - 1.0) < 0.05:
            return ". Likely cause: drawn from N(0, 1) instead of U(-d, d)"
        d_in, d_out = w.shape
        product_bound = float(np.sqrt(6.0 / (d_in * d_out)))
        if abs(observed_bound - product_bound) <= tol.INIT_BOUND_RTOL * product_bound:
            return (f". Likely cause: the largest |w| is {observed_bound:.4g}, the bound "
                    f"sqrt(6 / (d_in * d_out)) = {product_bound:.4g}: the dimensions were "
                    f"multiplied; d = sqrt(6 / (d_in + d_out)) = {bound:.4g}")
        return (f". Likely cause: the largest |w| is {observed_bound:.4g} but d = "
                f"sqrt(6 / (d_in + d_out)) = {bound:.4g}")
    if expected.kind == "normal":
        if values.min() >= 0:
            return ". Likely cause: only non-negative values (uniform on [0, 1)?)"
        return f". Likely cause: the standard deviation is {np.std(values):.4g}, not 1"
    return ""


# -- softmax ---------------------------------------------------------------------------------------

def call_softmax(worker, grade, x, what="softmax(x)"):
    outcome = worker.call("softmax", args=[x], config=cases.config(), substitute=all_but("softmax"))
    return grade.require(outcome, what)


# -- forward ---------------------------------------------------------------------------------------

def forward_cache_keys(n_layers: int) -> list[str]:
    keys = ["Z0"]
    for layer in range(1, n_layers + 1):
        keys += [f"A{layer}", f"Z{layer}"]
    return keys


def forward_hypotheses(weights, x, name):
    """Buggy variants of the cache that point at a likely cause."""
    layers = mlp.n_layers(weights)
    no_bias = {k: (v * 0 if k.startswith("b") else v) for k, v in weights.items()}
    variants = {"the biases b{l} were not added": mlp.forward(no_bias, x, name)}
    # The output layer passed through the hidden activation as well as (or instead of) softmax.
    cache = mlp.forward(weights, x, name)
    hidden_out = dict(cache)
    hidden_out[f"Z{layers}"] = mlp.activation(name, cache[f"A{layers}"])
    variants["the output layer used the hidden activation instead of softmax"] = hidden_out
    return variants


def grade_forward(worker, grade, rng, name, hidden=FORWARD_SIZES["hidden"],
                  n_features=FORWARD_SIZES["n_features"], n_classes=FORWARD_SIZES["n_classes"],
                  batch=FORWARD_SIZES["batch"]):
    dims = mlp.layer_dims(n_features, hidden, n_classes)
    weights = cases.weights(rng, dims)
    x = rng.normal(0.0, 1.0, size=(batch, n_features))
    outcome = worker.call("forward", args=[x], config=cases.config(hidden, activation=name),
                          state={"weights": weights}, substitute=all_but("forward"))
    got = grade.require(outcome, f"forward(x) with {name}")
    expected = mlp.forward(weights, x, name)
    keys = forward_cache_keys(len(dims) - 1)
    verdicts = compare_mapping(f"forward(x) with {name}: cache", got, expected, keys=keys,
                               hypotheses=forward_hypotheses(weights, x, name))
    for key, verdict in verdicts.items():
        grade.check(verdict, weight=0.5 if key == "Z0" else 1.0)


# -- backward --------------------------------------------------------------------------------------

def gradient_keys(n_layers: int) -> list[str]:
    keys = []
    for layer in range(n_layers, 0, -1):
        keys += [f"dA{layer}", f"dW{layer}", f"db{layer}"]
        if layer > 1:
            keys.append(f"dZ{layer - 1}")
    return keys


def derivative_at_activation(weights, x, labels, name):
    """The gradients a backward pass gives when it evaluates act' at Z{l} instead of A{l}."""
    return mlp.backward(weights, x, labels, name, derivative_at="activation")


def grade_backward(worker, grade, rng, name, hidden=BACKWARD_SIZES["hidden"],
                   n_features=BACKWARD_SIZES["n_features"], n_classes=BACKWARD_SIZES["n_classes"],
                   batch=BACKWARD_SIZES["batch"], weight=1.0):
    dims = mlp.layer_dims(n_features, hidden, n_classes)
    weights = cases.weights(rng, dims)
    x, labels = cases.batch(rng, batch, n_features, n_classes)
    cache = mlp.forward(weights, x, name)
    outcome = worker.call("backward", args=[cache, labels],
                          config=cases.config(hidden, activation=name),
                          state={"weights": weights}, substitute=all_but("backward"))
    label = f"backward with {name}, {len(hidden)} hidden layer(s), batch {batch}"
    got = grade.require(outcome, label)
    expected = mlp.backward(weights, x, labels, name)
    hypotheses = {}
    if name != "relu" and hidden:  # relu' is the same at A and at Z = relu(A)
        hypotheses["the activation derivative was evaluated at Z (the activation) instead of A "
                   "(the pre-activation)"] = derivative_at_activation(weights, x, labels, name)
    verdicts = compare_mapping(label + ": grads", got, expected, batch_size=batch,
                               keys=gradient_keys(len(dims) - 1), hypotheses=hypotheses)
    for verdict in verdicts.values():
        grade.check(verdict, weight)


# -- train_loop ------------------------------------------------------------------------------------

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
    wrong_loops = loop_variants(initial, data, n_epochs, batch_size, lr, activation)
    return outcome, logs, calls, expected_weights, expected_logs, wrong_loops


def loop_variants(initial, data, n_epochs, batch_size, lr, activation) -> dict:
    """``{cause: final weights}`` of common wrong loops, replayed with the reference: every step
    on the first minibatch, the last partial minibatch dropped, one full-batch step per epoch."""
    x, y = data["train"]
    n_batches = -(-len(x) // batch_size)

    def final(train, size):
        return mlp.train(initial, train, data["valid"], n_epochs, size, lr, activation, 1e-6)[0]

    first = (np.concatenate([x[:batch_size]] * n_batches), np.concatenate([y[:batch_size]] * n_batches))
    variants = {"every step used the first minibatch (X[:batch_size]) instead of the step's own "
                "minibatch": final(first, batch_size)}
    whole = len(x) // batch_size * batch_size
    if 0 < whole < len(x):
        variants["the last, partial minibatch was skipped"] = final((x[:whole], y[:whole]), batch_size)
    if n_batches > 1:
        variants["one step per epoch on the whole training set instead of one per minibatch"] = (
            final((x, y), len(x)))
    return variants


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
                            n_epochs, n_batches, log_weight=2.0, weight_weight=3.0, wrong_loops=None):
    """Final weights and train_logs against the reference loop's; ``wrong_loops`` maps a cause
    to the weights that wrong loop leaves (``loop_variants``)."""
    diagnosis = loop_diagnosis(calls, n_epochs, n_batches)
    verdicts = compare_mapping("final self.weights", outcome.state.get("weights"), expected_weights,
                               hypotheses=wrong_loops)
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


# -- finite_difference -----------------------------------------------------------------------------

def variants(weights, x, labels, name, epsilon, layer, p):
    """Estimates of common wrong implementations, to name the likely cause."""
    return mlp.finite_difference_variants(weights, x, labels, name, epsilon, layer, p, EPSILON_LOSS)
