"""A notebook's names, settled across its checks (grader side only; never mounted in the sandbox).

Each failed check names what its own cases show (autograder.judging.misconceptions.diagnosis). Once every check of a
notebook is judged, two things can show that a name rests on too little, and then it is withdrawn (the check still
fails, with its own message, and nothing is named: never a guess):

* **the visible check against the hidden one.** The visible cases are few and hand-picked, with simple numbers on
  which two different wrong formulas can agree (the mean of the squares over two features and the norm, both 2),
  and a few calls cannot tell spreads apart. When the same check's hidden cases failed too and named another
  misconception, or none, the visible check's name is withdrawn.
* **a wrong function underneath.** A function whose outputs are wrong because a function it calls is wrong (a
  correct IWAE bound on top of a log-likelihood that gives -inf) can look like a misconception of its own. When a
  function it calls (:data:`CALLS`) failed one of its own checks, no misconception is named for it.
"""

from __future__ import annotations

from ..base import Verdict
from . import CATALOGUE, function_of

# function -> the graded functions of the same notebook it calls, as the notebooks ask students to write them
CALLS = {
    "mixture_log_marginal": ("log_sum_exp",),
    "mc_log_marginal": ("log_sum_exp",),
    "train_linear_autoencoder": ("reconstruction_error",),
    "elbo": ("gaussian_kl", "bernoulli_log_likelihood"),
    "iwae_bound": ("bernoulli_log_likelihood",),
    "decoder_gradient": ("reparameterize",),
    "train_vae": ("reparameterize",),
}


def settle(cells: list[list[tuple[str, str, Verdict]]]) -> list[list[tuple[str, str, Verdict]]]:
    """Each cell's (check name, kind, verdict) triples, with the names withdrawn that the notebook's other verdicts
    contradict (see the module's docstring)."""
    failed = {function_of(name) for cell in cells for name, _, verdict in cell if not verdict.passed}
    hidden: dict[str, set[tuple[str, ...]]] = {}  # check -> what it named where its hidden cases failed
    for cell in cells:
        for name, kind, verdict in cell:
            if kind != "visible" and not verdict.passed:
                hidden.setdefault(name, set()).add(verdict.misconceptions)
    settled = []
    for cell in cells:
        out = []
        for name, kind, verdict in cell:
            function = function_of(name)
            withdraw = set(verdict.misconceptions) if any(up in failed for up in CALLS.get(function, ())) else set()
            if kind == "visible" and name in hidden:
                withdraw |= {m for m in verdict.misconceptions if any(m not in named for named in hidden[name])}
            out.append((name, kind, withdrawn(verdict, withdraw) if withdraw else verdict))
        settled.append(out)
    return settled


def withdrawn(verdict: Verdict, ids: set[str]) -> Verdict:
    """The verdict without the named misconceptions ``ids``: the lead lines autograder.judging.misconceptions
    .diagnosis.explained put first, their sections (unless the check's own message names them too), their ids."""
    message, readings = verdict.message, list(verdict.readings)
    for misconception in ids:
        entry = CATALOGUE.get(misconception)
        if entry is None:
            continue
        lead = f"Likely misconception {entry.describe()}\nRead: {entry.reading}\n"
        if message.startswith(lead):
            message = message[len(lead):]
        if entry.reading in readings and str(entry.reading) not in message:
            readings.remove(entry.reading)
    return Verdict(verdict.passed, message, tuple(readings), verdict.excused,
                   tuple(m for m in verdict.misconceptions if m not in ids))
