"""One bug, one loss (grader side): judging a function that calls another graded function of the same notebook
(the "upstream", e.g. log_sum_exp inside mixture_log_marginal) as if the upstream were correct.

The probe records the upstream's calls made while the function ran (autograder.student.cases.common.Spy: the
arguments and the student's output, grouped by call of the function under test). When the function fails on its
own, the judge looks at those records: if the upstream returned something wrong on the inputs it received, the
judge re-judges the function with the upstream's correct outputs in place of the student's (the function must have
passed on the upstream's output as the correct composition prescribes, and fed it the right inputs where the
grader can tell). If that passes, the function keeps its points and the feedback says the upstream is to blame,
whose own cell loses its points; if the upstream passes its own checks after all, the excuse is void and the
function fails (autograder.scoring.score_test_cells). Where the upstream's influence cannot be undone from records
(training, a reference run), the bug costs both cells, and the notebooks say so.
"""

from __future__ import annotations

import numpy as np

from ..student.values import Value

OVERFLOW_KIND = "other"  # the Spy's OVERFLOW marker (a str) is recorded by type name only


def spied_groups(value: Value | None) -> list[list[tuple[Value, ...]]] | None:
    """The recorded upstream calls, one list per call of the function under test, up to the first group the Spy
    could not keep whole (it ends with its OVERFLOW marker); None when the record does not have the Spy's form."""
    if value is None or value.kind != "calls":
        return None
    groups = []
    for group in value.items:
        if group.kind != "tuple":
            return None
        if any(record.kind != "tuple" for record in group.items):
            break  # the OVERFLOW marker: this group and the later ones are incomplete
        groups.append([tuple(record.items) for record in group.items])
    return groups


def array_of(value: Value) -> np.ndarray | None:
    """A tensor's (or number's) data as float64, or None."""
    if value.kind in ("tensor", "float", "int") and value.array is not None:
        return np.asarray(value.array, np.float64)
    return None


def same_values(a: np.ndarray, b: np.ndarray, rtol: float = 1e-5, atol: float = 1e-5) -> bool:
    """Equal up to float32 rounding, an infinity the same infinity; a NaN matches nothing (an excuse resting on NaN
    values would pass a check on values nobody can judge: judgements fail closed)."""
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=False))


def log_sum_exp(a: np.ndarray, dim: int) -> np.ndarray:
    """The correct log-sum-exp (scipy), -inf for an all -inf slice."""
    from scipy.special import logsumexp

    with np.errstate(divide="ignore", invalid="ignore"):
        return logsumexp(a, axis=dim)


def lse_record(record: tuple[Value, ...]) -> tuple[np.ndarray, int, np.ndarray, np.ndarray] | None:
    """A recorded log_sum_exp(a, dim) call: (a, dim, the student's output, the correct output), or None."""
    if len(record) != 3:
        return None
    a, dim, out = (array_of(item) for item in record)
    if a is None or dim is None or out is None or dim.shape != () or float(dim) != int(dim):
        return None
    dim = int(dim)
    if not -a.ndim <= dim < a.ndim:
        return None
    return a, dim, out, log_sum_exp(a, dim)


def only_lse_call(groups, index: int = 0):
    """The single log_sum_exp call of call ``index`` of the function under test, where the student's log_sum_exp
    returned something wrong; None otherwise (no record, several calls, or a correct output)."""
    if groups is None or index >= len(groups) or len(groups[index]) != 1:
        return None
    found = lse_record(groups[index][0])
    if found is None:
        return None
    a, dim, out, correct = found
    if same_values(out, correct, rtol=1e-5, atol=1e-4):
        return None  # log_sum_exp did its job here: nothing to forgive
    return found


class Excuse(str):
    """A note saying that a check passed only because the student's ``upstream`` returned wrong values, which the
    judge undid. The scorer (autograder.scoring.score_test_cells) keeps the excuse only where the upstream's own
    checks fail: an upstream that is right in its own test but wrong when the function calls it (a context-dependent
    upstream, e.g. one that inspects the call stack) excuses nothing, and the function is judged as it is."""

    upstream: str

    def __new__(cls, text: str, upstream: str) -> Excuse:
        excuse = super().__new__(cls, text)
        excuse.upstream = upstream
        return excuse


def note(upstream: str, function: str) -> Excuse:
    return Excuse(f"{function} is right given your {upstream}, but {upstream} returned wrong values on the inputs "
                  f"{function} gave it. Its own cell loses the points for that; this cell keeps them (one bug, one "
                  f"loss). Fix {upstream} and {function} will be right too.", upstream)
