"""Every realistic bug in tests/submissions/mutants.py loses the points of the cell that judges the buggy function,
under every one of 20 grading seeds: the same bug gets the same grade for every student. A bug that is a catalogued
misconception (autograder/judging/misconceptions) is also named in the feedback, under every seed.

The checks run in-process on the functions (probe, then judge on the JSON-shaped records). Statistical mutants'
power (>= 0.999 per seed, with stated confidence) is measured in test_grading_correctness_power.py; here each
seed's verdict is observed. Each test seeds torch itself (harness.run_check), so the verdicts do not depend on the
order the tests run in.
"""

from __future__ import annotations

import pytest

from autograder.judging import JUDGES
from autograder.judging.misconceptions import CATALOGUE
from tests.submissions.harness import argument_for, run_check, seeds_for, variant_namespace
from tests.submissions.make_submissions import MUTANTS, apply_replacement, load_solution
from tests.submissions.mutants import DIAGNOSED_AS
from tests.test_assignments_solutions import graded_cells, parsed_checks

GRADING_SEEDS = range(101, 121)  # 20
# the mutants that are misconceptions of the catalogue (autograder/judging/misconceptions), or behave as one, and the
# name each must get in its feedback on every seed (tests/test_misconceptions.py checks the others get none)
NAMED = {m.name: DIAGNOSED_AS.get(m.name, m.name) for m in MUTANTS if m.name in CATALOGUE or m.name in DIAGNOSED_AS}
# mutants whose probes train a model per case: every seed is still run, but they are the slow ones
SLOW = {m.name for m in MUTANTS if {"train_linear_autoencoder", "vae_heldout_elbo"} & set(m.checks)}
# and the misconceptions of statistical checks: each seed probes every case and diagnoses it (about 0.1-0.5 s)
SLOW |= {name for name in NAMED if any(JUDGES[check].statistics for check in next(
    m.checks for m in MUTANTS if m.name == name))}


def checks_of_cell(assignment: str, check_name: str) -> set[str]:
    """The checks of the test cell that calls ``check_name``."""
    for cell in graded_cells(load_solution(assignment)):
        names = {name for name, _, _ in parsed_checks(cell.source)}
        if check_name in names:
            return names
    raise KeyError(check_name)


def test_there_are_enough_realistic_mutants():
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)
    # how many each assignment needs (one per check at least): tests/test_assignment_completeness.py says it
    text = " ".join(m.description.lower() for m in MUTANTS)
    for bug in ("missing kl", "wrong sign", "without the 1/2", "sigma used where sigma^2", "sigma^2 used where sigma",
                "log sigma vs log sigma^2", ".detach()", "torch.no_grad", "missing f(z)", "missing the score",
                "mean over pixels", "from the prior",
                # issue 8
                "pathwise estimator (differentiates f)", "exact gradient by quadrature", "fixed seed",
                "entirely -inf", "ignores dim", "python float", "numpy array", "gradient attached",
                "code size hard-coded to 2", "underflows", "1/(n_samples - 1)", "score-function estimator in pathwise",
                "one noise draw broadcast over the samples"):
        assert bug in text, f"no mutant for: {bug}"


@pytest.mark.parametrize("mutant", [pytest.param(m, marks=pytest.mark.slow) if m.name in SLOW else m
                                    for m in MUTANTS], ids=[f"{m.assignment}-{m.name}" for m in MUTANTS])
def test_mutant_loses_its_cells_points_under_every_seed(mutant):
    assert all(name in JUDGES for name in mutant.checks)
    assert apply_replacement(load_solution(mutant.assignment), mutant.function, mutant.source) != \
        load_solution(mutant.assignment)
    scope = variant_namespace(mutant)
    for name in mutant.checks:
        assert checks_of_cell(mutant.assignment, name)  # the check belongs to a test cell: that cell loses points
        func = scope[argument_for(name) if argument_for(name) in scope else mutant.function]
        passed, misnamed = [], {}
        named = NAMED.get(mutant.name)  # a misconception: its feedback must name it (judged whole, so diagnosed)
        for seed in seeds_for(name, GRADING_SEEDS):
            # lazily otherwise: the same verdict, without the cases after a failure
            verdict = run_check(name, func, seed, lazy=named is None)
            if verdict.passed:
                passed.append(seed)
            else:
                assert "Read:" in verdict.message  # feedback points to the book
                if named is not None and verdict.misconceptions != (named,):
                    misnamed[seed] = verdict.misconceptions
        assert not passed, f"{mutant.name} passed {name} with grading seeds {passed}"
        assert not misnamed, f"{mutant.name} on {name} was not named {named} with grading seeds {misnamed}"


def test_verdicts_do_not_depend_on_what_ran_before():
    """Each check seeds torch itself (harness.run_check): a run after other draws from the global generator gives the
    same verdict, numbers included, as a run on its own (so -k and single-file runs see the suite's numbers)."""
    import torch

    from tests.submissions.harness import solution_namespace

    func = solution_namespace("ps3_elbo")["elbo"]
    mutant = next(m for m in MUTANTS if m.name == "elbo_prior_samples")
    buggy = variant_namespace(mutant)["elbo"]
    first = [run_check("elbo", f, 101).message for f in (func, buggy)]
    torch.randn(12345)
    assert [run_check("elbo", f, 101).message for f in (func, buggy)] == first


@pytest.mark.parametrize("name", ["elbo", "score_function_gradient", "pathwise_gradient", "decoder_gradient"])
def test_the_lazy_verdict_is_the_full_verdict(name):
    """The mutant test above judges lazily (harness.run_check(lazy=True)): it must probe every case as the grader
    does, scaling cases at both their sample sizes, or a mutant that only a scaling case catches would count as
    caught for the wrong reason. On the solution both ways pass every case with the same message."""
    from tests.submissions.harness import scaling_cases, solution_namespace

    assignment = "ps3_elbo" if name == "elbo" else "ps4_gradients"
    func = solution_namespace(assignment)[name]
    assert scaling_cases(name, GRADING_SEEDS[0])  # the check has a scaling case to get wrong
    lazy, full = (run_check(name, func, GRADING_SEEDS[0], lazy=lazy) for lazy in (True, False))
    assert lazy.passed and full.passed, (lazy.message, full.message)
    assert lazy.message == full.message
