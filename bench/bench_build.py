"""Time the book build: a full (reader's mode) build from an empty cache, then a cached rebuild with no change.

Runs in a private copy of the book (scripts/build_book.sh --copy-to) so the repository's own _build is untouched;
the cached rebuild copies again with timestamps kept, as a maintainer's unchanged checkout would be.
Usage: .venv/bin/python bench/bench_build.py [--fast]    (writes bench/results/build.json)
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(copy: Path, env: dict) -> float:
    start = time.perf_counter()
    result = subprocess.run(["bash", str(ROOT / "scripts/build_book.sh"), "--copy-to", str(copy)], env=env,
                            capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"build failed:\n{(result.stdout + result.stderr)[-4000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fast", action="store_true", help="time the fast mode (VAE_BOOK_FAST=1) instead")
    args = parser.parse_args()
    env = dict(os.environ, VAE_BOOK_FAST="1" if args.fast else "0",
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp)
        cold = build(copy, env)
        cached = build(copy, env)
    result = {"mode": "fast" if args.fast else "full", "cold_build_s": round(cold, 1),
              "cached_rebuild_s": round(cached, 1), "cores": os.cpu_count(), "machine": platform.machine(),
              "date": time.strftime("%Y-%m-%d")}
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "build.json").write_text(json.dumps(result, indent=2))
    print(f"| book build ({result['mode']} mode) | cold {cold:.1f} s | cached rebuild {cached:.1f} s |")


if __name__ == "__main__":
    main()
