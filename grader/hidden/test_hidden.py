"""The hidden tests, one per row of ``grader/hidden/rubric.py`` (``grader/parts/pytest_items.py``);
their procedures are in ``grader/hidden/cases.py``."""
from grader.parts.pytest_items import items_of

globals().update(items_of(hidden=True))
