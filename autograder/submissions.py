"""Find the submissions in what the instructor downloaded.

* a folder with one sub-folder per student (``alice/ps3_elbo.ipynb``), or a zip of that (possibly wrapped in one
  top folder);
* a Canvas / Quercus download zip (or its extracted folder): flat files named
  ``name_studentid_attachmentid_<file>`` or ``name_LATE_studentid_attachmentid_<file>``; a resubmission may carry a
  ``-1``, ``-2`` suffix; the newest attachment wins.

Each student gets a :class:`Submission` with the notebook to grade, or a problem (missing / invalid) with a reason.
Zips are extracted safely: no absolute paths, no ``..``, no links, bounded size and member count.
"""

from __future__ import annotations

import re
import shutil
import stat
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .course import UsageError

MAX_ZIP_TOTAL_BYTES = 4 * 1024**3
MAX_ZIP_MEMBER_BYTES = 512 * 1024**2
MAX_ZIP_MEMBERS = 200_000
IGNORED_PARTS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__"}
CANVAS = re.compile(r"^(?P<name>.+?)(?P<late>_LATE)?_(?P<sid>\d+)_(?P<att>\d+)_(?P<file>.+)$", re.IGNORECASE)
RESUBMISSION = re.compile(r"^(?P<stem>.+?)-(?P<n>\d+)(?P<ext>\.[^.]+)$")
STUDENT_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+-]")


@dataclass
class Submission:
    student_id: str
    notebook: Path | None = None
    late: bool = False
    notes: list[str] = field(default_factory=list)
    problem: str | None = None  # why there is nothing to run
    problem_status: str = "missing"  # "missing" or "invalid"


def clean_student_id(raw: str) -> str:
    cleaned = STUDENT_ID_UNSAFE.sub("_", raw.strip())[:128].strip("._") or "unknown"
    return cleaned


def _ignored(path: Path, root: Path) -> bool:
    return any(part in IGNORED_PARTS or part.startswith(".") for part in path.relative_to(root).parts)


def safe_extract(archive: Path, target: Path) -> list[str]:
    """Extract ``archive`` into ``target``; returns warnings about skipped members. Raises UsageError for a zip
    that is not one or exceeds the size limits."""
    warnings = []
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as error:
        raise UsageError(f"{archive} is not a readable zip file ({error})") from None
    with zf:
        members = zf.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise UsageError(f"{archive} has {len(members)} entries (the limit is {MAX_ZIP_MEMBERS})")
        total = 0
        for info in members:
            name = info.filename.replace("\\", "/")
            parts = PurePosixPath(name).parts
            if (name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts or not parts
                    or any(p in ("", ".") for p in parts if p != "/")):
                warnings.append(f"skipped unsafe path in zip: {info.filename!r}")
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                warnings.append(f"skipped link in zip: {info.filename!r}")
                continue
            destination = target.joinpath(*parts)
            if info.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            with zf.open(info) as source, open(destination, "wb") as sink:
                while chunk := source.read(1 << 20):
                    written += len(chunk)
                    total += len(chunk)
                    if written > MAX_ZIP_MEMBER_BYTES:
                        raise UsageError(f"{archive}: {info.filename!r} is larger than "
                                         f"{MAX_ZIP_MEMBER_BYTES >> 20} MB uncompressed")
                    if total > MAX_ZIP_TOTAL_BYTES:
                        raise UsageError(f"{archive} is larger than {MAX_ZIP_TOTAL_BYTES >> 30} GB uncompressed")
                    sink.write(chunk)
    return warnings


def _choose_notebook(folder: Path, expected: str, submission: Submission) -> None:
    candidates = sorted((p for p in folder.rglob("*.ipynb") if p.is_file() and not _ignored(p, folder)),
                        key=lambda p: (len(p.relative_to(folder).parts), str(p)))
    exact = [p for p in candidates if p.name == expected]
    if exact:
        submission.notebook = exact[0]
        if len(exact) > 1:
            submission.notes.append(f"Several files named {expected}; graded {exact[0].relative_to(folder)}.")
    elif len(candidates) == 1:
        submission.notebook = candidates[0]
        submission.notes.append(f"Expected {expected}; graded {candidates[0].relative_to(folder)} instead "
                                f"(please keep the file name).")
    elif not candidates:
        submission.problem = f"no notebook in the submission (expected {expected})"
        submission.problem_status = "missing"
    else:
        names = ", ".join(str(p.relative_to(folder)) for p in candidates[:5])
        submission.problem = f"{len(candidates)} notebooks and none named {expected}: {names}"
        submission.problem_status = "invalid"


def _is_canvas_folder(folder: Path) -> bool:
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    return bool(files) and sum(bool(CANVAS.match(p.name)) for p in files) >= max(1, len(files) // 2)


def _canvas(folder: Path, expected: str, staging: Path) -> list[Submission]:
    by_student: dict[str, dict[str, tuple]] = {}
    late_of: dict[str, bool] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        match = CANVAS.match(path.name)
        if not match:
            print(f"autograder: ignored {path.name} (not a Canvas submission name)", file=sys.stderr)
            continue
        filename, resubmission = match["file"], 0
        resub = RESUBMISSION.match(filename)
        if resub:
            filename, resubmission = resub["stem"] + resub["ext"], int(resub["n"])
        key = (int(match["att"]), resubmission)
        files = by_student.setdefault(match["sid"], {})
        if filename not in files or key > files[filename][0]:
            files[filename] = (key, path, bool(match["late"]))
    submissions = []
    for sid, files in sorted(by_student.items()):
        student_dir = staging / clean_student_id(sid)
        student_dir.mkdir(parents=True, exist_ok=True)
        for filename, (_, path, late) in files.items():
            shutil.copy2(path, student_dir / Path(filename).name)
            late_of[sid] = late_of.get(sid, False) or (late and filename.endswith(".ipynb"))
        submission = Submission(clean_student_id(sid), late=late_of.get(sid, False))
        _choose_notebook(student_dir, expected, submission)
        submissions.append(submission)
    return submissions


def _unwrap(folder: Path) -> Path:
    """A zip of the submissions folder often has one top folder around the student folders."""
    while True:
        entries = [p for p in folder.iterdir() if p.name not in IGNORED_PARTS and not p.name.startswith(".")]
        if len(entries) == 1 and entries[0].is_dir() and not any(entries[0].glob("*.ipynb")) \
                and any(p.is_dir() for p in entries[0].iterdir()):
            folder = entries[0]
        else:
            return folder


def discover(path: Path, expected_notebook: str, workdir: Path) -> list[Submission]:
    """All submissions under ``path`` (a folder or a zip), one per student, sorted by student id."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"submissions path {path} does not exist")
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise UsageError(f"{path} is neither a folder nor a zip file")
        extracted = workdir / "extracted"
        extracted.mkdir(parents=True)
        for warning in safe_extract(path, extracted):
            print(f"autograder: {warning}", file=sys.stderr)
        path = extracted
    root = _unwrap(path)
    if _is_canvas_folder(root):
        found = _canvas(root, expected_notebook, workdir / "canvas")
        if not found:
            raise UsageError(f"no Canvas submissions found in {path}")
        return found
    submissions, seen = [], set()
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in IGNORED_PARTS
                         and not p.name.startswith(".")):
        student_id = clean_student_id(folder.name)
        while student_id in seen:
            student_id += "_"
        seen.add(student_id)
        submission = Submission(student_id)
        _choose_notebook(folder, expected_notebook, submission)
        submissions.append(submission)
    if not submissions:
        raise UsageError(f"no student folders found in {path} (expected one folder per student, or a Canvas zip)")
    return submissions
