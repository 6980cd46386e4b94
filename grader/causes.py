"""The registry of named causes: every likely cause a diagnosis can give, each with a stable id.

A check that fails and can name why (a known wrong variant matched, a systematic pattern, a call
that did not return) records the cause's **id** beside its message (``Verdict.cause``,
``Check.cause`` in ``grader/model.py``). Every output that groups or counts mistakes (the class
report's common mistakes, above all) groups by id, never by the words: a cause's sentence can be
reworded, or carry the numbers of one case ("exactly 6 (the batch size) times too large"), and
its students still meet in one row.

A ``Cause`` is its sentence (a ``str``, so it reads as before in messages and works as a key of
the hypotheses of ``checks.compare_array``) with an ``id``. ``cause.format(**values)`` fills the
sentence's fields and keeps the id. ``scope`` says how the class report groups it:

- ``CLASS``: one row for the whole class, across every test it appears in;
- ``PART``: one row per part (a part not implemented, values wrong for no cause the grader could
  name, a crash: the same words in two parts are two different problems);
- ``TEST``: one row per test (a check that names no cause at all: only its test says what it is).
"""
from __future__ import annotations

from dataclasses import dataclass

CLASS, PART, TEST = "class", "part", "test"

WORDS = "Likely cause"
LIKELY = f". {WORDS}: "
"""How a message introduces its likely cause after a clause (``Verdict.blame``'s separator)."""
NEW_SENTENCE = f" {WORDS}: "
"""The same after a message that ends with a full stop."""
NEW_SENTENCE_WHERE = f" {WORDS}, "
"""The same for a cause said with where it lies ("Likely cause, in forward: ...")."""
IN_PARENTHESES = f" ({WORDS.lower()}: "
"""The same inside a call's failure text, which the student's error message precedes."""


class Cause(str):
    """A cause's sentence, with its registry ``id``."""

    id: str

    def __new__(cls, id: str, sentence: str):
        made = super().__new__(cls, sentence)
        made.id = id
        return made

    def format(self, *args, **values) -> Cause:
        return Cause(self.id, str.format(self, *args, **values))

    def __reduce__(self):
        return Cause, (self.id, str(self))


@dataclass(frozen=True)
class Entry:
    id: str
    sentence: str    # the template (fields in braces), as registered
    scope: str = CLASS
    family: str = ""  # the mistake it is one form of, when several ids name one misconception


REGISTRY: dict[str, Entry] = {}


def named(id: str, sentence: str, scope: str = CLASS, family: str = "") -> Cause:
    """Register a cause (once per id) and return it. ``family``: a name shared by causes that
    are one misconception seen in different places (a loss and a gradient summed over the batch
    instead of averaged): the class report gives the family one row."""
    if id in REGISTRY and REGISTRY[id].sentence != sentence:
        raise ValueError(f"cause {id!r} registered twice with different sentences")
    REGISTRY[id] = Entry(id, sentence, scope, family)
    return Cause(id, sentence)


def family_of(id: str) -> str:
    """The class report's key for ``id``: its family's name, else the id itself."""
    entry = REGISTRY.get(id)
    return (entry.family if entry else "") or id


def joined(parts, separator: str = "; "):
    """Several causes said as one, ``separator`` between them (empty ones left out).

    Its id is the first part's that has one: a message lists its causes most direct first (a
    stalled loss before frozen parameters, the student's own diagnosis before what the source
    shows), so the class report counts the student under the first and the text keeps them
    all. A combination of ids would make a row of its own for every mix of causes, where the
    class report wants the students who share a mistake in one row. A plain string when no
    part has an id."""
    said = [part for part in parts if part]
    text = separator.join(str(part) for part in said)
    first = next((id_of(part) for part in said if id_of(part)), "")
    return Cause(first, text) if first else text


def said(cause, separator: str = LIKELY, end: str = "") -> str:
    """``cause`` as a message says it, or "" for none: for a text no ``Verdict`` carries (a
    call's failure, which ends the test with its message; pass the same cause to
    ``Scorer.fail`` or ``Scorer.require`` so that its id is recorded too)."""
    return f"{separator}{cause}{end}" if cause else ""


def id_of(cause) -> str:
    """The registry id of ``cause`` ("" for a plain string: a cause not registered)."""
    return getattr(cause, "id", "")


def sentence_of(id: str) -> str:
    """The registered sentence of ``id`` ("" for an id not registered)."""
    entry = REGISTRY.get(id)
    return entry.sentence if entry else ""


