"""tools/device_check.sh, the one script a GPU machine runs: its CPU path here, against the real
CPU torch, and what it records (here, and on the H100 before it) replayed through the parsers and
the reports, as a GPU run's files will be once they are under tests/fixtures/."""

import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import FIXTURES, REPO, build_wheel, isolated_env
from torchup.installer.bundle import overrides_from_detect
from torchup.installer.doctor import report
from torchup.installer.plan import Overrides, make_plan


def torchup(*args):
    return subprocess.run([sys.executable, "-m", "torchup", *args], capture_output=True, text=True, env=isolated_env(), cwd=REPO, timeout=300)


def replay(directory, expected_torch):
    """A recorded run through what reads it: the detect document plans for that machine (from the
    data alone), the doctor report renders as text, JUnit and Markdown, and a fleet report merges it."""
    detect = json.loads((directory / "detect.json").read_text())
    described = overrides_from_detect(detect)
    planned = make_plan(None, Overrides(offline=True, **{key: value for key, value in described.items() if key in Overrides._fields}))
    assert planned.torch == expected_torch, planned.decision.variant_reason
    doctor = json.loads((directory / "doctor.json").read_text())
    text = report.render_text(doctor)
    assert text.startswith(f"torchup doctor: {doctor['python']}") and ("<testsuite " in report.render_junit(doctor))
    markdown = report.render_markdown(doctor)
    assert markdown.startswith("## torchup doctor report") and all(f"`{result['id']}`" in markdown for result in doctor["results"])
    merged = torchup("fleet", "report", str(directory / "doctor.json"), "--json")
    assert json.loads(merged.stdout)["kind"] == "torchup-fleet", merged.stderr
    return detect, planned, doctor


@pytest.fixture(scope="module")
def device_check(torch_python, wheelhouse, tmp_path_factory):
    """The script run here, as on a GPU machine: torchup's wheels prepared as make device-wheels does."""
    scratch = tmp_path_factory.mktemp("device-check")
    wheels = scratch / "wheels"
    build_wheel(wheels)
    for wheel in (wheelhouse / "bootstrap").glob("*.whl"):
        if wheel.name.split("-")[0] in ("click", "packaging", "psutil", "tomlkit"):
            shutil.copy(wheel, wheels)
    out = scratch / "out"
    env = isolated_env(PYTHON=str(torch_python), TORCHUP_PYTHON=sys.executable, WHEELS=str(wheels), OUT=str(out), PIP_CONFIG_FILE="/dev/null")
    result = subprocess.run(["sh", str(REPO / "tools" / "device_check.sh")], capture_output=True, text=True, env=env, timeout=400)
    return result, out


def test_the_cpu_path_runs_every_step_and_records_each_as_json(device_check):
    result, out = device_check
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["steps"]) == ["detect", "plan", "doctor", "fleet"]
    assert all(step["exit"] == 0 for step in summary["steps"].values()), summary
    plan = json.loads((out / "plan.json").read_text())
    assert (plan["variant"], plan["confirmed"]) == ("cpu", "offline")
    statuses = {r["id"]: r["status"] for r in json.loads((out / "doctor.json").read_text())["results"]}
    assert statuses["compile.cpu"] == statuses["distributed.gloo"] == statuses["install.advisories"] == "pass"
    assert statuses["distributed.nccl"] == statuses["accelerator.available"] == "skip"  # no GPU here: the GPU machine's run fills these in
    fleet = json.loads((out / "fleet.json").read_text())
    assert fleet["expected_nodes"] == 1 and fleet["exit_code"] == 0 and (out / "fleet" / "node-0.json").is_file()


def test_what_the_cpu_path_recorded_replays(device_check):
    _, out = device_check
    python = json.loads((out / "detect.json").read_text())["interpreter"]["version"]
    # The newest release for this Python: 2.15 starts at 3.11.
    detect, planned, doctor = replay(out, expected_torch="2.15.0+cpu" if tuple(map(int, python.split(".")[:2])) >= (3, 11) else "2.14.1+cpu")
    assert doctor["exit_code"] == 0 and detect["schema"] == 1


def test_the_recorded_h100_run_replays_and_gets_the_fully_supported_build():
    """The H100 (driver 580.159.04, CUDA 13.0, Python 3.12) recorded in tests/fixtures/torchup-h100:
    with no --torch, the newest release's cu130, which that driver runs fully, not cu132."""
    detect, planned, doctor = replay(FIXTURES / "torchup-h100", expected_torch="2.15.0+cu130")
    assert [gpu.compute_capability for gpu in planned.inputs.gpus] == ["9.0"]
    assert any(note.startswith("cu132 was not chosen: on driver 580.159.04 it would run under CUDA minor-version compatibility") for note in planned.notes)
    assert doctor["torch"] == "2.11.0+cu130"
