"""ps4_gradients: how each check's returned values are judged (grader side only, never mounted in the sandbox).

The cases are drawn by autograder/student/cases/ps4_gradients.py from the same seed.
"""

from __future__ import annotations

import numpy as np

from ..student.cases.ps4_gradients import (
    DEC_X_DIM,
    DEC_Z_DIM,
    TEACHER_FLIP,
    TEACHER_PROTOTYPES,
    TEACHER_TEST,
    TEACHER_TRAIN,
    VAE_ARCH,
    teacher_images,
    teacher_prototypes,
    vae_keys,
)
from . import upstream
from .base import CheckFailure, Judge, register_judge
from .compare import (
    case_key,
    expect_calls,
    expect_calls_of_items,
    expect_close,
    expect_items,
    expect_tensor,
    gauss_hermite,
    normal_grid,
    probe_items,
    require_finite,
)
from .sections import Reading
from .statistics import (
    StatSpec,
    either_estimator,
    expectation,
    mean_of_samples,
    moments,
    not_recorded,
    statistical_assess,
    unless_recorded,
)


def _reparam_exact(case, value):
    mu, log_var = (np.float32(case[k]).astype(np.float64) for k in ("mu", "log_var"))
    eps = np.float32(case["eps"]).astype(np.float64) if "eps" in case else None
    sigma = np.exp(0.5 * log_var)
    if case["mode"] == "eps":
        expected = mu + sigma * eps
        actual = expect_tensor(value, shape=expected.shape, what="z (the shape of eps broadcast against mu)")
        expect_close(actual, expected, rtol=1e-5, atol=1e-5, what="z = mu + sigma * eps with sigma = exp(log_var/2)")
        return
    drawn = case["mode"] == "grad_sample"  # the noise drawn by the function: the path train_vae takes
    if value is not None and value.kind == "tensor":
        raise CheckFailure("The returned z does not depend differentiably on mu and log_var (requires_grad is "
                           "False): was it detached, computed under torch.no_grad(), or rebuilt from numbers?"
                           + (" (eps=None: the noise drawn by your function)" if drawn else ""))
    weights = np.float32(case["weights"]).astype(np.float64)
    if drawn:
        z_value, grad_mu_value, grad_lv_value = expect_items(value, 3, "z and the gradients (d/dmu, d/dlog_var)")
        z = expect_tensor(z_value, shape=mu.shape, what="z (same shape as mu when eps is None)")
        shift = z - mu  # = sigma eps, so d z / d log_var = sigma eps / 2 (Kingma & Welling 2014, sec. 2.4)
    else:
        grad_mu_value, grad_lv_value = expect_items(value, 2, "the gradients (d/dmu, d/dlog_var)")
        shift = sigma * eps
    for item, expected, label in [(grad_mu_value, weights, "d/dmu"),
                                  (grad_lv_value, weights * 0.5 * shift, "d/dlog_var")]:
        if item.kind != "tensor":
            raise CheckFailure(f"No gradient reached {label[2:]} through z: it is not used (or used only through "
                               "a detached copy).")
        actual = expect_tensor(item, shape=expected.shape, what=f"the gradient {label} of sum(w * z)")
        expect_close(actual, expected, rtol=1e-4, atol=1e-5, what=f"the gradient {label} of sum(w * z)")


# Whole rows of float32 noise coincide by chance with probability below 5e-5 per sampling case with d = 2 (about 7e-8
# per coordinate and pair, 8.6e9 pairs), far less for d = 4; noise reused between rows or calls repeats thousands.
REPEATED_ROWS_LIMIT = 16
REPARAM_QUANTILES = (0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975)  # shares of e below these normal quantiles
REPARAM_TAILS = (0.01, 0.002)  # and shares of |e| beyond the two-sided quantiles: both tails in one test


