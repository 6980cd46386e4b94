"""Find the students of a batch, and each one's file, in a folder or a zip (no grading here).

``open_roster(path, scratch)`` reads SUBMISSIONS in whichever of these layouts it is, and says
which one it found (``Roster.layout``):

1. one folder per student: ``SUBMISSIONS/<student>/solution.py`` (``solution.py`` one folder
   deeper, ``<student>/hw/solution.py``, is taken when it is the only one);
2. one file per student: ``SUBMISSIONS/<student>.py``;
   (a folder holding both student folders and student files is read as both, "mixed");
3. nbgrader: ``submitted/<student>/<assignment>/solution.py``, SUBMISSIONS being the
   ``submitted`` folder or the course folder holding it. When students submitted several
   assignments, the one to grade must be named (``assignment=``); with one, it is taken;
4. a Gradescope "Export Submissions" folder: ``submission_metadata.yml`` and one
   ``submission_<id>/`` folder per submission; the students are the YAML's submitters, and a
   group submission is one ``Submission`` per member, with the same file;
5. a ``.zip`` of any of these, extracted under ``scratch`` with bounds (see ``extract_zip``).

A folder (or zip) holding nothing but one folder is read from that folder (an export's
``assignment_123_export/``, a zipped ``hw3/``), unless that folder looks like one student's:
it holds a ``solution`` file itself, or no folder and at most one .py or .ipynb file. (A class
of one is ambiguous: ``hw3/ada/solution.py`` is read as student ``ada``, the wrapper unwrapped.)

A student whose files cannot be graded (no ``solution.py``, an empty, binary or too large file,
a notebook, two candidates) is still a ``Submission``: ``source`` is None and ``problem`` says,
in words for the student, why it scores 0 and how to fix it. Only a folder that is no layout at
all, or a zip that is unsafe or broken, raises ``LayoutError``.

Names starting with ``.`` and the folders ``__MACOSX``, ``__pycache__`` and
``.ipynb_checkpoints`` are not looked at: they are made by tools, not by students.
"""
from __future__ import annotations

import re
import stat
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from grader.batch.student_files import (MAX_FOLDER_ENTRIES, SOLUTION_STEM, SOURCE_NAME, WALK_DEPTH,
                                        examine_file, examine_folder, human_size, listing,
                                        notebook_problem, visible_entries)


FOLDERS = "one folder per student (<student>/solution.py)"
FILES = "one file per student (<student>.py)"
MIXED = "one folder or one file per student (mixed: <student>/solution.py and <student>.py)"
NBGRADER = "nbgrader (submitted/<student>/<assignment>/solution.py)"
GRADESCOPE = "Gradescope export (submission_metadata.yml)"

KNOWN_LAYOUTS = (
    (FOLDERS, "SUBMISSIONS/ada/solution.py (or SUBMISSIONS/ada/hw3/solution.py)"),
    (FILES, "SUBMISSIONS/ada.py"),
    (NBGRADER, "SUBMISSIONS/submitted/ada/hw3/solution.py, or SUBMISSIONS/ada/hw3/solution.py "
               "with SUBMISSIONS the submitted folder"),
    (GRADESCOPE, "SUBMISSIONS/submission_metadata.yml with SUBMISSIONS/submission_123456/solution.py"),
    ("a .zip of any of these", "submissions.zip holding ada/solution.py, ..."),
)
"""Every layout ``open_roster`` reads, with an example path each (for ``LayoutError``)."""

METADATA_NAME = "submission_metadata.yml"
NBGRADER_TIMESTAMP = "timestamp.txt"
MAX_ZIP_BYTES = 1024 ** 3
"""Bound on what a zip may extract to (the sum of its files, uncompressed)."""
MAX_ZIP_MEMBERS = 100_000
MAX_UNWRAP = 3
MAX_ID_CHARS = 80


class LayoutError(ValueError):
    """SUBMISSIONS is no layout ``open_roster`` reads, or a zip it will not extract."""

    def __init__(self, reason: str):
        known = "\n".join(f"  - {name}: e.g. {example}" for name, example in KNOWN_LAYOUTS)
        super().__init__(f"{reason}\nnngrade batch reads these layouts:\n{known}")
        self.reason = reason


