"""Which CPU policy keeps a submission's time its own beside a hostile neighbour (issue 17): the neighbour starts 40
busy processes, each in a process session of its own, and sleeps; the measured submission trains a small network
for a fixed number of steps (a few CPU-seconds). Policies, each with one zygote cgroup per worker:

* ``weight``: equal cpu.shares per zygote, no cap (a zygote may use idle cores);
* ``quota``: equal shares and a quota of one core per zygote (what ``grade`` uses).

For each: the measured submission's CPU time and wall time alone, and beside the neighbour (two workers), over
several rounds. Run as root (cgroups), with bubblewrap: ``python bench/bench_fairness.py [--rounds 3]``.
Writes bench/results/fairness.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder import sandbox  # noqa: E402
from autograder.executor import SandboxPool  # noqa: E402

WORK = """import torch
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.Tanh(), torch.nn.Linear(256, 64))
optimiser = torch.optim.Adam(model.parameters())
x = torch.randn(512, 64)
for _ in range(600):
    loss = ((model(x) - x) ** 2).mean()
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
print(float(loss))
"""
HOG = """import subprocess, sys, time
for _ in range(40):
    subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
time.sleep(40)
"""


def job(name: str, source: str) -> dict:
    return {"job": name, "master_seed": 1, "cell_timeout_s": 120, "notebook_timeout_s": 240, "files_dir": None,
            "cells": [{"position": 0, "source": source, "grade_id": None}]}


def measure(policy: str, rounds: int) -> dict:
    quota = None if policy == "weight" else 1.0
    original = sandbox.CgroupFactory.__init__.__defaults__
    sandbox.CgroupFactory.__init__.__defaults__ = (1, quota, "autograder")  # (workers, quota_cores, label)
    try:
        results = {"alone": [], "beside": []}
        with SandboxPool(2, sandboxed=True) as pool:
            pool.wait_ready()
            for _ in range(rounds):
                run = pool.run(job("alone", WORK))
                results["alone"].append((run["seconds"], run["cpu_seconds"]))
                hog = threading.Thread(target=pool.run, args=(job("hog", HOG),))
                hog.start()
                time.sleep(3)  # the neighbour's processes are busy
                run = pool.run(job("beside", WORK))
                results["beside"].append((run["seconds"], run["cpu_seconds"]))
                hog.join()
    finally:
        sandbox.CgroupFactory.__init__.__defaults__ = original
    return {key: {"wall_s": [round(w, 2) for w, _ in values], "cpu_s": [round(c, 2) for _, c in values],
                  "median_wall_s": round(statistics.median(w for w, _ in values), 2),
                  "median_cpu_s": round(statistics.median(c for _, c in values), 2)}
            for key, values in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0 or not sandbox.bwrap_path():
        raise SystemExit("needs root (cgroups) and bubblewrap")
    report = {"load_before": os.getloadavg()[0], "cores": os.cpu_count()}
    for policy in ("weight", "quota"):
        report[policy] = measure(policy, args.rounds)
        print(policy, json.dumps(report[policy]), flush=True)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "fairness.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
