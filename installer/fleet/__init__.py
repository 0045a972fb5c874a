"""``torchup fleet launch``: the torchrun command for this node, run; the kit's records read back
and judged; this node's report written (and, on node 0, the fleet's).

torchrun does the launching and the rendezvous (c10d, hosted by node 0). Nodes join an elastic
rendezvous of 1 to N nodes: it completes as soon as all N are in, or a join window after the
first, so a node that never comes is named as missing instead of stalling everyone until the
timeout. Every rank runs the kit's ``fleet.py`` by path, isolated, in the target interpreter.
"""

import json
import os
import re
import shutil
import sys
import tempfile
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

from .. import files, runner
from ..errors import TorchupError
from ..kit import path as kit_path
from ..redact import redact
from . import report

RUN_ID = "torchup-fleet"
# The fleet's own steps by id; facts always run, they are what the drift table is made of.
STEPS = {"fleet.facts": "facts", "fleet.canary": "canary", "fleet.gemm": "gemm", "fleet.allreduce": "allreduce"}
DEFAULT_DOCTOR = ("install", "accelerator")
# Checks that leave a rank unusable after them (a device-side assert poisons the CUDA context): not
# run in a fleet's ranks, which go on to the canary, the GEMM and the collectives.
NOT_IN_RANKS = ("accelerator.device_assert",)


class Master(NamedTuple):
    host: str
    port: int

    def __str__(self):
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class Budget(NamedTuple):
    """How --run-timeout is spent: a join window for late nodes, a limit on any one collective, and
    how long torchrun may run before it is stopped (SIGINT, then SIGTERM, then SIGKILL), leaving
    time for that and for the report to be written within --run-timeout."""

    total: float
    run: float
    join: float
    collective: float


# The least --run-timeout that leaves room for a join window, one collective's limit and the stop.
MIN_TIMEOUT = 30.0


def parse_master(text: str) -> Master:
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise TorchupError(f"--master {text}: expected HOST:PORT (node 0's address and a free port)", hint="e.g. --master node001:29500")
    return Master(host, int(port))


def budget(timeout: float) -> Budget:
    if timeout < MIN_TIMEOUT:
        raise TorchupError(
            f"--run-timeout {timeout:g}: a fleet run needs at least {MIN_TIMEOUT:g} s", hint="nodes need time to join, and the run to be stopped cleanly"
        )
    stopping = runner.STOP_GRACE + 3.0
    return Budget(timeout, timeout - stopping, min(120.0, max(5.0, timeout * 0.2)), max(10.0, timeout * 0.3))


def select(names: Sequence[str], choose: Callable[[List[str]], List[str]]) -> Tuple[List[str], List[str]]:
    """The fleet steps and the doctor checks asked for: by default every step, and the install
    and accelerator groups. ``choose``: the doctor's selection (names to check ids; TorchupError
    for an unknown one)."""
    names = list(names)
    steps = ["facts"] + [STEPS[n] for n in STEPS if n in names or "fleet" in names]
    others = [n for n in names if n not in STEPS and n != "fleet"]
    if not names:
        steps, others = list(dict.fromkeys(STEPS.values())), list(DEFAULT_DOCTOR)
    try:
        doctor = [check_id for check_id in choose(others) if check_id not in NOT_IN_RANKS] if others else []
    except TorchupError as error:
        raise TorchupError(f"{error.message} (fleet steps: fleet, {', '.join(STEPS)})", hint=error.hint) from None
    if doctor:
        steps.append("doctor")
    return list(dict.fromkeys(steps)), doctor


def torchrun_argv(python: str, nnodes: int, node_rank: int, master: Master, nproc: int, limits: Budget, settings: dict) -> List[str]:
    """torchrun started by the target interpreter, isolated; each rank is that interpreter again,
    isolated, on the kit's file. Node 0 hosts the rendezvous store."""
    conf = f"is_host={1 if node_rank == 0 else 0},join_timeout={limits.total:g},last_call_timeout={limits.join:g}"
    return [
        python, "-I", "-m", "torch.distributed.run",
        "--nnodes", f"1:{nnodes}", "--nproc-per-node", str(nproc),
        "--rdzv-backend", "c10d", "--rdzv-endpoint", str(master), "--rdzv-id", RUN_ID, "--rdzv-conf", conf,
        "--max-restarts", "0", "--no-python",
        python, "-I", kit_path("fleet.py"), json.dumps(settings, sort_keys=True),
    ]  # fmt: skip


def gpu_count(host) -> int:
    """--nproc-per-node auto: one process per NVIDIA or AMD GPU, else one."""
    from ..detect import amd, nvidia

    found = nvidia.probe(host)
    if found and found.gpus:
        return len(found.gpus)
    rocm = amd.probe(host)
    return len(rocm.architectures) if rocm and rocm.architectures else 1


_FAILURE = re.compile(r"rank\s*:\s*(\d+) \(local_rank: (\d+)\)\s*\n\s*exitcode\s*:\s*(-?\d+)")
# The line that says why torchrun never started the ranks (a traceback's last line, not a C++ frame).
_RENDEZVOUS = re.compile(r"^[\w.]*(Rendezvous\w*Error|DistNetworkError|DistStoreError|ModuleNotFoundError)\b.*$", re.M)


def parse_torchrun_failures(text: str) -> List[dict]:
    """The ranks torchrun's failure summary lists, with their exit codes (negative: a signal)."""
    found = {}
    for rank, local_rank, code in _FAILURE.findall(text):
        found[int(rank)] = {"rank": int(rank), "local_rank": int(local_rank), "exitcode": int(code)}
    return [found[rank] for rank in sorted(found)]


def _exit_words(code: int) -> str:
    return f"killed by {runner.signal_name(-code)}" if code < 0 else f"exited with status {code}"


