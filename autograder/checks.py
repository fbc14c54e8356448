"""``check(name, func, kind="visible")``: what a test cell calls. A test cell only NAMES a check.

Inside the grader's sandbox a grading context is installed: ``check`` calls the student's function on cases drawn
from the grader's seed (autograder.student.probes) and records what came back, as plain data, for the grader to
judge in its own process. Nothing here decides a grade there, and the judging code is not even present.

Anywhere else (a student's self-check, ``python -m autograder check``, stock ``nbgrader autograde``) ``check``
probes and judges in this process (autograder.judging) and raises ``AssertionError(message)`` on failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .student import cases as _cases  # noqa: F401  (registers every probe)
from .student.probes import PROBES, VISIBLE_SEED, grading_context, probe, seed_for


def check(name: str, func: Callable, kind: str = "visible") -> None:
    if name not in PROBES:
        raise KeyError(f"unknown check {name!r}; known: {sorted(PROBES)}")
    if kind not in ("visible", "hidden"):
        raise ValueError("kind must be 'visible' or 'hidden'")
    context = grading_context()
    if context is not None:
        seed = seed_for(context.master_seed, name, kind)
        context.record(name, kind, probe(name, func, seed, kind))
        return
    try:
        from .judging import judge
    except ImportError:
        raise RuntimeError("this copy of the course has no judging code (autograder/judging): run the check "
                           "where the course is installed") from None
    seed = VISIBLE_SEED if kind == "visible" else int.from_bytes(os.urandom(8), "little") >> 1
    verdict = judge(name, seed, kind, probe(name, func, seed, kind))
    if not verdict.passed:
        raise AssertionError(verdict.message)
    print(f"ok: {verdict.message}")


def visible_case(name: str, number: int, func: Callable):
    """Call ``func`` on visible case ``number`` (counted from 1, as `check` numbers them) of the check ``name``, as the
    test does, and return what it returned, after printing the inputs: the line `check` gives you to paste into a
    new cell to reproduce a failed case, e.g. ``visible_case("gaussian_kl", 2, gaussian_kl)``."""
    import inspect

    from .student.probes import arguments_of, draw_cases

    cases = draw_cases(name, VISIBLE_SEED, "visible")
    if not 1 <= number <= len(cases):
        raise ValueError(f"{name} has visible cases 1 to {len(cases)}")
    args, kwargs = arguments_of(name, cases[number - 1])
    try:
        named = inspect.signature(func).bind(*args, **kwargs).arguments
    except (TypeError, ValueError):
        named = {**{f"argument {i + 1}": value for i, value in enumerate(args)}, **kwargs}
    print(f"{getattr(func, '__name__', 'your function')} on visible case {number} of {name}:")
    for key, value in named.items():
        text = repr(value)
        print(f"  {key} = " + (text if len(text) < 600 else text[:600] + " ..."))
    return func(*args, **kwargs)


def check_notebook(path: str | None = None) -> None:
    """``python -m autograder check`` on this notebook, from a cell of the notebook itself: save first (the file on
    disk is checked). Runs in a separate process (check's own sandbox), so nothing in this kernel changes."""
    import subprocess
    import sys

    if grading_context() is not None:
        print("(check_notebook does nothing while the notebook is being checked or graded)")
        return
    path = path or os.environ.get("JPY_SESSION_NAME")  # set by Jupyter for the kernel of a notebook
    if not path or not path.endswith(".ipynb"):
        raise ValueError("give the notebook's file name: check_notebook('ps3_elbo.ipynb')")
    done = subprocess.run([sys.executable, "-P", "-m", "autograder", "check", path], capture_output=True, text=True)
    print(done.stdout + done.stderr, end="")
