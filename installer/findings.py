"""Broken pip, TLS and interpreter setups, found in detected facts: policy over detection.

One finding per catalogued problem that applies (research note pip-openssl-failures §1, ids
F01–F29 kept), each with what the user would see, the cause, and the fix for this platform.
Pure functions of the facts, standard library only: ``make setup`` runs them with the system
Python before any pip call.
"""

import os
import re
import time
from typing import List, NamedTuple, Optional, Tuple

from .detect import Facts
from .detect.target_facts import CaBundle, Interpreter

FAIL, WARN = "fail", "warn"
# manylinux_x_y (PEP 600) wheels need pip 20.3; numpy and torch ship nothing older for new releases.
PIP_FOR_PEP600 = (20, 3)
# Python 3.12 removed pkgutil.ImpImporter, which pip before 23.1 still used (pypa/pip#12358).
PIP_FOR_PY312 = (23, 1)
# pip resumes interrupted downloads from 25.1 (pip NEWS 25.1, #12991), and streams large
# downloads to its cache instead of holding them in memory from 23.3 (pip NEWS 23.3, #2984).
PIP_RESUMES_DOWNLOADS = (25, 1)
PIP_STREAMS_CACHE = (23, 3)
SMALL_MEMORY_BYTES = 8 * 1024**3
DISK_NEEDED_BYTES = 10 * 1024**3
DISK_MINIMUM_BYTES = 3 * 1024**3


class Finding(NamedTuple):
    id: str
    severity: str
    title: str
    seen: str  # what the user sees, verbatim as pip, urllib3 or the OS print it
    cause: str
    fix: List[str]  # commands and steps for this platform, in order
    # Safe for `torchup fix --apply`: no root, and only the target or what the user named.
    action: Optional[str] = None
    # Package-manager commands: printed; run only by `fix --apply --system` as root.
    system: Tuple[Tuple[str, ...], ...] = ()


def _version(text: Optional[str]) -> Tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text or "")[:3]) if text else ()


def family(facts: Facts) -> str:
    """The platform the fixes are written for."""
    if facts.machine.os == "Darwin":
        return "macos"
    if facts.machine.os == "Windows":
        return "windows"
    distribution = facts.machine.distribution.id if facts.machine.distribution else ""
    for name, ids in (
        ("debian", ("debian", "ubuntu", "linuxmint", "pop", "raspbian", "kali")),
        ("rhel", ("rhel", "centos", "fedora", "rocky", "almalinux", "amzn", "ol")),
        ("alpine", ("alpine",)),
    ):
        if distribution in ids:
            return name
    return "linux"


def _python(facts: Facts) -> str:
    return (facts.interpreter and facts.interpreter.executable) or facts.python


def _python_xy(facts: Facts) -> str:
    return ".".join(((facts.interpreter and facts.interpreter.version) or "3").split(".")[:2])


def _openssl_headers(platform: str) -> List[str]:
    return {
        "debian": ["sudo apt install libssl-dev build-essential zlib1g-dev libffi-dev libbz2-dev libreadline-dev libsqlite3-dev liblzma-dev"],
        "rhel": ["sudo dnf install openssl-devel gcc make zlib-devel bzip2-devel readline-devel sqlite-devel xz-devel libffi-devel"],
        "alpine": ["sudo apk add openssl-dev build-base"],
        "macos": ["brew install openssl@3 readline sqlite3 xz zlib"],
    }.get(platform, ["install OpenSSL's development headers with your package manager"])


def _rebuild(facts: Facts) -> List[str]:
    """How to get this Python back with TLS, by the kind of installation it is."""
    xy = _python_xy(facts)
    kind = facts.interpreter.base_kind if facts.interpreter else None
    version = (facts.interpreter and facts.interpreter.version) or xy
    if kind == "pyenv":
        return _openssl_headers(family(facts)) + [f"pyenv install --force {version}"]
    if kind == "uv-managed":
        return [f"uv python install --reinstall {xy}"]
    if kind == "conda":
        return ["conda install openssl ca-certificates", "or recreate the environment: conda create -n NAME python=" + xy]
    if kind == "system" and family(facts) == "debian":
        return [f"sudo apt install --reinstall libpython{xy}-stdlib", f"or a Python that bundles OpenSSL: uv python install {xy}"]
    return _openssl_headers(family(facts)) + ["then rebuild this Python", f"or, with no compiler: uv python install {xy} (OpenSSL bundled)"]


