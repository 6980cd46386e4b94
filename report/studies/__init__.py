"""The report's studies, in the report's order: one module each (see ``report.engine``)."""
from report.studies import cats_dogs, cnn_vs_mlp, finite_differences, initialization

STUDIES = (initialization, finite_differences, cnn_vs_mlp, cats_dogs)
BY_NAME = {study.NAME: study for study in STUDIES}
