"""Loads the grading plugin for ``pytest grader`` (see ``grader/plugin.py``)."""
from grader.plugin import *  # noqa: F403 - pytest finds hooks and fixtures by name
