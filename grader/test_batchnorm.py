"""Part batchnorm's graded tests, one per rubric row (``grader/parts/pytest_items.py``); their
procedures, cases and diagnoses are in ``grader/parts/batchnorm.py``."""
from grader.parts.pytest_items import items_of

globals().update(items_of("batchnorm"))
