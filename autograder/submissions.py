"""Find the submissions in what the instructor downloaded.

* a folder with one sub-folder per student (``alice/ps3_elbo.ipynb``), or a zip of that (possibly wrapped in one
  top folder);
* a Canvas / Quercus download zip (or its extracted folder): flat files named
  ``name_studentid_attachmentid_<file>`` or ``name_LATE_studentid_attachmentid_<file>``; a resubmission may carry a
  ``-1``, ``-2`` suffix; the newest attachment wins. The student id is the Canvas user id; the name part is kept.

Each student gets a :class:`Submission` with the notebook to grade, or a problem (missing / invalid) with a reason.
Zips are extracted safely: no absolute paths, no ``..``, no links. A member that cannot be extracted (a name over
the file system's limit, larger than MAX_ZIP_MEMBER_BYTES, corrupt) is that student's problem: the student's row
is ``invalid`` with the reason. Only the batch-wide caps (MAX_ZIP_TOTAL_BYTES, MAX_ZIP_MEMBERS) refuse an upload.
Every string taken from a file name is cleaned here (autograder.text.clean), where it enters.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

from .assemble import MAX_NOTEBOOK_BYTES
from .course import UsageError
from .text import clean

MAX_ZIP_TOTAL_BYTES = 4 * 1024**3
MAX_ZIP_MEMBER_BYTES = 512 * 1024**2
MAX_ZIP_MEMBERS = 200_000
MAX_ZIP_DEPTH = 32  # folders in a member's path (a 1,500-deep path once stopped the batch: RecursionError)
MAX_FOLDER_DEPTH = 32  # folders searched below a student's folder for the notebook
IGNORED_PARTS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__"}
CANVAS = re.compile(r"^(?P<name>.+?)(?P<late>_LATE)?_(?P<sid>\d+)_(?P<att>\d+)_(?P<file>.+)$", re.IGNORECASE)
RESUBMISSION = re.compile(r"^(?P<stem>.+?)-(?P<n>\d+)(?P<ext>\.[^.]+)$")
STUDENT_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+-]")
NAME_UNSAFE = re.compile(r"[^\w .-]")


@dataclass
class Submission:
    student_id: str
    notebook: Path | None = None
    late: bool = False
    notes: list[str] = field(default_factory=list)
    problem: str | None = None  # why there is nothing to run
    problem_status: str = "missing"  # "missing" or "invalid"
    name: str = ""  # the student's name where the download carries one (Canvas file names)
    submitted_at: str = ""  # the submission time from nbgrader's timestamp.txt (nbgrader's UTC form), if any

    def fingerprint(self) -> str:
        """What was graded: the notebook's bytes, or the problem. A rerun regrades a student whose fingerprint
        changed (a new download with a resubmission)."""
        digest = hashlib.sha256()
        status = self.notebook.stat() if self.notebook is not None and self.notebook.is_file() else None
        if status is not None and status.st_size > MAX_NOTEBOOK_BYTES:  # e.g. sparse: its size and time stand for it
            digest.update(f"too large:{status.st_size}:{status.st_mtime_ns}".encode())
        elif status is not None:
            with open(self.notebook, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
        digest.update(f"|{self.problem_status}:{self.problem}|late={self.late}".encode("utf-8", "replace"))
        return digest.hexdigest()[:32]


def clean_student_id(raw: str) -> str:
    cleaned = STUDENT_ID_UNSAFE.sub("_", raw.strip())[:128].strip("._") or "unknown"
    return cleaned


DIGEST_SUFFIX = re.compile(r"-[0-9a-f]{6,}$")


def folder_student_id(folder_name: str, digits: int = 6) -> str:
    """The student id of a submission folder: the name itself where it is a safe id, else the cleaned name and a
    digest of the whole name ("zoë" -> "zo-1f3a9c"). It depends on this name only, never on the other folders of
    the batch, so a student keeps the same id (and the marks given by hand) when folders are added or removed. A
    safe name that ends like a digest ("mallory-afc664") gets a digest too, so no folder can take the id another
    folder's name was cleaned to."""
    cleaned = clean_student_id(folder_name)
    if cleaned == folder_name and not DIGEST_SUFFIX.search(folder_name):
        return cleaned
    digest = hashlib.sha256(folder_name.encode("utf-8", "surrogateescape")).hexdigest()[:digits]
    return f"{cleaned[:120]}-{digest}"


