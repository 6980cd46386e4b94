"""How each part of the NN is graded at given sizes: shared by the visible and the hidden tests.

A graded test in ``grader/test_<part>.py`` (or ``grader/hidden/``) picks sizes and seeds and
calls the procedure of its part here. Each procedure sends the inputs to the worker, computes the
expected values in this process with ``reference/`` and records weighted checks on the test's
``Scorer``; buggy variants that name a likely cause are computed here too: from the torch
references, or, where a variant is numpy and so one edit from an answer, asked of the withheld
rule module ``reference/known_mistakes.py`` (``withheld.hypotheses``), which the student handout
replaces by its outputs on the public cases.
"""
from __future__ import annotations

import numpy as np

from grader import causes
from grader import tolerances as tol
from grader.verdicts import cases, styles
from grader.verdicts.checks import Verdict, compare_array, compare_mapping, type_name
from grader.verdicts.substitutes import all_but
from reference import distributions, mlp, withheld

INIT_SIZES = dict(n_features=784, hidden=(512, 512), n_classes=10)
"""The assignment's first layer (784 -> 512, where a bound wrong only for large layers shows),
one square layer (512 -> 512) and a narrow one (512 -> 10): sharp statistics on every shape."""

INTERMEDIATE_WEIGHT = 0.25
"""Weight of each intermediate gradient (``dA{l}``, ``dZ{l}``) of backward, against 1 for each
``dW{l}`` and ``db{l}``: update uses only the latter, and the intermediate keys may follow either
of two correct conventions (see ``grade_backward``); they are checked so that a wrong step of
the chain rule is located, not to weigh as much as the gradients the step uses."""

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
    """Each layer's ``W{l}`` (d_{l-1}, d_l) must be a sample of the law of ``method`` whose
    entries are independent draws. Both are one verdict worth ``2 * weight_per_layer``:
    independence is a property, and a property earns nothing beside wrong values (a draw from the
    wrong law is wrong however independent its entries are)."""
    for layer in range(1, len(dims)):
        w = weights.get(f"W{layer}")
        shape = (dims[layer - 1], dims[layer])
        if not isinstance(w, np.ndarray) or w.shape != shape or w.dtype.kind not in "biuf":
            grade.expect(False, f"W{layer}: cannot test its statistics (shape or type is wrong)",
                         2 * weight_per_layer)
            continue
        expected = distributions.weight_distribution(method, *shape)
        stats = distributions.check_sample(w, expected, tol.STAT_ALPHA)
        failed = [s for s in stats if not s.passed]
        verdict = Verdict(True)
        if failed:
            verdict = Verdict(False, f"W{layer} {shape} does not look like {expected.describe()}: "
                              + "; ".join(s.describe() for s in failed))
            cause = _likely_init_cause(w, expected)
            if cause:
                verdict.blame(cause)
        dependence = independent_units_failure(w, f"W{layer}")
        if dependence:
            verdict.message = ". ".join(part for part in (verdict.message, dependence) if part)
            verdict.passed = False
        grade.check(verdict, 2 * weight_per_layer)


def independent_units_failure(w: np.ndarray, name: str) -> str:
    """The units (columns) of ``w`` and its inputs (rows) must be drawn independently: a layer
    whose units all get the same incoming weights matches every marginal statistic, yet its
    units compute the same function and receive the same gradient, so it can never learn more
    than one of them. Exact tests at ``STAT_ALPHA`` for the pair (see
    ``distributions.independent_units_checks``). Returns why they are not, or "" when they pass."""
    if w.ndim != 2 or min(w.shape) < 2:
        return ""
    failed = [s for s in distributions.independent_units_checks(w, tol.STAT_ALPHA) if not s.passed]
    if not failed:
        return ""
    values = w.astype(np.float64)
    if np.all(values == values[:, :1]):
        cause = (f"every unit (column) of {name} has the same incoming weights (the columns are "
                 "copies of one another), so the units can never become different")
    elif np.all(values == values[:1, :]):
        cause = f"every row of {name} is the same: each unit gives all of its inputs one weight"
    else:
        cause = (f"the entries of {name} are not independent draws (are some of them copies of "
                 "others, or a pattern repeated across units?)")
    return (f"{cause}: " + "; ".join(s.describe() for s in failed)
            + ". Draw every entry independently, e.g. np.random.uniform(-d, d, size=(d_in, d_out))")


