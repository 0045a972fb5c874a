"""The catalogue of broken pip, TLS and interpreter setups: each problem one object, registered here.

A problem is a class holding its id (research note pip-openssl-failures §1: F01–F29 kept; F30 and
on are torchup's own), its row in the README's table, and its check over the detected facts. For
each case the check finds, it says what the user would see (each message named by the tool that
prints it), the cause, the fix for this platform (the root cause first, the target's own
interpreter named), and what ``torchup fix --apply`` may do about it (a :class:`SafeFix`).
``@register`` puts a problem in ``CATALOGUE``; their order there is the ids' order.

Pure functions of typed facts, standard library only: ``make setup`` runs them with the system
Python before any pip call. A fact a check needs is gathered by detection (the probe in the target,
or ``detect/``), never here.

Adding a problem: a class here, its row in the README's table, and in ``tests/test_findings.py``
facts that show it and facts that do not.
"""

import enum
import re
import time
from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple

from .detect import Facts
from .detect.target_facts import CaBundle, Interpreter
from .status import Status
from .target import PINS_FILE

FAIL, WARN = Status.FAIL, Status.WARN
# manylinux_x_y (PEP 600) wheels need pip 20.3; numpy and torch ship nothing older for new releases.
PIP_FOR_PEP600 = (20, 3)
# Python 3.12 removed pkgutil.ImpImporter, which pip before 23.1 still used (pypa/pip#12358).
PIP_FOR_PY312 = (23, 1)
# pip resumes interrupted downloads from 25.1 (pip NEWS 25.1, #12991), and streams large
# downloads to its cache instead of holding them in memory from 23.3 (pip NEWS 23.3, #2984).
PIP_RESUMES_DOWNLOADS = (25, 1)
PIP_STREAMS_CACHE = (23, 3)
SMALL_MEMORY_BYTES = 8 * 1024**3
# Below this even the CPU build, numpy and scipy with pip's temporary copies do not fit.
DISK_MINIMUM_BYTES = 3 * 1024**3


class SafeFix(str, enum.Enum):
    """What ``torchup fix --apply`` may do for a finding: it needs no root and touches only the target."""

    ENSUREPIP = "ensurepip"
    UPGRADE_PIP = "upgrade-pip"
    VENV = "venv"


class Finding(NamedTuple):
    """A catalogued problem as these facts show it."""

    id: str
    severity: Status
    title: str
    seen: str  # what the user would see, verbatim, each message after the tool (or command) that prints it
    cause: str
    fix: List[str]  # steps for this platform, in order, the root cause first
    action: Optional[SafeFix] = None
    # Package-manager commands: printed; run only by `fix --apply --system` as root.
    system: Tuple[Tuple[str, ...], ...] = ()
    # The facts it judges, by their keys in `detect --json`: detect's report marks those lines with it.
    about: Tuple[str, ...] = ()

    def as_data(self) -> dict:
        return dict(
            self._asdict(),
            severity=self.severity.value,
            action=self.action.value if self.action else None,
            system=[list(command) for command in self.system],
            about=list(self.about),
        )


class Problem:
    """One catalogued problem. A subclass sets ``id`` and ``summary`` and writes ``check``."""

    id: str
    summary: str  # its row in the README's table
    # `make setup`'s preflight leaves out what setup itself deals with (it makes its own venv).
    in_setup = True

    def check(self, facts: Facts) -> Iterator[Finding]:
        """The findings these facts show: none, or one per case (a setting, a path). A problem
        found before there are facts (F28) keeps this default."""
        return iter(())

    def found(
        self,
        severity: Status,
        title: str,
        seen: str,
        cause: str,
        fix: Sequence[str],
        about: Sequence[str] = (),
        action: Optional[SafeFix] = None,
        system: Sequence[Tuple[str, ...]] = (),
    ) -> Finding:
        return Finding(self.id, severity, title, seen, cause, list(fix), action, tuple(system), tuple(about))


CATALOGUE: List[Problem] = []


def register(problem: type) -> type:
    CATALOGUE.append(problem())
    return problem


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


def _openssl(facts: Facts) -> Tuple[str, Tuple[int, ...]]:
    """The ssl module's library as it names itself ("OpenSSL 3.0.13 30 Jan 2024"), and its version; empty without ssl."""
    tls = facts.tls
    if tls is None or not tls.ssl_importable:
        return "", ()
    return tls.openssl_version or "", tuple(tls.openssl_version_info or ())


def _bundle(facts: Facts, source: str) -> Optional[CaBundle]:
    return next((bundle for bundle in (facts.tls.ca_bundles if facts.tls else []) if bundle.source == source), None)


# --- TLS ---------------------------------------------------------------------------------------


