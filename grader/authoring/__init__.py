"""The instructor's tools: the student template and the handout, generated from the worked
``solution.py``."""
