"""The report's studies, in the report's order: one module each (see ``report.engine``)."""
from report.studies import (adaptive_optimizers, cats_dogs, cnn_vs_mlp, diagnostics, finite_differences,
                            hyperparameters, initialization)

STUDIES = (initialization, hyperparameters, finite_differences, cnn_vs_mlp, cats_dogs, diagnostics,
           adaptive_optimizers)
BY_NAME = {study.NAME: study for study in STUDIES}
