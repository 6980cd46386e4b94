"""Known wrong versions of the optimizers, to name the likely cause of a wrong trajectory.

``variant_trajectories`` returns the parameters after each step of *buggy* optimizers. Those
built from the torch reference (a hyper-parameter dropped, plain momentum for Nesterov) are
computed here. The numpy ones (Adam without bias correction, eps inside the square root, a
dampened velocity, AdaGrad that forgets) are each one edit from a correct numpy optimizer, so
they are a withheld rule (``reference/known_mistakes.py``): the student handout has their
outputs on the public tests' cases only, and elsewhere they are absent.
"""
from __future__ import annotations

from grader import causes
from reference import optim, withheld

NUMPY_CAUSES = {
    "no_correction": causes.OPTIMIZER_NO_BIAS_CORRECTION,
    "eps_inside": causes.OPTIMIZER_EPS_INSIDE_ROOT,
    "dampened": causes.OPTIMIZER_DAMPENED_VELOCITY,
    "forgetful": causes.OPTIMIZER_NOT_ACCUMULATED,
}
"""The cause each numpy variant names (``eps_inside``: formatted with the quantity under the
root, ``v_hat`` for Adam and ``r`` for AdaGrad and RMSProp)."""
TORCH_CAUSES = {"velocity_only": causes.RMSPROP_NESTEROV_VELOCITY_ONLY}
"""The cause each of RMSPropNesterov's variants names (``optim.rmsprop_nesterov_variants``)."""


def numpy_variants(name: str, hyper: dict, params: dict, stream: list) -> dict:
    """``{likely cause: trajectory}`` of the numpy mistakes of ``name`` on these inputs."""
    inputs = [name, hyper, params, stream]
    found = withheld.hypotheses("known_mistakes", "optimizer", inputs,
                                lambda rule: rule.optimizer_variants(*inputs))
    root = "v_hat" if name == "Adam" else "r"
    return {NUMPY_CAUSES[kind].format(root=root): trajectory for kind, trajectory in found.items()}


def variant_trajectories(name: str, hyper: dict, params: dict, stream: list) -> dict:
    """``{likely cause: trajectory}`` for the known mistakes of optimizer ``name``, in the order
    they are tried (the first that matches is named)."""
    variants = {}
    if hyper.get("weight_decay"):
        without = {k: v for k, v in hyper.items() if k != "weight_decay"}
        variants[causes.OPTIMIZER_WEIGHT_DECAY_IGNORED] = optim.trajectory(name, without, params,
                                                                           stream)
    variants.update(numpy_variants(name, hyper, params, stream))
    if name == "Nesterov":
        variants[causes.NESTEROV_NO_LOOKAHEAD] = optim.trajectory(
            "Momentum", {k: v for k, v in hyper.items()}, params, stream)
    if name == "RMSPropNesterov":
        # Its variants come with the rule, which the student handout does not contain.
        variants.update({TORCH_CAUSES[kind]: trajectory for kind, trajectory
                         in optim.rmsprop_nesterov_variants(hyper, params, stream).items()})
    if name == "AdaDelta" and hyper.get("lr", 1.0) != 1.0:
        variants[causes.ADADELTA_LR_IGNORED] = optim.trajectory(name, {**hyper, "lr": 1.0},
                                                                params, stream)
    return variants