def scope_of(id: str) -> str:
    entry = REGISTRY.get(id)
    return entry.scope if entry else CLASS


# ---- how a call ended (grader/verdicts/scoring.py) -------------------------------------------
NOT_IMPLEMENTED = named("call.not_implemented", "not implemented", PART)
RAISED = named("call.raised", "raised {error_type}", PART)
TIMED_OUT = named("call.timed_out", "did not finish within the time limit", PART)
WORKER_DIED = named("call.worker_died", "the worker process died", PART)
NOT_RUN = named("row.not_run", "not run", PART)
GRADER_ERROR = named("row.grader_error", "a fault of the grader (not the student's)", PART)
NUMPY_ONLY = named("rule.numpy_only", "the part's code uses an automatic-differentiation framework",
                   PART)
INPUT_CHANGED = named("habit.input_changed", "changed an array it was given, in place")
OTHER_TYPE = named("habit.other_type", "returned the right values in another type than a numpy array")

CHECK_FAILED = named("check.unnamed", "a check failed; the grader names no cause for it", TEST)
LOAD_FAILED = named("submission.load_failed", "the submission could not be loaded", CLASS)

# ---- what a check found (grader/verdicts/checks.py) -----------------------------------------
WRONG_VALUES = named("values.unnamed", "wrong values, no pattern recognised", PART)
WRONG_TYPE = named("values.wrong_type", "returned another type than the interface's", PART)
WRONG_SHAPE = named("values.wrong_shape", "wrong shape", PART)
ALL_ZEROS = named("pattern.all_zeros", "every entry is 0 (a result never computed or never assigned?)")
TRANSPOSED = named("pattern.transposed", "it equals the expected matrix transposed")
BATCH_TIMES_LARGE = named("pattern.summed_over_batch",
                          "it is exactly {batch_size} (the batch size) times too large: summed over "
                          "the batch instead of averaging?", family="summed_over_batch")
BATCH_TIMES_SMALL = named("pattern.divided_twice",
                          "it is exactly {batch_size} (the batch size) times too small: divided by "
                          "the batch size twice?")
SIGN_FLIPPED = named("pattern.sign_flipped", "it has the opposite sign (sign flipped)")
CONSTANT_FACTOR = named("pattern.constant_factor",
                        "it is the expected value times {factor:.6g} (a wrong constant factor)")
SHAPE_TRANSPOSED = named("shape.transposed", "wrong shape (transposed?)")
SHAPE_PER_EXAMPLE = named("shape.per_example",
                          "wrong shape (one row per example: not summed over the batch axis?)")

# The named mistakes of each part. A sentence with fields is a template (``cause.format(...)``
# fills it; literal braces doubled); a sentence without fields is said as it is (its braces,
# "dA{l}", are the letters of the assignment).

# ---- init (grader/verdicts/nn_parts.py: check_statistics) ------------------------------------
INIT_ALL_ZEROS = named("init.all_zeros", "all zeros (the zero branch used for every method?)")
INIT_UNIFORM_FROM_ZERO = named("init.uniform_from_zero", "drawn from U(0, d) instead of U(-d, d)")
INIT_STANDARD_NORMAL = named("init.standard_normal_for_uniform",
                             "drawn from N(0, 1) instead of U(-d, d)")
INIT_DIMENSIONS_MULTIPLIED = named(
    "init.dimensions_multiplied",
    "the largest |w| is {observed:.4g}, the bound sqrt(6 / (d_in * d_out)) = {product:.4g}: the "
    "dimensions were multiplied; d = sqrt(6 / (d_in + d_out)) = {bound:.4g}")
INIT_WRONG_BOUND = named("init.wrong_bound",
                         "the largest |w| is {observed:.4g} but d = sqrt(6 / (d_in + d_out)) = "
                         "{bound:.4g}")
INIT_NON_NEGATIVE = named("init.non_negative_normal",
                          "only non-negative values (uniform on [0, 1)?)")
INIT_WRONG_STD = named("init.wrong_std", "the standard deviation is {std:.4g}, not 1")

# ---- activations (grader/parts/activations.py) -----------------------------------------------
ACTIVATION_DERIVATIVE_FOR_VALUE = named("activations.derivative_for_value",
                                        "the derivative was returned instead of the value")
ACTIVATION_VALUE_FOR_DERIVATIVE = named("activations.value_for_derivative",
                                        "it returns {name}(x), not its derivative")
SIGMOID_DERIVATIVE_OF_X = named("activations.sigmoid_derivative_of_x",
                                "the derivative formula s * (1 - s) was applied to x itself "
                                "instead of to s = sigmoid(x)")