def _reparam_shares():
    """(probabilities, thresholds, labels) of the shape tests: P(e < q) = p, and P(|e| > q) = p for the tails."""
    from scipy.special import ndtri

    below, tails = np.asarray(REPARAM_QUANTILES), np.asarray(REPARAM_TAILS)
    below_at, beyond_at = ndtri(below), -ndtri(tails / 2)
    labels = [f"share of (z - mu)/sigma below {q:+.3f} (the normal's {100 * p:g}% quantile)"
              for p, q in zip(below, below_at, strict=True)] + \
             [f"share of |z - mu|/sigma above {q:.3f} ({100 * p:g}% for N(0, 1))"
              for p, q in zip(tails, beyond_at, strict=True)]
    return np.concatenate([below, tails]), (below_at, beyond_at), labels


def _reparam_statistics(case):
    """Sampling case (eps=None), REPARAM_CALLS = 16 calls of REPARAM_ROWS = 8,192 identical rows: e = (z - mu) / sigma,
    computed by the grader, must be N(0, 1). Per call: the mean and the sample variance of e in each column (V = 1 /
    rows and 2 / (rows - 1), a chi^2_{rows-1} / (rows - 1)), and, over all N = rows x d values of e, the share below
    each normal quantile of REPARAM_QUANTILES and the share of |e| beyond the two-sided quantiles of REPARAM_TAILS
    (binomial: V = p (1 - p) / N). The shares pin the SHAPE of the noise: noise of mean 0 and variance 1 that is not
    normal (Student-t, uniform, Laplace, logistic) fails. And for each pair of columns the mean product of their e
    (V = 1 / rows): noise shared between the columns of a row (correlation 1) fails. Mean and spread tests over the
    calls, delta = 1e-6 over 2 d + 9 + d (d - 1) / 2 components. Against unit-variance Student-t(30) noise in the
    hidden case (d = 4: 524,288 values) the tail share is about 20 standard errors off;
    tests/test_grading_correctness_power.py measures the power (>= 0.999) per mutant. sigma^2 as the scale
    (|log_var| >= 1 makes Var e = sigma^2 >= e or <= 1/e), uniform noise (mean 0.5), one noise row shared by all
    rows (variance 0) and a fixed seed (identical calls) all fail. Detach / no_grad / sigma^2 fail the exact cases
    (a gradient case with eps given and one with the noise drawn inside)."""
    if case["mode"] != "sample":
        return None
    d, rows = len(case["mu"]), case["rows"]
    p, _, share_labels = _reparam_shares()
    count, pairs = rows * d, len(_column_pairs(d))
    labels = [f"mean of (z - mu)/sigma in column {j + 1}" for j in range(d)] + \
             [f"variance of (z - mu)/sigma in column {j + 1}" for j in range(d)] + share_labels + \
             [f"mean product of (z - mu)/sigma in columns {j + 1} and {k + 1} (0 for independent noise)"
              for j, k in _column_pairs(d)]
    share_skewness = (1 - 2 * p) / np.sqrt(count * p * (1 - p))
    share_kurtosis = (1 - 6 * p * (1 - p)) / (count * p * (1 - p))
    # the product of two independent N(0, 1): mean 0, variance 1, skewness 0, excess kurtosis 6
    return StatSpec(np.concatenate([np.zeros(d), np.ones(d), p, np.zeros(pairs)]),
                    np.concatenate([np.full(d, 1 / rows), np.full(d, 2 / (rows - 1)), p * (1 - p) / count,
                                    np.full(pairs, 1 / rows)]),
                    case["delta"], labels, calls=case["calls"],
                    skewness=np.concatenate([np.zeros(d), np.full(d, np.sqrt(8 / (rows - 1))), share_skewness,
                                             np.zeros(pairs)]),
                    kurtosis=np.concatenate([np.zeros(d), np.full(d, 12 / (rows - 1)), share_kurtosis,
                                             np.full(pairs, 6 / rows)]))


def _column_pairs(d: int) -> list[tuple[int, int]]:
    return [(j, k) for j in range(d) for k in range(j + 1, d)]


