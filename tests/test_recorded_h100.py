"""torchup's own output recorded on a real H100 machine (tests/fixtures/torchup-h100)."""

import json
import sys

from installer.detect import detect
from installer.host import Host
from tests.conftest import fixture_text, isolated_env


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
