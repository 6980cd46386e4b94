"""One student's files: which file of a submission to grade, or why none can be (no grading here).

``examine_folder`` reads one student's folder and ``examine_file`` one file: the file to grade,
or a sentence for the student saying why the submission scores 0 and how to fix it (no
``solution.py``, two candidates, a notebook, an empty, binary, non-UTF-8 or too large file, a
link). ``grader/batch/layouts.py`` finds the students of a class; Gradescope's runner and
nbgrader's preprocessors examine one student's folder here.

Names starting with ``.`` and the folders ``__MACOSX``, ``__pycache__`` and
``.ipynb_checkpoints`` are not looked at: they are made by tools, not by students.
"""
from __future__ import annotations

import os
import re
from collections import deque
from itertools import islice
from pathlib import Path

SOURCE_NAME = "solution.py"

TOOL_FOLDERS = frozenset({"__MACOSX", "__pycache__", ".ipynb_checkpoints"})

# A candidate is solution.py, or the name a browser or file manager gives a second copy of it
# ("solution (1).py", "solution-2.py", "solution copy.py"): a student who sends both has sent
# two candidates, and which one they meant is theirs to say.
CANDIDATE = re.compile(r"solution(?: ?\(\d+\)|[ _-]\d+| copy(?: \d+)?)?\.py", re.IGNORECASE)
SOLUTION_STEM = re.compile(r"solution\b", re.IGNORECASE)

MAX_SOURCE_BYTES = 16 * 1024 ** 2
"""Past this a file is not read: the worked solution is about 34 kB."""
MAX_FOLDER_ENTRIES = 1_000
MAX_WALK_FOLDERS = 200
"""Entries looked at in one folder, and folders looked into, of one student's submission: a
submitted data set or virtualenv must not stall the batch, nor hide the solution beside it."""
WALK_DEPTH = 3
"""Folder levels looked into below a student's folder: 1 for the file, 3 to say it is too deep."""
LISTED_NAMES = 5


def hidden_name(name: str) -> bool:
    return name.startswith(".") or name in TOOL_FOLDERS


def visible_entries(folder: Path) -> list[Path]:
    try:
        return sorted(entry for entry in folder.iterdir() if not hidden_name(entry.name))
    except OSError:
        return []


def human_size(n: int) -> str:
    if n >= 1024 ** 3:
        return f"{n / 1024 ** 3:.3g} GiB"
    return f"{n / 1024 ** 2:.3g} MiB" if n >= 1024 ** 2 else f"{n} bytes"


