"""Part experiments (opt-in: ``pytest grader --experiments``): short runs of the report's studies
1, 3, 4 and 5 on the student's code, judged by their qualitative outcome.

A point is earned by what the student's code did, measured against a control the grader runs
itself, never by an end state the submission can choose (issue #23, section 4):

- the grader builds every "before" state: the initial weights of study 1 are the student's
  initializer at a seed the grader drew, held to each method's law, and the grader trains them;
  the optimizer study starts from Glorot weights the grader drew, computes every gradient and
  hands it to the student's ``NN.update``, whose steps must follow the optimizer's own path;
- the finite-difference estimates must equal the grader's own central differences at epsilons
  drawn afresh, before their errors against autograd are judged;
- a CNN study credits only what training changed: the trained network must gain on the same
  rebuilt network at its own initialization (evaluated by the grader on the same held-out
  images); dogs vs. cats is trained with the student's optimizer or not at all; the batch-norm
  study first checks that the student's layer normalizes a batch the grader drew.

The numpy studies run the student's ``NN`` in the worker, like every graded call; the worker
returns weights and estimates (plain arrays), and every number judged here is computed in this
process. The CNN studies train the network the grader rebuilt from the student's capture (the
path of the CNN parts), and the batch-norm study trains LeNet-5 with the student's replayed layer:
every such run on data goes through the grader's metered child (``grader/networks/runs.py``),
stopped at the study's limit or the part's budget even inside one operation. What each
test measured, and figures of it, go to the test's ``extra_data.experiment`` in results.json.

One bug, one part: when the student's own run of finite differences misses the outcome, it runs
again with the student's ``finite_difference`` behind the reference's forward pass and loss
(never its backward, which computes the study's answer); if that run shows the outcome, the
fault is in a part graded elsewhere and the test keeps its points. In study 1 the student's own
``train_loop(1)`` is compared with the grader's first epoch for a note only. Every run draws
fresh seeds; the checks were chosen as outcomes that are stable over seeds (the measurements are
in ``grader/tolerances.py``).
"""
from __future__ import annotations

from grader.parts.experiments.initialization import test_experiment_initialization
from grader.parts.experiments.finite_differences import test_experiment_finite_differences
from grader.parts.experiments.networks import test_experiment_cnn_vs_mlp, test_experiment_cats_dogs
from grader.parts.experiments.optimizers import test_experiment_optimizers
from grader.parts.experiments.batch_norm import test_experiment_batch_norm

__all__ = [
    "test_experiment_initialization",
    "test_experiment_finite_differences",
    "test_experiment_cnn_vs_mlp",
    "test_experiment_cats_dogs",
    "test_experiment_optimizers",
    "test_experiment_batch_norm",
]
