"""Part update's graded tests, one per rubric row (``grader/parts/pytest_items.py``); their
procedures, cases and diagnoses are in ``grader/parts/update.py``."""
from grader.parts.pytest_items import items_of

globals().update(items_of("update"))
