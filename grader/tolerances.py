"""Every tolerance and false-alarm rate the grader uses, written down once.

Array comparisons use a relative tolerance with an absolute floor that scales with the size of
the expected array: element ``i`` passes when

    |got_i - expected_i| <= ATOL_FLOOR + ATOL_SCALE * max|expected| + RTOL * |expected_i|

References are computed in float64. These bounds accept float64 student code (errors ~1e-15)
and careful float32 code (~1e-7), and reject every realistic bug we know of (off by a factor,
a missing term, a wrong formula: errors of 1e-2 or more). No value is rounded before comparing.
"""

RTOL = 1e-5
"""Relative tolerance per element."""

ATOL_SCALE = 1e-5
"""Absolute floor, as a fraction of the largest |expected| entry of the array compared."""

ATOL_FLOOR = 1e-12
"""Absolute floor for arrays that are all (nearly) zero."""

STAT_ALPHA = 1e-6
"""False-alarm rate of each statistical check of a random part: the probability that a correct
initializer or Dropout fails that one check. The checks are the marginal ones (mean, variance,
distribution shape, drop rate) and the exact independence ones (across units, calls and seeds;
a check made of several tests splits alpha among them). A full run makes 45 such checks, so a
correct submission loses points by chance with probability below 1e-4."""

PATTERN_RTOL = 1e-4
"""How closely a wrong answer must match a known-bug pattern before the grader names it."""

INIT_BOUND_RTOL = 0.02
"""How close the largest |w| of a wrong uniform initialization must come to a candidate bound
(e.g. sqrt(6 / (d_in * d_out))) before the grader names it: the largest of the 2,000 or more
draws of U(-d, d) in a graded layer lies within 0.5 % of d with probability above 0.9999."""

LEARNING_FLOOR = 0.85
"""Held-out accuracy the train_loop test requires on its separable 4-class problem (chance: 0.25;
the reference reaches 1.0 on it)."""

# -- the CNN parts -------------------------------------------------------------------------------

MNIST_CNN_PARAMETERS = (500_000, 1_000_000)
"""Band of MnistCNN's trainable parameters: the range the assignment sets for its MLP, so the two
are compared at about the same size (Part 1's default MLP, 784-512-256-10, has 535,818)."""

MNIST_CNN_EPOCHS, MNIST_CNN_BATCH, MNIST_CNN_LR = 2, 64, 1e-3
"""The grader's short MnistCNN run: Adam on the 4,000 training digits of the bundled subset."""

MNIST_CNN_FLOOR = 0.60
"""Accuracy MnistCNN must reach after that run on the 500 validation digits (chance: 0.10). The
worked solution reached 0.934-0.948 (5 seeds); with a softmax wrongly left in forward, which
slows learning (and costs points in the shapes test instead), 0.80-0.92 (3 seeds). A network
that learns clears the floor by a wide margin; one that does not stays near chance."""

CATS_DOGS_EPOCHS, CATS_DOGS_BATCH, CATS_DOGS_TRAIN, CATS_DOGS_HELD_OUT = 3, 32, 256, 200
"""The grader's short CatsDogsCNN run: the student's optimizer on generated striped images."""

CATS_DOGS_FLOOR = 0.75
"""Accuracy CatsDogsCNN must reach after that run on the held-out images (chance: 0.5). The
worked solution reached 0.995-1.0 over 4 seeds, plain SGD at lr 0.01 1.0 over 3 seeds."""

CATS_DOGS_ATTEMPTS = 3
"""Training runs the grader makes at most before CatsDogsCNN fails its learning row; each has
fresh images and fresh initial weights, and the first to reach ``CATS_DOGS_FLOOR`` with the
evidence that training made it (``CATS_DOGS_LEARNING_GAIN``, ``CNN_TRAINED_FRACTION``) passes. The
student's own settings decide how reliably one run learns: a VGG-like network with Adagrad at
lr 0.02 missed the floor in 2 of 10 single runs (0.64, 0.82; mean 0.94), so one run would fail
a working optimizer about once in six gradings, three runs about once in 200. Settings that do
not learn in a few dozen steps (SGD at lr 0.1 with momentum 0.9 on that network: mean 0.55 over
10 runs) still fail all three. A network that learns pays for one run only."""