@register
class NoSslModule(Problem):
    id = "F01"
    summary = "no `ssl` module (Python built without OpenSSL)"

    def check(self, facts):
        tls = facts.tls
        if tls and not tls.ssl_importable and not tls.ssl_extension:
            yield self.found(
                FAIL,
                "this Python has no ssl module",
                "pip: WARNING: pip is configured with locations that require TLS/SSL, however the ssl module in Python is not available.",
                "Python was built without OpenSSL (its headers were missing, or OpenSSL was older than 1.1.1), so pip cannot reach an https index",
                _rebuild(facts),
                about=("tls.ssl",),
            )


@register
class SslLibraryGone(Problem):
    id = "F02"
    summary = "`_ssl` present but its OpenSSL library gone"

    def check(self, facts):
        tls = facts.tls
        if tls and not tls.ssl_importable and tls.ssl_extension:
            yield self.found(
                FAIL,
                "the ssl module's OpenSSL library is gone",
                f"python (import ssl): {tls.ssl_error or 'ImportError: libssl.so.1.1: cannot open shared object file'}; "
                "pip: WARNING: pip is configured with locations that require TLS/SSL, however the ssl module in Python is not available.",
                f"the _ssl extension ({tls.ssl_extension}) exists but the OpenSSL library it was built against no longer loads",
                _rebuild(facts),
                about=("tls.ssl",),
            )


@register
class OpensslBefore111(Problem):
    id = "F03"
    summary = "OpenSSL older than 1.1.1 (urllib3 2 refuses it)"

    def check(self, facts):
        text, version = _openssl(facts)
        if version and version < (1, 1, 1) and text.startswith("OpenSSL"):
            yield self.found(
                FAIL,
                "OpenSSL is older than 1.1.1",
                f"pip and requests (urllib3 2): ImportError: urllib3 v2 only supports OpenSSL 1.1.1+, currently the 'ssl' module is compiled with '{text}'.",
                "urllib3 2, which pip vendors and requests needs, refuses OpenSSL before 1.1.1",
                [f"uv python install {_python_xy(facts)}  (a Python with its own current OpenSSL)", "or a python.org or conda Python"],
                about=("tls.ssl",),
            )


@register
class LibreSsl(Problem):
    id = "F04"
    summary = "the `ssl` module uses LibreSSL (a warning)"

    def check(self, facts):
        text, _ = _openssl(facts)
        if text and not text.startswith("OpenSSL"):
            yield self.found(
                WARN,
                f"the ssl module uses {text.split()[0]}, not OpenSSL",
                f"pip and requests (urllib3 2): NotOpenSSLWarning: urllib3 v2 only supports OpenSSL 1.1.1+, currently the 'ssl' module is compiled with '{text}'.",
                "Apple's system Python is linked against LibreSSL; the warning is cosmetic while HTTPS works",
                [f"use a python.org, Homebrew or uv Python: uv python install {_python_xy(facts)}"],
                about=("tls.ssl",),
            )


@register
class NoTls12(Problem):
    id = "F05"
    summary = "an OpenSSL that cannot speak TLS 1.2"

    def check(self, facts):
        text, version = _openssl(facts)
        if version and version < (1, 0, 1) and text.startswith("OpenSSL"):
            yield self.found(
                FAIL,
                "this Python's OpenSSL cannot speak TLS 1.2",
                "pip: Could not fetch URL https://pypi.org/simple/torch/: There was a problem confirming the ssl certificate: [SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version - skipping",
                f"{text} predates TLS 1.2, which PyPI and download.pytorch.org require (PyPI since April 2018, pypi/warehouse#3293)",
                [f"uv python install {_python_xy(facts)}  (a Python with its own current OpenSSL)", "or a python.org or conda Python"],
                about=("tls.ssl",),
            )


# What a certificate setting naming a missing file breaks, as observed with pip 26.3, uv 0.13.9 and
# CPython 3.11's urllib, each fetching from an https index on 127.0.0.1 (tests/test_tls.py checks
# it). pip reads --cert, PIP_CERT, REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE
# (https://pip.pypa.io/en/stable/topics/https-certificates/), and from 24.2 the system's store
# through truststore, which falls back to the distribution's own bundle when SSL_CERT_FILE and
# SSL_CERT_DIR lead nowhere (truststore's _openssl.py): those two never break it. uv reads
# SSL_CERT_FILE and SSL_CERT_DIR (https://docs.astral.sh/uv/concepts/authentication/certificates/)
# and trusts no other root once either is set, so one leading nowhere breaks it unless the other
# holds roots. OpenSSL, so urllib, reads them too, beside its own default file and directory.
REQUESTS_UNREADABLE = "OSError: Could not find a suitable TLS CA certificate bundle, invalid path: {path}"
UV_NO_CERT_FILE = (
    "warning: Invalid `SSL_CERT_FILE`. Path does not exist: {path}. No default certificates will be trusted. … invalid peer certificate: UnknownIssuer"
)
UV_NO_CERT_DIR = "warning: Invalid `SSL_CERT_DIR`. The directory does not exist: {path}. No default certificates will be trusted."
URLLIB_UNVERIFIED = "<urlopen error [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate>"