def tls_findings(facts: Facts) -> List[Finding]:
    tls = facts.tls
    found = []
    if tls is None:
        return found
    if not tls.ssl_importable:
        if tls.ssl_extension:
            found.append(
                Finding(
                    "F02",
                    FAIL,
                    "the ssl module's OpenSSL library is gone",
                    tls.ssl_error or "ImportError: libssl.so.1.1: cannot open shared object file",
                    f"the _ssl extension ({tls.ssl_extension}) exists but the OpenSSL library it was built against no longer loads",
                    _rebuild(facts),
                )
            )
        else:
            found.append(
                Finding(
                    "F01",
                    FAIL,
                    "this Python has no ssl module",
                    "WARNING: pip is configured with locations that require TLS/SSL, however the ssl module in Python is not available.",
                    "Python was built without OpenSSL (its headers were missing, or OpenSSL was older than 1.1.1), so pip cannot reach an https index",
                    _rebuild(facts),
                )
            )
        return found
    version_info = tuple(tls.openssl_version_info or ())
    text = tls.openssl_version or ""
    if version_info and version_info < (1, 0, 1) and text.startswith("OpenSSL"):
        found.append(
            Finding(
                "F05",
                FAIL,
                "this Python's OpenSSL cannot speak TLS 1.2",
                "Could not fetch URL https://pypi.org/simple/torch/: There was a problem confirming the ssl certificate: [SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version - skipping",
                f"{text} predates TLS 1.2, which PyPI and download.pytorch.org require (PyPI since April 2018, pypi/warehouse#3293)",
                [f"uv python install {_python_xy(facts)}  (a Python with its own current OpenSSL)", "or a python.org or conda Python"],
            )
        )
    if version_info >= (3, 0) and text.startswith("OpenSSL") and (tls.proxies or (facts.pip and "proxy" in facts.pip.config.settings)):
        found.append(
            Finding(
                "F10",
                WARN,
                "OpenSSL 3 behind a proxy: legacy renegotiation is refused",
                "ssl.SSLError: [SSL: UNSAFE_LEGACY_RENEGOTIATION_DISABLED] unsafe legacy renegotiation disabled",
                f"{text.split(' ')[0]} {'.'.join(map(str, version_info))} disables unsafe legacy renegotiation, which some intercepting proxies still need (urllib3/urllib3#2653)",
                [
                    "ask for the proxy to support RFC 5746 secure renegotiation",
                    "as a last resort, an OPENSSL_CONF file with 'Options = UnsafeLegacyRenegotiation' (it weakens TLS for that process)",
                ],
            )
        )
    if version_info and version_info < (1, 1, 1) and text.startswith("OpenSSL"):
        found.append(
            Finding(
                "F03",
                FAIL,
                "OpenSSL is older than 1.1.1",
                f"ImportError: urllib3 v2 only supports OpenSSL 1.1.1+, currently the 'ssl' module is compiled with '{text}'.",
                "urllib3 2 (in pip 26.1 and newer, and in requests) refuses OpenSSL before 1.1.1",
                [f"uv python install {_python_xy(facts)}  (a Python with its own current OpenSSL)", 'or, as a stopgap: pip install "urllib3<2"'],
            )
        )
    if text and not text.startswith("OpenSSL"):
        found.append(
            Finding(
                "F04",
                WARN,
                f"the ssl module uses {text.split()[0]}, not OpenSSL",
                f"NotOpenSSLWarning: urllib3 v2 only supports OpenSSL 1.1.1+, currently the 'ssl' module is compiled with '{text}'.",
                "Apple's system Python is linked against LibreSSL; the warning is cosmetic while HTTPS works",
                ["use a python.org, Homebrew or uv Python: uv python install 3.12"],
            )
        )
    bundles = list(tls.ca_bundles)
    pip_cert = facts.pip.config.settings.get("cert") if facts.pip else None
    if pip_cert and pip_cert.source != "PIP_CERT":  # PIP_CERT is among the bundles already
        bundles.append(CaBundle("pip cert", pip_cert.value, os.path.exists(pip_cert.value)))
    missing = [b for b in bundles if b.path and not b.exists and b.source not in ("ssl default cafile", "ssl default capath", "certifi")]
    if missing:
        names = ", ".join(f"{b.source}={b.path}" for b in missing)
        found.append(
            Finding(
                "F06",
                FAIL,
                "a certificate bundle setting points at a missing file",
                "Could not fetch URL …: There was a problem confirming the ssl certificate: … [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate",
                f"{names}: TLS verification reads these instead of the system's bundle, and they do not exist",
                [f"unset {b.source}" if b.source != "pip cert" else "remove cert = … from your pip configuration" for b in missing]
                + ["or point them at a PEM bundle holding the public roots and your organisation's root"],
            )
        )
    defaults = {b.source: b for b in bundles}
    cafile, capath = defaults.get("ssl default cafile"), defaults.get("ssl default capath")
    no_system_store = cafile and not cafile.exists and not (capath and capath.exists)
    if no_system_store and not missing:
        framework = "/Library/Frameworks/Python.framework/" in _python(facts)
        if facts.machine.os == "Darwin" and framework:
            found.append(
                Finding(
                    "F08",
                    WARN,
                    "the python.org installer's certificates were never installed",
                    "urllib.error.URLError: <urlopen error [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate>",
                    "the python.org macOS installer ships its own OpenSSL, which does not read the keychain",
                    [f'"/Applications/Python {_python_xy(facts)}/Install Certificates.command"'],
                )
            )
        else:
            fix = {"debian": ["sudo apt install ca-certificates"], "rhel": ["sudo dnf install ca-certificates"], "alpine": ["sudo apk add ca-certificates"]}
            found.append(
                Finding(
                    "F07",
                    WARN,
                    "this system has no CA certificate bundle",
                    "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate",
                    f"OpenSSL's default bundle ({cafile.path}) does not exist; pip still has certifi's, other tools do not",
                    fix.get(family(facts), ["install your distribution's ca-certificates package"]),
                    system=tuple(tuple(command.split()[1:]) for command in fix.get(family(facts), [])),
                )
            )
    proxies = tls.proxies
    for variable in ("HTTPS_PROXY", "https_proxy"):
        if proxies.get(variable, "").lower().startswith("https://"):
            plain = "http://" + proxies[variable].split("://", 1)[1]
            found.append(
                Finding(
                    "F11",
                    WARN,
                    f"{variable} uses the https:// scheme",
                    "ProxyError('Cannot connect to proxy.', …) or ValueError: check_hostname requires server_hostname",
                    "with an https:// proxy URL, pip's urllib3 speaks TLS to the proxy itself, which most proxies do not accept",
                    [f"export {variable}={plain}"],
                )
            )
            break
    return found


