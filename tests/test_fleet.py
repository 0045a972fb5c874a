"""``torchup fleet``: real torchrun runs of two nodes on 127.0.0.1 (gloo), one of them different,
one missing, one crashing; the report merged from their files, over a thousand nodes, and
opened in headless Chromium."""

import hashlib
import io
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import pytest

from tests.conftest import REPO, fixture_text, isolated_env, make_venv
from tests.fleet_reports import thousand_node_reports
from tests.test_doctor import EXTRA as FAULTY_CHECKS  # checks that segfault and hang
from torchup.diagnostics import fleet as kit
from torchup.installer import fleet
from torchup.installer.errors import TorchupError
from torchup.installer.fleet import report

OTHER_NUMPY = REPO / "build" / "wheelhouse" / "other-numpy"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_node(python, node_rank, port, out, *extra, nnodes=2, timeout=90, nproc="2", env=None):
    argv = [sys.executable, "-m", "torchup", "fleet", "launch", "--python", str(python), "--nnodes", str(nnodes), "--node-rank", str(node_rank)]
    argv += ["--master", f"127.0.0.1:{port}", "--nproc-per-node", nproc, "--out", str(out), "--run-timeout", str(timeout), *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or isolated_env(), cwd=REPO)


def finish(process, timeout):
    """The process's exit status and output; it must end within ``timeout`` (its --run-timeout and a margin)."""
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def load(path):
    return json.loads(Path(path).read_text())


def node(document, name):
    return next(n for n in document["nodes"] if n["node"] == name)


# --- the pieces, pure -----------------------------------------------------------------------


def test_torchrun_command_is_the_targets_own_isolated_and_elastic():
    limits = fleet.budget(60)
    settings = {"node": "1", "nnodes": 4}
    argv = fleet.torchrun_argv("/opt/env/bin/python", 4, 1, fleet.parse_master("node001:29500"), 8, limits, settings)
    assert argv == [
        "/opt/env/bin/python", "-I", "-m", "torch.distributed.run",
        "--nnodes", "1:4", "--nproc-per-node", "8",
        "--rdzv-backend", "c10d", "--rdzv-endpoint", "node001:29500", "--rdzv-id", "torchup-fleet",
        "--rdzv-conf", "is_host=0,join_timeout=60,last_call_timeout=12",
        "--max-restarts", "0", "--no-python",
        "/opt/env/bin/python", "-I", os.path.join(str(REPO), "diagnostics", "fleet.py"), '{"nnodes": 4, "node": "1"}',
    ]  # fmt: skip
    assert "is_host=1," in fleet.torchrun_argv("python", 4, 0, fleet.parse_master("[fe80::1]:29500"), 1, limits, settings)[15]
    assert str(fleet.parse_master("[fe80::1]:29500")) == "[fe80::1]:29500"


def test_budget_leaves_time_to_stop_and_report():
    assert fleet.budget(600) == (600, 587, 120, 180)
    assert fleet.budget(30) == (30, 17, 6, 10)
    with pytest.raises(TorchupError, match="at least 30 s"):
        fleet.budget(29)


@pytest.mark.parametrize("text", ["node001", "node001:http", ":29500", "node001:0", "node001:70000"])
def test_bad_master_is_bad_input(text):
    with pytest.raises(TorchupError, match="HOST:PORT"):
        fleet.parse_master(text)


def test_selection_of_steps_and_doctor_checks():
    from torchup.installer import doctor
    from torchup.installer.context import Run, Timeouts

    def choose(names):  # the doctor's own selection, from the kit's registry
        return [check["id"] for check in doctor.select(Run(Timeouts(), False, print), None, names)]

    steps, chosen = fleet.select([], choose)
    assert steps == ["facts", "canary", "gemm", "allreduce", "doctor"] and {"install.import", "accelerator.runtimes"} <= set(chosen)
    assert "tutorial.autograd" not in chosen and "accelerator.device_assert" not in chosen  # it would poison the rank's CUDA context
    assert fleet.select(["fleet.gemm"], choose) == (["facts", "gemm"], [])
    assert fleet.select(["tutorial.autograd", "fleet"], choose) == (["facts", "canary", "gemm", "allreduce", "doctor"], ["tutorial.autograd"])
    with pytest.raises(TorchupError, match="unknown check or group: fleet.nope"):
        fleet.select(["fleet.nope"], choose)


def test_nccl_log_says_network_transport_and_algorithm():
    ib = kit.parse_nccl_log(fixture_text("nccl/ib-roce.log"))
    assert ib == {"networks": ["IB"], "transports": ["NET/IB"], "largest": {"bytes": 1026048, "algorithm": "Ring", "protocol": "Simple"}}
    sockets = kit.parse_nccl_log(fixture_text("nccl/socket.log"))
    assert sockets["networks"] == ["Socket"] and sockets["largest"] is None


def test_driver_version_from_recorded_proc_files():
    assert kit.parse_driver_version(fixture_text("collected/proc-driver-nvidia-version-565.57.01-open-x86_64.txt")) == "565.57.01"
    assert kit.parse_driver_version(fixture_text("collected/proc-driver-nvidia-version-460.39-proprietary.txt")) == "460.39"
    assert kit.parse_driver_version("") is None


def test_infiniband_ports_from_sysfs(tmp_path):
    for device, state, rate, layer in (("mlx5_0", "4: ACTIVE", "400 Gb/sec (4X NDR)", "InfiniBand"), ("mlx5_1", "1: DOWN", "10 Gb/sec (4X SDR)", "InfiniBand")):
        port = tmp_path / device / "ports" / "1"
        port.mkdir(parents=True)
        (port / "state").write_text(state + "\n")
        (port / "rate").write_text(rate + "\n")
        (port / "link_layer").write_text(layer + "\n")
    assert kit.infiniband_ports(str(tmp_path)) == {"mlx5_0/1": "ACTIVE 400 Gb/sec (4X NDR) InfiniBand", "mlx5_1/1": "DOWN 10 Gb/sec (4X SDR) InfiniBand"}
    assert kit.infiniband_ports(str(tmp_path / "none")) == {}


