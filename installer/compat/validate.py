"""The rules :func:`installer.compat.load` checks before anyone reads the data.

Every name a row uses must lead somewhere: a CUDA build to its driver floor and its
architecture set, a ROCm build to its architectures, a row's source to a public address. Every
version must parse. A new row that lacks its companion row then stops loading with the row
named, instead of loading fine and failing later, inside a plan, as a bare KeyError.
"""

import re
from typing import Dict, Optional, Tuple

from . import PLATFORMS, SCHEMA, Build, BuildKind, CompatibilityDataError, VersionRange, version_tuple

# Each form a value must have: its pattern, compiled once (the data has some thousand values), and its name.
RELEASE = (re.compile(r"\d+\.\d+\.\d+"), "a release version X.Y.Z")
TWO_PART = (re.compile(r"\d+\.\d+"), "a version X.Y")
DOTTED = (re.compile(r"\d+(\.\d+)*"), "a dotted version")
COMPUTE_CAPABILITY = (re.compile(r"\d+\.\d+"), "a compute capability X.Y")
GFX = (re.compile(r"gfx[0-9a-f]+"), "an AMD gfx architecture")
SOURCE_KEY = re.compile(r"[a-z0-9][a-z0-9.-]*")  # what Compatibility.cite finds in a row's source text
PTX_OS = ("linux", "windows")
JETSON_WHEELS = ("sbsa", "jetson-wheels")
COMPANIONS = ("torchvision", "torchaudio")
PCI_DEVICE = (re.compile(r"[0-9a-f]{4}"), "a PCI device id, four lower-case hex digits")
XPU_SYSTEMS = ("linux", "windows")
ADVISORY_ID = (re.compile(r"(PYSEC-\d{4}-\d+|GHSA(-[23456789cfghjmpqrvwx]{4}){3}|CVE-\d{4}-\d+)"), "an advisory id (PYSEC-…, GHSA-…, CVE-…)")
UNVERIFIED = "not verified"
KIND_NAMES: Dict[type, str] = {str: "text", int: "a whole number", bool: "true or false", list: "a list", dict: "an object"}


class _Broken(Exception):
    def __init__(self, where: str, problem: str):
        super().__init__(where, problem)
        self.where, self.problem = where, problem


def check(raw: dict, file_name: str) -> None:
    """Raise :class:`CompatibilityDataError` naming the file and the first row that breaks a rule."""
    try:
        _check(raw)
    except _Broken as broken:
        raise CompatibilityDataError(f"{file_name}: {broken.where}: {broken.problem}") from None


