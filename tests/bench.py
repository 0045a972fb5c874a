"""``make bench``: whole-process timings of torchup commands, medians of several runs.

Every figure is printed beside a baseline measured in the same run on the same machine (a bare
interpreter start), so a slow or busy machine shows as a slow baseline, not as a regression.
torchup is measured as a user gets it: installed (not editable) into a venv of its own under build/.
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_VENV = REPO / "build" / "bench-venv"
WHEELHOUSE = REPO / "build" / "wheelhouse"
CUDA_SIZE_CACHE = REPO / "build" / "bench-cuda-torch-size.json"
TORCH_VENV_PYTHON = REPO / "build" / "torch-venv" / "bin" / "python"
DOCTOR_RUNS = 7
RUNS = 21
INSTALL_RUNS = 3


def median_seconds(argv, env=None, runs=RUNS, warm_up=3, check=True):
    """Median wall time of ``runs`` runs, after ``warm_up`` unmeasured ones fill the caches."""
    for _ in range(warm_up):
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=check)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=check)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def start_up_medians(commands, env, runs=RUNS, warm_up=3):
    """Median wall times of a bare ``python -c pass`` (the baseline) and of each command, run in
    turn round after round: a machine that slows down or speeds up over the measurement moves
    the baseline and the commands together, so their ratios hold where blocks of runs would not."""
    bare = [str(BENCH_VENV / "bin" / "python"), "-c", "pass"]
    timings = {label: [] for label in ["baseline"] + list(commands)}
    for round_number in range(warm_up + runs):
        for label, argv in [("baseline", bare)] + list(commands.items()):
            started = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env if label != "baseline" else None, check=True)
            if round_number >= warm_up:
                timings[label].append(time.perf_counter() - started)
    return {label: statistics.median(values) for label, values in timings.items()}


def installed_torchup() -> Path:
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(BENCH_VENV)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(REPO), "uv"], check=True)
    else:
        # torchup itself afresh, and any dependency it gained since the venv was made.
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(REPO)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(REPO)], check=True)
    return BENCH_VENV / "bin" / "torchup"


def report(label, seconds, baseline, target_ratio):
    ratio = seconds / baseline
    verdict = "meets" if ratio <= target_ratio else "MISSES"
    print(f"{label:<34} {seconds * 1000:7.1f} ms   {ratio:5.1f}x the baseline (target ≤ {target_ratio}x: {verdict})")


def timed(argv, env=None):
    started = time.perf_counter()
    completed = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True, check=True)
    return time.perf_counter() - started, completed.stdout


def installed_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def bench_install(torchup: Path, env):
    """torchup install into fresh venvs from the local wheelhouse, against the bare commands it runs."""
    results = {}
    for backend in ("uv", "pip"):
        totals, bares, verifies = [], [], []
        for _ in range(INSTALL_RUNS):
            with tempfile.TemporaryDirectory(dir=REPO / "build") as scratch:
                target = Path(scratch) / "venv"
                argv = [
                    str(torchup),
                    "install",
                    "--venv",
                    str(target),
                    "--installer",
                    backend,
                    "--find-links",
                    str(WHEELHOUSE),
                    "--no-index",
                    "--no-gpu",
                    "--yes",
                    "--json",
                ]
                seconds, out = timed(argv, env)
                result = json.loads(out)
                totals.append(seconds)
                verifies.append(result["seconds"]["verify"])
                size = installed_bytes(target / "lib")
                shutil.rmtree(target)
                dry = json.loads(timed(argv[:-2] + ["--dry-run", "--json"], env)[1])
                bare_seconds = 0.0
                for command in dry["commands"]:
                    bare_seconds += timed(command["argv"], env)[0]
                bares.append(bare_seconds)
        total, bare, verify = statistics.median(totals), statistics.median(bares), statistics.median(verifies)
        results[backend] = total
        overhead = total - bare - verify
        allowed = max(0.10 * bare, 1.0)
        print(
            f"torchup install --installer {backend:<3}        {total:6.1f} s   bare commands {bare:5.1f} s   "
            f"verification {verify:4.1f} s   other overhead {overhead:4.1f} s (target ≤ {allowed:.1f} s: {'meets' if overhead <= allowed else 'MISSES'})"
        )
    print(f"uv against pip                      {results['uv']:6.1f} s against {results['pip']:.1f} s ({results['pip'] / results['uv']:.1f}x faster)")
    print(f"installed size, CPU build           {size / 1e6:7.0f} MB (torch 2.13.0+cpu with its dependencies, numpy and scipy)")


def bench_doctor(torchup: Path, env):
    """The default doctor run against a bare `import torch` in the same interpreter (the CPU torch venv)."""
    bare = median_seconds([str(TORCH_VENV_PYTHON), "-c", "import torch"], runs=DOCTOR_RUNS)
    doctor = []
    for _ in range(DOCTOR_RUNS):
        started = time.perf_counter()
        subprocess.run([str(torchup), "doctor", "--python", str(TORCH_VENV_PYTHON)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        doctor.append(time.perf_counter() - started)
    ratio = statistics.median(doctor) / bare
    print(
        f"torchup doctor (default checks)     {statistics.median(doctor):6.2f} s   import torch alone {bare:.2f} s   "
        f"{ratio:.2f}x (target ≤ 2x: {'meets' if ratio <= 2 else 'MISSES'})"
    )


def cuda_build_size():
    """The default Linux torch from PyPI, a CUDA build: installed once with this machine's pip, then cached."""
    if CUDA_SIZE_CACHE.exists():
        return json.loads(CUDA_SIZE_CACHE.read_text())
    scratch = Path(tempfile.mkdtemp(dir=REPO / "build"))
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(scratch), "torch==2.14.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=1800,
        )
        if completed.returncode != 0:
            return {"error": completed.stderr.strip().splitlines()[-1] if completed.stderr.strip() else "pip failed"}
        measured = {"version": "2.14.1", "bytes": installed_bytes(scratch), "measured": time.strftime("%Y-%m-%d")}
    except subprocess.TimeoutExpired:
        return {"error": "pip did not finish within 30 minutes"}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    CUDA_SIZE_CACHE.write_text(json.dumps(measured))
    return measured