def _holds_roots(bundle: Optional[CaBundle]) -> bool:
    """A file that is there, or a directory holding certificates OpenSSL reads."""
    return bool(bundle) and (bundle.exists if bundle.holds_certificates is None else bundle.holds_certificates)


@register
class MissingCaFile(Problem):
    id = "F06"
    summary = "a CA bundle setting (`SSL_CERT_FILE`, `SSL_CERT_DIR`, `REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`, `PIP_CERT`, pip's `cert`) names a missing file or directory that pip, uv or urllib then fails on"

    def check(self, facts):
        for bundle in facts.tls.ca_bundles if facts.tls else []:
            if bundle.path and not bundle.exists and bundle.source not in ("ssl default cafile", "ssl default capath", "certifi"):
                yield from self._missing(facts, bundle.source, bundle.path, f"export {bundle.source}=…")
        cert = facts.pip.config.settings.get("cert") if facts.pip else None
        if cert and cert.source != "PIP_CERT" and cert.exists is False:  # PIP_CERT is among the bundles above
            yield from self._missing(facts, "cert", cert.value, f"cert = … in {cert.source}")

    def _missing(self, facts: Facts, source: str, path: str, where: str) -> Iterator[Finding]:
        """The finding for one setting, naming each tool it breaks and what that tool prints; none where none breaks."""
        breaks = []  # (the tool, as the finding names it, what it prints)
        if source in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
            file = source == "SSL_CERT_FILE"
            if not _holds_roots(_bundle(facts, "SSL_CERT_DIR" if file else "SSL_CERT_FILE")):
                breaks.append(("uv", "uv", (UV_NO_CERT_FILE if file else UV_NO_CERT_DIR).format(path=path)))
            if not _holds_roots(_bundle(facts, "ssl default capath" if file else "ssl default cafile")):
                breaks.append(("urllib", "urllib", URLLIB_UNVERIFIED))
        elif source in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            breaks.append(("pip", "pip and requests", REQUESTS_UNREADABLE.format(path=path)))
        else:  # PIP_CERT, pip's cert: torchup install hands it to uv as SSL_CERT_FILE, pip's CA being uv's
            breaks.append(("pip", "pip", REQUESTS_UNREADABLE.format(path=path)))
            if not _holds_roots(_bundle(facts, "SSL_CERT_DIR")):
                breaks.append(("uv", "uv (as torchup install runs it)", UV_NO_CERT_FILE.format(path=path)))
        if not breaks:
            return
        broken = [tool for tool, _, _ in breaks]
        spared = [tool for tool in ("pip", "uv", "urllib") if tool not in broken]
        name = "pip's cert setting" if source == "cert" else source
        yield self.found(
            FAIL if set(broken) - {"urllib"} else WARN,
            f"{name} names a missing {'directory' if source == 'SSL_CERT_DIR' else 'file'}",
            "; ".join(f"{named}: {printed}" for _, named, printed in breaks),
            f"{name} is {path}, which does not exist, and {' and '.join(named for _, named, _ in breaks)} {'take their' if len(breaks) > 1 else 'takes its'} roots from it"
            + (f"; {' and '.join(spared)} not affected" if spared else ""),
            [
                f"remove {where}" if source == "cert" else f"unset {source}",
                f"or point it at a PEM bundle holding the public roots and your organisation's root ({where})",
            ],
            about=("pip.config.settings.cert", "tls.ca_bundles.PIP_CERT")
            if source == "PIP_CERT"
            else ("pip.config.settings.cert",)
            if source == "cert"
            else (f"tls.ca_bundles.{source}",),
        )


def _no_system_store(facts: Facts) -> Optional[CaBundle]:
    """OpenSSL's own default bundle where it is missing and its certificate directory holds nothing:
    the system has no CA store. Set by SSL_CERT_FILE or SSL_CERT_DIR, the defaults are F06's to judge."""
    tls = facts.tls
    if tls is None or not tls.ssl_importable or any(_bundle(facts, variable) for variable in ("SSL_CERT_FILE", "SSL_CERT_DIR")):
        return None
    cafile, capath = _bundle(facts, "ssl default cafile"), _bundle(facts, "ssl default capath")
    return cafile if cafile and not cafile.exists and not (capath and capath.holds_certificates) else None


@register
class NoSystemCaBundle(Problem):
    id = "F07"
    summary = "no system CA bundle"

    def check(self, facts):
        cafile = _no_system_store(facts)
        if cafile and not MacFrameworkCertificates.applies(facts):
            fix = {"debian": ["sudo apt install ca-certificates"], "rhel": ["sudo dnf install ca-certificates"], "alpine": ["sudo apk add ca-certificates"]}
            yield self.found(
                WARN,
                "this system has no CA certificate bundle",
                f"urllib: {URLLIB_UNVERIFIED}",
                f"OpenSSL's default bundle ({cafile.path}) does not exist and its certificate directory holds none; pip still has certifi's, other tools do not",
                fix.get(family(facts), ["install your distribution's ca-certificates package"]),
                about=("tls.ca_bundles.ssl default cafile", "tls.ca_bundles.ssl default capath"),
                system=tuple(tuple(command.split()[1:]) for command in fix.get(family(facts), [])),
            )


