"""The fleet report: node records from what the kit gathered (or from node reports and
``doctor --json`` files collected some other way), judged together, rendered late.

Detection stays in the kit (``diagnostics/fleet.py``); here is the policy: which value of a fact
is the fleet's, which nodes differ from it, which GPUs are slow against their model and against
the fleet, and which nodes to drain.
"""

import enum
import fnmatch
import html
import json
import os
import re
import statistics
from collections import Counter
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from ..errors import TorchupError
from ..redact import redact_document

SCHEMA_VERSION = 1
KIND = "torchup-fleet"
NODE_KIND = "torchup-fleet-node"
EXIT_OK, EXIT_FAILED = 0, 1
UNSET = "(unset)"
GPUS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpus.json")
# The facts a `doctor --json` file gives, from install.build: drift on other keys is not judged for such a node.
DOCTOR_FACTS = {"torch": "torch", "cuda": "torch.cuda", "hip": "torch.hip", "device_count": "gpu.count"}


class Status(str, enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


class State(str, enum.Enum):
    REPORTED = "reported"  # its ranks ran to the end
    STOPPED = "stopped"  # it joined, then a rank crashed, hung or timed out
    MISSING = "missing"  # it never joined


# The grid's columns, in order: each node gets one status per column.
COLUMNS = ("joined", "ran", "drift", "doctor", "canary", "gemm", "allreduce")


def natural_key(node: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(node))]


# --- node records ------------------------------------------------------------------------------


def _rank_entry(record: dict) -> dict:
    facts = record.get("facts") or {}
    sweep = record.get("allreduce") or []
    return {
        "rank": record.get("rank"),
        "local_rank": record.get("local_rank"),
        "gpu": facts.get("gpu.model"),
        "canary": record.get("canary"),
        "gemm": record.get("gemm"),
        "allreduce": sweep,
        "busbw_gbps": sweep[-1]["busbw_gbps"] if sweep else None,
        "transport": record.get("transport"),
        "error": (record.get("error") or {}).get("text"),
        "step": (record.get("error") or {}).get("step"),
    }


def new_node(node: str, host: Optional[str], source: str, state: State) -> dict:
    return {
        "node": str(node),
        "host": host,
        "source": source,
        "state": state.value,
        "ranks": [],
        "facts": {},
        "known_facts": None,
        "libraries": {},
        "doctor": [],
        "problems": [],
    }


# Steps where a rank waits on the others (CPU ranks take turns at the GEMM): an error there may be another rank's fault.
COLLECTIVE_STEPS = ("join", "gemm", "allreduce", "gather")


class Stop(NamedTuple):
    """A rank that did not finish: where it stopped, and what it said (nothing: it crashed or hangs)."""

    node: dict
    rank: int
    step: str
    error: Optional[str]

    def words(self) -> str:
        return f"rank {self.rank} stopped in {self.step}" + (f": {self.error}" if self.error else " (it crashed or hangs)")


def records_from_kit(raw: dict, source: str) -> List[dict]:
    """Node records from what the kit wrote: every rank's record when the gather succeeded; else
    this node's own record and, from the store, where each other rank had got to.

    After a fault, the ranks to blame are those that went silent (a crash or a hang), else those
    that failed in a step of their own; a rank that only saw a collective fail because of them
    was interrupted, and its node is not one to drain."""
    nodes: Dict[str, dict] = {}
    stops: List[Stop] = []
    for record in raw.get("ranks") or []:
        node = nodes.setdefault(str(record["node"]), new_node(record["node"], record.get("host"), source, State.REPORTED))
        entry = _rank_entry(record)
        node["ranks"].append(entry)
        if record.get("local_rank") == 0 or not node["facts"]:
            node["facts"] = dict(record.get("facts") or {})
            node["libraries"] = record.get("libraries") or {}
            node["doctor"] = record.get("doctor") or node["doctor"]
        if entry["error"]:
            stops.append(Stop(node, entry["rank"], entry["step"], entry["error"]))
    for node in nodes.values():
        firsts = [entry for entry in node["ranks"] if entry["local_rank"] == 0]
        if len(firsts) > 1:  # two machines were started with the same --node-rank
            node["state"] = State.STOPPED.value
            node["problems"].append(
                f"--node-rank {node['node']} was given to {len(firsts)} nodes (ranks {', '.join(str(e['rank']) for e in firsts)}): their records are mixed"
            )
    if not raw.get("gathered"):
        reported = {entry["rank"] for node in nodes.values() for entry in node["ranks"]}
        for rank, note in sorted((raw.get("progress") or {}).items(), key=lambda item: int(item[0])):
            node = nodes.setdefault(str(note["node"]), new_node(note["node"], note.get("host"), source, State.REPORTED))
            if int(rank) not in reported and note["step"] != "done":
                stops.append(Stop(node, int(rank), note["step"], note.get("error")))
    to_blame = [s for s in stops if not s.error] or [s for s in stops if s.step not in COLLECTIVE_STEPS] or stops
    for stop in stops:
        if any(stop is blamed for blamed in to_blame):
            stop.node["state"] = State.STOPPED.value
            stop.node["problems"].append(stop.words())
        else:
            stop.node.setdefault("interrupted", []).append(stop.words())
    return list(nodes.values())


