"""``python -m autograder new ASSIGNMENT_ID --function NAME [...]``: the files of a new exercise, ready to fill in.

It writes, for a problem set with one graded function per ``--function`` (``NAME`` or ``"NAME(arg, ...)"``):

* ``solutions/<id>/<id>.ipynb``: the nbgrader source notebook with nbgrader's metadata set (unique grade ids,
  schema 3, locked cells, points): an introduction, a setup cell, and per function a part with an answer cell (the
  solution between ``### BEGIN SOLUTION`` and ``### END SOLUTION``) and a test cell whose visible check runs on
  the fixed cases and whose hidden check, between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``, on
  cases drawn when grading; then a written answer with its rubric cell before it;
* ``autograder/student/cases/<id>.py`` (student side, mounted in the sandbox): per check, how its cases are drawn
  and how the student's function is called, registered under the function's name;
* ``autograder/judging/<id>.py`` (grader side): per check, the reference and the comparison, the book section to
  read, what the check tests, and the wrong implementations (mutants) that must fail it; paired with the probe by
  that same name;
* the assignment's settings (title, time limits) in ``autograder/assignments.py``, and, for the chapter of
  ``--section``, the link from the chapter's exercises section (``exercise_notebooks`` in ``_config.yml``).

Both check modules are found by name (autograder/student/cases/__init__.py, autograder/judging/_discover.py); the
tests find the assignment in solutions/. What is left to write is marked ``TODO``: tests/test_assignment_completeness.py
names each one still there, with what to write and why. The guide is book/guide_adding_an_exercise.md.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from .course import ASSIGNMENT_ID, UsageError

PACKAGE = Path(__file__).resolve().parent
REPOSITORY = PACKAGE.parent
FUNCTION = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)\s*(?:\((?P<args>[^()]*)\))?\s*$")
POSITIVE = ("sigma", "std", "scale", "var", "tau", "rate", "temperature")  # arguments drawn positive
TODO = "TODO"
DRAW, DRAW_POSITIVE = "rng.normal(0, 2, size=n)", "rng.uniform(0.5, 2.0, size=n)"
LABEL_LINE = re.compile(r"^\((?P<label>[\w-]+)\)=\s*\n+#+\s*(?P<title>.+)$", re.M)


@dataclass(frozen=True)
class Function:
    name: str
    args: tuple[str, ...]

    def positive(self, arg: str) -> bool:
        return arg.lower().startswith(POSITIVE)


def parse_function(spec: str) -> Function:
    match = FUNCTION.match(spec)
    if not match:
        raise UsageError(f"--function {spec!r}: give a name (kl_two_gaussians) or a signature "
                         f"(\"kl_two_gaussians(mu1, sigma1, mu2, sigma2)\")")
    args = tuple(a.strip() for a in (match["args"] or "x").split(",") if a.strip())
    bad = [a for a in args if not a.isidentifier()]
    if bad or not args:
        raise UsageError(f"--function {spec!r}: the arguments must be plain names (no defaults or types)")
    return Function(match["name"], args)


# ---------------------------------------------------------------------------------------------- the book
def book_sections(root: Path = REPOSITORY) -> dict[str, tuple[str, str]]:
    """label -> (document, heading) of every labelled heading of the chapters: what feedback may link to."""
    from .judging.sections import CHAPTERS

    found = {}
    for document, _ in CHAPTERS.values():
        path = root / "book" / f"{document}.md"
        if not path.is_file():
            continue
        prose = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
        for match in LABEL_LINE.finditer(prose):
            found[match["label"]] = (document, match["title"].strip())
    return found


def describe_sections(root: Path = REPOSITORY) -> str:
    lines = []
    for label, (document, title) in book_sections(root).items():
        lines.append(f"  {label:34} {document}: {title}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- the notebook
def _cell(cell_type: str, grade_id: str, source: str, *, solution: bool = False, grade: bool = False,
          points: float = 0, locked: bool = True) -> dict:
    nbgrader = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
                "task": False}
    if grade:
        nbgrader["points"] = points
    cell = {"cell_type": cell_type, "id": grade_id, "metadata": {"nbgrader": nbgrader}, "source": source}
    if cell_type == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def notebook(assignment_id: str, title: str, functions: list[Function], readings: list[tuple[str, str, str]],
             points: float, written_points: float) -> dict:
    chapter = readings[0] if readings else None
    goes_with = (f"This problem set goes with **{chapter[1]}** of the book, section \"{chapter[2]}\"."
                 if chapter else f"{TODO}: which chapter and section of the book this problem set goes with.")
    intro = f"""# {title}

{goes_with}