def _walk(folder: Path, ignore: frozenset | set) -> list[tuple[str, ...]]:
    """The files below ``folder`` as path components, hidden ones and those in ``ignore`` left
    out, at most ``WALK_DEPTH`` folders down. Breadth first, so that every file one folder down
    is seen before any deeper; at most ``MAX_FOLDER_ENTRIES`` of each folder and
    ``MAX_WALK_FOLDERS`` folders. Linked folders are not entered (a link to ``..`` never ends)."""
    files: list[tuple[str, ...]] = []
    pending: deque[tuple[Path, tuple[str, ...]]] = deque([(folder, ())])
    visited = 0
    while pending and visited < MAX_WALK_FOLDERS:
        current, prefix = pending.popleft()
        visited += 1
        try:
            with os.scandir(current) as listing:
                entries = sorted(islice(listing, MAX_FOLDER_ENTRIES), key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            if hidden_name(entry.name) or (not prefix and entry.name in ignore):
                continue
            parts = (*prefix, entry.name)
            try:
                if entry.is_dir(follow_symlinks=False):
                    if len(parts) < WALK_DEPTH:
                        pending.append((Path(entry.path), parts))
                elif entry.is_file():
                    files.append(parts)
            except OSError:
                continue
    return sorted(files)


def examine_folder(folder: Path, ignore: frozenset | set = frozenset()) -> tuple[Path | None, str]:
    """One student's folder (a Gradescope submission folder, say): (the file to grade, "") or
    (None, a sentence for the student saying why it scores 0 and what to fix). Entries named in
    ``ignore`` at its top are not the student's (nbgrader's timestamp.txt)."""
    files = _walk(folder, ignore)
    near = [parts for parts in files if len(parts) <= 2]
    candidates = [parts for parts in near if CANDIDATE.fullmatch(parts[-1])]
    if len(candidates) == 1:
        shown = "/".join(candidates[0])
        return examine_file(folder.joinpath(*candidates[0]), shown)
    if candidates:
        return None, (f"Your submission has {len(candidates)} candidate files, "
                      f"{joined_names([('/'.join(parts)) for parts in candidates])}, and nngrade will not "
                      f"guess which one you meant: submit exactly one {SOURCE_NAME}.")
    notebooks = [parts for parts in near if parts[-1].lower().endswith(".ipynb")]
    if notebooks:
        notebooks.sort(key=lambda parts: (not SOLUTION_STEM.match(parts[-1]), len(parts), parts))
        return None, notebook_problem(["/".join(parts) for parts in notebooks])
    deep = [parts for parts in files if CANDIDATE.fullmatch(parts[-1])]
    if deep:
        return None, (f"Your {SOURCE_NAME} is at {'/'.join(deep[0])}, too many folders down: "
                      f"submit {SOURCE_NAME} at the top of your submission.")
    entries = [entry for entry in visible_entries(folder) if entry.name not in ignore]
    if not entries:
        return None, f"Your submission is empty: submit your code as {SOURCE_NAME}."
    return None, (f"Your submission has no {SOURCE_NAME} (it holds {listing(entries)}): "
                  f"submit your code in a file named {SOURCE_NAME}.")


def misnamed_note(shown: str) -> str:
    """What a student reads when ``shown`` (the file found, relative to their folder) was graded
    although it is not named ``solution.py``; "" when it is."""
    if shown == SOURCE_NAME:
        return ""
    return f"Note: your submission has no {SOURCE_NAME}; graded {shown} in its place (name it {SOURCE_NAME})."


def examine_file(path: Path, shown: str) -> tuple[Path | None, str]:
    """(path, "") when ``path`` is non-empty UTF-8 text, else (None, the problem)."""
    if path.is_symlink():
        # A link names a file the grader's user can read and the student could not hand in (the
        # worked solution, a classmate's file): only the file itself is graded.
        return None, f"{shown} is a link, not a file: submit the file itself as {SOURCE_NAME}."
    try:
        size = path.stat().st_size
        if size > MAX_SOURCE_BYTES:
            return None, (f"{shown} is {human_size(size)}, larger than the {human_size(MAX_SOURCE_BYTES)} "
                          "nngrade reads: submit only your Python source code.")
        data = path.read_bytes()
    except OSError as error:
        return None, f"{shown} could not be read ({error.strerror}): submit it again."
    if not data:
        return None, f"{shown} is empty (0 bytes): submit the file with your code in it."
    if b"\0" in data:
        return None, (f"{shown} is not a text file (it holds NUL bytes): submit your Python source "
                      "code as plain text, not a compiled or binary file.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, (f"{shown} is not UTF-8 text (from byte {error.start} on): save it as UTF-8 "
                      "(your editor's 'Save with encoding') and submit it again.")
    if not text.lstrip("\ufeff").strip():
        return None, f"{shown} holds only whitespace: submit the file with your code in it."
    return path, ""


def notebook_problem(notebooks: list[str]) -> str:
    return (f"You submitted a Jupyter notebook ({joined_names(notebooks[:2])}) instead of {SOURCE_NAME}, "
            "and notebooks are not graded: export it as a Python file (in Jupyter: File > "
            f"Download as > Python (.py)), name it {SOURCE_NAME} and submit that.")


def listing(entries: list[Path]) -> str:
    names = [entry.name + ("/" if entry.is_dir() else "") for entry in entries]
    if not names:
        return "nothing"
    shown = ", ".join(names[:LISTED_NAMES])
    more = len(names) - LISTED_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


def joined_names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
