"""In-process helpers for the grading-correctness tests: run checks on functions directly (no CLI, no kernel)."""

from __future__ import annotations

import functools
import math
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from make_submissions import namespace  # noqa: E402
from variants import Variant  # noqa: E402

from autograder.judging import JUDGES, Verdict, judge, prepared_cases  # noqa: E402
from autograder.judging.statistics import StatSpec  # noqa: E402
from autograder.student.probes import PROBES, probe  # noqa: E402
from autograder.student.values import to_value  # noqa: E402

# The grading-correctness tests call many small-tensor functions: on a loaded 2-core machine torch's intra-op
# threads only spin (measured 8x slower), so this process computes single-threaded.
_torch = __import__("torch")
_torch.set_num_threads(1)

# test cells pass these expressions instead of the function of the same name
CHECK_ARGUMENT = {"vae_heldout_elbo": "vae", "mc_log_marginal_given_z": "mc_log_marginal"}
TRAIN_CELL = {"vae_heldout_elbo": ("train_run",)}


def argument_for(check_name: str) -> str:
    return CHECK_ARGUMENT.get(check_name, check_name)


def extra_cells(checks) -> tuple[str, ...]:
    return tuple(cell for name in checks for cell in TRAIN_CELL.get(name, ()))


@functools.cache
def solution_namespace(assignment: str, train: bool = False) -> dict:
    """The solution's functions (cached); ``train`` also runs the VAE training cell of ps4."""
    import torch

    torch.manual_seed(0)
    return namespace(assignment, extra_cells=("train_run",) if train else ())


def variant_namespace(variant: Variant) -> dict:
    import torch

    torch.manual_seed(0)
    return namespace(variant.assignment, variant, extra_cells=extra_cells(variant.checks))


def run_check(name: str, func, seed: int, kind: str = "hidden") -> Verdict:
    """Probe in this process, then judge the records as the grader receives them (JSON-shaped, validated)."""
    return judge(name, seed, kind, [outcome.to_json() for outcome in probe(name, func, seed, kind)])


def estimates(name: str, func, seed: int, repetitions: int) -> list[tuple[StatSpec, np.ndarray]]:
    """For every statistical case of ``name`` drawn from ``seed``: (its StatSpec, the estimates of ``repetitions``
    independent calls, shape (repetitions, components)). Estimates that cannot be extracted (errors, wrong shapes)
    make the entry None."""
    check = JUDGES[name]
    cases = prepared_cases(name, seed, "hidden")
    result = []
    for index, case in enumerate(cases):
        spec = check.statistics(case)
        if spec is None:
            continue
        rows = []
        for _ in range(repetitions):
            try:
                outcome = probe_one(name, func, case, index)
                rows.append(np.asarray(check.estimate(case, outcome), np.float64).reshape(-1))
            except Exception:  # noqa: BLE001 - an erroring mutant fails deterministically, no power to measure
                rows = None
                break
        result.append((spec, None if rows is None else np.stack(rows)))
    return result


def probe_one(name: str, func, case: dict, index: int):
    """Call ``func`` on one already-drawn case the way probe() does; returns the Value."""
    return to_value(PROBES[name].call(func, case))


def power(spec: StatSpec, samples: np.ndarray) -> tuple[float, str]:
    """Probability that the z-test fails, from the mutant's measured distribution (repetitions, components):
    bias b and sd s_m per component, taken conservatively (|b| shrunk by 3 standard errors, s_m inflated by 20%),
    then max over components of Phi((|b| - z sd) / s_m) + Phi((-|b| - z sd) / s_m)."""
    from scipy.stats import norm

    reps = samples.shape[0]
    truth, sd = np.asarray(spec.truth).reshape(-1), np.asarray(spec.sd).reshape(-1)
    mean = samples.mean(0)
    spread = samples.std(0, ddof=1) if reps > 1 else np.zeros_like(mean)
    spread = np.maximum(1.2 * spread, 1e-12)
    bias = np.maximum(np.abs(mean - truth) - 3 * spread / math.sqrt(reps), 0.0)
    z = spec.threshold()
    probabilities = norm.cdf((bias - z * sd) / spread) + norm.cdf((-bias - z * sd) / spread)
    best = int(np.argmax(probabilities))
    detail = (f"{spec.labels[best]}: bias {mean[best] - truth[best]:.4g} (sd of the estimate {spread[best]:.3g}), "
              f"tolerance {z * sd[best]:.3g}")
    return float(probabilities[best]), detail
