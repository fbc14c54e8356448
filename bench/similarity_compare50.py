"""compare50's side of bench/similarity_tools.py, run by a Python that has compare50 installed.

compare50 1.2.15 pins attrs<21, which the course environment cannot take (jsonschema, hence nbformat, needs
attrs>=22.2), so it is measured from a virtual environment of its own:

    python3.11 -m venv /tmp/compare50-venv && /tmp/compare50-venv/bin/pip install compare50==1.2.15

Usage: ``python bench/similarity_compare50.py DOCS OUT.json`` with DOCS/subs/<student>/code.py (each student's code as
the similarity command extracts it) and DOCS/distro/template.py (the released notebook's code). Writes, for every
pair of students, compare50's score (its ranking pass, "structure") and the character spans it matched on each side.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path

from compare50 import _api, _data, passes


def main(docs: Path, out: Path) -> None:
    start = time.perf_counter()
    _api.Executor = _api.FauxExecutor  # one process: the same footing as copydetect's measurement
    pass_ = passes.structure
    preprocessor = _data.Preprocessor(pass_.preprocessors)
    names = sorted(p.name for p in (docs / "subs").iterdir() if (p / "code.py").read_text().strip())
    subs = {name: _data.Submission(docs / "subs" / name, ["code.py"], preprocessor=preprocessor) for name in names}
    distro = _data.Submission(docs / "distro", ["template.py"], preprocessor=preprocessor)
    ignored = set(distro.files)
    with _api.progress_bar("scoring", disable=True):
        scores = list(pass_.comparator.score(list(subs.values()), [], ignored))
    by_pair = {}
    for score in scores:
        by_pair[frozenset((score.sub_a.id, score.sub_b.id))] = score
    all_scores = []
    for a, b in itertools.combinations(names, 2):
        key = frozenset((subs[a].id, subs[b].id))
        all_scores.append(by_pair.get(key) or _data.Score(subs[a], subs[b], 0))
    scored = time.perf_counter() - start
    with _api.progress_bar("comparing", disable=True):
        results = _api.compare([s for s in all_scores if s.score > 0], ignored, pass_)
    spans = {}
    for result in results:
        a, b = result.score.sub_a, result.score.sub_b
        sides = {a.id: [], b.id: []}
        for group in result.groups:
            for span in group.spans:
                sides[span.file.submission.id].append([span.start, span.end])
        spans[frozenset((a.id, b.id))] = sides
    name_of = {sub.id: name for name, sub in subs.items()}
    rows = []
    for score in all_scores:
        a, b = score.sub_a, score.sub_b
        sides = spans.get(frozenset((a.id, b.id)), {a.id: [], b.id: []})
        rows.append({"a": name_of[a.id], "b": name_of[b.id], "score": float(score.score),
                     "spans_a": sides[a.id], "spans_b": sides[b.id]})
    out.write_text(json.dumps({"rows": rows, "seconds": time.perf_counter() - start, "score_seconds": scored}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