def _check(raw: dict) -> None:
    _object(raw, "the document")
    if raw.get("schema") != SCHEMA:
        raise _Broken("schema", f"{raw.get('schema')!r}: this torchup reads schema {SCHEMA}")
    sources = _field(raw, "sources", "the document", dict)
    for key, text in sources.items():
        _source_entry(key, text)
    arch_sets = _field(raw, "cuda_arch_sets", "the document", dict)
    for name, row in arch_sets.items():
        _arch_set(row, f"cuda_arch_sets[{name}]", sources)
    families = _field(raw, "gpu_families", "the document", dict)
    for cc, family in _field(families, "by_compute_capability", "gpu_families", dict).items():
        _matches(cc, f"gpu_families.by_compute_capability[{cc}]", COMPUTE_CAPABILITY)
        if not isinstance(family, str) or not family:
            raise _Broken(f"gpu_families.by_compute_capability[{cc}]", "must name the architecture or the products")
    _cited(families, "gpu_families", sources)
    drivers = _field(raw, "nvidia_drivers", "the document", dict)
    floors = {}
    for index, row in enumerate(_field(drivers, "floors", "nvidia_drivers", list)):
        where = f"nvidia_drivers.floors[{index}]"
        major = _field(row, "cuda_major", where, int)
        if major in floors:
            raise _Broken(where, f"a second row for CUDA {major}")
        floors[major] = row
        for system in ("linux", "windows"):
            _version(row, system, where, DOTTED)
        _cited(row, where, sources)
    for index, row in enumerate(_field(drivers, "toolkits", "nvidia_drivers", list)):
        where = f"nvidia_drivers.toolkits[{index}]"
        _version(row, "cuda", where, TWO_PART)
        for system in ("linux", "windows"):
            _version(row, system, where, DOTTED, optional=True)
        _cited(row, where, sources)
    limits = _field(drivers, "minor_version_limits", "nvidia_drivers", dict)
    if not _field(limits, "limits", "nvidia_drivers.minor_version_limits", list) or not all(isinstance(line, str) and line for line in limits["limits"]):
        raise _Broken("nvidia_drivers.minor_version_limits.limits", "must list, in words, what minor-version compatibility limits")
    _cited(limits, "nvidia_drivers.minor_version_limits", sources)
    rocm = {}
    for index, row in enumerate(_field(raw, "rocm_architectures", "the document", list)):
        where = f"rocm_architectures[{index}]"
        variant = _field(row, "variant", where)
        build = Build.parse(variant)
        if build is None or build.kind is not BuildKind.ROCM:
            raise _Broken(f"{where}.variant", f"{variant!r} is not a ROCm build name (rocmX.Y)")
        rocm[variant] = row
        for gfx in _field(row, "gfx", where, list):
            _matches(gfx, f"rocm_architectures[{variant}].gfx", GFX)
        _cited(row, f"rocm_architectures[{variant}]", sources, verified=_field(row, "verified", where, bool))
    companions = _field(raw, "companion_releases", "the document", dict)
    for name, rows in companions.items():
        if name not in COMPANIONS:
            raise _Broken(f"companion_releases[{name}]", f"not a companion torchup plans ({', '.join(COMPANIONS)})")
        for version, row in _object(rows, f"companion_releases[{name}]").items():
            where = f"companion_releases[{name}][{version}]"
            _matches(version, where, DOTTED)
            _version(row, "built_for", where, RELEASE)
            declared = _field(row, "torch", where)
            if VersionRange.parse(declared) is None:
                raise _Broken(f"{where}.torch", f"{declared!r} is not a range of torch releases (==2.14.0, >=2.14, <2.6.0, joined by commas)")
            _cited(row, where, sources)
    versions = set()
    for index, release in enumerate(_field(raw, "releases", "the document", list)):
        version = _version(release, "version", f"releases[{index}]", RELEASE)
        if version in versions:
            raise _Broken(f"releases[{version}]", "a second row for this release")
        versions.add(version)
        _release(release, f"releases[{version}]", sources, arch_sets, floors, rocm, companions)
    for index, row in enumerate(_field(raw, "jetson", "the document", list)):
        where = f"jetson[{index}]"
        start = _version(row, "l4t_from", where, DOTTED)
        end = _version(row, "l4t_to", where, DOTTED, optional=True)
        if end and version_tuple(end) <= version_tuple(start):
            raise _Broken(f"{where}.l4t_to", f"{end} is not after l4t_from {start}")
        _field(row, "name", where)
        wheels = _field(row, "builds", where)
        if wheels not in JETSON_WHEELS:
            raise _Broken(f"{where}.builds", f"{wheels!r} is none of {', '.join(JETSON_WHEELS)}")
        cuda = _version(row, "cuda", where, TWO_PART, optional=True)
        if wheels == "sbsa" and cuda is None:
            raise _Broken(where, "a board that runs the SBSA builds must name the CUDA its driver provides")
        if wheels == "jetson-wheels":
            _version(row, "python", where, TWO_PART)
            wheel = _field(row, "wheel", where, dict, optional=True)
            if wheel is None and not _field(row, "last", where, optional=True):
                raise _Broken(where, "a board on NVIDIA's wheels names the wheel torchup plans, or says what NVIDIA published for it ('last')")
            if wheel is not None:
                build = Build.parse(_field(wheel, "variant", f"{where}.wheel"))
                if build is None or build.kind is not BuildKind.JETSON:
                    raise _Broken(f"{where}.wheel.variant", f"{wheel['variant']!r} is not a JetPack build name (jp61, jp512)")
                _field(wheel, "torch", f"{where}.wheel")
                if _field(wheel, "note", f"{where}.wheel", optional=True):
                    _keys(wheel, f"{where}.wheel", sources, field="note_source")
                _public_url(_field(wheel, "url", f"{where}.wheel"), f"{where}.wheel.url")
                tag = "cp" + row["python"].replace(".", "")
                if not wheel["url"].endswith(f"-{tag}-{tag}-linux_aarch64.whl") and not wheel["url"].endswith(f"-{tag}-{tag}m-linux_aarch64.whl"):
                    raise _Broken(f"{where}.wheel.url", f"not a Linux aarch64 wheel for Python {row['python']} ({tag})")
        _cited(row, where, sources)
    seen = set()
    for index, row in enumerate(_field(raw, "advisories", "the document", list)):
        where = f"advisories[{index}]"
        advisory = _field(row, "id", where)
        _matches(advisory, f"{where}.id", ADVISORY_ID)
        if advisory in seen:
            raise _Broken(f"{where}.id", f"{advisory} has a row already")
        seen.add(advisory)
        where = f"advisories[{advisory}]"
        for alias in _field(row, "aliases", where, list):
            _matches(alias, f"{where}.aliases", ADVISORY_ID)
        affected = VersionRange.parse(_field(row, "affected", where))
        if affected is None:
            raise _Broken(f"{where}.affected", f"{row['affected']!r} is not a range of torch releases (<2.6.0, <=2.6.0, ==2.6.0, joined by commas)")
        fixed = _version(row, "fixed", where, DOTTED, optional=True)
        if fixed and affected.contains(fixed):
            raise _Broken(f"{where}.fixed", f"{fixed} is in the range it is said to fix ({row['affected']})")
        _field(row, "impact", where)
        _cited(row, where, sources)
    intel = _field(raw, "intel_gpus", "the document", dict)
    owner: Dict[str, str] = {}
    for index, row in enumerate(_field(intel, "families", "intel_gpus", list)):
        where = f"intel_gpus.families[{index}]"
        family = _field(row, "family", where)
        _field(row, "products", where)
        for device in _field(row, "pci_ids", where, list):
            _matches(device, f"{where}.pci_ids", PCI_DEVICE)
            if device in owner:
                raise _Broken(f"{where}.pci_ids", f"8086:{device} is already a {owner[device]}")
            owner[device] = family
        for system, series in _field(row, "xpu", where, dict).items():
            if system not in XPU_SYSTEMS:
                raise _Broken(f"{where}.xpu[{system}]", f"not an OS with XPU builds ({', '.join(XPU_SYSTEMS)})")
            _matches(series, f"{where}.xpu[{system}]", TWO_PART)
        _cited(row, where, sources)
    driver = _field(intel, "driver", "intel_gpus", dict)
    for key in ("library", "install"):
        _field(driver, key, "intel_gpus.driver")
    _cited(driver, "intel_gpus.driver", sources)
    backends = _field(raw, "uv_torch_backends", "the document", dict)
    for name in _field(backends, "names", "uv_torch_backends", list):
        build = Build.parse(name) if isinstance(name, str) else None
        if build is None or build.kind in (BuildKind.DEFAULT, BuildKind.JETSON):
            raise _Broken("uv_torch_backends.names", f"{name!r} is not a build of the download index")
    _cited(backends, "uv_torch_backends", sources)
    numpy = _field(raw, "numpy", "the document", dict)
    _version(numpy, "numpy2_from_torch", "numpy", TWO_PART)
    _cited(numpy, "numpy", sources)
    sizes = _field(raw, "sizes", "the document", dict)
    for kind, gb in _field(sizes, "gb", "sizes", dict).items():
        if kind not in {member.value for member in BuildKind}:
            raise _Broken(f"sizes.gb[{kind}]", "not a kind of build (cpu, cuda, rocm, xpu, default)")
        if not isinstance(gb, (int, float)) or isinstance(gb, bool) or gb <= 0:
            raise _Broken(f"sizes.gb[{kind}]", f"{gb!r} is not a size in GB")
    _cited(sizes, "sizes", sources)
    mps = _field(raw, "mps", "the document", dict)
    _version(mps, "macos_min", "mps", TWO_PART)
    _cited(mps, "mps", sources)
    index = _field(raw, "index", "the document", dict)
    for key in ("default_base", "pypi"):
        _public_url(_field(index, key, "index"), f"index.{key}")
    _cited(index, "index", sources)


