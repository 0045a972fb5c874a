"""Confirming a plan against a package index served on 127.0.0.1, and against the user's own pip sources."""

import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests.conftest import closed_port, isolated_env
from torchup.installer.detect import detect
from torchup.installer.host import Host
from torchup.installer.plan import Overrides, index, make_plan

PY = "cp%d%d" % sys.version_info[:2]


def wheel(version, variant, platform="manylinux_2_28_x86_64"):
    return f"torch-{version}+{variant}-{PY}-{PY}-{platform}.whl"


def facts_here(**env):
    # No pip configuration files: this machine's own sources must not take part.
    env.setdefault("PIP_CONFIG_FILE", "/dev/null")
    return detect(sys.executable, Host(env=isolated_env(**env)))


OVERRIDES = dict(torch="2.13", nvidia_driver="595.58.03", gpu_cc=("8.6",))  # a driver that runs CUDA 13.2 fully


def test_index_has_the_best_build(local_index):
    local_index.add_listing("whl/cu132/torch", [wheel("2.13.0", "cu132"), wheel("2.13.0", "cu132", "win_amd64")])
    plan = make_plan(facts_here(), Overrides(index_base=local_index.url + "/whl", **OVERRIDES))
    assert (plan.torch, plan.confirmed) == ("2.13.0+cu132", "index")
    assert plan.index_url == local_index.url + "/whl/cu132"
    assert "has a torch 2.13.0+cu132 wheel for this interpreter" in plan.notes[-1]


def test_missing_wheel_walks_down_to_the_next_build(local_index):
    local_index.add_listing("whl/cu132/torch", [wheel("2.12.1", "cu132"), wheel("2.13.0", "cu132", "win_amd64")])
    local_index.add_listing("whl/cu130/torch", [wheel("2.13.0", "cu130")])
    plan = make_plan(facts_here(), Overrides(index_base=local_index.url + "/whl", **OVERRIDES))
    assert plan.torch == "2.13.0+cu130"
    cu132 = next(c for c in plan.candidates if c.variant == "cu132")
    assert not cu132.accepted
    assert cu132.reason.startswith(f"the index has no torch 2.13.0+cu132 wheel for {PY} on ")
    assert "(it lists 2.13.0+cu132, 2.12.1+cu132)" in cu132.reason


def test_pep_691_json_listing(local_index):
    local_index.add_listing("whl/cpu/torch", [wheel("2.13.0", "cpu")], as_json=True)
    plan = make_plan(facts_here(), Overrides(index_base=local_index.url + "/whl", torch="2.13", no_gpu=True))
    assert (plan.torch, plan.confirmed) == ("2.13.0+cpu", "index")
    assert index.parse_listing((local_index.root / "whl/cpu/torch/index.json").read_text(), "application/vnd.pypi.simple.v1+json") == [wheel("2.13.0", "cpu")]


def test_no_build_on_the_index_is_an_error(local_index):
    local_index.add_listing("whl/cpu/torch", [wheel("2.12.1", "cpu")])
    from torchup.installer.plan.policy import PlanError

    with pytest.raises(PlanError, match="no planned build of torch is on the index"):
        make_plan(facts_here(), Overrides(index_base=local_index.url + "/whl", torch="2.13", no_gpu=True))


def test_a_lagging_index_gets_the_newest_release_it_has(local_index):
    local_index.add_listing("whl/cpu/torch", [wheel("2.12.1", "cpu"), wheel("2.11.0", "cpu")])
    plan = make_plan(facts_here(), Overrides(index_base=local_index.url + "/whl", no_gpu=True))
    assert (plan.torch, plan.confirmed) == ("2.12.1+cpu", "index")
    assert plan.decision.release_reason == f"the newest release the index has ({local_index.url}/whl); 2.15.0 is not there"


def test_unreachable_index_decides_offline():
    plan = make_plan(facts_here(), Overrides(index_base=f"http://127.0.0.1:{closed_port()}/whl", torch="2.13", no_gpu=True))
    assert (plan.torch, plan.confirmed) == ("2.13.0+cpu", "offline")
    # A closed port refuses at once: the index could not be reached, which is not a timeout.
    assert plan.notes[-1].startswith("decided from the bundled data: the index could not be reached (http://127.0.0.1:")


