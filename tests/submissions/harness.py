"""In-process helpers for the grading-correctness tests: run checks on functions directly (no CLI, no kernel)."""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from make_submissions import namespace  # noqa: E402
from variants import Variant  # noqa: E402

from autograder.judging import (  # noqa: E402
    JUDGES,
    Verdict,
    judge,
    judge_outcome,
    passed_verdict,
    prepared_cases,
)
from autograder.judging.records import decode_outcome  # noqa: E402
from autograder.judging.statistics import StatSpec  # noqa: E402
from autograder.student.probes import PROBES, call_case, describe_exception, draw_cases, probe  # noqa: E402
from autograder.student.values import Outcome, to_value  # noqa: E402

# The grading-correctness tests call many small-tensor functions: on a loaded 2-core machine torch's intra-op
# threads only spin (measured 8x slower), so this process computes single-threaded.
_torch = __import__("torch")
_torch.set_num_threads(1)

# test cells pass these expressions instead of the function of the same name
CHECK_ARGUMENT = {"vae_heldout_elbo": "train_vae", "mc_log_marginal_given_z": "mc_log_marginal"}
# checks whose probe trains a model (the grader calls train_vae on data it draws: seconds per grading seed); the
# correctness tests judge them under the first TRAINING_SEEDS grading seeds only, each a fresh transformation of the
# data and a fresh training run
TRAINING_CHECKS = {"vae_heldout_elbo"}
TRAINING_SEEDS = 4


def argument_for(check_name: str) -> str:
    return CHECK_ARGUMENT.get(check_name, check_name)


def seeds_for(check_name: str, seeds) -> list[int]:
    """The grading seeds a correctness test judges ``check_name`` under."""
    seeds = list(seeds)
    return seeds[:TRAINING_SEEDS] if check_name in TRAINING_CHECKS else seeds


def seed_torch(*parts) -> None:
    """Seed torch's global generator from ``parts``: every test seeds what it draws itself, so a test draws the same
    numbers alone (-k, one file) as in the whole suite (the cached namespaces are shared between tests)."""
    import hashlib

    import torch

    digest = hashlib.sha256(repr(parts).encode()).digest()
    torch.manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))


@functools.cache
def solution_namespace(assignment: str) -> dict:
    """The solution's functions (cached)."""
    seed_torch("solution", assignment)
    return namespace(assignment)


def variant_namespace(variant: Variant) -> dict:
    seed_torch("variant", variant.name)
    return namespace(variant.assignment, variant)


def run_check(name: str, func, seed: int, kind: str = "hidden", lazy: bool = False) -> Verdict:
    """Probe in this process, then judge the records as the grader receives them (JSON-shaped, validated). torch is
    seeded from (name, seed, kind) first, so the result does not depend on what ran before.

    ``lazy``: probe and judge one case at a time and stop at the first failure. The verdict is the same as
    judge()'s (the same judge_outcome, applied in the same order, stopping at the same case), without probing the
    cases after a failure: for tests of buggy submissions."""
    seed_torch("run_check", name, seed, kind)
    if not lazy:
        return judge(name, seed, kind, [outcome.to_json() for outcome in probe(name, func, seed, kind)])
    cases = prepared_cases(name, seed, kind)
    notes: list[str] = []
    for index, case in enumerate(draw_cases(name, seed, kind)):
        outcome = decode_outcome(_probe_case(name, func, case, index).to_json())
        failure = judge_outcome(name, kind, cases, outcome, notes)
        if failure is not None:
            return failure
    return passed_verdict(name, kind, len(cases), notes)


def _probe_case(name: str, func, case: dict, index: int) -> Outcome:
    """What autograder.student.probes.probe() records for one case (a scaling case: both sample sizes)."""
    start = time.perf_counter()
    try:
        value = to_value(call_case(PROBES[name], func, case))
        return Outcome(index, value=value, seconds=time.perf_counter() - start)
    except Exception as error:  # noqa: BLE001 - the student's exception becomes data, as in probe()
        return Outcome(index, error=describe_exception(error), seconds=time.perf_counter() - start)


def probe_one(name: str, func, case: dict):
    """Call ``func`` on one already-drawn case the way probe() does, and decode the value as the grader does."""
    from autograder.judging.records import decode_value

    return decode_value(to_value(call_case(PROBES[name], func, case)).to_json())


def statistical_cases(name: str, seed: int, kind: str = "hidden") -> list[tuple[int, dict, StatSpec]]:
    """(index, case, StatSpec) of every statistically judged case of ``name`` drawn from ``seed``."""
    check = JUDGES[name]
    found = []
    for index, case in enumerate(prepared_cases(name, seed, kind)):
        if "sample_sizes" in case:  # a scaling case: judged by assess_scaling, not by a StatSpec (scaling_power)
            continue
        spec = check.statistics(case)
        if spec is not None:
            found.append((index, case, spec))
    return found


def scaling_cases(name: str, seed: int, kind: str = "hidden") -> list[dict]:
    return [case for case in prepared_cases(name, seed, kind) if "sample_sizes" in case]


