"""Each finding from facts that show it: this interpreter's real facts, with one section changed
the way the broken setup the finding describes would have it."""

import os
import re
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, isolated_env, write_tool
from torchup.installer.detect import as_data, detect, nvidia, report
from torchup.installer.detect.machine import Distribution
from torchup.installer.detect.target_facts import parse_interpreter, parse_pip, parse_tls
from torchup.installer.findings import CATALOGUE, SafeFix, StoreAlias, find
from torchup.installer.host import Host
from torchup.installer.status import Status

BASE = detect(sys.executable, Host(env=isolated_env(PIP_CONFIG_FILE="/dev/null")))


PARSERS = {"interpreter": parse_interpreter, "pip": parse_pip, "tls": parse_tls}


def gpu_by_override():
    """NVIDIA facts as a container without the tools reports them: the driver given by TORCHUP_NVIDIA_DRIVER."""
    import tempfile

    return nvidia.probe(Host(tempfile.mkdtemp(), isolated_env(TORCHUP_NVIDIA_DRIVER="591.86")))


def facts_with(machine=None, interpreter=None, pip=None, tls=None, disk=None, distribution=None, memory=None, gpu=False, uv_indexes=None):
    """This machine's facts with some changed, each section re-read as the probe would have sent it."""
    facts = BASE
    if uv_indexes is not None:
        facts = facts._replace(environment=facts.environment._replace(uv_indexes=uv_indexes))
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


def ssl(version, info):
    return dict(tls={"ssl_importable": True, "openssl_version": version, "openssl_version_info": info})


def bundles(*entries):
    return dict(tls={"ca_bundles": [dict(zip(("source", "path", "exists", "holds_certificates"), entry)) for entry in entries]})


def pip_settings(**settings):
    return {"config": {"files": [], "settings": {key.replace("_", "-"): value for key, value in settings.items()}, "errors": []}}


NO_SYSTEM_STORE = (("ssl default cafile", "/usr/lib/ssl/cert.pem", False), ("ssl default capath", "/usr/lib/ssl/certs", True, False))
CAPATH_HOLDS_ROOTS = (("ssl default cafile", "/usr/lib/ssl/cert.pem", False), ("ssl default capath", "/usr/lib/ssl/certs", True, True))
MAC_FRAMEWORK = {"executable": "/Library/Frameworks/Python.framework/Versions/3.12/bin/python3", "version": "3.12.4"}
MIRROR = {"value": "https://mirror.example/simple", "source": "PIP_INDEX_URL"}
DAY = 86400

