"""Generate the student's ``solution.py`` from the instructor's worked one.

The worked solution marks each student region with a line ``# BEGIN SOLUTION <part>`` and a line
``# END SOLUTION``. In the template each region becomes one line,
``raise NotImplementedError("<part>: NN.<method> is not implemented yet")``, at the region's
indentation; everything outside the regions is kept as it is.
"""
from __future__ import annotations

import re
from pathlib import Path

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION(?:[ \t]+(?P<part>[\w.-]+))?[ \t]*$")
END = re.compile(r"^[ \t]*# END SOLUTION[ \t]*$")
DEF = re.compile(r"^[ \t]*def (?P<name>\w+)\(")
CLASS = re.compile(r"^(?P<indent>[ \t]*)class (?P<name>\w+)\b")

HEADER = ("# Student copy of solution.py, generated from the instructor's worked solution by\n"
          "# `python -m grader template`. Replace each `raise NotImplementedError(...)` with your code.\n")


class TemplateError(ValueError):
    """The solution markers are unbalanced or malformed."""


def _enclosing(lines: list[str], index: int) -> str:
    """``Class.method`` (or ``function``) that contains line ``index``."""
    function = None
    for line in reversed(lines[:index]):
        if function is None:
            match = DEF.match(line)
            if match:
                function = match.group("name")
                function_indent = len(line) - len(line.lstrip())
            continue
        match = CLASS.match(line)
        if match and len(match.group("indent")) < function_indent:
            return f"{match.group('name')}.{function}"
    return function or "this part"


def make_template(source: str) -> str:
    """The student version of ``source`` (the worked solution's text)."""
    lines = source.splitlines(keepends=True)
    output: list[str] = []
    region_start = None
    for index, line in enumerate(lines):
        text = line.rstrip("\r\n")
        begin = BEGIN.match(text)
        if begin:
            if region_start is not None:
                raise TemplateError(f"line {index + 1}: BEGIN SOLUTION inside the region opened "
                                    f"on line {region_start + 1}")
            region_start = index
            part = begin.group("part") or "solution"
            where = _enclosing(lines, index)
            output.append(f'{begin.group("indent")}raise NotImplementedError('
                          f'"{part}: {where} is not implemented yet")\n')
            continue
        if END.match(text):
            if region_start is None:
                raise TemplateError(f"line {index + 1}: END SOLUTION without a BEGIN SOLUTION")
            region_start = None
            continue
        if region_start is None:
            output.append(line)
    if region_start is not None:
        raise TemplateError(f"line {region_start + 1}: BEGIN SOLUTION is never closed")
    result = "".join(output)
    # Keep the module docstring first: the header goes after it.
    docstring_end = _docstring_end(result)
    return result[:docstring_end] + HEADER + result[docstring_end:]


def _docstring_end(text: str) -> int:
    stripped = text.lstrip()
    for quote in ('"""', "'''"):
        if stripped.startswith(quote):
            start = len(text) - len(stripped)
            close = text.find(quote, start + 3)
            if close >= 0:
                newline = text.find("\n", close)
                return len(text) if newline < 0 else newline + 1
    return 0


def regions(source: str) -> list[tuple[str, str]]:
    """``[(part, Class.method), ...]`` of every solution region, in file order."""
    lines = source.splitlines(keepends=True)
    found = []
    for index, line in enumerate(lines):
        match = BEGIN.match(line.rstrip("\r\n"))
        if match:
            found.append((match.group("part") or "solution", _enclosing(lines, index)))
    return found


def write_template(solution: Path, target: Path) -> bool:
    """Write the template of ``solution`` to ``target``; returns whether the file changed."""
    text = make_template(Path(solution).read_text())
    target = Path(target)
    if target.is_file() and target.read_text() == text:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(text)
    temporary.replace(target)
    return True