TANH_DERIVATIVE_OF_X = named("activations.tanh_derivative_of_x",
                             "the derivative formula 1 - t^2 was applied to x itself instead of "
                             "to t = tanh(x)")
LEAKY_RELU_ZERO_SLOPE = named("activations.leaky_relu_zero_slope",
                              "the slope for x <= 0 is 0 (that is relu, not leaky relu)")
LEAKY_RELU_WRONG_SLOPE = named("activations.leaky_relu_wrong_slope",
                               "the slope for x <= 0 must be 0.01")

# ---- softmax (grader/parts/softmax.py, grader/verdicts/nn_parts.py) --------------------------
SOFTMAX_UNIFORM = named("softmax.uniform",
                        "every entry is 1/C: the logits were never used (a placeholder left in?)")
SOFTMAX_ROW_SUM = named("softmax.rows_not_normalized",
                        "its rows sum to {low:.6g} to {high:.6g}, not 1: divide each row's "
                        "exponentials by that row's own sum")
SOFTMAX_AXIS0 = named("softmax.axis0",
                      "normalized along axis 0 (columns) instead of the last axis (rows)")
SOFTMAX_WHOLE_ARRAY = named("softmax.whole_array",
                            "normalized over the whole array instead of per row")
SOFTMAX_NOT_SHIFT_INVARIANT = named("softmax.not_shift_invariant",
                                    "it is not invariant to a constant added to a row, though "
                                    "softmax(x + c) = softmax(x) (clipped logits?)")
SOFTMAX_BATCH_MAX = named(
    "softmax.batch_max_underflow",
    "the maximum of the whole batch ({batch_max:.6g}, np.max(x)) was subtracted instead of each "
    "row's own maximum (np.max(x, axis=-1, keepdims=True)). That is exact in exact arithmetic, "
    "but row(s) {rows} lie so far below the batch maximum (their own maximum: {maxima}) that exp "
    "underflows there (to 0 on a whole row: 0 / 0 gives NaN)")
SOFTMAX_COLUMN_MAX = named("softmax.column_max",
                           "each column's maximum (np.max(x, axis=0)) was subtracted instead of "
                           "each row's (np.max(x, axis=-1, keepdims=True)): a different constant "
                           "per entry of a row changes the result")
SOFTMAX_OVERFLOW = named("softmax.unshifted_overflow",
                         "exp overflows: nothing was subtracted before exp; subtract the row "
                         "maximum first, each row's own (softmax(x - c) = softmax(x) for a "
                         "constant c per row)")
SOFTMAX_NON_FINITE = named("softmax.non_finite",
                           "NaN or Inf in the output: exp overflowed (inf / inf) or a whole row "
                           "underflowed to 0 (0 / 0) somewhere")

# ---- forward (grader/verdicts/nn_parts.py: forward_hypotheses) -------------------------------
FORWARD_NO_BIAS = named("forward.no_bias", "the biases b{l} were not added")
FORWARD_HIDDEN_ACTIVATION_ON_OUTPUT = named(
    "forward.hidden_activation_on_output",
    "the output layer used the hidden activation instead of softmax")
FORWARD_A_Z_SWAPPED = named(
    "forward.a_z_swapped",
    "A{l} and Z{l} are swapped: in this template A{l} is the pre-activation Z{l-1} @ W{l} + b{l} "
    "and Z{l} the activation of A{l} (the reverse of CS231n's letters)")
FORWARD_SQUARE_TRANSPOSED = named(
    "forward.square_w_transposed",
    "the square weight matrix {names} was transposed: A{{l}} = Z{{l-1}} @ W{{l}} + b{{l}} for every "
    "layer, whatever its shape (code that picks W or W.T from the shapes picks wrongly when W is "
    "square)")

# ---- loss (grader/parts/loss.py) -------------------------------------------------------------
LOSS_SUMMED = named("loss.summed_over_batch", "summed over the batch instead of averaging",
                    family="summed_over_batch")
LOSS_AVERAGED_OVER_ENTRIES = named("loss.averaged_over_entries",
                                   "averaged over every entry (N * C) instead of over the N "
                                   "examples")
LOSS_SIGN = named("loss.sign_missing", "the minus sign is missing")
LOSS_LABELS_UNUSED = named("loss.labels_unused",
                           "the labels were not used (log of every probability summed)")
