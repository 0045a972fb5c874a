"""``torchup fleet launch``: the torchrun command for this node, run; the kit's records read back
and judged; this node's report written (and, on node 0, the fleet's).

torchrun does the launching and the rendezvous (c10d, hosted by node 0). Nodes join an elastic
rendezvous of 1 to N nodes: it completes as soon as all N are in, or a join window after the
first, so a node that never comes is named as missing instead of stalling everyone until the
timeout. Every rank runs the kit's ``fleet.py`` by path, isolated, in the target interpreter.

Beside torchrun, the kit's lobby (the same file) says in node 0's store that this node has come
and reports every node that comes: ``fleet launch`` prints who has joined while it waits, and a
node that comes after the run has started without it says so, and which nodes the run has.
"""

import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, TextIO, Tuple

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


def has_torch(python: str) -> Optional[bool]:
    """Whether torch is installed in the target (found, not imported); None when that cannot be told."""
    found = runner.run([python, "-I", "-c", "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('torch') else 3)"], timeout=30)
    return True if found.returncode == 0 else False if found.returncode == 3 else None


def not_installed(python: str) -> str:
    return f"torch is not installed in {python}: `torchup install --python {python}` puts it there"


def _listed(names: Sequence[str], most: int = 12) -> str:
    """Node names as ranges (0-15, 17), the first ``most`` ranges then a count of the rest."""
    spans = report._ranges(list(names)).split(", ") if names else []
    return ", ".join(spans[:most]) + (f" and {len(spans) - most} more" if len(spans) > most else "")


class Lobby:
    """What the kit's lobby says, as it comes: the nodes at the rendezvous, and the run once it
    started. Progress goes to ``echo``: who has come, as nodes come (at most a line each
    ``QUIET`` seconds; the kit's lobby ticks, so the last change is said too), again each
    ``REMIND`` seconds while some are awaited, and then the nodes the run started with."""

    QUIET = 2.0
    REMIND = 30.0

    def __init__(self, node: str, nnodes: int, echo: Optional[TextIO]):
        self.node, self.nnodes, self.echo = node, nnodes, echo
        self.joined: Dict[int, dict] = {}
        self.run: Optional[dict] = None
        self.gone: Optional[str] = None
        self._said_at = 0.0
        self._unsaid = False
        self._lock = threading.Lock()

    def hear(self, line: str) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        with self._lock:
            if event.get("event") == "joined" and isinstance(event.get("index"), int):
                self.joined[event["index"]] = event
                self._unsaid = True
                self._progress()
            elif event.get("event") == "tick" and self.run is None:
                self._progress(force=self._unsaid or (bool(self.waiting()) and time.monotonic() - self._said_at >= self.REMIND))
            elif event.get("event") == "run":
                self.run = event
                self._say(self.run_words())
            elif event.get("event") == "gone":
                self.gone = str(event.get("error") or "")

    def nodes(self) -> List[str]:
        return list(dict.fromkeys(str(entry.get("node")) for _, entry in sorted(self.joined.items())))

    def waiting(self) -> List[str]:
        come = set(self.nodes())
        return [str(index) for index in range(self.nnodes) if str(index) not in come]

    def _progress(self, force: bool = False) -> None:
        waiting = self.waiting()
        if force or (self._unsaid and (not waiting or time.monotonic() - self._said_at >= self.QUIET)):
            self._unsaid = False
            come = self.nodes()
            words = f"{len(come)} of {self.nnodes} node(s) at the rendezvous: {_listed(come)}"
            self._say(words + (f"; waiting for {_listed(waiting)}" if waiting else ""))

    def _say(self, words: str) -> None:
        self._said_at = time.monotonic()
        if self.echo is not None:
            self.echo.write(f"torchup fleet: {words}\n")
            self.echo.flush()

    def run_nodes(self) -> List[str]:
        return list(dict.fromkeys(str(entry.get("node")) for entry in (self.run or {}).get("nodes") or []))

    def late(self) -> bool:
        """This node came after the run had started, and the run has not got it."""
        run = self.run or {}
        return bool(run) and isinstance(run.get("mine"), int) and run["mine"] > (run.get("lobby_count") or 0) and self.node not in self.run_nodes()

    def run_words(self) -> str:
        nodes = self.run_nodes()
        missing = [str(index) for index in range(self.nnodes) if str(index) not in nodes]
        words = f"the run started with node(s) {_listed(nodes)}" if nodes else "the run started"
        if self.late():
            return f"{words}, without this node: it came too late"
        return words + (f"; without node(s) {_listed(missing)}" if missing else "")

    def late_problem(self, limits: Budget) -> str:
        """This node's own account of coming late: which nodes started without it, and who else is missing."""
        nodes = self.run_nodes()
        others = [str(index) for index in range(self.nnodes) if str(index) not in nodes and str(index) != self.node]
        words = "came after the run had started without it"
        if nodes:
            hosts = {str(e.get("node")): e.get("host") for e in (self.run or {}).get("nodes") or []}
            named = [f"{n} ({hosts[n]})" for n in nodes if hosts.get(n)] if len(nodes) <= 8 else []
            words += ", with node(s) " + (", ".join(named) if len(named) == len(nodes) else _listed(nodes))
        words += f" (nodes get {limits.join:g} s after the first one to join)"
        return words + (f"; missing as well: {_listed(others)}" if others else "")

    def seen_words(self) -> str:
        """Who was at the rendezvous, from this node's side, for a node that could not take part."""
        come, waiting = self.nodes(), self.waiting()
        if not come:
            return ""
        return f" (at the rendezvous: {_listed(come)}" + (f"; never came: {_listed(waiting)})" if waiting else ")")