@register
class MacFrameworkCertificates(Problem):
    id = "F08"
    summary = "python.org macOS certificates never installed"

    @staticmethod
    def applies(facts: Facts) -> bool:
        return facts.machine.os == "Darwin" and "/Library/Frameworks/Python.framework/" in _python(facts) and _no_system_store(facts) is not None

    def check(self, facts):
        if self.applies(facts):
            yield self.found(
                WARN,
                "the python.org installer's certificates were never installed",
                f"urllib: {URLLIB_UNVERIFIED}",
                "the python.org macOS installer ships its own OpenSSL, which does not read the keychain",
                [f'"/Applications/Python {_python_xy(facts)}/Install Certificates.command"'],
                about=("tls.ca_bundles.ssl default cafile",),
            )


@register
class ClockBehind(Problem):
    id = "F09"
    summary = 'the clock is behind (certificates "not yet valid")'

    def check(self, facts):
        built = facts.interpreter.executable_mtime if facts.interpreter else None
        clock = facts.machine.clock
        if built and clock and clock < built - 86400:
            yield self.found(
                WARN,
                "the system clock is behind",
                "pip: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate is not yet valid",
                f"the clock says {_date(clock)}, earlier than this Python's own executable ({_date(built)}), so every certificate looks not yet valid",
                ["sudo timedatectl set-ntp true", "or set the date: sudo date -s 'YYYY-MM-DD HH:MM'"],
            )


def _date(seconds: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(seconds))


@register
class LegacyRenegotiation(Problem):
    id = "F10"
    summary = "OpenSSL 3 behind a proxy (legacy renegotiation refused)"

    def check(self, facts):
        text, version = _openssl(facts)
        pip_proxy = facts.pip and "proxy" in facts.pip.config.settings
        if version >= (3, 0) and text.startswith("OpenSSL") and (facts.tls.proxies or pip_proxy):
            yield self.found(
                WARN,
                "OpenSSL 3 behind a proxy: legacy renegotiation is refused",
                "pip: ssl.SSLError: [SSL: UNSAFE_LEGACY_RENEGOTIATION_DISABLED] unsafe legacy renegotiation disabled",
                f"{' '.join(text.split()[:2])} disables unsafe legacy renegotiation, which some intercepting proxies still need (urllib3/urllib3#2653)",
                [
                    "ask for the proxy to support RFC 5746 secure renegotiation",
                    "as a last resort, an OPENSSL_CONF file with 'Options = UnsafeLegacyRenegotiation' (it weakens TLS for that process)",
                ],
                about=("tls.ssl",),  # the library refuses; the proxy's settings are fine
            )


@register
class HttpsProxyScheme(Problem):
    id = "F11"
    summary = "an `https://` proxy URL in `HTTPS_PROXY`"

    def check(self, facts):
        proxies = facts.tls.proxies if facts.tls else {}
        variable = next((name for name in ("HTTPS_PROXY", "https_proxy") if proxies.get(name, "").lower().startswith("https://")), None)
        if variable:
            plain = "http://" + proxies[variable].split("://", 1)[1]
            # Observed through a plain HTTP CONNECT proxy on 127.0.0.1 that answers a TLS handshake with 400, as squid does.
            yield self.found(
                WARN,
                f"{variable} uses the https:// scheme",
                "pip: WARNING: Retrying (…) after connection broken by 'SSLError(1, '[SSL: WRONG_VERSION_NUMBER] wrong version number')'; "
                "uv: tunnel error: failed to create underlying connection … received corrupt message of type InvalidContentType",
                "with an https:// proxy URL, pip and uv speak TLS to the proxy itself, which a plain HTTP proxy (most are) cannot answer; "
                "urllib speaks plain HTTP to any proxy and is not affected",
                [f"export {variable}={plain}"],
                about=(f"tls.proxies.{variable}",),
            )


# --- pip and venvs ---------------------------------------------------------------------------


@register
class PipMissing(Problem):
    id = "F12"
    summary = "pip missing (ensurepip can or cannot fix it)"

    def check(self, facts):
        pip, interpreter, python = facts.pip, facts.interpreter or Interpreter(), _python(facts)
        if pip is None or pip.present:
            return
        seen = f"{python} -m pip: {python}: No module named pip"
        if pip.ensurepip.available:
            # Into an externally managed (PEP 668) Python, ensurepip fails every time: never "safe".
            managed = interpreter.externally_managed.applies
            yield self.found(
                FAIL,
                "pip is not installed",
                seen,
                "this interpreter has no pip, but carries the wheel to install it offline",
                [f"{python} -m venv .venv  (a venv seeds pip; this externally managed Python refuses an ensurepip into itself)"]
                if managed
                else [f"{python} -m ensurepip --upgrade"],
                about=("pip",),
                action=None if managed else SafeFix.ENSUREPIP,
            )
            return
        xy, debian = _python_xy(facts), family(facts) == "debian"
        yield self.found(
            FAIL,
            "pip is not installed, and ensurepip cannot install it",
            seen + ("; ensurepip is disabled in Debian/Ubuntu for the system python." if debian else ""),
            pip.ensurepip.reason or "no ensurepip",
            [f"sudo apt install python3-pip python{xy}-venv"] if debian else ["install pip with your package manager, or use uv: uv venv && uv pip install …"],
            about=("pip", "pip.ensurepip"),
            system=(("apt", "install", "-y", "python3-pip", f"python{xy}-venv"),) if debian else (),
        )