LOSS_STALL_FRACTION = 0.02
"""A training run whose loss fell by less than this fraction from its first epoch to its last
did not move its parameters: its diagnosis names the causes of that (a learning rate far too
small, frozen parameters) rather than the network. The worked solutions' losses fall by more
than half; a learning rate of 1e-6 moves the loss by about 0.01 %."""

MNIST_CNN_LEARNING_GAIN, CATS_DOGS_LEARNING_GAIN = 0.25, 0.15
"""How much more of the held-out set a network must classify after the grader's training run
than each control the grader runs itself on the same images: the same rebuilt network at its
own initialization (one forward pass before the first step), and the trained network with its
largest trainable tensors (together more than half of its trainable entries) set to zero (one
forward pass after training). Measured (the worked networks, tests/submissions/part4's 7 and
alt_part4.py's, 3 seeds each, the grader's own runs): MnistCNN reached 0.816-0.936 with its controls at
0.052-0.122 (initialization) and 0.100 (zeroed: a constant output); CatsDogsCNN 0.98-1.0 with
0.46-0.54 and 0.46-0.58 (the residual network's skip connections keep a little of the signal
when its largest convolutions are zeroed). The smallest gain seen: 0.716 and 0.405. At the
floors (0.60, 0.75) the margins allow controls up to 0.35 and 0.60, above every honest control
seen; the hand-written-rule attacks of issue #23 (tests/part4_attacks.py) have a control at
0.98-1.0 (the rule is in the control too). The cats-and-dogs margin is the smaller one because
chance is 0.5 there and an honest control ranges +-0.08 around it on 200 images."""

CNN_TRAINED_FRACTION = 0.5
"""Share of a network's trainable entries (by count) that must have received a nonzero
gradient at least once during the run and ended away from their initial value. Measured on the
same runs: MnistCNN 0.74-0.98, CatsDogsCNN 0.97-1.0. A branch
multiplied by 0, detached or run under no_grad, or left out of the optimizer, gets none: the
attacks of issue #23 train 0 to 0.1 % of their entries, or all of them with a gate (which the
zeroed control catches)."""

CNN_MIN_TRAINED_PARAMETERS = 1000
"""Trainable entries that must have received a gradient and moved, whatever the share: a
network whose only trainable part is a few numbers (a learned sign or scale on a hand-written
rule, which the zeroed-majority control cannot separate from the rule) earns no learning
credit. The worked networks train 241,442 (CatsDogsCNN) and about 450,000 (MnistCNN); the
smallest correct network of the bank (tests/submissions/part4/blocks.py's CatsDogsCNN) 14,482."""

CATS_DOGS_FALLBACK_OPTIMIZER = ("SGD", {"lr": 0.05, "momentum": 0.9})
"""What the experiments part (study 5, grader/parts/experiments/networks.py) trains CatsDogsCNN with when
make_cats_dogs_optimizer's optimizer cannot be rebuilt. Part cats_dogs_cnn no longer does: an
optimizer the grader refuses earns no learning credit there (issue #23)."""

CNN_TRAINING_CPU_S = 150.0
"""CPU-second limit of one study's run in the experiments part (its CNN trainings and LeNet-5 with
the student's batch norm, metered in the grader's child; the worked solution needs about 5-15 s),
so that one costly network leaves the other studies their share; the part's budget
(``PART_CPU_BUDGET_S``) bounds all of a part's runs together."""

# -- networks the grader rebuilds (grader/networks) --------------------------------------------
# A captured network is data the grader turns into torch modules and runs in its own process,
# so its size is bounded before anything runs: the worked MnistCNN has 14 operations, 0.04 GFLOP
# and ~0.1 M intermediate numbers per image; the worked CatsDogsCNN 20, 0.1 GFLOP and ~1 M.

GRAPH_MAX_NODES = 400
"""Operations per captured graph (a ResNet-18 traced at module level has ~70)."""

GRAPH_MAX_MODULES = 200
"""Layers per captured network."""

GRAPH_MAX_PARAMETERS = 20_000_000
"""Entries of one parameter the grader initializes itself."""

