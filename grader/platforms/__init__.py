"""Hosted autograding platforms: what the grader needs to run on them, and nothing it grades.

- ``gradescope``: builds Gradescope's autograder zip (``python -m grader gradescope OUT.zip``);
- ``gradescope_run``: what the zip's ``run_autograder`` runs for each submission;
- ``gradescope_files/``: the zip's ``setup.sh`` and ``run_autograder`` scripts.
"""