@register
class VenvWithoutPip(Problem):
    id = "F13"
    summary = "`python -m venv` cannot seed pip"

    def check(self, facts):
        pip, interpreter = facts.pip, facts.interpreter or Interpreter()
        if pip is None or interpreter.in_venv or pip.ensurepip.seeds_venv:
            return
        python, xy, debian = _python(facts), _python_xy(facts), family(facts) == "debian"
        yield self.found(
            FAIL if debian else WARN,
            "python -m venv cannot seed pip",
            f"{python} -m venv .venv: The virtual environment was not created successfully because ensurepip is not available.",
            pip.ensurepip.reason or "ensurepip is missing",
            [f"sudo apt install python{xy}-venv"] if debian else [f"{python} -m venv --without-pip DIR, then install with uv", "or: uv venv DIR"],
            about=("pip.ensurepip",),
            system=(("apt", "install", "-y", f"python{xy}-venv"),) if debian else (),
        )


@register
class ExternallyManaged(Problem):
    id = "F14"
    summary = "PEP 668: externally managed"
    in_setup = False  # setup makes a venv of its own

    def check(self, facts):
        if facts.interpreter and facts.interpreter.externally_managed.applies:
            python = _python(facts)
            yield self.found(
                WARN,
                "this Python is externally managed (PEP 668)",
                f"{python} -m pip install torch: error: externally-managed-environment … This environment is externally managed",
                "its packages belong to the system's package manager, so pip refuses to install into it",
                [f"{python} -m venv .venv, then: torchup install --venv .venv"],
                about=("interpreter.externally_managed",),
                action=SafeFix.VENV,
            )


def _upgrade_pip(facts: Facts) -> List[str]:
    python = _python(facts)
    return [f"{python} -m ensurepip --upgrade  (offline)", f"{python} -m pip install --upgrade pip"]


@register
class PipBeforePython312(Problem):
    id = "F15"
    summary = "pip too old for Python 3.12"

    def check(self, facts):
        pip, interpreter = facts.pip, facts.interpreter or Interpreter()
        version = _version(pip.version) if pip else ()
        if version and interpreter.version_info[:2] >= (3, 12) and version < PIP_FOR_PY312:
            yield self.found(
                FAIL,
                f"pip {pip.version} is too old for Python {_python_xy(facts)}",
                "pip: AttributeError: module 'pkgutil' has no attribute 'ImpImporter'. Did you mean: 'zipimporter'?",
                "Python 3.12 removed pkgutil.ImpImporter, which pip before 23.1 uses",
                _upgrade_pip(facts),
                about=("pip",),
                action=SafeFix.UPGRADE_PIP if interpreter.in_venv else None,
            )


@register
class PipBeforePep600(Problem):
    id = "F16"
    summary = "pip too old for manylinux_x_y wheels (it would compile numpy)"

    def check(self, facts):
        pip, interpreter = facts.pip, facts.interpreter or Interpreter()
        version = _version(pip.version) if pip else ()
        too_old_for_312 = interpreter.version_info[:2] >= (3, 12) and version < PIP_FOR_PY312  # F15 says it
        if version and version < PIP_FOR_PEP600 and not too_old_for_312:
            yield self.found(
                FAIL,
                f"pip {pip.version} cannot install manylinux_x_y wheels",
                "pip: Building wheel for numpy (pyproject.toml) ... error / ERROR: Could not build wheels for numpy",
                "pip before 20.3 does not know PEP 600 tags, skips current numpy and torch wheels and tries to compile their sources",
                _upgrade_pip(facts),
                about=("pip",),
                action=SafeFix.UPGRADE_PIP if interpreter.in_venv else None,
            )


# --- the platform ------------------------------------------------------------------------------


def _data():
    from .compat import load  # the limits below are the compatibility data's

    return load()