GRAPH_MAX_CONSTANT_ELEMENTS = 128
"""Numbers of the student's that a rebuilt network keeps from its capture, per graph: the
literal scalars in the graph's arguments (kernel sizes, dimensions, ``-1`` of a view, a
string), the constant tensors' entries (tensors made in forward, integer buffers; one
repeated value counts once) and the float settings of the layers it calls (a LeakyReLU's slope,
a pad's value, a batch norm's eps and momentum). Everything else the capture carries is drawn or reset by the
grader (``GRAPH_MAX_RESET_ELEMENTS``). Measured: the worked networks pass 0, the bank of
architectures (tests/submissions/part4) and alt_part4.py at most 26 (alt_part4's
CatsDogsCNN, functional style), and none holds a constant tensor. 128 is about 5 times that;
a table of learned values does not fit (500 labels are 500 numbers; a 128-to-2 linear
classifier, 258), whatever its encoding: floats, an index list, an integer buffer."""

GRAPH_MAX_RESET_ELEMENTS = 65_536
"""Entries of 0- and 1-dimensional parameters and of floating buffers that a student's own
module may hold outside torch's layers. The grader never keeps their values: parameters are
drawn anew (a constant fill is kept as one number, other values keep only their mean and
spread), buffers reset (kept when constant, else set to their mean): see
``rebuild._grader_parameter`` and ``_reset_buffer``. This bound only caps what is decoded."""

LAYER_MAX_CONSTANT_ELEMENTS = 4096
"""Numbers the student's BatchNorm2d capture (``nngrade-layer/1``, part batchnorm2d) may carry:
its parameters' and buffers' values, constants and literals; a layer of a few channels needs
a few dozen."""

GRAPH_MAX_FLOPS_PER_EXAMPLE = 1e9
"""FLOPs of one forward pass per image (10x the worked CatsDogsCNN): the grader trains the
network itself, and this bounds the time of one batch."""

GRAPH_MAX_ACTIVATIONS_PER_EXAMPLE = 8_000_000
"""Numbers held by the intermediate results of one forward pass per image (8x the worked
CatsDogsCNN): bounds the memory of one batch (batch 64: 2 GiB in float32)."""

PROBABILITY_SUM_ATOL = 1e-4
"""How close to 1 every row of a network's outputs must sum (with every entry in [0, 1]) before
the grader says forward returns probabilities rather than logits: float32 softmax rows sum to 1
within 1e-6; logits of a trained or untrained network are almost never all in [0, 1] summing to 1
on every row of a batch."""

KAGGLE_PROBABILITY_ATOL = 6e-3
"""How closely a submission file's label must equal P(dog): labels rounded to 2 or more decimals
pass (error <= 0.005), as Kaggle accepts them; the bugs the check is for (P(cat), class labels,
training mode, logits) differ by far more."""

# -- the experiments part (pytest grader --experiments) -----------------------------------------
# Short runs of the report's studies on the student's code; each check is a qualitative outcome
# measured stable over seeds with the worked solution before it was chosen (numbers below).

INIT_EXPERIMENT_HIDDEN = (500, 400)
INIT_EXPERIMENT_LR, INIT_EXPERIMENT_BATCH, INIT_EXPERIMENT_EPOCHS = 7e-4, 64, 3
INIT_EXPERIMENT_PER_CLASS = 200
"""Study 1 at the assignment's network, learning rate and batch, on 2,000 digits (200 of each
class, so that the best constant prediction is exactly uniform) for 3 epochs. The short run is
what keeps Glorot ahead: measured with the worked solution (training loss after 3 epochs, 20
draws of the balanced digits and of the seed) normal 3.54-4.50 and Glorot 2.25-2.31, the gap at
least 1.25, and zero within 1e-8 of ln 10; while after 10 epochs on 4,000 digits
normal reached 1.36-1.63 and Glorot 1.96-2.00 (N(0, 1) weights make huge random features that
this small data set lets the last layers fit), and at a learning rate of 3e-3 normal was already
below Glorot after 3 epochs."""

INIT_EXPERIMENT_ZERO_TOLERANCE = 0.01
"""How far from ln 10 the zero-initialized network's training loss may be after any epoch (the
worked solution: within 1e-4; only the last layer's bias moves, and on balanced classes it
hovers at 0)."""

INIT_EXPERIMENT_EPOCH_RTOL = 1e-6
"""How far the student's ``train_loop(1)`` (Glorot) may end from the grader's first epoch from the
same initial weights, as a fraction of the distance that epoch moved them, before the study's note
says the student's loop did not reproduce it (a note only: the outcomes are judged on the
grader's epochs). Measured with the worked solution over 4 gradings that compared every method:
at most 7e-15 for Glorot and zero, 1.6e-11 for normal (saturated softmax)."""