def pip_findings(facts: Facts) -> List[Finding]:
    pip = facts.pip
    interpreter = facts.interpreter or Interpreter()
    python = _python(facts)
    xy = _python_xy(facts)
    platform = family(facts)
    found = []
    if pip is None:
        return found
    ensurepip = pip.ensurepip
    if not pip.present:
        if ensurepip.available:
            found.append(
                Finding(
                    "F12",
                    FAIL,
                    "pip is not installed",
                    f"{python}: No module named pip",
                    "this interpreter has no pip, but carries the wheel to install it offline",
                    [f"{python} -m ensurepip --upgrade"]
                    if not interpreter.externally_managed.applies
                    else [f"{python} -m venv .venv  (a venv seeds pip; this externally managed Python refuses an ensurepip into itself)"],
                    # Into an externally managed (PEP 668) Python, ensurepip fails every time: never "safe".
                    action=None if interpreter.externally_managed.applies else "ensurepip",
                )
            )
        else:
            apt = ("apt", "install", "-y", "python3-pip", f"python{xy}-venv") if platform == "debian" else ()
            found.append(
                Finding(
                    "F12",
                    FAIL,
                    "pip is not installed, and ensurepip cannot install it",
                    f"{python}: No module named pip" + ("; ensurepip is disabled in Debian/Ubuntu for the system python." if platform == "debian" else ""),
                    ensurepip.reason or "no ensurepip",
                    [f"sudo apt install python3-pip python{xy}-venv"]
                    if platform == "debian"
                    else ["install pip with your package manager, or use uv: uv venv && uv pip install …"],
                    system=(apt,) if apt else (),
                )
            )
    if not interpreter.in_venv and not ensurepip.seeds_venv:
        apt = ("apt", "install", "-y", f"python{xy}-venv") if platform == "debian" else ()
        found.append(
            Finding(
                "F13",
                FAIL if platform == "debian" else WARN,
                "python -m venv cannot seed pip",
                "The virtual environment was not created successfully because ensurepip is not available.",
                ensurepip.reason or "ensurepip is missing",
                [f"sudo apt install python{xy}-venv"]
                if platform == "debian"
                else [f"{python} -m venv --without-pip DIR, then install with uv", "or: uv venv DIR"],
                system=(apt,) if apt else (),
            )
        )
    if interpreter.externally_managed.applies:
        found.append(
            Finding(
                "F14",
                WARN,
                "this Python is externally managed (PEP 668)",
                "error: externally-managed-environment … This environment is externally managed",
                "its packages belong to the system's package manager, so pip refuses to install into it",
                [f"{python} -m venv .venv, then: torchup install --venv .venv"],
                action="venv",
            )
        )
    pip_version = _version(pip.version)
    in_venv = interpreter.in_venv
    upgrade = [f"{python} -m ensurepip --upgrade  (offline)", f"{python} -m pip install --upgrade pip"]
    if pip_version and interpreter.version_info[:2] >= (3, 12) and pip_version < PIP_FOR_PY312:
        found.append(
            Finding(
                "F15",
                FAIL,
                f"pip {pip.version} is too old for Python {xy}",
                "AttributeError: module 'pkgutil' has no attribute 'ImpImporter'. Did you mean: 'zipimporter'?",
                "Python 3.12 removed pkgutil.ImpImporter, which pip before 23.1 uses",
                upgrade,
                action="upgrade-pip" if in_venv else None,
            )
        )
    elif pip_version and pip_version < PIP_FOR_PEP600:
        found.append(
            Finding(
                "F16",
                FAIL,
                f"pip {pip.version} cannot install manylinux_x_y wheels",
                "Building wheel for numpy (pyproject.toml) ... error / ERROR: Could not build wheels for numpy",
                "pip before 20.3 does not know PEP 600 tags, skips current numpy and torch wheels and tries to compile their sources",
                upgrade,
                action="upgrade-pip" if in_venv else None,
            )
        )
    settings = pip.config.settings
    mirrors = [settings[key].value for key in ("index-url", "extra-index-url") if key in settings]
    if mirrors:
        shown = ", ".join(value if isinstance(value, str) else " ".join(value) for value in mirrors)
        found.append(
            Finding(
                "F23",
                WARN,
                "a package mirror is configured",
                "timeouts to pypi.org despite the mirror, or No matching distribution found from a torch-only index",
                f"pip uses {shown}; a plain --index-url for torch replaces it for every package, and uv ignores pip's configuration",
                ["torchup install  (torch from its index alone, numpy and scipy from your mirror, handed to uv explicitly)"],
            )
        )
    nvidia = facts.accelerators.nvidia
    big_download = bool(nvidia and (nvidia.gpus or nvidia.driver_version))  # a CUDA build: 2 GB and more
    timeout_set = any(key in settings for key in ("timeout", "default-timeout"))
    if big_download and pip_version and pip_version < PIP_RESUMES_DOWNLOADS and not timeout_set:
        found.append(
            Finding(
                "F24",
                WARN,
                "a CUDA build's download may time out",
                "pip._vendor.urllib3.exceptions.ReadTimeoutError: HTTPSConnectionPool(host='download.pytorch.org', port=443): Read timed out.",
                f"CUDA wheels are several GB; pip waits 15 s on a stalled read by default, and pip {pip.version} cannot resume a broken download (pip 25.1 can)",
                [f"{python} -m pip install --upgrade pip  (25.1 resumes interrupted downloads)", "or give pip more patience: export PIP_DEFAULT_TIMEOUT=120"],
            )
        )
    memory = facts.machine.resources.memory_total_bytes
    if pip_version and pip_version < PIP_STREAMS_CACHE and memory and memory < SMALL_MEMORY_BYTES:
        found.append(
            Finding(
                "F26",
                WARN,
                f"pip {pip.version} may be killed for memory on this {memory / 1024**3:.1f} GiB machine",
                "Killed  (dmesg: Out of memory: Killed process … (pip))",
                "pip before 23.3 holds a whole download in memory to cache it, and a torch wheel is GBs",
                [f"{python} -m pip install --upgrade pip  (23.3 streams to its cache)", "or: pip install --no-cache-dir …"],
            )
        )
    for broken in pip.config.errors:
        found.append(
            Finding(
                "F30",
                FAIL,
                "a pip configuration file does not parse",
                f"Configuration file could not be loaded. File contains parsing errors: {broken['path']}",
                f"{broken['path']}: {broken['error']}; pip refuses every command while it is so",
                [f"fix or remove {broken['path']} (pip config debug lists the files pip reads)"],
            )
        )
    return found


