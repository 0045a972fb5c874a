"""``make bench``: whole-process timings of torchup commands, medians of several runs.

Every figure is printed beside a baseline measured in the same run on the same machine (a bare
interpreter start), so a slow or busy machine shows as a slow baseline, not as a regression.
torchup is measured as a user gets it: installed (not editable) into a venv of its own under build/.
"""

import os
import statistics
import subprocess
import sys
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_VENV = REPO / "build" / "bench-venv"
RUNS = 21


def median_seconds(argv, env=None, runs=RUNS):
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def installed_torchup() -> Path:
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(BENCH_VENV)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(REPO)], check=True)
    else:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(REPO)], check=True)
    return BENCH_VENV / "bin" / "torchup"


def report(label, seconds, baseline, target_ms):
    verdict = "meets" if seconds * 1000 <= target_ms else "MISSES"
    print(f"{label:<34} {seconds * 1000:7.1f} ms   {seconds / baseline:5.1f}x baseline   target {target_ms} ms: {verdict}")


def main():
    torchup = installed_torchup()
    # As in an activated venv: the default target is that venv's python.
    env = dict(os.environ, VIRTUAL_ENV=str(BENCH_VENV))
    baseline = median_seconds([str(BENCH_VENV / "bin" / "python"), "-c", "pass"])
    print(f"baseline: a bare `python -c pass` takes {baseline * 1000:.1f} ms (median of {RUNS})")
    report("torchup detect --json", median_seconds([str(torchup), "detect", "--json"], env), baseline, 150)
    report("torchup plan --offline --json", median_seconds([str(torchup), "plan", "--offline", "--json"], env), baseline, 200)


if __name__ == "__main__":
    sys.exit(main())