@dataclass
class Submission:
    student: str        # file-safe id (letters, digits, . _ - only), unique within the roster
    name: str           # display name, e.g. "Ada Lovelace <ada@example.edu>" or the folder name
    source: Path | None  # the .py file to grade, or None when `problem` is set
    problem: str = ""   # "" if gradable; else a sentence for the student: why 0, how to fix it
    members: list[str] = field(default_factory=list)  # a group's student ids (this one included)
    sid: str = ""       # the student id the layout gives: Gradescope's SID, nbgrader's student id
    email: str = ""     # the email the layout gives (Gradescope's export)


@dataclass
class Roster:
    layout: str         # human name of the layout found
    root: Path          # the folder the submissions were read from (the extracted one for a zip)
    submissions: list[Submission]   # sorted by student id


@dataclass
class _Found:
    """One student before ids are made unique: ``raw`` is the id as the layout spells it,
    ``tiebreak`` orders equal raws, ``group`` ties the members of one group submission."""
    raw: str
    tiebreak: str
    name: str
    source: Path | None
    problem: str
    group: int
    sid: str = ""
    email: str = ""


def open_roster(path: Path, scratch: Path, *, assignment: str | None = None) -> Roster:
    """The students in ``path`` (a folder, or a zip extracted under ``scratch``, which the caller
    owns and removes). ``assignment`` names the nbgrader assignment to grade when students
    submitted several. Raises ``LayoutError`` when ``path`` is no layout it reads."""
    path = Path(path)
    if path.is_dir():
        layout, root, found = _read_folder(path, assignment)
    elif path.is_file():
        if path.suffix.lower() != ".zip" and not zipfile.is_zipfile(path):
            raise LayoutError(f"{path} is a single file, not a folder or a zip of submissions "
                              "(to grade one file: python -m grader grade FILE).")
        extracted = extract_zip(path, scratch)
        layout, root, found = _read_folder(extracted, assignment)
        layout = f"{layout}, in the zip {path.name}"
    else:
        raise LayoutError(f"{path} does not exist.")
    if not found:
        raise LayoutError(f"{root} holds no student submissions.")
    return Roster(layout=layout, root=root, submissions=_number(found))


# ---- zips -------------------------------------------------------------------------------------

