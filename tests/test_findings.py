"""Each finding from facts that show it: this interpreter's real facts, with one section changed
the way the broken setup the finding describes would have it."""

import sys

import pytest

from tests.conftest import isolated_env
from torchup.installer.detect import as_data, detect, nvidia
from torchup.installer.detect.machine import Distribution
from torchup.installer.detect.target_facts import parse_interpreter, parse_pip, parse_tls
from torchup.installer.findings import find
from torchup.installer.host import Host

BASE = detect(sys.executable, Host(env=isolated_env(PIP_CONFIG_FILE="/dev/null")))


PARSERS = {"interpreter": parse_interpreter, "pip": parse_pip, "tls": parse_tls}


def gpu_by_override():
    """NVIDIA facts as a container without the tools reports them: the driver given by TORCHUP_NVIDIA_DRIVER."""
    import tempfile

    return nvidia.probe(Host(tempfile.mkdtemp(), isolated_env(TORCHUP_NVIDIA_DRIVER="591.86")))


def facts_with(machine=None, interpreter=None, pip=None, tls=None, disk=None, distribution=None, memory=None, gpu=False):
    """This machine's facts with some changed, each section re-read as the probe would have sent it."""
    facts = BASE
    if gpu:
        facts = facts._replace(accelerators=facts.accelerators._replace(nvidia=gpu_by_override()))
    if memory is not None:
        facts = facts._replace(machine=facts.machine._replace(resources=facts.machine.resources._replace(memory_total_bytes=memory)))
    if machine:
        facts = facts._replace(machine=facts.machine._replace(**machine))
    if distribution:
        facts = facts._replace(machine=facts.machine._replace(distribution=Distribution(*distribution)))
    if disk is not None:
        facts = facts._replace(machine=facts.machine._replace(resources=facts.machine.resources._replace(disk_free_bytes=disk)))
    for section, changes in (("interpreter", interpreter), ("pip", pip), ("tls", tls)):
        if changes:
            facts = facts._replace(**{section: PARSERS[section](dict(as_data(getattr(facts, section)), **changes))})
    return facts


def finding(facts, finding_id):
    return next((f for f in find(facts) if f.id == finding_id), None)


def test_this_interpreter_has_no_blocking_finding():
    assert [f.id for f in find(BASE) if f.severity == "fail"] == []


CASES = [
    (
        "F02",
        dict(
            tls={"ssl_importable": False, "ssl_extension": "/py/lib-dynload/_ssl.so", "ssl_error": "ImportError: libssl.so.1.1: cannot open shared object file"}
        ),
        "fail",
    ),
    ("F03", dict(tls={"openssl_version": "OpenSSL 1.0.2k-fips  26 Jan 2017", "openssl_version_info": [1, 0, 2]}), "fail"),
    ("F04", dict(tls={"openssl_version": "LibreSSL 2.8.3", "openssl_version_info": [2, 8, 3]}), "warn"),
    (
        "F07",
        dict(
            tls={
                "ca_bundles": [
                    {"source": "ssl default cafile", "path": "/usr/lib/ssl/cert.pem", "exists": False},
                    {"source": "ssl default capath", "path": "/usr/lib/ssl/certs", "exists": False},
                ]
            }
        ),
        "warn",
    ),
    ("F15", dict(interpreter={"version": "3.12.4", "in_venv": True}, pip={"version": "22.3.1"}), "fail"),
    ("F16", dict(pip={"version": "20.2.4"}), "fail"),
    ("F17", dict(machine={"libc": "glibc", "libc_version": "2.17"}), "warn"),
    ("F18", dict(interpreter={"version": "3.7.17"}), "fail"),
    ("F19", dict(interpreter={"bits": 32}), "fail"),
    ("F20", dict(machine={"os": "Darwin", "arch": "x86_64"}), "warn"),
    ("F21", dict(machine={"libc": "musl", "libc_version": "1.2"}), "fail"),
    ("F23", dict(pip={"config": {"files": [], "settings": {"index-url": {"value": "https://mirror.example/simple", "source": "PIP_INDEX_URL"}}}}), "warn"),
    ("F25", dict(disk={"/tmp": 512 * 1024**2}), "fail"),
    ("F05", dict(tls={"openssl_version": "OpenSSL 0.9.8zh 14 Jan 2016", "openssl_version_info": [0, 9, 8]}), "fail"),
    (
        "F10",
        dict(tls={"openssl_version": "OpenSSL 3.0.13 30 Jan 2024", "openssl_version_info": [3, 0, 13], "proxies": {"HTTPS_PROXY": "http://proxy:3128"}}),
        "warn",
    ),
    ("F22", dict(machine={"os": "Windows", "arch": "AMD64"}, interpreter={"torch_version": "2.5.1"}, gpu=True), "warn"),
    ("F24", dict(pip={"version": "24.0"}, gpu=True), "warn"),
    ("F26", dict(pip={"version": "23.0.1"}, memory=4 * 1024**3), "warn"),
    ("F27", dict(machine={"os": "Windows", "arch": "AMD64", "long_paths_enabled": False}), "warn"),
    ("F29", dict(interpreter={"base_kind": "uv-managed", "kind": "uv-managed", "in_venv": False}), "warn"),
    ("F12", dict(pip={"present": False, "ensurepip": {"available": True, "seeds_venv": True}}), "fail"),
    ("F30", dict(pip={"config": {"files": [], "settings": {}, "errors": [{"path": "/etc/pip.conf", "error": "Source contains parsing errors"}]}}), "fail"),
]