def platform_findings(facts: Facts) -> List[Finding]:
    interpreter = facts.interpreter
    machine = facts.machine
    found = []
    from .compat import load  # the facts below are the compatibility data's

    data = load()
    glibc = _version(machine.libc_version) if machine.libc == "glibc" else ()
    floor = data.glibc_floor()
    if glibc and floor and glibc < _version(floor):
        found.append(
            Finding(
                "F17",
                WARN,
                f"glibc {machine.libc_version} is older than {floor}",
                f"ImportError: /lib64/libc.so.6: version `GLIBC_{floor}' not found (required by …/torch/lib/libtorch_python.so)",
                f"current torch wheels are manylinux_{floor.replace('.', '_')}; this system gets older releases only",
                [
                    f"move to a system with glibc {floor} or newer (RHEL 8+, Debian 10+, Ubuntu 20.04+) or a container",
                    "torchup plan picks the newest release that still fits",
                ],
            )
        )
    if interpreter and interpreter.bits == 32:
        found.append(
            Finding(
                "F19",
                FAIL,
                "this Python is 32-bit",
                "ERROR: Could not find a version that satisfies the requirement torch (from versions: none)",
                "PyTorch publishes no 32-bit wheels",
                ["install a 64-bit Python: uv python install 3.12"],
            )
        )
    last_intel_mac = data.newest_for("macos-x86_64")
    if machine.os == "Darwin" and machine.arch == "x86_64" and last_intel_mac:
        found.append(
            Finding(
                "F20",
                WARN,
                f"macOS on x86_64 gets torch {last_intel_mac.version} at most",
                f"ERROR: Could not find a version that satisfies the requirement torch=={data.releases[0].version} (from versions: …, {last_intel_mac.version})",
                f"PyTorch stopped building for Intel Macs after {last_intel_mac.series}",
                ["on Apple Silicon, use an arm64 Python", f"on an Intel Mac: torchup install --torch {last_intel_mac.series}"],
            )
        )
    if machine.libc == "musl":
        found.append(
            Finding(
                "F21",
                FAIL,
                "musl (Alpine): no PyTorch wheels",
                "ERROR: No matching distribution found for torch",
                "PyTorch publishes no musllinux wheels and no source distribution",
                ["use a glibc-based image (python:3.12-slim, Debian, Ubuntu)"],
            )
        )
    version = interpreter.version_info[:2] if interpreter else ()
    if version and not any(r.python_min <= version <= row.python_max for r in data.releases for row in r.platforms.values()):
        found.append(
            Finding(
                "F18",
                FAIL,
                f"no torch release has wheels for Python {_python_xy(facts)}",
                "ERROR: Could not find a version that satisfies the requirement torch (from versions: none)",
                "PyTorch builds wheels for a fixed range of CPython versions",
                ["install a supported Python alongside: uv python install 3.12", "then: torchup install --python …"],
            )
        )
    if machine.os == "Windows" and interpreter and interpreter.torch_version and "+" not in interpreter.torch_version and facts.accelerators.nvidia:
        found.append(
            Finding(
                "F22",
                WARN,
                f"torch {interpreter.torch_version} from PyPI is the CPU build on Windows",
                "torch.cuda.is_available() is False (no install error)",
                "PyPI's Windows and macOS torch wheels are CPU-only; CUDA builds come from download.pytorch.org with a +cuXXX tag",
                ["torchup install  (the CUDA build this GPU and driver run, from its index)"],
            )
        )
    if machine.os == "Windows" and machine.long_paths_enabled is False:
        found.append(
            Finding(
                "F27",
                WARN,
                "Windows long paths are not enabled",
                "ERROR: Could not install packages due to an OSError: [Errno 2] No such file or directory … HINT: This error might have occurred since this system does not have Windows Long Path support enabled.",
                "paths are limited to 260 characters unless LongPathsEnabled is set, and torch's files nest deep",
                [
                    'as administrator: New-ItemProperty -Path "HKLM:\\SYSTEM\\CurrentControlSet\\Control\\FileSystem" -Name "LongPathsEnabled" -Value 1 -PropertyType DWORD -Force',
                    "or use a venv with a short path (C:\\venv)",
                ],
            )
        )
    if interpreter and interpreter.base_kind == "uv-managed" and not interpreter.in_venv:
        found.append(
            Finding(
                "F29",
                WARN,
                "a uv-managed Python outside a venv",
                "error: externally-managed-environment  (uv marks its Pythons), or a crash at start on an older CPU",
                "uv's standalone Pythons are meant to be used through a venv; their x86_64_v2/v3 builds need a matching CPU",
                [
                    f"uv venv --python {_python_xy(facts)} .venv, then: torchup install --python .venv",
                    "on an older CPU: uv python install cpython-" + _python_xy(facts) + "-linux-x86_64-gnu",
                ],
            )
        )
    return found


