"""How a check is judged, on the grader's side (never mounted in the sandbox).

A :class:`Judge` holds, for one check, the assessment of one case (``assess(case, value)`` raises
:class:`CheckFailure` with a readable message, or returns None or a note for the student), where in the book to
read (``section``) and what the check tests (``what``). Statistical checks also give ``statistics(case) ->
StatSpec`` (what correct estimators' calls look like, :mod:`.statistics`) and ``estimate(case, value)`` (the calls'
estimates, shape (calls, components)); tests/test_grading_correctness_power.py measures their power with them.

:func:`judge` re-draws the cases from the seed with the student-side drawer (autograder.student.probes), decodes
the records the student's process sent (autograder.judging.records validates every field) and assesses each one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..student.probes import PROBES, draw_cases
from ..student.values import Outcome, Value
from .records import RecordError, decode_outcome
from .sections import Reading, describe
from .upstream import Excuse


@dataclass
class Verdict:
    passed: bool
    message: str
    readings: tuple[Reading, ...] = ()  # where in the book to read (feedback links them)
    excused: tuple[str, ...] = ()  # upstream functions whose wrong outputs this pass relied on (upstream.Excuse)
    misconceptions: tuple[str, ...] = ()  # the catalogued misconceptions a failure is explained by (.misconceptions)


class CheckFailure(Exception):
    """Raised inside a judge to fail a check with a readable message."""


@dataclass(frozen=True)
class Judge:
    name: str
    assess: Callable[[dict, Value], str | None]
    section: tuple[Reading, ...]  # where in the book to read, shown with every failure
    what: str
    statistics: Callable | None = None  # statistics(case) -> StatSpec | None (None: an exact case)
    estimate: Callable | None = None  # estimate(case, value) -> np.ndarray (calls, components)
    statistical: Callable[[dict], bool] | None = None  # which cases are statistical (default: all, if statistics)
    warm: Callable[[], object] | None = None  # computes references shared by every submission (once per batch)


JUDGES: dict[str, Judge] = {}


def register_judge(judge_def: Judge) -> Judge:
    if judge_def.name in JUDGES:
        raise ValueError(f"judge {judge_def.name!r} registered twice")
    if judge_def.name not in PROBES:
        raise ValueError(f"judge {judge_def.name!r} has no probe (autograder/student/cases)")
    JUDGES[judge_def.name] = judge_def
    return judge_def


def prepared_cases(name: str, seed: int, kind: str) -> list[dict]:
    """The cases the student's process was called on, each with its share ``delta`` of the false-failure budget
    when it is judged statistically (Bonferroni over the check call's statistical cases)."""
    from .statistics import DELTA

    judge_def = JUDGES[name]
    cases = draw_cases(name, seed, kind)
    if judge_def.statistics is not None:
        statistical = [c for c in cases if "sample_sizes" not in c
                       and (judge_def.statistical is None or judge_def.statistical(c))]
        for case in statistical:
            case["delta"] = DELTA / len(statistical)
    return cases


def judge(name: str, seed: int, kind: str, outcomes: list[Outcome] | list[dict], diagnose: bool = True) -> Verdict:
    """Re-draw the cases from ``seed`` and assess each outcome against the reference. ``outcomes`` are the raw
    records from the student's process (validated here) or already decoded Outcome objects (in-process use). A
    failure names the misconception that explains it (.misconceptions.diagnosis) unless ``diagnose`` is False."""
    label = f"{name} ({kind} tests)"
    try:
        decoded = [o if isinstance(o, Outcome) else decode_outcome(o) for o in outcomes]
    except RecordError as error:
        return failed_verdict(name, f"{label}: the recorded results could not be read ({error}).")
    cases = prepared_cases(name, seed, kind)
    if len(decoded) != len(cases) or sorted(o.case for o in decoded) != list(range(len(cases))):
        return failed_verdict(name, f"{label}: the test did not run to the end (got {len(decoded)} of {len(cases)} "
                                    "results).")
    notes: list[str] = []
    for outcome in sorted(decoded, key=lambda o: o.case):
        failure = judge_outcome(name, kind, cases, outcome, notes)
        if failure is not None and not diagnose:
            return failure
        if failure is not None:  # the misconception that explains it, if the catalogue has one, comes first
            from .misconceptions.diagnosis import explained

            return explained(failure, name, kind, seed, cases, decoded, outcome.case)
    return passed_verdict(name, kind, len(cases), notes)


def failed_verdict(name: str, message: str) -> Verdict:
    section = JUDGES[name].section
    return Verdict(False, f"{message}\nRead: {describe(section)}", section)


def passed_verdict(name: str, kind: str, count: int, notes: list[str]) -> Verdict:
    excused = tuple(dict.fromkeys(n.upstream for n in notes if isinstance(n, Excuse)))
    return Verdict(True, f"{name} ({kind} tests): passed {count} case(s)." + "".join(f"\nNote: {n}" for n in notes),
                   excused=excused)


def judge_outcome(name: str, kind: str, cases: list[dict], outcome: Outcome, notes: list[str]) -> Verdict | None:
    """Assess one decoded outcome against its prepared case: the failing Verdict, or None (a note, if any, is
    appended to ``notes``). judge() applies it to every case in order and stops at the first failure."""
    judge_def = JUDGES[name]
    where = f"{name} ({kind} tests), case {outcome.case + 1} of {len(cases)}"
    if outcome.error is not None:
        return failed_verdict(name, f"{where}: {judge_def.what}\nYour function raised: {outcome.error}")
    case = cases[outcome.case]
    try:
        if "sample_sizes" in case:  # a scaling case: how the spread shrinks with n_samples
            from .statistics import assess_scaling

            note = assess_scaling(judge_def, case, outcome.value)
        else:
            note = judge_def.assess(case, outcome.value)
    except CheckFailure as failure:
        return failed_verdict(name, f"{where}: {judge_def.what}\n{failure}")
    if note and note not in notes:
        notes.append(note)
    return None