def test_mapped_libraries_are_named_by_their_bytes_and_differing_bytes_are_drift(tmp_path):
    from torchup.diagnostics.checks import parse_maps

    libraries = {}
    for node_name, content in (("0", b"nccl 2.28.9"), ("1", b"nccl 2.28.9"), ("2", b"nccl 2.30.7")):
        library = tmp_path / node_name / "libnccl.so.2"
        library.parent.mkdir()
        library.write_bytes(content)
        maps = f"7f0000000000-7f0000001000 r-xp 00000000 08:01 42  {library}\n7f0000001000-7f0000002000 rw-p 00000000 00:00 0 \n"
        libraries[node_name] = kit.mapped_libraries(parse_maps, maps)
    assert libraries["0"] == {"libnccl.so.2": {"path": str(tmp_path / "0" / "libnccl.so.2"), "sha256": hashlib.sha256(b"nccl 2.28.9").hexdigest()}}
    ranks = [dict(rank_record(name, int(name)), libraries=found) for name, found in libraries.items()]
    drift = report.judge(report.records_from_kit({"gathered": True, "ranks": ranks}, "test"))["drift"]
    assert drift == [
        {
            "key": "lib.libnccl.so.2",
            "majority": hashlib.sha256(b"nccl 2.28.9").hexdigest()[:16],
            "nodes": {"2": hashlib.sha256(b"nccl 2.30.7").hexdigest()[:16]},
        }
    ]


def test_the_lobby_says_who_has_come_who_is_awaited_and_who_came_late():
    said = io.StringIO()
    lobby = fleet.Lobby("3", 1000, said)
    come = [n for n in range(1000) if n not in (3, 17, 500)]
    for index, name in enumerate(come, 1):  # a burst: one line, then the rest when the kit's lobby ticks
        lobby.hear(json.dumps({"event": "joined", "node": str(name), "host": f"gpu{name:04d}", "index": index}) + "\n")
    lobby.hear('{"event": "tick"}\n')
    assert said.getvalue().splitlines() == [
        "torchup fleet: 1 of 1000 node(s) at the rendezvous: 0; waiting for 1-999",
        "torchup fleet: 997 of 1000 node(s) at the rendezvous: 0-2, 4-16, 18-499, 501-999; waiting for 3, 17, 500",
    ]
    lobby.hear(json.dumps({"event": "joined", "node": "3", "host": "gpu0003", "index": 998, "mine": True}))
    nodes = [{"node": str(n), "host": f"gpu{n:04d}", "ranks": 8} for n in come]
    lobby.hear(json.dumps({"event": "run", "world_size": 8 * 997, "lobby_count": 997, "mine": 998, "nodes": nodes}))
    assert said.getvalue().splitlines()[-1] == "torchup fleet: the run started with node(s) 0-2, 4-16, 18-499, 501-999, without this node: it came too late"
    assert lobby.late() and lobby.late_problem(fleet.budget(600)) == (
        "came after the run had started without it, with node(s) 0-2, 4-16, 18-499, 501-999 (nodes get 120 s after the first one to join); missing as well: 17, 500"
    )
    entries = [{"node": "0", "time": 100.0, "index": 1}, {"node": "1", "time": 101.0, "index": 2}, {"node": "3", "time": 130.4, "index": 4}]
    words = fleet.missing_words({"entries": entries, "run_started_after": 3}, 4, fleet.budget(100))
    assert words == {
        "0": "came to the rendezvous in time, but its ranks never started",
        "1": "came to the rendezvous in time, but its ranks never started",
        "2": "did not join within 20 s of the first node (the join window): never seen at the rendezvous",
        "3": "came late, 30 s after the first node, once the run had started without it (the join window is 20 s)",
    }


def test_torchrun_failure_summary_names_the_rank_and_signal():
    text = fixture_text("nccl/torchrun-failure.txt")
    assert fleet.parse_torchrun_failures(text) == [{"rank": 2, "local_rank": 0, "exitcode": -11}, {"rank": 3, "local_rank": 1, "exitcode": -15}]


def test_canary_is_exact_and_the_same_everywhere(torch_python):
    script = "import sys, torch; sys.path.insert(0, sys.argv[1]); import fleet; print(fleet.canary(torch, 'cpu'))"
    out = subprocess.run([str(torch_python), "-I", "-c", script, str(REPO / "diagnostics")], capture_output=True, text=True, timeout=120, check=True).stdout
    assert "'exact': True" in out and "'wrong_elements': 0" in out


def rank_record(node_name, rank, numpy="2.4.6", bf16=0.5, checksum="1:2", exact=True, error=None):
    return {
        "rank": rank,
        "local_rank": rank % 2,
        "node": node_name,
        "host": f"host{node_name}",
        "facts": {"torch": "2.13.0+cpu", "numpy": numpy},
        "canary": {"n": 512, "checksum": checksum, "exact": exact, "wrong_elements": 0 if exact else 3},
        "gemm": {"n": 512, "fp32": 0.1, "bf16": bf16},
        "allreduce": [{"bytes": 8388608, "seconds": 0.01, "algbw_gbps": 0.8, "busbw_gbps": 1.2}],
        "transport": {"backend": "gloo"},
        "error": error,
    }


def gpu_ranks(ranks, model="NVIDIA L40S"):
    """The records as a GPU's (a model gpus.json has no row for: judged against the fleet alone)."""
    for record in ranks:
        record["facts"]["gpu.model"] = model
    return ranks