def missing_words(lobby: Optional[dict], nnodes: int, limits: Budget) -> Dict[str, str]:
    """What node 0's lobby record says of each node that sent nothing: came late, came but its
    ranks never started, or never came."""
    if not isinstance(lobby, dict) or not isinstance(lobby.get("entries"), list):
        return {}
    entries = [e for e in lobby["entries"] if isinstance(e, dict)]
    started_after = lobby.get("run_started_after")  # None: the run never said it had started
    first = min((e["time"] for e in entries if isinstance(e.get("time"), (int, float))), default=None)
    words = {}
    for index in range(nnodes):
        mine = [e for e in entries if str(e.get("node")) == str(index)]
        if not mine:
            words[str(index)] = f"did not join within {limits.join:g} s of the first node (the join window): never seen at the rendezvous"
        elif started_after is not None and all(e.get("index", 0) > started_after for e in mine):
            came = mine[0].get("time")
            after = f"{came - first:.0f} s after the first node, " if first is not None and isinstance(came, (int, float)) and came >= first else ""
            words[str(index)] = f"came late, {after}once the run had started without it (the join window is {limits.join:g} s)"
        else:
            words[str(index)] = "came to the rendezvous in time, but its ranks never started"
    return words


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


_CLOSED = re.compile(r"\bRendezvousClosedError\b")


def own_problems(python: str, completed: runner.Completed, limits: Budget, master: Master, kit_wrote: bool, lobby: Optional[Lobby] = None) -> List[str]:
    """What torchrun's own output (and the lobby) says went wrong on this node, beyond what the kit recorded."""
    problems = []
    if not kit_wrote and lobby is not None and lobby.late():
        return [lobby.late_problem(limits)]
    if not kit_wrote and _CLOSED.search(completed.stdout):
        return [f"came after the run had started without it: the rendezvous at {master} was closed (nodes get {limits.join:g} s after the first one to join)"]
    seen = lobby.seen_words() if lobby is not None and not kit_wrote else ""
    if completed.failure and not kit_wrote and "failed to connect" in completed.stdout:
        problems.append(f"could not reach the rendezvous at {master} (node 0) within --run-timeout {limits.total:g} s")
    elif completed.failure:
        problems.append(f"no result within --run-timeout {limits.total:g} s: stopped" + seen)
    for failure in parse_torchrun_failures(completed.stdout):
        # Status 1 is the kit's own "a collective failed"; SIGTERM is torchrun stopping the rest.
        if failure["exitcode"] not in (1, -15):
            problems.append(f"rank {failure['rank']} (local rank {failure['local_rank']}) {_exit_words(failure['exitcode'])}")
    if not problems and not completed.ok and not kit_wrote and "No module named 'torch'" in completed.stdout:
        problems.append(not_installed(python))
    elif not problems and not completed.ok and not kit_wrote:
        line = _RENDEZVOUS.search(completed.stdout)
        said = [text.strip() for text in completed.stdout.splitlines() if text.strip()]
        why = line.group(0).strip() if line else said[-1] if said else completed.describe_failure()
        problems.append(f"could not take part in the rendezvous at {master}: {why}" + seen)
    return problems


