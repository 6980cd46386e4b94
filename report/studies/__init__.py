"""The report's studies, in the report's order: one module each (see ``report.engine``)."""
from report.studies import (activations_depth, adaptive_optimizers, cats_dogs, cnn_vs_mlp, depth_width,
                            diagnostics, dying_relu, finite_differences, hyperparameters, initialization,
                            lenet_regularization, lr_batch_policies, perceptron,
                            softmax_derivatives)

# Issue 15's studies (the MNIST assignment), then the practical deep-learning homework's.
STUDIES = (initialization, hyperparameters, finite_differences, cnn_vs_mlp, cats_dogs, diagnostics,
           perceptron, softmax_derivatives, activations_depth, dying_relu, lenet_regularization,
           depth_width, lr_batch_policies, adaptive_optimizers)
BY_NAME = {study.NAME: study for study in STUDIES}
