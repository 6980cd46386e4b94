"""What the grader reads from its command line before the full parse (no torch, no pytest), so
that ``pytest grader`` and ``python -m grader grade`` can start the warm sandbox first
(``grader/isolation/warm.py``) and choose the graded file by one rule."""
from __future__ import annotations

from pathlib import Path


def option_value(arguments: list[str], name: str) -> str | None:
    """The value of ``name`` in ``arguments`` (``--name V`` or ``--name=V``); None when absent."""
    for index, argument in enumerate(arguments):
        if argument == name and index + 1 < len(arguments):
            return arguments[index + 1]
        if argument.startswith(name + "="):
            return argument.split("=", 1)[1]
    return None


def submission_path(option: str | None, root: Path) -> Path:
    """The file ``pytest grader`` grades: ``--submission`` when given, else the ``solution.py``
    of the current folder, else that of ``root`` (pytest's rootdir, the repository), else the
    current folder's (absent: the session says so)."""
    if option:
        return Path(option).expanduser().resolve()
    for base in (Path.cwd(), root):
        if (base / "solution.py").is_file():
            return (base / "solution.py").resolve()
    return (Path.cwd() / "solution.py").resolve()


def parts_guess(arguments: list[str]) -> tuple[str, ...]:
    """The parts ``--parts`` and ``--experiments`` in ``arguments`` select (none when they name
    an unknown part: the full parse then says so)."""
    from grader.parts import UnknownParts, select_parts

    try:
        return select_parts(option_value(arguments, "--parts"), "--experiments" in arguments)
    except UnknownParts:
        return ()
