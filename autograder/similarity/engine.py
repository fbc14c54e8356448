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
processes with a fixed ``PYTHONHASHSEED`` (python -m autograder.similarity.worker), two at a time. Comparing
uses no hashing and runs here (:func:`compare_fast`: copydetect's compare_files on plain Python sets and lists, the
same results, about three times faster; child processes were tried for it and were slower: pickling the
fingerprints costs more than the comparisons).

A pair's score is the larger of the two shares "this student's fingerprinted code that the other's matches",
where code shorter than MIN_CODE filtered characters counts as MIN_CODE long: two near-empty notebooks that share
one short standard line (``return 0.5 * (mu**2 + ...).sum(-1)``) do not top the list.
"""

from __future__ import annotations

import bisect
import os
import pickle
import subprocess
import sys
from dataclasses import dataclass

NOISE = 25  # copydetect's noise threshold: shorter shared stretches are never a match (its default)
GUARANTEE = 30  # copydetect's guarantee threshold: longer shared stretches are always found (its default)
MIN_CODE = 200  # filtered characters; a full ps3 answer has 640-1,000
HASH_SEED = "20261205"
CHILD_TIMEOUT_S = 1800


@dataclass
class PairResult:
    a: str
    b: str
    score: float
    share_a: float
    share_b: float
    spans_a: list[tuple[int, int]]  # matched character ranges in a's text
    spans_b: list[tuple[int, int]]


@dataclass
class PairRow:
    """A pair as similarity.csv lists it: the scores and the matched lines of each side (no character ranges)."""

    a: str
    b: str
    score: float
    share_a: float
    share_b: float
    lines_a: str  # "elbo:4-7; iwae_bound:3-12" (StudentCode.describe)
    lines_b: str
    count_a: int  # how many of a's lines hold matched code
    count_b: int


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
    """copydetect's fingerprint of every text, as :class:`Prints` (key -> Prints), and, for texts it could not
    fingerprint, key -> why. ``workers`` child processes share the texts."""
    keys = sorted(texts)
    chunks = [keys[i::workers] for i in range(max(1, min(workers, len(keys))))]
    jobs = [{"template": template, "texts": {k: texts[k] for k in chunk}, "noise": NOISE,
             "window": GUARANTEE - NOISE + 1} for chunk in chunks]
    made, failed = {}, {}
    for answer in _run_children(jobs):
        made.update(answer["made"])
        failed.update(answer["failed"])
    return made, failed


def compare(a: str, b: str, fingerprints: dict) -> PairResult:
    """One pair of copydetect CodeFingerprints by copydetect's own compare_files: the reference that
    :func:`compare_fast` must equal (tests/test_similarity.py)."""
    from copydetect import compare_files

    overlap, (similarity_a, similarity_b), (slices_a, slices_b) = compare_files(fingerprints[a], fingerprints[b])
    if overlap == 0 or len(slices_a) == 0 or len(slices_a[0]) == 0:
        return PairResult(a, b, 0.0, 0.0, 0.0, [], [])
    share_a = _share(similarity_a, float(fingerprints[a].token_coverage))
    share_b = _share(similarity_b, float(fingerprints[b].token_coverage))
    return PairResult(a, b, max(share_a, share_b), share_a, share_b, _spans(slices_a), _spans(slices_b))


def _share(similarity: float, coverage: float) -> float:
    """copydetect's similarity (matched share of this side's fingerprinted code, ``coverage`` filtered characters),
    with code shorter than MIN_CODE filtered characters counted as MIN_CODE long."""
    return float(min(1.0, similarity * coverage / max(coverage, MIN_CODE))) if coverage else 0.0


class Prints:
    """One student's copydetect fingerprint as plain Python sets, dicts and lists (made in the child from the
    CodeFingerprint): cheap to send back, and a pair's comparison costs tens of microseconds instead of the hundreds
    that compare_files' small numpy operations take."""

    def __init__(self, k: int, positions: dict[int, list[int]], offsets: list[list[int]], coverage: float,
                 has_code: bool):
        self.k = k
        self.positions = positions  # fingerprint hash -> its positions in the filtered code
        self.hashes = frozenset(positions)
        self.first = {h: p[0] for h, p in positions.items()}  # most hashes occur once
        self.repeated = frozenset(h for h, p in positions.items() if len(p) > 1)
        self.offset_at = [int(o[0]) for o in offsets]  # copydetect's offsets: filtered index -> characters removed
        self.removed = [int(o[1]) for o in offsets]
        self.coverage = coverage  # copydetect's token_coverage
        self.has_code = has_code

    @classmethod
    def of(cls, fingerprint) -> Prints:
        """From a copydetect CodeFingerprint (after boilerplate removal)."""
        import numpy as np

        offsets = np.asarray(fingerprint.offsets)
        return cls(int(fingerprint.k),
                   {int(h): sorted(int(p) for p in positions) for h, positions in fingerprint.hash_idx.items()},
                   offsets.tolist() if len(offsets) else [], float(fingerprint.token_coverage),
                   len(fingerprint.filtered_code) > 0)

    def slices(self, shared) -> tuple[float, list[tuple[int, int]]]:
        """(copydetect's similarity, the matched ranges of the original text) for the ``shared`` hashes, as
        compare_files computes them: positions closer than k merge into one slice, each slice ends k after its last
        position, and slice ends are moved back into the original text by the characters filtering removed."""
        positions = list(map(self.first.__getitem__, shared))
        for h in shared & self.repeated:
            positions += self.positions[h][1:]
        positions.sort()
        runs, start, last = [], positions[0], positions[0]
        for position in positions[1:]:
            if position - last > self.k - 1:
                runs.append((start, last + self.k))
                start = position
            last = position
        runs.append((start, last + self.k))
        overlap = sum(end - begin for begin, end in runs)
        similarity = overlap / self.coverage if self.has_code else 0.0
        if not self.offset_at:
            return similarity, runs
        top = len(self.offset_at) - 1

        def moved(index: int) -> int:
            return index + self.removed[min(bisect.bisect_left(self.offset_at, index), top)]

        return similarity, [(moved(begin), moved(end)) for begin, end in runs]