def resource_findings(facts: Facts) -> List[Finding]:
    found = []
    for path, free in facts.machine.resources.disk_free_bytes.items():
        if free < DISK_NEEDED_BYTES:
            severity = FAIL if free < DISK_MINIMUM_BYTES else WARN
            found.append(
                Finding(
                    "F25",
                    severity,
                    f"{free / 1024**3:.1f} GiB free at {path}",
                    "ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device",
                    "a CUDA build of torch needs about 7 GB once unpacked, more while it downloads",
                    ["free space there", "or: TMPDIR=/a/larger/disk torchup install", "a CPU build needs about 1 GB: torchup install --no-gpu"],
                )
            )
    executable = _python(facts)
    try:
        built = os.stat(executable).st_mtime
    except OSError:
        built = None
    if built and time.time() < built - 86400:
        found.append(
            Finding(
                "F09",
                WARN,
                "the system clock is behind",
                "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate is not yet valid",
                f"the clock says {time.strftime('%Y-%m-%d')}, earlier than this Python's own files",
                ["sudo timedatectl set-ntp true", "or set the date: sudo date -s 'YYYY-MM-DD HH:MM'"],
            )
        )
    return found


def find(facts: Facts) -> List[Finding]:
    """Every catalogued problem that applies to these facts, blockers first."""
    found = tls_findings(facts) + pip_findings(facts) + platform_findings(facts) + resource_findings(facts)
    return sorted(found, key=lambda finding: (finding.severity != FAIL, finding.id))


MARKS = {FAIL: "✗", WARN: "!"}


def render_lines(findings: List[Finding]) -> List[str]:
    if not findings:
        return ["  ✓ none: pip, TLS and this interpreter look fine"]
    lines = []
    for finding in findings:
        lines.append(f"  {MARKS[finding.severity]} {finding.id} {finding.title}")
        lines.append(f"      you would see: {finding.seen}")
        lines.append(f"      cause: {finding.cause}")
        lines.extend(f"      fix: {step}" for step in finding.fix)
    return lines