{TODO}: two or three sentences on what the student will do and why.

**How this notebook is graded.** Write your code only in the cells that say `# YOUR CODE HERE` and keep the
function names and signatures. Each function is followed by a locked test cell worth the points shown in it: the
**visible tests** run on small fixed inputs (run the cell, or `python -m autograder check {assignment_id}.ipynb` in
a terminal); the grader adds **hidden tests** on inputs drawn when grading. A failed test says what was checked,
what came back and which section of the book to read. Return exactly what the docstring promises: a torch.Tensor
of a floating dtype and the stated shape. The written answer is marked by hand against the rubric above it."""
    cells = [_cell("markdown", "intro", intro), _cell("code", "setup", "import torch\n\ntorch.manual_seed(0)")]
    for number, function in enumerate(functions, start=1):
        signature = ", ".join(function.args)
        arguments = "\n".join(f"        {arg}: tensor of shape (n,){' (positive)' if function.positive(arg) else ''}, "
                              f"{TODO}: what it is." for arg in function.args)
        cells += [
            _cell("markdown", f"part{number}", f"## {number}. `{function.name}`\n\n{TODO}: what to implement, with the "
                                              f"formula (LaTeX between $$ ... $$) and the book section to read."),
            _cell("code", function.name, f'''def {function.name}({signature}):
    """{TODO}: what it returns, in one line.

    Args:
{arguments}

    Returns:
        tensor of shape (n,), {TODO}: what it is.
    """
    ### BEGIN SOLUTION
    raise NotImplementedError("{TODO}: the solution")
    ### END SOLUTION''', solution=True, locked=False),
            _cell("code", f"test_{function.name}", f'''from autograder.checks import check

check("{function.name}", {function.name})
### BEGIN HIDDEN TESTS
check("{function.name}", {function.name}, kind="hidden")
### END HIDDEN TESTS''', grade=True, points=points),
        ]
    number = len(functions) + 1
    cells += [
        _cell("markdown", "written_rubric", f"""## {number}. Written answer

**Question.** {TODO}: the question.

**How this will be marked ({written_points:g} points).**
* {TODO}: what earns each point."""),
        _cell("markdown", "written_answer", f"{TODO}: a model answer (students see an empty cell; formgrader shows "
                                            f"theirs beside the rubric).", solution=True, grade=True,
              points=written_points, locked=False),
    ]
    return {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                                        "name": "python3"},
                                         "language_info": {"name": "python", "version": "3.11"}},
            "nbformat": 4, "nbformat_minor": 5}


# ---------------------------------------------------------------------------------------------- the two modules
def cases_module(assignment_id: str, functions: list[Function]) -> str:
    blocks = []
    for function in functions:
        visible = "".join(f'            "{a}": np.array({[round(v * (1 + 0.5 * i), 3) for v in (0.5, 1.0, 2.0)]}),\n'
                          for i, a in enumerate(function.args))
        hidden = "".join(f'        "{a}": {DRAW_POSITIVE if function.positive(a) else DRAW},\n' for a in function.args)
        names = ", ".join(f'"{a}"' for a in function.args) + ("," if len(function.args) == 1 else "")
        blocks.append(f'''

def _{function.name}_cases(rng, kind):
    """Visible: fixed inputs the student sees (make them ones where a wrong answer shows). Hidden: drawn from the
    grader's seed; sizes 1 and 2 catch code that assumes more, 40 a loop that is right only by luck."""
    if kind == "visible":
        return [{{
{visible}        }}]
    return [{{
{hidden}    }} for n in (1, 2, 40)]


def _{function.name}_call(func, case):
    return func(*(as_tensor(case[name]) for name in ({names})))


register_probe(Probe("{function.name}", cases=_{function.name}_cases, call=_{function.name}_call))
''')
    return f'''"""{assignment_id}: how each check draws its cases and calls the student's function.

Student side: mounted in the grading sandbox (and run by the student's own `check`), so it holds inputs only,
never an answer. A check's cases are plain data (numbers, numpy arrays) drawn from a seed: ``kind == "visible"``
gives the fixed cases of the visible test, ``"hidden"`` random ones drawn when grading; the call turns a case into
float32 tensors (as the notebook uses) and calls the student's function. The matching judges (the references,
tolerances and messages) are in autograder/judging/{assignment_id}.py, paired by the check's name.

Arguments named like a scale (sigma, std, scale, var, ...) are drawn positive; change the ranges and shapes to what
the docstring allows, and add the awkward inputs a correct function must handle (large values, n = 1, ...).
"""

from __future__ import annotations

import numpy as np

