"""The similarity report's committed cases are what they claim: correct students, copies that still work, real
disguises (tests/similarity/). Fast: the answers run in-process on small tensors."""

from __future__ import annotations

import ast
import json
import math
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "similarity"))

from cases import BLANKS, disguised_cells, families, notebook_for, student_cells, write_cases  # noqa: E402
from disguises import DISGUISES  # noqa: E402
from students import FUNCTIONS, STUDENTS, _solution_answers  # noqa: E402

DETERMINISTIC = {"gaussian_kl", "bernoulli_log_likelihood", "lg_log_marginal", "lg_posterior", "gaussian_kl_full",
                 "lg_elbo"}


def namespace(cells: dict[str, str]) -> dict:
    scope = {"torch": torch, "math": math}
    for code in cells.values():
        exec(compile(code, "<answer>", "exec"), scope)  # noqa: S102 - the project's own committed cases
    return scope


def inputs(function: str) -> tuple:
    generator = torch.Generator().manual_seed(7)
    d, k = 5, 2

    def normal(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    W, x, b, q_mean = normal(d, k), normal(d), normal(d), normal(k)
    A, B = normal(k, k), normal(k, k)
    q_cov, cov1 = A @ A.T + 0.5 * torch.eye(k, dtype=torch.float64), B @ B.T + 0.5 * torch.eye(k, dtype=torch.float64)
    return {"gaussian_kl": (normal(4, 3), normal(4, 3)),
            "bernoulli_log_likelihood": (torch.rand(4, 6, generator=generator, dtype=torch.float64),
                                         3 * normal(2, 4, 6)),
            "lg_log_marginal": (x, W, b, 0.7), "lg_posterior": (x, W, b, 0.7),
            "gaussian_kl_full": (q_mean, q_cov, normal(k), cov1), "lg_elbo": (x, W, b, 0.7, q_mean, q_cov)}[function]


def close(value, expected) -> bool:
    if isinstance(expected, tuple):
        return all(close(v, e) for v, e in zip(value, expected, strict=True))
    return torch.allclose(torch.as_tensor(value).double(), expected.double(), rtol=1e-6, atol=1e-8)


@pytest.fixture(scope="module")
def reference() -> dict:
    return namespace({f: code for f, code in _solution_answers().items()})


@pytest.mark.parametrize("student", sorted(STUDENTS))
def test_independent_students_are_correct(student, reference):
    """Every deterministic answer equals the solution's; elbo and iwae_bound are the alternatives that the grading
    tests keep at full marks (tests/submissions/alternatives.py), or the solution's own."""
    scope = namespace(student_cells(student))
    for function in sorted(DETERMINISTIC):
        assert close(scope[function](*inputs(function)), reference[function](*inputs(function))), (student, function)


@pytest.mark.slow  # about 10 s: every copy of every student run
@pytest.mark.parametrize("disguise", sorted(DISGUISES))
def test_disguised_copies_still_work_like_their_original(disguise):
    """A copier keeps the answers working: each disguised copy computes what its original computes, the random
    functions included (same torch seed, same draws)."""
    encoder = lambda x: (0.1 * x[:, :3], -1.0 + 0 * x[:, :3])  # noqa: E731
    decoder = lambda z: z.sum(-1, keepdim=True).expand(*z.shape[:-1], 6)  # noqa: E731
    for student in sorted(STUDENTS):
        original, copy = namespace(student_cells(student)), namespace(disguised_cells(student, disguise))
        for function in sorted(DETERMINISTIC):
            assert close(copy[function](*inputs(function)), original[function](*inputs(function))), \
                (student, disguise, function)
        x = torch.rand(4, 6, generator=torch.Generator().manual_seed(3))
        for function in ("elbo", "iwae_bound"):
            torch.manual_seed(11)
            expected = original[function](x, encoder, decoder, 3)
            torch.manual_seed(11)
            assert torch.allclose(copy[function](x, encoder, decoder, 3), expected), (student, disguise, function)


@pytest.mark.parametrize("disguise", sorted(DISGUISES))
def test_every_disguise_changes_every_student(disguise):
    for student in sorted(STUDENTS):
        original, copy = student_cells(student), disguised_cells(student, disguise)
        changed = [f for f in FUNCTIONS if copy[f] != original[f]]
        if disguise == "reorder":  # a cell with one function keeps it; the cells move in the notebook instead
            moved = notebook_for(copy, cells_reversed=True)["cells"]
            order = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in moved]
            assert [f for f in order if f in FUNCTIONS] == list(reversed(FUNCTIONS))
        else:
            assert changed, (student, disguise)
        for code in copy.values():
            ast.parse(code)
        if disguise == "rename":
            names = {n.id for code in copy.values() for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)}
            assert any(name.startswith("my_") or name in ("latent", "noise", "data") for name in names)
        if disguise == "dead_code":
            assert all(len(copy[f]) > len(original[f]) for f in FUNCTIONS)


def test_the_cases_are_written_as_submission_folders(tmp_path):
    written = write_cases(tmp_path)
    expected = {name for family in families().values() for name in family} | set(BLANKS)
    assert set(written) == expected
    for name in written:
        notebook = json.loads((tmp_path / name / "ps3_elbo.ipynb").read_text())
        ids = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in notebook["cells"]]
        assert name in BLANKS[2:] or set(FUNCTIONS) <= set(ids), name
