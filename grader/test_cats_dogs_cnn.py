"""Part cats_dogs_cnn: CatsDogsCNN's output shape, the Kaggle rules (read from the source in this
process and from the module tree the worker reports) and a short training run with the student's
optimizer on generated images whose held-out labels stay in this process. The worker builds the
network with torch's BatchNorm2d in place of the student's, which is graded in its own part."""
import numpy as np

from grader import tolerances as tol
from grader.isolation import STAND_IN_BATCHNORM2D
from grader.verdicts import rules
from grader.verdicts.cnn_checks import (frozen_parameters, grade_learning, learning_rates,
                                        logits_verdict, output_verdicts, stalled_loss)
from reference.data.cats_dogs import striped_images

# The student's class, as the worker names it (it imports the submission as module "solution"),
# and the stand-in the worker builds in its place (see worker_cnn.StandInBatchNorm2d).
OWN_BATCHNORM = ("solution.BatchNorm2d", STAND_IN_BATCHNORM2D)


def test_cats_dogs_shapes(worker, grade, rng):
    x = rng.uniform(0, 1, (4, 3, 64, 64)).astype(np.float32)
    value = grade.require(worker.cnn("describe", cls="CatsDogsCNN", x=x, seed=0), "CatsDogsCNN()")
    for passed, message in output_verdicts(value, "CatsDogsCNN", 4, 2):
        grade.expect(passed, message)
    grade.expect(*logits_verdict(value, "CatsDogsCNN"), 0.5)


def _source_findings(worker, grade) -> tuple[list, list]:
    try:
        source = rules.read_source(worker.submission)
        return (rules.find(source, ["CatsDogsCNN"], rules.NORMALIZATION_RULE, skip=["BatchNorm2d"]),
                rules.find(source, ["make_cats_dogs_optimizer"], rules.ADAM_RULE))
    except (OSError, rules.SourceError) as error:
        grade.fail(f"the Kaggle rules cannot be checked: {error}")


def _listing(items, limit=4) -> str:
    shown = [item.describe() if isinstance(item, rules.Finding) else str(item) for item in items]
    return "; ".join(shown[:limit]) + (f"; and {len(shown) - limit} more" if len(shown) > limit else "")


def _uses_own_batchnorm(modules: list) -> bool:
    """Whether some module is the student's BatchNorm2d, the stand-in built in its place, or a
    subclass of either."""
    return any(isinstance(m, dict) and isinstance(m.get("mro"), list)
               and any(base in OWN_BATCHNORM for base in m["mro"]) for m in modules)


def test_cats_dogs_rules(worker, grade):
    in_network, in_optimizer = _source_findings(worker, grade)
    # No forward pass: the rules concern what the network is built from, not what it computes.
    value = grade.require(worker.cnn("describe", cls="CatsDogsCNN", forward=False, optimizer=True),
                          "CatsDogsCNN()")
    modules = value.get("modules") if isinstance(value, dict) else None
    modules = modules if isinstance(modules, list) else []
    library = rules.library_classes(modules, rules.NORMALIZATION_RULE, own=OWN_BATCHNORM)
    grade.expect(not in_network and not library,
                 "CatsDogsCNN uses library normalization or dropout, which the Kaggle rules forbid "
                 "(use your BatchNorm2d; write your own dropout module): "
                 + _listing(in_network + library))
    grade.expect(_uses_own_batchnorm(modules),
                 "CatsDogsCNN holds no instance of your BatchNorm2d; the part asks you to "
                 "normalize with it", 0.5)
    optimizer = value.get("optimizer") if isinstance(value, dict) else None
    optimizer = optimizer if isinstance(optimizer, dict) else {}
    kind = optimizer.get("class") if isinstance(optimizer.get("class"), dict) else {}
    if optimizer.get("error") or not optimizer.get("is_torch_optimizer"):
        problem = (f"raised {optimizer['error']}" if optimizer.get("error")
                   else f"returned {kind.get('qualname') or 'something'}, not a torch.optim.Optimizer")
        grade.expect(False, f"make_cats_dogs_optimizer(model) {problem}", 1.5)
        return
    adam = rules.library_classes([kind], rules.ADAM_RULE)
    grade.expect(not in_optimizer and not adam,
                 "make_cats_dogs_optimizer uses a library Adam-family optimizer, which the Kaggle "
                 "rules forbid (SGD with momentum, RMSprop, Adagrad ... or your own Adam are "
                 "allowed): " + _listing(in_optimizer + adam))
    covered, total = optimizer.get("covered"), optimizer.get("total")
    grade.expect(isinstance(total, int) and covered == total,   # unreported counts fail
                 f"make_cats_dogs_optimizer's optimizer updates {covered} of the model's {total} "
                 "parameter tensors; pass it model.parameters()", 0.5)


def test_cats_dogs_learns(worker, grade):
    n_train, n_held_out = tol.CATS_DOGS_TRAIN, tol.CATS_DOGS_HELD_OUT
    images, labels = striped_images(n_train + n_held_out, size=64, seed=20261123)
    outcome = worker.cnn(
        "train", timeout_s=tol.CNN_TRAINING_CPU_S, cls="CatsDogsCNN", optimizer="student",
        epochs=tol.CATS_DOGS_EPOCHS, batch_size=tol.CATS_DOGS_BATCH, seed=0,
        x=images[:n_train], y=labels[:n_train], held_out=images[n_train:])
    what = (f"training CatsDogsCNN with make_cats_dogs_optimizer ({tol.CATS_DOGS_EPOCHS} epochs "
            f"of {n_train} generated images, batch {tol.CATS_DOGS_BATCH})")

    def diagnose(value) -> str:
        stalled = stalled_loss(value)
        described = worker.cnn("describe", cls="CatsDogsCNN", seed=0, optimizer=True,
                               x=np.zeros((2, 3, 64, 64), dtype=np.float32))
        facts = described.value if described.ok else {}
        causes = [frozen_parameters(facts)]
        rates = learning_rates(facts)
        if stalled:
            if rates and not causes[0]:
                stalled += (f"; make_cats_dogs_optimizer's learning rate "
                            f"{', '.join(f'{rate:g}' for rate in rates)} is likely far too small")
            causes.insert(0, stalled)
        return "; ".join(cause for cause in causes if cause)

    grade_learning(grade, outcome, what, labels[n_train:], "CatsDogsCNN", tol.CATS_DOGS_FLOOR,
                   "images", "Check the optimizer's learning rate and that forward returns logits.",
                   diagnose)
