"""The rubric: the table of the graded parts, then one row for every graded test, its part and
its points.

A test's key is its pytest name (with the parameter in brackets). The grader refuses to run when
a collected test has no row here or a visible row has no test, so the table and the tests cannot
drift apart. The rows of the hidden tests live beside them in ``grader/hidden/rubric.py`` (read by path,
not imported), which the student handout does not contain; their points count only where those
tests are present.
"""
from __future__ import annotations

import runpy
from dataclasses import dataclass
from pathlib import Path

NUMPY, TORCH, STUDIES = "numpy", "torch", "studies"


@dataclass(frozen=True)
class Part:
    name: str
    kind: str                 # NUMPY (Parts 1-3: the numpy-only rule applies), TORCH (Part 4),
                              # or STUDIES (the report's runs, on both)
    opt_in: bool = False      # graded only when asked for (``--experiments`` or by name)
    stub: str = ""            # what of solution.py the part grades, as the template leaves it
    module: str = ""          # its procedures' module (default: grader.parts.<name>)

    @property
    def module_name(self) -> str:
        return self.module or f"grader.parts.{self.name}"


REGISTRY: tuple[Part, ...] = (
    Part("init", NUMPY, stub="NN.__init__, NN.initialize_weights"),
    Part("activations", NUMPY, stub="NN.relu, NN.sigmoid, NN.tanh, NN.leaky_relu, NN.activation"),
    Part("softmax", NUMPY, stub="NN.softmax"),
    Part("forward", NUMPY, stub="NN.forward"),
    Part("loss", NUMPY, stub="NN.loss"),
    Part("backward", NUMPY, stub="NN.backward"),
    Part("update", NUMPY, stub="NN.update"),
    Part("train_loop", NUMPY, stub="NN.train_loop, NN.evaluate"),
    Part("finite_difference", NUMPY, stub="NN.finite_difference"),
    Part("optimizers", NUMPY, stub="SGD, Momentum, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam, "
                                   "RMSPropNesterov"),
    Part("batchnorm", NUMPY, stub="BatchNorm"),
    Part("dropout", NUMPY, stub="Dropout"),
    Part("batchnorm2d", TORCH, stub="BatchNorm2d"),
    Part("mnist_cnn", TORCH, stub="MnistCNN"),
    Part("cats_dogs_cnn", TORCH, stub="CatsDogsCNN, make_cats_dogs_optimizer"),
    Part("kaggle_submission", TORCH, stub="write_kaggle_submission"),
    Part("experiments", STUDIES, opt_in=True, stub="(nothing of its own: the report's studies, "
                                                       "run with all of the above)"),
)
"""The parts, in the order of the assignment and of the score table."""

BY_NAME = {part.name: part for part in REGISTRY}
PARTS = tuple(part.name for part in REGISTRY)
OPT_IN_PARTS = tuple(part.name for part in REGISTRY if part.opt_in)
DEFAULT_PARTS = tuple(part.name for part in REGISTRY if not part.opt_in)
NUMPY_PARTS = tuple(part.name for part in REGISTRY if part.kind == NUMPY)
TORCH_PARTS = tuple(part.name for part in REGISTRY if part.kind == TORCH)

NUMPY_ONLY_PARTS = NUMPY_PARTS
"""Parts 1-3, which the assignment wants in numpy "without using any of the deep learning
frameworks that provides automatic differentiation" (the registry's ``NUMPY`` parts). Read from
the source by the trusted process (``grader/verdicts/numpy_only.py``): when the code one of
these parts grades (its NN methods, or its classes: the optimizers, BatchNorm, Dropout, and what
they reach) reaches torch, jax, tensorflow, autograd, mxnet or another framework that
differentiates, **the whole part scores 0**, every test of it, with the rule, method and line as
the reason. The whole part, not the tests whose method holds the line: the rule is about how the
part is implemented, the tests of a part share its code, and values computed by a framework say
nothing about the student's own derivation. Each method is charged to the one part that grades
it (``__init__`` to init), so a framework in ``activation`` costs the activations part, not
forward and backward too, which are graded with the reference's activation."""


@dataclass(frozen=True)
class Row:
    test: str
    part: str
    points: float
    title: str
    hidden: bool = False