from ..probes import Probe, register_probe
from .common import as_tensor
{"".join(blocks)}'''


def judge_module(assignment_id: str, functions: list[Function], readings: list[tuple[str, str, str]]) -> str:
    blocks = []
    for function in functions:
        loads = "".join(f'    {a} = np.asarray(case["{a}"], np.float32).astype(np.float64)\n' for a in function.args)
        if readings:
            section = ", ".join(f'Reading("{label}", "{title}")' for label, _, title in readings)
        else:
            section = f'Reading("{TODO}-label", "{TODO}: the heading")'
        blocks.append(f'''

def _{function.name}_assess(case, value):
{loads}    expected = todo("the right answer for these inputs, in float64 (numpy)", {", ".join(function.args)})
    actual = expect_tensor(value, shape=np.shape(expected), what="{TODO}: what the function returns")
    expect_close(actual, expected, rtol=1e-4, atol=1e-5, what="{TODO}: what the function returns")


register_judge(Judge(
    name="{function.name}",
    assess=_{function.name}_assess,
    section=({section},),
    what="{TODO}: what the function must return, as a student reads it above a failure",
))
''')
    function = functions[0]
    example = f"""    # A worked example: uncomment it, make it one of yours, and add more like it.
    # Misconception(
    #     "{function.name}_sign_flipped", A, "{function.name}", ("{function.name}",),
    #     "the sign flipped",
    #     "You returned minus the right value: ... (one to three sentences for the student: what they "
    #     "probably did and why it is wrong).",
    #     READ, \'\'\'
# def {function.name}({", ".join(function.args)}):
#     return -(...)
# \'\'\'),"""
    read = (f'Reading("{readings[0][0]}", "{readings[0][2]}")' if readings
            else f'Reading("{TODO}-label", "{TODO}: the heading")')
    return f'''"""{assignment_id}: how each check's returned values are judged (grader side only, never mounted in the
sandbox).

The cases are drawn by autograder/student/cases/{assignment_id}.py from the same seed, under the same name. A judge
recomputes the right answer from the case (the float32 inputs the student's function was given, in float64) and
compares: expect_tensor checks the type, dtype and shape the docstring promises, expect_close the values (up to
float32 rounding: rtol 1e-4, atol 1e-5). A failure says what was checked ("what"), what came back and which section
of the book to read ("section", a labelled heading: `python -m autograder new --sections` lists them).

A worked example, for a check of ``mean_of_squares(x)``:

    def _mean_of_squares_assess(case, value):
        x = np.float32(case["x"]).astype(np.float64)
        expected = np.mean(x ** 2)
        expect_close(expect_scalar(value, "the mean"), expected, rtol=1e-4, atol=1e-5, what="the mean of x^2")
"""

from __future__ import annotations

import numpy as np

from .authoring import todo  # noqa: F401  (delete this line when no todo() is left)
from .base import Judge, register_judge
from .compare import expect_close, expect_tensor
from .misconceptions import Misconception, register
from .sections import Reading

A = "{assignment_id}"
{"".join(blocks)}