LOSS_CONFIGURED_BATCH_SIZE = named("loss.configured_batch_size",
                                   "divided by self.batch_size ({configured}) instead of the "
                                   "number of examples given ({n}): use N = prediction.shape[0]")
LOSS_LOG_ZERO = named("loss.log_zero",
                      "log(0); clip the predictions into [epsilon, 1 - epsilon] before the log")

# ---- backward (grader/verdicts/nn_parts.py; variants: reference/known_mistakes.py) -----------
BACKWARD_CONFIGURED_BATCH_SIZE = named(
    "backward.configured_batch_size",
    "divided by self.batch_size ({configured}) instead of the number of examples in this batch "
    "({n}): the last minibatch of an epoch can be smaller, so use N = labels.shape[0]")
BACKWARD_DERIVATIVE_AT_ACTIVATION = named(
    "backward.derivative_at_activation",
    "the activation derivative was evaluated at Z (the activation) instead of A (the "
    "pre-activation)")
BACKWARD_MISSING_DERIVATIVE = named(
    "backward.missing_activation_derivative",
    "the activation's derivative was not applied: dA{l} = dZ{l} * act'(A{l}), not dZ{l}")
BACKWARD_ACTIVATION_FOR_DERIVATIVE = named(
    "backward.activation_for_derivative",
    "dZ{l} was multiplied by activation(A{l}) instead of its derivative activation(A{l}, "
    "grad=True)")
BACKWARD_DW_FROM_PREACTIVATION = named(
    "backward.dw_from_preactivation",
    "dW{l} was computed from A{l-1} (the pre-activation) instead of Z{l-1} (the previous layer's "
    "activation): dW{l} = Z{l-1}.T @ dA{l}")
BACKWARD_SQUARE_NOT_TRANSPOSED = named(
    "backward.square_w_not_transposed",
    "the square {square} was not transposed: dZ{{l-1}} = dA{{l}} @ W{{l}}.T for every layer, "
    "whatever its shape (code that picks W or W.T from the shapes picks wrongly when W is square)")
BACKWARD_SUMMED = named(
    "backward.summed_over_batch",
    "it is exactly {n} (the batch size) times too large: summed over the batch instead of "
    "averaging. dW and db are the gradients of the mean loss: divide them by N = {n} (dA and dZ "
    "may keep the per-example convention)", family="summed_over_batch")
BACKWARD_MIXED_CONVENTIONS = named(
    "backward.mixed_conventions",
    "either convention is accepted for dA and dZ, the same one for all of them")
BACKWARD_DB_OVER_UNITS = named(
    "backward.db_summed_over_units",
    "summed over axis 1 (the units) instead of axis 0 (the examples): np.sum(dA, axis=0, "
    "keepdims=True)")
BACKWARD_DB_OVER_EVERYTHING = named(
    "backward.db_summed_over_every_axis",
    "summed over every axis; sum over axis 0 (the examples) only")

# ---- update (grader/parts/update.py) ---------------------------------------------------------
UPDATE_NOT_UPDATED = named("update.not_updated", "this entry was not updated")
UPDATE_LR_IGNORED = named("update.learning_rate_ignored", "the learning rate was ignored (W - dW)")
UPDATE_GRADIENT_ADDED = named("update.gradient_added",
                              "the gradient was added (W + lr dW), not subtracted")
UPDATE_SQUARE_DW_TRANSPOSED = named(
    "update.square_dw_transposed",
    "the square layer's dW was transposed: W - lr * dW whatever the shape (code that picks dW or "
    "dW.T from the shapes picks wrongly when W is square)")

# ---- train_loop (grader/verdicts/nn_parts.py: loop_variants; grader/parts/train_loop.py) -----
LOOP_FIRST_MINIBATCH = named("train_loop.first_minibatch_every_step",
                             "every step used the first minibatch (X[:batch_size]) instead of "
                             "the step's own minibatch")
LOOP_PARTIAL_SKIPPED = named("train_loop.partial_minibatch_skipped",
                             "the last, partial minibatch was skipped")
LOOP_FULL_BATCH = named("train_loop.full_batch_steps",
                        "one step per epoch on the whole training set instead of one per "
                        "minibatch")
EVALUATE_WRONG_SPLIT = named("train_loop.evaluated_on_wrong_split",
                             "it was computed on the {split} split, not the test split")

# ---- finite_difference (grader/parts/finite_difference.py; estimates of the wrong forms:
# reference/finite_differences.py, keyed there by short names: nn_parts.FINITE_DIFFERENCE_CAUSES)
FD_ONE_SIDED = named("finite_difference.one_sided",
                     "a one-sided difference (loss(theta + eps) - loss(theta)) / eps was used "
                     "instead of the central difference")
