"""The graded tests of ``pytest grader``: one pytest item per rubric row (``grader/rubric.py``),
made by ``grader/parts/pytest_items.py``; a row ``name[case]`` is a case of a parametrized
``name``. Each item is graded by the grading session through the plugin (``grader/plugin.py``),
which calls the row's procedure in ``grader/parts/<part>.py`` (hidden rows:
``grader/hidden/cases.py``). Choose parts with ``--parts a,b``, or tests with ``-k``."""
from grader.parts.pytest_items import items_of

globals().update(items_of())
