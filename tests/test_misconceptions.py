"""The catalogue of misconceptions (autograder/judging/misconceptions) and the diagnosis that names them.

* every catalogued misconception is named for a submission with exactly that bug, under 20 grading seeds, on every
  check it fails (test_grading_correctness_mutants.py, which grades each mutant under those seeds); the other
  mutants are given no name (those in mutants.DIAGNOSED_AS: the misconception whose outputs they have);
* a correct alternative implementation is never named (a passing verdict carries no misconception; the alternatives'
  own 20-seed test asserts it too); two bugs in two functions are both named, two bugs in one function neither;
* the catalogue is well formed (its readings are sections of the book, its implementations are the mutants') and
  never mounted in the grading sandbox; diagnosis is reproducible and names nothing past its budget;
* grades.csv, the feedback page, summary.md and misconceptions.png carry what was named (and ``check`` prints it).

The checks run in-process, as in the grading-correctness tests (harness.run_check: probe, then judge the records
as the grader receives them). Those of statistical checks are slow (each seed probes and diagnoses every case):
marked slow.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from autograder.judging import JUDGES
from autograder.judging.misconceptions import CATALOGUE, CHECK_FUNCTIONS, for_check, function_of
from autograder.judging.misconceptions import diagnosis as diagnosis_module
from tests.submissions.harness import argument_for, run_check, solution_namespace, variant_namespace
from tests.submissions.make_submissions import MUTANTS, namespace
from tests.submissions.mutants import DIAGNOSED_AS
from tests.test_feedback_sections import labelled_headings

ROOT = Path(__file__).resolve().parents[1]
GRADING_SEEDS = range(101, 121)  # 20, as the mutants' own test
BY_NAME = {m.name: m for m in MUTANTS}
# checks whose probes train a model: no misconception is catalogued for them (what training returns depends on
# every choice of the training), so diagnosis has nothing to run there
TRAINING_CHECKS = ("train_linear_autoencoder", "vae_heldout_elbo")


def _function(scope: dict, check: str, function: str):
    return scope[argument_for(check) if argument_for(check) in scope else function]


def _named(check: str, func, seed: int, kind: str = "hidden") -> tuple[bool, tuple[str, ...]]:
    verdict = run_check(check, func, seed, kind)
    assert verdict.passed or "Read:" in verdict.message
    if verdict.misconceptions:  # named first, with its section, then the check's own message
        entry = CATALOGUE[verdict.misconceptions[0]]
        assert verdict.message.startswith(f"Likely misconception [{entry.id}] {entry.text}\nRead: {entry.reading}\n")
        assert verdict.readings[0] == entry.reading
    return verdict.passed, verdict.misconceptions


# ---------------------------------------------------------------------------------------------- the catalogue
def test_the_catalogue_is_well_formed_and_its_implementations_are_the_mutants():
    assert len(CATALOGUE) >= 100
    per_function: dict[str, int] = {}
    for misconception in CATALOGUE.values():
        per_function[misconception.function] = per_function.get(misconception.function, 0) + 1
        assert re.fullmatch(r"[a-z0-9_]+", misconception.id), misconception.id
        assert all(check in JUDGES and function_of(check) == misconception.function for check in misconception.checks)
        assert f"def {misconception.function}(" in misconception.source
        text = misconception.text
        assert 40 <= len(text) <= 400 and "TODO" not in text and len(re.findall(r"[.!?](\s|$)", text)) <= 3, text
        # one definition: the mutant of the same name is built from the catalogue entry
        mutant = BY_NAME[misconception.id]
        assert (mutant.source, mutant.function, mutant.checks, mutant.description) == \
            (misconception.source, misconception.function, misconception.checks, misconception.summary)
    graded = {function_of(name) for name in JUDGES} - {function_of(check) for check in TRAINING_CHECKS}
    assert graded <= set(per_function), graded - set(per_function)  # every graded function has misconceptions
    assert set(DIAGNOSED_AS) <= set(BY_NAME) - set(CATALOGUE) and set(DIAGNOSED_AS.values()) <= set(CATALOGUE)
    assert all(function_of(check) in CHECK_FUNCTIONS.values() or check in JUDGES for check in CHECK_FUNCTIONS)


def test_every_reading_is_a_section_of_the_book():
    problems = []
    for misconception in CATALOGUE.values():
        reading = misconception.reading
        headings = labelled_headings(reading.document)
        if headings.get(reading.label) != reading.title:
            problems.append(f"{misconception.id}: ({reading.label})= titled {headings.get(reading.label)!r}, "
                            f"the catalogue says {reading.title!r}")
    assert not problems, "\n".join(problems)


def test_nothing_of_the_catalogue_is_mounted_in_the_grading_sandbox():
    from autograder import sandbox

    catalogue = (ROOT / "autograder" / "judging" / "misconceptions").resolve()
    for host, inside in sandbox.readonly_binds():  # none is the catalogue, a file in it, or a folder holding it
        host = Path(host).resolve()
        assert host != catalogue and catalogue not in host.parents and host not in catalogue.parents, (host, inside)
    assert "judging" not in sandbox.AUTOGRADER_STUDENT_SIDE


# ---------------------------------------------------------------------------------------------- diagnosis
def _statistical(checks) -> bool:
    return any(JUDGES[check].statistics is not None for check in checks)


# (every catalogued misconception, and every mutant of DIAGNOSED_AS, is named under 20 grading seeds by
# test_grading_correctness_mutants.py, which grades each mutant under those seeds anyway)
OTHERS = [m for m in MUTANTS if m.name not in CATALOGUE and m.name not in DIAGNOSED_AS]


@pytest.mark.parametrize("mutant", [pytest.param(m, id=f"{m.assignment}-{m.name}",
                                                  marks=[pytest.mark.slow] if _statistical(m.checks) else [])
                                     for m in OTHERS])
def test_a_mutant_the_catalogue_does_not_hold_is_given_no_other_name(mutant):
    if any(check in TRAINING_CHECKS for check in mutant.checks):
        assert not any(for_check(check) for check in mutant.checks)  # nothing to diagnose with
        return
    scope = variant_namespace(mutant)
    for check in mutant.checks:
        found = {seed: _named(check, _function(scope, check, mutant.function), seed)[1] for seed in GRADING_SEEDS[:3]}
        assert all(names == () for names in found.values()), found


@pytest.mark.parametrize("assignment", ["ps1_likelihood", "ps2_autoencoders", "ps3_elbo", "ps4_gradients"])
def test_a_correct_implementation_is_never_named(assignment):
    """The solution on every check the catalogue covers (the correct alternatives are graded under 20 seeds by
    test_grading_correctness_alternatives.py, which asserts they pass with no misconception named: diagnosis runs
    on a failure only)."""
    scope = solution_namespace(assignment)
    for check in (name for name in JUDGES if name not in TRAINING_CHECKS
                  and any(function_of(name) == m.function for m in CATALOGUE.values() if m.assignment == assignment)):
        assert _named(check, _function(scope, check, function_of(check)), GRADING_SEEDS[0]) == (True, ())


TWO_BUGS = [("ps1_likelihood", "loglik_mean_not_sum", "mle_variance"),
            ("ps3_elbo", "kl_wrong_sign", "iwae_no_log_k"),
            ("ps4_gradients", "variances_std", "pathwise_sum_samples")]


@pytest.mark.parametrize("assignment,first,second", TWO_BUGS)
def test_two_bugs_in_two_functions_are_both_named(assignment, first, second):
    scope = namespace(assignment, BY_NAME[first], also=(BY_NAME[second],))
    for name in (first, second):
        misconception = CATALOGUE[name]
        check = misconception.checks[0]
        for seed in GRADING_SEEDS[:3]:
            assert _named(check, _function(scope, check, misconception.function), seed) == (False, (name,))


def test_two_bugs_in_one_function_name_nothing():
    """KL with the wrong sign AND without the 1/2 is neither misconception: never a guess."""
    from tests.submissions.variants import Variant

    both = Variant("kl_two_bugs", "ps3_elbo", "gaussian_kl", ("gaussian_kl",), "two bugs", '''
def gaussian_kl(mu, log_var):
    return (1.0 + log_var - mu**2 - log_var.exp()).sum(-1)
''')
    func = variant_namespace(both)["gaussian_kl"]
    for seed in GRADING_SEEDS[:3]:
        assert _named("gaussian_kl", func, seed) == (False, ())
    # and a bug the catalogue does not know, in a statistical check
    other = Variant("elbo_quarter_kl", "ps3_elbo", "elbo", ("elbo",), "a quarter of the KL", '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn((n_samples, *mu.shape))
    return bernoulli_log_likelihood(x, decoder(z)).mean(0) - 0.25 * gaussian_kl(mu, log_var)
''')
    func = variant_namespace(other)["elbo"]
    assert _named("elbo", func, GRADING_SEEDS[0]) == (False, ())


def test_diagnosis_is_reproducible_leaves_torch_alone_and_names_nothing_past_its_budget(monkeypatch):
    import torch

    from autograder.judging import judge
    from autograder.student.probes import probe

    func = variant_namespace(BY_NAME["elbo_prior_samples"])["elbo"]
    first = run_check("elbo", func, 101)
    assert run_check("elbo", func, 101) == first and first.misconceptions == ("elbo_prior_samples",)
    records = [o.to_json() for o in probe("elbo", func, 101, "hidden")]
    torch.manual_seed(5)
    expected = torch.randn(3)
    torch.manual_seed(5)
    assert judge("elbo", 101, "hidden", records).misconceptions == ("elbo_prior_samples",)
    assert torch.equal(torch.randn(3), expected)  # the diagnosis restored the global generator
    monkeypatch.setattr(diagnosis_module, "BUDGET_S", 0.0)
    assert run_check("elbo", func, 101).misconceptions == ()
    monkeypatch.setattr(diagnosis_module, "BUDGET_S", 8.0)
    monkeypatch.setenv(diagnosis_module.ENABLED_VARIABLE, "0")
    assert run_check("elbo", func, 101).misconceptions == ()


def test_a_recorded_case_tells_apart_what_the_statistics_cannot():
    """A score-function estimator with the median of f as its baseline is, in distribution, as close to the
    catalogued mean baseline (score_mean_baseline) as the statistical cases can see. On the recorded case, fed the
    student's own noise, the misconception puts the very same points into f and returns other values: so it is
    not the student's bug, and nothing is named (comparing only the check's verdicts there named it on every seed)."""
    from tests.submissions.variants import Variant

    median = Variant("score_median_baseline", "ps4_gradients", "score_function_gradient", ("score_function_gradient",),
                     "the median of f as the baseline", '''
def score_function_gradient(f, mu, sigma, n_samples):
    eps = torch.randn(n_samples)
    fz = f(mu + sigma * eps)
    fz = fz - fz.median()
    return torch.stack([(fz * eps / sigma).mean(), (fz * (eps**2 - 1.0) / sigma).mean()])
''')
    func = variant_namespace(median)["score_function_gradient"]
    for seed in GRADING_SEEDS[:3]:
        assert _named("score_function_gradient", func, seed) == (False, ())


def test_a_seed_fixed_inside_a_catalogued_implementation_leaves_torch_manual_seed_alone(monkeypatch):
    """A misconception that fixes a seed inside the function calls torch.manual_seed on every call: diagnosis gives
    it a torch whose manual_seed seeds the CPU generator only (torch's own also queues every accelerator's, which
    cost more than the rest of the call), the same stream; it is still named."""
    import torch

    from autograder.judging import judge
    from autograder.student.probes import probe

    func = variant_namespace(BY_NAME["elbo_fixed_seed"])["elbo"]
    records = [o.to_json() for o in probe("elbo", func, 101, "hidden")]
    calls = []
    real = torch.manual_seed
    monkeypatch.setattr(torch, "manual_seed", lambda seed: calls.append(seed) or real(seed))
    assert judge("elbo", 101, "hidden", records).misconceptions == ("elbo_fixed_seed",)
    assert calls == []


# ---------------------------------------------------------------------------------------------- the outputs
def _notebook_records(assignment: str, variants: tuple[str, ...], seed: int = 7):
    """Every code cell of the solution notebook with the variants applied, run in-process with a grading context
    (as the sandbox runs it): (source, the records its checks made)."""
    import contextlib
    import io

    from autograder.source import load_source
    from autograder.student.probes import GradingContext, set_grading_context
    from tests.submissions.make_submissions import apply_replacement, load_solution, solution_path

    nb = load_solution(assignment)
    for name in variants:
        nb = apply_replacement(nb, BY_NAME[name].function, BY_NAME[name].source)
    release = ROOT / "exercises" / assignment / f"{assignment}.ipynb"
    source = load_source(assignment, solution_path(assignment), release)
    context = GradingContext(seed)
    scope: dict = {"__name__": "__main__"}
    set_grading_context(context)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            for cell in nb.cells:
                if cell.cell_type == "code" and cell.get("id") != "train_run":
                    context.current_cell = cell.metadata.get("nbgrader", {}).get("grade_id")
                    exec(compile(cell.source, f"<{assignment}>", "exec"), scope)  # noqa: S102
    finally:
        set_grading_context(None)
    return source, context.records


def _scored(source, records: list, seed: int = 7):
    """The notebook's test cells scored as the grader does, from its checks' records."""
    from autograder.scoring import score_test_cells

    messages = {cell.grade_id: {"status": "ok", "records": records} for cell in source.test_cells}
    return score_test_cells([(cell, messages[cell.grade_id]) for cell in source.test_cells], seed, "ok", None, 600.0)


def _scored_notebook(assignment: str, variants: tuple[str, ...], seed: int = 7):
    """(source, cell results) of the solution notebook with the variants applied (see _notebook_records)."""
    source, records = _notebook_records(assignment, variants, seed)
    return source, _scored(source, records, seed)


def test_grades_csv_feedback_and_class_report_carry_the_names(tmp_path):
    from autograder.feedback import render
    from autograder.grading import GradeResult
    from autograder.misconception_report import class_counts, summary_lines, write_class_figure
    from autograder.report import Row

    source, cells = _scored_notebook("ps1_likelihood", ("loglik_mean_not_sum", "mle_variance"))
    named = [m for cell in cells for m in cell.misconceptions]
    assert named == ["loglik_mean_not_sum", "mle_variance"]
    results = [GradeResult(student, "ps1_likelihood", 0.0, source.max_score, "ok", "", cells=cells)
               for student in ("alice", "bob")]
    _, clean_cells = _scored_notebook("ps1_likelihood", ())
    results.append(GradeResult("carol", "ps1_likelihood", 0.0, source.max_score, "ok", "", cells=clean_cells))
    rows = [Row(GradeResult.from_json(r.to_json()), {}, source) for r in results]  # as the journal keeps them
    assert rows[0].csv_row()["misconceptions"] == "loglik_mean_not_sum;mle_variance"
    assert rows[2].csv_row()["misconceptions"] == ""
    html = render(rows[0], "Problem set 1", "https://book.example")
    entry = CATALOGUE["mle_variance"]
    assert "What probably went wrong" in html and entry.id in html and entry.reading.url("https://book.example") in html
    assert html.index("What probably went wrong") < html.index("Autograded tests")
    assert "What probably went wrong" not in render(rows[2], "Problem set 1", "https://book.example")
    counts = {line.function: line for line in class_counts([r.result for r in rows], source)}
    assert counts["gaussian_mle"].named == {"mle_variance": 2} and counts["gaussian_mle"].unnamed == 0
    assert counts["gaussian_log_likelihood"].failed == 2 and "log_sum_exp" not in counts
    text = "\n".join(summary_lines([r.result for r in rows], source))
    assert "| ` gaussian_mle ` | ` mle_variance ` | 2 | returns the variance" in text and "misconceptions.png" in text
    write_class_figure(tmp_path / "misconceptions.png", [r.result for r in rows], source, "ps1")
    assert (tmp_path / "misconceptions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_check_names_the_misconception_first_with_its_book_link(tmp_path):
    """What a student sees in `check` (the visible tests, their notebook run as grade runs it): the failed cell's
    named misconception first, in their words, with the section to read and its address, then the check's own
    detail (what differed, the case, the line that reruns it). The passing cells name nothing."""
    import io

    import nbformat

    from autograder.selfcheck import self_check
    from tests.submissions.make_submissions import make_variant

    entry = CATALOGUE["mle_variance"]
    folder = tmp_path / entry.assignment
    folder.mkdir()
    notebook = folder / f"{entry.assignment}.ipynb"
    nbformat.write(make_variant(BY_NAME[entry.id]), str(notebook))
    out = io.StringIO()
    assert self_check(notebook, out=out, book_url="https://book.example") == 1
    lines = out.getvalue().splitlines()
    failed = [i for i, line in enumerate(lines) if line.startswith("FAIL ")]
    assert len(failed) == 1 and "test_gaussian_mle" in lines[failed[0]], out.getvalue()
    first, reading, link = (line.strip() for line in lines[failed[0] + 1:failed[0] + 4])
    assert first == f"Likely misconception [{entry.id}] {entry.text}"
    assert reading == f"Read: {entry.reading}" and link == entry.reading.url("https://book.example")
    detail = "\n".join(lines[failed[0] + 4:])
    assert "expected 1.11803, got 1.25" in detail and 'visible_case("gaussian_mle", 1, gaussian_mle)' in detail
    assert out.getvalue().count("Likely misconception") == 1


def test_a_visible_check_is_diagnosed_only_where_its_hidden_cases_passed(monkeypatch):
    """The grader judges the hidden checks first: a visible check whose hidden cases failed too is not diagnosed
    (what it named would be the hidden check's name, or be withdrawn by settle), so a failed submission gets the
    same names for one diagnosis less. Where the hidden cases passed, the visible check is diagnosed and its name
    stands (here the visible records are the bug's and the hidden ones the solution's)."""
    diagnosed = []
    explained = diagnosis_module.explained

    def counting(failure, name, kind, *rest):
        diagnosed.append((name, kind))
        return explained(failure, name, kind, *rest)

    monkeypatch.setattr(diagnosis_module, "explained", counting)
    source, records = _notebook_records("ps1_likelihood", ("mle_variance",))
    cells = _scored(source, records)
    assert diagnosed == [("gaussian_mle", "hidden")]
    assert [m for cell in cells for m in cell.misconceptions] == ["mle_variance"]
    [messages] = [cell.messages for cell in cells if "mle_variance" in cell.misconceptions]
    assert [m.startswith("Failed: Likely misconception [mle_variance]") for m in messages] == [False, True]
    _, solution = _notebook_records("ps1_likelihood", ())
    diagnosed.clear()
    cells = _scored(source, [r for r in records if r["kind"] == "visible"]
                    + [r for r in solution if r["kind"] != "visible"])
    assert diagnosed == [("gaussian_mle", "visible")]
    assert [m for cell in cells for m in cell.misconceptions] == ["mle_variance"]


def test_a_name_the_notebooks_other_verdicts_contradict_is_withdrawn():
    """A visible check's name that its hidden cases do not confirm, and a name for a function whose callee failed its
    own checks, are withdrawn (the check still fails, with its own message)."""
    from autograder.judging import Verdict
    from autograder.judging.misconceptions.settle import settle

    def named(misconception: str, detail: str = "detail\nRead: somewhere") -> Verdict:
        entry = CATALOGUE[misconception]
        return Verdict(False, f"Likely misconception {entry.describe()}\nRead: {entry.reading}\n{detail}",
                       (entry.reading,), (), (misconception,))

    plain = Verdict(False, "recon (hidden tests): wrong\nRead: x", (), (), ())
    [[visible, hidden]] = settle([[("reconstruction_error", "visible", named("recon_mean_over_features")),
                                   ("reconstruction_error", "hidden", plain)]])
    assert visible[2].misconceptions == () and visible[2].message == "detail\nRead: somewhere"
    assert visible[2].readings == () and not visible[2].passed and hidden[2] is plain
    [[kept, _]] = settle([[("gaussian_kl", "visible", named("kl_wrong_sign")),
                           ("gaussian_kl", "hidden", named("kl_wrong_sign"))]])
    assert kept[2].misconceptions == ("kl_wrong_sign",)
    cells = [[("bernoulli_log_likelihood", "hidden", named("bernoulli_naive_sigmoid"))],
             [("iwae_bound", "hidden", named("iwae_naive_log_mean_exp"))]]
    [[callee], [caller]] = settle(cells)
    assert callee[2].misconceptions == ("bernoulli_naive_sigmoid",) and caller[2].misconceptions == ()