FD_EXPERIMENT_HIDDEN, FD_EXPERIMENT_P, FD_EXPERIMENT_LAYER = (500, 400), 10, 2
FD_EXPERIMENT_N = tuple(sorted(k * 10 ** i for i in range(6) for k in (1, 5)))
"""Study 3: epsilon = 1/N for these N, the first p weights of W2 of the assignment's network."""

FD_EXPERIMENT_MIN_GRADIENT = 1e-4
"""The grader picks Glorot weights and a digit for which the largest of the p exact gradients is
at least this (with relu, a dead unit makes all p gradients 0 and every estimate exact)."""

FD_EXPERIMENT_LEFT_RATIO = 10.0
"""The error at N = 1 must exceed the smallest error by this factor (the U's left arm: truncation
of order epsilon^2). Measured with the worked solution over 40 draws of weights and digit: at
least 126 (usually above 1e9); the smallest error was at N = 50 ... 10,000, never at either
end, and the error at N = 500,000 exceeded it by at least 46."""

FD_EXPERIMENT_ROUNDING, FD_EXPERIMENT_RTOL = 1e-13, 1e-9
"""How closely each of the student's estimates must equal the grader's own central difference at
the same epsilon (each epsilon is 1/N times a factor in [1, 2) drawn afresh): within
``FD_EXPERIMENT_ROUNDING / epsilon + FD_EXPERIMENT_RTOL * |central difference|``, the rounding of
a float64 central difference of a loss near 2.3. Measured: the worked solution's estimates equal
the grader's (numpy, the same operations) to the last bit over 30 draws of weights, digit and
epsilons; computed with the reference's torch forward and loss instead (as in the retry), they
differ by at most 4.5e-16 / epsilon (8 draws); the truncation error at the three largest epsilons
was at least 7 times this allowance (30 draws), and the study's outcome held in all 30 (smallest
error at N = 500 ... 5,000; N = 1 at least 3e9 times it, N = 500,000 at least 48 times). An
estimate that is not a difference at that epsilon (autograd plus an error model, a fixed
epsilon) misses by the truncation error at the large epsilons, 1e-4 or more."""

CNN_EXPERIMENT_EPOCHS = 3
"""Study 4: MnistCNN trained by the grader (Adam, ``MNIST_CNN_LR``, batch ``MNIST_CNN_BATCH``)
on the 4,000 training digits, measured after every epoch; the student's MLP beside it."""

CNN_EXPERIMENT_MLP_HIDDEN, CNN_EXPERIMENT_MLP_LR = (500, 400), 0.05
"""The student's NN in study 4: the assignment's MLP (596,910 parameters, inside MnistCNN's
band), with a learning rate that lets plain SGD learn in a few epochs."""

CNN_EXPERIMENT_GAIN = 0.3
"""How much MnistCNN's held-out accuracy must rise above the same rebuilt network's at its own
initialization (the grader's control, on the same perturbed held-out digits) before the study
credits it. Measured with the worked solution: the control 0.044-0.17 over 20 draws (offline)
and 0.096-0.118 in 5 gradings, the trained network 0.902-0.932: a gain of at least 0.78 (with the
classes renamed by a permutation the grader draws, as the study now trains it: 0.10 before,
0.906 after, 1 grading). Class templates held in a buffer classify about 0.70 of the digits
untrained and gain nothing; under the renaming they score 0.03 before and after."""

CATS_DOGS_EXPERIMENT_EPOCHS = 4
CATS_DOGS_EXPERIMENT_FLOOR = 0.60
"""Study 5: held-out accuracy CatsDogsCNN must reach after the grader trains it with the
student's optimizer for these epochs on generated images (chance 0.5; on 200 images, 0.6 is
2.8 standard deviations above chance)."""

CATS_DOGS_EXPERIMENT_GAIN = 0.2
"""How much CatsDogsCNN's held-out accuracy must rise above the same rebuilt network's at its own
initialization (the grader's control: before any training, batch-norm statistics estimated over
128 of the training images, on the same held-out images). Measured with the worked solution: the
control 0.39-0.54 over 20 draws of initial weights and images with the statistics of all 256
training images, 0.385-0.53 over 12 draws with 128 (offline, the grader's rebuild and
evaluation), and 0.435-0.575 in 5 gradings, where the trained network reached 0.955-1.0: a gain
of at least 0.41. A network whose accuracy is built in (a fixed orientation detector whose only
trainable parameter scales its logits) gains nothing."""