def _likely_init_cause(w: np.ndarray, expected: distributions.Distribution):
    """The registered cause of weights ``w`` that do not follow ``expected``, or ""."""
    values = w.astype(np.float64).ravel()
    if np.all(values == 0):
        return causes.INIT_ALL_ZEROS
    if expected.kind == "uniform":
        bound = expected.high
        if values.min() >= 0:
            return causes.INIT_UNIFORM_FROM_ZERO
        observed_bound = float(np.max(np.abs(values)))
        if abs(np.var(values) - 1.0) < 0.05:
            return causes.INIT_STANDARD_NORMAL
        d_in, d_out = w.shape
        product_bound = float(np.sqrt(6.0 / (d_in * d_out)))
        if abs(observed_bound - product_bound) <= tol.INIT_BOUND_RTOL * product_bound:
            return causes.INIT_DIMENSIONS_MULTIPLIED.format(observed=observed_bound,
                                                            product=product_bound, bound=bound)
        return causes.INIT_WRONG_BOUND.format(observed=observed_bound, bound=bound)
    if expected.kind == "normal":
        if values.min() >= 0:
            return causes.INIT_NON_NEGATIVE
        return causes.INIT_WRONG_STD.format(std=np.std(values))
    return ""


# -- softmax ---------------------------------------------------------------------------------------

def call_softmax(worker, grade, x, what="softmax(x)"):
    outcome = worker.call("softmax", args=[x], config=cases.config(), substitute=all_but("softmax"))
    return grade.require(outcome, what)


def softmax_variants(x: np.ndarray) -> dict:
    """``{variant: output}`` of softmax's numpy mistakes on ``x`` (see
    ``reference.known_mistakes.softmax_variants``): a withheld rule, since each is one edit from
    a softmax; ``{}`` in the handout on inputs other than the public tests'."""
    x = np.asarray(x, dtype=np.float64)
    return withheld.hypotheses("known_mistakes", "softmax", [x],
                               lambda rule: rule.softmax_variants(x))


def _same_with_nans(got, pattern: np.ndarray) -> bool:
    """``got`` equals ``pattern`` up to PATTERN_RTOL, NaN where it is NaN and Inf where it is Inf."""
    if not isinstance(got, np.ndarray) or got.shape != pattern.shape or got.dtype.kind not in "biuf":
        return False
    got = got.astype(np.float64)
    scale = float(np.max(np.abs(pattern[np.isfinite(pattern)]), initial=0.0))
    return bool(np.allclose(got, pattern, rtol=tol.PATTERN_RTOL,
                            atol=tol.ATOL_FLOOR + tol.PATTERN_RTOL * scale, equal_nan=True))


def softmax_failure_cause(x: np.ndarray, got):
    """Why ``got`` is not softmax(x) (rows along the last axis), when a known variant explains
    it (a registered cause); else "". The variants are computed in float64 numpy, as student
    code computes them, so that their NaNs (0/0, inf/inf) fall where the student's do.

    Subtracting the maximum of the whole batch (``np.max(x)``) instead of each row's is exact in
    exact arithmetic, so it is named only where it shows: on rows whose logits all lie more than
    ~745 below the batch maximum, exp underflows to 0 and the row becomes 0/0."""
    x = np.asarray(x, dtype=np.float64)
    variants = softmax_variants(x)
    if x.ndim == 2 and x.shape[0] > 1 and "batch_max" in variants:
        batch_max = variants["batch_max"]
        exact = mlp.softmax(x)
        with np.errstate(invalid="ignore"):
            row_ok = np.all(np.abs(batch_max - exact) <= tol.RTOL * np.abs(exact) + tol.ATOL_FLOOR,
                            axis=-1)
        underflowed = np.flatnonzero(~row_ok)   # NaN rows, or rows of subnormal exps
        if underflowed.size and _same_with_nans(got, batch_max):
            rows = ", ".join(str(int(r)) for r in underflowed[:5])
            return causes.SOFTMAX_BATCH_MAX.format(
                batch_max=np.max(x), rows=rows,
                maxima=", ".join(f"{x[r].max():.6g}" for r in underflowed[:5]))
        if _same_with_nans(got, variants["column_max"]):
            return causes.SOFTMAX_COLUMN_MAX
    unshifted = variants.get("unshifted")
    if (unshifted is not None and not np.all(np.isfinite(unshifted))
            and _same_with_nans(got, unshifted)):
        return causes.SOFTMAX_OVERFLOW
    if isinstance(got, np.ndarray) and got.dtype.kind == "f" and not np.all(np.isfinite(got)):
        return causes.SOFTMAX_NON_FINITE
    return ""


