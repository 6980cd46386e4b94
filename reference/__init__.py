"""Trusted oracles for the grader, built on PyTorch in float64.

Nothing in this package imports, or is given, the student's code: it takes and returns numpy
arrays. ``mlp`` mirrors the ``NN`` parametrization (forward, mean cross-entropy, autograd
gradients, SGD, the training loop, central differences); ``distributions`` describes what each
initializer must draw and tests samples against it.
"""