def clean_name(raw: str) -> str:
    """A name from a file name: letters, digits, spaces, dots and hyphens only (it is shown in formgrader's pages
    and written to CSV files)."""
    return " ".join(NAME_UNSAFE.sub(" ", clean(raw)).split())[:128].strip(" .-")


def _ignored(path: Path, root: Path) -> bool:
    return any(part in IGNORED_PARTS or part.startswith(".") for part in path.relative_to(root).parts)


def _describe_size(size: int) -> str:
    return f"{size / 1024**2:.0f} MB"


def safe_extract(archive: Path, target: Path, problems: dict[str, str] | None = None) -> list[str]:
    """Extract ``archive`` into ``target``; returns warnings about skipped members (unsafe paths, links).

    A member that cannot be extracted (name too long, larger than MAX_ZIP_MEMBER_BYTES uncompressed, corrupt) is
    left out and recorded in ``problems`` (member path -> reason) for the caller to charge to its student; without
    ``problems`` it raises UsageError. A zip that is not one, or over the batch-wide caps, raises UsageError."""
    warnings = []
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as error:
        raise UsageError(f"{archive} is not a readable zip file ({error})") from None
    with zf:
        members = zf.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise UsageError(f"{archive} has {len(members)} entries (the limit is {MAX_ZIP_MEMBERS})")
        declared = sum(info.file_size for info in members)
        if declared > MAX_ZIP_TOTAL_BYTES:
            raise UsageError(f"{archive} holds {declared / 1024**3:.1f} GB uncompressed (the limit for one upload "
                             f"is {MAX_ZIP_TOTAL_BYTES >> 30} GB)")
        total = 0
        seen: dict[str, str] = {}  # extracted path -> the member's own name
        for info in members:
            name = clean(info.filename.replace("\\", "/"))
            parts = PurePosixPath(name).parts
            if (name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts or not parts
                    or any(p in ("", ".") for p in parts if p != "/")):
                warnings.append(f"skipped unsafe path in zip: {name!r}")
                continue
            if len(parts) > MAX_ZIP_DEPTH:
                _member_problem(problems, name, f"it is {len(parts)} folders deep (the limit is {MAX_ZIP_DEPTH})")
                continue
            key = "/".join(parts).rstrip("/")
            if not info.is_dir() and key in seen:
                same = "twice" if seen[key] == info.filename else f"and as {seen[key]!r} (the same name once cleaned)"
                _member_problem(problems, name, f"the upload holds this file {clean(same)}: which one is the "
                                                "student's cannot be told")
                continue
            seen.setdefault(key, info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                warnings.append(f"skipped link in zip: {name!r}")
                continue
            destination = target.joinpath(*parts)
            if info.is_dir():
                try:
                    destination.mkdir(parents=True, exist_ok=True)
                except OSError as error:
                    _member_problem(problems, name, f"the folder could not be created ({error.strerror})")
                continue
            if info.file_size > MAX_ZIP_MEMBER_BYTES:
                _member_problem(problems, name, f"the file is {_describe_size(info.file_size)} uncompressed; "
                                                f"the limit per file is {_describe_size(MAX_ZIP_MEMBER_BYTES)}")
                continue
            try:
                total = _extract_member(zf, info, destination, total)
            except _MemberError as error:
                destination.unlink(missing_ok=True)
                _member_problem(problems, name, str(error))
            except OSError as error:  # a name over the file system's limit, a path that clashes
                _remove_partial(destination)
                _member_problem(problems, name, f"the file could not be extracted ({error.strerror or error})")
    return warnings


class _MemberError(Exception):
    pass


def _extract_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, destination: Path, total: int) -> int:
    destination.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with zf.open(info) as source, open(destination, "wb") as sink:
            while chunk := source.read(1 << 20):
                written += len(chunk)
                total += len(chunk)
                if written > MAX_ZIP_MEMBER_BYTES:
                    raise _MemberError(f"the file is larger than {_describe_size(MAX_ZIP_MEMBER_BYTES)} "
                                       f"uncompressed (the limit per file)")
                if total > MAX_ZIP_TOTAL_BYTES:
                    raise UsageError(f"the upload is larger than {MAX_ZIP_TOTAL_BYTES >> 30} GB uncompressed")
                sink.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as error:
        raise _MemberError(f"the file is damaged in the zip and could not be read ({clean(str(error))})") from None
    return total