def bench_bundle(torchup: Path):
    """torchup bundle from a loopback index of the wheelhouse, in MB/s beside a plain copy of the same bytes."""
    from conftest import LocalIndex, serve_download_and_pypi  # the tests' own loopback index

    with tempfile.TemporaryDirectory(dir=REPO / "build") as scratch:
        index = LocalIndex(Path(scratch) / "served")
        serve_download_and_pypi(index, sorted(WHEELHOUSE.glob("*.whl")))
        env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=index.url + "/pypi")
        env.pop("PIP_FIND_LINKS", None)
        out = Path(scratch) / "bundle"
        argv = [
            str(torchup),
            "bundle",
            "-o",
            str(out),
            "--python",
            str(BENCH_VENV / "bin" / "python"),
            "--torch",
            "2.13",
            "--no-gpu",
            "--index-base",
            index.url + "/whl",
        ]
        seconds = timed(argv, env)[0]
        files = [out / item["name"] for item in json.loads((out / "bundle.json").read_text())["files"]]
        size = sum(path.stat().st_size for path in files)
        copied = Path(scratch) / "copied"
        copied.mkdir()
        started = time.perf_counter()
        for path in files:
            shutil.copyfile(path, copied / path.name)
        copy_seconds = time.perf_counter() - started
        index.close()
    print(
        f"torchup bundle (resolve, download, hash) {size / 1e6 / seconds:6.0f} MB/s ({size / 1e6:.0f} MB in {seconds:.1f} s)   "
        f"a plain copy of the same files {size / 1e6 / copy_seconds:6.0f} MB/s"
    )


def bench_fleet(torchup: Path):
    """fleet launch (one node, two CPU ranks) beside a bare torchrun of `import torch` in the same
    venv; fleet report over 1,000 node reports beside reading the same files in a bare python."""
    from fleet_reports import thousand_node_reports  # the tests' own, from one real node report

    def port():
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]

    with tempfile.TemporaryDirectory(dir=REPO / "build") as scratch:
        out = Path(scratch) / "launch"
        launch = []
        for _ in range(3):
            argv = [str(torchup), "fleet", "launch", "--python", str(TORCH_VENV_PYTHON), "--nnodes", "1", "--node-rank", "0"]
            argv += ["--master", f"127.0.0.1:{port()}", "--nproc-per-node", "2", "--out", str(out), "--run-timeout", "120"]
            started = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            launch.append(time.perf_counter() - started)
        bare = []
        for _ in range(3):
            argv = [str(TORCH_VENV_PYTHON), "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2", "--rdzv-backend", "c10d"]
            argv += ["--rdzv-endpoint", f"127.0.0.1:{port()}", "--no-python", str(TORCH_VENV_PYTHON), "-c", "import torch"]
            started = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            bare.append(time.perf_counter() - started)
        print(
            f"torchup fleet launch (1 node, 2 CPU ranks) {statistics.median(launch):5.1f} s   a bare torchrun of `import torch` {statistics.median(bare):.1f} s"
        )
        reports = Path(scratch) / "reports"
        reports.mkdir()
        thousand_node_reports(reports, json.loads((out / "node-0.json").read_text()))
        merge = median_seconds([str(torchup), "fleet", "report", str(reports), "--html", str(Path(scratch) / "fleet.html")], runs=5, warm_up=1, check=False)
        read = median_seconds(
            [
                str(BENCH_VENV / "bin" / "python"),
                "-c",
                "import json, pathlib, sys; [json.loads(p.read_text()) for p in pathlib.Path(sys.argv[1]).glob('*.json')]",
                str(reports),
            ],
            runs=5,
            warm_up=1,
        )
    print(f"torchup fleet report, 1,000 nodes (text and HTML) {merge:5.2f} s   reading the 1,000 files in a bare python {read:.2f} s")


def main():
    torchup = installed_torchup()
    # As in an activated venv: the default target is that venv's python.
    env = dict(os.environ, VIRTUAL_ENV=str(BENCH_VENV))
    commands = {
        "torchup --version": [str(torchup), "--version"],
        "torchup detect --json": [str(torchup), "detect", "--json"],
        "torchup plan --offline --json": [str(torchup), "plan", "--offline", "--json"],
    }
    medians = start_up_medians(commands, env)
    # What detect and plan cannot do without: two interpreter starts, torchup's own and the probe's in the target.
    start = medians["baseline"]
    baseline = 2 * start
    print(
        f"baseline: two bare interpreter starts (torchup's and the probe's), {baseline * 1000:.1f} ms; one `python -c pass` is {start * 1000:.1f} ms"
        f" (medians of {RUNS} rounds, each running the baseline and every command below once)"
    )
    for label in commands:
        report(label, medians[label], baseline, 3)
    bench_doctor(torchup, env)
    bench_install(torchup, env)
    bench_bundle(torchup)
    bench_fleet(torchup)
    cuda = cuda_build_size()
    if "bytes" in cuda:
        print(
            f"installed size, PyPI's default       {cuda['bytes'] / 1e6:7.0f} MB (torch {cuda['version']}, the CUDA build `pip install torch` takes on Linux; measured {cuda['measured']})"
        )
    else:
        print(f"installed size, PyPI's default: not measured here ({cuda['error']})")


if __name__ == "__main__":
    sys.exit(main())