def _reparam_estimate(case, value):
    mu, log_var = (np.float32(case[k]).astype(np.float64) for k in ("mu", "log_var"))
    z = expect_calls(value, case["calls"], (case["rows"], len(mu)), "z (same shape as mu when eps is None)")
    rows = z.reshape(-1, len(mu))  # every row of every call: independent noise never repeats a whole row
    repeated = len(rows) - len(np.unique(rows, axis=0))
    if not repeated < REPEATED_ROWS_LIMIT:
        raise CheckFailure(f"{repeated} rows of z are exactly the same value as other rows (within a call or from "
                           "an earlier call): noise was reused. Draw fresh, independent noise for every entry and "
                           "every call.")
    e = (z - mu) / np.exp(0.5 * log_var)  # (calls, rows, d)
    flat = e.reshape(len(e), -1)  # (calls, rows d): every value of a call, pooled over the columns
    _, (below, beyond), _ = _reparam_shares()
    shares = np.concatenate([(flat[:, :, None] < below).mean(1), (np.abs(flat)[:, :, None] > beyond).mean(1)], 1)
    products = np.stack([(e[:, :, j] * e[:, :, k]).mean(1) for j, k in _column_pairs(len(mu))], 1)  # (calls, pairs)
    return np.concatenate([e.mean(1), e.var(1, ddof=1), shares, products.reshape(len(e), -1)], axis=1)


register_judge(Judge(
    name="reparameterize",
    assess=statistical_assess(_reparam_statistics, _reparam_estimate, "your samples z", exact=_reparam_exact),
    statistics=_reparam_statistics,
    estimate=_reparam_estimate,
    statistical=lambda case: case["mode"] == "sample",
    section=(Reading("ch6-trick", "The trick: move the randomness into an input"),),
    what="z = mu + exp(log_var / 2) * eps, exact for a given eps, differentiable in (mu, log_var), and N(mu, "
         "sigma^2) distributed when eps is drawn by your function",
))


def _per_sample_estimates(case, eps: np.ndarray) -> dict[str, np.ndarray]:
    """The four single-sample estimates at noise eps (any shape): score-function and pathwise, d/dmu and d/dsigma."""
    c = np.asarray(case["coeffs"], np.float64)
    mu, sigma = case["mu"], case["sigma"]
    z = mu + sigma * eps
    f = np.polynomial.polynomial.polyval(z, c)
    df = np.polynomial.polynomial.polyval(z, np.polynomial.polynomial.polyder(c))
    return {"score_mu": f * eps / sigma, "score_sigma": f * (eps**2 - 1) / sigma,
            "path_mu": df, "path_sigma": df * eps, "f": f, "eps": eps}