FD_COLUMN_MAJOR = named("finite_difference.column_major",
                        "the entries were taken in column-major order; the first p entries are "
                        "the first p of W.reshape(-1) (row-major)")
FD_HALF_STEP = named("finite_difference.divided_by_epsilon",
                     "the difference was divided by epsilon instead of 2 * epsilon")
FD_WRONG_LAYER = named("finite_difference.wrong_layer",
                       "the estimates are for W{other}, not W{layer}")
FD_NOT_RESTORED = named("finite_difference.weights_not_restored",
                        "each entry was left at theta {sign} epsilon")

# ---- optimizers (grader/parts/optimizers.py, grader/verdicts/optimizer_patterns.py) ----------
OPTIMIZER_SHARED_STATE = named("optimizers.shared_state",
                               "one state shared by all parameters; keep it per parameter name, "
                               "e.g. in self.state[name]")
OPTIMIZER_WEIGHT_DECAY_IGNORED = named("optimizers.weight_decay_ignored",
                                       "weight_decay was ignored (add weight_decay * param to the "
                                       "gradient)")
OPTIMIZER_NO_BIAS_CORRECTION = named("optimizers.no_bias_correction",
                                     "the bias corrections m / (1 - b1^t) and v / (1 - b2^t) are "
                                     "missing")
OPTIMIZER_EPS_INSIDE_ROOT = named("optimizers.eps_inside_root",
                                  "eps is inside the square root; torch adds it after: "
                                  "sqrt({root}) + eps")
OPTIMIZER_DAMPENED_VELOCITY = named("optimizers.dampened_velocity",
                                    "the velocity is an average (m v + (1 - m) g), not m v + g as "
                                    "in torch")
OPTIMIZER_NOT_ACCUMULATED = named("optimizers.squares_not_accumulated",
                                  "the squared gradients are not accumulated over the steps "
                                  "(s <- s + g^2)")
NESTEROV_NO_LOOKAHEAD = named("optimizers.nesterov_without_lookahead",
                              "the look-ahead is missing: that is plain momentum")
RMSPROP_NESTEROV_VELOCITY_ONLY = named("optimizers.rmsprop_nesterov_velocity_only",
                                       "the parameters moved by v' only; the look-ahead form "
                                       "moves them by (1 + momentum) v' - momentum v")
ADADELTA_LR_IGNORED = named("optimizers.adadelta_lr_ignored",
                            "the learning rate was ignored (torch multiplies the step by lr)")
UPDATE_IGNORES_OPTIMIZER = named("optimizers.update_ignores_optimizer",
                                 "update ignored the optimizer and took a plain SGD step (or NN "
                                 "does not accept optimizer=)")

# ---- batchnorm (grader/parts/batchnorm.py; variants: reference/known_mistakes.py) ------------
BATCHNORM_UNBIASED_NORMALIZATION = named(
    "batchnorm.unbiased_normalization",
    "normalized with the unbiased variance; torch normalizes with the biased one (and uses the "
    "unbiased one only for running_var)")
BATCHNORM_FLIPPED_MOMENTUM = named(
    "batchnorm.flipped_momentum",
    "running statistics updated as momentum * running + (1 - momentum) * batch; torch weighs the "
    "new batch by momentum")
BATCHNORM_BIASED_RUNNING_VAR = named(
    "batchnorm.biased_running_var",
    "running_var updated with the biased batch variance; torch uses the unbiased one")
BATCHNORM_BATCH_STATS_IN_EVAL = named(
    "batchnorm.batch_stats_in_eval",
    "evaluation used the batch statistics instead of the running ones")
BATCHNORM_CONSTANT_STATISTICS = named(
    "batchnorm.constant_statistics",
    "backward treated the batch mean and variance as constants")
BATCHNORM_FROZEN_RUNNING = named(
    "batchnorm.frozen_running",
    "the running statistics were never updated in training (they keep their initial values)")

# ---- dropout (grader/parts/dropout.py) -------------------------------------------------------
DROPOUT_KEEP_PROBABILITY = named("dropout.keep_probability", "p was used as the keep probability")
DROPOUT_NOT_RESCALED = named("dropout.not_rescaled",
                             "the kept entries were not divided by 1 - p (inverted dropout)")
DROPOUT_DIVIDED_BY_P = named("dropout.divided_by_p",
                             "kept entries were divided by p instead of 1 - p")
