"""Which tool finds disguised copies in these notebooks better: copydetect or compare50?

Both tools get exactly what ``python -m autograder similarity`` compares: each student's own code of the committed
ps3_elbo cases (tests/similarity/cases.py: independently written correct students, a copy of each per disguise,
two blank notebooks), extracted by autograder.similarity.extract, and the released notebook's code as the template
(copydetect's boilerplate, compare50's distro). A pair of one family (a student and their copies) is a copy pair;
a pair of two families is independent.

For each tool, with its default settings (copydetect: noise 25, guarantee 30 filtered characters; compare50: the
"structure" pass, k = 25 tokens, t = 35), it reports the AUC (the chance that a random copy pair scores above a
random independent pair), the lowest copy-pair score, the highest independent-pair score, their margin, and the
lowest score of each disguise against its original; once with each tool's own score and once with one common score
(the share of the code's non-space characters inside matched regions, taken from the matches each tool reports).

Usage (compare50 needs a virtual environment of its own, see bench/similarity_compare50.py):

    .venv/bin/python bench/similarity_tools.py --compare50-python /tmp/compare50-venv/bin/python [--hash-seed N]
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "similarity"))

from cases import write_cases  # noqa: E402
from disguises import DISGUISES  # noqa: E402

from autograder.similarity.extract import Template, read_student  # noqa: E402

ASSIGNMENT = "ps3_elbo"


def family(name: str) -> str:
    return name.split("__")[0]


def write_docs(cases: Path, docs: Path) -> dict[str, str]:
    template = Template.from_release(ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb",
                                     ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    (docs / "distro").mkdir(parents=True)
    (docs / "distro" / "template.py").write_text(template.code)
    texts = {}
    for path in sorted(cases.glob(f"*/{ASSIGNMENT}.ipynb")):
        code = read_student(path, template, path.parent.name, path.parent.name, "current")
        (docs / "subs" / path.parent.name).mkdir(parents=True)
        (docs / "subs" / path.parent.name / "code.py").write_text(code.text)
        texts[path.parent.name] = code.text
    return texts


def copydetect_rows(docs: Path, texts: dict[str, str]) -> tuple[list[dict], float]:
    from copydetect import CodeFingerprint, compare_files

    start = time.perf_counter()
    template = (docs / "distro" / "template.py").read_text()
    boilerplate = CodeFingerprint("template.py", 25, 1, fp=io.StringIO(template)).hashes
    import numpy as np

    boilerplate = np.unique(np.array(list(boilerplate)))
    prints = {name: CodeFingerprint(f"{name}.py", 25, 6, boilerplate, fp=io.StringIO(text))
              for name, text in texts.items() if text.strip()}
    rows = []
    for a, b in itertools.combinations(sorted(prints), 2):
        _, (sim_a, sim_b), (slices_a, slices_b) = compare_files(prints[a], prints[b])
        rows.append({"a": a, "b": b, "score": max(sim_a, sim_b), "score_min": min(sim_a, sim_b),
                     "spans_a": np.asarray(slices_a).T.tolist() if len(slices_a) else [],
                     "spans_b": np.asarray(slices_b).T.tolist() if len(slices_b) else []})
    return rows, time.perf_counter() - start


def blank_pair_without_template(cases: Path, docs: Path, compare50_python: str | None) -> dict[str, float]:
    """What each tool scores two blank notebooks (blank_1, blank_3) when the template is NOT removed: every code
    cell as handed out, no boilerplate/distro. Why the template must go."""
    texts = {}
    for name in ("blank_1", "blank_3"):
        notebook = json.loads((cases / name / f"{ASSIGNMENT}.ipynb").read_text())
        texts[name] = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
        (docs / "subs" / name).mkdir(parents=True)
        (docs / "subs" / name / "code.py").write_text(texts[name])
    (docs / "distro").mkdir()
    (docs / "distro" / "template.py").write_text("\n")
    from copydetect import CodeFingerprint, compare_files

    prints = [CodeFingerprint(f"{n}.py", 25, 6, fp=io.StringIO(t)) for n, t in texts.items()]
    scores = {"copydetect 0.5.0": float(max(compare_files(*prints)[1]))}
    if compare50_python:
        out = docs / "compare50.json"
        subprocess.run([compare50_python, str(ROOT / "bench" / "similarity_compare50.py"), str(docs), str(out)],
                       check=True)
        row = json.loads(out.read_text())["rows"][0]
        scores["compare50 1.2.15"] = max(coverage(texts[row["a"]], row["spans_a"]),
                                         coverage(texts[row["b"]], row["spans_b"]))
    return scores


def coverage(text: str, spans: list) -> float:
    """Share of the non-space characters of ``text`` inside ``spans``."""
    covered = bytearray(len(text))
    for start, end in spans:
        covered[int(start):int(end)] = b"\x01" * (int(end) - int(start))
    code = [i for i, ch in enumerate(text) if not ch.isspace()]
    return sum(covered[i] for i in code) / len(code) if code else 0.0


def auc(positives: list[float], negatives: list[float]) -> float:
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def measure(rows: list[dict], key) -> dict:
    copies = [key(r) for r in rows if family(r["a"]) == family(r["b"])]
    independent = [key(r) for r in rows if family(r["a"]) != family(r["b"])]
    per_disguise = {}
    for disguise in DISGUISES:
        scores = [key(r) for r in rows if family(r["a"]) == family(r["b"])
                  and {r["a"], r["b"]} == {family(r["a"]), f"{family(r['a'])}__{disguise}"}]
        per_disguise[disguise] = min(scores)
    return {"auc": auc(copies, independent), "min_copy": min(copies), "max_independent": max(independent),
            "margin": min(copies) - max(independent), "copy_pairs": len(copies),
            "independent_pairs": len(independent), "per_disguise": per_disguise}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--compare50-python", help="a Python with compare50 installed (else compare50 is skipped)")
    parser.add_argument("--json", help="also write the measurements here")
    parser.add_argument("--hash-seed", default="20261205",
                        help="PYTHONHASHSEED for both tools (they pick fingerprints by hash(); default: the one "
                             "autograder.similarity uses)")
    args = parser.parse_args()
    if os.environ.get("PYTHONHASHSEED") != args.hash_seed:  # both tools hash with hash(): fix its salt, run again
        os.execve(sys.executable, [sys.executable, *sys.argv], dict(os.environ, PYTHONHASHSEED=args.hash_seed))
    print(f"PYTHONHASHSEED={args.hash_seed}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="similarity-tools-") as tmp:
        tmp = Path(tmp)
        write_cases(tmp / "cases")
        texts = write_docs(tmp / "cases", tmp / "docs")
        blank = [n for n, t in texts.items() if not t.strip()]
        print(f"{len(texts)} notebooks; {len(blank)} with no code of their own once the template is removed: "
              f"{', '.join(blank)} (no pair with them can match)")
        tools = {}
        rows, seconds = copydetect_rows(tmp / "docs", texts)
        tools["copydetect 0.5.0"] = (rows, seconds, lambda r: r["score"])
        if args.compare50_python:
            out = tmp / "compare50.json"
            subprocess.run([args.compare50_python, str(ROOT / "bench" / "similarity_compare50.py"),
                            str(tmp / "docs"), str(out)], check=True)
            data = json.loads(out.read_text())
            tools["compare50 1.2.15"] = (data["rows"], data["seconds"], lambda r: r["score"])
        blank = blank_pair_without_template(tmp / "cases", tmp / "docs-raw", args.compare50_python)
        for tool, (rows, seconds, native) in tools.items():
            for r in rows:
                r["cover_a"] = coverage(texts[r["a"]], r["spans_a"])
                r["cover_b"] = coverage(texts[r["b"]], r["spans_b"])
            results[tool] = {"seconds": seconds, "own score": measure(rows, native),
                             "common score (max side)": measure(rows, lambda r: max(r["cover_a"], r["cover_b"])),
                             "common score (mean)": measure(rows, lambda r: (r["cover_a"] + r["cover_b"]) / 2)}
    print_table(results)
    print("\nTwo blank notebooks (blank_1, blank_3) with the template NOT removed (common score, max side): "
          + ", ".join(f"{tool} {score:.2f}" for tool, score in blank.items()))
    results["blank pair without template removal"] = blank
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def print_table(results: dict) -> None:
    disguises = list(DISGUISES)
    print("| tool | score | AUC | lowest copy pair | highest independent pair | margin | "
          + " | ".join(f"{d}" for d in disguises) + " | seconds |")
    print("|---" * (7 + len(disguises)) + "|")
    for tool, measured in results.items():
        for name, m in measured.items():
            if name == "seconds":
                continue
            print(f"| {tool} | {name} | {m['auc']:.3f} | {m['min_copy']:.3g} | {m['max_independent']:.3g} | "
                  f"{m['margin']:+.3g} | " + " | ".join(f"{m['per_disguise'][d]:.3g}" for d in disguises)
                  + f" | {measured['seconds']:.1f} |")


if __name__ == "__main__":
    main()
