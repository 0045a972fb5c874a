"""Facts about the Python interpreter that runs this file, printed as one JSON document.

torchup runs this with the *target* interpreter, so it must work on CPython 3.6 and newer
with the standard library alone: no f-string tricks beyond 3.6, no dataclasses, no
importlib.metadata. It never imports pip, torch or anything it reports on; what it cannot
learn is null in its section and a reason under the section's "unknown" key.
"""

import json
import os
import re
import struct
import sys
import sysconfig
import time
from importlib.machinery import BuiltinImporter, PathFinder

PROBE_SCHEMA = 1

# The pip options that decide where packages come from and how they are fetched.
PIP_KEYS = (
    "index-url",
    "extra-index-url",
    "find-links",
    "trusted-host",
    "cert",
    "client-cert",
    "proxy",
    "no-index",
    "timeout",
    "default-timeout",
    "constraint",
)
PIP_LIST_KEYS = ("extra-index-url", "find-links", "trusted-host", "constraint")
# Settings that name a file, reported with whether it exists (pip fails on one that does not).
PIP_FILE_KEYS = ("cert", "client-cert")

# The tool's rules (installer/redact.py), kept here because the kit imports nothing of the tool.
# The shapes of a secret in text: a URL's user-info (in quotes, up to the closing quote, escaped
# quotes included; bare, up to white space), a proxy's user:password@ without a scheme (an IPv6
# host included), each to the last "@" a host follows; and NAME=value for a variable named like a
# secret. A value that is one URL or one proxy is parsed whole: its user-info may hold anything.
MASK = "****"
SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL")
_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*://"
_HOST = r"(?:\[[0-9A-Fa-f:.]+(?:%[\w.~%-]*)?\]|[\w.~%-]+)(?::\d+)?"
_HOST_ENDS = r"(?=[/?#\s\"'\\<>)\],;|]|\Z)"
_USER = r"[\w.~%+-]+"
_JSON_IN_JSON = r'(?:\\\\(?:\\"|\\\\|\\u[0-9A-Fa-f]{4}|[^\\"])|\\u[0-9A-Fa-f]{4}|\\[bfnrt/]|[^"\\\n])*'
_IN_QUOTES = (
    (r'(?<=")(?<!\\")', r'(?:\\.|[^"\\\n])*'),
    (r"(?<=')(?<!\\')", r"(?:\\.|[^'\\\n])*"),
    (r'(?<=\\")(?<!\\\\\\")', _JSON_IN_JSON),
)
# Strings, not compiled patterns: re compiles each on first use, and a text without "@" or a
# secret's name is never matched against them, so most probes compile none.
_USERINFO_IN_TEXT = (
    [r"%s(?P<lead>%s)%s@(?=%s%s)" % (opens, _SCHEME, body, _HOST, _HOST_ENDS) for opens, body in _IN_QUOTES]
    + [r"%s(?P<lead>)%s:(?!//)%s@(?=%s%s)" % (opens, _USER, body, _HOST, _HOST_ENDS) for opens, body in _IN_QUOTES]
    + [
        r"(?P<lead>\b%s)\S*@(?=%s%s)" % (_SCHEME, _HOST, _HOST_ENDS),
        r"(?<![\w/:@.%%+~-])(?P<lead>)%s:(?!//)\S*@(?=%s%s)" % (_USER, _HOST, _HOST_ENDS),
    ]
)
_ONE_URL = r"(?s)(?P<lead>%s)(?P<userinfo>.+)@(?P<rest>%s(?:[/?#]\S*)?)\Z" % (_SCHEME, _HOST)
_ONE_PROXY = r"(?s)(?P<lead>)(?P<userinfo>[^/:@]+:.*)@(?P<rest>%s/?)\Z" % _HOST
_SECRET_NAME = r"\b[A-Z0-9_]*(?:" + "|".join(SECRET_WORDS) + r")[A-Z0-9_]*"
_SECRET_ASSIGNMENT = (
    r"(?P<lead>" + _SECRET_NAME + r"(?:\\?[\"'])?\s*[=:]\s*)"
    r"(?P<value>\\\"" + _JSON_IN_JSON + r"\\\"|\"(?:[^\"\\]|\\.)*\"|'[^'\n]*'|(?!\*\*\*\*|\(unset\)|VALUE\b|\$)[^\s\"',;\\]+)"
)
_VARIABLE = r"env\.\w+|[A-Z][A-Z0-9_]*"