def _estimator_statistics(kind: str):
    def statistics(case):
        """Truth (d/dmu, d/dsigma) = (E f'(z), E[f'(z) eps]) and the moments of one call's estimate, by 60-node
        Gauss-Hermite quadrature (exact for these polynomials; for (z - k)^2 it reproduces the table in
        shared/notes/statistical-grading.md). Pathwise: the average of f'(z) and f'(z) eps over n samples. Score
        function: the average of f(z) S(z), S = (eps / sigma, (eps^2 - 1) / sigma), or with the leave-one-out
        baseline, whose estimate is the unbiased sample covariance of f and S: variance (mu22 - (n-2)/(n-1)
        mu11^2) / n + mu20 mu02 / (n (n-1)); V and V_low the larger and smaller of the two. Cases (ps4 cases
        file): a quadratic and a cubic f, each with n = 1 and n = 2 on 200 calls (median of block means) and a
        large n on 40 calls (z-test and spread test); delta = 1e-6 over 6 cases. Power:
        tests/test_grading_correctness_power.py."""
        nodes, weights = gauss_hermite(60, 1)
        per = _per_sample_estimates(case, nodes[:, 0])
        n = case["n_samples"]
        labels = ["d/dmu", "d/dsigma (sigma a standard deviation)"]
        robust = n < 100
        if kind == "path":
            call = mean_of_samples(moments(weights, np.stack([per["path_mu"], per["path_sigma"]], -1)), n)
            return StatSpec(call["mean"], call["variance"], case["delta"], labels, calls=case["calls"],
                            skewness=call["skewness"], kurtosis=call["kurtosis"], robust=robust)
        score = np.stack([per["score_mu"], per["score_sigma"]], -1)  # f(z) S(z), (nodes, 2)
        f, s = per["f"], np.stack([per["eps"] / case["sigma"], (per["eps"] ** 2 - 1) / case["sigma"]], -1)
        mean_f = expectation(weights, f)
        plain = mean_of_samples(moments(weights, score), n)
        centred = mean_of_samples(moments(weights, (f - mean_f)[:, None] * s), n)
        mu11, mu22 = expectation(weights, score), expectation(weights, (f - mean_f)[:, None] ** 2 * s**2)
        mu20, mu02 = expectation(weights, (f - mean_f) ** 2), expectation(weights, s**2)
        loo = ((mu22 - (n - 2) / (n - 1) * mu11**2) / n + mu20 * mu02 / (n * (n - 1))) if n > 1 else plain["variance"]
        return StatSpec(plain["mean"], np.maximum(plain["variance"], loo), case["delta"], labels, calls=case["calls"],
                        variance_low=np.minimum(plain["variance"], loo),
                        skewness=np.maximum(np.abs(plain["skewness"]), np.abs(centred["skewness"])),
                        kurtosis=np.maximum(plain["kurtosis"], centred["kurtosis"]), robust=robust)

    return statistics


def _estimator_estimate(case, value):
    return expect_calls(value, case["calls"], (2,), "the gradient estimate [d/dmu, d/dsigma]")


_score_statistics = unless_recorded(_estimator_statistics("score"))


def _score_recorded(case, value):
    """The recorded case (SCORE_RECORDED in the cases file): each call's estimate, given the points its f was
    evaluated at, must be the plain average of f(z_s) S(z_s) or the leave-one-out one, S = (eps / sigma,
    (eps^2 - 1) / sigma), eps = (z - mu) / sigma, and f must be evaluated at exactly n_samples distinct points.
    A constant baseline such as f(mu) (one more point), a leave-one-out mean divided by n instead of n - 1, or any
    other variance reduction fails on the first call that shows it; both allowed forms pass up to float32 rounding."""
    n, mu, sigma, calls = case["n_samples"], case["mu"], case["sigma"], case["calls"]
    if value is None or value.kind != "calls" or len(value.items) != calls:
        raise CheckFailure(f"The test did not get {calls} results for the gradient estimate.")
    for index, item in enumerate(value.items):
        where = f"call {index + 1} of {calls} (n_samples = {n})"
        estimate_value, points_value = expect_items(item, 2, "the estimate and the points")
        estimate = expect_tensor(estimate_value, shape=(2,), what=f"the gradient estimate [d/dmu, d/dsigma], {where}")
        z = np.unique(expect_tensor(points_value, what="the points f was evaluated at"))
        if len(z) != n:
            raise CheckFailure(f"In {where} your function evaluated f at {len(z)} distinct points. The score-function "
                               f"estimator evaluates f at its n_samples = {n} samples only: a baseline must be the "
                               "leave-one-out mean of f over the other samples, not f at another point (e.g. f(mu)).")
        eps = (z - mu) / sigma
        fz = np.polynomial.polynomial.polyval(z, np.asarray(case["coeffs"], np.float64))
        score = np.stack([eps / sigma, (eps**2 - 1) / sigma], -1)  # (n, 2)
        baseline = (fz.sum() - fz) / (n - 1)  # the mean of f over the other samples
        plain, loo = (fz[:, None] * score).mean(0), ((fz - baseline)[:, None] * score).mean(0)
        tolerance = 1e-4 * np.abs(fz[:, None] * score).mean(0) + 1e-6
        require_finite([plain, loo, tolerance], f"In {where}, the estimate the grader recomputed from the points "
                                                f"your function evaluated f at")
        if not any(np.all(np.abs(estimate - form) <= 1e-3 * np.abs(form) + tolerance) for form in (plain, loo)):
            raise CheckFailure(
                f"In {where}, given the {n} samples your function evaluated f at, the plain score-function average "
                f"is {_pair(plain)} and the leave-one-out one {_pair(loo)}; yours is {_pair(estimate)}. Only these "
                "two are accepted: check the score d/dparam log q(z) and the baseline (the mean of f over the "
                f"OTHER n - 1 = {n - 1} samples).")