def records_from_file(path: str) -> Tuple[List[dict], Optional[int]]:
    """Node records from a fleet report, a node report or a ``torchup doctor --json`` file, and
    how many nodes the fleet was to have, where the file says."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError) as error:
        raise TorchupError(f"{path}: not a readable JSON report ({error})", hint="give fleet.json, node-*.json or `torchup doctor --json` files") from None
    if isinstance(document, dict) and document.get("kind") in (KIND, NODE_KIND):
        if document.get("schema") != SCHEMA_VERSION:
            raise TorchupError(
                f"{path}: a fleet report of schema {document.get('schema')}, this torchup reads {SCHEMA_VERSION}",
                hint="merge it with the torchup that wrote it",
            )
        nodes = document.get("nodes")
        if not isinstance(nodes, list) or not all(_well_formed(node) for node in nodes):
            raise TorchupError(
                f"{path}: a fleet report whose nodes are not as torchup writes them", hint="give the files `torchup fleet launch` wrote, unedited"
            )
        # What an earlier judging added (the grid, the verdict, the label) is judged afresh.
        derived = ("columns", "status", "label", "duplicate")
        return [
            dict({key: value for key, value in node.items() if key not in derived}, source=node.get("source") or os.path.basename(path)) for node in nodes
        ], document.get("expected_nodes")
    if isinstance(document, dict) and isinstance(document.get("results"), list):
        if not all(isinstance(result, dict) and isinstance(result.get("id"), str) and _typed(result.get("facts"), dict) for result in document["results"]):
            raise TorchupError(f"{path}: a doctor report whose results are not as torchup writes them", hint="give `torchup doctor --json` files, unedited")
        return [_from_doctor(document, path)], None
    raise TorchupError(f"{path}: neither a fleet report nor a doctor report", hint="give fleet.json, node-*.json or `torchup doctor --json` files")


def _typed(value, kind) -> bool:
    return value is None or isinstance(value, kind)


def _well_formed_rank(rank) -> bool:
    number = (int, float)
    return (
        isinstance(rank, dict)
        and _typed(rank.get("rank"), int)
        and _typed(rank.get("local_rank"), int)
        and _typed(rank.get("gpu"), str)
        and _typed(rank.get("busbw_gbps"), number)
        and _typed(rank.get("gemm"), dict)
        and all(_typed(value, number) for value in (rank.get("gemm") or {}).values())
        and _typed(rank.get("canary"), dict)
        and isinstance(rank.get("allreduce") or [], list)
        and all(isinstance(step, dict) and isinstance(step.get("bytes"), int) for step in rank.get("allreduce") or [])
        and _typed(rank.get("transport"), dict)
    )


def _well_formed(node) -> bool:
    """A node as torchup writes it: the keys judging reads, each of its type (an edited file is refused, never half-judged)."""
    return (
        isinstance(node, dict)
        and isinstance(node.get("node"), str)
        and node.get("state") in {state.value for state in State}
        and isinstance(node.get("ranks"), list)
        and all(_well_formed_rank(rank) for rank in node["ranks"])
        and isinstance(node.get("facts"), dict)
        and isinstance(node.get("problems"), list)
        and all(isinstance(problem, str) for problem in node["problems"])
        and isinstance(node.get("doctor") or [], list)
        and all(isinstance(result, dict) and isinstance(result.get("id"), str) for result in node.get("doctor") or [])
        and isinstance(node.get("libraries") or {}, dict)
        and all(isinstance(library, dict) for library in (node.get("libraries") or {}).values())
        and _typed(node.get("host"), str)
        and _typed(node.get("known_facts"), list)
    )


def _from_doctor(document: dict, path: str) -> dict:
    """A node from a ``doctor --json`` file: its name is the file's (``gpu-07.json`` -> gpu-07)."""
    name = os.path.splitext(os.path.basename(path))[0]
    node = new_node(name, None, os.path.basename(path), State.REPORTED)
    node["origin"] = path  # no host in a doctor report: two files of one name are told apart by where they are
    node["doctor"] = [{key: result.get(key) for key in ("id", "status", "evidence")} for result in document["results"]]
    build = next((r.get("facts") or {} for r in document["results"] if r.get("id") == "install.build"), {})
    node["facts"] = {DOCTOR_FACTS[key]: value for key, value in build.items() if key in DOCTOR_FACTS}
    node["known_facts"] = sorted(DOCTOR_FACTS.values())
    return node