@register
class OldGlibc(Problem):
    id = "F17"
    summary = "glibc older than current wheels need (the floor comes from `compatibility.json`)"

    def check(self, facts):
        machine = facts.machine
        glibc = _version(machine.libc_version) if machine.libc == "glibc" else ()
        floor = _data().glibc_floor() if glibc else None
        if floor and glibc < _version(floor):
            yield self.found(
                WARN,
                f"glibc {machine.libc_version} is older than {floor}",
                f"python (import torch): ImportError: /lib64/libc.so.6: version `GLIBC_{floor}' not found (required by …/torch/lib/libtorch_python.so)",
                f"current torch wheels are manylinux_{floor.replace('.', '_')}; this system gets older releases only",
                [
                    f"move to a system with glibc {floor} or newer (RHEL 8+, Debian 10+, Ubuntu 20.04+) or a container",
                    f"or keep this one: torchup install --python {_python(facts)} picks the newest release that still fits",
                ],
                about=("machine.libc",),
            )


@register
class NoTorchForPython(Problem):
    id = "F18"
    summary = "no torch release for this Python version (the range comes from `compatibility.json`)"

    def check(self, facts):
        version = facts.interpreter.version_info[:2] if facts.interpreter else ()
        if version and not any(release.python_min <= version <= row.python_max for release in _data().releases for row in release.platforms.values()):
            yield self.found(
                FAIL,
                f"no torch release has wheels for Python {_python_xy(facts)}",
                "pip: ERROR: Could not find a version that satisfies the requirement torch (from versions: none)",
                "PyTorch builds wheels for a fixed range of CPython versions",
                ["install a supported Python alongside: uv python install 3.12", "then: torchup install --python …"],
                about=("interpreter",),
            )


@register
class ThirtyTwoBit(Problem):
    id = "F19"
    summary = "32-bit Python"

    def check(self, facts):
        if facts.interpreter and facts.interpreter.bits == 32:
            yield self.found(
                FAIL,
                "this Python is 32-bit",
                "pip: ERROR: Could not find a version that satisfies the requirement torch (from versions: none)",
                "PyTorch publishes no 32-bit wheels",
                ["install a 64-bit Python: uv python install 3.12"],
                about=("interpreter",),
            )


@register
class IntelMac(Problem):
    id = "F20"
    summary = "macOS x86_64 (its last release comes from `compatibility.json`)"

    def check(self, facts):
        machine = facts.machine
        data = _data() if machine.os == "Darwin" and machine.arch == "x86_64" else None
        last = data.newest_for("macos-x86_64") if data else None
        if last:
            yield self.found(
                WARN,
                f"macOS on x86_64 gets torch {last.version} at most",
                f"pip: ERROR: Could not find a version that satisfies the requirement torch=={data.releases[0].version} (from versions: …, {last.version})",
                f"PyTorch stopped building for Intel Macs after {last.series}",
                ["on Apple Silicon, use an arm64 Python", f"on an Intel Mac: torchup install --python {_python(facts)} --torch {last.series}"],
                about=("machine.os",),
            )


@register
class Musl(Problem):
    id = "F21"
    summary = "musl libc (Alpine): no PyTorch wheels"
    # Also the plan's refusal, in the same words.
    cause = "PyTorch publishes no musllinux wheels and no source distribution"
    remedy = "use a glibc-based system or image (python:3.12-slim, Debian, Ubuntu, Fedora, RHEL 8+)"

    def check(self, facts):
        if facts.machine.libc == "musl":
            yield self.found(
                FAIL,
                f"musl {facts.machine.libc_version} (Alpine): no PyTorch wheels",
                "pip: ERROR: No matching distribution found for torch",
                self.cause,
                [self.remedy],
                about=("machine.libc",),
            )


@register
class WindowsCpuTorch(Problem):
    id = "F22"
    summary = "Windows with an NVIDIA GPU and PyPI's CPU-only torch installed"

    def check(self, facts):
        interpreter = facts.interpreter
        torch = interpreter.torch_version if interpreter else None
        if facts.machine.os == "Windows" and torch and "+" not in torch and facts.accelerators.nvidia:
            yield self.found(
                WARN,
                f"torch {torch} from PyPI is the CPU build on Windows",
                "python: torch.cuda.is_available() is False (no install error)",
                "PyPI's Windows and macOS torch wheels are CPU-only; CUDA builds come from download.pytorch.org with a +cuXXX tag",
                [f"torchup install --python {_python(facts)}  (the CUDA build this GPU and driver run, from its index)"],
            )


def _pinned_by_torchup(facts: Facts) -> bool:
    """torch is installed in the target, and `torchup install` pinned it there: the venv's pip.conf names its constraints file."""
    interpreter, pip = facts.interpreter, facts.pip
    constraint = pip.config.settings.get("constraint") if pip else None
    files = constraint.value if constraint and isinstance(constraint.value, list) else []
    pins = [path for path in files if path.replace("\\", "/").rsplit("/", 1)[-1] == PINS_FILE]
    return bool(interpreter and interpreter.torch_version and interpreter.prefix and any(path.startswith(interpreter.prefix) for path in pins))