# Every catalogued problem found on facts: those that show it, its severity, and facts close to
# them that do not. F28 is found before there are facts (test_f28_…).
CASES = {
    "F01": (
        dict(tls={"ssl_importable": False, "ssl_extension": None}),
        "fail",
        dict(tls={"ssl_importable": False, "ssl_extension": "/py/lib-dynload/_ssl.so"}),
    ),
    "F02": (
        dict(
            tls={"ssl_importable": False, "ssl_extension": "/py/lib-dynload/_ssl.so", "ssl_error": "ImportError: libssl.so.1.1: cannot open shared object file"}
        ),
        "fail",
        dict(tls={"ssl_importable": False, "ssl_extension": None}),
    ),
    "F03": (ssl("OpenSSL 1.0.2k-fips  26 Jan 2017", [1, 0, 2]), "fail", ssl("OpenSSL 1.1.1w  11 Sep 2023", [1, 1, 1])),
    "F04": (ssl("LibreSSL 2.8.3", [2, 8, 3]), "warn", ssl("OpenSSL 3.0.13 30 Jan 2024", [3, 0, 13])),
    "F05": (ssl("OpenSSL 0.9.8zh 14 Jan 2016", [0, 9, 8]), "fail", ssl("OpenSSL 1.0.2k-fips  26 Jan 2017", [1, 0, 2])),
    "F06": (bundles(("SSL_CERT_FILE", "/nowhere/ca.pem", False)), "fail", bundles(("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt", True))),
    "F07": (bundles(*NO_SYSTEM_STORE), "warn", bundles(*CAPATH_HOLDS_ROOTS)),
    "F08": (
        dict(machine={"os": "Darwin", "arch": "arm64"}, interpreter=MAC_FRAMEWORK, **bundles(*NO_SYSTEM_STORE)),
        "warn",
        dict(machine={"os": "Darwin", "arch": "arm64"}, interpreter=MAC_FRAMEWORK, **bundles(*CAPATH_HOLDS_ROOTS)),
    ),
    "F09": (dict(interpreter={"executable_mtime": time.time() + 10 * DAY}), "warn", dict(interpreter={"executable_mtime": time.time() - 10 * DAY})),
    "F10": (
        dict(tls={"openssl_version": "OpenSSL 3.0.13 30 Jan 2024", "openssl_version_info": [3, 0, 13], "proxies": {"HTTPS_PROXY": "http://proxy:3128"}}),
        "warn",
        dict(tls={"openssl_version": "OpenSSL 3.0.13 30 Jan 2024", "openssl_version_info": [3, 0, 13], "proxies": {}}),
    ),
    "F11": (dict(tls={"proxies": {"HTTPS_PROXY": "https://proxy:3128"}}), "warn", dict(tls={"proxies": {"HTTPS_PROXY": "http://proxy:3128"}})),
    "F12": (dict(pip={"present": False, "ensurepip": {"available": True, "seeds_venv": True}}), "fail", dict(pip={"present": True})),
    "F13": (
        dict(distribution=("debian", "12", "Debian"), interpreter={"in_venv": False}, pip={"ensurepip": {"available": False, "seeds_venv": False}}),
        "fail",
        dict(distribution=("debian", "12", "Debian"), interpreter={"in_venv": True}, pip={"ensurepip": {"available": False, "seeds_venv": False}}),
    ),
    "F14": (
        dict(interpreter={"externally_managed": {"marker": "/usr/lib/python3.11/EXTERNALLY-MANAGED", "applies": True}}),
        "warn",
        dict(interpreter={"externally_managed": {"marker": "/usr/lib/python3.11/EXTERNALLY-MANAGED", "applies": False}}),  # in a venv
    ),
    "F15": (
        dict(interpreter={"version": "3.12.4", "in_venv": True}, pip={"version": "22.3.1"}),
        "fail",
        dict(interpreter={"version": "3.12.4"}, pip={"version": "23.1"}),
    ),
    "F16": (dict(interpreter={"version": "3.11.9"}, pip={"version": "20.2.4"}), "fail", dict(interpreter={"version": "3.11.9"}, pip={"version": "20.3"})),
    "F17": (dict(machine={"libc": "glibc", "libc_version": "2.17"}), "warn", dict(machine={"libc": "glibc", "libc_version": "2.28"})),
    "F18": (dict(interpreter={"version": "3.7.17"}), "fail", dict(interpreter={"version": "3.12.4"})),
    "F19": (dict(interpreter={"bits": 32}), "fail", dict(interpreter={"bits": 64})),
    "F20": (dict(machine={"os": "Darwin", "arch": "x86_64"}), "warn", dict(machine={"os": "Darwin", "arch": "arm64"})),
    "F21": (dict(machine={"libc": "musl", "libc_version": "1.2"}), "fail", dict(machine={"libc": "glibc", "libc_version": "2.36"})),
    "F22": (
        dict(machine={"os": "Windows", "arch": "AMD64"}, interpreter={"torch_version": "2.5.1"}, gpu=True),
        "warn",
        dict(machine={"os": "Windows", "arch": "AMD64"}, interpreter={"torch_version": "2.5.1+cu121"}, gpu=True),
    ),
    "F23": (dict(pip=pip_settings(index_url=MIRROR)), "warn", dict(pip=pip_settings(index_url=MIRROR), uv_indexes={"UV_DEFAULT_INDEX": MIRROR["value"]})),
    "F24": (dict(pip={"version": "24.0"}, gpu=True), "warn", dict(pip=dict(pip_settings(default_timeout={"value": "120"}), version="24.0"), gpu=True)),
    "F25": (dict(disk={"/tmp": 512 * 1024**2}), "fail", dict(disk={"/tmp": 100 * 1024**3})),
    "F26": (dict(pip={"version": "23.0.1"}, memory=4 * 1024**3), "warn", dict(pip={"version": "23.0.1"}, memory=16 * 1024**3)),
    "F27": (
        dict(machine={"os": "Windows", "arch": "AMD64", "long_paths_enabled": False}),
        "warn",
        dict(machine={"os": "Windows", "arch": "AMD64", "long_paths_enabled": True}),
    ),
    "F29": (
        dict(interpreter={"base_kind": "uv-managed", "kind": "uv-managed", "in_venv": False}),
        "warn",
        dict(interpreter={"base_kind": "uv-managed", "kind": "venv", "in_venv": True}),
    ),
    "F30": (
        dict(pip={"config": {"files": [], "settings": {}, "errors": [{"path": "/etc/pip.conf", "error": "File contains no section headers."}]}}),
        "fail",
        dict(pip={"config": {"files": [{"variant": "global", "path": "/etc/pip.conf"}], "settings": {}, "errors": []}}),
    ),
}


def test_the_catalogue_has_unique_ids_in_order_and_a_case_for_each():
    ids = [problem.id for problem in CATALOGUE]
    assert ids == sorted(set(ids)), ids
    assert set(CASES) | {"F28"} == set(ids)


@pytest.mark.parametrize("finding_id", list(CASES))
def test_finding_shows_on_the_facts_of_its_problem_and_not_on_others(finding_id):
    shows, severity, does_not = CASES[finding_id]
    assert finding(BASE, finding_id) is None
    assert finding(facts_with(**does_not), finding_id) is None
    found = finding(facts_with(**shows), finding_id)
    assert found is not None and found.severity == severity
    assert found.title and found.seen and found.cause and found.fix