OPTIMIZER_EXPERIMENT_SETTINGS = {"AdaGrad": {"lr": 0.01}, "RMSProp": {"lr": 1e-3},
                                 "RMSPropNesterov": {"lr": 1e-3, "momentum": 0.9},
                                 "AdaDelta": {"lr": 1.0}, "Adam": {"lr": 1e-3}}
OPTIMIZER_EXPERIMENT_WEIGHT_DECAY = 1e-4
OPTIMIZER_EXPERIMENT_HIDDEN, OPTIMIZER_EXPERIMENT_BATCH = (128,), 128
OPTIMIZER_EXPERIMENT_EPOCHS, OPTIMIZER_EXPERIMENT_PER_CLASS = 2, 100
OPTIMIZER_EXPERIMENT_RATIO = 0.75
"""The practical study 8 in small: the student's NN (784-128-10 relu, Glorot, batch 128) driven by
each of the student's adaptive optimizers (these settings, with L2 weight decay) for 2 epochs on
1,000 digits; the training loss, computed here from the weights, must end at most this fraction of
the loss at initialization. The worked solution, 6 seeds: AdaGrad 0.15-0.19, RMSProp 0.15-0.19,
RMSPropNesterov 0.07-0.11, AdaDelta 0.23-0.31, Adam 0.41-0.44. An optimizer that does not move the
weights stays at 1."""

OPTIMIZER_EXPERIMENT_PATH_RTOL = 0.01
"""How far the student's steps may end from the reference's, as a fraction of the distance the
reference moved: the grader sets the start (Glorot, a fresh seed), computes each step's gradient on
the reference's run and hands it to the student's ``NN.update``; a step that is the optimizer's rule
follows the same path. Measured with the worked solution over 4 gradings: at most 3.2e-16 (its
loss ratios 0.09-0.44, as before). A step that lowers the loss by another rule ends most of the
displacement away: plain SGD at lr 0.5 under each optimizer's name, 0.92-0.95; an NN.update that
ignores the optimizer never moves (1.0)."""

LENET_EXPERIMENT_BATCH, LENET_EXPERIMENT_TRAIN, LENET_EXPERIMENT_EPOCHS = 50, 2000, 2
LENET_EXPERIMENT_LR = 1e-3
LENET_EXPERIMENT_FLOOR = 0.80
LENET_EXPERIMENT_MOVE = 1e-3
"""Practical study 5 in small: LeNet-5 (``reference/lenet.py``) with the student's BatchNorm2d,
captured at each of its four batch norms and replayed by the grader (float64), trained with Adam
on 2,000 standardized digits; judged on the 500 held-out digits (perturbed afresh) and on the
batch norms' learned gamma and beta, each of which must have moved by ``LENET_EXPERIMENT_MOVE``
in some channel. Measured with the worked solution over 9 gradings: held-out accuracy 0.868-0.914
after the 2 epochs (0.79-0.89 after the first), and the smallest of the layers' largest changes
0.014 (gamma and beta alike). A batch norm that never uses its weight and bias leaves them at
exactly 1 and 0."""

LENET_EXPERIMENT_GAIN = 0.3
"""How much the held-out accuracy must rise above the same LeNet-5's before training (the
grader's control, on the same held-out digits). Measured with the worked solution: the control
0.096-0.102 in 3 gradings (0.058-0.21 over 20 draws of LeNet-5 with torch's batch norm, the same
at initialization), the trained network 0.866-0.898: a gain of at least 0.76."""

LENET_EXPERIMENT_NORMALIZATION_RTOL = 0.05
"""How closely each channel of the student's BatchNorm2d, replayed in training mode on a batch
the grader drew (channel means in [-3, 3], standard deviations in [0.5, 3]), must come out with
mean beta and standard deviation |gamma| (both relative to |gamma|), before the study credits
it. Batch norm's own output differs from that only by eps and, with the unbiased variance, by
sqrt((n - 1) / n): 1 % at the 50 examples of an fc layer's batch. An affine map or fixed
constants miss by the channel's own offset and scale."""