@register
class MirrorUvIgnores(Problem):
    id = "F23"
    summary = "a mirror in pip's configuration that uv does not read (until uv is given it, or `torchup install` has installed and pinned torch)"
    in_setup = False  # setup ends with `torchup install`, which hands the mirror to uv

    def check(self, facts):
        settings = facts.pip.config.settings if facts.pip else {}
        uv = facts.environment.uv_indexes
        # pypi.org itself is no mirror; one uv is given too, through its own variables, is uv's as well.
        index = settings["index-url"].value if "index-url" in settings else None
        index = index if index and "pypi.org" not in index and not (uv.get("UV_DEFAULT_INDEX") or uv.get("UV_INDEX_URL")) else None
        extras = settings["extra-index-url"].value if "extra-index-url" in settings else []
        extras = [url for url in extras if "pypi.org" not in url] if not (uv.get("UV_INDEX") or uv.get("UV_EXTRA_INDEX_URL")) else []
        if not (index or extras) or _pinned_by_torchup(facts):
            return
        python, mirrors = _python(facts), ([index] if index else []) + extras
        # uv reads no pip.conf nor PIP_* variable: https://docs.astral.sh/uv/pip/compatibility/
        seen = [f"uv pip install --python {python} numpy: fetched from pypi.org, not {', '.join(mirrors)} (timeouts where only the mirror is reachable)"]
        uv_gets = []
        if index:
            # pip's "Looking in indexes:" then names the command line's index alone; extra-index-url stays.
            seen.append(f"pip install torch --index-url https://download.pytorch.org/whl/…: numpy and the rest no longer come from {index} either")
            uv_gets.append(f"export UV_DEFAULT_INDEX={index}")
        if extras:
            uv_gets.append(f"export UV_INDEX='{' '.join(extras)}'")
        fix = [
            f"give uv the mirror too: {' and '.join(uv_gets)}",
            f"torchup install --python {python}  (torch from its own index alone; the mirror handed to uv as flags)",
        ]
        if any("****@" in url for url in mirrors):
            fix.append("uv needs the mirror's credentials from its own settings (UV_INDEX_<NAME>_USERNAME/_PASSWORD, netrc): torchup does not copy them")
        yield self.found(
            WARN,
            "pip's configuration names a mirror that uv does not read",
            "; ".join(seen),
            f"pip uses {', '.join(mirrors)} from its configuration, and uv reads no pip configuration"
            + (("; a command-line --index-url replaces the configured index for every package of that command") if index else ""),
            fix,
            about=tuple(f"pip.config.settings.{key}" for key, present in (("index-url", index), ("extra-index-url", extras)) if present),
        )


@register
class SlowDownload(Problem):
    id = "F24"
    summary = "with a GPU (a multi-GB download), a pip too old to resume downloads and no timeout set"

    def check(self, facts):
        pip, nvidia = facts.pip, facts.accelerators.nvidia
        version = _version(pip.version) if pip else ()
        big_download = bool(nvidia and (nvidia.gpus or nvidia.driver_version))  # a CUDA build: GBs
        timeout_set = pip and any(key in pip.config.settings for key in ("timeout", "default-timeout"))
        if big_download and version and version < PIP_RESUMES_DOWNLOADS and not timeout_set:
            yield self.found(
                WARN,
                "a CUDA build's download may time out",
                "pip: pip._vendor.urllib3.exceptions.ReadTimeoutError: HTTPSConnectionPool(host='download.pytorch.org', port=443): Read timed out.",
                f"CUDA wheels are several GB; pip waits 15 s on a stalled read by default, and pip {pip.version} cannot resume a broken download (pip 25.1 can)",
                [
                    f"{_python(facts)} -m pip install --upgrade pip  (25.1 resumes interrupted downloads)",
                    "or give pip more patience: export PIP_DEFAULT_TIMEOUT=120",
                ],
                about=("pip",),
            )


@register
class LowDisk(Problem):
    id = "F25"
    summary = "too little free disk at the target or the temp directory (sizes from `compatibility.json`)"

    def check(self, facts):
        from .compat import BuildKind

        data = _data()
        cuda, cpu = data.sizes_gb[BuildKind.CUDA], data.sizes_gb[BuildKind.CPU]
        python = _python(facts)
        for path, free in facts.machine.resources.disk_free_bytes.items():
            # Room for a CUDA build installed, and for its wheels while they download.
            if free < 2 * cuda * 1e9:
                yield self.found(
                    FAIL if free < DISK_MINIMUM_BYTES else WARN,
                    f"{free / 1024**3:.1f} GiB free at {path}",
                    "pip: ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device",
                    f"a CUDA build of torch takes about {cuda:g} GB installed ({data.cite(data.sizes_source)}), and its wheels need room while they download",
                    [
                        "free space there",
                        f"or: TMPDIR=/a/larger/disk torchup install --python {python}",
                        f"a CPU build takes about {cpu:g} GB: torchup install --python {python} --no-gpu",
                    ],
                    about=(f"machine.resources.disk_free_bytes.{path}",),
                )


