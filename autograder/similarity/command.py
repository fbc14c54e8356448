"""``python -m autograder similarity``: which submissions of a class are suspiciously alike.

1. find the submissions exactly as ``grade`` does (autograder.submissions.discover: a folder, a zip, a Canvas zip,
   nbgrader's exchange layout; the same ids, the same refusals), and those of every ``--archive`` (earlier terms);
2. take each student's own code (autograder.similarity.extract), the released template removed;
3. fingerprint and compare with copydetect (autograder.similarity.engine): every pair of this class, and every
   student of this class against every archived one (archived students are not compared with each other);
4. write ``similarity.csv`` (every pair, highest score first), ``students.csv`` (every student, compared or why
   not) and ``report.html`` (the top pairs side by side, matched code highlighted) into the output folder.

A notebook that cannot be read is listed in students.csv, the report and on the terminal; it never stops the rest.
"""

from __future__ import annotations

import itertools
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..course import Assignment, UsageError
from ..submissions import clean_student_id, discover
from . import engine
from .extract import StudentCode, Template, Unreadable, read_student
from .report import write_outputs

OUTPUT_FILES = {"similarity.csv", "students.csv", "report.html"}
DEFAULT_TOP = 40


@dataclass
class SimilarityResult:
    output: Path
    students: list  # StudentCode | Unreadable, this class first, then the archives
    pairs: list[engine.PairRow]  # every pair, highest score first
    shown: list[engine.PairResult]  # the top pairs, with their matched character ranges (the report's)
    failed: dict[str, str] = field(default_factory=dict)  # key -> why copydetect could not fingerprint it
    seconds: float = 0.0  # reading, fingerprinting and comparing (the report's own writing not included)


def say(message: str) -> None:
    print(f"autograder: {message}", file=sys.stderr, flush=True)


class _Step:
    """``with _Step("comparing"):`` says what starts, then how long it took (on the same line)."""

    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        self.start = time.perf_counter()
        print(f"autograder: {self.what} ...", file=sys.stderr, flush=True, end="")

    def __exit__(self, kind, *rest):
        print(" failed" if kind else f" ({time.perf_counter() - self.start:.1f} s)", file=sys.stderr, flush=True)


def release_notebook(assignment: Assignment) -> Path:
    """The notebook the students were given: exercises/<id>/<id>.ipynb, else nbgrader's release of the source."""
    released = assignment.release_dir / assignment.notebook_name
    if released.is_file():
        return released
    from ..batch import _bonus_cells
    from ..nbgrader_cli import prepared_assignment, source_digest

    say(f"{released} does not exist: making the release with nbgrader generate_assignment")
    folder, _ = prepared_assignment(assignment, _bonus_cells(assignment), source_digest(assignment))
    return folder / "release" / assignment.id / assignment.notebook_name


def check_output_folder(output: Path) -> None:
    """An output folder is new, empty, or an earlier similarity report (whose three files are replaced)."""
    if not output.exists():
        return
    if not output.is_dir():
        raise UsageError(f"--output {output} exists and is not a folder")
    others = sorted(p.name for p in output.iterdir() if p.name not in OUTPUT_FILES)
    if others:
        raise UsageError(f"--output {output} holds other files ({', '.join(others[:5])}): choose a new or empty "
                         f"folder, or an earlier similarity report's")


def archive_labels(archives: list[Path]) -> list[str]:
    """A short, unique, safe label per archive (its file or folder name), used as "<label>/<student id>"."""
    labels: list[str] = []
    for path in archives:
        base = clean_student_id(Path(path).name.removesuffix(".zip")) or "archive"
        label, number = base, 2
        while label in labels:
            label, number = f"{base}-{number}", number + 1
        labels.append(label)
    return labels


def read_class(path: Path, assignment: Assignment, template: Template, workdir: Path,
               origin: str) -> list[StudentCode | Unreadable]:
    """Every student of one upload, read as grading reads it."""
    students: list[StudentCode | Unreadable] = []
    for submission in discover(path, assignment.notebook_name, workdir):
        key = submission.student_id if origin == "current" else f"{origin}/{submission.student_id}"
        if submission.problem is not None or submission.notebook is None:
            students.append(Unreadable(key, submission.student_id, origin, submission.problem_status,
                                       submission.problem or "no notebook"))
            continue
        code = read_student(submission.notebook, template, key, submission.student_id, origin)
        if isinstance(code, StudentCode):
            code.notes += submission.notes
            code.name = submission.name
        students.append(code)
    return students


def run_similarity(assignment: Assignment, submissions: Path, output: Path, archives: list[Path] = (),
                   top: int = DEFAULT_TOP, workers: int = 2, release: Path | None = None) -> SimilarityResult:
    start = time.perf_counter()
    check_output_folder(output)
    template = Template.from_release(release or release_notebook(assignment), assignment.source_notebook)
    students: list[StudentCode | Unreadable] = []
    with tempfile.TemporaryDirectory(prefix="autograder-similarity-") as tmp:
        with _Step(f"reading the submissions in {submissions}"):
            students += read_class(Path(submissions), assignment, template, Path(tmp) / "current", "current")
        for number, (path, label) in enumerate(zip(archives, archive_labels(list(archives)), strict=True)):
            if not Path(path).exists():
                raise UsageError(f"--archive {path} does not exist")
            say(f"reading the archive {path} (as {label}/...)")
            students += read_class(Path(path), assignment, template, Path(tmp) / f"archive{number}", label)
    current = [s for s in students if isinstance(s, StudentCode) and s.origin == "current"]
    archived = [s for s in students if isinstance(s, StudentCode) and s.origin != "current"]
    texts = {s.key: s.text for s in current + archived if s.text.strip()}
    with _Step(f"fingerprinting the code of {len(texts)} student(s) with copydetect"):
        prints, failed = engine.fingerprints(texts, template.code, workers=max(1, workers)) if texts else ({}, {})
    current = [s for s in current if s.key not in failed]  # listed as not compared, in no pair
    archived = [s for s in archived if s.key not in failed]
    pairs = list(itertools.combinations([s.key for s in current], 2))
    pairs += [(a.key, b.key) for a in current for b in archived]
    codes = {s.key: s for s in current + archived}
    with _Step(f"comparing {len(pairs):,} pair(s)"):
        rows = engine.pair_rows(pairs, prints, codes)
        rows.sort(key=lambda r: (-r.score, -min(r.share_a, r.share_b), r.a, r.b))
        shown = engine.compare_all([(r.a, r.b) for r in rows[:top] if r.score > 0], prints)
    result = SimilarityResult(output, students, rows, shown, failed, time.perf_counter() - start)
    output.mkdir(parents=True, exist_ok=True)
    with _Step("writing similarity.csv, students.csv and report.html"):
        write_outputs(result, assignment.id)
    _tell(result)
    return result


def _tell(result: SimilarityResult) -> None:
    unreadable = [s for s in result.students if isinstance(s, Unreadable)]
    for student in unreadable:
        say(f"not compared: {student.key} ({student.status}: {student.reason})")
    for key, reason in result.failed.items():
        say(f"not compared: {key} ({reason})")
    blank = [s.key for s in result.students if isinstance(s, StudentCode) and not s.text.strip()]
    if blank:
        say(f"{len(blank)} notebook(s) hold no code of their own (only the released template): "
            f"{', '.join(blank[:10])}" + (" ..." if len(blank) > 10 else ""))