DROPOUT_DROPPED_IN_EVAL = named("dropout.dropped_in_eval", "entries were dropped with train=False")
DROPOUT_BACKWARD_IGNORES_MASK = named("dropout.backward_ignores_mask",
                                      "backward ignored the mask (returned dout)")
DROPOUT_BACKWARD_UNSCALED = named("dropout.backward_unscaled",
                                  "backward applied the kept entries without the 1 / (1 - p) "
                                  "scaling (is the mask 0 / 1 rather than the multipliers 0 / "
                                  "(1 / (1 - p))?)")
DROPOUT_BACKWARD_NEW_MASK = named("dropout.backward_new_mask",
                                  "backward dropped other entries than forward did (a new mask "
                                  "drawn in backward?)")

# ---- batchnorm2d (grader/parts/batchnorm2d.py) -----------------------------------------------
BATCHNORM2D_FROZEN_RUNNING = named(
    "batchnorm2d.frozen_running",
    "the running statistics were never updated in training (they keep their initial values)")
BATCHNORM2D_BATCH_STATS_IN_EVAL = named(
    "batchnorm2d.batch_stats_in_eval",
    "evaluation used the batch statistics instead of the running ones")
BATCHNORM2D_INVERTED_MOMENTUM = named(
    "batchnorm2d.inverted_momentum",
    "the momentum weights the old running value: new = momentum * old + (1 - momentum) * batch "
    "(Keras' convention); torch's is new = (1 - momentum) * old + momentum * batch")
BATCHNORM2D_UNBIASED_NORMALIZATION = named(
    "batchnorm2d.unbiased_normalization",
    "normalized with the unbiased variance; torch normalizes with the biased one")
BATCHNORM2D_UNREGISTERED_PARAMETERS = named(
    "batchnorm2d.unregistered_parameters",
    "{names} {verb} not registered as parameters (a plain tensor attribute?); wrap them in "
    "torch.nn.Parameter")
BATCHNORM2D_UNREGISTERED_BUFFERS = named(
    "batchnorm2d.unregistered_buffers",
    "{names} {verb} not registered as buffers (a plain tensor attribute?); use register_buffer, "
    "so that .to() and state_dict carry them")

# ---- mnist_cnn and cats_dogs_cnn (grader/verdicts/cnn_checks.py, grader/parts/*_cnn.py) ------
CNN_LOSS_STALLED = named("cnn.loss_stalled",
                         "the training loss hardly changed over {epochs} epochs ({first:.4g} to "
                         "{last:.4g}): the parameters barely moved")
CNN_LEARNING_RATE_TOO_SMALL = named("cnn.learning_rate_too_small",
                                    "make_cats_dogs_optimizer's learning rate {rates} is likely "
                                    "far too small")
CNN_FROZEN_PARAMETERS = named("cnn.frozen_parameters",
                              "{frozen:,} of its {total:,} parameters are frozen "
                              "(requires_grad=False), so training cannot change them")
CNN_CUTS_AUTOGRAD = named("cnn.cuts_autograd", "{construct} cuts forward from autograd")
CNN_DETACHED_IN_FORWARD = named("cnn.detached_in_forward", "in forward: {constructs}")
CNN_FORWARD_IGNORES_LAYERS = named("cnn.forward_ignores_layers",
                                   "a part of forward that ignores the trainable layers (a fixed "
                                   "rule, a branch multiplied by 0 or detached) or values kept "
                                   "outside them")
CNN_AUTOGRAD_OFF = named("cnn.autograd_off",
                         "{constructs} turns autograd off, so nothing in forward can be trained")

# ---- kaggle_submission (grader/parts/kaggle_submission.py) -----------------------------------
KAGGLE_CAT_PROBABILITY = named("kaggle_submission.cat_probability",
                               "the labels are P(cat), the softmax of class 0; label is P(dog), "
                               "class 1")
KAGGLE_PREDICTED_CLASSES = named("kaggle_submission.predicted_classes",
                                 "the labels are predicted classes (0/1), not probabilities")
KAGGLE_TRAINING_MODE = named("kaggle_submission.training_mode",
                             "the model was evaluated in training mode: call model.eval() before "
                             "predicting (batch norm and dropout behave differently in training)")
KAGGLE_RAW_LOGITS = named("kaggle_submission.raw_logits",
                          "the labels are the raw dog logits; apply the softmax")
KAGGLE_SIGMOID = named("kaggle_submission.sigmoid_of_dog_logit",
                       "the labels are sigmoid(dog logit); the probability is the softmax over "
                       "both logits")