def test_an_index_that_answers_with_an_error_is_said_to():
    class Failing(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_error(503)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        plan = make_plan(facts_here(), Overrides(index_base=f"http://127.0.0.1:{server.server_port}/whl", torch="2.13", no_gpu=True))
    finally:
        server.shutdown()
        server.server_close()
    assert plan.notes[-1].startswith("decided from the bundled data: the index answered with an error (http://127.0.0.1:")
    assert plan.notes[-1].endswith(": HTTP 503)")


def test_silent_index_costs_only_the_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts connections, never answers
        started = time.monotonic()
        plan = make_plan(facts_here(), Overrides(index_base=f"http://127.0.0.1:{silent.getsockname()[1]}/whl", torch="2.13", no_gpu=True), timeout=0.5)
        assert time.monotonic() - started < 5
    assert plan.confirmed == "offline"
    assert plan.notes[-1].startswith("decided from the bundled data: the index did not answer within 0.5 s (http://127.0.0.1:")


def test_users_find_links_holds_the_build_when_the_index_is_down(tmp_path):
    wheels = tmp_path / "wheelhouse"
    wheels.mkdir()
    (wheels / wheel("2.13.0", "cpu")).write_text("")
    facts = facts_here(PIP_FIND_LINKS=str(wheels))
    plan = make_plan(facts, Overrides(index_base=f"http://127.0.0.1:{closed_port()}/whl", no_gpu=True))
    # The newest release any reachable source holds: 2.13.0, though the data knows newer ones.
    assert (plan.torch, plan.confirmed, plan.found_in) == ("2.13.0+cpu", "configured-source", str(wheels))
    assert plan.decision.release_reason == f"the newest release that a source of your pip configuration holds ({wheels}); 2.15.0 is not there"


def test_the_users_source_must_hold_the_companions_too(tmp_path):
    """With --with, a source holding torch but not torchvision of the same build is no source: the
    plan says what is missing and where it looked, and stops (exit 1) before anything is installed."""
    from torchup.installer.plan.confirm import CompanionsMissing

    wheels = tmp_path / "wheelhouse"
    wheels.mkdir()
    (wheels / wheel("2.13.0", "cpu")).write_text("")
    (wheels / f"torchvision-0.28.0+cu130-{PY}-{PY}-manylinux_2_28_x86_64.whl").write_text("")  # another build's
    other = tmp_path / "other"
    other.mkdir()
    (other / f"torchvision-0.28.0+cpu-{PY}-{PY}-manylinux_2_28_x86_64.whl").write_text("")  # the right one, in another source
    facts = facts_here(PIP_FIND_LINKS=f"{wheels} {other}")
    overrides = Overrides(index_base=f"http://127.0.0.1:{closed_port()}/whl", torch="2.13", no_gpu=True, with_packages=("torchvision",))
    with pytest.raises(CompanionsMissing) as stopped:
        make_plan(facts, overrides)
    assert stopped.value.exit_code == 1
    assert f"of your pip sources ({wheels}, {other}), none holds every planned package" in stopped.value.message
    assert stopped.value.message.endswith(f"torch 2.13.0+cpu is in {wheels}, but torchvision 0.28.0+cpu is not")
    with pytest.raises(CompanionsMissing, match="torchvision 0.28.0\\+cpu is not"):  # a wheelhouse of an air-gapped install alike
        make_plan(facts_here(), overrides, local_sources=[("find-links", str(wheels))], skip_index=True)
    # Beside torch, the same build's torchvision makes the source whole.
    (wheels / f"torchvision-0.28.0+cpu-{PY}-{PY}-manylinux_2_28_x86_64.whl").write_text("")
    plan = make_plan(facts, overrides)
    assert (plan.packages, plan.found_in) == (["torch==2.13.0+cpu", "torchvision==0.28.0+cpu"], str(wheels))


def test_users_file_index_is_read(local_index, tmp_path):
    simple = tmp_path / "simple"
    (simple / "torch").mkdir(parents=True)
    (simple / "torch" / "index.html").write_text(f'<a href="../../files/{wheel("2.12.1", "cpu")}#sha256=00">x</a>')
    facts = facts_here(PIP_EXTRA_INDEX_URL=f"file://{simple}")
    plan = make_plan(facts, Overrides(index_base=f"http://127.0.0.1:{closed_port()}/whl", no_gpu=True))
    assert (plan.torch, plan.found_in) == ("2.12.1+cpu", f"file://{simple}")


def test_a_different_build_in_the_users_sources_is_not_taken(tmp_path):
    wheels = tmp_path / "wheelhouse"
    wheels.mkdir()
    (wheels / wheel("2.13.0", "cu126")).write_text("")  # a CUDA build, on a machine planned for CPU
    facts = facts_here(PIP_FIND_LINKS=str(wheels))
    plan = make_plan(facts, Overrides(index_base=f"http://127.0.0.1:{closed_port()}/whl", torch="2.13", no_gpu=True))
    assert (plan.torch, plan.confirmed, plan.found_in) == ("2.13.0+cpu", "offline", None)
    assert "hold none of the planned builds" in plan.notes[-1]


def test_wheel_tags_are_checked():
    tags = index.supported_tags("cp311", ["cp311"], ["manylinux_2_36_x86_64", "manylinux_2_28_x86_64", "linux_x86_64"])
    names = [
        "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
        "torch-2.13.0+cpu-cp312-cp312-manylinux_2_28_x86_64.whl",
        "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_aarch64.whl",
        "torch-2.13.0+cpu-cp311-cp311-win_amd64.whl",
        "torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        "torch-2.13.0+cpu.tar.gz",
    ]
    assert index.matching_wheels(names, "torch", "2.13.0+cpu", tags) == [names[0]]
    assert index.versions_listed(names, "torch") == ["2.13.0+cpu", "2.13.0"]


# --- a GPU plan never quietly becomes a CPU plan -----------------------------------------------

GPU = dict(nvidia_driver="580.95.05", gpu_cc=("8.6",))


def test_unreachable_index_and_only_a_cpu_build_at_hand_stops(tmp_path):
    from torchup.installer.plan.confirm import GpuLeftUnused

    wheels = tmp_path / "wheelhouse"
    wheels.mkdir()
    (wheels / wheel("2.13.0", "cpu")).write_text("")
    facts = facts_here(PIP_FIND_LINKS=str(wheels))
    down = f"http://127.0.0.1:{closed_port()}/whl"
    with pytest.raises(GpuLeftUnused) as stopped:
        make_plan(facts, Overrides(index_base=down, **GPU))
    assert stopped.value.exit_code == 1
    assert "hold no build for this machine's GPU, only torch 2.13.0+cpu: the plan is torch 2.15.0+cu130" in stopped.value.message
    assert "--variant cpu" in stopped.value.hint
    # Asked for on purpose, the CPU build is taken.
    plan = make_plan(facts, Overrides(index_base=down, variant="cpu", **GPU))
    assert (plan.torch, plan.found_in) == ("2.13.0+cpu", str(wheels))


def test_a_gpu_build_in_the_users_sources_is_taken_when_the_index_is_down(tmp_path):
    wheels = tmp_path / "wheelhouse"
    wheels.mkdir()
    for name in (wheel("2.13.0", "cpu"), wheel("2.13.0", "cu130")):
        (wheels / name).write_text("")
    facts = facts_here(PIP_FIND_LINKS=str(wheels))
    plan = make_plan(facts, Overrides(index_base=f"http://127.0.0.1:{closed_port()}/whl", **GPU))
    assert (plan.torch, plan.confirmed) == ("2.13.0+cu130", "configured-source")


def test_an_index_holding_only_cpu_builds_stops_a_gpu_plan(local_index):
    from torchup.installer.plan.confirm import GpuLeftUnused

    local_index.add_listing("whl/cpu/torch", [wheel("2.15.0", "cpu")])
    with pytest.raises(GpuLeftUnused, match=f"the index {local_index.url}/whl hold no build for this machine's GPU, only torch 2.15.0\\+cpu"):
        make_plan(facts_here(), Overrides(index_base=local_index.url + "/whl", **GPU))


def test_an_older_release_with_a_gpu_build_beats_a_newer_cpu_build_on_the_index(local_index):
    # Driver 570: 2.15's CUDA 13 builds are out of reach; the index has 2.14.1+cu126.
    local_index.add_listing("whl/cpu/torch", [wheel("2.15.0", "cpu")])
    local_index.add_listing("whl/cu126/torch", [wheel("2.14.1", "cu126")])
    plan = make_plan(facts_here(), Overrides(index_base=local_index.url + "/whl", nvidia_driver="570.86.15", gpu_cc=("8.6",)))
    assert (plan.torch, plan.confirmed) == ("2.14.1+cu126", "index")


def test_the_wheels_size_comes_from_the_index_where_it_gives_sizes(local_index):
    """PEP 700: a JSON project page may give each file's size; the plan shows it beside the sourced figure."""
    import json as _json

    page = local_index.add_listing("whl/cpu/torch", [wheel("2.13.0", "cpu")], as_json=True)
    document = _json.loads((page / "index.json").read_text())
    document["files"][0]["size"] = 191_812_345
    (page / "index.json").write_text(_json.dumps(document))
    plan = make_plan(facts_here(), Overrides(index_base=local_index.url + "/whl", torch="2.13", no_gpu=True))
    assert plan.wheel_bytes == 191_812_345 and plan.as_data()["size_gb"] == 0.19
    from torchup.installer.plan.report import render_text

    assert "  size: the torch wheel is 192 MB (the index says); ≈ 0.19 GB with its dependencies; a CUDA build: ≈ 4.12 GB" in render_text(plan)
    html_only = make_plan(facts_here(), Overrides(index_base=local_index.url + "/whl", torch="2.13", no_gpu=True, offline=True))
    assert html_only.wheel_bytes is None
