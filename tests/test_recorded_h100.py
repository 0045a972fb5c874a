"""torchup's own output recorded on a real H100 machine (tests/fixtures/torchup-h100)."""

import json
import sys

from tests.conftest import fixture_text, isolated_env
from torchup.installer.detect import detect
from torchup.installer.host import Host

# Maps keyed by data (file paths, variable names), not by the schema.
DATA_KEYED = ("settings", "variables", "proxies", "unknown", "disk_free_bytes")


def missing_keys(recorded, current, prefix=""):
    """Keys of the recorded document that the current one lacks; below a section that is null here, nothing is compared."""
    missing = []
    for key, value in recorded.items():
        if key not in current:
            missing.append(prefix + key)
        elif isinstance(value, dict) and isinstance(current[key], dict) and key not in DATA_KEYED:
            missing += missing_keys(value, current[key], prefix + key + ".")
    return missing


def test_recorded_document_has_the_current_schema():
    recorded = json.loads(fixture_text("torchup-h100/detect.json"))
    current = detect(sys.executable, Host(env=isolated_env())).as_data()
    assert recorded["schema"] == current["schema"]
    assert missing_keys(recorded, current) == []


def test_recorded_h100_facts():
    recorded = json.loads(fixture_text("torchup-h100/detect.json"))
    nvidia = recorded["accelerators"]["nvidia"]
    assert (nvidia["driver_version"], nvidia["driver_source"], nvidia["cuda_driver_version"]) == ("580.159.04", "/sys/module/nvidia/version", "13.0")
    assert [(g["name"], g["compute_capability"]) for g in nvidia["gpus"]] == [("NVIDIA H100 80GB HBM3", "9.0")]
    assert recorded["interpreter"]["venv_creator"].startswith("uv ")
    assert "NVIDIA driver 580.159.04 (from /sys/module/nvidia/version)" in fixture_text("torchup-h100/detect-verbose.txt")


def test_doctor_on_the_h100_passed_every_check_and_renders():
    from torchup.installer.doctor import report

    recorded = json.loads(fixture_text("torchup-h100/doctor.json"))
    assert recorded["exit_code"] == 0 and recorded["torch"] == "2.11.0+cu130"
    results = {r["id"]: r for r in recorded["results"]}
    assert results["accelerator.available"]["evidence"] == "1 device: NVIDIA H100 80GB HBM3"
    assert results["accelerator.arch"]["evidence"].startswith("NVIDIA H100 80GB HBM3 sm_90 in sm_75 sm_80 sm_86 sm_90")
    assert all(r["status"] == "pass" for r in recorded["results"])
    text = report.render_text(recorded)
    assert "✓ accelerator.autocast  fp16 and bf16 autocast run" in text and text.rstrip().endswith("OK")
    assert "<testsuite " in report.render_junit(recorded)
    distributed = {r["id"]: r["status"] for r in json.loads(fixture_text("torchup-h100/doctor-distributed.json"))["results"]}
    assert distributed == {"distributed.gloo": "pass", "distributed.nccl": "pass"}


def test_hidden_gpu_on_the_h100_was_a_warning():
    recorded = json.loads(fixture_text("torchup-h100/doctor-cvd-empty.json"))
    results = {r["id"]: r for r in recorded["results"]}
    assert results["accelerator.available"]["status"] == "warn"
    assert results["accelerator.available"]["fix"]["commands"] == ["unset CUDA_VISIBLE_DEVICES"]
    assert recorded["exit_code"] == 0  # a warning fails a run only with --strict


def test_recorded_plan_inputs_still_give_the_same_plan():
    from torchup.installer.plan import Overrides, make_plan

    recorded = json.loads(fixture_text("torchup-h100/plan-2.11.json"))
    inputs = recorded["inputs"]
    overrides = Overrides(
        torch="2.11",
        os=inputs["os"],
        arch=inputs["arch"],
        python_version=inputs["python"],
        nvidia_driver=inputs["nvidia_driver"],
        gpu_cc=tuple(g["compute_capability"] for g in inputs["gpus"]),
        offline=True,
    )
    assert make_plan(None, overrides).torch == recorded["torch"] == "2.11.0+cu130"