def _pair(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.6g}" for v in values) + "]"


register_judge(Judge(
    name="score_function_gradient",
    assess=statistical_assess(_score_statistics, _estimator_estimate, "your score-function gradient estimate",
                              exact=_score_recorded),
    statistics=_score_statistics,
    estimate=_estimator_estimate,
    statistical=not_recorded,
    section=(Reading("ch6-score-function", "The score-function estimator"),),
    what="the score-function estimate of grad_(mu, sigma) E_{z ~ N(mu, sigma^2)}[f(z)] from n_samples independent "
         "samples (plain, or with the leave-one-out baseline), evaluating f only (this f cannot be differentiated)",
))


register_judge(Judge(
    name="pathwise_gradient",
    assess=statistical_assess(_estimator_statistics("path"), _estimator_estimate, "your pathwise gradient estimate"),
    statistics=_estimator_statistics("path"),
    estimate=_estimator_estimate,
    section=(Reading("ch6-pathwise", "The pathwise estimator"),),
    what="the pathwise estimate of grad_(mu, sigma) E_{z ~ N(mu, sigma^2)}[f(z)], differentiating f(mu + sigma "
         "eps) by autograd, from n_samples independent samples",
))


def _gradvar_assess(case, value):
    eps = np.float32(case["eps"]).astype(np.float64)
    per = _per_sample_estimates(case, eps)
    expected = np.array([[np.var(per["score_mu"], ddof=1), np.var(per["score_sigma"], ddof=1)],
                         [np.var(per["path_mu"], ddof=1), np.var(per["path_sigma"], ddof=1)]])
    actual = expect_tensor(value, shape=(2, 2), what="the variances [[score d/dmu, score d/dsigma], "
                                                     "[pathwise d/dmu, pathwise d/dsigma]]")
    # 1/n or 1/(n-1) are both accepted: they differ by a factor n/(n-1)
    expect_close(actual, expected, rtol=1.5 / (len(eps) - 1) + 1e-4, atol=1e-6,
                 what="the single-sample variances (rows: score function, pathwise; columns: d/dmu, d/dsigma)")


register_judge(Judge(
    name="gradient_variances",
    assess=_gradvar_assess,
    section=(Reading("ch6-variance", "The price: variance"),),
    what="the variance of one sample's score-function and pathwise gradient estimates, measured on the given eps",
))


_DECODER_CACHE: dict[str, dict] = {}
DECODER_NETWORK_KEYS = ("x", "mu", "log_var", "weight", "bias")


