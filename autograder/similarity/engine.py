"""The comparison itself, done by copydetect (https://github.com/blingenf/copydetect), chosen over compare50 by
measurement (bench/similarity_tools.py, bench/RESULTS.md).

copydetect tokenizes each student's code with Pygments, replaces every name by one letter and every string by
another and drops comments and spaces (so renaming, rewriting comments and re-spacing change nothing it sees), takes
the hashes of all 25-character k-grams of what is left, keeps a winnowed subset (window 6: a shared stretch of 30
filtered characters is always found), removes those of the template (the released notebook), and counts, for each
pair, the filtered characters covered by shared fingerprints: order does not matter (functions moved around still
match) and dead code only adds unmatched text.

Winnowing picks fingerprints by their hash values, and copydetect hashes with Python's ``hash()``, which is salted
per process: so that the same submissions give the same scores on every run, the fingerprints are made in child
processes with a fixed ``PYTHONHASHSEED`` (python -m autograder.similarity.worker). Comparing uses no hashing:
only pairs that share a fingerprint are compared (the others score 0), in child processes for a large class.

A pair's score is the larger of the two shares "this student's fingerprinted code that the other's matches",
where code shorter than MIN_CODE filtered characters counts as MIN_CODE long: two near-empty notebooks that share
one short standard line (``return 0.5 * (mu**2 + ...).sum(-1)``) do not top the list.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from dataclasses import dataclass

import numpy as np

NOISE = 25  # copydetect's noise threshold: shorter shared stretches are never a match (its default)
GUARANTEE = 30  # copydetect's guarantee threshold: longer shared stretches are always found (its default)
MIN_CODE = 200  # filtered characters; a full ps3 answer has 640-1,000
HASH_SEED = "20261205"
CHILD_TIMEOUT_S = 1800
IN_PROCESS_PAIRS = 3000  # fewer pairs than this are compared here (a child costs about 1 s to start)


@dataclass
class PairResult:
    a: str
    b: str
    score: float
    share_a: float
    share_b: float
    spans_a: list[tuple[int, int]]  # matched character ranges in a's text
    spans_b: list[tuple[int, int]]


class SimilarityToolError(Exception):
    """copydetect's child processes failed (the message says how)."""


def _run_children(jobs: list[dict]) -> list[dict]:
    """Run each job in a child process (python -m autograder.similarity.worker), all at once; their answers."""
    env = dict(os.environ, PYTHONHASHSEED=HASH_SEED, MPLBACKEND="Agg")
    children = [subprocess.Popen([sys.executable, "-m", "autograder.similarity.worker"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for _ in jobs]
    answers = []
    try:
        for child, job in zip(children, jobs, strict=True):
            try:
                out, err = child.communicate(pickle.dumps(job), timeout=CHILD_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                raise SimilarityToolError(f"copydetect did not finish within {CHILD_TIMEOUT_S} s") from None
            if child.returncode != 0:
                raise SimilarityToolError(f"copydetect failed (exit {child.returncode}): "
                                          f"{err.decode('utf-8', 'replace')[-2000:]}")
            answers.append(pickle.loads(out))  # our own child's answer (it never runs student code)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    return answers


def fingerprints(texts: dict[str, str], template: str, workers: int = 2) -> tuple[dict, dict[str, str]]:
    """copydetect's CodeFingerprint of every text (key -> fingerprint) and, for texts it could not fingerprint,
    key -> why. ``workers`` child processes share the texts."""
    keys = sorted(texts)
    chunks = [keys[i::workers] for i in range(max(1, min(workers, len(keys))))]
    jobs = [{"kind": "fingerprint", "template": template, "texts": {k: texts[k] for k in chunk}, "noise": NOISE,
             "window": GUARANTEE - NOISE + 1} for chunk in chunks]
    made, failed = {}, {}
    for answer in _run_children(jobs):
        made.update(answer["made"])
        failed.update(answer["failed"])
    return made, failed


def sharing_pairs(pairs: list[tuple[str, str]], prints: dict) -> set[tuple[str, str]]:
    """The pairs whose fingerprints share at least one hash (every other pair scores 0 without comparing): one
    sparse product of the students-by-fingerprints matrix."""
    from scipy import sparse

    keys = sorted({k for pair in pairs for k in pair if k in prints})
    row_of = {key: row for row, key in enumerate(keys)}
    column_of: dict[int, int] = {}
    rows, columns = [], []
    for key in keys:
        for value in prints[key].hashes:
            rows.append(row_of[key])
            columns.append(column_of.setdefault(int(value), len(column_of)))
    if not columns:
        return set()
    matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, columns)),
                               shape=(len(keys), len(column_of)))
    shared = (matrix @ matrix.T).tocsr()
    return {(a, b) for a, b in pairs if a in row_of and b in row_of and shared[row_of[a], row_of[b]] > 0}


def compare_all(pairs: list[tuple[str, str]], prints: dict, workers: int = 2) -> list[PairResult]:
    """Every pair's PairResult (a pair with a side missing from ``prints`` scores 0), in the order given. Pairs
    that share fingerprints are compared by copydetect, in ``workers`` child processes when there are many."""
    todo = sharing_pairs(pairs, prints)
    found: dict[tuple[str, str], PairResult] = {}
    ordered = [pair for pair in pairs if pair in todo]
    if workers > 1 and len(ordered) >= IN_PROCESS_PAIRS:
        chunks = [ordered[i::workers] for i in range(workers)]
        jobs = [{"kind": "compare", "pairs": chunk,
                 "prints": {k: prints[k] for k in {k for pair in chunk for k in pair}}} for chunk in chunks]
        for answer in _run_children(jobs):
            found.update({(r.a, r.b): r for r in answer["pairs"]})
    else:
        found.update({pair: compare(*pair, prints) for pair in ordered})
    return [found.get(pair) or PairResult(pair[0], pair[1], 0.0, 0.0, 0.0, [], []) for pair in pairs]


def compare(a: str, b: str, prints: dict) -> PairResult:
    """One pair, by copydetect's compare_files."""
    from copydetect import compare_files

    overlap, (similarity_a, similarity_b), (slices_a, slices_b) = compare_files(prints[a], prints[b])
    if overlap == 0 or len(slices_a) == 0 or len(slices_a[0]) == 0:
        return PairResult(a, b, 0.0, 0.0, 0.0, [], [])
    share_a = _share(similarity_a, prints[a])
    share_b = _share(similarity_b, prints[b])
    return PairResult(a, b, max(share_a, share_b), share_a, share_b, _spans(slices_a), _spans(slices_b))


def _share(similarity: float, fingerprint) -> float:
    """copydetect's similarity (matched share of this side's fingerprinted code), with code shorter than MIN_CODE
    filtered characters counted as MIN_CODE long."""
    coverage = float(fingerprint.token_coverage)
    return float(min(1.0, similarity * coverage / max(coverage, MIN_CODE))) if coverage else 0.0


def _spans(slices: np.ndarray) -> list[tuple[int, int]]:
    return [(int(start), int(end)) for start, end in zip(slices[0], slices[1], strict=True)]