def _identity(record: dict) -> Optional[str]:
    """The machine a record is of: its host, else the doctor file it came from; None when unknown."""
    return record.get("host") or record.get("origin")


def _merge(known: Optional[dict], record: dict) -> dict:
    order = {State.REPORTED.value: 0, State.STOPPED.value: 1, State.MISSING.value: 2}
    if known is None or order[record["state"]] < order[known["state"]]:
        return dict(record, host=record.get("host") or (known or {}).get("host"))
    if record["state"] == known["state"] == State.STOPPED.value:
        fuller, other = (record, known) if len(record["ranks"]) > len(known["ranks"]) else (known, record)
        return dict(fuller, host=fuller.get("host") or other.get("host"), problems=list(dict.fromkeys(fuller["problems"] + other["problems"])))
    return dict(known, host=known.get("host") or record.get("host"))


def combine(records: Iterable[dict]) -> List[dict]:
    """One record per node: where inputs overlap, the one that ran furthest (reported, then
    stopped); two accounts of one stopped node (its own, and node 0's) together.

    Records of one node name from two machines (two hosts; two doctor files of one name) are not
    merged: each is kept, and each says that its name is taken twice."""
    groups: Dict[str, List[dict]] = {}
    for record in records:
        groups.setdefault(record["node"], []).append(record)
    nodes = []
    for name, group in groups.items():
        machines = list(dict.fromkeys(_identity(r) for r in group if _identity(r)))
        if len(machines) < 2:
            merged = None
            for record in group:
                merged = _merge(merged, record)
            nodes.append(merged)
            continue
        for machine in machines:
            merged = None
            # A record of no known machine (node 0's account of a silent rank) goes with the first.
            for record in (r for r in group if _identity(r) == machine or (not _identity(r) and machine == machines[0])):
                merged = _merge(merged, record)
            others = ", ".join(m for m in machines if m != machine)
            merged = dict(
                merged,
                duplicate=f"node name {name} is also reported by {others}: two machines under one name (one --node-rank given twice, or two reports named alike), kept apart",
            )
            nodes.append(merged)
    return nodes


# --- judging ---------------------------------------------------------------------------------


def load_gpu_table() -> dict:
    with open(GPUS_FILE, encoding="utf-8") as handle:
        return json.load(handle)


def gpu_row(table: dict, name: Optional[str]) -> Optional[dict]:
    for row in table["gpus"] if name else ():
        if re.search(row["match"], name):
            return row
    return None


def node_facts(node: dict) -> Dict[str, str]:
    """The facts compared across nodes, libraries by their digest (paths may differ, bytes should not)."""
    facts = {key: "null" if value is None else str(value) for key, value in node["facts"].items()}
    for name, library in (node.get("libraries") or {}).items():
        facts["lib." + name] = (library.get("sha256") or "unreadable")[:16]
    return facts


def drift_table(nodes: Sequence[dict], allowed: Sequence[str] = ()) -> List[dict]:
    """Each fact on which reporting nodes disagree: the fleet's value (the most common; on a tie,
    the value of the lowest-numbered node) and the nodes that differ from it."""
    reporting = sorted((n for n in nodes if n["state"] != State.MISSING.value and (n["facts"] or n.get("libraries"))), key=lambda n: natural_key(n["label"]))
    facts = {n["label"]: node_facts(n) for n in reporting}
    keys = sorted({key for values in facts.values() for key in values})
    rows = []
    for key in keys:
        if any(fnmatch.fnmatchcase(key, pattern) for pattern in allowed):
            continue
        values = {n["label"]: facts[n["label"]].get(key, UNSET) for n in reporting if n.get("known_facts") is None or key in n["known_facts"]}
        if len(set(values.values())) < 2:
            continue
        counts = Counter(values.values())
        top = max(counts.values())
        majority = next(value for value in values.values() if counts[value] == top)  # nodes in natural order: ties go to the lowest
        rows.append({"key": key, "majority": majority, "nodes": {node: value for node, value in values.items() if value != majority}})
    return rows


# The versions a fleet's nodes are expected to share, shown once at the top of a report when they all do.
VERSION_KEYS = ("torch", "torch.cuda", "torch.hip", "cudnn", "nccl", "python", "numpy", "gpu.model", "driver", "os", "kernel", "glibc")


def shared_versions(nodes: Sequence[dict]) -> Dict[str, str]:
    """The versions every reporting node that knows them has alike (a doctor report knows torch,
    its CUDA or HIP and the GPU count only)."""
    reporting = [n for n in nodes if n["state"] != State.MISSING.value and n["facts"]]
    shared = {}
    for key in VERSION_KEYS:
        values = {node_facts(n).get(key, UNSET) for n in reporting if n.get("known_facts") is None or key in n["known_facts"]}
        if len(values) == 1 and next(iter(values)) not in (UNSET, "null"):
            shared[key] = next(iter(values))
    return shared