@register
class PipHoldsDownloads(Problem):
    id = "F26"
    summary = "on a machine under 8 GiB, a pip (before 23.3) that holds downloads in memory"

    def check(self, facts):
        pip, memory = facts.pip, facts.machine.resources.memory_total_bytes
        version = _version(pip.version) if pip else ()
        if version and version < PIP_STREAMS_CACHE and memory and memory < SMALL_MEMORY_BYTES:
            python = _python(facts)
            yield self.found(
                WARN,
                f"pip {pip.version} may be killed for memory on this {memory / 1024**3:.1f} GiB machine",
                "pip: Killed  (dmesg: Out of memory: Killed process … (pip))",
                "pip before 23.3 holds a whole download in memory to cache it, and a torch wheel is GBs",
                [f"{python} -m pip install --upgrade pip  (23.3 streams to its cache)", f"or: {python} -m pip install --no-cache-dir …"],
                about=("pip",),
            )


@register
class WindowsLongPaths(Problem):
    id = "F27"
    summary = "Windows: long paths not enabled (read from the registry)"

    def check(self, facts):
        if facts.machine.os == "Windows" and facts.machine.long_paths_enabled is False:
            yield self.found(
                WARN,
                "Windows long paths are not enabled",
                "pip: ERROR: Could not install packages due to an OSError: [Errno 2] No such file or directory … HINT: This error might have occurred since this system does not have Windows Long Path support enabled.",
                "paths are limited to 260 characters unless LongPathsEnabled is set, and torch's files nest deep",
                [
                    'as administrator: New-ItemProperty -Path "HKLM:\\SYSTEM\\CurrentControlSet\\Control\\FileSystem" -Name "LongPathsEnabled" -Value 1 -PropertyType DWORD -Force',
                    "or use a venv with a short path (C:\\venv)",
                ],
            )


@register
class StoreAlias(Problem):
    """Found while the target is named, before any fact exists: torchup stops there (exit 2) with this fix as its hint."""

    id = "F28"
    summary = "Windows: the Microsoft Store's `python.exe` alias named as the target (the command stops, with the fix as its hint)"
    # Windows puts an App Execution Alias named python.exe on PATH that only opens the Store.
    hint = (
        "this is the Microsoft Store's alias, not a Python: install Python from python.org or with `uv python install 3.12`, "
        "or turn the alias off (Settings > Apps > Advanced app settings > App execution aliases)"
    )

    @staticmethod
    def applies(python: str, printed: str) -> bool:
        """Whether what ``python`` printed instead of answering the probe is the Store alias's."""
        return "WindowsApps" in python or "Microsoft Store" in printed


@register
class UvPythonOutsideVenv(Problem):
    id = "F29"
    summary = "a uv-managed Python used outside a venv"

    def check(self, facts):
        interpreter = facts.interpreter
        if interpreter and interpreter.base_kind == "uv-managed" and not interpreter.in_venv:
            xy = _python_xy(facts)
            yield self.found(
                WARN,
                "a uv-managed Python outside a venv",
                "pip: error: externally-managed-environment  (uv marks its Pythons), or a crash at start on an older CPU",
                "uv's standalone Pythons are meant to be used through a venv; their x86_64_v2/v3 builds need a matching CPU",
                [f"uv venv --python {xy} .venv, then: torchup install --python .venv", f"on an older CPU: uv python install cpython-{xy}-linux-x86_64-gnu"],
                about=("interpreter.kind",),
            )


@register
class PipConfigUnparsable(Problem):
    id = "F30"
    summary = "a pip configuration file that does not parse (pip refuses every command): torchup's own addition to the catalog"

    def check(self, facts):
        python = _python(facts)
        for broken in facts.pip.config.errors if facts.pip else []:
            path, error = broken["path"], broken["error"]
            yield self.found(
                FAIL,
                f"a pip configuration file does not parse: {path}",
                f"{python} -m pip (any command, --version too): Configuration file could not be loaded. {error}",
                f"{path}: {error}; pip reads every configuration file before any command and stops on one that does not parse. "
                "uv reads no pip configuration and is not affected",
                [f"fix or remove {path}", f"then check what pip reads: {python} -m pip config debug"],
                about=("pip",),
            )


def find(facts: Facts, for_setup: bool = False) -> List[Finding]:
    """Every catalogued problem that applies to these facts, blockers first; ``for_setup``: those
    `make setup` does not deal with itself."""
    found = [finding for problem in CATALOGUE if problem.in_setup or not for_setup for finding in problem.check(facts)]
    return sorted(found, key=lambda finding: (finding.severity is not FAIL, finding.id))


def render_lines(findings: List[Finding]) -> List[str]:
    if not findings:
        return [f"  {Status.OK.mark} none: pip, TLS and this interpreter look fine"]
    lines = []
    for finding in findings:
        lines.append(f"  {finding.severity.mark} {finding.id} {finding.title}")
        lines.append(f"      you would see: {finding.seen}")
        lines.append(f"      cause: {finding.cause}")
        lines.extend(f"      fix: {step}" for step in finding.fix)
    return lines
