"""Every realistic bug in tests/submissions/mutants.py loses the points of its check, every time.

Exact checks must fail for each of two grading seeds; statistical ones for each of three (their power, >= 0.999
per seed, is measured in test_grading_correctness_power.py). The checks run in-process on the functions.
"""

from __future__ import annotations

from collections import Counter

import pytest

from autograder.judging import JUDGES
from tests.submissions.harness import argument_for, run_check, variant_namespace
from tests.submissions.make_submissions import MUTANTS, apply_replacement, load_solution


def test_there_are_enough_realistic_mutants():
    assert len(MUTANTS) >= 20
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)
    per_assignment = Counter(m.assignment for m in MUTANTS)
    assert all(per_assignment[a] >= 4 for a in ("ps1_likelihood", "ps2_autoencoders", "ps3_elbo", "ps4_gradients"))
    text = " ".join(m.description.lower() for m in MUTANTS)
    for bug in ("missing kl", "wrong sign", "without the 1/2", "sigma used where sigma^2", "sigma^2 used where sigma",
                "log sigma vs log sigma^2", ".detach()", "torch.no_grad", "missing f(z)", "missing the score",
                "mean over pixels", "from the prior"):
        assert bug in text, f"no mutant for: {bug}"


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_fails_its_check(mutant):
    assert all(name in JUDGES for name in mutant.checks)
    changed = apply_replacement(load_solution(mutant.assignment), mutant.function, mutant.source)
    assert changed != load_solution(mutant.assignment)
    scope = variant_namespace(mutant)
    seeds = (101, 102, 103) if mutant.statistical else (101, 102)
    for name in mutant.checks:
        func = scope[argument_for(name) if argument_for(name) in scope else mutant.function]
        for seed in seeds:
            verdict = run_check(name, func, seed)
            assert not verdict.passed, f"{mutant.name} passed {name} with seed {seed}: {verdict.message}"
            assert "Read:" in verdict.message  # feedback points to the book