@pytest.mark.parametrize("finding_id", list(CASES))
def test_detect_marks_the_facts_a_finding_is_about_as_the_finding_does(finding_id):
    """detect's ✓ ! ✗ and fix's are one judgement: a line stating a fact a finding is about carries its mark."""
    facts = facts_with(**CASES[finding_id][0])
    found = find(facts)
    lines = {line.about: line for section in report.sections(facts, found) for line in section.lines if line.about}
    for one in found:
        for about in one.about:
            assert about in lines, f"{one.id} is about {about}, which no line of detect's report states"
            assert list(Status).index(lines[about].status) >= list(Status).index(one.severity)
            assert f"{one.id}: {one.title}" in lines[about].detail


def test_the_readme_lists_every_finding_as_the_catalogue_does():
    """The README's table of findings is the catalogue's (ids, summaries, order), so neither drifts from the other."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (F\d\d) \| (.+?) \|$", text, re.M)
    assert rows == [(problem.id, problem.summary) for problem in CATALOGUE]


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


def test_f09_a_clock_behind_this_pythons_own_files(tmp_path):
    """A real interpreter whose executable is dated ten days ahead of the machine's clock."""
    subprocess.run([sys.executable, "-m", "venv", "--copies", "--without-pip", str(tmp_path / "venv")], check=True)
    python = tmp_path / "venv" / "bin" / "python"
    future = time.time() + 10 * DAY
    os.utime(python, (future, future))
    f09 = finding(detect(str(python), Host(env=isolated_env(PIP_CONFIG_FILE="/dev/null"))), "F09")
    assert f09 is not None and f09.severity == "warn"
    assert time.strftime("%Y-%m-%d", time.gmtime(future)) in f09.cause


def test_f23_names_what_each_kind_of_mirror_loses_and_what_torchup_does():
    index_mirror = finding(facts_with(pip=pip_settings(index_url=MIRROR)), "F23")
    assert "a command-line --index-url replaces the configured index" in index_mirror.cause
    assert index_mirror.fix[0] == "give uv the mirror too: export UV_DEFAULT_INDEX=https://mirror.example/simple"
    assert index_mirror.fix[1] == f"torchup install --python {BASE.interpreter.executable}  (torch from its own index alone; the mirror handed to uv as flags)"
    extra = {"value": ["https://****@private.example/simple"], "source": "/etc/pip.conf [global]"}
    extra_mirror = finding(facts_with(pip=pip_settings(extra_index_url=extra)), "F23")
    assert "--index-url" not in extra_mirror.cause and "--index-url" not in extra_mirror.seen  # pip keeps extra-index-url beside it
    assert extra_mirror.fix[0] == "give uv the mirror too: export UV_INDEX='https://****@private.example/simple'"
    assert "torchup does not copy them" in extra_mirror.fix[-1]
    assert finding(facts_with(pip=pip_settings(extra_index_url=extra), uv_indexes={"UV_INDEX": "https://****@private.example/simple"}), "F23") is None
    assert finding(facts_with(pip=pip_settings(index_url={"value": "https://pypi.org/simple", "source": "PIP_INDEX_URL"})), "F23") is None


def test_f25_says_the_sourced_size_of_a_build():
    from torchup.installer.compat import BuildKind, load

    f25 = finding(facts_with(disk={"/tmp": 5 * 1024**3}), "F25")
    assert f25.severity == "warn"
    assert f"about {load().sizes_gb[BuildKind.CUDA]:g} GB installed (https://github.com/owid/etl/pull/6530)" in f25.cause


STORE_ALIAS_SAYS = "Python was not found; run without arguments to install from the Microsoft Store, or disable this shortcut from Settings"


@pytest.mark.parametrize(
    "where, prints, hint",
    [("WindowsApps", STORE_ALIAS_SAYS, StoreAlias.hint), ("bin", "not a python at all", "name a Python 3 interpreter")],
)
def test_f28_the_store_alias_is_named_with_its_fix_before_any_work(tmp_path, where, prints, hint):
    alias = write_tool(tmp_path / where, "python.exe", f"print({prints!r})\nraise SystemExit(9009)\n")
    result = subprocess.run(
        [sys.executable, "-m", "torchup", "detect", "--python", str(alias)], capture_output=True, text=True, env=isolated_env(), cwd=REPO, timeout=60
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines()[1].startswith(f"  hint: {hint}")


def test_no_ensurepip_into_an_externally_managed_python():
    """It fails there every time: `fix --apply` must not offer it as safe."""
    managed = facts_with(
        pip={"present": False, "ensurepip": {"available": True, "seeds_venv": True}},
        interpreter={"externally_managed": {"marker": "/usr/lib/python3.11/EXTERNALLY-MANAGED", "applies": True}},
    )
    f12 = finding(managed, "F12")
    assert f12.action is None and "-m venv .venv" in f12.fix[0]
    assert finding(facts_with(pip={"present": False, "ensurepip": {"available": True, "seeds_venv": True}}), "F12").action is SafeFix.ENSUREPIP
