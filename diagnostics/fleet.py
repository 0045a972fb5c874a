"""Runs on every rank torchrun starts for ``torchup fleet launch``:
``python -I fleet.py SETTINGS``, SETTINGS a JSON object: node, nnodes, master (HOST:PORT),
report (a file), collective_timeout (seconds), doctor (check ids), extra_checks (a file of
site-specific checks, or null) and steps. One JSON argument, so that nothing in it can be taken
by torchrun for an abbreviation of its own options.

It measures and records; it judges nothing. Each rank gathers its facts (versions, the CUDA
libraries actually mapped, NCCL_/CUDA_/TORCH_/PYTORCH_ variables, InfiniBand ports), runs a
canary matmul whose result is exact, times a GEMM and an all_reduce sweep, and all_gathers the
records. Local rank 0 of each node writes them to FILE, where the tool on that node reads them
and decides drift, slowness and the verdict. Before every step a rank says where it is in the
rendezvous store on node 0, so that when a peer crashes or hangs the report can still say which
rank stopped where. A node's local rank 0 exits 1 when a step failed, which makes torchrun end
the run. Once the ranks have started, rank 0 closes torchrun's rendezvous, as torchrun itself does
when it ends: a node that comes later is turned away at once, instead of waiting for a next round
that torchrun would start by restarting every rank already running.

``python -I fleet.py LOBBY``, LOBBY a JSON object with "lobby": true, node, nnodes, master and
timeout, runs beside torchrun on each node: it says in the same store that this node has come,
and prints each node that comes (one JSON object a line) until the run starts, and then which
nodes the run started with. torchrun says nothing of who has joined.

Nothing the kit writes holds a secret: variables whose names say they hold one (TORCH_TOKEN) are
recorded as ``****``, and every string passes the probe's redaction (``probe.py``).
"""

import datetime
import hashlib
import json
import os
import re
import signal
import socket
import sys
import time
import traceback

STEPS = ("facts", "doctor", "canary", "gemm", "allreduce")
RUN_ID = "torchup-fleet"  # torchrun's --rdzv-id (settings' run_id), and the prefix of the kit's keys in its store
LOBBY_POLL = 1.0
LOBBY_TICK = 5.0
ENV_PREFIXES = ("NCCL_", "CUDA_", "TORCH_", "PYTORCH_")
MIB = 1024 * 1024
# nccl-tests' sweep for a GPU (8 MiB to 1 GiB, doubling, after warm-up); a CPU over gloo stops at
# 32 MiB, where a loopback run still takes seconds.
GPU_SIZES = [8 * MIB << shift for shift in range(8)]
CPU_SIZES = [8 * MIB << shift for shift in range(3)]
# NCCL's numbering, from src/include/device.h (NCCL_ALGO_* and NCCL_PROTO_*).
NCCL_ALGORITHMS = ("Tree", "Ring", "CollNetDirect", "CollNetChain", "NVLS", "NVLSTree", "PAT")
NCCL_PROTOCOLS = ("LL", "LL128", "Simple")
CANARY_SEED = 20261127


# --- facts (pure parsers and readers) --------------------------------------------------------


def kit_module(name):
    """A sibling file of the kit, loaded by path: the kit runs isolated, its folder not on sys.path."""
    import importlib.util

    key = "torchup_kit_" + name
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[key] = module
    return sys.modules[key]


def environment_facts(environ):
    """The NCCL_, CUDA_, TORCH_ and PYTORCH_ variables; one whose name says it holds a secret
    (TORCH_TOKEN, NCCL_IB_PKEY) as ``****``: that it is set is a fact, its value is not."""
    probe = kit_module("probe")
    return dict((key, probe.MASK if probe.secret_name(key) else value) for key, value in sorted(environ.items()) if key.startswith(ENV_PREFIXES))


def infiniband_ports(root="/sys/class/infiniband"):
    """Each HCA port's state, rate and link layer: {"mlx5_0/1": "ACTIVE 200 Gb/sec (4X HDR) InfiniBand"}."""
    ports = {}
    try:
        devices = sorted(os.listdir(root))
    except OSError:
        return ports
    for device in devices:
        port_dir = os.path.join(root, device, "ports")
        try:
            port_names = sorted(os.listdir(port_dir))
        except OSError:
            continue
        for port in port_names:
            values = []
            for name in ("state", "rate", "link_layer"):
                try:
                    with open(os.path.join(port_dir, port, name)) as handle:
                        text = handle.read().strip()
                except OSError:
                    continue
                # "4: ACTIVE" -> "ACTIVE"
                values.append(text.split(":", 1)[1].strip() if name == "state" and ":" in text else text)
            ports["%s/%s" % (device, port)] = " ".join(values)
    return ports