# What students get wrong here, each defined by the wrong implementation a student with that idea would write
# (a sign, a square root, a variance for a standard deviation, a sum where a mean belongs, ...). Each one is graded
# as a mutant under 20 grading seeds (it must fail its check on every one: what shows that the judge catches it),
# and when a student's outputs match it on every case, their feedback names it with its text and section. Write at
# least 3 (one per check at least), whose outputs differ from each other's.
# the section a misconception sends the student to (another one where it fits better)
READ = {read}
HELPERS = """
import math

import torch
"""  # the notebook's imports (and its other functions, correct, if the wrong implementations call them)
MISCONCEPTIONS: list[Misconception] = [
{example}
]
register(A, HELPERS, MISCONCEPTIONS)
'''


# ---------------------------------------------------------------------------------------------- registration
def add_settings(path: Path, assignment_id: str, title: str, cell_timeout_s: float, notebook_timeout_s: float) -> None:
    """Insert the assignment's AssignmentConfig into the ASSIGNMENTS dict of autograder/assignments.py."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    target = next((node for node in tree.body if isinstance(node, ast.AnnAssign | ast.Assign)
                   and "ASSIGNMENTS" in ast.unparse(node.targets[0] if isinstance(node, ast.Assign) else node.target)
                   and isinstance(node.value, ast.Dict)), None)
    if target is None:
        raise UsageError(f"{path} has no ASSIGNMENTS = {{...}} dict to add {assignment_id} to")
    if assignment_id in [ast.literal_eval(key) for key in target.value.keys]:
        raise UsageError(f"{path} already has settings for {assignment_id}")
    lines = text.splitlines(keepends=True)
    closing = target.end_lineno - 1  # the line with the closing brace
    head = f'    "{assignment_id}": AssignmentConfig('
    entry = (f"{head}cell_timeout_s={float(cell_timeout_s)!r}, notebook_timeout_s={float(notebook_timeout_s)!r},\n"
             f"{' ' * len(head)}title={json.dumps(title, ensure_ascii=False)}),\n")
    lines.insert(closing, entry)
    path.write_text("".join(lines), encoding="utf-8")


def link_from_book(config: Path, assignment_id: str, document: str) -> bool:
    """List the exercise in ``exercise_notebooks`` of _config.yml for its chapter and the introduction (the
    exercises section of each links the notebook). False when the setting is not there."""
    lines = config.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == "exercise_notebooks:"), None)
    if start is None:
        return False
    indent = len(lines[start + 1]) - len(lines[start + 1].lstrip())
    end = start + 1
    while end < len(lines) and lines[end].strip() and len(lines[end]) - len(lines[end].lstrip()) >= indent:
        end += 1
    for page in ("book/intro", f"book/{document}"):
        for i in range(start + 1, end):
            key, _, value = lines[i].strip().partition(":")
            if key == page:
                ids = [x.strip() for x in value.strip().strip("[]").split(",") if x.strip()]
                if assignment_id not in ids:
                    ids.append(assignment_id)
                lines[i] = f"{' ' * indent}{page}: [{', '.join(ids)}]\n"
                break
        else:
            lines.insert(end, f"{' ' * indent}{page}: [{assignment_id}]\n")
            end += 1
    config.write_text("".join(lines), encoding="utf-8")
    return True


# ---------------------------------------------------------------------------------------------- the command
def new_assignment(assignment_id: str, function_specs: list[str], title: str | None = None,
                   sections: list[str] = (), points: float = 2.0, written_points: float = 2.0,
                   cell_timeout_s: float = 30.0, notebook_timeout_s: float = 120.0,
                   course_root: Path = REPOSITORY, package: Path = PACKAGE) -> list[Path]:
    """Write the new assignment's files (refusing to overwrite any); returns them, in the order to fill them in."""
    if not ASSIGNMENT_ID.match(assignment_id) or not assignment_id.isidentifier():
        raise UsageError(f"{assignment_id!r} is not a usable assignment id: letters, digits and _ (it names a "
                         f"Python module), e.g. ps5_kl")
    targets = {
        "notebook": Path(course_root) / "solutions" / assignment_id / f"{assignment_id}.ipynb",
        "cases": package / "student" / "cases" / f"{assignment_id}.py",
        "judge": package / "judging" / f"{assignment_id}.py",
    }
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing:
        raise UsageError(f"{assignment_id} exists already: {', '.join(existing)}")
    functions = [parse_function(spec) for spec in function_specs]
    if not functions:
        raise UsageError("name at least one graded function: --function NAME (repeatable)")
    names = [f.name for f in functions]
    if len(set(names)) != len(names):
        raise UsageError(f"a function is named twice: {', '.join(names)}")
    from . import checks  # noqa: F401  (registers every probe)
    from .student.probes import PROBES

    taken = [n for n in names if n in PROBES]
    if taken:
        raise UsageError(f"a check is already named {', '.join(taken)} (check names are unique in the course)")
    known = book_sections(REPOSITORY)
    unknown = [s for s in sections if s not in known]
    if unknown:
        raise UsageError(f"--section {', '.join(unknown)}: not a labelled heading of the book; these are:\n"
                         f"{describe_sections()}")
    from .judging.sections import CHAPTERS

    readings = []
    for label in sections:
        document, heading = known[label]
        number = next(n for n, (doc, _) in CHAPTERS.items() if doc == document)
        readings.append((label, f"Chapter {number} ({CHAPTERS[number][1]})", heading))
    title = title or f"{assignment_id}: {TODO} a title"
    add_settings(package / "assignments.py", assignment_id, title, cell_timeout_s, notebook_timeout_s)
    targets["notebook"].parent.mkdir(parents=True)
    document = notebook(assignment_id, title, functions, readings, points, written_points)
    targets["notebook"].write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    targets["cases"].write_text(cases_module(assignment_id, functions), encoding="utf-8")
    targets["judge"].write_text(textwrap.dedent(judge_module(assignment_id, functions, readings)), encoding="utf-8")
    written = [targets["notebook"], targets["cases"], targets["judge"], package / "assignments.py"]
    if readings and Path(course_root).resolve() == REPOSITORY:
        config = REPOSITORY / "_config.yml"
        if link_from_book(config, assignment_id, known[sections[0]][0]):
            written.append(config)
    return written
