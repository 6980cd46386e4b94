"""Loads the grading plugin for ``pytest grader`` (see ``grader/plugin.py``).

First, before the plugin imports torch and the grader, it starts the warm sandbox of the file
that will be graded (``grader/isolation/warm.py``), so that the two imports overlap; the plugin's
session takes it only if it was made for the very file and options it grades (a wrong guess
costs only the sandbox's start, closed unused)."""
import sys
from pathlib import Path

from grader import command_line
from grader.isolation import warm

_ARGUMENTS = sys.argv[1:]
warm.prestart(command_line.submission_path(command_line.option_value(_ARGUMENTS, "--submission"),
                                           Path(__file__).resolve().parents[1]),
              command_line.option_value(_ARGUMENTS, "--sandbox") or "auto",
              command_line.parts_guess(_ARGUMENTS))

from grader.plugin import *  # noqa: E402,F403 - pytest finds hooks and fixtures by name
