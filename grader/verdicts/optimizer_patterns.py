"""Known wrong versions of the optimizers, to name the likely cause of a wrong trajectory.

``variant_trajectories`` returns the parameters after each step of *buggy* optimizers. Those
built from the torch reference (a hyper-parameter dropped, plain momentum for Nesterov) are
computed here. The numpy ones (Adam without bias correction, eps inside the square root, a
dampened velocity, AdaGrad that forgets) are each one edit from a correct numpy optimizer, so
they are a withheld rule (``reference/known_mistakes.py``): the student handout has their
outputs on the public tests' cases only, and elsewhere they are absent.
"""
from __future__ import annotations

from reference import optim, withheld

NUMPY_CAUSES = {
    "no_correction": "the bias corrections m / (1 - b1^t) and v / (1 - b2^t) are missing",
    "eps_inside": "eps is inside the square root; torch adds it after: sqrt({}) + eps",
    "dampened": "the velocity is an average (m v + (1 - m) g), not m v + g as in torch",
    "forgetful": "the squared gradients are not accumulated over the steps (s <- s + g^2)",
}
"""The cause each numpy variant names (``eps_inside``: formatted with the quantity under the
root, ``v_hat`` for Adam and ``r`` for AdaGrad and RMSProp)."""


def numpy_variants(name: str, hyper: dict, params: dict, stream: list) -> dict:
    """``{likely cause: trajectory}`` of the numpy mistakes of ``name`` on these inputs."""
    inputs = [name, hyper, params, stream]
    found = withheld.hypotheses("known_mistakes", "optimizer", inputs,
                                lambda rule: rule.optimizer_variants(*inputs))
    root = "v_hat" if name == "Adam" else "r"
    return {NUMPY_CAUSES[kind].format(root): trajectory for kind, trajectory in found.items()}


def variant_trajectories(name: str, hyper: dict, params: dict, stream: list) -> dict:
    """``{likely cause: trajectory}`` for the known mistakes of optimizer ``name``, in the order
    they are tried (the first that matches is named)."""
    variants = {}
    if hyper.get("weight_decay"):
        without = {k: v for k, v in hyper.items() if k != "weight_decay"}
        variants["weight_decay was ignored (add weight_decay * param to the gradient)"] = (
            optim.trajectory(name, without, params, stream))
    variants.update(numpy_variants(name, hyper, params, stream))
    if name == "Nesterov":
        variants["the look-ahead is missing: that is plain momentum"] = optim.trajectory(
            "Momentum", {k: v for k, v in hyper.items()}, params, stream)
    if name == "RMSPropNesterov":
        # Its variants come with the rule, which the student handout does not contain.
        variants.update(optim.rmsprop_nesterov_variants(hyper, params, stream))
    if name == "AdaDelta" and hyper.get("lr", 1.0) != 1.0:
        variants["the learning rate was ignored (torch multiplies the step by lr)"] = (
            optim.trajectory(name, {**hyper, "lr": 1.0}, params, stream))
    return variants