def _mask_value(match):
    value = match.group("value")
    for quote in ('\\"', '"', "'"):
        if value.startswith(quote) and len(value) >= 2 * len(quote):
            return match.group("lead") + quote + MASK + quote
    return match.group("lead") + MASK


def redact(text):
    """Hide every secret the shape of ``text`` gives away (``https://user:secret@host`` ->
    ``https://****@host``, ``HF_TOKEN=hf_abc`` -> ``HF_TOKEN=****``)."""
    if text is None:
        return None
    if "@" in text:
        for pattern in _USERINFO_IN_TEXT:
            text = re.sub(pattern, lambda match: match.group("lead") + MASK + "@", text)
    if any(word in text for word in SECRET_WORDS):
        text = re.sub(_SECRET_ASSIGNMENT, _mask_value, text)
    return text


def _one_value(value):
    if "@" not in value:  # every user-info ends with one
        return None
    return re.match(_ONE_URL, value) or re.match(_ONE_PROXY, value)


def redact_value(value):
    """One value (a setting, a URL, a proxy), parsed whole first: its user-info is hidden whatever it holds."""
    if value is None:
        return None
    match = _one_value(value)
    return redact(match.group("lead") + MASK + "@" + match.group("rest") if match else value)


def list_items(value):
    """A list setting's items, split on white space as pip splits them, but a URL whose user-info
    holds a space stays one item (else half of its password would show)."""
    words, items, start = value.split(), [], 0
    while start < len(words):
        end = len(words)
        while end > start + 1 and (any(re.match(_SCHEME, word) for word in words[start + 1 : end]) or not _one_value(" ".join(words[start:end]))):
            end -= 1
        items.append(" ".join(words[start:end]))
        start = end
    return items


def secret_name(name):
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


def _secret_key(key):
    return isinstance(key, str) and re.fullmatch(_VARIABLE, key) is not None and secret_name(key)


