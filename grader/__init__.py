"""nngrade's grader: isolated, explained grading of the NN assignment in ``solution.py``.

Entry points: ``pytest grader [--submission PATH] [--results-json OUT]`` and
``python -m grader {grade,template,release} ...``.
"""