def scaling_power(name: str, func, case: dict, repetitions: int) -> float | None:
    """A lower bound, holding with confidence CONFIDENCE, on the probability that ``func`` fails the scaling case
    (autograder.judging.statistics.assess_scaling), from ``repetitions`` runs at each of its two sample sizes; None
    when the calls cannot be extracted (the function fails deterministically). The summed variance of m calls is
    taken as sigma^2 chi^2_(m-1) / (m - 1) (near-normal calls): the pooled runs give a confidence bound on the true
    ratio rho, and the check fails when the observed ratio, about rho F(m-1, m-1), is under the threshold."""
    from scipy.stats import f as f_distribution

    from autograder.judging.statistics import scaling_threshold

    small, big = case["sample_sizes"]
    plain = {k: v for k, v in case.items() if k != "sample_sizes"}
    totals = []
    for n in (small, big):
        samples = runs(name, func, dict(plain, n_samples=n), repetitions)
        if samples is None:
            return None
        totals.append(samples.reshape(repetitions, case["calls"], -1).var(1, ddof=1).sum(-1).mean())
    if totals[1] == 0.0:
        return 0.0
    pooled = repetitions * (case["calls"] - 1)
    rho_high = totals[0] / totals[1] / f_distribution.ppf(1 - CONFIDENCE, pooled, pooled)
    threshold = scaling_threshold(JUDGES[name], case)
    m = case["calls"] - 1
    return float(f_distribution.cdf(threshold / rho_high, m, m))


def runs(name: str, func, case: dict, repetitions: int) -> np.ndarray | None:
    """The estimates of ``repetitions`` independent runs of one case: (repetitions, calls, components), or None when
    they cannot be extracted (the function raises or breaks the return contract: it fails deterministically)."""
    check = JUDGES[name]
    found = []
    for _ in range(repetitions):
        try:
            found.append(np.asarray(check.estimate(case, probe_one(name, func, case)), np.float64))
        except Exception:  # noqa: BLE001 - CheckFailure or the student's exception
            return None
    return np.stack(found)


CONFIDENCE = 0.999  # of the bounds on a mutant's bias and spread used by power()


def power(spec: StatSpec, samples: np.ndarray) -> tuple[float, str]:
    """A lower bound, holding with confidence CONFIDENCE (per bound: bias, and spread on each side), on the
    probability that a mutant fails ``spec``'s tests, from its measured estimates (runs, calls, components).

    Per component, from all runs x calls: the bias b (its size shrunk by z_CONFIDENCE standard errors) and the sd
    s of one call (replaced by its chi^2 upper confidence bound where a larger spread lowers the power, and its lower
    bound where it raises it). Then the failure probability of each test under a normal model of the calls: the
    mean test (the mean of the calls ~ N(b, s^2 / m), or, for robust cases, block means ~ N(b, s^2 / block) and the
    binomial law of their median), the spread test (s^2_calls ~ s^2 chi^2_(m - 1) / (m - 1)), and the identical-
    calls test (every run's calls identical: probability 1). Returns the largest over tests and components, and
    what it came from."""
    from scipy.stats import binom, chi2, norm

    from autograder.judging.statistics import identical_calls, median_of_means_plan

    if all(identical_calls(run) for run in samples):
        return 1.0, "every call returned the same value"
    runs_, calls, _ = samples.shape
    flat = samples.reshape(runs_ * calls, -1)
    count = flat.shape[0]
    z = norm.ppf(CONFIDENCE)
    sd = flat.std(0, ddof=1)
    sd_high = sd * np.sqrt((count - 1) / chi2.ppf(1 - CONFIDENCE, count - 1))
    sd_low = sd * np.sqrt((count - 1) / chi2.ppf(CONFIDENCE, count - 1))
    bias = np.maximum(np.abs(flat.mean(0) - spec.truth) - z * sd_high / np.sqrt(count), 0.0)
    tolerance = spec.mean_tolerance()
    best, detail = 0.0, ""
    for j, label in enumerate(spec.labels):
        if spec.robust:
            t, blocks = median_of_means_plan(spec.calls, spec.mean_delta())
            spread = max(sd_high[j] / np.sqrt(spec.calls // blocks), 1e-300)
            miss = norm.cdf((bias[j] - tolerance[j]) / spread)  # one block beyond the tolerance, on the bias' side
            p_mean = float(binom.sf(blocks // 2, blocks, miss))  # at least blocks // 2 + 1 of them
        else:
            spread = max(sd_high[j] / np.sqrt(spec.calls), 1e-300)
            p_mean = float(norm.cdf((bias[j] - tolerance[j]) / spread) + norm.cdf((-bias[j] - tolerance[j]) / spread))
        candidates = [(p_mean, f"{label}: the mean, bias {flat[:, j].mean() - spec.truth[j]:.4g} (sd of one call "
                               f"{sd[j]:.3g}) against a tolerance of {tolerance[j]:.3g}")]
        if spec.has_spread_test:
            low, high = spec.spread_bounds()
            nu = spec.calls - 1
            p_low = chi2.cdf(low[j] * nu / max(sd_high[j] ** 2, 1e-300), nu)
            p_high = chi2.sf(high[j] * nu / max(sd_low[j] ** 2, 1e-300), nu)
            candidates.append((float(p_low + p_high), f"{label}: the spread, sd of one call {sd[j]:.4g} against "
                                                      f"[{np.sqrt(low[j]):.4g}, {np.sqrt(high[j]):.4g}]"))
        for probability, text in candidates:
            if probability > best:
                best, detail = probability, text
    return best, detail