LAYER_MAX_RESULT_FACTOR = 8
"""How many times its input's size one operation of a captured layer may produce before the
grader, which replays the layer in its own process on whole batches (the batch-norm experiment),
refuses to run it: a batch norm's operations make results the size of the input or smaller (the
worked BatchNorm2d's largest is the input's size), while a layer padded with an expanded copy
would cost the grader memory and time that are the student's to spend."""


# -- budgets: what the grader runs on a submission's behalf ----------------------------------------
# Counted in CPU seconds, never wall time (a busy machine changes no verdict): the calls into the
# sandboxed worker (its whole process tree), and, in the parts where the grader itself runs what
# the student described (rebuilt networks, their training, a replayed BatchNorm2d, the experiment
# runs), the grader's own CPU time during those parts' tests. A submission that uses up a budget
# loses the checks that remain: its calls are not made and the grader's runs stop, with "used its
# whole budget of N CPU s in <part>"; the grading still ends "graded". One call also has its own
# limit (``--call-timeout``, 30 s) and the grading its allowances for hangs and for waiting
# (``grader/isolation/worker.Limits``).

PART_CPU_BUDGET_S = {
    "init": 60.0, "activations": 60.0, "softmax": 60.0, "forward": 60.0, "loss": 60.0,
    "backward": 60.0, "update": 60.0, "train_loop": 90.0, "finite_difference": 60.0,
    "optimizers": 90.0, "batchnorm": 60.0, "dropout": 60.0, "batchnorm2d": 60.0,
    "mnist_cnn": 240.0, "cats_dogs_cnn": 360.0, "kaggle_submission": 60.0, "experiments": 600.0,
}
"""CPU seconds each part may spend. The worked solution spends under 2 s in each numpy part, and
about 10 s and 15 s in mnist_cnn and cats_dogs_cnn (``benchmarks/grade_suite.py``); these are 30x
or more, so a slow but honest solution (Python loops instead of vectorized numpy) keeps its points,
while a part whose method hangs spends two calls' worth and no more."""

GRADING_CPU_BUDGET_S = 480.0
"""CPU seconds one grading of the default parts may spend in all, parts together (the opt-in
experiments part adds its own budget). The worked solution spends about 35 s."""

IDLE_ALLOWANCE_S = 60.0
"""A grading's allowance for waiting without computing at the default call limit
(``worker.Limits.idle_budget_s``: 2 x ``call_timeout_s``)."""

CAP_WALL_PER_CPU_S, CAP_OVERHEAD_S = 2.0, 60.0
"""Every platform's wall-clock cap (batch ``--cap``, Gradescope's timeout, nbgrader's runner) is
at least ``CAP_WALL_PER_CPU_S`` x (the grading's CPU budget + ``IDLE_ALLOWANCE_S``) +
``CAP_OVERHEAD_S`` (start, preflight, writing the results): 2 wall seconds per CPU second covers
a grading at half a CPU (Gradescope's default machine) or beside as many gradings as cores. A
platform whose cap is smaller scales the budgets and the allowance for waiting down to fit it
(``budget_scale_for_cap``), so a
submission reaches its budgets, its own verdict, before the platform's cap; reaching the cap
means the machine stalled: a grader fault, never the student's."""


def grading_cpu_budget(parts) -> float:
    """The grading's CPU budget for these parts (``GRADING_CPU_BUDGET_S``, plus the budget of each
    opt-in part among them)."""
    from grader.rubric import OPT_IN_PARTS

    return GRADING_CPU_BUDGET_S + sum(PART_CPU_BUDGET_S[p] for p in parts if p in OPT_IN_PARTS)


def minimum_cap_s(parts) -> float:
    """The smallest wall-clock cap under which a grading of ``parts`` ends by its budgets."""
    return CAP_WALL_PER_CPU_S * (grading_cpu_budget(parts) + IDLE_ALLOWANCE_S) + CAP_OVERHEAD_S


def budget_scale_for_cap(cap_s: float, parts) -> float:
    """The factor (at most 1) by which a platform whose wall-clock cap is ``cap_s`` scales every
    CPU budget and the allowance for waiting (``--budget-scale``), so that a grading of ``parts``
    ends by its budgets before the cap (1 % at least: a cap too small for any grading is reached
    first, and says so)."""
    room = (cap_s - CAP_OVERHEAD_S) / CAP_WALL_PER_CPU_S
    return max(0.01, min(1.0, room / (grading_cpu_budget(parts) + IDLE_ALLOWANCE_S)))