def _release(release: dict, where: str, sources: dict, arch_sets: dict, floors: dict, rocm: dict, companions: dict) -> None:
    version = release["version"]
    series = _field(release, "series", where)
    if series != version.rsplit(".", 1)[0]:
        raise _Broken(f"{where}.series", f"{series!r} is not the series of {version}")
    python = _field(release, "python", where, dict)
    low = _version(python, "min", f"{where}.python", TWO_PART)
    high = _version(python, "max", f"{where}.python", TWO_PART)
    if version_tuple(low) > version_tuple(high):
        raise _Broken(f"{where}.python", f"min {low} is above max {high}")
    for free_threaded in _field(python, "free_threaded", f"{where}.python", list):
        _matches(free_threaded, f"{where}.python.free_threaded", TWO_PART)
    _keys(python, f"{where}.python", sources)
    platforms = _field(release, "platforms", where, dict)
    for platform, row in platforms.items():
        at = f"{where}.platforms[{platform}]"
        if platform not in PLATFORMS:
            raise _Broken(at, f"not a platform torchup knows ({', '.join(PLATFORMS)})")
        _platform(row, at, sources, arch_sets, floors, rocm)
    _field(release, "builds_verified", where, bool)
    defaults = _field(release, "pypi_default", where, dict)
    for platform, name in defaults.items():
        if platform == "source":
            continue
        builds = platforms.get(platform, {}).get("builds", {})
        if name not in builds:
            raise _Broken(f"{where}.pypi_default[{platform}]", f"{name!r} is not a build of this release for {platform}")
    _keys(defaults, f"{where}.pypi_default", sources)
    for name, companion in _field(release, "companions", where, dict).items():
        if companion is None:
            continue
        at = f"{where}.companions[{name}]"
        row = companions.get(name, {}).get(companion)
        if row is None:
            raise _Broken(at, f"{name} {companion} has no companion_releases row")
        # A plan never pairs a companion with a torch release it does not declare it works with.
        if not VersionRange.parse(row["torch"]).contains(version):
            raise _Broken(at, f"{name} {companion} was built for torch {row['built_for']} and declares torch{row['torch']}, not {version}")
    _keys(release, where, sources, field="companions_source")
    _field(release, "note", where, optional=True)