def _decoder_moments(case) -> dict:
    """Single-sample moments of the batch's gradient grad_theta sum_i log p(x_i | z_i) for the linear decoder
    logits = W z + b (grad_b = x - sigmoid, grad_W = (x - sigmoid) z^T), on the 2-D grid (normal_grid), for both
    allowed ways of drawing the noise: independent for each data point ("independent": the moments of a sum of
    independent terms) and one draw shared by the batch ("shared"). Cached in-process by the network's content."""
    key = case_key(case, DECODER_NETWORK_KEYS)
    if key not in _DECODER_CACHE:
        f32 = {k: np.float32(case[k]).astype(np.float64) for k in DECODER_NETWORK_KEYS}
        nodes, weights = normal_grid(DEC_Z_DIM)
        z = f32["mu"] + np.exp(0.5 * f32["log_var"]) * nodes[:, None, :]  # (m, batch, z_dim)
        logits = np.einsum("mbk,jk->mbj", z, f32["weight"]) + f32["bias"]  # (m, batch, x_dim); einsum: no BLAS
        residual = f32["x"] - 1.0 / (1.0 + np.exp(-logits))
        per = np.concatenate([(residual[..., :, None] * z[..., None, :]).reshape(*z.shape[:2], -1), residual], -1)
        points = [moments(weights, per[:, i]) for i in range(per.shape[1])]  # each data point's term
        variance = sum(p["variance"] for p in points)
        third = sum(p["skewness"] * p["variance"] ** 1.5 for p in points)
        excess_fourth = sum(p["kurtosis"] * p["variance"] ** 2 for p in points)
        safe = np.where(variance > 0, variance, 1.0)
        independent = {"mean": sum(p["mean"] for p in points), "variance": variance,
                       "skewness": third / safe**1.5, "kurtosis": excess_fourth / safe**2}
        _DECODER_CACHE[key] = {"independent": independent, "shared": moments(weights, per.sum(1))}
    return _DECODER_CACHE[key]


def _decoder_statistics(case):
    """Truth: grad_theta sum_i E_q[log p(x_i | z)] by 2-D quadrature (_decoder_moments). Allowed: noise independent
    for each data point or shared by the batch; V and V_low the larger and smaller of their variances. Cases (ps4
    cases file): two networks, n = 1 and n = 2 on 40 calls (median of block means), n = 500 on 40 calls (z-test
    and spread test); delta = 1e-6 over 4 cases x 18 components. Power: tests/test_grading_correctness_power.py."""
    found = _decoder_moments(case)
    n = case["n_samples"]
    forms = [mean_of_samples(found[form], n) for form in ("independent", "shared")]
    labels = [f"d/dweight[{r}, {c}]" for r in range(DEC_X_DIM) for c in range(DEC_Z_DIM)] + \
             [f"d/dbias[{r}]" for r in range(DEC_X_DIM)]
    return either_estimator(forms[0]["mean"], forms[0], forms[1], case["delta"], labels, case["calls"], n < 100)


def _decoder_estimate(case, value):
    calls, _ = probe_items(value, 2)
    grad_w, grad_b = expect_calls_of_items(calls, case["calls"], [(DEC_X_DIM, DEC_Z_DIM), (DEC_X_DIM,)],
                                           ["the gradient for decoder.weight", "the gradient for decoder.bias"],
                                           kinds=("tuple", "list"))
    return np.concatenate([grad_w.reshape(case["calls"], -1), grad_b], axis=1)


def _decoder_gradient_given(case, z: np.ndarray) -> np.ndarray:
    """The exact gradient [d/dweight (flattened), d/dbias] of sum_i mean_s log p(x_i | z_si) at the samples
    z (n, batch, z_dim)."""
    f32 = {k: np.float32(case[k]).astype(np.float64) for k in ("x", "weight", "bias")}
    residual = f32["x"] - 1.0 / (1.0 + np.exp(-(np.einsum("sbk,jk->sbj", z, f32["weight"]) + f32["bias"])))
    grad_w = np.einsum("sbj,sbk->jk", residual, z) / len(z)
    return np.concatenate([grad_w.reshape(-1), residual.sum(1).mean(0)])