# How long a node whose torchrun ended without a result waits for its lobby to say why (the run
# had started without it, and with which nodes).
LOBBY_GRACE = 8.0


def lobby_argv(python: str, node_rank: int, nnodes: int, master: Master, limits: Budget) -> List[str]:
    settings = {"lobby": True, "node": str(node_rank), "nnodes": nnodes, "master": str(master), "timeout": limits.run, "run_id": RUN_ID}
    return [python, "-I", kit_path("fleet.py"), json.dumps(settings, sort_keys=True)]


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
    echo: Optional[TextIO] = None,
) -> dict:
    """Run this node's part (the steps and doctor checks :func:`select` chose); write
    node-<rank>.json (and on node 0 fleet.json and fleet.html) to ``out``. torchrun's output and
    who has joined go to ``echo`` (stderr) as they come."""
    echo = echo if echo is not None else sys.stderr
    private = tempfile.mkdtemp(prefix="torchup-fleet-")  # the kit's raw records, unredacted, stay here
    lobby = None
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
            "run_id": RUN_ID,
        }
        if extra_checks:
            settings["extra_checks"] = extra_checks
        argv = torchrun_argv(python, nnodes, node_rank, master, nproc, limits, settings)
        torchless = has_torch(python) is False
        if torchless:  # said in one line, not in torchrun's words
            completed = runner.Completed(tuple(argv), 1, not_installed(python) + "\n", "", 0.0)
        else:
            beside = None
            if nnodes > 1:
                lobby = Lobby(str(node_rank), nnodes, echo)
                beside = runner.Beside(lobby_argv(python, node_rank, nnodes, master, limits), lobby.hear)
            try:
                completed = runner.run_echoed(argv, echo=echo, timeout=limits.run)  # torchrun's progress, off stdout
            except BaseException:
                if beside is not None:
                    beside.stop()
                raise
            if beside is not None:
                # Turned away, this node's torchrun may end before its lobby has heard why; the
                # lobby gets a moment for that, within the run's time.
                waits = completed.failure is None and lobby.run is None and lobby.gone is None and not os.path.exists(raw_path)
                beside.stop(grace=min(LOBBY_GRACE, max(0.0, limits.run - completed.seconds)) if waits else 0.0)
        raw = None
        if os.path.exists(raw_path):
            with open(raw_path, encoding="utf-8") as handle:
                raw = json.load(handle)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    _write(os.path.join(out, f"node-{node_rank}.log"), completed.stdout)
    records = report.records_from_kit(raw, f"node {node_rank}") if raw else []
    own = next((r for r in records if r["node"] == str(node_rank)), None)
    problems = [not_installed(python)] if torchless else own_problems(python, completed, limits, master, kit_wrote=raw is not None, lobby=lobby)
    if own is None:
        own = report.new_node(str(node_rank), None, f"node {node_rank}", report.State.STOPPED)
        records.append(own)
    if problems:
        came_late = raw is None and problems[0].startswith("came after the run had started")
        own["state"] = (report.State.MISSING if came_late else report.State.STOPPED).value
        own["problems"] += [p for p in problems if p not in own["problems"]]
    # Node 0 speaks for the fleet; another node does too once everything was gathered.
    whole = node_rank == 0 or bool(raw and raw.get("gathered"))
    missing = f"did not join within {limits.join:g} s of the first node (the join window), or its ranks never started"
    judged = report.judge(
        records,
        expected_nodes=nnodes if whole else None,
        allowed_drift=allowed_drift,
        missing=missing,
        missing_by_node=missing_words((raw or {}).get("lobby"), nnodes, limits),
    )
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