def _remove_partial(path: Path) -> None:
    try:
        if path.is_file():
            path.unlink()
    except OSError:
        pass


def _member_problem(problems: dict[str, str] | None, name: str, reason: str) -> None:
    if problems is None:
        raise UsageError(f"zip member {name!r}: {reason}")
    problems[name] = reason


def _shown(path: Path, folder: Path) -> str:
    return clean(str(path.relative_to(folder)))


def _notebooks(folder: Path) -> tuple[list[Path], list[Path]]:
    """(notebook files, symbolic links) under ``folder``, without following any link (a link could point at the
    solutions, another student's work or any file the grader can read)."""
    files, links = [], []
    for where, directories, names in os.walk(folder, followlinks=False):
        here = Path(where)
        if len(here.relative_to(folder).parts) >= MAX_FOLDER_DEPTH:
            directories.clear()  # deeper folders are not searched (os.walk recurses: a 1,500-deep tree overflows)
        links += [here / d for d in directories if (here / d).is_symlink() and not _ignored(here / d, folder)]
        for name in names:
            path = here / name
            if _ignored(path, folder):
                continue
            if path.is_symlink():
                links.append(path)
            elif name.endswith(".ipynb") and path.is_file():
                files.append(path)
    return files, links


def _choose_notebook(folder: Path, expected: str, submission: Submission) -> None:
    if folder.is_symlink():
        submission.problem = "the submission folder is a symbolic link (refused: a submission holds its own files)"
        submission.problem_status = "invalid"
        return
    files, links = _notebooks(folder)
    if links:
        names = ", ".join(_shown(p, folder) for p in links[:5])
        submission.problem = f"symbolic links are refused (a submission holds its own files): {names}"
        submission.problem_status = "invalid"
        return
    candidates = sorted(files, key=lambda p: (len(p.relative_to(folder).parts), str(p)))
    exact = [p for p in candidates if p.name == expected]
    if exact:
        submission.notebook = exact[0]
        if len(exact) > 1:
            submission.notes.append(f"Several files named {expected}; graded {_shown(exact[0], folder)}.")
    elif len(candidates) == 1:
        submission.notebook = candidates[0]
        submission.notes.append(f"Expected {expected}; graded {_shown(candidates[0], folder)} instead "
                                f"(please keep the file name).")
    elif not candidates:
        submission.problem = f"no notebook in the submission (expected {expected})"
        submission.problem_status = "missing"
    else:
        names = ", ".join(_shown(p, folder) for p in candidates[:5])
        submission.problem = f"{len(candidates)} notebooks and none named {expected}: {names}"
        submission.problem_status = "invalid"


def _choose_in_exchange(folder: Path, assignment_id: str, expected: str, submission: Submission) -> None:
    """nbgrader's exchange layout: the student's notebook is in ``<student>/<assignment_id>/`` (their other
    assignments sit beside it)."""
    target = folder / assignment_id
    if target.is_dir() or target.is_symlink():
        _choose_notebook(target, expected, submission)
        return
    others = sorted(clean(p.name) for p in folder.iterdir() if p.is_dir() and not p.is_symlink())[:5]
    submission.problem = (f"nothing handed in for {assignment_id} (no {assignment_id}/ folder"
                          + (f"; the student's folder holds {', '.join(others)})" if others else ")"))
    submission.problem_status = "missing"