def _right_given_reparameterize(case, value) -> bool:
    """One bug, one loss: True when the student's reparameterize returned wrong samples inside decoder_gradient,
    and every call the probe recorded returned exactly the gradient of sum_i mean_s log p(x_i | z_s) at the samples
    reparameterize gave it, called with this case's mu and log_var (or the same with leading dimensions) and
    standard-normal-looking noise that broadcasts to (n_samples, batch, z_dim) (independent per data point or shared
    by the batch). The statistical tests are then not applied (they judge the samples, which are reparameterize's)."""
    calls_value, spied = probe_items(value, 2)
    groups = upstream.spied_groups(spied)
    if not groups or calls_value.kind != "calls":
        return False
    mu, log_var = (np.float32(case[k]).astype(np.float64) for k in ("mu", "log_var"))
    n, wrong, noise = case["n_samples"], False, []
    for index, group in enumerate(groups):
        arrays = [upstream.array_of(item) for item in group[0]] if len(group) == 1 else []
        if len(arrays) != 4 or any(a is None for a in arrays) or index >= len(calls_value.items):
            return False
        their_mu, their_log_var, eps, z = arrays
        try:  # mu and log_var as given, or with leading dimensions (unsqueezed, expanded); noise of any shape that
            # broadcasts, e.g. (n, batch, z_dim) or shared by the batch (n, 1, z_dim): z must be (n, batch, z_dim)
            if not all(upstream.same_values(theirs, np.broadcast_to(ours, theirs.shape))
                       for theirs, ours in ((their_mu, mu), (their_log_var, log_var))):
                return False
            right = their_mu + np.exp(0.5 * their_log_var) * eps
        except ValueError:  # shapes that do not broadcast
            return False
        if z.shape != (n, *mu.shape) or right.shape != z.shape:
            return False
        wrong |= not upstream.same_values(z, right, rtol=1e-5, atol=1e-5)
        call = calls_value.items[index]
        parts = [upstream.array_of(item) for item in call.items] if call.kind == "tuple" else []
        if len(parts) != 2 or any(p is None for p in parts) or parts[0].shape != (DEC_X_DIM, DEC_Z_DIM):
            return False
        if not upstream.same_values(np.concatenate([parts[0].reshape(-1), parts[1]]),
                                    _decoder_gradient_given(case, z), rtol=1e-4, atol=1e-4):
            return False
        noise.append(eps.reshape(-1))
    noise = np.concatenate(noise)
    standard = abs(noise.mean()) < 6 / np.sqrt(noise.size) and abs(noise.var() - 1) < 6 * np.sqrt(2 / noise.size) + 0.05
    return wrong and standard


def _decoder_assess(case, value):
    try:
        return _decoder_statistical_assess(case, value)
    except CheckFailure:
        if _right_given_reparameterize(case, value):
            return upstream.note("reparameterize", "decoder_gradient")
        raise


_decoder_statistical_assess = statistical_assess(_decoder_statistics, _decoder_estimate,
                                                 "your estimate of grad_theta ELBO")


register_judge(Judge(
    name="decoder_gradient",
    assess=_decoder_assess,
    statistics=_decoder_statistics,
    estimate=_decoder_estimate,
    section=(Reading("ch5-theta-gradient", "The gradient with respect to θ"),),
    what="the Monte Carlo estimate of grad_theta of the batch's ELBO (sum over data points), a tuple (or list) of "
         "one tensor per decoder parameter, with n_samples samples of q per data point, fresh on every call",
))


VAE_MAX_GAP = 4.0  # nats per held-out image between the teacher's exact log-likelihood and the trained model's
# ELBO. Measured on the grader's image models (10 random prototypes, pixels flipped with probability 0.1; exact
# log-likelihood about -22.9 nats): the solution's train_vae 2.15-2.64 over 13 models, the five correct alternatives
# 2.05-2.53; a decoder trained on prior samples 18.9-19.7, no KL term 78-89, weights made in advance 105-117.
TEST_GAP = 0.4  # the held-out ELBO may not beat the training images' by more than this (nats per image)