_DRIVER = re.compile(r"Kernel Module(?: for \S+)?\s+(\d+(?:\.\d+)+)")


def parse_driver_version(text):
    """The NVIDIA kernel module's version from /proc/driver/nvidia/version, or None."""
    match = _DRIVER.search(text or "")
    return match.group(1) if match else None


def read_text(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def file_sha256(path):
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def mapped_libraries(parse_maps, maps_text):
    """The libnccl, libcudart, libcudnn and libcublas files mapped into this process, with their sha256."""
    found = {}
    for name, paths in sorted(parse_maps(maps_text or "").items()):
        for path in sorted(paths):
            found[os.path.basename(path)] = {"path": path, "sha256": file_sha256(path)}
    return found


_NETWORK = re.compile(r"NCCL INFO Using network (.+?)\s*$", re.M)
_CHANNEL = re.compile(r"NCCL INFO Channel \S+ : .* via (\S+)")
_TUNING = re.compile(r"NCCL INFO\s+(\d+) Bytes -> Algo (\d+) proto (\d+)")


def parse_nccl_log(text):
    """What NCCL's INFO log (NCCL_DEBUG_SUBSYS=INIT,NET,TUNING) says it used: the network plugin
    (IB, Socket, Libfabric), the channel transports (P2P, SHM, NET/IB…), and the algorithm and
    protocol of the largest collective."""
    networks = sorted(set(match.strip() for match in _NETWORK.findall(text)))
    transports = sorted(set(re.sub(r"/\d+$", "", via) for via in _CHANNEL.findall(text)))
    largest = None
    for size, algorithm, protocol in _TUNING.findall(text):
        if largest is None or int(size) >= largest[0]:
            largest = (int(size), int(algorithm), int(protocol))
    choice = None
    if largest:
        size, algorithm, protocol = largest
        choice = {
            "bytes": size,
            "algorithm": NCCL_ALGORITHMS[algorithm] if algorithm < len(NCCL_ALGORITHMS) else str(algorithm),
            "protocol": NCCL_PROTOCOLS[protocol] if protocol < len(NCCL_PROTOCOLS) else str(protocol),
        }
    return {"networks": networks, "transports": transports, "largest": choice}


# --- measurements ----------------------------------------------------------------------------


def synchronize(torch, device):
    if device != "cpu":
        torch.cuda.synchronize()


def canary_inputs(torch, n):
    """Two n x n matrices of small integers from a fixed formula: every product and sum is exact
    in fp32, so any device, kernel or summation order must give the very same result."""
    i = torch.arange(n, dtype=torch.int64)
    a = (i.view(-1, 1) * 31 + i.view(1, -1) * 17 + CANARY_SEED) % 17 - 8
    b = (i.view(-1, 1) * 7 + i.view(1, -1) * 13 + CANARY_SEED) % 17 - 8
    return a, b


def canary(torch, device):
    n = 2048 if device != "cpu" else 512
    a, b = canary_inputs(torch, n)
    # The reference takes another path than the result: fp32 on the CPU for a GPU's result, fp64
    # for a CPU's own (both exact here).
    expected = (a.double() @ b.double()) if device == "cpu" else (a.float() @ b.float()).double()
    if device != "cpu":
        torch.backends.cuda.matmul.allow_tf32 = False
    result = (a.float().to(device) @ b.float().to(device)).double().cpu()
    values = result.to(torch.int64).flatten()
    # A checksum in exact integers (a plain and a position-weighted sum): the same on every rank
    # whose matmul is right, whatever its library.
    weights = torch.arange(values.numel(), dtype=torch.int64) % 65521 + 1
    checksum = "%d:%d" % (int(values.sum().item()), int((values * weights).sum().item()))
    wrong = int((result != expected).sum().item())
    return {"n": n, "checksum": checksum, "exact": wrong == 0, "wrong_elements": wrong}


def gemm(torch, device, dist, local_rank):
    """Achieved TFLOPS of a square matmul in fp32 (no TF32) and bf16: the best of three timed
    rounds after warm-up, as MAMF figures are. GPUs are timed all at once, each its own; the
    ranks of one node share its CPUs, so on CPUs they take turns (nodes time side by side)."""
    n, seconds_per_round = (8192, 0.5) if device != "cpu" else (512, 0.1)
    figures = {"n": n}
    if device != "cpu":
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            figures[name] = round(_best_tflops(torch, device, n, dtype, seconds_per_round), 4)
        return figures
    # As many turns as the node with the most ranks has ranks: every rank takes part in each barrier.
    turns = torch.tensor([local_rank + 1])
    dist.all_reduce(turns, op=dist.ReduceOp.MAX)
    for turn in range(int(turns.item())):
        if turn == local_rank:
            for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
                figures[name] = round(_best_tflops(torch, device, n, dtype, seconds_per_round), 4)
        dist.barrier()
    return figures


def _best_tflops(torch, device, n, dtype, seconds_per_round):
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    a @ b
    synchronize(torch, device)
    best = 0.0
    for _ in range(3):
        repeats, started = 0, time.perf_counter()
        while True:
            a @ b
            repeats += 1
            if repeats % 4 == 0:
                synchronize(torch, device)
                if time.perf_counter() - started >= seconds_per_round:
                    break
        best = max(best, 2.0 * n**3 * repeats / (time.perf_counter() - started) / 1e12)
    return best


def all_reduce_sweep(torch, dist, device, sizes):
    """Bus bandwidth of all_reduce per size, as nccl-tests computes it: algbw * 2 (n - 1) / n."""
    world = dist.get_world_size()
    warmup, iterations = (5, 20) if device != "cpu" else (1, 3)
    rows = []
    for size in sizes:
        tensor = torch.ones(size // 4, dtype=torch.float32, device=device)
        for _ in range(warmup):
            dist.all_reduce(tensor)
        synchronize(torch, device)
        dist.barrier()
        started = time.perf_counter()
        for _ in range(iterations):
            dist.all_reduce(tensor)
        synchronize(torch, device)
        seconds = (time.perf_counter() - started) / iterations
        algbw = size / seconds / 1e9
        rows.append({"bytes": size, "seconds": round(seconds, 6), "algbw_gbps": round(algbw, 3), "busbw_gbps": round(algbw * 2.0 * (world - 1) / world, 3)})
        del tensor
    return rows


# --- the run ---------------------------------------------------------------------------------


def master_store(dist, master, seconds):
    """The rendezvous store on node 0 (torchrun's, at --master): it lives as long as node 0's
    torchrun does, whichever node holds group rank 0 and whichever node fails. Connecting is
    retried for ``seconds``."""
    host, _, port = master.rpartition(":")
    return dist.TCPStore(host.strip("[]"), int(port), is_master=False, timeout=datetime.timedelta(seconds=seconds))


def progress_store(dist, raw, settings):
    """The kit's keys in the rendezvous store; without it, in the process group's own store."""
    return dist.PrefixStore(settings.get("run_id") or RUN_ID, raw) if raw is not None else dist.distributed_c10d._get_default_store()


def close_rendezvous(store, nnodes, run_id=RUN_ID):
    """Mark torchrun's c10d rendezvous closed (its public handler's ``set_closed``, which torchrun
    calls itself when it ends). A node that comes after the join window then gets
    RendezvousClosedError at once; otherwise it would wait for a next round, and every node
    already running would restart its ranks to let it in."""
    from torch.distributed.elastic.rendezvous.c10d_rendezvous_backend import C10dRendezvousBackend
    from torch.distributed.elastic.rendezvous.dynamic_rendezvous import DynamicRendezvousHandler

    DynamicRendezvousHandler.from_backend(run_id, store, C10dRendezvousBackend(store, run_id), 1, max(1, nnodes)).set_closed()


def announce_run(dist, raw, settings, rank, local_rank, world, host):
    """In the store: the run has started (rank 0: its size, and how many nodes had come to the
    lobby by then), and which nodes are in it (each node's local rank 0)."""
    shared = progress_store(dist, raw, settings)
    if rank == 0:
        try:
            close_rendezvous(raw, int(settings.get("nnodes") or 1), settings.get("run_id") or RUN_ID)
        except Exception:
            pass  # a torch without the c10d handler: a late node is let in by a restart, as before
        shared.set("run", json.dumps({"world_size": world, "time": time.time(), "lobby_count": shared.add("lobby/count", 0)}))
    if local_rank == 0:
        ranks = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        shared.set("run/%d" % shared.add("run/count", 1), json.dumps({"node": settings["node"], "host": host, "ranks": ranks}))


def read_entries(store, name, known=None):
    """The entries a counter ``name/count`` numbers (``name/1``, ``name/2``…), those not in
    ``known`` yet, each with its index; one whose writer died before writing it is left out."""
    known = known if known is not None else {}
    for index in range(1, int(store.add(name + "/count", 0)) + 1):
        if index not in known and store.check(["%s/%d" % (name, index)]):
            known[index] = dict(json.loads(store.get("%s/%d" % (name, index)).decode()), index=index)
    return known


def lobby(settings):
    """Beside torchrun on a node: this node's arrival in the store, then every node's as it comes
    (JSON lines on stdout), until the run starts; then the run's size and nodes."""
    import torch.distributed as dist

    def say(event):
        sys.stdout.write(json.dumps(event, sort_keys=True) + "\n")
        sys.stdout.flush()

    deadline = time.monotonic() + float(settings["timeout"])
    poll = LOBBY_POLL * max(1.0, int(settings.get("nnodes") or 1) / 500.0)  # a thousand nodes ask node 0's store half as often
    try:
        raw = master_store(dist, settings["master"], float(settings["timeout"]))
        raw.set_timeout(datetime.timedelta(seconds=10))
        store = dist.PrefixStore(settings.get("run_id") or RUN_ID, raw)
        mine = int(store.add("lobby/count", 1))
        store.set("lobby/%d" % mine, json.dumps({"node": settings["node"], "host": socket.gethostname(), "time": time.time()}))
        said, ticked = {}, time.monotonic()
        while time.monotonic() < deadline:
            for index, entry in sorted(read_entries(store, "lobby").items()):
                if index not in said:
                    said[index] = entry
                    say(dict(entry, event="joined", mine=index == mine))
            if time.monotonic() - ticked >= LOBBY_TICK:  # for the tool to say where things stand, joins or not
                ticked = time.monotonic()
                say({"event": "tick"})
            if store.check(["run"]):
                run, known = json.loads(store.get("run").decode()), {}
                # Each node of the run says it is in as its ranks start: until all of its ranks are accounted for.
                until = time.monotonic() + 10.0
                while sum(entry.get("ranks", 1) for entry in read_entries(store, "run", known).values()) < run["world_size"] and time.monotonic() < until:
                    time.sleep(0.2)
                say(dict(run, event="run", nodes=[entry for _, entry in sorted(known.items())], mine=mine))
                return 0
            time.sleep(poll)
    except Exception as error:  # node 0 never came, or has gone: torchrun says so too
        said = str(error).strip().splitlines()
        say({"event": "gone", "error": type(error).__name__ + (": " + said[0] if said else "")})
    return 1


class Progress(object):
    """Where this rank is, kept in the process group's store for the others to read after a fault."""

    def __init__(self, record):
        self.record, self.store, self.step = record, None, "join"

    def key(self, rank):
        return "torchup/fleet/%d" % rank

    def at(self, step, error=None):
        self.step = step
        if self.store is not None:
            note = {"node": self.record["node"], "host": self.record["host"], "local_rank": self.record["local_rank"], "step": step, "error": error}
            try:
                self.store.set(self.key(self.record["rank"]), json.dumps(note))
            except Exception:
                pass  # the store's host is gone: there is no one left to tell

    def lobby(self):
        """Every node that came to the lobby (late ones too, up to now), and where the run began."""
        try:
            entries = [entry for _, entry in sorted(read_entries(self.store, "lobby").items())]
            run = json.loads(self.store.get("run").decode()) if self.store.check(["run"]) else {}
            return {"entries": entries, "run_started_after": run.get("lobby_count"), "run_time": run.get("time")}
        except Exception:
            return None

    def everyone(self, world):
        notes = {}
        if self.store is None:
            return notes
        for rank in range(world):
            try:
                if self.store.check([self.key(rank)]):
                    notes[str(rank)] = json.loads(self.store.get(self.key(rank)).decode())
            except Exception:
                break
        return notes


def torch_facts(torch, device):
    # gpu.count as doctor's install.build says it (0 without a usable GPU), so the two compare.
    facts = {"torch": torch.__version__, "torch.cuda": torch.version.cuda, "torch.hip": getattr(torch.version, "hip", None), "gpu.count": 0}
    if device != "cpu":
        index = torch.cuda.current_device()
        major, minor = torch.cuda.get_device_capability(index)
        facts.update({"gpu.model": torch.cuda.get_device_name(index), "gpu.capability": "%d.%d" % (major, minor), "gpu.count": torch.cuda.device_count()})
        if torch.backends.cudnn.is_available():
            facts["cudnn"] = str(torch.backends.cudnn.version())
        try:  # NCCL on CUDA builds, RCCL on ROCm ones
            facts["nccl"] = ".".join(str(part) for part in torch.cuda.nccl.version())
        except Exception:
            pass
    return facts


def gather_facts(torch, device, environment):
    import platform

    facts = torch_facts(torch, device)
    facts["python"] = platform.python_version()
    facts["kernel"] = platform.release()
    facts["glibc"] = "-".join(platform.libc_ver()) or None
    pretty = re.search(r'^PRETTY_NAME="?([^"\n]*)', read_text("/etc/os-release") or "", re.M)
    if pretty:
        facts["os"] = pretty.group(1)
    driver = parse_driver_version(read_text("/proc/driver/nvidia/version"))
    if driver:
        facts["driver"] = driver
    try:
        import numpy

        facts["numpy"] = numpy.__version__
    except Exception as error:  # a broken numpy is a fact about this node, not the end of the run
        facts["numpy"] = "does not import: %s" % type(error).__name__
    facts.update(("env." + key, value) for key, value in environment.items())
    facts.update(("ib." + port, state) for port, state in infiniband_ports().items())
    return facts


def load_kit():
    """The doctor's worker and checks, from this folder by path (as the doctor's worker loads them)."""
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("torchup_kit_worker", os.path.join(here, "worker.py"))
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    checks, causes = worker.load_kit()
    return worker, checks, causes


def run_doctor(kit, ids, extra_checks=None):
    worker, checks, causes = kit
    problem = worker.load_extra_checks(extra_checks, checks) if extra_checks else None
    if problem:  # torchup checked the file before the run: it changed since
        raise RuntimeError("--extra-checks %s: %s" % (extra_checks, problem))
    results = []
    worker.run(ids, checks, causes.classify, lambda event: results.append(event) if event["event"] == "result" else None)
    return [dict((k, v) for k, v in r.items() if k in ("id", "status", "evidence", "facts", "seconds")) for r in results]


def nccl_debug_file(directory, rank):
    """Where NCCL writes its INFO log for this rank (beside the report, in the tool's private
    directory), set before NCCL starts, unless the user asked for NCCL_DEBUG themselves: their
    setting and their log stay theirs."""
    if os.environ.get("NCCL_DEBUG"):
        return None
    path = os.path.join(directory, "nccl.%d.log" % rank)
    os.environ.update({"NCCL_DEBUG": "INFO", "NCCL_DEBUG_SUBSYS": "INIT,NET,TUNING", "NCCL_DEBUG_FILE": path})
    return path


class Stopped(Exception):
    """SIGINT or SIGTERM: the tool's time is up, or torchrun ends the other ranks of a node when
    one fails. The rank stops where it is, and local rank 0 still writes what it has."""


# The signal that stopped this rank. The doctor's worker takes any exception in a check for that
# check's crash, so a stop is raised again after each step, lest a check swallow it.
stopped_by = []


def _stop(number, frame):
    stopped_by.append(signal.Signals(number).name)
    raise Stopped("stopped by %s" % stopped_by[0])


def write_report(path, document):
    """The document, redacted (secret variables, URL credentials), written whole or not at all."""
    temporary = path + ".part"
    with open(temporary, "w") as handle:
        json.dump(kit_module("probe").redact_document(document), handle)
    os.replace(temporary, path)


def main(argv):
    settings = json.loads(argv[0])
    if settings.get("lobby"):
        os._exit(lobby(settings))  # past torch's teardown, as a rank's end is
    steps = settings.get("steps", STEPS)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    record = {"rank": rank, "local_rank": local_rank, "node": settings["node"], "host": socket.gethostname(), "facts": {}, "seconds": {}, "error": None}
    progress = Progress(record)
    # Variables are facts as the node set them, read before NCCL's logging is switched on below.
    environment = environment_facts(os.environ)
    document = {"kit": "torchup-fleet", "schema": 1, "node": settings["node"], "expected_nodes": settings["nnodes"], "world_size": world, "gathered": False}
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        started = time.monotonic()
        import torch
        import torch.distributed as dist

        device = "cpu"
        if torch.cuda.is_available() and torch.cuda.device_count():
            torch.cuda.set_device(local_rank % torch.cuda.device_count())
            device = "cuda"
        backend = "nccl" if device == "cuda" and dist.is_nccl_available() else "gloo"
        nccl_log = nccl_debug_file(os.path.dirname(settings["report"]), rank) if backend == "nccl" else None
        document["backend"] = backend
        record["seconds"]["import"] = round(time.monotonic() - started, 3)
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=settings["collective_timeout"]))
        # Every rank of every node is in the process group: every node's torchrun has seen the
        # rendezvous complete, and it may be closed (a participant that had not yet seen it
        # complete would be turned away too).
        raw = None
        if settings.get("master"):
            try:
                raw = master_store(dist, settings["master"], 10)
                announce_run(dist, raw, settings, rank, local_rank, world, record["host"])
            except Exception:
                pass
        progress.store = progress_store(dist, raw, settings)
        kit = load_kit()
        for step in [step for step in STEPS if step in steps or step == "facts"]:
            if step == "doctor" and local_rank != 0:
                continue
            progress.at(step)
            started = time.monotonic()
            if step == "facts":
                record["facts"] = gather_facts(torch, device, environment)
            elif step == "doctor":
                record["doctor"] = run_doctor(kit, settings.get("doctor", []), settings.get("extra_checks"))
            elif step == "canary":
                record["canary"] = canary(torch, device)
            elif step == "gemm":
                record["gemm"] = gemm(torch, device, dist, local_rank)
            elif step == "allreduce":
                record["allreduce"] = all_reduce_sweep(torch, dist, device, GPU_SIZES if device != "cpu" else CPU_SIZES) if world > 1 else []
                record["transport"] = dict(parse_nccl_log(read_text(nccl_log) or ""), backend=backend) if nccl_log else {"backend": backend}
            if stopped_by:
                raise Stopped("stopped by %s" % stopped_by[0])
            record["seconds"][step] = round(time.monotonic() - started, 3)
        if sys.platform.startswith("linux"):  # after the collectives, so that NCCL's library is mapped
            record["libraries"] = mapped_libraries(kit[1].parse_maps, read_text("/proc/self/maps"))
        progress.at("gather")
        gathered = [None] * world
        dist.all_gather_object(gathered, record)
        progress.at("done")
        document.update({"gathered": True, "ranks": gathered})
    except BaseException as error:  # a fault here (a peer gone, a timeout, SIGINT) is what the report is for
        said = str(error).strip().splitlines()
        record["error"] = {"step": progress.step, "text": type(error).__name__ + (": " + said[0] if said else ""), "traceback": traceback.format_exc()}
        progress.at(progress.step, record["error"]["text"])
        time.sleep(1.0)  # let the peers that noticed the same fault say so too
    if not document["gathered"]:
        document["ranks"] = [record]
        document["progress"] = progress.everyone(world)
    if local_rank == 0 and settings["node"] == "0" and progress.store is not None:
        document["lobby"] = progress.lobby()  # who came, and when: node 0 says which nodes were late
    if local_rank == 0:
        write_report(settings["report"], document)
    sys.stdout.flush()
    sys.stderr.flush()
    # Only local rank 0 fails the node's run, once it has written: a sibling exiting first would
    # have torchrun stop it before it could. Skip the interpreter's teardown, which with a process
    # group half gone can hang or crash.
    os._exit(1 if local_rank == 0 and not document["gathered"] else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