# -- forward ---------------------------------------------------------------------------------------

def forward_cache_keys(n_layers: int) -> list[str]:
    keys = ["Z0"]
    for layer in range(1, n_layers + 1):
        keys += [f"A{layer}", f"Z{layer}"]
    return keys


def transposed_square(weights: dict) -> dict:
    """``weights`` (or gradients) with every square ``W{l}`` (``dW{l}``) transposed, the others
    as they are."""
    return {k: (v.T if k.startswith(("W", "dW")) and v.shape[0] == v.shape[1] else v)
            for k, v in weights.items()}


def square_layers(weights: dict) -> list[int]:
    return [layer for layer in range(1, mlp.n_layers(weights) + 1)
            if weights[f"W{layer}"].shape[0] == weights[f"W{layer}"].shape[1]]


def forward_hypotheses(weights, x, name):
    """Buggy variants of the cache that point at a likely cause."""
    layers = mlp.n_layers(weights)
    no_bias = {k: (v * 0 if k.startswith("b") else v) for k, v in weights.items()}
    variants = {causes.FORWARD_NO_BIAS: mlp.forward(no_bias, x, name)}
    # The output layer passed through the hidden activation as well as (or instead of) softmax.
    cache = mlp.forward(weights, x, name)
    hidden_out = dict(cache)
    hidden_out[f"Z{layers}"] = mlp.activation(name, cache[f"A{layers}"])
    variants[causes.FORWARD_HIDDEN_ACTIVATION_ON_OUTPUT] = hidden_out
    # A and Z are the reverse of CS231n's letters in this template.
    swapped = {"Z0": cache["Z0"]}
    for layer in range(1, layers + 1):
        swapped[f"A{layer}"], swapped[f"Z{layer}"] = cache[f"Z{layer}"], cache[f"A{layer}"]
    variants[causes.FORWARD_A_Z_SWAPPED] = swapped
    square = square_layers(weights)
    if square:
        # Code that transposes W when the shapes allow it goes wrong exactly on square layers.
        names = ", ".join(f"W{layer}" for layer in square)
        variants[causes.FORWARD_SQUARE_TRANSPOSED.format(names=names)] = mlp.forward(
            transposed_square(weights), x, name)
    return variants