def extract_zip(path: Path, scratch: Path) -> Path:
    """Extract the zip ``path`` into a new folder under ``scratch``; return that folder.

    Refused as a whole (``LayoutError``): a member with an absolute path or a ``..`` component,
    more than ``MAX_ZIP_MEMBERS`` members, more than ``MAX_ZIP_BYTES`` extracted, an encrypted or
    broken zip. Symbolic links are skipped (they could point anywhere on this machine)."""
    scratch = Path(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise LayoutError(f"{path} is not a readable zip ({error}).") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise LayoutError(f"{path} has {len(members)} members; nngrade extracts at most "
                              f"{MAX_ZIP_MEMBERS}.")
        plan = []
        declared = 0
        for info in members:
            parts = _member_parts(path, info.filename)
            if not parts:
                continue
            plan.append((info, parts))
            declared += 0 if info.is_dir() or _is_symlink(info) else info.file_size
        if declared > MAX_ZIP_BYTES:
            raise LayoutError(f"{path} would extract to {human_size(declared)}; nngrade extracts at most "
                              f"{human_size(MAX_ZIP_BYTES)}.")
        destination = Path(tempfile.mkdtemp(prefix=f"{_safe_id(path.stem)}-", dir=scratch))
        written = 0
        for info, parts in plan:
            target = destination.joinpath(*parts)
            try:
                if _is_symlink(info):
                    # Its folder is kept: a student whose only file was a link is still there.
                    target.parent.mkdir(parents=True, exist_ok=True)
                    continue
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                # Counted as written too: the bound then does not rest on the headers alone, nor
                # on how zipfile treats one that understates its member's size.
                with archive.open(info) as source, open(target, "wb") as sink:
                    while chunk := source.read(1024 ** 2):
                        written += len(chunk)
                        if written > MAX_ZIP_BYTES:
                            raise LayoutError(f"{path} extracts to more than {human_size(MAX_ZIP_BYTES)}, "
                                              "the most nngrade extracts.")
                        sink.write(chunk)
            except LayoutError:
                raise
            except RuntimeError as error:      # encrypted member
                raise LayoutError(f"{path} cannot be extracted: {error}.") from None
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
                raise LayoutError(f"{path} cannot be extracted ({info.filename}: {error}).") from None
    return destination


def _member_parts(path: Path, name: str) -> list[str]:
    """The path components of a zip member, or LayoutError when it would land outside the
    extraction folder. Backslashes count as separators (some Windows tools write them)."""
    unified = name.replace("\\", "/")
    if unified.startswith("/") or re.match(r"[A-Za-z]:", unified):
        raise LayoutError(f"{path} is refused: its member {name!r} has an absolute path.")
    parts = [part for part in unified.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise LayoutError(f"{path} is refused: its member {name!r} climbs out of the folder with '..'.")
    if any("\0" in part for part in parts):
        raise LayoutError(f"{path} is refused: its member {name!r} has a NUL character in its name.")
    return parts


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


# ---- which layout -----------------------------------------------------------------------------

def _read_folder(root: Path, assignment: str | None) -> tuple[str, Path, list[_Found]]:
    for unwrapped in range(MAX_UNWRAP + 1):
        if (root / METADATA_NAME).is_file():
            return GRADESCOPE, root, _gradescope(root)
        submitted = _nbgrader_folder(root)
        if submitted is not None:
            return NBGRADER, submitted, _nbgrader(submitted, assignment)
        folders, files = _top_level(root)
        if len(folders) == 1 and not files and unwrapped < MAX_UNWRAP and not _one_students(folders[0]):
            root = folders[0]
            continue
        if folders and files:
            return MIXED, root, _per_folder(folders) + _per_file(files)
        if folders and not any(_holds_code(folder) for folder in folders):
            # Not a class whose every student forgot the file, but the wrong folder.
            raise LayoutError(f"{root} holds {len(folders)} folders and none of them holds a .py "
                              "or .ipynb file.")
        if folders:
            return FOLDERS, root, _per_folder(folders)
        if files:
            return FILES, root, _per_file(files)
        what = "is empty" if not visible_entries(root) else "holds no student folder and no .py file"
        raise LayoutError(f"{root} {what}.")
    raise AssertionError("unreachable: the last pass does not unwrap")


def _top_level(root: Path) -> tuple[list[Path], list[Path]]:
    """The student folders and student files (.py, .ipynb) directly in ``root``."""
    entries = visible_entries(root)
    folders = [entry for entry in entries if entry.is_dir()]
    files = [entry for entry in entries
             if entry.is_file() and entry.suffix.lower() in (".py", ".ipynb")]
    return folders, files


def _holds_code(folder: Path, depth: int = WALK_DEPTH) -> bool:
    """Whether ``folder`` holds a .py or .ipynb file within ``depth`` levels (bounded: at most
    ``MAX_FOLDER_ENTRIES`` entries read per folder)."""
    entries = visible_entries(folder)[:MAX_FOLDER_ENTRIES]
    if any(e.is_file() and e.suffix.lower() in (".py", ".ipynb") for e in entries):
        return True
    return depth > 1 and any(_holds_code(e, depth - 1) for e in entries if e.is_dir())


def _one_students(folder: Path) -> bool:
    """Whether ``folder``, alone in the folder read, is a student's rather than a wrapper: it
    holds a solution file itself, or no folder and at most one file a student could hand in."""
    entries = visible_entries(folder)
    handed_in = [entry for entry in entries
                 if entry.is_file() and entry.suffix.lower() in (".py", ".ipynb")]
    if any(SOLUTION_STEM.match(entry.name) for entry in handed_in):
        return True
    return not any(entry.is_dir() for entry in entries) and len(handed_in) <= 1


def _nbgrader_folder(root: Path) -> Path | None:
    """nbgrader's ``submitted`` folder when ``root`` is it or holds it, else None. A folder is
    taken for nbgrader's when it holds ``submitted/``, when any ``<student>/<assignment>/``
    has nbgrader's ``timestamp.txt``, or when it is named ``submitted`` and its student folders
    hold assignment folders rather than files to grade."""
    if (root / "submitted").is_dir():
        return root / "submitted"
    students = [entry for entry in visible_entries(root) if entry.is_dir()]
    for student in students:
        for inner in visible_entries(student):
            if inner.is_dir() and (inner / NBGRADER_TIMESTAMP).is_file():
                return root
    if root.name == "submitted" and students:
        nested = any(inner.is_dir() for student in students for inner in visible_entries(student))
        flat = any(inner.is_file() and inner.suffix.lower() in (".py", ".ipynb")
                   for student in students for inner in visible_entries(student))
        if nested and not flat:
            return root
    return None


# ---- the layouts ------------------------------------------------------------------------------

def _per_folder(folders: list[Path]) -> list[_Found]:
    found = []
    for folder in folders:
        source, problem = examine_folder(folder)
        found.append(_Found(folder.name, folder.name, folder.name, source, problem, len(found)))
    return found


def _per_file(files: list[Path]) -> list[_Found]:
    """One student per stem; ``ada.py`` is graded and ``ada.ipynb`` beside it ignored."""
    by_stem: dict[str, list[Path]] = {}
    for file in files:
        by_stem.setdefault(file.stem, []).append(file)
    found = []
    for stem, group in sorted(by_stem.items()):
        python = [file for file in group if file.suffix.lower() == ".py"]
        if python:
            source, problem = examine_file(python[0], python[0].name)
        else:
            source, problem = None, notebook_problem([group[0].name])
        found.append(_Found(stem, group[0].name, stem, source, problem, len(found)))
    return found


def _nbgrader(submitted: Path, assignment: str | None) -> list[_Found]:
    students = [entry for entry in visible_entries(submitted) if entry.is_dir()]
    names = sorted({inner.name for student in students for inner in visible_entries(student)
                    if inner.is_dir()})
    if assignment is None:
        if len(names) > 1:
            raise LayoutError(f"{submitted} (nbgrader) holds several assignments: {', '.join(names)}; "
                              "name the one to grade (assignment=NAME; on the command line "
                              "--assignment NAME).")
        if not names:
            raise LayoutError(f"{submitted} (nbgrader) holds no <student>/<assignment>/ folder.")
        assignment = names[0]
    elif assignment not in names:
        raise LayoutError(f"{submitted} (nbgrader) holds no assignment {assignment!r}; it holds: "
                          f"{', '.join(names) or 'none'}.")
    found = []
    for student in students:
        folder = student / assignment
        if folder.is_dir():
            source, problem = examine_folder(folder, ignore={NBGRADER_TIMESTAMP})
        else:
            source, problem = None, (f"No submission of {assignment} was collected from you "
                                     f"(nbgrader holds {listing(visible_entries(student))} of yours): "
                                     f"submit {assignment} with {SOURCE_NAME} in it.")
        found.append(_Found(student.name, student.name, student.name, source, problem, len(found),
                            sid=student.name))   # nbgrader's student id
    return found


def _gradescope(root: Path) -> list[_Found]:
    """Gradescope's "Export Submissions": ``submission_metadata.yml`` maps each submission's
    folder name to ``:submitters:`` (a list of ``:name:``, ``:sid:``, ``:email:``), with
    ``:created_at:``, ``:score:`` and more beside it. The keys are Ruby symbols dumped to YAML,
    so PyYAML reads ``:submitters:`` as the key ``":submitters"``; plain keys are read too."""
    try:
        metadata = yaml.safe_load((root / METADATA_NAME).read_text(encoding="utf-8", errors="replace"))
    except yaml.YAMLError as error:
        raise LayoutError(f"{root / METADATA_NAME} is not valid YAML ({error}).") from None
    if not isinstance(metadata, dict):
        raise LayoutError(f"{root / METADATA_NAME} is not a mapping of submissions to their submitters.")
    found: list[_Found] = []
    named: set[str] = set()
    for key in sorted(metadata, key=str):
        entry, folder_name = metadata[key], str(key)
        named.add(folder_name)
        source, problem = _gradescope_files(root, folder_name)
        submitters = _symbol(entry, "submitters") if isinstance(entry, dict) else None
        people = [person for person in submitters or [] if isinstance(person, dict)] or [{}]
        group = len(found)
        for index, person in enumerate(people):
            raw, name, sid, email = _gradescope_person(person, folder_name)
            found.append(_Found(raw, f"{folder_name}/{index:04d}", name, source, problem, group,
                                sid, email))
    # A folder the metadata does not name is still somebody's work: graded under its own name.
    for folder in visible_entries(root):
        if folder.is_dir() and folder.name not in named:
            source, problem = examine_folder(folder)
            found.append(_Found(folder.name, folder.name, folder.name, source, problem, len(found)))
    return found


def _symbol(mapping: dict, key: str):
    """``mapping[":key"]`` as Gradescope writes it, else ``mapping["key"]``."""
    return mapping.get(f":{key}", mapping.get(key))


def _gradescope_person(person: dict, folder_name: str) -> tuple[str, str, str, str]:
    """(raw id, display name, sid, email) of one submitter: the id is the sid, else the email's
    local part, else the name, else the submission's folder; the display name is the name, else
    the email, the sid or the folder."""
    name, sid, email = (" ".join(str(_symbol(person, key) or "").split())
                        for key in ("name", "sid", "email"))
    raw = sid or email.split("@")[0] or name or folder_name
    return raw, name or email or sid or folder_name, sid, email


def _gradescope_files(root: Path, key: str) -> tuple[Path | None, str]:
    if not key or "/" in key or "\\" in key or key in (".", ".."):
        return None, (f"Gradescope's export names your files {key!r}, which is not a folder of the "
                      "export; ask your TA to export the submissions again.")
    target = root / key
    if target.is_dir():
        return examine_folder(target)
    if target.is_file():
        if target.suffix.lower() == ".py":
            return examine_file(target, target.name)
        if target.suffix.lower() == ".ipynb":
            return None, notebook_problem([target.name])
        return None, f"Your submission is {key}, not {SOURCE_NAME}: submit your code as {SOURCE_NAME}."
    return None, (f"Gradescope's export holds no files for your submission ({key}); submit "
                  f"{SOURCE_NAME} again, or ask your TA to export the submissions again.")


# ---- ids --------------------------------------------------------------------------------------

def _safe_id(raw: str) -> str:
    """``raw`` with accents dropped and every character but letters, digits, ``.``, ``_`` and
    ``-`` made ``_``; a leading ``.`` or ``-`` too (a hidden file, a command-line option)."""
    text = "".join(char for char in unicodedata.normalize("NFKD", raw) if not unicodedata.combining(char))
    text = re.sub(r"[^A-Za-z0-9._-]", "_", text)[:MAX_ID_CHARS]
    text = re.sub(r"^[.-]", "_", text)
    return text or "student"


def unique_ids(raws: list[tuple[str, str]]) -> list[str]:
    """File-safe ids for ``raws`` ((raw id, tiebreak) each), unique even to a file system that
    ignores case, in the same order. Students whose ids collide are ordered (an id that needed no
    change first, then by raw and tiebreak): the first keeps the id, the next get ``-2``,
    ``-3``, ..., skipping any id taken. The ids depend on the set of raws, not on their order."""
    bases = [_safe_id(raw) for raw, _ in raws]
    taken = {base.casefold() for base in bases}
    groups: dict[str, list[int]] = {}
    for index, base in enumerate(bases):
        groups.setdefault(base.casefold(), []).append(index)
    ids = list(bases)
    for key in sorted(groups):
        indices = sorted(groups[key], key=lambda i: (bases[i] != raws[i][0], raws[i][0], raws[i][1]))
        suffix = 2
        for index in indices[1:]:
            while f"{bases[index]}-{suffix}".casefold() in taken:
                suffix += 1
            ids[index] = f"{bases[index]}-{suffix}"
            taken.add(ids[index].casefold())
    return ids


def _number(found: list[_Found]) -> list[Submission]:
    ids = unique_ids([(entry.raw, entry.tiebreak) for entry in found])
    groups: dict[int, list[str]] = {}
    for entry, student in zip(found, ids, strict=True):
        groups.setdefault(entry.group, []).append(student)
    submissions = [Submission(student=student, name=entry.name, source=entry.source,
                              problem=entry.problem, members=sorted(groups[entry.group]),
                              sid=entry.sid, email=entry.email)
                   for entry, student in zip(found, ids, strict=True)]
    return sorted(submissions, key=lambda submission: submission.student)

