"""Loads the grading plugin for ``pytest grader`` (see ``grader/plugin.py``).

First, before the plugin imports torch and the grader, it starts the warm sandbox of the file
that will be graded (``grader/isolation/warm.py``), so that the two imports overlap; the plugin's
session takes it only if it was made for the very file and options it grades."""
import sys
from pathlib import Path

from grader.isolation import warm
from grader.__main__ import _option_value


def _submission_guess() -> Path:
    """What ``plugin.submission_path`` will choose, read from the command line before pytest
    parsed it (a wrong guess costs only the sandbox's start, closed unused)."""
    option = _option_value(sys.argv[1:], "--submission")
    if option:
        return Path(option).expanduser().resolve()
    for base in (Path.cwd(), Path(__file__).resolve().parents[1]):
        if (base / "solution.py").is_file():
            return (base / "solution.py").resolve()
    return (Path.cwd() / "solution.py").resolve()


warm.prestart(_submission_guess(), _option_value(sys.argv[1:], "--sandbox") or "auto")

from grader.plugin import *  # noqa: E402,F403 - pytest finds hooks and fixtures by name