def _platform(row: dict, where: str, sources: dict, arch_sets: dict, floors: dict, rocm: dict) -> None:
    builds = _field(row, "builds", where, dict)
    if not builds:
        raise _Broken(where, "lists no builds")
    for name, arch_set in builds.items():
        at = f"{where}.builds[{name}]"
        build = Build.parse(name)
        if build is None:
            raise _Broken(at, "not a build name torchup knows (cpu, xpu, default, cuXYZ, rocmX.Y)")
        if build.kind is BuildKind.CUDA:
            if build.version[0] not in floors:
                raise _Broken(at, f"CUDA {build.version[0]} has no nvidia_drivers.floors row")
            if arch_set not in arch_sets:
                raise _Broken(at, f"its architecture set {arch_set!r} is not in cuda_arch_sets")
        elif arch_set is not None:
            raise _Broken(at, f"only a CUDA build names an architecture set, not {arch_set!r}")
        if build.kind is BuildKind.JETSON:
            raise _Broken(at, "NVIDIA's Jetson wheels are no build of a release: they belong in the jetson rows")
        if build.kind is BuildKind.ROCM and name not in rocm:
            raise _Broken(at, f"{name} has no rocm_architectures row")
    for key, system in (("glibc", TWO_PART), ("macos", TWO_PART), ("python_max", TWO_PART)):
        _version(row, key, where, system, optional=True)
    for name, why in (_field(row, "unverified", where, dict, optional=True) or {}).items():
        if name not in builds:
            raise _Broken(f"{where}.unverified[{name}]", "not a build of this platform")
        if not isinstance(why, str) or not why:
            raise _Broken(f"{where}.unverified[{name}]", "must say why the build is not verified")
    keys = _field(row, "source", where, list)
    if not keys:
        raise _Broken(f"{where}.source", "names no source")
    for key in keys:
        if key not in sources:
            raise _Broken(f"{where}.source", f"{key!r} is not a key of sources")