def teacher_log_likelihood(case: dict, x: np.ndarray) -> np.ndarray:
    """log p(x) per image under the case's model of the images (a mixture of flipped prototypes), exactly."""
    from scipy.special import logsumexp

    p = np.where(teacher_prototypes(case), 1 - TEACHER_FLIP, TEACHER_FLIP)  # (K, 64) P(pixel = 1)
    joint = x @ np.log(p).T + (1 - x) @ np.log1p(-p).T - np.log(TEACHER_PROTOTYPES)  # (n, K)
    return logsumexp(joint, axis=1)


def _vae_elbos(model, case) -> tuple[float, float]:
    """The grader's ELBO of the trained model (nats per image, ``n_samples`` samples each) on held-out images of the
    case's model and on the training images it was given."""
    import torch

    from vaelib.probability import elbo

    held_out = torch.tensor(teacher_images(case, TEACHER_TEST, 1), dtype=torch.float32)
    trained_on = torch.tensor(teacher_images(case, TEACHER_TRAIN, 0), dtype=torch.float32)
    generator_state, threads = torch.random.get_rng_state(), torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            torch.manual_seed(case["seed"])
            test_elbo = elbo(held_out, model.encode, model.decode, n_samples=case["n_samples"]).mean().item()
            torch.manual_seed(case["seed"])
            train_elbo = elbo(trained_on, model.encode, model.decode, n_samples=case["n_samples"]).mean().item()
    finally:
        torch.random.set_rng_state(generator_state)
        torch.set_num_threads(threads)
    return test_elbo, train_elbo


def _vae_assess(case, value):
    import torch

    from vaelib.models import VAE

    keys = vae_keys()
    items = expect_items(value, len(keys), "the model's weights")
    state = {k: torch.tensor(expect_tensor(item, shape=shape, what=f"the weights {k}"), dtype=torch.float32)
             for (k, shape), item in zip(keys, items, strict=True)}
    devices = sorted({item.device for item in items if item.device != "cpu"})
    if devices:
        raise CheckFailure(f"Your model's weights are on {devices[0]}: the docstring asks for the trained model on the "
                           "CPU (return model.cpu()).")
    model = VAE(**VAE_ARCH)
    model.load_state_dict(state)
    model.eval()
    test_elbo, train_elbo = _vae_elbos(model, case)
    exact = float(teacher_log_likelihood(case, teacher_images(case, TEACHER_TEST, 1)).mean())
    require_finite((test_elbo, train_elbo), "The ELBO the grader computed from your trained weights (on the "
                                            "held-out and on the training images)")
    if not exact - test_elbo <= VAE_MAX_GAP:
        raise CheckFailure(f"The grader trained your train_vae on {TEACHER_TRAIN} images drawn at grading time from a "
                           f"random model of 8x8 images and evaluated the returned model on {TEACHER_TEST} new "
                           f"images of the same model, with {case['n_samples']} samples per image: its ELBO is "
                           f"{test_elbo:.2f} nats per image, {exact - test_elbo:.2f} below their exact log-likelihood "
                           f"({exact:.2f}); it must be within {VAE_MAX_GAP} (a correct train_vae is within about "
                           f"2.5). A model that was not trained on the images train_vae is given cannot get there.")
    if not test_elbo <= train_elbo + TEST_GAP:
        raise CheckFailure(f"Your model fits the held-out images better than the images it was trained on "
                           f"({test_elbo:.2f} against {train_elbo:.2f} nats per image): train on the x_train you "
                           f"are given only.")


register_judge(Judge(
    name="vae_heldout_elbo",
    assess=_vae_assess,
    section=(Reading("ch6-vae", "Training a VAE with each estimator"),
             Reading("ch4-training-step", "One training step, by hand")),
    what=f"the grader calls your train_vae on {TEACHER_TRAIN} binary 8x8 images drawn at grading time from a random "
         f"model of its own and requires the returned VAE (vaelib.models.VAE(x_dim=64, hidden=128, z_dim=4)) to "
         f"reach, on new images of that model, an ELBO within {VAE_MAX_GAP} nats per image of their exact "
         f"log-likelihood (and not to fit them better than its training images by more than {TEST_GAP} nats)",
))