def _stamp(submission: Submission, top: Path, due: datetime | None) -> None:
    """The submission time from the ``timestamp.txt`` nearest the notebook (up to the student's folder), and
    whether it is after ``due``."""
    from .exchange import describe_lateness, nbgrader_time, read_timestamp

    if submission.notebook is None:
        return
    folder, moment, problem = submission.notebook.parent, None, None
    while True:
        moment, problem = read_timestamp(folder)
        if moment is not None or problem is not None or folder == top or top not in folder.parents:
            break
        folder = folder.parent
    if problem is not None:
        submission.notes.append(f"Its {problem}: the submission time is unknown, so it counts as on time")
        return
    if moment is None:
        return
    submission.submitted_at = nbgrader_time(moment)
    if due is not None and moment > due:
        submission.late = True
        submission.notes.append(f"Submitted {moment:%Y-%m-%d %H:%M} UTC, {describe_lateness(moment, due)} after "
                                f"the due date ({due:%Y-%m-%d %H:%M} UTC)")


def _charge(submission: Submission, reasons: list[str]) -> None:
    """Members of this student's upload that could not be extracted make the submission invalid."""
    if reasons:
        submission.notebook = None
        submission.problem_status = "invalid"
        submission.problem = "the upload could not be unpacked: " + "; ".join(reasons)