def _median(values: List[float]) -> Optional[float]:
    return statistics.median(values) if values else None


SENT_NOTHING = "sent nothing: it never joined, or stopped before its ranks started"
# A median judges a figure only among at least this many: of two, the median is their mean, and
# the slower of two equals fails whenever they differ by twice the tolerance.
MEDIAN_QUORUM = 3


def judge(
    records: Sequence[dict],
    expected_nodes: Optional[int] = None,
    allowed_drift: Sequence[str] = (),
    table: Optional[dict] = None,
    missing: str = SENT_NOTHING,
    missing_by_node: Optional[Dict[str, str]] = None,
) -> dict:
    """The fleet report: each node's status per column, the drift table, the figures, the verdict.
    ``missing`` says what is known of an expected node that sent nothing (``missing_by_node``, of
    one node in particular). Records are redacted first: no secret reaches any rendering."""
    table = table or load_gpu_table()
    nodes = combine(redact_document(list(records)))
    present = {n["node"] for n in nodes}
    for index in range(expected_nodes or 0):
        if str(index) not in present:
            absent = new_node(str(index), None, "expected", State.MISSING)
            absent["problems"].append((missing_by_node or {}).get(str(index), missing))
            nodes.append(absent)
    nodes.sort(key=lambda n: (natural_key(n["node"]), str(_identity(n) or "")))
    names = Counter(n["node"] for n in nodes)
    for node in nodes:
        node["label"] = node["node"] if names[node["node"]] == 1 else f"{node['node']} ({_identity(node) or '?'})"
    drift = drift_table(nodes, allowed_drift)
    ranks = [rank for node in nodes for rank in node["ranks"]]
    checksums = Counter(rank["canary"]["checksum"] for rank in ranks if rank.get("canary"))
    fleet_checksum = checksums.most_common(1)[0][0] if checksums else None
    medians, counts = {}, {}
    for precision in ("bf16", "fp32"):
        by_model: Dict[str, List[float]] = {}
        for rank in ranks:
            if rank.get("gemm") and rank["gemm"].get(precision) is not None:
                by_model.setdefault(rank["gpu"] or "cpu", []).append(rank["gemm"][precision])
        medians[precision] = {model: _median(values) for model, values in by_model.items()}
        counts[precision] = {model: len(values) for model, values in by_model.items()}
    # all_reduce is one collective over every node: each node's slowest rank, compared across nodes.
    busbw_by_node = [min(r["busbw_gbps"] for r in n["ranks"] if r.get("busbw_gbps")) for n in nodes if any(r.get("busbw_gbps") for r in n["ranks"])]
    busbw_median = _median(busbw_by_node)
    judged_medians = {
        "gemm": {p: {m: v for m, v in by.items() if m != "cpu" and counts[p][m] >= MEDIAN_QUORUM} for p, by in medians.items()},
        "busbw": busbw_median if len(busbw_by_node) >= MEDIAN_QUORUM else None,
    }
    for node in nodes:
        node["columns"] = _columns(node, drift, fleet_checksum, judged_medians, table)
        worst = [c["status"] for c in node["columns"].values()]
        node["status"] = Status.FAIL.value if Status.FAIL.value in worst else Status.WARN.value if Status.WARN.value in worst else Status.PASS.value
    failing = list(dict.fromkeys(n["node"] for n in nodes if n["status"] == Status.FAIL.value))
    nodes.sort(key=lambda n: (n["status"] == Status.PASS.value, natural_key(n["node"]), str(_identity(n) or "")))
    return {
        "schema": SCHEMA_VERSION,
        "kind": KIND,
        "expected_nodes": expected_nodes,
        "nodes": nodes,
        "drift": drift,
        "shared": shared_versions(nodes),
        "figures": {
            "gemm_median_tflops": medians,
            "busbw_median_gbps": busbw_median,
            "canary_checksum": fleet_checksum,
            "median_tolerance": table["median_tolerance"],
            "median_quorum": MEDIAN_QUORUM,
        },
        "failing": failing,
        "exit_code": EXIT_FAILED if failing else EXIT_OK,
    }


def _cell(status: Status, text: str) -> dict:
    return {"status": status.value, "text": text}


