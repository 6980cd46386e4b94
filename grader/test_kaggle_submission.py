"""Part kaggle_submission's graded tests, one per rubric row (``grader/parts/pytest_items.py``); their
procedures, cases and diagnoses are in ``grader/parts/kaggle_submission.py``."""
from grader.parts.pytest_items import items_of

globals().update(items_of("kaggle_submission"))
