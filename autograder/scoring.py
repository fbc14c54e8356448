"""Turn what the student's process reported (plain records) into points, on the trusted side.

A test cell earns its points iff every ``check(...)`` call parsed from the INSTRUCTOR's source of that cell has a
record made while that cell ran, and :func:`autograder.judging.judge` passes it with the seed the grader chose, and
the cell did not time out. Nothing the student's process printed decides anything: a test cell without a check()
call earns nothing, since only the student's own process could say whether it ran cleanly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .judging import JUDGES, Verdict, judge
from .judging.sections import Reading, describe
from .source import ExpectedCheck, SourceCell
from .student.probes import seed_for

NOT_RUN = {
    "timeout": "the notebook used up its time budget of {budget:g} s before this cell ran",
    "too_large": "the notebook produced more data than the grader accepts before this cell ran",
    "crashed": "the notebook's process ended ({ended}) before this cell ran",
    "error": "the notebook could not be run ({ended})",
}


@dataclass
class CellResult:
    grade_id: str
    max_points: float
    points: float
    passed: bool
    bonus: bool
    messages: list[str] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)  # book sections the failed checks point to (feedback links)
    failed_checks: list[str] = field(default_factory=list)  # the judged checks that failed (the class report)
    misconceptions: list[str] = field(default_factory=list)  # what their diagnosis named (judging.misconceptions)


def _judge_record(expected: ExpectedCheck, record: dict | None, master_seed: int, cause: str,
                  diagnose: bool = True) -> Verdict:
    name, kind = expected.name, expected.kind
    if record is None:
        return Verdict(False, f"{name} ({kind} tests): no result was recorded, because {cause}.")
    if name not in JUDGES:
        return Verdict(False, f"{name}: the grader has no such check (please tell your instructor).")
    outcomes = record.get("outcomes")
    if not isinstance(outcomes, list):
        return Verdict(False, f"{name} ({kind} tests): the recorded results could not be read.")
    try:
        return judge(name, seed_for(master_seed, name, kind), kind, outcomes, diagnose)
    except Exception as error:  # noqa: BLE001 - a value the assess function did not expect
        judge_def = JUDGES[name]
        return Verdict(False, f"{name} ({kind} tests): the returned value could not be assessed "
                              f"({type(error).__name__}). {judge_def.what}.\nRead: {describe(judge_def.section)}",
                       judge_def.section)


def score_test_cells(cells: list[tuple[SourceCell, dict | None]], master_seed: int, run_status: str,
                     ended: str | None, budget_s: float) -> list[CellResult]:
    """Score a notebook's test cells (each with the message its run sent, or None).

    One bug, one loss, across cells: a check that passed only because the judge undid wrong values of the student's
    own upstream function (Verdict.excused, autograder.judging.upstream) keeps its pass unless every judged check of
    that upstream passed. An upstream that passes all its own checks but returned wrong values when this function
    called it behaves differently depending on who calls it: the excuse is void and the check fails."""
    judged = _judge_test_cells(cells, master_seed, run_status, ended, budget_s)
    settled = settle_excuses([verdicts for _, verdicts in judged])
    settled = _settle_names(cells, settled)
    results = []
    for (cell, _), (result, _), verdicts in zip(cells, judged, settled, strict=True):
        if result is None:
            result = CellResult(cell.grade_id, cell.points, 0.0, False, cell.bonus)
            result.passed = all(v.passed for _, v in verdicts)
            result.messages.extend(("Passed: " if v.passed else "Failed: ") + v.message for _, v in verdicts)
            result.failed_checks.extend(name for name, v in verdicts if not v.passed)
            result.misconceptions.extend(dict.fromkeys(m for _, v in verdicts for m in v.misconceptions))
            result.readings.extend(r for _, v in verdicts if not v.passed for r in v.readings
                                   if r not in result.readings)
            result.points = cell.points if result.passed else 0.0
        results.append(result)
    return results


def _judge_test_cells(cells: list[tuple[SourceCell, dict | None]], master_seed: int, run_status: str,
                      ended: str | None, budget_s: float) -> list[tuple[CellResult | None, list[tuple[str, Verdict]]]]:
    """Per cell: (a finished result, []) for a cell that did not run, timed out or has no check() call; otherwise
    (None, the verdict of each expected check, by check name), to be finished by score_test_cells.

    The hidden checks are judged first. A visible check whose hidden cases failed too is judged without diagnosis:
    whatever its few hand-picked cases named would be the hidden check's own name, or be withdrawn
    (judging.misconceptions.settle), so the names are the same and a failed submission is spared one diagnosis."""
    prepared = [_cell_records(cell, message, run_status, ended, budget_s) for cell, message in cells]
    verdicts: dict[tuple[int, int], Verdict] = {}
    hidden_failed: set[str] = set()
    for visible in (False, True):
        for p, (_, checks, cause) in enumerate(prepared):
            for i, (expected, record) in enumerate(checks):
                if (expected.kind == "visible") != visible:
                    continue
                diagnose = not visible or expected.name not in hidden_failed
                verdicts[p, i] = _judge_record(expected, record, master_seed, cause, diagnose)
                if not visible and not verdicts[p, i].passed:
                    hidden_failed.add(expected.name)
    return [(result, [] if result is not None else [(expected.name, verdicts[p, i])
                                                   for i, (expected, _) in enumerate(checks)])
            for p, (result, checks, _) in enumerate(prepared)]


def _settle_names(cells, settled: list[list[tuple[str, Verdict]]]) -> list[list[tuple[str, Verdict]]]:
    """The misconceptions named, settled across the notebook's checks (judging.misconceptions.settle): a visible
    check's name that its hidden cases contradict, or a name for a function whose callee failed, is withdrawn."""
    from .judging.misconceptions.settle import settle

    kinds = [[expected.kind for expected in cell.expected] for cell, _ in cells]
    triples = [[(name, kind, verdict) for (name, verdict), kind in zip(verdicts, kinds_of, strict=False)]
               for verdicts, kinds_of in zip(settled, kinds, strict=True)]
    return [[(name, verdict) for name, _, verdict in cell] for cell in settle(triples)]