def _columns(node, drift, fleet_checksum, medians, table) -> Dict[str, dict]:
    state = State(node["state"])
    if state is State.MISSING:
        columns = {"joined": _cell(Status.FAIL, node["problems"][0] if node["problems"] else "never joined")}
        return dict(columns, **{name: _cell(Status.SKIP, "no data") for name in COLUMNS[1:]})
    columns = {"joined": _cell(Status.FAIL, node["duplicate"]) if node.get("duplicate") else _cell(Status.PASS, f"{len(node['ranks'])} rank(s)")}
    if state is State.STOPPED:
        columns["ran"] = _cell(Status.FAIL, "; ".join(node["problems"]))
    elif node.get("interrupted"):
        columns["ran"] = _cell(Status.WARN, "interrupted by another node's fault: " + "; ".join(node["interrupted"]))
    else:
        columns["ran"] = _cell(Status.PASS, "every rank ran to the end")
    differing = [f"{row['key']}={row['nodes'][node['label']]} (fleet: {row['majority']})" for row in drift if node["label"] in row["nodes"]]
    columns["drift"] = _cell(Status.FAIL, "; ".join(differing)) if differing else _cell(Status.PASS, "as the fleet")
    bad = [r for r in node["doctor"] if r.get("status") in ("fail", "crash", "timeout")]
    warned = [r for r in node["doctor"] if r.get("status") == "warn"]
    if not node["doctor"]:
        columns["doctor"] = _cell(Status.SKIP, "not run")
    elif bad or warned:
        worst = bad or warned
        columns["doctor"] = _cell(
            Status.FAIL if bad else Status.WARN,
            "; ".join(f"{r['id']}: {(r.get('evidence') or '').splitlines()[0] if r.get('evidence') else r['status']}" for r in worst),
        )
    else:
        columns["doctor"] = _cell(Status.PASS, f"{len(node['doctor'])} checks passed")
    columns["canary"] = _canary(node, fleet_checksum)
    columns["gemm"] = _gemm(node, medians["gemm"], table)
    columns["allreduce"] = _allreduce(node, medians["busbw"], table["median_tolerance"])
    return columns


def _canary(node, fleet_checksum) -> dict:
    results = [(rank["rank"], rank["canary"]) for rank in node["ranks"] if rank.get("canary")]
    if not results:
        return _cell(Status.SKIP, "not run")
    wrong = [f"rank {rank}: {c['wrong_elements']} wrong elements" for rank, c in results if not c["exact"]]
    wrong += [f"rank {rank}: checksum {c['checksum']} (fleet: {fleet_checksum})" for rank, c in results if c["exact"] and c["checksum"] != fleet_checksum]
    if wrong:
        return _cell(Status.FAIL, "; ".join(wrong))
    return _cell(Status.PASS, f"exact on {len(results)} rank(s), checksum {fleet_checksum}")


def _gemm(node, medians, table) -> dict:
    """A GPU against its model's row in gpus.json always, and against the fleet median of its
    model where MEDIAN_QUORUM GPUs of that model reported. A CPU's figures are shown, never judged:
    CPU time on shared cores is the neighbours' as much as the node's."""
    ranks = [rank for rank in node["ranks"] if rank.get("gemm")]
    if not ranks:
        return _cell(Status.SKIP, "not run")
    tolerance = table["median_tolerance"]
    slow, metrics, parts = [], [], []
    for rank in ranks:
        row = gpu_row(table, rank["gpu"])
        for precision in ("bf16", "fp32") if rank["gpu"] else ():
            value = rank["gemm"].get(precision)
            median = medians[precision].get(rank["gpu"])
            if value is None:
                continue
            if median and value < median * (1 - tolerance):
                slow.append(f"rank {rank['rank']} {precision} {value:g} TFLOPS, {100 * (1 - value / median):.0f}% below the fleet median {median:g}")
                metrics.append(precision)
            if precision == "bf16" and row and row.get("bf16_measured") and value < row["bf16_measured"] * table["floor_fraction"]:
                slow.append(
                    f"rank {rank['rank']} bf16 {value:g} TFLOPS, under {table['floor_fraction']:.0%} of the {row['model']}'s measured best {row['bf16_measured']:g}"
                )
                metrics.append(precision)
        figures = []
        for precision in ("bf16", "fp32"):
            value, peak = rank["gemm"].get(precision), (row or {}).get(precision + "_peak")
            if value is not None:
                figures.append(f"{precision} {value:g}" + (f" ({100 * value / peak:.0f}% of peak)" if peak else ""))
        where = f" on an {row['model']}" if row else "" if rank["gpu"] else " on the CPU (shown, not judged)"
        parts.append(f"rank {rank['rank']}: {', '.join(figures)} TFLOPS{where}")
    if slow:
        return dict(_cell(Status.FAIL, "; ".join(slow)), metric=metrics[0])
    return _cell(Status.PASS, "; ".join(parts))