def redact_document(value):
    """Every string redacted as one value; the value of a key naming a secret variable (HF_TOKEN, env.TORCH_TOKEN) masked."""
    if isinstance(value, str):
        return redact_value(value)
    if isinstance(value, dict):
        return dict((key, MASK if item is not None and _secret_key(key) else redact_document(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [redact_document(item) for item in value]
    return value


# --- interpreter --------------------------------------------------------------------------


def interpreter_facts(unknown):
    prefix = sys.prefix
    base_prefix = getattr(sys, "base_prefix", sys.prefix)
    in_venv = prefix != base_prefix or hasattr(sys, "real_prefix")
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    paths = sysconfig.get_paths()  # once: each call expands every scheme's variables anew
    return {
        "executable": sys.executable,
        # Files a clock must not be earlier than (a clock that is makes every certificate "not yet valid").
        "executable_mtime": modified(sys.executable),
        "version": "%d.%d.%d" % sys.version_info[:3],
        "release_level": sys.version_info.releaselevel,
        "implementation": sys.implementation.name,
        "bits": struct.calcsize("P") * 8,
        "free_threaded": free_threaded,
        "prefix": prefix,
        "base_prefix": base_prefix,
        "in_venv": in_venv,
        "kind": "venv" if in_venv else installation_kind(base_prefix),
        "base_kind": installation_kind(base_prefix),
        "venv_creator": venv_creator(prefix) if in_venv else None,
        "site_packages": paths.get("purelib"),
        "paths": dict((key, paths.get(key)) for key in ("purelib", "platlib", "scripts")),
        "has_uv": find_spec("uv") is not None,
        "torch_version": installed_version("torch"),
        "externally_managed": externally_managed(in_venv, paths["stdlib"]),
        "tags": wheel_tags(free_threaded, unknown),
    }


def find_spec(name):
    """Where ``name`` would be imported from, without importing it: built into the interpreter, else
    sys.path, where pip, uv, ensurepip, certifi and _ssl live. (importlib.util.find_spec also asks
    every finder on sys.meta_path, and setuptools' distutils shim there imports traceback: time
    every probe would pay.)"""
    if name in sys.builtin_module_names:
        return BuiltinImporter.find_spec(name)
    return PathFinder.find_spec(name)


def modified(path):
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def installed_version(name):
    """A distribution's version from its metadata directory's name (``torch-2.13.0+cpu.dist-info``,
    PEP 376), first on sys.path as importlib.metadata finds it, without importing it (nor
    importlib.metadata, which costs more start-up time than the rest of this probe); None where absent."""
    prefix = name.lower().replace("-", "_") + "-"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for found in names:
            if found.lower().startswith(prefix) and found.endswith((".dist-info", ".egg-info")):
                return found[len(prefix) : -len(".dist-info")].split("-")[0]
    return None


def installation_kind(prefix):
    real = os.path.realpath(prefix).replace("\\", "/")
    if os.path.isdir(os.path.join(prefix, "conda-meta")):
        return "conda"
    if "/uv/python/" in real:
        return "uv-managed"
    if "/.pyenv/versions/" in real or "/pyenv-win/versions/" in real:
        return "pyenv"
    if real in ("/usr", "/usr/local") or real.startswith(("/usr/", "/opt/homebrew/", "/Library/Frameworks/", "/System/")):
        return "system"
    if os.name == "nt" and ("/Program Files" in real or "/WindowsApps/" in real):
        return "system"
    return "standalone"


def venv_creator(prefix):
    """Who made the venv, from pyvenv.cfg: "uv 0.9.2", "virtualenv 20.26.3" or "venv"."""
    try:
        with open(os.path.join(prefix, "pyvenv.cfg"), encoding="utf-8") as handle:
            config = dict((key.strip().lower(), value.strip()) for key, _, value in (line.partition("=") for line in handle) if value)
    except OSError:
        return None
    for tool in ("uv", "virtualenv"):
        if tool in config:
            return "%s %s" % (tool, config[tool])
    return "venv"


def externally_managed(in_venv, stdlib):
    """PEP 668: the marker in the stdlib directory, which pip honours outside a venv only."""
    marker = os.path.join(stdlib, "EXTERNALLY-MANAGED")
    if not os.path.isfile(marker):
        return {"marker": None, "applies": False, "message": None}
    import configparser

    message = None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(marker, encoding="utf-8")
        message = parser.get("externally-managed", "Error", fallback=None)
    except (configparser.Error, UnicodeDecodeError):
        pass
    return {"marker": marker, "applies": not in_venv, "message": message}


# --- wheel tags ----------------------------------------------------------------------------


def wheel_tags(free_threaded, unknown):
    """The interpreter tag, the ABI tags and the platform tags this interpreter installs, best first."""
    major, minor = sys.version_info[:2]
    name = sys.implementation.name
    if name == "cpython":
        interpreter = "cp%d%d" % (major, minor)
        flags = getattr(sys, "abiflags", "")
        abi = interpreter + ("t" if free_threaded else "") + ("m" if (major, minor) < (3, 8) and "m" in flags else "")
        abis = [abi] + ([] if free_threaded else ["abi3"]) + ["none"]
    else:
        interpreter = "pp%d%d" % (major, minor) if name == "pypy" else "%s%d%d" % (name, major, minor)
        soabi = sysconfig.get_config_var("SOABI") or ""
        abis = [soabi.replace("-", "_").replace(".", "_")] if soabi else []
        abis.append("none")
    return {"interpreter": interpreter, "abis": abis, "platforms": platform_tags(unknown)}


def platform_tags(unknown):
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    if sys.platform.startswith("linux"):
        return linux_platform_tags(plat, unknown)
    if sys.platform == "darwin":
        return mac_platform_tags()
    return [plat]


def linux_platform_tags(plat, unknown):
    arch = plat[len("linux_") :]
    if struct.calcsize("P") == 4:
        # A 32-bit interpreter on a 64-bit kernel installs 32-bit wheels (packaging's _32_BIT_INTERPRETER).
        arch = {"x86_64": "i686", "aarch64": "armv7l"}.get(arch, arch)
    tags = []
    glibc = glibc_version()
    musl = None if glibc else musl_version(unknown)
    if glibc:
        lowest = 5 if arch in ("x86_64", "i686") else 17
        for glibc_minor in range(glibc[1], lowest - 1, -1):
            tags.append("manylinux_2_%d_%s" % (glibc_minor, arch))
            legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}.get(glibc_minor)
            if legacy and (glibc_minor == 17 or arch in ("x86_64", "i686")):
                tags.append("%s_%s" % (legacy, arch))
    elif musl:
        tags.extend("musllinux_%d_%d_%s" % (musl[0], musl_minor, arch) for musl_minor in range(musl[1], -1, -1))
    tags.append("linux_%s" % arch)
    return tags


def mac_platform_tags():
    import platform

    release, _, machine = platform.mac_ver()
    parts = [int(part) for part in (release or "10.16").split(".")[:2]] + [0]
    major, minor = parts[0], parts[1]
    arch = machine or platform.machine()
    versions = [(release_major, 0) for release_major in range(major, 10, -1)] if major >= 11 else []
    versions += [(10, release_minor) for release_minor in range(min(minor, 16) if major == 10 else 16, 3, -1)]
    arches = [arch, "universal2"] if arch in ("arm64", "x86_64") else [arch]
    return ["macosx_%d_%d_%s" % (version + (name,)) for version in versions for name in arches]


def glibc_version():
    """(major, minor) of the C library this interpreter runs on, None where it is not glibc."""
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
    except (AttributeError, OSError, ValueError):
        return None
    match = re.match(r"glibc (\d+)\.(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def musl_version(unknown):
    import subprocess

    loader = elf_interpreter(sys.executable)
    if not loader or "musl" not in loader:
        return None
    try:
        completed = subprocess.Popen([loader], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, err = completed.communicate(timeout=3)
    except (OSError, subprocess.TimeoutExpired):
        unknown["musl"] = "the musl loader %s did not run" % loader
        return (1, 0)
    match = re.search(r"Version (\d+)\.(\d+)", err.decode("utf-8", "replace"))
    return (int(match.group(1)), int(match.group(2))) if match else (1, 0)


def elf_interpreter(path):
    """The PT_INTERP string of an ELF executable (packaging's _elffile, reduced to what is needed)."""
    try:
        with open(path, "rb") as handle:
            ident = handle.read(16)
            if ident[:4] != b"\x7fELF":
                return None
            bits = {1: 32, 2: 64}.get(ident[4])
            order = {1: "<", 2: ">"}.get(ident[5])
            if not bits or not order:
                return None
            header = handle.read(48 if bits == 64 else 36)
            if bits == 64:
                (phoff,) = struct.unpack(order + "Q", header[16:24])
                phentsize, phnum = struct.unpack(order + "HH", header[38:42])
            else:
                (phoff,) = struct.unpack(order + "I", header[12:16])
                phentsize, phnum = struct.unpack(order + "HH", header[26:30])
            for number in range(phnum):
                handle.seek(phoff + number * phentsize)
                entry = handle.read(phentsize)
                if struct.unpack(order + "I", entry[:4])[0] != 3:  # PT_INTERP
                    continue
                if bits == 64:
                    (offset,) = struct.unpack(order + "Q", entry[8:16])
                    (size,) = struct.unpack(order + "Q", entry[32:40])
                else:
                    (offset,) = struct.unpack(order + "I", entry[4:8])
                    (size,) = struct.unpack(order + "I", entry[16:20])
                handle.seek(offset)
                return handle.read(size).rstrip(b"\0").decode("ascii", "replace")
    except (OSError, struct.error):
        return None
    return None


# --- pip -------------------------------------------------------------------------------------


def pip_facts(unknown):
    spec = find_spec("pip")
    version = None
    if spec is not None and spec.origin:
        version = read_version_assignment(spec.origin)
        if version is None:
            unknown["version"] = "no __version__ in %s" % spec.origin
    return {
        "present": spec is not None,
        "version": version,
        "location": os.path.dirname(spec.origin) if spec is not None and spec.origin else None,
        "ensurepip": ensurepip_facts(),
        "config": pip_config(os.environ, unknown),
    }


def read_version_assignment(path):
    try:
        with open(path, encoding="utf-8") as handle:
            match = re.search(r"^__version__\s*=\s*[\"']([^\"']+)[\"']", handle.read(), flags=re.MULTILINE)
    except OSError:
        return None
    return match.group(1) if match else None


def ensurepip_facts():
    """Whether ``python -m ensurepip`` can install pip offline here, which pip it carries, and
    whether a venv made from this interpreter gets pip (Debian disables the first, not the second)."""
    spec = find_spec("ensurepip")
    if spec is None or not spec.origin:
        return {"available": False, "bundled_pip": None, "seeds_venv": False, "reason": "no ensurepip module"}
    package_dir = os.path.dirname(spec.origin)
    wheels = []
    for directory in (os.path.join(package_dir, "_bundled"), sysconfig.get_config_var("WHEEL_PKG_DIR")):
        if directory and os.path.isdir(directory):
            wheels.extend(name for name in os.listdir(directory) if name.startswith("pip-") and name.endswith(".whl"))
    wheels.sort()
    bundled = wheels[-1].split("-")[1] if wheels else None
    with open(spec.origin, encoding="utf-8") as handle:
        source = handle.read()
    in_venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
    if "ensurepip is disabled in Debian/Ubuntu for the system python" in source and not in_venv:
        return {"available": False, "bundled_pip": bundled, "seeds_venv": bool(wheels), "reason": "disabled by Debian/Ubuntu for the system Python"}
    if not wheels:
        return {"available": False, "bundled_pip": None, "seeds_venv": False, "reason": "no bundled pip wheel"}
    return {"available": True, "bundled_pip": bundled, "seeds_venv": True, "reason": None}


def pip_config_files(environ):
    """pip's configuration files in load order, each tagged with its variant (pip's configuration.py)."""
    files = []
    if sys.platform == "win32":
        files.append(("global", os.path.join(environ.get("PROGRAMDATA", "C:\\ProgramData"), "pip", "pip.ini")))
    else:
        if sys.platform == "darwin":
            files.append(("global", "/Library/Application Support/pip/pip.conf"))
        xdg_dirs = environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
        files.extend(("global", os.path.join(d, "pip", "pip.conf")) for d in xdg_dirs.split(os.pathsep) if d)
        files.append(("global", "/etc/pip.conf"))
    config_file = environ.get("PIP_CONFIG_FILE")
    if not (config_file and os.path.exists(config_file)):
        home = os.path.expanduser("~")
        name = "pip.ini" if sys.platform == "win32" else "pip.conf"
        if sys.platform == "win32":
            files.append(("user", os.path.join(home, "pip", name)))
            files.append(("user", os.path.join(environ.get("APPDATA", home), "pip", name)))
        else:
            files.append(("user", os.path.join(home, ".pip", name)))
            mac_dir = os.path.join(home, "Library", "Application Support", "pip")
            if sys.platform == "darwin" and os.path.isdir(mac_dir):
                files.append(("user", os.path.join(mac_dir, name)))
            else:
                files.append(("user", os.path.join(environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"), "pip", name)))
    files.append(("site", os.path.join(sys.prefix, "pip.ini" if sys.platform == "win32" else "pip.conf")))
    if config_file:
        files.append(("env", config_file))
    return files


def pip_config(environ, unknown):
    """The values pip's ``install`` command would use for PIP_KEYS, each with where it came from.

    Files load in order, later ones winning; ``[install]`` beats ``[global]`` within a file;
    ``PIP_<KEY>`` variables beat every file. ``PIP_CONFIG_FILE=os.devnull`` turns files off.
    """
    settings = {}
    files_read = []
    errors = []
    looked_in = []
    if environ.get("PIP_CONFIG_FILE") != os.devnull:
        for variant, path in pip_config_files(environ):
            looked_in.append(path)
            if not os.path.isfile(path):
                continue
            import configparser

            parser = configparser.RawConfigParser()
            try:
                parser.read(path, encoding="utf-8")
            except (configparser.Error, UnicodeDecodeError) as error:
                # pip refuses every command over such a file: a fact, not an unknown.
                errors.append({"path": path, "error": redact(str(error).splitlines()[0])})
                continue
            files_read.append({"variant": variant, "path": path})
            for section in ("global", "install"):
                if parser.has_section(section):
                    for key in PIP_KEYS:
                        value = parser.get(section, key, fallback=None)
                        if value is None:
                            value = parser.get(section, key.replace("-", "_"), fallback=None)
                        if value is not None:
                            settings[key] = {"value": value, "source": "%s [%s]" % (path, section)}
    for key in PIP_KEYS:
        variable = "PIP_" + key.upper().replace("-", "_")
        if variable in environ:
            settings[key] = {"value": environ[variable], "source": variable}
    for key, setting in settings.items():
        value = setting["value"]
        setting["value"] = [redact_value(item) for item in list_items(value)] if key in PIP_LIST_KEYS else redact_value(value.strip())
        if key in PIP_FILE_KEYS:
            setting["exists"] = os.path.exists(value.strip())
    constraint_files = settings["constraint"]["value"] if "constraint" in settings else []
    # looked_in: every file pip would read, in order, there or not (what -v shows)
    return {"files": files_read, "settings": settings, "errors": errors, "looked_in": looked_in, "torch_constraints": torch_constraints(constraint_files)}


def torch_constraints(paths):
    """The lines of pip's configured constraint files that name torch ("torch<=2.14.1"), each with
    its file: pip refuses any other torch, so a plan must stay within them. A URL is not read."""
    found = []
    for path in paths:
        if "://" in path:
            continue
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                lines = handle.read(1 << 20).splitlines()
        except OSError:
            continue
        for line in lines:
            requirement = re.sub(r"(^|\s)#.*", "", line).strip()  # pip's comments: at the start, or after a blank
            if re.match(r"torch(?![\w.-])", requirement, re.IGNORECASE):
                found.append({"file": path, "requirement": redact(requirement)})  # "torch @ URL" may hold credentials
    return found


# --- TLS -------------------------------------------------------------------------------------

CA_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT")
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "PIP_PROXY")


def tls_facts(unknown):
    facts = {
        "ssl_importable": False,
        "ssl_error": None,
        "ssl_extension": None,
        "openssl_version": None,
        "openssl_version_info": None,
        "ca_bundles": [],
        "proxies": proxy_settings(os.environ),
    }
    spec = find_spec("_ssl")
    facts["ssl_extension"] = spec.origin if spec is not None else None
    try:
        # _ssl is what `import ssl` fails on, and importing it alone skips ssl.py's costly set-up.
        import _ssl
    except ImportError as error:
        facts["ssl_error"] = "%s: %s" % (type(error).__name__, error)
        unknown["openssl_version"] = "the ssl module does not import"
    else:
        facts["ssl_importable"] = True
        facts["openssl_version"] = _ssl.OPENSSL_VERSION
        facts["openssl_version_info"] = list(_ssl.OPENSSL_VERSION_INFO[:3])
        # As ssl.get_default_verify_paths() computes them: the variable OpenSSL reads, else its built-in path.
        cafile_variable, cafile, capath_variable, capath = _ssl.get_default_verify_paths()
        facts["ca_bundles"].append(ca_entry("ssl default cafile", os.environ.get(cafile_variable, cafile)))
        facts["ca_bundles"].append(ca_directory_entry("ssl default capath", os.environ.get(capath_variable, capath)))
    for variable in CA_VARIABLES:
        if os.environ.get(variable):
            entry = ca_directory_entry if variable == "SSL_CERT_DIR" else ca_entry
            facts["ca_bundles"].append(entry(variable, os.environ[variable]))
    certifi = find_spec("certifi")
    if certifi is not None and certifi.origin:
        facts["ca_bundles"].append(ca_entry("certifi", os.path.join(os.path.dirname(certifi.origin), "cacert.pem")))
    return facts


def ca_entry(source, path):
    return {"source": source, "path": path, "exists": bool(path) and os.path.exists(path)}


# OpenSSL reads a certificate directory by subject hash only (c_rehash names: 9d6523ce.0), as truststore checks.
_HASHED_NAME = re.compile(r"^[0-9a-fA-F]{8}\.[0-9]$")


def ca_directory_entry(source, path):
    """A certificate directory (OpenSSL takes a list of them) and whether one holds a certificate OpenSSL would read."""
    directories = [directory for directory in (path or "").split(os.pathsep) if os.path.isdir(directory)]
    names = []
    for directory in directories:
        try:
            names.extend(os.listdir(directory))
        except OSError:
            continue
    return {"source": source, "path": path, "exists": bool(directories), "holds_certificates": any(_HASHED_NAME.match(name) for name in names)}


def proxy_settings(environ):
    found = {}
    for variable in PROXY_VARIABLES:
        for spelling in (variable, variable.lower()):
            if environ.get(spelling):
                found[spelling] = redact_value(environ[spelling])
    return found


# --- platform --------------------------------------------------------------------------------


def platform_facts(unknown):
    glibc = glibc_version()
    if os.name == "nt" or sys.platform == "darwin":
        import platform  # only here: os.uname() answers on Linux, and platform costs start-up time

        system, machine, release = platform.system(), platform.machine(), platform.release()
    else:
        uname = os.uname()
        system, machine, release = uname.sysname, uname.machine, uname.release
    facts = {
        "sys_platform": sys.platform,
        "system": system,
        "machine": machine,
        "release": release,
        "libc": "glibc" if glibc else None,
        "libc_version": "%d.%d" % glibc if glibc else None,
        "mac_version": platform.mac_ver()[0] or None if sys.platform == "darwin" else None,
        "windows_version": platform.win32_ver()[1] or None if os.name == "nt" else None,
        "long_paths_enabled": windows_long_paths() if os.name == "nt" else None,
        "clock": time.time(),
    }
    if sys.platform.startswith("linux") and not glibc:
        loader = elf_interpreter(sys.executable)
        if loader and "musl" in loader:
            version = musl_version(unknown)
            facts["libc"], facts["libc_version"] = "musl", "%d.%d" % version
        else:
            unknown["libc_version"] = "neither glibc nor musl was recognised"
    return facts


def windows_long_paths():
    """Whether Windows lets paths exceed 260 characters (LongPathsEnabled); None where it cannot be read."""
    try:
        import winreg

        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SYSTEM\CurrentControlSet\Control\FileSystem") as key:
            return winreg.QueryValueEx(key, "LongPathsEnabled")[0] == 1
    except (ImportError, OSError):
        return None


def collect():
    sections = {}
    for name, gather in (
        ("interpreter", interpreter_facts),
        ("platform", platform_facts),
        ("pip", pip_facts),
        ("tls", tls_facts),
    ):
        unknown = {}
        try:
            sections[name] = gather(unknown)
        except Exception as error:  # one broken section must not cost the others
            sections[name] = None
            unknown["*"] = "%s: %s" % (type(error).__name__, error)
        sections[name + "_unknown"] = unknown
    sections["probe_schema"] = PROBE_SCHEMA
    return sections


def main(answer):
    """The facts, as one JSON document, written to ``answer`` (a file of torchup's own, not stdout);
    then this interpreter ends."""
    json.dump(collect(), answer)
    answer.write("\n")
    answer.flush()
    # torchup waits for this interpreter to end, and its teardown frees every object one by one, a
    # tenth of what the probe takes. So the target's own exit handlers run (what they print is the
    # target's, shown under -v), its streams are flushed, and the interpreter ends without it; only
    # what C code printed and never flushed is lost.
    import atexit

    try:
        atexit._run_exitfuncs()  # each handler's error is reported as at exit (3.9 and 3.10 raise the last again)
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a stream a site replaced, or closed: nothing more of it to keep
            pass
    os._exit(0)


if __name__ == "__main__":
    main(sys.stdout)