def settle_excuses(cells: list[list[tuple[str, Verdict]]]) -> list[list[tuple[str, Verdict]]]:
    """Each cell's (check name, verdict) pairs, with every pass that relied on an upstream whose judged checks all
    passed turned into a failure (see score_test_cells)."""
    all_passed: dict[str, bool] = {}
    for verdicts in cells:
        for name, verdict in verdicts:
            all_passed[name] = all_passed.get(name, True) and verdict.passed
    return [[(name, _void_excuses(name, verdict, all_passed)) for name, verdict in verdicts] for verdicts in cells]


def _void_excuses(name: str, verdict: Verdict, all_passed: dict[str, bool]) -> Verdict:
    """The verdict, failed when it relied on an upstream whose own checks were judged and all passed (see
    score_test_cells; an upstream whose cell did not run or timed out keeps its excuse)."""
    void = [upstream for upstream in verdict.excused if all_passed.get(upstream, False)]
    if not verdict.passed or not void:
        return verdict
    upstream = void[0]
    judge_def = JUDGES[name]
    return Verdict(False, f"{name}: {judge_def.what}. Your {name} is right only given the values your {upstream} "
                          f"returned for it, and those were wrong, although your {upstream} passed its own tests. A "
                          f"{upstream} that is right in its own test but wrong when {name} needs it is not accepted, "
                          f"so {name} is judged with the correct {upstream}, and does not match it. Fix {upstream} "
                          f"for the inputs {name} gives it (or do not depend on its wrong values).\n"
                          f"Read: {describe(judge_def.section)}", judge_def.section)


def _cell_records(cell: SourceCell, message: dict | None, run_status: str, ended: str | None,
                  budget_s: float) -> tuple[CellResult | None, list[tuple[ExpectedCheck, dict | None]], str]:
    """(a finished result, [], "") for a cell that did not run, timed out or has no check() call; otherwise (None,
    each expected check with the record its run made, or None, why a missing record is missing)."""
    result = CellResult(cell.grade_id, cell.points, 0.0, False, cell.bonus)
    if message is None:
        template = NOT_RUN.get(run_status, "this cell did not run")
        result.messages.append("Not run: " + template.format(budget=budget_s, ended=ended or "unknown"))
        return result, [], ""
    status, error = message.get("status"), message.get("error")
    if status == "timeout":
        result.messages.append(f"Failed: {error or 'the cell ran longer than its time limit'}.")
        return result, [], ""
    if not cell.expected:
        # A test cell without check() could only be judged by what the student's process reports about it, which
        # the student's code can forge; such a cell earns nothing (the instructor's source should use check()).
        result.messages.append("Not graded: this test cell makes no check() call, so it cannot be judged outside "
                               "the student's code. Please tell your instructor.")
        return result, [], ""
    records = [r for r in message.get("records") or [] if isinstance(r, dict) and r.get("cell") == cell.grade_id]
    if message.get("dropped"):
        cause = message["dropped"]
    elif error:
        cause = error if status == "crashed" else f"the cell raised {error}"
    else:
        cause = "the test did not reach this check"
    checks = []
    used: set[int] = set()
    for expected in cell.expected:
        index = next((i for i, r in enumerate(records) if i not in used and r.get("name") == expected.name
                      and r.get("kind") == expected.kind), None)
        if index is not None:
            used.add(index)
        checks.append((expected, records[index] if index is not None else None))
    return None, checks, cause