def _allreduce(node, busbw_median, tolerance) -> dict:
    ranks = [rank for rank in node["ranks"] if rank.get("allreduce")]
    if not ranks:
        return _cell(Status.SKIP, "one rank, or not run")
    busbw = min(rank["busbw_gbps"] for rank in ranks)
    transport = ranks[0].get("transport") or {}
    networks = transport.get("networks") or []
    how = transport.get("backend", "?") + (f" over {'/'.join(networks)}" if networks else "")
    largest = transport.get("largest")
    if largest:
        how += f", {largest['algorithm']}/{largest['protocol']} at {largest['bytes'] // (1024 * 1024)} MiB"
    text = f"busbw {busbw:g} GB/s at {ranks[0]['allreduce'][-1]['bytes'] // (1024 * 1024)} MiB ({how})"
    if transport.get("backend") == "nccl" and "Socket" in networks:
        return _cell(Status.FAIL, text + ": NCCL fell back to TCP sockets (no IB/EFA)")
    if busbw_median and busbw < busbw_median * (1 - tolerance):
        return _cell(Status.WARN, text + f", {100 * (1 - busbw / busbw_median):.0f}% below the fleet median {busbw_median:g}")
    return _cell(Status.PASS, text)


# --- rendering -------------------------------------------------------------------------------


def headline(report: dict) -> str:
    nodes = report["nodes"]
    names = {n["node"] for n in nodes}
    expected = max(report["expected_nodes"] or 0, len(names))  # doctor files may name nodes the run did not count
    reported = len({n["node"] for n in nodes if n["state"] != State.MISSING.value})
    verdict = "OK" if report["exit_code"] == EXIT_OK else "FAILED: drain or fix node(s) " + ", ".join(report["failing"])
    return f"torchup fleet: {reported} of {expected} node(s) reported, {len(report['failing'])} failing: {verdict}"


def _shared_words(report: dict) -> str:
    return ", ".join(f"{key} {value}" for key, value in (report.get("shared") or {}).items())


def _who(node: dict) -> str:
    """A node as a person reads it: its name, and its host (or, without one, its report file when two share the name)."""
    machine = node.get("host") or (node.get("origin") if node.get("duplicate") else None)
    return f"node {node['node']}" + (f" ({machine})" if machine else "")


def render_text(report: dict, verbose: bool = False) -> str:
    lines = [headline(report)]
    if report.get("shared"):
        lines.append("all nodes: " + _shared_words(report))
    if report["drift"]:
        lines += ["", "drift (the fleet's value, then the nodes that differ)"]
        for row in report["drift"]:
            others = ", ".join(f"node {node}: {value}" for node, value in row["nodes"].items())
            lines.append(f"  {row['key']}: {row['majority']}  <-  {others}")
    healthy = [n for n in report["nodes"] if n["status"] == Status.PASS.value]
    for node in report["nodes"]:
        if node["status"] == Status.PASS.value and not verbose:
            continue
        lines += ["", f"{_who(node)}: {node['status']}"]
        for name in COLUMNS:
            cell = node["columns"][name]
            if cell["status"] not in (Status.PASS.value, Status.SKIP.value) or verbose:
                lines.append(f"  {cell['status']:<4} {name}: {cell['text']}")
    if healthy and not verbose:
        lines += ["", f"{len(healthy)} healthy node(s): " + _ranges([n["node"] for n in healthy])]
    figures = report["figures"]
    for precision, by_model in figures["gemm_median_tflops"].items():
        for model, median in by_model.items():
            lines.append(f"median {precision} GEMM on {model}: {median:g} TFLOPS")
    if figures["busbw_median_gbps"]:
        lines.append(f"median all_reduce busbw: {figures['busbw_median_gbps']:g} GB/s")
    return "\n".join(lines) + "\n"


def _ranges(names: List[str]) -> str:
    """0, 1, 2, 5 -> "0-2, 5": a thousand healthy nodes in one line."""
    numbers = sorted({int(n) for n in names if n.isdigit()})
    words = sorted({n for n in names if not n.isdigit()}, key=natural_key)
    spans, start = [], None
    for index, number in enumerate(numbers):
        if start is None:
            start = number
        if index + 1 == len(numbers) or numbers[index + 1] != number + 1:
            spans.append(str(start) if start == number else f"{start}-{number}")
            start = None
    return ", ".join(spans + words)


def render_json(report: dict) -> str:
    return json.dumps(report, indent=2) + "\n"


# Markdown a bug tracker or a step summary renders: what the report quotes (node and host names,
# values) must not become emphasis, links, HTML, mentions or table cells of its own.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#!|~&$@])")


def md_text(value) -> str:
    """Plain text in Markdown: on one line, its punctuation escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def md_code(value, in_table: bool = True) -> str:
    """A value as inline code, fenced past any backticks it holds; a table cell's pipes escaped."""
    text = " ".join(str(value).split())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    if text.startswith("`") or text.endswith("`"):
        text = f" {text} "
    return fence + (text.replace("|", "\\|") if in_table else text) + fence