def grade_forward(worker, grade, rng, name, sizes: cases.Sizes = cases.FORWARD):
    dims = sizes.dims
    weights = cases.weights(rng, dims)
    x = rng.normal(0.0, 1.0, size=(sizes.batch, sizes.n_features))
    outcome = worker.call("forward", args=[x], config=sizes.config(activation=name),
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


def backward_hypotheses(weights, x, labels, name, configured_batch_size) -> dict:
    """``{cause: gradients}`` of frequent wrong backward passes (gradients of the mean loss,
    scaled like the correct ones; ``grade_backward`` rescales the intermediate keys)."""
    n = x.shape[0]
    expected = mlp.backward(weights, x, labels, name)
    hypotheses = {}
    if configured_batch_size != n:
        hypotheses[causes.BACKWARD_CONFIGURED_BATCH_SIZE.format(configured=configured_batch_size,
                                                                n=n)] = {
            key: value * (n / configured_batch_size) for key, value in expected.items()}
    if name != "relu" and mlp.n_layers(weights) > 1:  # relu' is the same at A and at Z = relu(A)
        hypotheses[causes.BACKWARD_DERIVATIVE_AT_ACTIVATION] = derivative_at_activation(
            weights, x, labels, name)
    # The numpy chain-rule variants are one edit from the answer: a withheld rule module
    # (reference/known_mistakes.py); the handout has their outputs on the public cases only,
    # found by the rng's inputs (the same on every machine; torch's cache may differ in the last
    # bit from one machine to another, so it is not part of the key).
    inputs = [weights, x, labels, name]
    variants = withheld.hypotheses("known_mistakes", "backward", inputs,
                                   lambda rule: rule.backward_variants(*inputs))
    square = ", ".join(f"W{layer}" for layer in square_layers(weights) if layer > 1)
    named = {"missing": causes.BACKWARD_MISSING_DERIVATIVE,
             "value": causes.BACKWARD_ACTIVATION_FOR_DERIVATIVE,
             "dw_input": causes.BACKWARD_DW_FROM_PREACTIVATION,
             "transpose_square": causes.BACKWARD_SQUARE_NOT_TRANSPOSED.format(square=square)}
    for kind, cause in named.items():
        if kind in variants:
            hypotheses[cause] = variants[kind]
    return hypotheses


def _is_intermediate(key: str) -> bool:
    return key.startswith(("dA", "dZ"))


def _matches(got, expected) -> bool:
    return compare_array("", got, expected).passed


def intermediate_convention(got: dict, expected: dict, keys, n: int) -> float:
    """The factor (1 or N) by which the submission's ``dA``/``dZ`` relate to the gradients of
    the mean loss: 1 when they are those gradients, N under the per-example convention
    (``dA{L} = output - labels``, dividing only ``dW``/``db`` by N). Both are correct; the
    convention is read from the first intermediate key that matches one of them."""
    if n == 1:
        return 1.0
    for key in keys:
        if _is_intermediate(key) and key in got:
            if _matches(got[key], expected[key]):
                return 1.0
            if _matches(got[key], n * expected[key]):
                return float(n)
    return 1.0


def backward_verdicts(label, got, expected, *, n, keys, hypotheses=None):
    """``[(key, Verdict, weight)]`` for the gradients ``got`` of a batch of ``n`` examples.

    ``dW{l}``/``db{l}`` must be the gradients of the mean loss. The intermediate ``dA{l}`` and
    ``dZ{l}`` may follow either correct convention (``intermediate_convention``), the same one
    for all; a key that follows the other one is named as inconsistent, never as a bug of
    averaging."""
    hypotheses = dict(hypotheses or {})
    intermediate = [key for key in keys if _is_intermediate(key)]
    factor = intermediate_convention(got, expected, keys, n) if isinstance(got, dict) else 1.0

    def scaled(arrays):
        return {k: (v * factor if _is_intermediate(k) else v) for k, v in arrays.items()}

    per_example_hint = causes.BACKWARD_SUMMED.format(n=n)
    named = {cause: scaled(arrays) for cause, arrays in hypotheses.items()}
    if n > 1:
        named = {per_example_hint: {k: n * v for k, v in expected.items()
                                    if not _is_intermediate(k)}, **named}
    verdicts = compare_mapping(label, got, scaled(expected), batch_size=n, keys=keys,
                               hypotheses=named)
    result = []
    for key in keys:
        verdict = verdicts[key]
        if not verdict.passed and isinstance(got, dict) and key in got:
            if key in intermediate and n > 1:
                other = float(n) if factor == 1.0 else 1.0
                if _matches(got[key], other * expected[key]):
                    conventions = {1.0: "the gradient of the mean loss",
                                   float(n): f"N = {n} times the gradient of the mean loss (the "
                                             f"per-example convention)"}
                    first = next(k for k in intermediate if k in got)
                    # not a wrong value: the message is replaced, and the cause with it
                    verdict.message = (f"{label}[{key!r}] is {conventions[other]}, but {first} "
                                       f"is {conventions[factor]}")
                    verdict.blame(causes.BACKWARD_MIXED_CONVENTIONS, separator=": ")
            elif key.startswith("db"):
                cause = _db_shape_cause(got[key], expected[key].shape, n)
                if cause:
                    verdict.blame(cause)
        result.append((key, verdict, INTERMEDIATE_WEIGHT if key in intermediate else 1.0))
    return result


def _db_shape_cause(got, shape, n):
    """The registered cause of a ``db`` of the wrong shape, or ""."""
    if not isinstance(got, np.ndarray) or got.shape == shape:
        return ""
    if got.shape == (n, 1) and n != shape[1]:
        return causes.BACKWARD_DB_OVER_UNITS
    if got.ndim == 0 or got.size == 1 != shape[1]:
        return causes.BACKWARD_DB_OVER_EVERYTHING
    return ""


def backward_case(rng, sizes: cases.Sizes) -> tuple:
    """``(weights, x (N, D), one-hot labels (N, C))`` of one backward case at ``sizes``, drawn
    from ``rng``: the release replays it to record the withheld hypotheses on the public cases."""
    weights = cases.weights(rng, sizes.dims)
    x, labels = cases.batch(rng, sizes.batch, sizes.n_features, sizes.n_classes)
    return weights, x, labels


def grade_backward(worker, grade, rng, name, sizes: cases.Sizes = cases.BACKWARD, weight=1.0):
    dims = sizes.dims
    weights, x, labels = backward_case(rng, sizes)
    cache = mlp.forward(weights, x, name)
    outcome = worker.call("backward", args=[cache, labels], config=sizes.config(activation=name),
                          state={"weights": weights}, substitute=all_but("backward"))
    label = f"backward with {name}, {len(sizes.hidden)} hidden layer(s), batch {sizes.batch}"
    got = grade.require(outcome, label)
    expected = mlp.backward(weights, x, labels, name)
    for _, verdict, key_weight in backward_verdicts(
            label + ": grads", got, expected, n=sizes.batch, keys=gradient_keys(len(dims) - 1),
            hypotheses=backward_hypotheses(weights, x, labels, name, sizes.batch_size)):
        grade.check(verdict, weight * key_weight)


# -- train_loop ------------------------------------------------------------------------------------

def run_train_loop(worker, grade, callback_log, rng, *, hidden, n_train, batch_size, n_epochs,
                   lr, activation="tanh", seed=5, n_features=12, n_classes=4, data=None):
    if data is None:
        x, y, centers = cases.blobs(rng, n_train, n_features, n_classes)
        valid = cases.blobs(rng, cases.VALIDATION_EXAMPLES, n_features, n_classes, centers)[:2]
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
    variants = {causes.LOOP_FIRST_MINIBATCH: final(first, batch_size)}
    whole = len(x) // batch_size * batch_size
    if 0 < whole < len(x):
        variants[causes.LOOP_PARTIAL_SKIPPED] = final((x[:whole], y[:whole]), batch_size)
    if n_batches > 1:
        variants[causes.LOOP_FULL_BATCH] = final((x, y), len(x))
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
    wrong = [v for v in verdicts.values() if not v.passed]
    verdict = Verdict(True)
    if wrong:
        message = (f"after train_loop({n_epochs}) the weights differ from the reference loop's "
                   f"(minibatch SGD in data order): {wrong[0].message}")
        if diagnosis:
            message += f". {diagnosis}"
        verdict = wrong[0].restated(message)   # the first wrong weight's cause, if it names one
    grade.check(verdict, weight_weight)
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

FINITE_DIFFERENCE_CAUSES = {"one_sided": causes.FD_ONE_SIDED, "column_major": causes.FD_COLUMN_MAJOR,
                            "half_step": causes.FD_HALF_STEP}
"""The cause each wrong form of the central differences names (``previous_layer`` and
``next_layer``: ``causes.FD_WRONG_LAYER``)."""


def variants(weights, x, labels, name, epsilon, layer, p):
    """``{likely cause: estimates}`` of common wrong implementations, to name the likely cause;
    the withheld rule keys them by short names (``reference.finite_differences.variants``)."""
    found = mlp.finite_difference_variants(weights, x, labels, name, epsilon, layer, p,
                                           EPSILON_LOSS)
    others = {"previous_layer": layer - 1, "next_layer": layer + 1}
    return {(causes.FD_WRONG_LAYER.format(other=others[kind], layer=layer) if kind in others
             else FINITE_DIFFERENCE_CAUSES[kind]): estimates for kind, estimates in found.items()}