def _is_canvas_folder(folder: Path, problem_names: list[str]) -> bool:
    names = [p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    names += [PurePosixPath(n).name for n in problem_names if len(PurePosixPath(n).parts) == 1]
    return bool(names) and sum(bool(CANVAS.match(n)) for n in names) >= max(1, len(names) // 2)


def _canvas(folder: Path, expected: str, staging: Path, problems: dict[str, str]) -> list[Submission]:
    by_student: dict[str, dict[str, tuple]] = {}
    late_of: dict[str, bool] = {}
    names: dict[str, str] = {}
    failed: dict[str, list[str]] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file() or p.is_symlink()):
        match = CANVAS.match(path.name)
        if match and path.is_symlink():  # never followed: it could point at any file the grader can read
            names.setdefault(match["sid"], clean_name(match["name"]))
            by_student.setdefault(match["sid"], {})
            failed.setdefault(match["sid"], []).append(f"{_short(match['file'])}: a symbolic link (refused)")
            continue
        if not match:
            print(f"autograder: ignored {clean(path.name)!r} (not a Canvas submission name)", file=sys.stderr)
            continue
        names.setdefault(match["sid"], clean_name(match["name"]))
        filename, resubmission = match["file"], 0
        resub = RESUBMISSION.match(filename)
        if resub:
            filename, resubmission = resub["stem"] + resub["ext"], int(resub["n"])
        key = (int(match["att"]), resubmission)
        files = by_student.setdefault(match["sid"], {})
        if filename not in files or key > files[filename][0]:
            files[filename] = (key, path, bool(match["late"]))
    for member, reason in problems.items():
        match = CANVAS.match(PurePosixPath(member).name)
        if match is None:
            print(f"autograder: could not unpack {member!r} ({reason}); it belongs to no student", file=sys.stderr)
            continue
        names.setdefault(match["sid"], clean_name(match["name"]))
        by_student.setdefault(match["sid"], {})
        failed.setdefault(match["sid"], []).append(f"{_short(PurePosixPath(member).name)}: {reason}")
    submissions = []
    for sid, files in sorted(by_student.items()):
        student_dir = staging / clean_student_id(sid)
        student_dir.mkdir(parents=True, exist_ok=True)
        for filename, (_, path, late) in files.items():
            try:
                shutil.copy2(path, student_dir / Path(filename).name)
            except OSError as error:  # a name that fits in the zip's folder but not after renaming
                failed.setdefault(sid, []).append(f"{_short(filename)}: could not be copied ({error.strerror})")
            late_of[sid] = late_of.get(sid, False) or (late and filename.endswith(".ipynb"))
        submission = Submission(clean_student_id(sid), late=late_of.get(sid, False), name=names.get(sid, ""))
        _choose_notebook(student_dir, expected, submission)
        _charge(submission, failed.get(sid, []))
        submissions.append(submission)
    return submissions


def _short(name: str, limit: int = 80) -> str:
    name = clean(name)
    return name if len(name) <= limit else f"{name[:limit - 20]}...{name[-16:]} ({len(name.encode())} bytes)"


def _unwrap(folder: Path) -> Path:
    """A zip of the submissions folder often has one top folder around the student folders."""
    while True:
        entries = [p for p in folder.iterdir() if p.name not in IGNORED_PARTS and not p.name.startswith(".")]
        if len(entries) == 1 and entries[0].is_dir() and not any(entries[0].glob("*.ipynb")) \
                and any(p.is_dir() for p in entries[0].iterdir()):
            folder = entries[0]
        else:
            return folder


def discover(path: Path, expected_notebook: str, workdir: Path, assignment_id: str | None = None,
             due: datetime | None = None) -> list[Submission]:
    """All submissions under ``path`` (a folder or a zip), one per student, sorted by student id.

    In nbgrader's exchange layout (``<student>/<assignment_id>/`` folders, as ``nbgrader collect`` writes them) a
    student's notebook is looked for only in their ``<assignment_id>/`` folder, and the ``timestamp.txt`` beside a
    notebook gives the submission time: late when after ``due`` (autograder.exchange)."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"submissions path {path} does not exist")
    problems: dict[str, str] = {}  # zip member -> why it could not be extracted
    unpacked = path.is_file()
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise UsageError(f"{path} is neither a folder nor a zip file")
        extracted = workdir / "extracted"
        extracted.mkdir(parents=True)
        for warning in safe_extract(path, extracted, problems):
            print(f"autograder: {warning}", file=sys.stderr)
        path = extracted
    root = _unwrap(path) if unpacked else path  # a folder given by hand is the submissions folder itself
    prefix = root.relative_to(path).parts
    local = {}  # problem member -> its path below root
    for member, reason in problems.items():
        parts = PurePosixPath(member).parts
        if parts[:len(prefix)] == prefix and len(parts) > len(prefix):
            local[str(PurePosixPath(*parts[len(prefix):]))] = reason
        else:
            print(f"autograder: could not unpack {member!r} ({reason}); it belongs to no student", file=sys.stderr)
    if _is_canvas_folder(root, list(local)):
        found = _canvas(root, expected_notebook, workdir / "canvas", local)
        if not found:
            raise UsageError(f"no Canvas submissions found in {path}")
        return found
    failed: dict[str, list[str]] = {}
    for member, reason in local.items():
        parts = PurePosixPath(member).parts
        if len(parts) < 2:
            print(f"autograder: could not unpack {member!r} ({reason}); it belongs to no student", file=sys.stderr)
            continue
        failed.setdefault(parts[0], []).append(f"{_short('/'.join(parts[1:]))}: {reason}")
    folders = set()
    for entry in root.iterdir():
        if not entry.is_dir():
            continue
        if entry.name == "__MACOSX" or ((entry.name in IGNORED_PARTS or entry.name.startswith("."))
                                        and not entry.is_symlink() and not _notebooks(entry)[0]):
            print(f"autograder: ignored the folder {clean(entry.name)!r} (no notebook in it, or an archive's "
                  "metadata)", file=sys.stderr)
            continue
        folders.add(entry.name)  # a folder named like a cache or hidden, with a notebook in it, is a student's
    exchange = assignment_id is not None and any(
        not (root / name).is_symlink() and (root / name / assignment_id).is_dir() for name in folders)
    submissions, seen = [], set()
    for folder_name in sorted(folders | set(failed)):
        student_id = folder_student_id(folder_name)
        if student_id in seen:  # two cleaned names with the same 6 hex digits: the name's longer digest
            student_id = folder_student_id(folder_name, digits=32)
        seen.add(student_id)
        submission = Submission(student_id)
        if folder_name in folders:
            folder = root / folder_name
            if exchange and not folder.is_symlink():
                _choose_in_exchange(folder, assignment_id, expected_notebook, submission)
            else:
                _choose_notebook(folder, expected_notebook, submission)
            _stamp(submission, folder, due)
        _charge(submission, failed.get(folder_name, []))
        submissions.append(submission)
    if not submissions:
        raise UsageError(f"no student folders found in {path} (expected one folder per student, or a Canvas zip)")
    return submissions