def compare_fast(a: str, b: str, prints: dict[str, Prints]) -> PairResult:
    """What :func:`compare` gives (copydetect's compare_files), computed on :class:`Prints`."""
    left, right = prints[a], prints[b]
    shared = left.hashes & right.hashes
    if not shared:
        return PairResult(a, b, 0.0, 0.0, 0.0, [], [])
    similarity_a, spans_a = left.slices(shared)
    similarity_b, spans_b = right.slices(shared)
    share_a, share_b = _share(similarity_a, left.coverage), _share(similarity_b, right.coverage)
    return PairResult(a, b, max(share_a, share_b), share_a, share_b, spans_a, spans_b)


def compare_all(pairs: list[tuple[str, str]], prints: dict[str, Prints]) -> list[PairResult]:
    """Every pair's PairResult, in the order given (a pair with a side missing from ``prints`` scores 0)."""
    return [compare_fast(a, b, prints) if a in prints and b in prints else PairResult(a, b, 0.0, 0.0, 0.0, [], [])
            for a, b in pairs]


def pair_rows(pairs: list[tuple[str, str]], prints: dict[str, Prints], codes: dict) -> list[PairRow]:
    """The rows of similarity.csv for ``pairs`` (codes: key -> StudentCode, for the matched lines)."""
    rows = []
    for result in compare_all(pairs, prints):
        lines_a = codes[result.a].matched_lines(result.spans_a) if result.score else []
        lines_b = codes[result.b].matched_lines(result.spans_b) if result.score else []
        rows.append(PairRow(result.a, result.b, result.score, result.share_a, result.share_b,
                            codes[result.a].describe(lines_a), codes[result.b].describe(lines_b), len(lines_a),
                            len(lines_b)))
    return rows


def _spans(slices) -> list[tuple[int, int]]:
    return [(int(start), int(end)) for start, end in zip(slices[0], slices[1], strict=True)]
