"""Red-team reproducers (tests/adversarial/redteam): solution notebooks with functions replaced.

Run: .venv/bin/python tests/adversarial/redteam/make_redteam.py OUT  -> OUT/<assignment>/<name>/<assignment>.ipynb,
plus the solution and the released exercise as controls. Grade each OUT/<assignment> folder with
`python -m autograder grade --assignment <assignment> OUT/<assignment> --output ... --workers 1`.

Every non-control case here is a submission whose score is NOT what its code deserves (see REDTEAM.md).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "submissions"))

from make_submissions import apply_replacement, load_solution  # noqa: E402

# n_samples ignored: a fixed sample count equal to (or within ~2x of) the one the spread-tested hidden cases use.
# The robust cases (n_samples 1 and 2) judge only the mean, so any fixed count passes them.
ELBO_FIXED = '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    eps = torch.randn((500, *mu.shape), dtype=mu.dtype)  # BUG: n_samples ignored
    z = mu + torch.exp(0.5 * log_var) * eps
    return bernoulli_log_likelihood(x, decoder(z)).mean(0) - gaussian_kl(mu, log_var)
'''
IWAE_FIXED = '''
def iwae_bound(x, encoder, decoder, n_samples=8):
    n_samples = 8  # BUG: K ignored
    mu, log_var = encoder(x)
    eps = torch.randn((n_samples, *mu.shape), dtype=mu.dtype)
    z = mu + torch.exp(0.5 * log_var) * eps
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_q = -0.5 * (eps**2 + log_var + math.log(2 * math.pi)).sum(-1)
    log_w = bernoulli_log_likelihood(x, decoder(z)) + log_prior - log_q
    return torch.logsumexp(log_w, dim=0) - math.log(n_samples)
'''
SCORE_FIXED = '''
def score_function_gradient(f, mu, sigma, n_samples):
    eps = torch.randn(max(n_samples, 10_000))  # BUG: n_samples ignored below 10,000
    z = mu + sigma * eps
    fz = f(z)
    return torch.stack([(fz * eps / sigma).mean(), (fz * (eps**2 - 1.0) / sigma).mean()])
'''
PATHWISE_FIXED = '''
def pathwise_gradient(f, mu, sigma, n_samples):
    mu_t = torch.tensor(float(mu), requires_grad=True)
    sigma_t = torch.tensor(float(sigma), requires_grad=True)
    eps = torch.randn(5000)  # BUG: n_samples ignored
    objective = f(mu_t + sigma_t * eps).mean()
    return torch.stack(torch.autograd.grad(objective, (mu_t, sigma_t)))
'''
DECODER_FIXED = '''
def decoder_gradient(x, mu, log_var, decoder, n_samples):
    eps = torch.randn((500, *mu.shape))  # BUG: n_samples ignored
    z = reparameterize(mu, log_var, eps)
    objective = bernoulli_log_likelihood(x, decoder(z)).mean(0).sum()
    return torch.autograd.grad(objective, list(decoder.parameters()))
'''
# A cheat, not a student bug: gaussian_kl is right when graded in its own cell, but returns 0 when the elbo probe
# asks it for "your own KL" (autograder.student.cases.common.upstream_value); elbo leaves the KL out entirely.
# The elbo judge then accepts the KL-less elbo as "right given your gaussian_kl".
KL_SPOOF = '''
def gaussian_kl(mu, log_var):
    import inspect
    if any(frame.function == "upstream_value" for frame in inspect.stack()):
        return torch.zeros(mu.shape[0])
    return 0.5 * (mu**2 + log_var.exp() - 1.0 - log_var).sum(-1)
'''
ELBO_NO_KL = '''
def elbo(x, encoder, decoder, n_samples=1):
    mu, log_var = encoder(x)
    eps = torch.randn((n_samples, *mu.shape), dtype=mu.dtype)
    z = mu + torch.exp(0.5 * log_var) * eps
    return bernoulli_log_likelihood(x, decoder(z)).mean(0)  # BUG: no KL
'''

CASES = {
    "ps3_elbo": {
        "n_samples_ignored": [("elbo", ELBO_FIXED), ("iwae_bound", IWAE_FIXED)],
        "upstream_kl_spoof": [("gaussian_kl", KL_SPOOF), ("elbo", ELBO_NO_KL)],
    },
    "ps4_gradients": {
        "n_samples_ignored": [("score_function_gradient", SCORE_FIXED), ("pathwise_gradient", PATHWISE_FIXED),
                              ("decoder_gradient", DECODER_FIXED)],
    },
}


def write(target: Path) -> None:
    for assignment, cases in CASES.items():
        folder = target / assignment
        for name, replacements in cases.items():
            nb = load_solution(assignment)
            for function, source in replacements:
                nb = apply_replacement(nb, function, source)
            (folder / name).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, str(folder / name / f"{assignment}.ipynb"))
        if assignment == "ps3_elbo":
            _unknown_ids(folder / "unknown_grade_ids" / f"{assignment}.ipynb")
        for control, path in [("control_solution", ROOT / "solutions" / assignment / f"{assignment}.ipynb"),
                              ("control_exercise", ROOT / "exercises" / assignment / f"{assignment}.ipynb")]:
            (folder / control).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, folder / control / f"{assignment}.ipynb")


def _unknown_ids(path: Path, cells: int = 3000, length: int = 1000) -> None:
    """The solution plus ``cells`` empty Markdown cells, each with its own unknown grade_id of ``length`` characters:
    every id is listed in the row's note, so grades.csv's message grows to cells x length characters (3 MB here;
    a 64 MB notebook makes a 60 MB CSV cell, far past a spreadsheet's 32,767-character cell limit)."""
    nb = load_solution("ps3_elbo")
    for index in range(cells):
        cell = nbformat.v4.new_markdown_cell("")
        cell.metadata["nbgrader"] = {"grade_id": f"{index:06d}" + "x" * (length - 6), "grade": False,
                                     "solution": False, "locked": False, "schema_version": 3}
        nb.cells.append(cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


if __name__ == "__main__":
    write(Path(sys.argv[1]))
