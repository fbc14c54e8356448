"""Every judgement fails closed: a NaN or an infinity, returned by the student's code or computed on the grader's
side from what it returned, fails the check; it never slips through a "fail if bad" guard (``x > limit`` is False
for NaN).

Two tests keep it so: a lint over the judges' source (a guard that raises CheckFailure may only compare under
``not``: ``if not x <= limit: raise``), and the solution of every check with one returned number poisoned (NaN,
+inf, -inf, or a finite 1e30 that overflows the grader's own computation) judged under the visible and a hidden
seed: every poisoned result must fail.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

from tests.submissions.harness import TRAINING_CHECKS, run_check, solution_namespace
from tests.submissions.make_submissions import ASSIGNMENTS as IDS
from tests.submissions.make_submissions import load_solution
from tests.test_assignments_solutions import graded_cells, parsed_checks

JUDGING = Path(__file__).resolve().parents[1] / "autograder" / "judging"
POISONS = {"nan": math.nan, "+inf": math.inf, "-inf": -math.inf, "1e30": 1e30}


def _raises_check_failure(body: list[ast.stmt]) -> bool:
    for statement in body:
        for node in ast.walk(statement):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                if getattr(func, "id", getattr(func, "attr", None)) == "CheckFailure":
                    return True
    return False


def _bare_orderings(test: ast.expr, negated: bool = False):
    """Ordering comparisons (<, <=, >, >=) in a condition that are not under an odd number of ``not``."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        yield from _bare_orderings(test.operand, not negated)
        return
    if isinstance(test, ast.Compare) and any(isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)) for op in test.ops):
        if not negated:
            yield test
        return
    for child in ast.iter_child_nodes(test):
        yield from _bare_orderings(child, negated)


def test_no_judge_fails_only_if_bad():
    """``if value > limit: raise CheckFailure(...)`` passes a NaN; write ``if not value <= limit: raise ...``."""
    found = []
    for path in sorted(JUDGING.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.If) and _raises_check_failure(node.body):
                found += [f"{path.relative_to(JUDGING.parents[1])}:{c.lineno}: if {ast.unparse(node.test)}"
                          for c in _bare_orderings(node.test)]
    assert not found, ("guards that let a NaN through (write them as `if not <what must hold>: raise`):\n"
                       + "\n".join(found))


def _poison_first(value, poison: float) -> bool:
    """Set the first finite float entry of the first tensor in ``value`` (a tensor, a tuple or list of them, a
    module's parameters) to ``poison``, in place. False when there is none."""
    import torch

    if isinstance(value, torch.nn.Module):
        return any(_poison_first(p.data, poison) for p in value.parameters())
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        flat = value.detach().view(-1) if value.is_contiguous() else None
        if flat is None:
            return False
        finite = torch.nonzero(torch.isfinite(flat)).flatten()
        if len(finite) == 0:
            return False
        flat[finite[0]] = poison
        return True
    if isinstance(value, (tuple, list)):
        return any(_poison_first(item, poison) for item in value)
    return False


def _poisoned(func, poison: float):
    """``func`` whose every result (every call) carries one poisoned number."""

    def wrapper(*args, **kwargs):
        result = func(*args, **kwargs)
        if isinstance(result, (int, float)):
            return poison
        if isinstance(result, (tuple, list)):
            result = type(result)(r.clone() if hasattr(r, "clone") else r for r in result)
        elif hasattr(result, "clone"):
            result = result.clone()
        assert _poison_first(result, poison), f"nothing to poison in {type(result).__name__}"
        return result

    return wrapper


def _checks():
    for assignment in IDS:
        for cell in graded_cells(load_solution(assignment)):
            for name, expression, kind in parsed_checks(cell.source):
                if kind == "visible":
                    yield pytest.param(assignment, name, expression, id=name)


@pytest.mark.parametrize(("assignment", "name", "expression"), list(_checks()))
def test_a_poisoned_result_fails_every_check(assignment, name, expression):
    scope = solution_namespace(assignment)
    func = eval(expression, scope)  # noqa: S307 - the instructor's own test cell
    # a trained model may hold a huge finite weight and still work (a weight on a pixel that never varies): its
    # overflow trap is test_weights_whose_elbo_overflows_fail below
    poisons = {"nan": POISONS["nan"], "+inf": POISONS["+inf"]} if name in TRAINING_CHECKS else POISONS
    seeds = [("visible", 0)] if name in TRAINING_CHECKS else [("visible", 0), ("hidden", 31)]
    passed = []
    for label, poison in poisons.items():
        for kind, seed in seeds:
            try:
                verdict = run_check(name, _poisoned(func, poison), seed, kind, lazy=True)
            except Exception:  # noqa: BLE001 - an assessment that raises fails the cell (autograder.scoring)
                continue
            if verdict.passed:
                passed.append(f"{label} ({kind})")
    assert not passed, f"{name} passed with a poisoned result: {passed}"


def test_weights_whose_elbo_overflows_fail():
    """Finite weights on which the grader's own ELBO is not finite (1e30 everywhere: inf - inf in the decoder)
    fail with a message, instead of slipping past the "fits the test images better" guard as a NaN would."""
    import torch

    from autograder.judging import JUDGES, CheckFailure
    from autograder.judging.records import decode_value
    from autograder.student.cases.ps4_gradients import VAE_ARCH, vae_keys
    from autograder.student.probes import VISIBLE_SEED, draw_cases
    from autograder.student.values import to_value
    from vaelib.models import VAE

    model = VAE(**VAE_ARCH)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(1e30)
    state = model.state_dict()
    value = decode_value(to_value(tuple(state[k] for k, _ in vae_keys())).to_json())
    case = draw_cases("vae_heldout_elbo", VISIBLE_SEED, "visible")[0]
    with pytest.raises(CheckFailure, match="not a finite number"):
        JUDGES["vae_heldout_elbo"].assess(case, value)


def test_points_that_overflow_the_graders_recomputation_fail():
    """Red team (issue 17): a score-function estimate that had f evaluated at huge points made the grader's own
    recomputation inf, and |estimate - inf| <= inf passed the recorded case. Any non-finite number the grader
    computes fails the check."""
    import torch

    from autograder.judging import JUDGES, CheckFailure, prepared_cases
    from autograder.judging.records import decode_outcome
    from autograder.student.probes import PROBES
    from autograder.student.values import Outcome, to_value

    name, seed = "score_function_gradient", 12345
    cases = prepared_cases(name, seed, "hidden")
    index = next(i for i, case in enumerate(cases) if case.get("recorded"))

    def huge_points(f, mu, sigma, n_samples):
        f(torch.linspace(1, 2, n_samples, dtype=torch.float64) * 1e120)  # n distinct points, far out
        return torch.tensor([123.0, -456.0])

    value = decode_outcome(Outcome(index, value=to_value(PROBES[name].call(huge_points, cases[index]))).to_json())
    with pytest.raises(CheckFailure, match="not a finite number"):
        JUDGES[name].assess(cases[index], value.value)


def test_an_upstream_excuse_never_rests_on_nan():
    """Red team (issue 17): with NaN matching NaN, a decoder_gradient returning NaN was 'right given' a
    reparameterize that returned NaN. A NaN now matches nothing."""
    import numpy as np

    from autograder.judging.upstream import same_values

    assert not same_values(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]))
    assert same_values(np.array([-np.inf, 1.0]), np.array([-np.inf, 1.0]))
