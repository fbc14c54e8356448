"""The output folder of ``grade`` is an nbgrader course directory that formgrader opens for hand marking.

What nbgrader's formgrader needs (read from nbgrader 0.9's server_extensions/formgrader and apps/api.py):

* ``source/<id>/`` for the assignment to be listed (Manage Assignments), and the gradebook (``gradebook.db`` in
  the course root, nbgrader's default ``db_url``) holding the assignment, its notebook and cells;
* ``submitted/<student>/<id>/`` with ``timestamp.txt`` for a student to count as having submitted;
* ``autograded/<student>/<id>/<id>.ipynb`` for the submission to be shown and navigated in Manual Grading; the
  student counts as autograded when the gradebook's submission timestamp equals ``submitted/.../timestamp.txt``;
* in that notebook, every graded cell carries nbgrader metadata whose ``grade_id`` matches the gradebook:
  formgrader draws the score boxes and comment fields from it.

``nbgrader_config.py`` sets the course root to the folder itself, so ``jupyter lab`` started in it finds all this.

The autograded notebook is the instructor's notebook with the student's answers (autograder.assemble), the
verdict of each test cell as its output and errors under the cells that raised them. Formgrader renders Markdown
with raw HTML and any link target, so every Markdown cell that came from the student is pre-rendered and reduced to
safe HTML here (autograder.text.markdown_for_formgrader), and raw cells become escaped text.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from .assemble import MAX_NOTEBOOK_BYTES, STUDENT, assemble
from .grading import GradeResult, GradingKit, read_submission
from .source import MANUAL, TEST
from .submissions import Submission
from .text import RENDER_BUDGET_S, as_text_for_formgrader, clean, markdown_for_formgrader, plain_text_for_formgrader

BONUS_NOTE = (", bonus: extra credit, so formgrader's Code Score may exceed its maximum, which leaves the bonus "
              "out")
CONFIG_HEADER = "# Written by `python -m autograder grade`"
NBGRADER_CONFIG = CONFIG_HEADER + ''' for {id}: this folder is an nbgrader course directory (rewritten by each run).
# Hand marking: from the course environment run `jupyter lab` (or `jupyter notebook`) IN THIS FOLDER and open
# Nbgrader > Formgrader > Manual Grading; then `python -m autograder export --assignment ID --output THIS_FOLDER`.
import os

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
# `nbgrader export` here would overwrite the autograder's grades.csv (its default name): give it its own file
c.CsvExportPlugin.to = "nbgrader_export.csv"

# Formgrader's buttons, and the nbgrader commands they run, each do the right thing in this folder or say where it
# is done (autograder/formgrader.py): Autograde grades the student again with the course's grader, Generate Feedback
# writes the grader's feedback page, Generate keeps bonus cells as extra credit, and there is no exchange.
c.CourseDirectory.course_id = "grading-{id}"
c.Autograde.sanitize_preprocessors = []
c.Autograde.autograde_preprocessors = ["autograder.formgrader.RegradeStudent"]
c.GenerateFeedback.preprocessors = []
c.GenerateFeedback.exporter_class = "autograder.formgrader.FeedbackExporter"
c.ExchangeFactory.list = "autograder.formgrader.NoExchangeList"
c.ExchangeFactory.release_assignment = "autograder.formgrader.NoExchangeReleaseAssignment"
c.ExchangeFactory.collect = "autograder.formgrader.NoExchangeCollect"
c.ExchangeFactory.release_feedback = "autograder.formgrader.NoExchangeReleaseFeedback"
c.ExchangeFactory.fetch_assignment = "autograder.formgrader.NoExchangeFetchAssignment"
c.ExchangeFactory.fetch_feedback = "autograder.formgrader.NoExchangeFetchFeedback"
c.ExchangeFactory.submit = "autograder.formgrader.NoExchangeSubmit"


def _bonus_cells_stay_extra_credit(**_):
    from autograder.formgrader import after_generate_assignment

    after_generate_assignment(c.CourseDirectory.root)


c.GenerateAssignment.post_convert_hook = _bonus_cells_stay_extra_credit
'''


def prepare(output: Path, assignment_id: str, source_dir: Path, prepared: Path) -> None:
    """The course directory's fixed parts: config (an earlier run's is brought up to date; one written by someone
    else is kept), source/, release/ and (if absent) nbgrader's gradebook."""
    config = output / "nbgrader_config.py"
    if not config.exists() or config.read_text(encoding="utf-8", errors="replace").startswith(CONFIG_HEADER):
        config.write_text(NBGRADER_CONFIG.replace("{id}", assignment_id), encoding="utf-8")
    for name, origin in (("source", source_dir), ("release", prepared / "release" / assignment_id)):
        target = output / name / assignment_id
        if target.resolve() == Path(origin).resolve():
            continue
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(origin, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    if not (output / "gradebook.db").exists():
        shutil.copy2(prepared / "gradebook.db", output / "gradebook.db")


def release_metadata(release_notebook: Path) -> tuple[dict[str, dict], dict]:
    """grade_id -> the released cell's metadata (nbgrader's, with its checksum), and the notebook's metadata."""
    notebook = json.loads(release_notebook.read_text(encoding="utf-8"))
    cells = {}
    for cell in notebook["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id:
            cells.setdefault(grade_id, cell["metadata"])
    return cells, notebook.get("metadata", {})


def submission_folder(output: Path, kind: str, student_id: str, assignment_id: str) -> Path:
    return output / kind / student_id / assignment_id


def write_submission(output: Path, kit: GradingKit, submission: Submission, result: GradeResult,
                     release: tuple[dict[str, dict], dict], timestamp: str) -> None:
    """submitted/ (the file as handed in) and autograded/ (what formgrader shows) for one student."""
    submitted = submission_folder(output, "submitted", result.student_id, kit.assignment_id)
    autograded = submission_folder(output, "autograded", result.student_id, kit.assignment_id)
    for folder in (submitted, autograded):
        if folder.exists():
            shutil.rmtree(folder)
    if submission.notebook is None:
        return  # nothing was handed in: the gradebook alone records the zero
    submitted.mkdir(parents=True)
    size = submission.notebook.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:  # e.g. a sparse file of terabytes: not copied
        (submitted / f"{kit.assignment_id}.ipynb.too-large.txt").write_text(
            f"The file handed in was {size:,} bytes, over the limit of {MAX_NOTEBOOK_BYTES:,}: not copied.\n",
            encoding="utf-8")
    else:
        shutil.copyfile(submission.notebook, submitted / f"{kit.assignment_id}.ipynb")
    (submitted / "timestamp.txt").write_text(timestamp, encoding="utf-8")
    _write_autograded(autograded, submission, kit, result, release, timestamp)


def _write_autograded(autograded: Path, submission: Submission, kit: GradingKit, result: GradeResult,
                      release: tuple[dict[str, dict], dict], timestamp: str) -> bool:
    notebook, unrunnable = read_submission(submission, kit)
    if unrunnable is not None:
        return False  # unreadable: the raw file in submitted/ is all there is to look at
    autograded.mkdir(parents=True, exist_ok=True)
    document = autograded_notebook(notebook, kit, result, release)
    (autograded / f"{kit.assignment_id}.ipynb").write_text(json.dumps(document, indent=1, ensure_ascii=False),
                                                           encoding="utf-8", errors="replace")
    (autograded / "timestamp.txt").write_text(timestamp, encoding="utf-8")
    return True


def rewrite_autograded(output: Path, source, release: tuple[dict[str, dict], dict], record,
                       replace: bool = False) -> bool:
    """Write the autograded notebook of a journal ``record`` again when it is missing (a formgrader button or a
    hand removed it), or with ``replace`` in any case: the same notebook, from submitted/ and the recorded result.
    True when written."""
    result, assignment_id = record.result, source.assignment_id
    autograded = submission_folder(output, "autograded", result.student_id, assignment_id)
    submitted = submission_folder(output, "submitted", result.student_id, assignment_id)
    notebook = submitted / f"{assignment_id}.ipynb"
    if ((autograded / f"{assignment_id}.ipynb").is_file() and not replace) or result.status in ("missing", "invalid") \
            or notebook.is_symlink() or not notebook.is_file():
        return False
    stamp = submitted / "timestamp.txt"
    timestamp = stamp.read_text(encoding="utf-8").strip() if stamp.is_file() else record.at
    kit = GradingKit(assignment_id, "", source, output, 0.0, 0.0)
    return _write_autograded(autograded, Submission(result.student_id, notebook=notebook), kit, result, release,
                             timestamp)


def restore_missing(output: Path, records: dict, source) -> list[str]:
    """Every missing autograded notebook written again (:func:`rewrite_autograded`); returns those students."""
    release_notebook = output / "release" / source.assignment_id / f"{source.assignment_id}.ipynb"
    if not release_notebook.is_file():
        return []
    release = release_metadata(release_notebook)
    return [student for student, record in records.items() if rewrite_autograded(output, source, release, record)]


def autograded_notebook(notebook: dict, kit: GradingKit, result: GradeResult,
                        release: tuple[dict[str, dict], dict]) -> dict:
    released_cells, notebook_metadata = release
    assembled = assemble(notebook, kit.source)
    verdicts = {c.grade_id: c for c in result.cells}
    errors = {e["position"]: e["error"] for e in result.cell_errors}
    attachments = _attachments(notebook)
    render_until = time.monotonic() + RENDER_BUDGET_S  # one notebook's answers cannot stall the batch
    cells = []
    for cell in assembled.cells:
        metadata = json.loads(json.dumps(released_cells.get(cell.grade_id, {}))) if cell.grade_id else {}
        cell_type, source = cell.cell_type, cell.source
        from_student = cell.origin == "student"
        if from_student and cell_type == "markdown" and time.monotonic() > render_until:
            source = as_text_for_formgrader(source, f"the answers took over {RENDER_BUDGET_S:g} s to render")
        elif from_student and cell_type == "markdown":
            source = markdown_for_formgrader(source, attachments.get(cell.grade_id) if cell.role == MANUAL else None)
        elif from_student and cell_type == "raw":
            cell_type, source = "markdown", plain_text_for_formgrader(source)
        if cell.role == STUDENT:
            metadata = {}
        entry = {"id": f"cell-{cell.position}", "cell_type": cell_type, "metadata": metadata, "source": source}
        if cell_type == "code":
            entry["execution_count"] = None
            entry["outputs"] = _outputs(cell, verdicts, errors)
        cells.append(entry)
    return {"cells": cells, "metadata": {k: v for k, v in notebook_metadata.items() if k in ("kernelspec",
                                                                                           "language_info")},
            "nbformat": 4, "nbformat_minor": 5}


def _attachments(notebook: dict) -> dict[str, dict]:
    """grade_id -> the attachments of the student's first cell with that grade_id."""
    found = {}
    for cell in notebook.get("cells", []):
        if not isinstance(cell, dict):
            continue
        metadata = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        nbgrader = metadata.get("nbgrader") if isinstance(metadata.get("nbgrader"), dict) else {}
        grade_id = nbgrader.get("grade_id")
        if isinstance(grade_id, str) and isinstance(cell.get("attachments"), dict):
            found.setdefault(grade_id, cell["attachments"])
    return found


def _outputs(cell, verdicts: dict, errors: dict[int, str]) -> list[dict]:
    outputs = []
    if cell.role == TEST and cell.grade_id in verdicts:
        verdict = verdicts[cell.grade_id]
        text = "\n".join(verdict.messages) or ("passed" if verdict.passed else "failed")
        outputs.append({"output_type": "stream", "name": "stdout",
                        "text": f"[autograder] {'PASSED' if verdict.passed else 'FAILED'} "
                                f"({verdict.points:g} / {verdict.max_points:g} points"
                                f"{BONUS_NOTE if verdict.bonus else ''})\n{clean(text)}\n"})
    if cell.position in errors:
        outputs.append({"output_type": "stream", "name": "stderr",
                        "text": f"[autograder] this cell raised: {clean(errors[cell.position])}\n"})
    return outputs