RUBRIC: tuple[Row, ...] = (
    Row("test_init_zero", "init", 2, "zero initializer: every W and b is 0, shapes right"),
    Row("test_init_normal", "init", 3, "normal initializer: N(0, 1) statistics, zero biases"),
    Row("test_init_glorot", "init", 4, "Glorot initializer: U(-d, d) bounds and statistics"),
    Row("test_init_seed", "init", 1, "the same seed gives the same weights, another seed others"),

    Row("test_relu", "activations", 3, "relu and its derivative (any relu'(0) in [0, 1])"),
    Row("test_sigmoid", "activations", 3, "sigmoid and its derivative, stable at |x| = 1000"),
    Row("test_tanh", "activations", 2, "tanh and its derivative"),
    Row("test_leaky_relu", "activations", 2, "leaky relu (slope 0.01) and its derivative"),
    Row("test_activation_dispatch", "activations", 2, "activation() dispatches on activation_str"),

    Row("test_softmax_values", "softmax", 3, "softmax of a batch matches the reference"),
    Row("test_softmax_1d", "softmax", 1, "softmax of a single vector"),
    Row("test_softmax_large_logits", "softmax", 2, "softmax is stable for logits of size 1000"),
    Row("test_softmax_invariants", "softmax", 2, "rows sum to 1; invariant to a shift per row"),

    Row("test_forward[relu]", "forward", 3, "forward pass with relu hidden layers"),
    Row("test_forward[sigmoid]", "forward", 3, "forward pass with sigmoid hidden layers"),
    Row("test_forward[tanh]", "forward", 3, "forward pass with tanh hidden layers"),
    Row("test_forward[leaky_relu]", "forward", 3, "forward pass with leaky relu hidden layers"),

    Row("test_loss_value", "loss", 4, "mean cross-entropy over the batch"),
    Row("test_loss_clipping", "loss", 2, "predictions of exactly 0 and 1 are clipped"),
    Row("test_loss_leaves_input_unchanged", "loss", 2, "loss clips a copy, not the caller's array"),

    Row("test_backward[relu]", "backward", 4, "gradients with relu, against autograd"),
    Row("test_backward[sigmoid]", "backward", 4, "gradients with sigmoid, against autograd"),
    Row("test_backward[tanh]", "backward", 4, "gradients with tanh, against autograd"),
    Row("test_backward[leaky_relu]", "backward", 4, "gradients with leaky relu, against autograd"),
    Row("test_backward_depths", "backward", 2, "gradients with 0 and 3 hidden layers"),
    Row("test_backward_batch_of_one", "backward", 2, "gradients for a batch of one example"),

    Row("test_update", "update", 6, "one SGD step on every W and b"),

    Row("test_train_loop_matches_reference", "train_loop", 4,
        "minibatch SGD in data order gives the reference weights and logs"),
    Row("test_train_loop_end_to_end", "train_loop", 1,
        "train_loop runs with your own methods only and logs finite numbers"),
    Row("test_train_loop_partial_batch", "train_loop", 2,
        "a last, smaller minibatch is used too"),
    Row("test_train_loop_learns", "train_loop", 4,
        "the trained weights classify held-out data the worker never saw"),
    Row("test_evaluate", "train_loop", 3, "evaluate() returns test loss and accuracy"),

    Row("test_finite_difference_values", "finite_difference", 6,
        "central differences of the loss for W2, against exact ones"),
    Row("test_finite_difference_restores_weights", "finite_difference", 2,
        "the weights are left exactly as they were"),
    Row("test_finite_difference_other_layer", "finite_difference", 2,
        "central differences for W1 with another p and epsilon"),

    Row("test_optimizer[SGD]", "optimizers", 2, "SGD matches torch.optim.SGD step by step"),
    Row("test_optimizer[Momentum]", "optimizers", 3,
        "Momentum matches torch.optim.SGD(momentum=m) step by step"),
    Row("test_optimizer[Nesterov]", "optimizers", 3,
        "Nesterov matches torch.optim.SGD(momentum=m, nesterov=True) step by step"),
    Row("test_optimizer[AdaGrad]", "optimizers", 3, "AdaGrad matches torch.optim.Adagrad step by step"),
    Row("test_optimizer[RMSProp]", "optimizers", 3, "RMSProp matches torch.optim.RMSprop step by step"),
    Row("test_optimizer[AdaDelta]", "optimizers", 3,
        "AdaDelta matches torch.optim.Adadelta step by step"),
    Row("test_optimizer[Adam]", "optimizers", 3, "Adam matches torch.optim.Adam step by step"),
    Row("test_optimizer[RMSPropNesterov]", "optimizers", 3,
        "RMSProp with Nesterov momentum matches the reference step by step"),
    Row("test_update_delegates_to_optimizer", "optimizers", 2,
        "NN.update calls optimizer.step(self.weights, grads) when an optimizer is set"),

    Row("test_batchnorm_init", "batchnorm", 1, "gamma, beta and running statistics start right"),
    Row("test_batchnorm_train_forward", "batchnorm", 3,
        "training forward and running statistics match torch.nn.BatchNorm1d"),
    Row("test_batchnorm_running_stats", "batchnorm", 2,
        "running statistics over five training steps match torch"),
    Row("test_batchnorm_eval", "batchnorm", 2,
        "evaluation normalizes with the running statistics and changes nothing"),
    Row("test_batchnorm_backward", "batchnorm", 4,
        "dx, dgamma and dbeta match autograd in training and evaluation"),

    Row("test_dropout_train_statistics[0.3]", "dropout", 2,
        "p = 0.3: drop rate, 1 / (1 - p) scaling, fresh masks per call and entry (statistical)"),
    Row("test_dropout_train_statistics[0.75]", "dropout", 2,
        "p = 0.75: drop rate, 1 / (1 - p) scaling, fresh masks per call and entry (statistical)"),
    Row("test_dropout_eval_identity", "dropout", 1,
        "evaluation, and p = 0, pass the input unchanged"),
    Row("test_dropout_backward_uses_mask", "dropout", 2, "backward uses the forward mask"),
    Row("test_dropout_seed", "dropout", 1,
        "the same seed gives the same mask, another seed an independent one"),

    Row("test_batchnorm2d_parameters", "batchnorm2d", 1,
        "weight and bias are parameters, running statistics are buffers, initial values right"),
    Row("test_batchnorm2d_train", "batchnorm2d", 3,
        "training output, autograd gradients and running statistics match torch.nn.BatchNorm2d"),
    Row("test_batchnorm2d_steps_and_eval", "batchnorm2d", 3,
        "running statistics over several steps, then evaluation mode, match torch"),
    Row("test_batchnorm2d_is_own", "batchnorm2d", 1,
        "BatchNorm2d is your own: no torch batch norm class or function inside"),

    Row("test_mnist_cnn_shapes", "mnist_cnn", 2,
        "(N, 1, 28, 28) -> logits (N, 10) in both modes, not probabilities; has a convolution"),
    Row("test_mnist_cnn_parameters", "mnist_cnn", 2,
        "500,000 to 1,000,000 trainable parameters, about the MLP's size"),
    Row("test_mnist_cnn_learns", "mnist_cnn", 4,
        "2 epochs of Adam on 4,000 real digits reach 60 % on 500 held-out digits"),

    Row("test_cats_dogs_shapes", "cats_dogs_cnn", 2,
        "(N, 3, 64, 64) -> logits (N, 2) in both modes, not probabilities"),
    Row("test_cats_dogs_rules", "cats_dogs_cnn", 3,
        "no library normalization, dropout or Adam-family optimizer; uses your BatchNorm2d"),
    Row("test_cats_dogs_learns", "cats_dogs_cnn", 3,
        "3 epochs with your optimizer on generated images reach 75 % held out"),

    Row("test_kaggle_csv_format", "kaggle_submission", 2,
        "header id,label; one row per image, sorted by numeric id; labels in [0, 1]"),
    Row("test_kaggle_csv_probabilities", "kaggle_submission", 2,
        "each label is the model's P(dog) in evaluation mode"),

    Row("test_experiment_initialization", "experiments", 4,
        "study 1: zero init stays at ln 10; Glorot ends below normal (784-500-400-10, 3 epochs)"),
    Row("test_experiment_finite_differences", "experiments", 3,
        "study 3: the central-difference error is smallest at a middle N, not at either end"),
    Row("test_experiment_cnn_vs_mlp", "experiments", 3,
        "study 4: MnistCNN learns (validation error per epoch, beside your MLP's)"),
    Row("test_experiment_cats_dogs", "experiments", 3,
        "study 5: CatsDogsCNN with your optimizer learns and beats chance on held-out images"),
    Row("test_experiment_batch_norm", "experiments", 3,
        "practical study 5: LeNet-5 with your BatchNorm2d learns, and its gamma and beta move"),
    Row("test_experiment_optimizers", "experiments", 5,
        "practical study 8: each of your adaptive optimizers, driving your NN, lowers the training loss"),

)

HIDDEN_RUBRIC = Path(__file__).resolve().parent / "hidden" / "rubric.py"
"""The hidden tests' rows ship with the hidden tests, so the student handout has neither."""


def _hidden_rows() -> tuple[Row, ...]:
    if not HIDDEN_RUBRIC.is_file():
        return ()
    rows = runpy.run_path(str(HIDDEN_RUBRIC))["HIDDEN_ROWS"]
    return tuple(Row(*fields, hidden=True) for fields in rows)


RUBRIC = RUBRIC + _hidden_rows()

DEFAULT_RUBRIC = tuple(row for row in RUBRIC if row.part in DEFAULT_PARTS)
"""The rows a grading that names no part grades (its maximum is their total)."""

BY_TEST = {row.test: row for row in RUBRIC}
assert len(BY_TEST) == len(RUBRIC), "duplicate test names in the rubric"
assert all(row.part in PARTS for row in RUBRIC), "rubric row with an unknown part"
assert set(NUMPY_ONLY_PARTS) <= set(PARTS), "a numpy-only part that is not a part"