@pytest.mark.parametrize("finding_id, changes, severity", CASES, ids=[case[0] for case in CASES])
def test_finding(finding_id, changes, severity):
    assert finding(BASE, finding_id) is None or finding_id == "F23"
    found = finding(facts_with(**changes), finding_id)
    assert found is not None and found.severity == severity
    assert found.seen and found.cause and found.fix


def test_f08_macos_framework_python():
    facts = facts_with(
        machine={"os": "Darwin", "arch": "arm64"},
        interpreter={"executable": "/Library/Frameworks/Python.framework/Versions/3.12/bin/python3", "version": "3.12.4"},
        tls={
            "ca_bundles": [{"source": "ssl default cafile", "path": "/Library/Frameworks/Python.framework/Versions/3.12/etc/openssl/cert.pem", "exists": False}]
        },
    )
    assert finding(facts, "F08").fix == ['"/Applications/Python 3.12/Install Certificates.command"']


@pytest.mark.parametrize(
    "distribution, command",
    [
        (("debian", "12", "Debian"), "sudo apt install libssl-dev"),
        (("fedora", "40", "Fedora"), "sudo dnf install openssl-devel"),
        (("alpine", "3.20", "Alpine"), "sudo apk add openssl-dev"),
    ],
)
def test_f01_fix_per_platform(distribution, command):
    facts = facts_with(distribution=distribution, tls={"ssl_importable": False, "ssl_extension": None}, interpreter={"base_kind": "standalone"})
    assert finding(facts, "F01").fix[0].startswith(command)


@pytest.mark.parametrize(
    "kind, first_step",
    [
        ("pyenv", "sudo apt install libssl-dev"),
        ("uv-managed", "uv python install --reinstall"),
        ("conda", "conda install openssl ca-certificates"),
    ],
)
def test_f01_fix_per_kind_of_python(kind, first_step):
    facts = facts_with(distribution=("debian", "12", "Debian"), tls={"ssl_importable": False, "ssl_extension": None}, interpreter={"base_kind": kind})
    assert finding(facts, "F01").fix[0].startswith(first_step)


def test_f12_on_debian_system_python_needs_the_package_manager():
    facts = facts_with(
        distribution=("debian", "12", "Debian"),
        pip={"present": False, "ensurepip": {"available": False, "seeds_venv": False, "reason": "disabled by Debian/Ubuntu for the system Python"}},
        interpreter={"in_venv": False, "version": "3.11.2"},
    )
    f12 = finding(facts, "F12")
    assert f12.action is None and f12.system == (("apt", "install", "-y", "python3-pip", "python3.11-venv"),)
    assert finding(facts, "F13").severity == "fail"


def test_f09_clock_behind_this_pythons_own_files(tmp_path):
    import os
    import time

    executable = tmp_path / "python3"
    executable.write_text("")
    future = time.time() + 10 * 86400
    os.utime(executable, (future, future))
    assert finding(facts_with(interpreter={"executable": str(executable)}), "F09").severity == "warn"
    assert finding(BASE, "F09") is None


def test_no_ensurepip_into_an_externally_managed_python():
    """It fails there every time: `fix --apply` must not offer it as safe."""
    managed = facts_with(
        pip={"present": False, "ensurepip": {"available": True, "seeds_venv": True}},
        interpreter={"externally_managed": {"marker": "/usr/lib/python3.11/EXTERNALLY-MANAGED", "applies": True}},
    )
    f12 = finding(managed, "F12")
    assert f12.action is None and "-m venv .venv" in f12.fix[0]
    assert finding(facts_with(pip={"present": False, "ensurepip": {"available": True, "seeds_venv": True}}), "F12").action == "ensurepip"
