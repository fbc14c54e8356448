"""Naming the misconception behind a failed check (grader side only; never mounted in the sandbox).

When a check fails, :func:`diagnose` runs each catalogued implementation of that function (autograder.judging
.misconceptions) on the very cases the grader drew for the student, through the same probe, and compares the
student's recorded outputs with its outputs, case by case:

* **deterministic cases** (the implementation gives the same output on two runs with different noise): the outputs
  must be equal up to float32 rounding, after removing the check's own freedoms (the sign of a principal direction:
  :data:`CANONICAL`); an exception must be the same exception;
* **statistical cases** (the check judges the mean and spread of many calls): the implementation's calls on the
  case are a reference run of the misconception, and the student's calls are judged against it with the check's
  own statistics (autograder.judging.statistics: the same estimates, the same mean test with the case's
  false-failure budget ``delta``, the reference's own error added and its variance widened by its standard error)
  and a two-sided test of the spread (the ratio of the two sample variances against its F quantiles). Calls that
  break the return contract must break it the same way. A ``frozen`` misconception (a seed fixed inside the
  function) is matched by calls that all repeat one value a correct estimator could have drawn;
* **other random cases** (outputs that depend on the noise but are judged exactly, e.g. the recorded cases): the
  check's verdicts on the implementation's output and on the student's must be the same, numbers aside.

Soundness. A misconception is named only when the student matches it on EVERY case (so one that coincides with the
right answer on some cases needs the student to be right there too), and it differs from a correct implementation
on at least one of them with informative evidence: matching values, or a matching qualitative verdict (one without
measured numbers: "requires_grad is False", "9 distinct samples", an exception); two outputs that are merely both
wrong ("expected 2.1, got 3.4") name nothing. A student with two bugs in one function matches neither bug's
implementation and gets no name. When several match, the one with the most informative cases is named; a tie names
none. Nothing runs for a check that passed (autograder.judging.base.judge calls :func:`explained` on a failure only);
it runs in the judge's process, under its limits, with a CPU budget of its own (:data:`BUDGET_S`, then nothing is
named), and never changes a verdict's outcome.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import time
import warnings
from dataclasses import dataclass

import numpy as np

from ...student.probes import PROBES, call_case, describe_exception
from ...student.values import Outcome, Value, to_value
from ..base import JUDGES, CheckFailure, Verdict, judge_outcome
from ..statistics import StatSpec, failures, identical_calls
from . import HELPERS, Misconception, for_check

BUDGET_S = 8.0  # CPU seconds of diagnosis per failed check (about 0.01-0.5 s in practice)
ENABLED_VARIABLE = "AUTOGRADER_DIAGNOSE"  # "0" switches diagnosis off (bench/bench_grading.py measures its cost)
RTOL, ATOL = 2e-4, 1e-5  # equal outputs: float32 rounding (ATOL scaled by the size of the reference)
SPREAD_MARGIN = 1.5  # the F bounds of the spread comparison are widened by this factor on each side
VARIANCE_SLACK = 3.0  # a reference run's variance is widened by this many of its own standard errors
FROZEN_PLAUSIBLE_DELTA = 1e-4  # a frozen call's value must lie within sd / sqrt(delta) of the truth (Chebyshev)
SCALING_SUB_DELTA = 1e-7  # the budget of each sample size of a scaling case
# calls of a misconception's reference run on a statistical case: at most the student's, at most REPLAY_CALLS, fewer
# for calls that draw many samples (REPLAY_WORK samples in all), never under REPLAY_MIN_CALLS
REPLAY_CALLS, REPLAY_MIN_CALLS, REPLAY_WORK = 40, 8, 40_000
SCREEN_Z, SCREEN_DELTA = 12.0, 1e-7  # the quick comparison of heavy calls' raw outputs (see _screen)


@dataclass
class Evidence:
    """What the cases compared so far say for a misconception (cases where it differs from a correct
    implementation and the student's outputs match it)."""

    value: int = 0  # matching values (or distributions)
    qualitative: int = 0  # matching qualitative verdicts: the same exception, the same broken contract
    frozen: int = 0  # statistical cases where both repeat one draw (a frozen misconception)

    def score(self) -> tuple[int, int]:
        return self.value + self.qualitative, self.frozen


class Mismatch(Exception):
    """The student's outputs on a case are not this misconception's."""


class OverBudget(Exception):
    """Diagnosis used up its time: name nothing."""


def enabled() -> bool:
    return os.environ.get(ENABLED_VARIABLE, "1") != "0"


def diagnose(name: str, kind: str, seed: int, cases: list[dict], outcomes: list[Outcome], failing: int,
             message: str | None = None) -> tuple[Misconception, ...]:
    """The misconception that explains why ``outcomes`` (decoded, sorted by case) fail check ``name`` on ``cases``
    (prepared_cases of ``seed``), first failing at case ``failing`` with the check's ``message``: one, or none.
    Never raises."""
    candidates = for_check(name) if enabled() and name in JUDGES and name in PROBES else []
    if not candidates or len(outcomes) != len(cases) or [o.case for o in outcomes] != list(range(len(cases))):
        return ()
    run = _Run(name, kind, seed, cases, outcomes)
    if message is not None:  # the check's verdict on that case, known already
        run.verdicts[("", failing, True, 0)] = masked(message)
    try:
        with run.isolated():
            found = run.best(candidates, failing)
    except Exception:  # noqa: BLE001 - OverBudget, or a catalogue bug: never a wrong name, never a lost verdict
        return ()
    return (found,) if found is not None else ()


def explained(failure: Verdict, name: str, kind: str, seed: int, cases: list[dict], outcomes: list[Outcome],
              failing: int) -> Verdict:
    """The failed verdict with the misconception that explains it first (its id, its text for the student, the
    section to read), then the check's own message; the failure as it was when the catalogue names none."""
    found = diagnose(name, kind, seed, cases, sorted(outcomes, key=lambda o: o.case), failing, failure.message)
    if not found:
        return failure
    lead = "".join(f"Likely misconception {m.describe()}\nRead: {m.reading}\n" for m in found)
    readings = tuple(dict.fromkeys((*(m.reading for m in found), *failure.readings)))
    return Verdict(False, lead + failure.message, readings, failure.excused, tuple(m.id for m in found))


class _Run:
    """One diagnosis: the student's records and the catalogue's runs on the same cases (kept for reuse)."""

    def __init__(self, name: str, kind: str, seed: int, cases: list[dict], outcomes: list[Outcome]):
        self.name, self.kind, self.seed, self.cases = name, kind, seed, cases
        self.outcomes = {o.case: o for o in outcomes}
        self.judge = JUDGES[name]
        self.functions: dict[str, object] = {}
        self.replays: dict[tuple, Outcome] = {}
        self.verdicts: dict[tuple, str | None] = {}
        self.full = False  # the second round (evidence): the misconception's runs make as many calls as the student's
        self.failing = 0  # the first case the student's outputs failed
        self.units: dict[int, list[_Unit] | None] = {}
        self.estimates: dict[tuple, tuple] = {}  # the misconceptions' runs' estimates (_estimates)
        self.deadline = time.process_time() + BUDGET_S
        # a misconception's run of a statistical case is a reference run of replay_calls(case) calls (its own error
        # enters the comparison), so that a failed check costs a bounded time to diagnose
        self.replayed = [dict(case, calls=replay_calls(case)) if "calls" in case else case for case in cases]

    @contextlib.contextmanager
    def isolated(self):
        """torch's global generator and thread count restored afterwards; warnings from the catalogue's code off."""
        import torch

        state, threads = torch.random.get_rng_state(), torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        finally:
            torch.random.set_rng_state(state)
            torch.set_num_threads(threads)

    # ------------------------------------------------------------------------------------------------ choosing
    def best(self, candidates: list[Misconception], failing: int) -> Misconception | None:
        # cheap cases first (most misconceptions differ from the student's outputs somewhere cheap), the failing
        # one first among equals
        order = sorted(range(len(self.cases)), key=lambda i: (self._cost(i), i != failing, i))
        self.failing = failing
        scored = []
        for misconception in candidates:
            evidence = self.evidence(misconception, order)
            if evidence is not None and evidence.score() > (0, 0):
                scored.append((evidence.score(), misconception))
        if not scored:
            return None
        scored.sort(key=lambda item: item[0], reverse=True)
        if len(scored) > 1 and scored[0][0] == scored[1][0]:
            return None  # as specific as each other: naming one would be a guess
        return scored[0][1]

    def _cost(self, index: int) -> float:
        case = self.replayed[index]
        sizes = case.get("sample_sizes") or [case.get("n_samples", 1)]
        return case.get("calls", 1) * (sum(sizes) * case.get("rows", 1) + 100)  # + a call's own overhead

    def evidence(self, misconception: Misconception, order: list[int]) -> Evidence | None:
        """The evidence for ``misconception`` over every case, or None at the first case it does not match. Two
        rounds: every case with the misconception's short reference runs (most misconceptions fail here, cheaply),
        then, for one that matched them all, every case again with runs of as many calls as the student's, which
        decide (the mean and spread tests then have about the check's own power)."""
        try:
            for full in (False, True):
                self.full = full
                evidence = Evidence()
                # the second round starts where the student's calls failed the check: where a wrong candidate that
                # survived the short runs is most likely to show
                for index in sorted(order, key=lambda i: i != self.failing) if full else order:
                    self._compare(misconception, index, evidence)
                if not any(self.replayed[i] is not self.cases[i] for i in order):
                    break  # the short runs were the full ones
        except Mismatch:
            return None
        finally:
            self.full = False
        return evidence

    # ------------------------------------------------------------------------------------------------ running
    def _function(self, misconception: Misconception):
        """The misconception's implementation, in a fresh namespace of its own (with the assignment's correct
        helpers), made once per diagnosis: an implementation that keeps state between calls starts afresh, as the
        student's did in its own process."""
        if misconception.id not in self.functions:
            scope: dict = {"__name__": f"misconception_{misconception.id}"}
            helpers = HELPERS[misconception.assignment]
            exec(compile(helpers, f"<helpers {misconception.assignment}>", "exec"), scope)  # noqa: S102
            scope["torch"] = _cpu_torch()
            exec(compile(misconception.source, f"<misconception {misconception.id}>", "exec"), scope)  # noqa: S102
            self.functions[misconception.id] = scope[misconception.function]
        return self.functions[misconception.id]

    def replay(self, misconception: Misconception, index: int, run: int = 0) -> Outcome:
        """The misconception's outcome on case ``index`` (a statistical case with replay_calls calls), recorded as
        the student's was; ``run`` picks the noise (torch seeded from the student's seed, the check, the
        misconception, the case and the run, so a diagnosis is reproducible)."""
        case = self.cases[index] if self.full else self.replayed[index]
        key = (misconception.id, index, run, case.get("calls"))
        if key in self.replays:
            return self.replays[key]
        if time.process_time() > self.deadline:
            raise OverBudget
        import torch

        digest = hashlib.sha256(f"{self.seed}:{self.name}:{self.kind}:{misconception.id}:{index}:{run}".encode())
        # the CPU generator only: torch.manual_seed also seeds every accelerator's, at ~5 ms a call
        torch.default_generator.manual_seed(int.from_bytes(digest.digest()[:8], "little") & ((1 << 63) - 1))
        func = self._function(misconception)
        try:
            with contextlib.redirect_stdout(None):
                value = to_value(call_case(PROBES[self.name], func, case))  # our own code: no JSON trip
            outcome = Outcome(index, value=value)
        except Exception as error:  # noqa: BLE001 - the implementation raising is part of what it does
            outcome = Outcome(index, error=describe_exception(error))
        self.replays[key] = outcome
        return outcome

    def _verdict(self, misconception: Misconception | None, index: int, run: int = 0) -> str | None:
        """The check's verdict on case ``index`` for the misconception's outcome (of ``run``; None: the student's):
        None when it passes, else the message with its measured numbers masked."""
        key = (misconception.id, index, self.full, run) if misconception else ("", index, True, 0)
        if key not in self.verdicts:
            if misconception is None:
                outcome, cases = self.outcomes[index], self.cases
            else:
                outcome, cases = self.replay(misconception, index, run), self.cases if self.full else self.replayed
            try:
                failed = judge_outcome(self.name, self.kind, cases, outcome, [])
                self.verdicts[key] = None if failed is None else masked(failed.message)
            except Exception as error:  # noqa: BLE001 - a value the judge did not expect
                self.verdicts[key] = f"unassessable {type(error).__name__}"
        return self.verdicts[key]

    def _distinct(self, misconception: Misconception, index: int) -> bool:
        """The misconception differs from a correct implementation on this case, where the student matches it: the
        check fails its outcome, or the student's (the same distribution: the student's calls may be more, and the
        check's power with them, than the misconception's reference run)."""
        return self._verdict(None, index) is not None or self._verdict(misconception, index) is not None

    # ------------------------------------------------------------------------------------------------ comparing
    def _compare(self, misconception: Misconception, index: int, evidence: Evidence) -> None:
        """Raise Mismatch unless the student's outcome on case ``index`` is the misconception's; add what the case
        says to ``evidence``."""
        student = self.outcomes[index]
        units = self._units(index)
        if units is not None and student.error is None and misconception.frozen:  # decided before running it
            if not all(_repeats(unit.value) for unit in units):
                raise Mismatch
        theirs = self.replay(misconception, index)
        if student.error is not None or theirs.error is not None:
            self._compare_errors(student, theirs, evidence)
        elif units is not None:
            self._compare_statistical(misconception, index, units, theirs.value, evidence)
        elif self._deterministic(misconception, index):
            if not same_value(self.name, student.value, theirs.value):
                raise Mismatch
            if self._distinct(misconception, index):
                evidence.value += 1
        elif (fed := self._fed(misconception, index)) is not None and fed.error is None \
                and _same_inputs(student.value, fed.value):
            # a recorded case (the student's noise read back from what their function gave f, the decoder, or
            # returned): run on that very noise, the misconception put the same points in (so the noise was read
            # back right for it) and must give the very same outputs
            if not same_value(self.name, student.value, fed.value):
                raise Mismatch
            failed = judge_outcome(self.name, self.kind, self.cases, fed, [])
            if failed is not None or self._verdict(None, index) is not None:
                evidence.value += 1
        else:  # random outputs judged exactly (or fed noise read back under another assumption than this
            # misconception's): the verdicts must agree, numbers aside (counts too, where the misconception's own
            # verdict counts differently from one run to the next)
            verdict, mine = self._verdict(misconception, index), self._verdict(None, index)
            if verdict is not None and mine is not None and verdict != self._verdict(misconception, index, 1):
                same = _similar(verdict, mine)
            else:
                same = verdict == mine
            if not same:
                raise Mismatch
            if verdict is not None and not _DECIMAL_MARK.search(self._verdict(misconception, index)):
                evidence.qualitative += 1

    def _fed(self, misconception: Misconception, index: int) -> Outcome | None:
        """The misconception's outcome on a recorded case when fed the noise the student's function drew there
        (RECORDED_NOISE), or None when that noise cannot be known (no such records, or the misconception draws
        more than they show: the check's verdicts are compared instead)."""
        hook = RECORDED_NOISE.get(self.name)
        student = self.outcomes[index]
        if hook is None or student.error is not None:
            return None
        key = (misconception.id, index, "fed")
        if key not in self.replays:
            try:
                noise = hook(self.cases[index], student.value)
            except Exception:  # noqa: BLE001 - a record of another form: no noise to feed
                noise = None
            if noise is None:
                return None
            if time.process_time() > self.deadline:
                raise OverBudget
            func = _fed_function(misconception, noise)
            try:
                with contextlib.redirect_stdout(None):
                    outcome = Outcome(index, value=to_value(call_case(PROBES[self.name], func, self.cases[index])))
            except NoiseExhausted:  # it draws more than the student's records show (e.g. they never called f)
                outcome = None
            except Exception as error:  # noqa: BLE001 - what it does with that noise
                outcome = Outcome(index, error=describe_exception(error))
            self.replays[key] = outcome
        return self.replays[key]

    def _deterministic(self, misconception: Misconception, index: int) -> bool:
        first, second = self.replay(misconception, index), self.replay(misconception, index, run=1)
        return first.error == second.error and same_value(self.name, first.value, second.value)

    def _compare_errors(self, student: Outcome, theirs: Outcome, evidence: Evidence) -> None:
        """An exception matches the same exception: its class, and for evidence its message (numbers masked)."""
        if student.error is None or theirs.error is None:
            raise Mismatch
        if _exception_class(student.error) != _exception_class(theirs.error):
            raise Mismatch
        if masked(_first_line(student.error), True) == masked(_first_line(theirs.error), True):
            evidence.qualitative += 1  # every check fails an exception: it differs from a correct implementation

    def _units(self, index: int) -> list[_Unit] | None:
        """A statistical case's parts (one; a scaling case: one per sample size), or None for a case judged
        exactly. Computed once per diagnosis."""
        if index not in self.units:
            self.units[index] = _units(self.judge, self.cases[index], self.replayed[index], self.outcomes[index])
        return self.units[index]

    def _compare_statistical(self, misconception, index: int, units: list[_Unit], theirs: Value,
                             evidence: Evidence) -> None:
        scaling = "sample_sizes" in self.cases[index]
        values = (theirs.items if _pair(theirs) else []) if scaling else [theirs]
        if len(values) != len(units):
            raise Mismatch
        matches, distinct = [], False
        for part, (unit, value) in enumerate(zip(units, values, strict=True)):
            replayed = unit.case if self.full else unit.replayed
            if misconception.frozen:
                if not _repeats(unit.value):  # the defining trait, seen in the raw calls
                    raise Mismatch
            elif unit.heavy and not _screen(unit.summaries(), value):
                raise Mismatch
            key = (misconception.id, index, part, replayed["calls"])
            if key not in self.estimates:
                self.estimates[key] = _estimates(self.judge, replayed, value)
            other, their_problem = self.estimates[key]
            matches.append(_statistical_match(unit.spec, unit.estimates, unit.problem, other, their_problem,
                                              misconception.frozen, replayed["calls"] == unit.case["calls"]))
            if matches[-1] is None:
                raise Mismatch
            # differs from a correct implementation: the check's tests fail the student's calls or the
            # misconception's (from the estimates at hand; a scaling case is judged as the check does)
            distinct = distinct or unit.fails() or _fails(self.judge, replayed, other, their_problem)
        if "sample_sizes" in self.cases[index]:
            distinct = self._distinct(misconception, index)
        if not distinct:
            return
        if "value" in matches:
            evidence.value += 1
        elif "frozen" in matches:
            evidence.frozen += 1
        elif any("#" not in problem for unit in units if (problem := unit.problem) is not None):
            evidence.qualitative += 1  # the same broken contract, said without measured numbers


@dataclass
class _Unit:
    """One statistically judged set of calls: the check's spec, the case as the student's calls were made and as
    the misconception's are, the student's recorded calls, their estimates or the contract they break, and whether
    the calls are heavy (many samples each: a quick raw comparison first, see _screen)."""

    spec: StatSpec
    case: dict
    replayed: dict
    value: Value | None
    estimates: np.ndarray | None
    problem: str | None
    heavy: bool
    _summaries: list[np.ndarray] | None = None
    _fails: bool | None = None

    def fails(self) -> bool:
        """The check's tests fail the student's calls here."""
        if self._fails is None:
            self._fails = _fails(None, self.case, self.estimates, self.problem, self.spec)
        return self._fails

    def summaries(self) -> list[np.ndarray] | None:
        """The student's calls summarised for _screen (computed once), or None when they are not one array."""
        if self._summaries is None and self.value is not None and self.value.kind == "repeated":
            self._summaries = _summaries(np.asarray(self.value.array, np.float64))
        return self._summaries


def _units(judge_def, case: dict, replayed: dict, student: Outcome) -> list[_Unit] | None:
    if "sample_sizes" in case:
        items = student.value.items if student.error is None and _pair(student.value) else [None, None]
        parts = []
        for n, item in zip(case["sample_sizes"], items, strict=True):
            sizes = {"n_samples": n, "delta": SCALING_SUB_DELTA}
            parts.append(({k: v for k, v in case.items() if k != "sample_sizes"} | sizes,
                          {k: v for k, v in replayed.items() if k != "sample_sizes"} | sizes, item))
    elif judge_def.statistics is not None and judge_def.statistics(case) is not None:
        parts = [(case, replayed, student.value if student.error is None else None)]
    else:
        return None
    units = []
    for sub, sub_replayed, value in parts:
        spec = judge_def.statistics(sub)
        if spec is None:
            return None
        estimates, problem = _estimates(judge_def, sub, value) if value is not None else (None, "no calls")
        units.append(_Unit(spec, sub, sub_replayed, value, estimates, problem,
                           heavy=sub.get("n_samples", 1) * sub.get("rows", 1) >= 1000))
    return units


# ----------------------------------------------------------------------------------------------------------
# Statistical cases
# ----------------------------------------------------------------------------------------------------------
def replay_calls(case: dict) -> int:
    """How many calls a misconception's reference run makes on a statistical case (see REPLAY_CALLS)."""
    per_call = sum(case.get("sample_sizes") or [case.get("n_samples", 1)]) * case.get("rows", 1)
    return min(case["calls"], max(REPLAY_MIN_CALLS, min(REPLAY_CALLS, REPLAY_WORK // max(per_call, 1))))


def _statistical_match(spec: StatSpec, mine: np.ndarray | None, problem: str | None, other: np.ndarray | None,
                       their_problem: str | None, frozen: bool, same_calls: bool) -> str | None:
    """How the student's calls on a statistical case (their estimates ``mine``, or the contract ``problem`` they
    break) match the misconception's (``other``, ``their_problem``): "value" (the same distribution, or the same
    values for a deterministic implementation), "frozen" (both repeat one plausible draw), "contract" (both break
    the return contract the same way: the same message, counts of thousands aside, and all counts aside when the
    reference run made fewer calls than the student's), or None (no match)."""
    if problem is not None or their_problem is not None:
        if problem is None or their_problem is None:
            return None
        if same_calls:
            same = _LARGE_INTEGER.sub("#", problem) == _LARGE_INTEGER.sub("#", their_problem)
        else:
            same = masked(problem, True) == masked(their_problem, True)
        return "contract" if same else None
    if frozen:
        return "frozen" if identical_calls(mine) and _plausible(spec, mine[0]) else None
    if identical_calls(mine) or identical_calls(other):
        both = identical_calls(mine) and identical_calls(other)
        return "value" if both and _close(mine[0], other[0]) else None
    reference = reference_spec(spec, other, mine)
    if failures(reference, mine, "the calls"):
        return None
    return "value" if _same_spread(reference, mine, other, spec) else None


def _fails(judge_def, case: dict, estimates: np.ndarray | None, problem: str | None,
           spec: StatSpec | None = None) -> bool:
    """The check's statistical tests (its main hypothesis) fail these calls' estimates on ``case``."""
    if problem is not None or estimates is None:
        return True
    spec = spec if spec is not None else judge_def.statistics(case)
    return spec is None or identical_calls(estimates) or bool(failures(spec, estimates, "the calls"))


def _estimates(judge_def, case: dict, value: Value | None) -> tuple[np.ndarray | None, str | None]:
    """(the calls' estimates (calls, components), None), or (None, the contract failure with numbers masked)."""
    try:
        estimates = np.asarray(judge_def.estimate(case, value), np.float64)
        return estimates.reshape(estimates.shape[0], -1), None
    except CheckFailure as failure:
        return None, masked(str(failure))
    except Exception as error:  # noqa: BLE001 - a value the estimate did not expect
        return None, f"unreadable {type(error).__name__}"


def reference_spec(spec: StatSpec, reference: np.ndarray, student: np.ndarray) -> StatSpec:
    """The check's spec for judging the ``student``'s calls (m, components) against a misconception whose reference
    run gave ``reference`` (M, components): the truth is the reference's mean (with the error of a mean of M); the
    variance is estimated from both runs, each about its own mean (the same distribution if the student has this
    misconception; a different spread is caught by _same_spread), widened by VARIANCE_SLACK of its standard errors
    (sqrt((kappa + 2) / dof) relative, kappa the larger of the pooled and the check's excess kurtosis); the check's
    delta, labels and robustness."""
    count, calls = len(reference), len(student)
    mean = reference.mean(0)
    centred = np.concatenate([reference - mean, student - student.mean(0)])
    dof = max(count + calls - 2, 1)
    variance = np.maximum((centred**2).sum(0) / dof, (1e-6 * (1 + np.abs(mean))) ** 2)
    skewness = np.abs((centred**3).mean(0)) / variance**1.5
    kurtosis = np.maximum(np.maximum((centred**4).mean(0) / variance**2 - 3.0, np.asarray(spec.kurtosis)), 0.0)
    widened = variance * (1 + VARIANCE_SLACK * np.sqrt((kurtosis + 2) / dof))
    return StatSpec(mean, widened, spec.delta, spec.labels, calls=calls,
                    skewness=np.maximum(skewness, np.asarray(spec.skewness)), kurtosis=kurtosis,
                    truth_variance=widened / count, robust=spec.robust, spread=False)


def _same_spread(reference: StatSpec, mine: np.ndarray, other: np.ndarray, spec: StatSpec) -> bool:
    """The two sample variances agree: their ratio within the F quantiles (degrees of freedom reduced for the
    excess kurtosis of one call, as the check's own spread test does: the largest of each set's own and the
    check's, never the two sets pooled, which a different spread would inflate), widened by SPREAD_MARGIN, at a
    quarter of the budget per side and component."""
    from scipy.special import fdtri

    if len(mine) < 5 or len(other) < 5:
        return True
    d = reference.delta / 4 / reference.components
    s_mine, s_other = mine.var(0, ddof=1), other.var(0, ddof=1)
    for j in range(reference.components):
        tiny = (1e-6 * (1 + abs(reference.truth[j]))) ** 2
        if s_mine[j] <= tiny or s_other[j] <= tiny:
            if max(s_mine[j], s_other[j]) > 100 * tiny:
                return False
            continue
        kappa = max(_kurtosis(mine[:, j]), _kurtosis(other[:, j]), float(spec.kurtosis[j]), 0.0)
        nu_mine = 2.0 / (2.0 / (len(mine) - 1) + kappa / len(mine))
        nu_other = 2.0 / (2.0 / (len(other) - 1) + kappa / len(other))
        low, high = fdtri(nu_mine, nu_other, d), fdtri(nu_mine, nu_other, 1 - d)
        if not low / SPREAD_MARGIN <= s_mine[j] / s_other[j] <= high * SPREAD_MARGIN:
            return False
    return True


def _kurtosis(values: np.ndarray) -> float:
    """The sample excess kurtosis of one component's calls (about their own mean)."""
    centred = values - values.mean()
    second = float((centred**2).mean())
    return float((centred**4).mean()) / second**2 - 3.0 if second > 0 else 0.0


def _plausible(spec: StatSpec, value: np.ndarray) -> bool:
    """One call's value could come from the estimator the check asks for (Chebyshev: within sd / sqrt(delta) of its
    expected value, per component), and it is not the expected value itself (an exact answer has no noise)."""
    distance = np.abs(value - spec.truth)
    noisy = np.any(distance > 1e-4 * (1 + np.abs(spec.truth)))
    return bool(np.all(distance <= np.sqrt(spec.variance / FROZEN_PLAUSIBLE_DELTA) + 1e-9) and noisy)


def _repeats(value: Value | None) -> bool:
    """Every call returned the same output (a seed fixed inside the function): the raw calls, or, for a function that
    returns tuples, every call's items."""
    if value is None:
        return False
    if value.kind == "tuple" and value.items:  # the probe's (calls, what it recorded besides)
        return _repeats(value.items[0])
    if value.kind == "repeated":
        array = np.asarray(value.array)
        return len(array) >= 2 and bool(np.all(array == array[:1]))
    if value.kind == "calls" and len(value.items) >= 2:
        return all(_same(item, value.items[0], None) and _exactly(item, value.items[0]) for item in value.items[1:])
    return False


def _exactly(a: Value, b: Value) -> bool:
    if a.kind in ("tuple", "calls"):
        return len(a.items) == len(b.items) and all(_exactly(x, y) for x, y in zip(a.items, b.items, strict=True))
    return a.array is None or np.array_equal(a.array, b.array, equal_nan=True)


def _summaries(calls: np.ndarray) -> list[np.ndarray]:
    """Per call (the first axis): the mean and the standard deviation of its entries and, for calls of a thousand
    entries or more, the excess kurtosis of its entries standardised column by column (the last axis): the shape of
    the noise."""
    flat = calls.reshape(len(calls), -1)
    found = [flat.mean(1), flat.std(1)]
    if flat.shape[1] >= 1000 and calls.ndim >= 3:
        columns = calls.reshape(len(calls), -1, calls.shape[-1])
        with np.errstate(divide="ignore", invalid="ignore"):
            standard = (columns - columns.mean(1, keepdims=True)) / columns.std(1, keepdims=True)
            found.append((standard**4).mean((1, 2)) - 3.0)
    return found


def _screen(student: list[np.ndarray] | None, theirs: Value | None) -> bool:
    """A quick look at heavy calls (many samples each) before the check's estimates are computed: each call's raw
    output summarised (_summaries; ``student``: the student's calls' summaries); the two sets of calls must agree on
    the average of each summary (within SCREEN_Z standard errors, the larger variance of the two) and on its spread
    (the variance ratio within F quantiles at SCREEN_DELTA, doubled). Such summaries average thousands of values,
    so they are close to normal; False only where the two clearly differ."""
    from scipy.special import fdtri

    if student is None or theirs is None or theirs.kind != "repeated" or len(theirs.array) < 2:
        return True
    other = _summaries(np.asarray(theirs.array, np.float64))
    if len(other) != len(student) or len(student[0]) < 2:
        return True
    for a, b in zip(student, other, strict=True):
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            return True
        var_a, var_b = a.var(ddof=1), b.var(ddof=1)
        tiny = (1e-9 * (1 + abs(b.mean()))) ** 2
        if var_a <= tiny or var_b <= tiny:
            if max(var_a, var_b) > 100 * tiny or not _close(a.mean(), b.mean()):
                return False
            continue
        if abs(a.mean() - b.mean()) > SCREEN_Z * math.sqrt(max(var_a, var_b) * (1 / len(a) + 1 / len(b))):
            return False
        low, high = fdtri(len(a) - 1, len(b) - 1, SCREEN_DELTA), fdtri(len(a) - 1, len(b) - 1, 1 - SCREEN_DELTA)
        if not low / 2 <= var_a / var_b <= 2 * high:
            return False
    return True


# ----------------------------------------------------------------------------------------------------------
# Deterministic outputs
# ----------------------------------------------------------------------------------------------------------
def _sign_canonical(array: np.ndarray) -> np.ndarray:
    """Columns of a 2-D array with the sign of each column's largest entry made positive (an SVD's sign freedom)."""
    if array.ndim != 2 or array.size == 0:
        return array
    index = np.argmax(np.abs(np.nan_to_num(array)), axis=0)
    signs = np.sign(array[index, np.arange(array.shape[1])])
    return array * np.where(signs == 0, 1.0, signs)


def _nan_as_zero(array: np.ndarray) -> np.ndarray:
    """An unclipped arccos of a cosine rounded above 1 is NaN where the angle is 0."""
    return np.where(np.isnan(array), 0.0, array)


def _result_only(value: Value) -> Value:
    """The probe's (result, spied upstream calls): the result."""
    return value.items[0] if value.kind == "tuple" and value.items else value


# ----------------------------------------------------------------------------------------------------------
# Recorded cases: the student's own noise
# ----------------------------------------------------------------------------------------------------------
def _cpu_torch(**overrides):
    """torch for the catalogue's implementations: torch itself, except that manual_seed seeds the CPU generator only
    (torch.manual_seed also queues every accelerator's, at ~5 ms a call: a seed fixed inside the function would cost
    more than the rest of its calls), and what ``overrides`` replaces."""
    import types

    import torch

    proxy = types.ModuleType("torch")
    proxy.__getattr__ = lambda name: getattr(torch, name)  # everything else is torch's
    proxy.manual_seed = torch.default_generator.manual_seed
    for name, value in overrides.items():
        setattr(proxy, name, value)
    return proxy


class NoiseExhausted(RuntimeError):
    """The misconception draws more standard normal noise than the student's function did."""


def _fed_function(misconception: Misconception, noise: list[np.ndarray]):
    """The misconception's implementation whose torch.randn and torch.randn_like return, call after call of it,
    the standard normal noise the student's function drew (``noise``: one flat array per call, in draw order)."""
    import torch

    calls = iter(noise)
    state = {"left": np.zeros(0)}

    def take(shape, dtype=None):
        shape = tuple(int(n) for n in shape)
        count = math.prod(shape)
        if count > len(state["left"]):
            raise NoiseExhausted(f"wants {count} more normal draws than the student's function made")
        values, state["left"] = state["left"][:count], state["left"][count:]
        return torch.tensor(values.reshape(shape), dtype=dtype or torch.get_default_dtype())

    def randn(*size, dtype=None, **_):
        return take(size[0] if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)) else size, dtype)

    def randn_like(tensor, dtype=None, **_):
        return take(tensor.shape, dtype or tensor.dtype)

    def normal(mean, std=1.0, *args, **kwargs):
        """torch.normal(mean, std) with tensors: a sample through which no gradient flows, as torch's own."""
        if not (isinstance(mean, torch.Tensor) and isinstance(std, torch.Tensor)) or args or kwargs:
            return torch.normal(mean, std, *args, **kwargs)
        shape = torch.broadcast_shapes(mean.shape, std.shape)
        noise = take(shape, mean.dtype)
        return (mean + std * noise).detach() + 0.0 * (mean + std)  # zero gradients, like NormalBackward

    scope: dict = {"__name__": f"misconception_{misconception.id}_fed"}
    exec(compile(HELPERS[misconception.assignment], "<helpers>", "exec"), scope)  # noqa: S102
    scope["torch"] = _cpu_torch(randn=randn, randn_like=randn_like, normal=normal)
    exec(compile(misconception.source, f"<misconception {misconception.id}>", "exec"), scope)  # noqa: S102
    inner = scope[misconception.function]

    def fed(*args, **kwargs):
        state["left"] = np.asarray(next(calls), np.float64)
        return inner(*args, **kwargs)

    return fed


def _iwae_noise(case: dict, value: Value) -> list[np.ndarray] | None:
    """iwae_bound's recorded case: each call's decoder inputs z (rows, in order), standardised by q(z | x)."""
    if not case.get("recorded") or value.kind != "calls":
        return None
    from ...student.cases.common import as_tensor
    from ...student.cases.ps3_elbo import tiny_vae_modules

    encoder, _ = tiny_vae_modules(case)
    mu, log_var = (np.asarray(t.detach().double().numpy()[0]) for t in encoder(as_tensor(np.float32(case["x"]))))
    return [((np.asarray(item.items[1].array, np.float64) - mu) / np.exp(0.5 * log_var)).reshape(-1)
            for item in value.items]


def _score_noise(case: dict, value: Value) -> list[np.ndarray] | None:
    """score_function_gradient's recorded case: each call's points of f, in order, standardised."""
    if not case.get("recorded") or value.kind != "calls":
        return None
    return [(np.asarray(item.items[1].array, np.float64).reshape(-1) - case["mu"]) / case["sigma"]
            for item in value.items]


def _reparameterize_noise(case: dict, value: Value) -> list[np.ndarray] | None:
    """reparameterize's gradient case with the noise drawn inside: the returned z gives it back (z - mu) / sigma."""
    if case.get("mode") != "grad_sample":
        return None
    z = value.items[0] if value.kind == "tuple" and value.items else value
    if z.kind != "tensor":
        return None
    mu, log_var = (np.float32(case[k]).astype(np.float64) for k in ("mu", "log_var"))
    array = np.asarray(z.array, np.float64)
    return [((array - mu) / np.exp(0.5 * log_var)).reshape(-1)] if array.shape == mu.shape else None


# check -> the noise of each call of a recorded case, from what was recorded
RECORDED_NOISE = {"iwae_bound": _iwae_noise, "score_function_gradient": _score_noise,
                  "reparameterize": _reparameterize_noise}


def _recorded_inputs(value: Value) -> list[np.ndarray]:
    """The points a recorded case kept (the decoder's or f's inputs of each call; reparameterize's z)."""
    if value.kind == "calls":
        return [np.asarray(item.items[1].array, np.float64) for item in value.items
                if item.kind == "tuple" and len(item.items) == 2 and item.items[1].array is not None]
    z = value.items[0] if value.kind == "tuple" and value.items else value
    return [np.asarray(z.array, np.float64)] if z.array is not None else []


def _same_inputs(student: Value, theirs: Value) -> bool:
    """Fed the student's noise, the misconception drew the same points as the student's function (so the noise was
    read back under this misconception's own way of turning noise into points): then its outputs are what the
    student's must be, value for value. Where the points differ (it turns noise into points another way, or
    draws more of it), that noise is not its own and only the check's verdicts can be compared."""
    mine, other = _recorded_inputs(student), _recorded_inputs(theirs)
    return len(mine) == len(other) and all(a.shape == b.shape and _close(a, b)
                                           for a, b in zip(mine, other, strict=True))


CANONICAL = {"pca_basis": _sign_canonical, "principal_angles": _nan_as_zero}  # check -> array transform
PROJECTION = {"mixture_log_marginal": _result_only, "mc_log_marginal_given_z": _result_only}  # check -> output


def same_value(check: str, a: Value | None, b: Value | None) -> bool:
    """Two recorded outputs of one check are the same: the same kinds and shapes, numbers equal up to float32
    rounding (NaN with NaN, an infinity with the same infinity), after the check's projection and canonical form."""
    project = PROJECTION.get(check)
    if project is not None and a is not None and b is not None:
        a, b = project(a), project(b)
    return _same(a, b, CANONICAL.get(check))


def _same(a: Value | None, b: Value | None, canonical) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if a.kind != b.kind:
        return False
    if a.kind in ("tuple", "calls"):
        return (a.type_name == b.type_name and len(a.items) == len(b.items)
                and all(_same(x, y, canonical) for x, y in zip(a.items, b.items, strict=True)))
    if a.kind == "other":
        return a.type_name == b.type_name
    first, second = np.asarray(a.array), np.asarray(b.array)
    if first.shape != second.shape:
        return False
    if first.dtype.kind not in "fiub" or second.dtype.kind not in "fiub":
        return np.array_equal(first, second)
    first, second = first.astype(np.float64), second.astype(np.float64)
    if canonical is not None:
        first, second = canonical(first), canonical(second)
    return _close(first, second)


def _close(first, second) -> bool:
    first, second = np.asarray(first, np.float64), np.asarray(second, np.float64)
    finite = np.isfinite(second)
    scale = float(np.max(np.abs(second[finite]))) if finite.any() else 0.0
    return bool(np.allclose(first, second, rtol=RTOL, atol=ATOL * (1 + scale), equal_nan=True))


def _pair(value: Value | None) -> bool:
    return value is not None and value.kind == "tuple" and len(value.items) == 2


# ----------------------------------------------------------------------------------------------------------
# Messages
# ----------------------------------------------------------------------------------------------------------
_DECIMAL = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?\d+[eE][-+]?\d+|\b(?:nan|inf)\b")
_INTEGER = re.compile(r"\d+")
_LARGE_INTEGER = re.compile(r"\d{3,}")
_DECIMAL_MARK = re.compile("#")  # where masked() replaced a measured number


# what compare.expect_close measures besides the values: where the worst entry is, and how many entries are off
_WORST_ENTRY = re.compile(r"at index \([\d, ]*\)|\(\d+ of \d+ entries off\)")


def masked(text: str, integers: bool = False) -> str:
    """A message with its measured numbers (those written with a decimal point or an exponent, and where an exact
    comparison found the worst entry) replaced by #: what two outputs with the same bug have in common. Other
    integers (counts, shapes, sample sizes) stay, unless ``integers``."""
    text = _DECIMAL.sub("#", _WORST_ENTRY.sub("#", text))
    return _INTEGER.sub("#", text) if integers else text


def _similar(first: str, second: str) -> bool:
    """Two messages that differ at most in counts of 50 or more, by at most 2% (e.g. how many of 10,000 random
    points were distinct): the same, for a misconception whose own counts vary from run to run."""
    parts_a, parts_b = _INTEGER.split(first), _INTEGER.split(second)
    numbers_a, numbers_b = _INTEGER.findall(first), _INTEGER.findall(second)
    if parts_a != parts_b or len(numbers_a) != len(numbers_b):
        return False
    return all(a == b or (min(int(a), int(b)) >= 50 and abs(int(a) - int(b)) <= 0.02 * max(int(a), int(b)))
               for a, b in zip(numbers_a, numbers_b, strict=True))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _exception_class(error: str) -> str:
    return _first_line(error).split(":", 1)[0].strip()