def own_problems(python: str, completed: runner.Completed, limits: Budget, master: Master, kit_wrote: bool) -> List[str]:
    """What torchrun's own output says went wrong on this node, beyond what the kit recorded."""
    problems = []
    if completed.failure and not kit_wrote and "failed to connect" in completed.stdout:
        problems.append(f"could not reach the rendezvous at {master} (node 0) within --run-timeout {limits.total:g} s")
    elif completed.failure:
        problems.append(f"no result within --run-timeout {limits.total:g} s: stopped")
    for failure in parse_torchrun_failures(completed.stdout):
        # Status 1 is the kit's own "a collective failed"; SIGTERM is torchrun stopping the rest.
        if failure["exitcode"] not in (1, -15):
            problems.append(f"rank {failure['rank']} (local rank {failure['local_rank']}) {_exit_words(failure['exitcode'])}")
    if not problems and not completed.ok and not kit_wrote and "No module named 'torch'" in completed.stdout:
        problems.append(f"torch is not installed in {python}: `torchup install --python {python}` puts it there")
    elif not problems and not completed.ok and not kit_wrote:
        line = _RENDEZVOUS.search(completed.stdout)
        said = [text.strip() for text in completed.stdout.splitlines() if text.strip()]
        why = line.group(0).strip() if line else said[-1] if said else completed.describe_failure()
        problems.append(f"could not take part in the rendezvous at {master}: {why}")
    return problems


def launch(
    python: str,
    nnodes: int,
    node_rank: int,
    master: Master,
    nproc: int,
    out: str,
    limits: Budget,
    steps: Sequence[str],
    doctor: Sequence[str],
    allowed_drift: Sequence[str] = (),
    extra_checks: Optional[str] = None,
) -> dict:
    """Run this node's part (the steps and doctor checks :func:`select` chose); write
    node-<rank>.json (and on node 0 fleet.json and fleet.html) to ``out``."""
    private = tempfile.mkdtemp(prefix="torchup-fleet-")  # the kit's raw records, unredacted, stay here
    try:
        raw_path = os.path.join(private, "raw.json")
        settings = {
            "node": str(node_rank),
            "nnodes": nnodes,
            "master": str(master),
            "report": raw_path,
            "collective_timeout": limits.collective,
            "doctor": doctor,
            "steps": steps,
        }
        if extra_checks:
            settings["extra_checks"] = extra_checks
        argv = torchrun_argv(python, nnodes, node_rank, master, nproc, limits, settings)
        completed = runner.run_echoed(argv, echo=sys.stderr, timeout=limits.run)  # torchrun's progress, off stdout
        raw = None
        if os.path.exists(raw_path):
            with open(raw_path, encoding="utf-8") as handle:
                raw = json.load(handle)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    _write(os.path.join(out, f"node-{node_rank}.log"), completed.stdout)
    records = report.records_from_kit(raw, f"node {node_rank}") if raw else []
    own = next((r for r in records if r["node"] == str(node_rank)), None)
    problems = own_problems(python, completed, limits, master, kit_wrote=raw is not None)
    if own is None:
        own = report.new_node(str(node_rank), None, f"node {node_rank}", report.State.STOPPED)
        records.append(own)
    if problems:
        own["state"] = report.State.STOPPED.value
        own["problems"] += [p for p in problems if p not in own["problems"]]
    # Node 0 speaks for the fleet; another node does too once everything was gathered.
    whole = node_rank == 0 or bool(raw and raw.get("gathered"))
    missing = f"did not join within {limits.join:g} s of the first node (the join window), or its ranks never started"
    judged = report.judge(records, expected_nodes=nnodes if whole else None, allowed_drift=allowed_drift, missing=missing)
    judged["master"], judged["node"] = str(master), str(node_rank)
    mine = [n for n in judged["nodes"] if n["node"] == str(node_rank)]
    _write(os.path.join(out, f"node-{node_rank}.json"), report.render_json({"schema": report.SCHEMA_VERSION, "kind": report.NODE_KIND, "nodes": mine}))
    if node_rank == 0:
        _write(os.path.join(out, "fleet.json"), report.render_json(judged))
        _write(os.path.join(out, "fleet.html"), report.render_html(judged))
    return judged


def output_files(node_rank: int) -> List[str]:
    """What a node writes to --out: its report and log, and on node 0 the fleet's report and page."""
    return [f"node-{node_rank}.json", f"node-{node_rank}.log"] + (["fleet.json", "fleet.html"] if node_rank == 0 else [])


def prepare_out(out: str, node_rank: int) -> str:
    """--out checked before the run: a directory of this user's, with no link where a report goes."""
    directory = files.output_directory(out, "--out")
    for name in output_files(node_rank):
        files.refuse_link(directory / name, "--out")
    return str(directory)


def _write(path: str, text: str) -> None:
    files.write_text(path, redact(text), "--out")


def merge(paths: Sequence[str], allowed_drift: Sequence[str] = ()) -> dict:
    """``torchup fleet report``: the reports in these files and directories (their *.json), judged together."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            files += sorted(os.path.join(path, name) for name in os.listdir(path) if name.endswith(".json"))
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise TorchupError(f"{path}: no such file or directory", hint="give fleet.json, node-*.json or `torchup doctor --json` files, or their directory")
    if not files:
        raise TorchupError(f"no .json reports in {', '.join(paths)}", hint="`torchup fleet launch --out DIR` writes node-*.json there")
    records, expected = [], None
    for path in files:
        found, expects = report.records_from_file(path)
        records += found
        expected = max(expected or 0, expects or 0) or None
    return report.judge(records, expected_nodes=expected, allowed_drift=allowed_drift)