def render_markdown(report: dict) -> str:
    lines = [f"### {md_text(headline(report))}", ""]
    if report.get("shared"):
        lines += ["All nodes: " + ", ".join(f"{md_text(key)} {md_code(value, in_table=False)}" for key, value in report["shared"].items()), ""]
    if report["drift"]:
        lines += ["| fact | fleet value | differing nodes |", "|---|---|---|"]
        for row in report["drift"]:
            others = ", ".join(f"{md_text(node)}: {md_code(value)}" for node, value in row["nodes"].items())
            lines.append(f"| {md_code(row['key'])} | {md_code(row['majority'])} | {others} |")
        lines.append("")
    lines += ["| node | host | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---|" * len(COLUMNS)]
    marks = {"pass": "✓", "warn": "!", "fail": "✗", "skip": "-"}
    shown = [n for n in report["nodes"] if n["status"] != Status.PASS.value]
    for node in shown:
        machine = node.get("host") or (node.get("origin") if node.get("duplicate") else None) or ""
        lines.append(f"| {md_text(node['node'])} | {md_text(machine)} | " + " | ".join(marks[node["columns"][c]["status"]] for c in COLUMNS) + " |")
    healthy = len(report["nodes"]) - len(shown)
    if healthy:
        lines.append(f"| {healthy} healthy | | " + " | ".join("✓" for _ in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def render_junit(report: dict) -> str:
    from xml.etree import ElementTree

    suite = ElementTree.Element("testsuite", name="torchup fleet", tests=str(len(report["nodes"]) * len(COLUMNS)))
    failures = 0
    for node in report["nodes"]:
        for name in COLUMNS:
            cell = node["columns"][name]
            case = ElementTree.SubElement(suite, "testcase", classname=f"node {node.get('label') or node['node']}", name=name)
            if cell["status"] == Status.FAIL.value:
                failures += 1
                ElementTree.SubElement(case, "failure", message=cell["text"][:500]).text = cell["text"]
            elif cell["status"] == Status.SKIP.value:
                ElementTree.SubElement(case, "skipped", message=cell["text"])
    suite.set("failures", str(failures))
    return ElementTree.tostring(suite, encoding="unicode") + "\n"


# One self-contained page: no script, no server, no network. Node rows first by trouble, each
# followed by what is wrong with it across the whole grid's width; past FOLD_AFTER nodes the
# healthy ones are folded under one line. It fits a window 800 px wide.
FOLD_AFTER = 20
COLOURS = {"pass": "#2e7d32", "warn": "#f9a825", "fail": "#c62828", "skip": "#9e9e9e"}
# A GEMM bar is drawn in its precision's colour: the precision that failed, where one did.
BAR_COLOURS = {"bf16": "#1565c0", "fp32": "#00838f", "busbw": "#5e35b1"}
_STYLE = """
body { font: 13px/1.4 system-ui, sans-serif; margin: 12px; color: #212121; background: #fff; }
h1 { font-size: 17px; margin: 0 0 6px; }
h2 { font-size: 15px; margin: 16px 0 6px; }
p.shared { margin: 0 0 10px; color: #424242; overflow-wrap: anywhere; }
p.shared b { font-weight: 600; }
table { border-collapse: collapse; }
table.grid { max-width: 100%; }
th { text-align: left; font-weight: 600; padding: 2px 4px; border-bottom: 2px solid #212121; vertical-align: bottom; }
td { padding: 2px 4px; border-top: 3px solid #fff; vertical-align: middle; }
td.name { max-width: 9em; overflow-wrap: anywhere; }
td.swatch { width: 20px; min-width: 20px; padding: 0; }
td.cell { color: #fff; text-align: center; min-width: 30px; }
td.drift { outline: 3px solid #6a1b9a; outline-offset: -3px; }
td.figure { min-width: 84px; white-space: nowrap; }
.bar { display: block; height: 10px; margin-top: 1px; }
tr.trouble td { border-top: 0; padding-top: 0; padding-bottom: 6px; }
td.problems { color: #424242; white-space: normal; overflow-wrap: anywhere; }
details { margin: 8px 0; }
summary { cursor: pointer; font-weight: 600; }
table.drift td { border-bottom: 1px solid #ddd; overflow-wrap: anywhere; }
table.drift td.key { white-space: nowrap; }
table.drift td.value { min-width: 5em; }
"""
BAR_WIDTH = 80


def _bar(label: Optional[str], value: Optional[float], top: float, unit: str, colour: str) -> str:
    if value is None:
        return '<td class="figure">-</td>'
    width = max(1, int(BAR_WIDTH * value / top)) if top else 0
    words = html.escape(f"{label + ' ' if label else ''}{value:g} {unit}")
    return f'<td class="figure">{words}<span class="bar" style="width:{width}px;background:{colour}"></span></td>'


def gemm_shown(node: dict) -> Tuple[Optional[str], Optional[float]]:
    """The GEMM figure a node's bar draws: its slowest rank in the precision that failed, else in bf16 (else fp32)."""
    failed = node["columns"]["gemm"].get("metric")
    for precision in [failed] if failed else ["bf16", "fp32"]:
        values = [rank["gemm"][precision] for rank in node["ranks"] if rank.get("gemm") and rank["gemm"].get(precision) is not None]
        if values:
            return precision, min(values)
    return None, None


def _row(node: dict, tops: Dict[str, float], anchor: str, span: int) -> str:
    trouble = [f"{name}: {node['columns'][name]['text']}" for name in COLUMNS if node["columns"][name]["status"] in ("fail", "warn")]
    cells = [
        f'<td class="swatch" style="background:{COLOURS[node["status"]]}"' + (' rowspan="2"' if trouble else "") + "></td>",
        f'<td class="name">{html.escape(node["node"])}</td>',
        f'<td class="name">{html.escape(node.get("host") or node.get("origin") or "")}</td>',
    ]
    for name in COLUMNS:
        cell = node["columns"][name]
        extra = " drift" if name == "drift" and cell["status"] == Status.FAIL.value else ""
        cells.append(f'<td class="cell{extra}" style="background:{COLOURS[cell["status"]]}" title="{html.escape(cell["text"])}">{cell["status"]}</td>')
    precision, gemm = gemm_shown(node)
    busbw = [rank["busbw_gbps"] for rank in node["ranks"] if rank.get("busbw_gbps")]
    cells.append(_bar(precision, gemm, tops.get(precision or "", 0), "TFLOPS", BAR_COLOURS.get(precision or "", "#000")))
    cells.append(_bar(None, min(busbw) if busbw else None, tops["busbw"], "GB/s", BAR_COLOURS["busbw"]))
    row = f'<tr class="node {node["status"]}" id="{html.escape(anchor)}">' + "".join(cells) + "</tr>"
    if trouble:  # what is wrong, under the node's row across the grid's width, wrapped
        row += f'<tr class="trouble"><td class="problems" colspan="{span - 1}">{html.escape("; ".join(trouble))}</td></tr>'
    return row


def render_html(report: dict) -> str:
    nodes = report["nodes"]
    gemm = [gemm_shown(n) for n in nodes]
    tops = {precision: max([value for p, value in gemm if p == precision] or [0]) for precision in ("bf16", "fp32")}
    tops["busbw"] = max([rank["busbw_gbps"] for n in nodes for rank in n["ranks"] if rank.get("busbw_gbps")] or [0])
    header = (
        "<tr><th></th><th>node</th><th>host</th>"
        + "".join(f"<th>{name}</th>" for name in COLUMNS)
        + "<th>GEMM, slowest rank</th><th>all_reduce busbw</th></tr>"
    )
    span = 3 + len(COLUMNS) + 2
    anchors, seen = {}, Counter()
    for node in nodes:  # one anchor per row, even for two machines under one name
        seen[node["node"]] += 1
        anchors[id(node)] = f"node-{node['node']}" + (f"-{seen[node['node']]}" if seen[node["node"]] > 1 else "")
    troubled = [n for n in nodes if n["status"] != Status.PASS.value]
    healthy = [n for n in nodes if n["status"] == Status.PASS.value]
    fold = len(nodes) > FOLD_AFTER
    body = []
    if report.get("shared"):
        shared = " · ".join(f"<b>{html.escape(key)}</b> {html.escape(value)}" for key, value in report["shared"].items())
        body.append(f'<p class="shared">All nodes: {shared}</p>')
    body.append(f'<table class="grid">{header}' + "".join(_row(n, tops, anchors[id(n)], span) for n in (troubled if fold else nodes)) + "</table>")
    if fold and healthy:
        body.append(f"<details><summary>{len(healthy)} healthy node(s): {html.escape(_ranges([n['node'] for n in healthy]))}</summary>")
        body.append(f'<table class="grid">{header}' + "".join(_row(n, tops, anchors[id(n)], span) for n in healthy) + "</table></details>")
    if report["drift"]:
        body.append('<h2>drift</h2><table class="drift"><tr><th>fact</th><th>fleet value</th><th>differing nodes</th></tr>')
        for row in report["drift"]:
            others = ", ".join(f"{node}: {value}" for node, value in row["nodes"].items())
            body.append(
                f'<tr><td class="key">{html.escape(row["key"])}</td><td class="value">{html.escape(row["majority"])}</td><td>{html.escape(others)}</td></tr>'
            )
        body.append("</table>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>torchup fleet</title><style>{_STYLE}</style></head><body><h1>{html.escape(headline(report))}</h1>" + "\n".join(body) + "</body></html>\n"
    )