def _arch_set(row: dict, where: str, sources: dict) -> None:
    for cc in _field(row, "sass", where, list):
        _matches(cc, f"{where}.sass", COMPUTE_CAPABILITY)
    _version(row, "ptx", where, COMPUTE_CAPABILITY, optional=True)
    for system in _field(row, "ptx_os", where, list, optional=True) or ():
        if system not in PTX_OS:
            raise _Broken(f"{where}.ptx_os", f"{system!r} is none of {', '.join(PTX_OS)}")
    _cited(row, where, sources, verified=_field(row, "verified", where, bool))


def _source_entry(key: str, text) -> None:
    where = f"sources[{key}]"
    if not SOURCE_KEY.fullmatch(key):
        raise _Broken(where, "a source key is lower-case letters, digits, '.' and '-'")
    if not isinstance(text, str):
        raise _Broken(where, "not text")
    url = re.search(r"https://[^\s,;()']+", text)
    if url is None:
        raise _Broken(where, "holds no https:// address: every source must be public")
    _public_url(url.group(0), where)


# https://HOST[:PORT][/…]: read with a pattern, since urllib.parse costs start-up time every command would pay.
_HTTPS_HOST = re.compile(r"https://([^/:?#\s]+)(:\d+)?([/?#]\S*)?")


def _public_url(url: str, where: str) -> None:
    address = _HTTPS_HOST.fullmatch(url)
    host = address.group(1).lower() if address else ""
    if not address or "." not in host or host == "localhost" or re.fullmatch(r"[\d.]+", host):
        raise _Broken(where, f"{url} is not a public https:// address")


_NOTE = re.compile(r"\([^()]*\)")
_BETWEEN_KEYS = re.compile(r"[;,]|\s+and\s+")


def _cited(row: dict, where: str, sources: dict, verified: Optional[bool] = None) -> None:
    """A row's free-text ``source``: keys of ``sources`` joined by ';', ',' or 'and', each maybe
    followed by a note in parentheses; or "not verified", alone or before ':' and keys. Where the
    row has a ``verified`` flag, the two must agree."""
    text = _field(row, "source", where)
    unverified = text.startswith(UNVERIFIED)
    cited = text[len(UNVERIFIED) :].lstrip(": ") if unverified else text
    outside_notes = _NOTE.sub(" ", cited)
    keys = [key.strip() for key in _BETWEEN_KEYS.split(outside_notes) if key.strip()]
    for key in keys:
        if key not in sources:
            raise _Broken(f"{where}.source", f"{key!r} is not a key of sources")
    if not keys and not unverified:
        raise _Broken(f"{where}.source", f"{UNVERIFIED!r} or keys of sources, not {text!r}")
    if verified is not None and verified == unverified:
        raise _Broken(where, f"'verified' is {str(verified).lower()}, and its source {'says' if unverified else 'does not say'} {UNVERIFIED!r}")


def _keys(row: dict, where: str, sources: dict, field: str = "source") -> None:
    """A ``source`` that is one key of ``sources``."""
    key = _field(row, field, where)
    if key not in sources:
        raise _Broken(f"{where}.{field}", f"{key!r} is not a key of sources")


def _object(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise _Broken(where, "not a JSON object")
    return value


def _field(row, key: str, where: str, kind: type = str, optional: bool = False):
    value = _object(row, where).get(key)
    if value is None:
        if optional:
            return None
        raise _Broken(where, f"{key!r} is missing")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Broken(f"{where}.{key}", f"{value!r} is not {KIND_NAMES[kind]}")
    return value


def _version(row, key: str, where: str, form: Tuple[str, str], optional: bool = False) -> Optional[str]:
    value = _field(row, key, where, optional=optional)
    if value is not None:
        _matches(value, f"{where}.{key}", form)
    return value


def _matches(value, where: str, form: Tuple[str, str]) -> None:
    pattern, what = form
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _Broken(where, f"{value!r} is not {what}")