def test_judging_names_drift_slow_and_corrupt_nodes_and_a_missing_one():
    ranks = gpu_ranks([rank_record(str(r // 2), r) for r in range(8)])
    ranks[2]["facts"]["numpy"] = "2.3.5"  # node 1's local rank 0 speaks for the node
    ranks[5]["gemm"]["bf16"] = 0.3  # node 2 has a slow rank
    ranks[7]["canary"]["checksum"] = "9:9"  # node 3 computes a different result
    raw = {"gathered": True, "world_size": 10, "ranks": ranks}
    judged = report.judge(report.records_from_kit(raw, "test"), expected_nodes=5)
    assert judged["failing"] == ["1", "2", "3", "4"]
    assert judged["drift"] == [{"key": "numpy", "majority": "2.4.6", "nodes": {"1": "2.3.5"}}]
    assert "40% below the fleet median 0.5" in node(judged, "2")["columns"]["gemm"]["text"]
    assert node(judged, "3")["columns"]["canary"]["text"] == "rank 7: checksum 9:9 (fleet: 1:2)"
    assert node(judged, "4")["state"] == "missing" and node(judged, "4")["columns"]["joined"]["status"] == "fail"
    assert [n["node"] for n in judged["nodes"]] == ["1", "2", "3", "4", "0"]  # trouble first
    assert report.judge(report.records_from_kit(raw, "test"), allowed_drift=["num*"])["drift"] == []


def test_one_node_rank_given_to_two_machines_is_a_failure():
    ranks = [rank_record("0", 0), rank_record("1", 2), rank_record("1", 4)]
    judged = report.judge(report.records_from_kit({"gathered": True, "ranks": ranks}, "test"), expected_nodes=3)
    assert judged["failing"] == ["1", "2"]
    assert node(judged, "1")["columns"]["ran"]["text"] == "--node-rank 1 was given to 2 nodes (ranks 2, 4): their records are mixed"


def test_a_tie_goes_to_the_lowest_node_and_an_h100_is_held_to_its_table():
    ranks = [rank_record("0", 0), rank_record("1", 1, numpy="2.3.5")]
    for record in ranks:
        record["facts"]["gpu.model"] = "NVIDIA H100 80GB HBM3"
        record["gemm"] = {"n": 8192, "fp32": 50.0, "bf16": 650.0}
    judged = report.judge(report.records_from_kit({"gathered": True, "ranks": ranks}, "test"))
    assert judged["drift"][0]["majority"] == "2.4.6" and judged["drift"][0]["nodes"] == {"1": "2.3.5"}
    assert "under 85% of the H100 SXM's measured best 794.5" in node(judged, "0")["columns"]["gemm"]["text"]
    judged = report.judge(report.records_from_kit({"gathered": True, "ranks": [dict(ranks[0], gemm={"n": 8192, "fp32": 50.0, "bf16": 750.0})]}, "test"))
    assert node(judged, "0")["columns"]["gemm"]["text"] == "rank 0: bf16 750 (76% of peak), fp32 50 (75% of peak) TFLOPS on an H100 SXM"


def test_nccl_over_sockets_fails_and_a_slow_all_reduce_warns():
    ranks = [rank_record(str(r), r) for r in range(3)]
    ranks[0]["transport"] = {
        "backend": "nccl",
        "networks": ["Socket"],
        "transports": ["NET/Socket"],
        "largest": {"bytes": 1 << 30, "algorithm": "Ring", "protocol": "Simple"},
    }
    ranks[1]["allreduce"] = [dict(ranks[1]["allreduce"][0], busbw_gbps=0.6)]
    judged = report.judge(report.records_from_kit({"gathered": True, "ranks": ranks}, "test"))
    assert node(judged, "0")["columns"]["allreduce"] == {
        "status": "fail",
        "text": "busbw 1.2 GB/s at 8 MiB (nccl over Socket, Ring/Simple at 1024 MiB): NCCL fell back to TCP sockets (no IB/EFA)",
    }
    assert (
        node(judged, "1")["columns"]["allreduce"]["status"] == "warn" and "50% below the fleet median 1.2" in node(judged, "1")["columns"]["allreduce"]["text"]
    )
    assert judged["failing"] == ["0"] and node(judged, "1")["status"] == "warn"
    markdown = report.render_markdown(judged)
    assert "| 0 | host0 | ✓ | ✓ | ✓ | - | ✓ | ✓ | ✗ |" in markdown and "| 1 | host1 | ✓ | ✓ | ✓ | - | ✓ | ✓ | ! |" in markdown
    assert "| 1 healthy | |" in markdown


def test_after_a_crash_the_silent_rank_is_blamed_not_the_ones_it_interrupted():
    raw = {
        "gathered": False,
        "world_size": 4,
        "ranks": [rank_record("0", 0, error={"step": "gather", "text": "RuntimeError: Connection closed by peer"})],
        "progress": {
            "0": {"node": "0", "host": "a", "local_rank": 0, "step": "gather", "error": "RuntimeError: Connection closed by peer"},
            "1": {"node": "0", "host": "a", "local_rank": 1, "step": "gather", "error": "RuntimeError: Connection closed by peer"},
            "2": {"node": "1", "host": "b", "local_rank": 0, "step": "doctor", "error": None},
            "3": {"node": "1", "host": "b", "local_rank": 1, "step": "gemm", "error": "RuntimeError: Connection closed by peer"},
        },
    }
    judged = report.judge(report.records_from_kit(raw, "test"), expected_nodes=2)
    assert judged["failing"] == ["1"]
    assert node(judged, "1")["columns"]["ran"]["text"].startswith("rank 2 stopped in doctor (it crashed or hangs)")
    assert node(judged, "0")["columns"]["ran"]["status"] == "warn"


def test_report_reads_doctor_json_files_too(tmp_path):
    for name, torch in (("gpu-01", "2.13.0+cu130"), ("gpu-02", "2.13.0+cu130"), ("gpu-03", "2.13.0+cu128")):
        results = [{"id": "install.build", "status": "pass", "evidence": "", "facts": {"torch": torch, "cuda": torch[-3:], "device_count": 8}}]
        (tmp_path / f"{name}.json").write_text(json.dumps({"schema": 1, "python": "/x/bin/python", "results": results}))
    judged = fleet.merge([str(tmp_path)])
    assert judged["failing"] == ["gpu-03"]
    assert {row["key"] for row in judged["drift"]} == {"torch", "torch.cuda"}
    for text, words in (
        ("[1, 2]", "neither a fleet report nor a doctor report"),
        ('{"kind": "torchup-fleet-node", "schema": 1, "nodes": [{"node": 3}]}', "nodes are not as torchup writes them"),
        ('{"kind": "torchup-fleet", "schema": 2, "nodes": []}', "a fleet report of schema 2, this torchup reads 1"),
        ("{", "not a readable JSON report"),
    ):
        (tmp_path / "other.json").write_text(text)
        with pytest.raises(TorchupError, match=words):
            fleet.merge([str(tmp_path)])


def test_credentials_in_facts_are_redacted_in_every_output(tmp_path):
    records = [rank_record("0", 0), rank_record("1", 1)]
    records[0]["facts"]["env.PYTORCH_MIRROR"] = "https://deploy:s3cret@mirror.example/whl"
    records[1]["facts"]["env.PYTORCH_MIRROR"] = "https://deploy:0ther@mirror2.example/whl"  # drift: both values in every output
    # A secret by its variable's name, as a fact (a report of an older kit) and in a check's evidence.
    records[0]["facts"]["env.TORCH_TOKEN"] = "hf_s3cretTorchToken"
    records[1]["doctor"] = [{"id": "extra.leaky", "status": "fail", "evidence": "HF_TOKEN=hf_s3cretHubToken in the environment"}]
    judged = report.judge(report.records_from_kit({"gathered": True, "ranks": records}, "test"))
    (tmp_path / "fleet.json").write_text(json.dumps(judged))
    outputs = {}
    for form in ("--json", "--markdown", "--text"):
        argv = [
            sys.executable,
            "-m",
            "torchup",
            "fleet",
            "report",
            str(tmp_path / "fleet.json"),
            "--html",
            str(tmp_path / "f.html"),
            "--junit",
            str(tmp_path / "f.xml"),
        ]
        result = subprocess.run(argv + ([form] if form != "--text" else []), capture_output=True, text=True, cwd=REPO, timeout=60)
        assert result.returncode == 1, result.stderr
        outputs[form] = result.stdout
    outputs["html"], outputs["junit"] = (tmp_path / "f.html").read_text(), (tmp_path / "f.xml").read_text()
    for form, text in outputs.items():
        assert "mirror2.example/whl" in text and "s3cret" not in text and "0ther" not in text, form
    assert "HF_TOKEN=****" in outputs["--text"] and "env.TORCH_TOKEN" in outputs["--json"]


def records(ranks):
    return report.records_from_kit({"gathered": True, "ranks": ranks}, "test")


def test_the_kit_never_records_a_secret(tmp_path):
    """The kit masks them itself (with its own copy of the rule): its raw records never hold one."""
    environment = {"TORCH_TOKEN": "hf_s3cret", "NCCL_IB_HCA": "mlx5", "HF_TOKEN": "hf_other", "PYTORCH_HUB_KEY": "k3y"}
    assert kit.environment_facts(environment) == {"NCCL_IB_HCA": "mlx5", "PYTORCH_HUB_KEY": "****", "TORCH_TOKEN": "****"}
    document = {
        "ranks": [{"facts": {"env.HF_TOKEN": "hf_other"}, "doctor": [{"evidence": "HF_TOKEN=hf_other"}], "error": {"traceback": "{'HF_TOKEN': 'hf_other'}"}}]
    }
    kit.write_report(str(tmp_path / "raw.json"), document)
    assert "hf_other" not in (tmp_path / "raw.json").read_text() and load(tmp_path / "raw.json")["ranks"][0]["facts"]["env.HF_TOKEN"] == "****"


def test_cpu_gemm_is_shown_not_judged_and_a_fleet_median_needs_three():
    # Two CPU nodes 20% apart (a busy machine's noise): shown, not failed.
    judged = report.judge(records([rank_record("0", 0, bf16=0.5), rank_record("1", 1, bf16=0.4)]))
    assert judged["failing"] == [] and node(judged, "1")["columns"]["gemm"]["text"] == "rank 1: bf16 0.4, fp32 0.1 TFLOPS on the CPU (shown, not judged)"
    # Two GPUs of a model 20% apart: of two, the median is their mean, so it judges neither.
    two = gpu_ranks([rank_record("0", 0, bf16=0.5), rank_record("1", 1, bf16=0.4)])
    two[1]["allreduce"] = [dict(two[1]["allreduce"][0], busbw_gbps=0.6)]  # and half the bus bandwidth: no warning either
    judged = report.judge(records(two))
    assert judged["failing"] == [] and node(judged, "1")["status"] == "pass"
    # Three: the one whose fp32 is slow fails, on fp32, and the page draws that.
    three = gpu_ranks([rank_record(str(r), r) for r in range(3)])
    three[2]["gemm"]["fp32"] = 0.05
    judged = report.judge(records(three))
    cell = node(judged, "2")["columns"]["gemm"]
    assert judged["failing"] == ["2"] and cell == {"status": "fail", "text": "rank 2 fp32 0.05 TFLOPS, 50% below the fleet median 0.1", "metric": "fp32"}
    assert report.gemm_shown(node(judged, "2")) == ("fp32", 0.05) and report.gemm_shown(node(judged, "0")) == ("bf16", 0.5)
    assert judged["figures"]["median_quorum"] == 3


def test_two_machines_under_one_name_are_a_finding_never_merged(tmp_path):
    for folder, host, numpy in (("a", "gpu001", "2.4.6"), ("b", "gpu002", "2.3.5")):
        (tmp_path / folder).mkdir()
        judged = report.judge(records([dict(rank_record("1", 2, numpy=numpy), host=host), dict(rank_record("0", 0), host="gpu000")]))
        for shown in judged["nodes"]:
            document = {"schema": 1, "kind": report.NODE_KIND, "nodes": [shown]}
            (tmp_path / folder / f"node-{shown['node']}.json").write_text(report.render_json(document))
    # Node 0 is one machine in both folders, and one file given twice is one report.
    merged = fleet.merge([str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "a" / "node-1.json")])
    ones = sorted((n for n in merged["nodes"] if n["node"] == "1"), key=lambda n: n["host"])
    assert [n["host"] for n in ones] == ["gpu001", "gpu002"] and merged["failing"] == ["1"] and node(merged, "0")["status"] == "pass"
    assert ones[0]["columns"]["joined"] == {
        "status": "fail",
        "text": "node name 1 is also reported by gpu002: two machines under one name (one --node-rank given twice, or two reports named alike), kept apart",
    }
    assert merged["drift"] == [{"key": "numpy", "majority": "2.4.6", "nodes": {"1 (gpu002)": "2.3.5"}}]
    text = report.render_text(merged)
    assert "node 1 (gpu001): fail" in text and "node 1 (gpu002): fail" in text and "numpy: 2.4.6  <-  node 1 (gpu002): 2.3.5" in text
    page = report.render_html(merged)
    assert 'id="node-1"' in page and 'id="node-1-2"' in page
    junit = report.render_junit(merged)
    assert 'classname="node 1 (gpu001)" name="joined"><failure' in junit and 'classname="node 1 (gpu002)" name="joined"><failure' in junit
    # Two doctor reports of one name: no host in them, so where they are tells them apart.
    for folder, torch in (("c", "2.13.0+cu130"), ("d", "2.13.0+cu128")):
        (tmp_path / folder).mkdir()
        results = [{"id": "install.build", "status": "pass", "evidence": "", "facts": {"torch": torch, "cuda": torch[-3:], "device_count": 8}}]
        (tmp_path / folder / "gpu-07.json").write_text(json.dumps({"schema": 1, "python": "/x/bin/python", "results": results}))
    merged = fleet.merge([str(tmp_path / "c"), str(tmp_path / "d")])
    assert merged["failing"] == ["gpu-07"] and len(merged["nodes"]) == 2
    assert all("two machines under one name" in n["columns"]["joined"]["text"] for n in merged["nodes"])
    assert node(fleet.merge([str(tmp_path / "c"), str(tmp_path / "c" / "gpu-07.json")]), "gpu-07")["status"] == "pass"


def unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_markdown_escapes_what_it_quotes():
    ranks = [dict(rank_record("0", 0, exact=False), host="<img src=x onerror=alert(1)>"), dict(rank_record("1", 1, numpy="2.3.5|`x`"), host="a*b_c|@team")]
    markdown = report.render_markdown(report.judge(records(ranks)))
    assert not re.search(r"(?<!\\)[<>]", markdown) and "\\<img src=x onerror=alert(1)\\>" in markdown
    assert "| 1 | a\\*b\\_c\\|\\@team |" in markdown and "`` 2.3.5\\|`x` ``" in markdown
    tables = [[line for line in block.splitlines() if line.startswith("|")] for block in markdown.split("\n\n")]
    tables = [rows for rows in tables if rows]
    assert len(tables) == 2  # drift, then the grid: every row has its header's cells, none of its own
    assert all(unescaped_pipes(line) == unescaped_pipes(rows[0]) for rows in tables for line in rows), tables
    assert report.md_code("a`b", in_table=False) == "``a`b``" and report.md_text("*x* [y](z)") == "\\*x\\* \\[y\\](z)"


# --- real nodes on 127.0.0.1 ----------------------------------------------------------------


@pytest.fixture(scope="module")
def other_numpy_python(torch_python, tmp_path_factory):
    """A second target: torch from the shared venv, but its own, older numpy in front of it."""
    wheels = sorted(OTHER_NUMPY.glob("numpy-*.whl"))
    if not wheels:
        pytest.fail(f"no numpy wheel in {OTHER_NUMPY}: run the tests with `make test`, which downloads it")
    root = tmp_path_factory.mktemp("node1")
    python = make_venv(root / "venv")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", str(wheels[0])], check=True, capture_output=True, timeout=300)
    site = subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip()
    shared = subprocess.check_output([str(torch_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip()
    Path(site, "shared-torch.pth").write_text(shared + "\n")
    return python


@pytest.fixture(scope="module")
def two_nodes(torch_python, other_numpy_python, tmp_path_factory):
    """Node 0 as configured; node 1 with NCCL_IB_DISABLE=1 and another numpy."""
    out = tmp_path_factory.mktemp("fleet")
    port = free_port()
    first = start_node(torch_python, 0, port, out, "--html", str(out / "grid.html"))
    # Node 1 accepts the two differences, so by its own verdict the fleet is healthy.
    second = start_node(other_numpy_python, 1, port, out, "--allow-drift", "numpy", "--allow-drift", "env.NCCL_*", env=isolated_env(NCCL_IB_DISABLE="1"))
    results = [finish(first, 150), finish(second, 150)]
    return out, results


def test_two_nodes_report_the_drift_of_node_1(two_nodes):
    out, ((code0, text0, err0), (code1, text1, _)) = two_nodes
    assert code0 == 1, err0[-3000:]
    # GEMM and bandwidth figures of two "nodes" sharing this machine's CPUs may differ by more than
    # the tolerance on a busy machine, so the verdicts below leave out the measured columns.
    fleet_report = load(out / "fleet.json")
    drift = {row["key"]: row for row in fleet_report["drift"]}
    assert drift["env.NCCL_IB_DISABLE"]["nodes"] == {"1": "1"} and drift["env.NCCL_IB_DISABLE"]["majority"] == "(unset)"
    assert drift["numpy"]["nodes"] == {"1": "2.3.5"}
    assert "1" in fleet_report["failing"] and node(fleet_report, "1")["columns"]["drift"]["status"] == "fail"
    healthy = node(fleet_report, "0")
    for column in ("joined", "ran", "drift", "doctor", "canary"):
        assert healthy["columns"][column]["status"] == "pass", (column, healthy["columns"][column])
    assert len(healthy["ranks"]) == 2 and all(rank["busbw_gbps"] > 0 for rank in healthy["ranks"])
    assert "env.NCCL_IB_DISABLE: (unset)  <-  node 1: 1" in text0
    assert text1.startswith("torchup fleet: 2 of 2 node(s) reported") and "drift" not in text1  # node 1 allowed both differences
    assert code1 == (1 if "FAILED" in text1.splitlines()[0] else 0)
    assert load(out / "node-1.json")["nodes"][0]["facts"]["env.NCCL_IB_DISABLE"] == "1"
    assert "OMP_NUM_THREADS" in (out / "node-0.log").read_text()  # torchrun's own output, kept beside the report


def test_fleet_report_merges_the_node_files(two_nodes):
    out, _ = two_nodes
    merged = subprocess.run(
        [sys.executable, "-m", "torchup", "fleet", "report", str(out / "node-0.json"), str(out / "node-1.json"), "--json", "--junit", str(out / "fleet.xml")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert merged.returncode == 1
    document = json.loads(merged.stdout)
    assert {row["key"] for row in document["drift"]} >= {"numpy", "env.NCCL_IB_DISABLE"} and "1" in document["failing"]
    assert 'classname="node 1" name="drift"><failure' in (out / "fleet.xml").read_text()
    allowed = subprocess.run(
        [sys.executable, "-m", "torchup", "fleet", "report", str(out), "--allow-drift", "numpy", "--allow-drift", "env.NCCL_*", "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert json.loads(allowed.stdout)["drift"] == []


def test_a_doctor_report_merges_with_a_fleet_run_on_the_facts_both_have(two_nodes, torch_python, tmp_path):
    out, _ = two_nodes
    for name in ("fleet.json", "node-0.json", "node-1.json"):  # the run counted 2 nodes; the doctor file adds one
        shutil.copy(out / name, tmp_path / name)
    doctor = subprocess.run(
        [sys.executable, "-m", "torchup", "doctor", "--python", str(torch_python), "--json"], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    (tmp_path / "gpu-07.json").write_text(doctor.stdout)
    merged = subprocess.run([sys.executable, "-m", "torchup", "fleet", "report", str(tmp_path)], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert merged.stdout.startswith("torchup fleet: 3 of 3 node(s) reported"), merged.stdout
    document = json.loads(subprocess.run([*merged.args, "--json"], capture_output=True, text=True, cwd=REPO, timeout=60).stdout)
    # torch, its CUDA and the GPU count, all a doctor report has, agree with the run's nodes.
    assert "gpu-07" not in document["failing"] and {row["key"] for row in document["drift"]} == {"numpy", "env.NCCL_IB_DISABLE"}


def test_ten_identical_two_node_cpu_runs_never_fail_on_gemm(torch_python, tmp_path):
    """CPU GEMM on this machine's shared, busy cores is noise: shown, never a failure. Two runs at
    a time, each of two nodes of one rank timing the GEMM alone (the one step that judges it)."""
    started, verdicts = time.monotonic(), []
    for pair in range(5):
        runs = []
        for index in (2 * pair, 2 * pair + 1):
            out, port = tmp_path / f"run{index}", free_port()
            runs.append((out, [start_node(torch_python, rank, port, out, "fleet.gemm", nproc="1", timeout=120) for rank in (0, 1)]))
        for out, nodes in runs:
            results = [finish(process, 150) for process in nodes]
            document = load(out / "fleet.json")
            verdicts.append([(n["node"], n["columns"]["gemm"]["status"]) for n in document["nodes"]])
            assert [code for code, _, _ in results] == [0, 0], [text + err[-2000:] for _, text, err in results]
            assert all(node(document, name)["columns"]["gemm"]["text"].endswith("on the CPU (shown, not judged)") for name in ("0", "1"))
    assert verdicts == [[("0", "pass"), ("1", "pass")]] * 10
    print(f"ten two-node runs: {time.monotonic() - started:.0f} s")


WAITING_CHECK = textwrap.dedent(
    """
    import os, time
    from torchup.diagnostics.checks import check, passed

    @check("extra.wait", "waits for the test to say go (a file), at most 60 s", needs_torch=False)
    def wait(context):
        deadline = time.monotonic() + 60
        while not os.path.exists(os.environ["FLEET_GO"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        return passed("waited")
    """
)


def read_until(stream, words, seconds):
    """Lines of a running process's stream, up to the one holding ``words``."""
    lines, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        if words in line:
            return lines
    raise AssertionError(f"no {words!r} within {seconds} s: {''.join(lines)[-3000:]}")


def test_a_late_node_is_turned_away_at_once_and_both_sides_say_so(torch_python, tmp_path):
    extra, go = tmp_path / "wait.py", tmp_path / "go"
    extra.write_text(WAITING_CHECK)
    env, port = isolated_env(FLEET_GO=str(go)), free_port()
    first = start_node(torch_python, 0, port, tmp_path / "out0", "--extra-checks", str(extra), "extra.wait", nproc="1", timeout=60, env=env)
    try:
        # Node 0 says who has come while it waits, and when its run starts without node 1 (after 12 s).
        said = "".join(read_until(first.stderr, "torchup fleet: the run started", 60))
        assert "torchup fleet: 1 of 2 node(s) at the rendezvous: 0; waiting for 1\n" in said
        assert "torchup fleet: the run started with node(s) 0; without node(s) 1\n" in said
        started = time.monotonic()
        code1, text1, err1 = finish(
            start_node(torch_python, 1, port, tmp_path / "out1", "--extra-checks", str(extra), "extra.wait", nproc="1", timeout=60, env=env), 60
        )
        late_for = time.monotonic() - started
    finally:
        go.write_text("go")
    code0, text0, err0 = finish(first, 60)
    assert code1 == 1 and late_for < 30, (late_for, err1[-3000:])  # turned away at once, not at its --run-timeout
    own = load(tmp_path / "out1" / "node-1.json")["nodes"][0]
    assert own["state"] == "missing" and re.fullmatch(
        r"came after the run had started without it, with node\(s\) 0 \(.+\) \(nodes get 12 s after the first one to join\)", own["problems"][0]
    ), own["problems"]
    assert "fail joined: came after the run had started without it" in text1
    assert "torchup fleet: the run started with node(s) 0, without this node: it came too late" in err1
    # Node 0 went on without restarting its ranks for the latecomer, and names it as late.
    assert code0 == 1, err0[-3000:]
    seen_by_0 = load(tmp_path / "out0" / "fleet.json")
    assert seen_by_0["failing"] == ["1"] and node(seen_by_0, "0")["status"] == "pass"
    assert re.fullmatch(
        r"came late, \d+ s after the first node, once the run had started without it \(the join window is 12 s\)",
        node(seen_by_0, "1")["columns"]["joined"]["text"],
    )
    assert "closing signal" not in (tmp_path / "out0" / "node-0.log").read_text()


LEAKY_CHECK = textwrap.dedent(
    """
    import os
    from torchup.diagnostics.checks import check, outcome

    @check("extra.leaky", "a site check that prints its environment's secrets", needs_torch=False)
    def leaky(context):
        secrets = dict((name, os.environ[name]) for name in ("TORCH_TOKEN", "HF_TOKEN"))
        os.write(1, ("TORCH_TOKEN=%s\\n" % secrets["TORCH_TOKEN"]).encode())  # straight into torchrun's output
        os.write(2, ("%r\\n" % secrets).encode())
        return outcome("fail", "HF_TOKEN=%s leaked; %s" % (secrets["HF_TOKEN"], secrets))
    """
)


def test_no_secret_by_name_reaches_any_output(torch_python, tmp_path):
    extra, out, port = tmp_path / "leaky.py", tmp_path / "out", free_port()
    extra.write_text(LEAKY_CHECK)
    out.mkdir()
    secrets = ("hf_s3cretTorchTokenValue", "hf_s3cretHubTokenValue")
    env = isolated_env(TORCH_TOKEN=secrets[0], HF_TOKEN=secrets[1])
    formats = [["--markdown", "--junit", str(out / "fleet.xml"), "--html", str(out / "page.html")], ["--json"]]
    nodes = [
        start_node(torch_python, rank, port, out, "--extra-checks", str(extra), "extra.leaky", "fleet.gemm", *formats[rank], nproc="1", env=env)
        for rank in (0, 1)
    ]
    results = [finish(process, 120) for process in nodes]
    assert [code for code, _, _ in results] == [1, 1], results[0][2][-3000:]
    merged = subprocess.run([sys.executable, "-m", "torchup", "fleet", "report", str(out), "--markdown"], capture_output=True, text=True, cwd=REPO, timeout=60)
    outputs = {f"stdout {rank}": text for rank, (_, text, _) in enumerate(results)}
    outputs.update({f"stderr {rank}": err for rank, (_, _, err) in enumerate(results)})
    outputs.update({path.name: path.read_text() for path in sorted(out.iterdir())}, report=merged.stdout + merged.stderr)
    assert {"node-0.json", "node-0.log", "node-1.json", "node-1.log", "fleet.json", "fleet.html", "fleet.xml", "page.html"} <= set(outputs)
    for name, text in outputs.items():
        assert not any(secret in text for secret in secrets), name
    # What was there was shown, masked: the fact, the check's evidence, and its output in torchrun's log.
    assert load(out / "node-0.json")["nodes"][0]["facts"]["env.TORCH_TOKEN"] == "****"
    assert "HF_TOKEN=**** leaked" in outputs["fleet.json"] and "TORCH_TOKEN=****" in outputs["node-1.log"]
    assert "'HF_TOKEN': '****'" in outputs["node-0.log"] and "'HF_TOKEN': '****'" in outputs["stderr 1"]


def test_a_node_that_never_starts_is_named_within_the_timeout(torch_python, tmp_path):
    started = time.monotonic()
    # --nproc-per-node auto: one process per GPU, and on this GPU-less machine one.
    code, text, err = finish(start_node(torch_python, 0, free_port(), tmp_path, timeout=40, nproc="auto"), 40 + 20)
    assert code == 1, err[-3000:]
    assert time.monotonic() - started < 60
    document = load(tmp_path / "fleet.json")
    assert document["failing"] == ["1"] and node(document, "1")["state"] == "missing"
    assert node(document, "1")["columns"]["joined"]["text"] == "did not join within 8 s of the first node (the join window): never seen at the rendezvous"
    assert node(document, "0")["columns"]["ran"]["status"] == "pass" and len(node(document, "0")["ranks"]) == 1
    assert "1 of 2 node(s) reported, 1 failing: FAILED: drain or fix node(s) 1" in text


def test_a_node_whose_master_never_comes_says_so_within_the_timeout(torch_python, tmp_path):
    code, text, err = finish(start_node(torch_python, 1, free_port(), tmp_path, timeout=30, nproc="1"), 30 + 10)
    assert code == 1, err[-3000:]
    own = load(tmp_path / "node-1.json")["nodes"][0]
    assert re.fullmatch(r"could not reach the rendezvous at 127\.0\.0\.1:\d+ \(node 0\) within --run-timeout 30 s", own["problems"][0]), own["problems"]
    assert not (tmp_path / "fleet.json").exists()  # node 0 speaks for the fleet


def test_a_crashing_rank_is_reported_not_hung_on(torch_python, tmp_path):
    extra = tmp_path / "faults.py"
    extra.write_text(FAULTY_CHECKS)
    out, port = tmp_path / "out", free_port()
    first = start_node(torch_python, 0, port, out, timeout=60)
    second = start_node(torch_python, 1, port, out, "--extra-checks", str(extra), "install.import", "extra.segfault", "fleet", timeout=60)
    (code0, _, err0), (code1, _, _) = finish(first, 80), finish(second, 80)
    assert code0 == 1 and code1 == 1, err0[-3000:]
    seen_by_0 = load(out / "fleet.json")
    assert seen_by_0["failing"] == ["1"], seen_by_0["nodes"]
    # Global ranks go to nodes in the order they joined: node 1's local rank 0 is rank 0 or 2.
    assert re.search(r"rank [02] stopped in doctor \(it crashed or hangs\)", node(seen_by_0, "1")["columns"]["ran"]["text"])
    assert node(seen_by_0, "0")["columns"]["ran"]["status"] == "warn"  # interrupted, not to be drained
    own = load(out / "node-1.json")["nodes"][0]
    assert any(re.fullmatch(r"rank [02] \(local rank 0\) killed by SIGSEGV", problem) for problem in own["problems"]), own["problems"]
    merged = fleet.merge([str(out)])
    assert merged["failing"] == ["1"] and "killed by SIGSEGV" in node(merged, "1")["columns"]["ran"]["text"]


def test_a_hanging_rank_ends_within_the_timeout_and_is_named(torch_python, tmp_path):
    extra = tmp_path / "faults.py"
    extra.write_text(FAULTY_CHECKS)
    out, port = tmp_path / "out", free_port()
    started = time.monotonic()
    first = start_node(torch_python, 0, port, out, timeout=40)
    second = start_node(torch_python, 1, port, out, "--extra-checks", str(extra), "extra.hang", "fleet", timeout=40)
    (code0, _, err0), (code1, _, _) = finish(first, 60), finish(second, 60)
    assert time.monotonic() - started < 45  # both nodes ended within --run-timeout (and the second start's delay)
    assert code0 == 1 and code1 == 1, err0[-3000:]
    seen_by_0 = load(out / "fleet.json")
    assert seen_by_0["failing"] == ["1"]
    assert re.search(r"rank [02] stopped in doctor \(it crashed or hangs\)", node(seen_by_0, "1")["columns"]["ran"]["text"])
    # On node 1, torchrun stops the hung rank (SIGTERM) when node 0 has gone, or torchup does at
    # its --run-timeout (SIGINT): either way the rank says where it was.
    own = load(out / "node-1.json")["nodes"][0]
    assert any(re.fullmatch(r"rank [02] stopped in doctor: Stopped: stopped by SIG(TERM|INT)", problem) for problem in own["problems"]), own["problems"]


def test_a_node_without_torch_is_a_failing_node_that_says_so(tmp_path):
    python = make_venv(tmp_path / "bare", with_pip=False)
    code, text, err = finish(start_node(python, 0, free_port(), tmp_path / "out", nnodes=1, nproc="1", timeout=30), 40)
    assert code == 1, err[-3000:]
    assert f"fail ran: torch is not installed in {python}: `torchup install --python {python}` puts it there" in text
    assert "Error while finding module specification" not in err and "No module named" not in err  # one line of torchup's, not torchrun's


def test_bad_input_is_exit_2(torch_python, tmp_path):
    for args, words in (
        (["--nnodes", "2", "--node-rank", "2", "--master", "127.0.0.1:1"], "node ranks go from 0 to 1"),
        (["--nnodes", "2", "--node-rank", "0", "--master", "127.0.0.1"], "expected HOST:PORT"),
        (["--nnodes", "2", "--node-rank", "0", "--master", "h:1", "--nproc-per-node", "many"], "'many': a number of processes"),
        (["--nnodes", "2", "--node-rank", "0", "--master", "h:1", "fleet.nope"], "unknown check or group: fleet.nope"),
        (["--nnodes", "2", "--node-rank", "0", "--master", "h:1", "--run-timeout", "10"], "a fleet run needs at least 30 s"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "torchup", "fleet", "launch", "--python", str(torch_python), *args], capture_output=True, text=True, cwd=tmp_path, timeout=60
        )
        assert result.returncode == 2 and words in result.stderr, result.stderr
    missing = subprocess.run([sys.executable, "-m", "torchup", "fleet", "report", str(tmp_path / "none")], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no such file or directory" in missing.stderr


# --- a thousand nodes, and the page in a real browser ---------------------------------------


def test_a_thousand_node_reports_merge_and_fold(two_nodes, tmp_path):
    out, _ = two_nodes
    changed = thousand_node_reports(tmp_path, load(out / "node-0.json"))
    result = subprocess.run(
        [sys.executable, "-m", "torchup", "fleet", "report", str(tmp_path), "--html", str(tmp_path / "grid.html")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 1
    assert "3 failing: FAILED: drain or fix node(s) 17, 503, 998" in result.stdout
    assert "997 healthy node(s): 0-16, 18-502, 504-997, 999" in result.stdout
    page = (tmp_path / "grid.html").read_text()
    assert page.index('id="node-17"') < page.index("<details>") < page.index('id="node-0"')
    assert sorted(changed) == ["17", "503", "998"]


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


def chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("no chromium on PATH: .ci/run installs Debian's package (apt-get install chromium)")
    return found


def screenshot(page: Path, png: Path, tmp_path: Path, height: int, width: int = 1400):
    subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={width},{height}", f"--screenshot={png}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return read_png(png)


def read_png(path: Path):
    """(width, height, rows of RGB tuples) from an 8-bit RGB or RGBA PNG, with the standard library."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, header = 8, [], None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, colour = header[:4]
    assert depth == 8 and colour in (2, 6)
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up, corner = previous[x], previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                distances = (abs(estimate - left), abs(estimate - up), abs(estimate - corner))
                line[x] = (line[x] + (left, up, corner)[distances.index(min(distances))]) & 0xFF
        rows.append([tuple(line[i : i + 3]) for i in range(0, stride, channels)])
        previous = line
    return width, height, rows


def swatch_rows(rows, x):
    """The status colours down column ``x``, one entry per row band of the grid."""
    colours = {tuple(int(value[i : i + 2], 16) for i in (1, 3, 5)): status for status, value in report.COLOURS.items()}
    bands, last = [], None
    for line in rows:
        status = colours.get(line[x])
        if status and status != last:
            bands.append(status)
        last = status
    return bands


def test_the_page_shows_every_node_row_in_chromium(two_nodes, tmp_path):
    out, _ = two_nodes
    page = out / "grid.html"
    assert "<script" not in page.read_text() and "http" not in page.read_text().split("<body>")[1]
    width, height, rows = screenshot(page, tmp_path / "grid.png", tmp_path, 600)
    shown = [n["status"] for n in load(out / "fleet.json")["nodes"]]  # node 1 (drift) first, then node 0
    assert shown[0] == "fail" and len(shown) == 2
    assert swatch_rows(rows, 28) == shown


def test_a_thousand_nodes_stay_readable_in_chromium(two_nodes, tmp_path):
    out, _ = two_nodes
    thousand_node_reports(tmp_path, load(out / "node-0.json"))
    subprocess.run(
        [sys.executable, "-m", "torchup", "fleet", "report", str(tmp_path), "--html", str(tmp_path / "grid.html")], capture_output=True, cwd=REPO, timeout=120
    )
    width, height, rows = screenshot(tmp_path / "grid.html", tmp_path / "grid.png", tmp_path, 900)
    assert swatch_rows(rows, 28) == ["fail", "fail", "fail"]  # the three changed nodes; 997 healthy ones folded


def troubled_gpu_fleet() -> dict:
    """Four GPU nodes: node 2 slow in fp32 only, node 3 with a long host name and a long differing value."""
    ranks = gpu_ranks([dict(rank_record(str(r), r), gemm={"n": 8192, "bf16": 300.0 + r, "fp32": 90.0}) for r in range(4)])
    ranks[2]["gemm"]["fp32"] = 45.0
    ranks[3]["host"] = "ip-10-200-13-7.eu-central-1.compute.internal.example-cluster-with-a-long-name"
    ranks[3]["facts"]["env.NCCL_SOCKET_IFNAME"] = "=" + ",".join(f"enp{i}s0f{i % 4}" for i in range(40))
    return report.judge(records(ranks))


def bands(rows, x):
    """(status, first row, last row) of each status colour's run down column ``x``."""
    colours = {tuple(int(value[i : i + 2], 16) for i in (1, 3, 5)): status for status, value in report.COLOURS.items()}
    found = []
    for y, line in enumerate(rows):
        status = colours.get(line[x])
        if status and found and found[-1][0] == status and found[-1][2] == y - 1:
            found[-1][2] = y
        elif status:
            found.append([status, y, y])
    return found


def colour(value: str):
    return tuple(int(value[i : i + 2], 16) for i in (1, 3, 5))


@pytest.mark.parametrize("width", [1400, 800])
def test_the_page_fits_wraps_its_problems_and_draws_the_failing_metric_in_chromium(width, tmp_path):
    judged = troubled_gpu_fleet()
    page = tmp_path / "page.html"
    page.write_text(report.render_html(judged))
    text = page.read_text()
    assert text.count("All nodes:") == 1 and "<b>torch</b> 2.13.0+cpu" in text and "<b>gpu.model</b> NVIDIA L40S" in text  # once, at the top
    _, height, rows = screenshot(page, tmp_path / f"page-{width}.png", tmp_path, 1000, width=width)
    white = (255, 255, 255)
    # Nothing reaches the window's right edge: the grid and its problem text fit, wrapped, at this width.
    assert all(line[x] == white for line in rows for x in range(width - 8, width)), f"something is clipped at {width} px"
    rule = next(y for y, line in enumerate(rows) if sum(pixel == colour("#212121") for pixel in line) > 300)  # the grid's header rule
    assert max(x for x, pixel in enumerate(rows[rule]) if pixel == colour("#212121")) < width - 12
    last = max(y for y, line in enumerate(rows) if any(pixel != white for pixel in line))
    assert last < height - 20  # the whole page is in the shot
    # Rows: node 2 (fp32 slow) and node 3 (drift) fail, then 0 and 1; node 2's bar is drawn in fp32, the others' in bf16.
    found = bands(rows, 22)
    assert [status for status, _, _ in found] == ["fail", "fail", "pass", "pass"], found
    for (status, top, bottom), precision in zip(found, ("fp32", "bf16", "bf16", "bf16")):
        drawn = {p for p in ("bf16", "fp32") if any(colour(report.BAR_COLOURS[p]) in rows[y] for y in range(top, bottom + 1))}
        assert drawn == {precision}, (status, drawn)


def test_the_problem_text_wraps_rather_than_widens_the_page(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(report.render_html(troubled_gpu_fleet()))
    heights = {}
    for width in (1400, 800):
        _, _, rows = screenshot(page, tmp_path / f"page-{width}.png", tmp_path, 1000, width=width)
        heights[width] = max(y for y, line in enumerate(rows) if any(pixel != (255, 255, 255) for pixel in line))
    assert heights[800] > heights[1400] + 20, heights  # the same text, in more lines


@pytest.mark.parametrize("planted", ["node-0.json", "node-0.log", "fleet.html", "the directory", "--html"])
def test_a_planted_link_where_a_report_goes_is_refused_before_the_run(planted, tmp_path, torch_python):
    """The README's ssh recipe writes into the shared temporary directory: another user's link there is an error, never written through."""
    victim = tmp_path / "victim"
    victim.write_text("mine\n")
    out = tmp_path / "fleet"
    extra = []
    if planted == "the directory":
        os.symlink(tmp_path, out)
    elif planted == "--html":
        os.symlink(victim, tmp_path / "page.html")
        extra = ["--html", str(tmp_path / "page.html")]
    else:
        out.mkdir()
        os.symlink(victim, out / planted)
    code, _, err = finish(start_node(torch_python, 0, free_port(), out, *extra, nnodes=1), 60)
    assert code == 2, err
    assert "symbolic link" in err.splitlines()[0] and len(err.splitlines()) <= 2, err
    assert victim.read_text() == "mine\n"
    assert "torch.distributed" not in err and not [p for p in tmp_path.rglob("node-0.*") if not p.is_symlink()]  # said before torchrun ever started
