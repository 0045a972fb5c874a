"""The bundled compatibility data (compatibility.json beside this file), as small typed views.

The one place every compatibility fact lives: detection (MPS's macOS floor), planning, the
findings, bundles and project checks all read it from here, and it imports nothing of theirs.
Standard library only: `torchup fix` and the setup preflight read it before any package is installed.

The JSON is the reviewed artefact: every row names keys of its "sources" map, and rows whose
facts are inferred rather than read from a source say so (``"verified": false`` on an
architecture set, an ``"unverified"`` reason on a build). Everything is parsed once, here:
the rest of the planner works with :class:`Build`, :class:`PlatformRow` and :class:`Release`.
"""

import enum
import json
import os
import re
from functools import lru_cache
from typing import Dict, List, NamedTuple, Optional, Tuple

DATA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compatibility.json")
SCHEMA = 1  # the shape of compatibility.json this code reads
# The platforms wheels are published for, a closed set: a row naming another fails to load.
PLATFORMS = {
    "linux-x86_64": "Linux x86_64",
    "linux-aarch64": "Linux aarch64",
    "windows-x86_64": "Windows x86_64",
    "macos-arm64": "macOS arm64",
    "macos-x86_64": "macOS x86_64",
}


# One comparison of a VersionRange: an operator and a release.
RANGE_CLAUSE = re.compile(r"(==|>=|<=|>|<)(\d+(?:\.\d+)*)")


class CompatibilityDataError(ValueError):
    """compatibility.json breaks a rule ``load`` checks; the message names the file and the row."""


def version_tuple(text: str) -> Tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _without_trailing_zeros(numbers: Tuple[int, ...]) -> Tuple[int, ...]:
    """Release numbers compared as versions are: (37,) and (37, 0) are one release."""
    while numbers and numbers[-1] == 0:
        numbers = numbers[:-1]
    return numbers


def release_tuple(text: str) -> Tuple[int, ...]:
    """The release numbers a version starts with: ``2.13.0+cpu`` and ``2.5.0a0+872d972e41.nv24.08`` give (2, 13, 0) and (2, 5, 0)."""
    match = re.match(r"\d+(?:\.\d+)*", text)
    return version_tuple(match.group(0)) if match else ()


class VersionRange(NamedTuple):
    """A range of torch releases as the data writes it: comparisons joined by commas (``>=2.14``,
    ``<2.6.0``, ``>=2.5.0,<=2.7.1``), judged on the release numbers alone (local tags ignored)."""

    text: str
    clauses: Tuple[Tuple[str, Tuple[int, ...]], ...]

    @classmethod
    def parse(cls, text: str) -> Optional["VersionRange"]:
        parts = [part.strip() for part in text.split(",")]
        matches = [RANGE_CLAUSE.fullmatch(part) for part in parts]
        if not parts or not all(matches):
            return None
        return cls(text, tuple((match.group(1), version_tuple(match.group(2))) for match in matches))

    def contains(self, version: str) -> bool:
        found = release_tuple(version)
        for operator, bound in self.clauses:
            width = max(len(found), len(bound))
            left, right = found + (0,) * (width - len(found)), bound + (0,) * (width - len(bound))
            if not {"==": left == right, ">=": left >= right, "<=": left <= right, ">": left > right, "<": left < right}[operator]:
                return False
        return True


def major_minor(text: str) -> Tuple[int, int]:
    """An ``X.Y`` pair, a compute capability (``"8.6"``) or a CUDA release (``"13.0"``), as ``(X, Y)``."""
    major, minor = text.split(".")
    return int(major), int(minor)


class BuildKind(enum.Enum):
    CPU = "cpu"
    CUDA = "cuda"
    ROCM = "rocm"
    XPU = "xpu"
    # PyPI's own macOS wheel: no local tag, MPS on Apple Silicon.
    DEFAULT = "default"
    # NVIDIA's own wheel for one JetPack release (jp61: JetPack 6.1), installed by its URL.
    JETSON = "jetson"


# The names of builds the index and the data use, parsed for every build of every row at load.
_CUDA_NAME = re.compile(r"cu(\d+)(\d)")
_ROCM_NAME = re.compile(r"rocm(\d+(?:\.\d+)+)")
_JETPACK_NAME = re.compile(r"jp(\d)(\d{1,2})")  # NVIDIA's folder names: v61 is JetPack 6.1, v512 is 5.1.2


class Build(NamedTuple):
    """A torch build as the index names it (``cu128``, ``rocm6.2.4``, ``cpu``), parsed once."""

    name: str
    kind: BuildKind
    version: Tuple[int, ...] = ()  # (12, 8) for cu128, (6, 2, 4) for rocm6.2.4

    @classmethod
    def parse(cls, name: str) -> Optional["Build"]:
        """The build a variant name stands for, or None when the name is none torchup knows."""
        if name in ("cpu", "xpu", "default"):
            return cls(name, BuildKind(name))
        cuda = _CUDA_NAME.fullmatch(name)
        if cuda:
            return cls(name, BuildKind.CUDA, (int(cuda.group(1)), int(cuda.group(2))))
        rocm = _ROCM_NAME.fullmatch(name)
        if rocm:
            return cls(name, BuildKind.ROCM, version_tuple(rocm.group(1)))
        jetpack = _JETPACK_NAME.fullmatch(name)
        if jetpack:
            return cls(name, BuildKind.JETSON, (int(jetpack.group(1)),) + tuple(int(digit) for digit in jetpack.group(2)))
        return None

    @property
    def accelerated(self) -> bool:
        return self.kind in (BuildKind.CUDA, BuildKind.ROCM, BuildKind.XPU, BuildKind.JETSON)

    @property
    def runtime(self) -> str:
        """``CUDA 12.8``, ``ROCm 6.2.4``, ``XPU``, ``CPU``, ``NVIDIA's JetPack 6.1 build``: the build in words."""
        dotted = ".".join(map(str, self.version))
        named = {BuildKind.CUDA: f"CUDA {dotted}", BuildKind.ROCM: f"ROCm {dotted}", BuildKind.JETSON: f"NVIDIA's JetPack {dotted} build"}
        return named.get(self.kind, self.kind.value.upper())

    def preference(self) -> Tuple[int, Tuple[int, ...]]:
        """Sort key, best first: a Jetson board's own build, newest CUDA, then newest ROCm, then XPU, then the CPU build."""
        rank = {BuildKind.JETSON: -1, BuildKind.CUDA: 0, BuildKind.ROCM: 1, BuildKind.XPU: 2, BuildKind.CPU: 3, BuildKind.DEFAULT: 4}[self.kind]
        return rank, tuple(-part for part in self.version)


class ArchSet(NamedTuple):
    name: str
    sass: List[Tuple[int, int]]
    ptx: Optional[Tuple[int, int]]
    ptx_os: List[str]
    verified: bool
    source: str

    def describe(self) -> str:
        built = ", ".join(f"sm_{major}{minor}" for major, minor in self.sass)
        return built + (f" + PTX {self.ptx[0]}.{self.ptx[1]}" if self.ptx else ", no PTX")


class PlatformRow(NamedTuple):
    """What one release publishes for one platform (``linux-x86_64``, ``windows-x86_64``, …)."""

    builds: List[Build]
    arch_sets: Dict[str, ArchSet]  # CUDA build name -> the GPU architectures compiled into it
    python_max: Tuple[int, int]
    glibc: Optional[str]
    macos: Optional[str]
    unverified: Dict[str, str]  # build name -> why its existence or architectures are not confirmed
    sources: List[str]

    def build(self, name: str) -> Optional[Build]:
        return next((build for build in self.builds if build.name == name), None)


class Release(NamedTuple):
    series: str
    version: str
    python_min: Tuple[int, int]
    free_threaded: List[str]
    platforms: Dict[str, PlatformRow]
    builds_verified: bool
    pypi_default: Dict[str, Build]  # platform -> the build a plain `pip install torch` gets there
    companions: Dict[str, Optional[str]]
    note: Optional[str]
    # Set on the release a Jetson plan makes of NVIDIA's wheel: the wheel, whose version is its own.
    wheel: Optional["JetsonWheel"] = None

    @property
    def parsed(self) -> Tuple[int, ...]:
        """The version as numbers, for ordering: releases are plain X.Y.Z."""
        return version_tuple(self.version)


class CompanionRelease(NamedTuple):
    """A torchvision or torchaudio release: the torch release it was built for, and the torch
    releases it declares it works with (an exact pin, or a range where upstream declares ABI stability)."""

    name: str
    version: str
    built_for: str
    torch: VersionRange
    source: str

    def works_with(self, torch_version: str) -> bool:
        return self.torch.contains(torch_version)

    def declared(self) -> str:
        """``torchvision 0.29.2 (built for torch 2.14.0; it declares torch>=2.14)``."""
        return f"{self.name} {self.version} (built for torch {self.built_for}; it declares torch{self.torch.text})"


# Where each kind of advisory id is published, for a reader to follow.
ADVISORY_PAGES = {"GHSA": "https://github.com/advisories/{}", "PYSEC": "https://osv.dev/vulnerability/{}", "CVE": "https://nvd.nist.gov/vuln/detail/{}"}


class Advisory(NamedTuple):
    """A published security advisory of torch: the id scanners report (PYSEC or GHSA), its aliases,
    the releases it affects, the first release that fixes it (None: no fix yet), and its impact."""

    id: str
    aliases: List[str]
    affected: VersionRange
    fixed: Optional[str]
    impact: str
    verified: bool
    source: str

    def affects(self, torch_version: str) -> bool:
        return self.affected.contains(torch_version)

    @property
    def url(self) -> str:
        return ADVISORY_PAGES[self.id.split("-")[0]].format(self.id)

    @property
    def named(self) -> str:
        """``PYSEC-2025-41 (CVE-2025-32434)``: the id a scanner reports, with its CVE."""
        cve = next((alias for alias in self.aliases if alias.startswith("CVE-")), None)
        return f"{self.id} ({cve})" if cve else self.id


class IntelFamily(NamedTuple):
    """A family of Intel GPUs by PCI device id, and the first torch release whose XPU build PyTorch
    validates on it, per OS (none: never validated)."""

    name: str
    products: str
    pci_ids: List[str]  # lower-case hex device ids of vendor 8086
    xpu_from: Dict[str, Tuple[int, ...]]  # os -> torch release
    verified: bool
    source: str

    def label(self, device: str) -> str:
        """``Arc B-series (Battlemage): Arc B580, B570, … (8086:e20b)``."""
        return f"{self.name}: {self.products} (8086:{device})"


class IntelDriver(NamedTuple):
    library: str  # the Level Zero GPU driver the XPU build loads
    install: str
    source: str


class DriverFloor(NamedTuple):
    cuda_major: int
    linux: str
    windows: str
    source: str


class ToolkitDriver(NamedTuple):
    cuda: Tuple[int, int]
    linux: Optional[str]
    windows: Optional[str]
    source: str


class RocmArchs(NamedTuple):
    variant: str
    gfx: List[str]
    verified: bool
    source: str


class JetsonWheel(NamedTuple):
    """NVIDIA's own torch wheel for one JetPack release, installed by its URL."""

    build: Build  # jp61
    torch: str  # the version the wheel's metadata gives: what torch.__version__ says
    url: str
    note: Optional[str]  # what it needs that JetPack does not install
    note_source: Optional[str]

    @property
    def folder(self) -> str:
        return self.url.rsplit("/", 1)[0] + "/"

    @property
    def release(self) -> str:
        """The upstream release it previews or packages: 2.5.0 for 2.5.0a0+872d972e41.nv24.08."""
        return ".".join(map(str, release_tuple(self.torch)))


class JetsonRelease(NamedTuple):
    """Which wheels a Jetson board of this L4T release can use: from ``l4t_from`` to ``l4t_to``
    (exclusive), or where no end is given, to the next row's start (the newest row: to the end of
    its major release)."""

    l4t_from: Tuple[int, ...]
    name: str
    sbsa: bool  # True: the CUDA builds for Linux aarch64 (SBSA) run there; False: NVIDIA's Jetson wheels only
    cuda: Optional[Tuple[int, int]]  # the CUDA the board's driver provides
    source: str
    l4t_to: Optional[Tuple[int, ...]] = None
    python: Optional[str] = None  # the Python of the JetPack's Ubuntu: NVIDIA's wheels are built for it alone
    wheel: Optional[JetsonWheel] = None  # NVIDIA's wheel torchup plans for the board, where one is 2.0 or newer
    last: Optional[str] = None  # where there is none: what NVIDIA published for it
    verified: bool = True

    @property
    def l4t(self) -> str:
        return ".".join(map(str, self.l4t_from))


class Compatibility(NamedTuple):
    sources: Dict[str, str]
    releases: List[Release]  # newest first
    arch_sets: Dict[str, ArchSet]
    gpu_families: Dict[Tuple[int, int], str]  # compute capability -> "Ada: RTX 40, L4, L40"
    driver_floors: Dict[int, DriverFloor]
    toolkit_drivers: List[ToolkitDriver]
    minor_version_limits: List[str]  # what a build run under CUDA minor-version compatibility cannot do
    minor_version_source: str
    rocm: Dict[str, RocmArchs]
    jetson: List[JetsonRelease]  # newest first
    companion_releases: Dict[str, Dict[str, CompanionRelease]]  # name -> version -> the release
    advisories: List[Advisory]
    intel_families: List[IntelFamily]
    intel_driver: IntelDriver
    uv_torch_backends: List[str]  # the builds uv's --torch-backend names, each meaning <default index base>/<name>
    numpy2_from_torch: Tuple[int, ...]  # releases before it were built against NumPy 1 and need numpy<2
    sizes_gb: Dict[BuildKind, float]  # what a build takes, with the source below
    sizes_source: str
    mps_macos_min: str  # the oldest macOS whose PyTorch has MPS on Apple Silicon
    default_index_base: str
    pypi_index: str

    def index_url(self, build: Build, base: str) -> str:
        """Where ``build`` is fetched from: PyPI for its own macOS wheel, NVIDIA's folder for a
        Jetson wheel, else ``<base>/<variant>``."""
        if build.kind is BuildKind.JETSON:
            return next(row.wheel.folder for row in self.jetson if row.wheel and row.wheel.build == build)
        return self.pypi_index if build.kind is BuildKind.DEFAULT else f"{base}/{build.name}"

    def release(self, version: str) -> Optional[Release]:
        return next((release for release in self.releases if release.version == version), None)

    def toolkit_driver(self, cuda: Tuple[int, int]) -> Optional[ToolkitDriver]:
        """The full-feature driver row of the newest toolkit not newer than ``cuda``."""
        rows = [row for row in self.toolkit_drivers if row.cuda <= cuda]
        return max(rows, key=lambda row: row.cuda) if rows else None

    def intel_family(self, device: str) -> Optional[IntelFamily]:
        """The family of an Intel GPU by its PCI device id (``e20b``), or None for one the data does not list (integrated graphics)."""
        return next((family for family in self.intel_families if device.lower() in family.pci_ids), None)

    def companion(self, name: str, version: str) -> Optional[CompanionRelease]:
        """The data's row for a torchvision or torchaudio release (local tag ignored), or None."""
        return self.companion_releases.get(name, {}).get(version.split("+")[0])

    def advisories_for(self, torch_version: str) -> List[Advisory]:
        """The published advisories that affect this torch version, those with a fix first, oldest fix first."""
        found = [advisory for advisory in self.advisories if advisory.affects(torch_version)]
        return sorted(found, key=lambda advisory: (advisory.fixed is None, version_tuple(advisory.fixed) if advisory.fixed else ()))

    def for_checks(self) -> dict:
        """What the doctor's checks, in the target, need of this data, as plain JSON: the torch
        release each companion was built for and the range it declares, with its source; torch's
        published advisories."""
        return {
            "companions": {
                name: {version: {"built_for": row.built_for, "torch": row.torch.text, "source": self.cite(row.source)} for version, row in rows.items()}
                for name, rows in self.companion_releases.items()
            },
            "advisories": [
                {"id": a.named, "affected": a.affected.text, "fixed": a.fixed, "impact": a.impact, "url": a.url, "verified": a.verified}
                for a in self.advisories
            ],
        }

    def mps_available(self, macos: Optional[str]) -> bool:
        """Whether PyTorch's MPS backend runs on this macOS release of an Apple Silicon Mac."""
        return macos is not None and version_tuple(macos)[:2] >= version_tuple(self.mps_macos_min)

    def gpu_family(self, compute_capability: Optional[str]) -> Optional[str]:
        """The architecture and example products of a compute capability (``"Ada: RTX 40, L4, L40"``), where the data has them."""
        return self.gpu_families.get(major_minor(compute_capability)) if compute_capability else None

    def jetson_release(self, l4t: str) -> Optional[JetsonRelease]:
        """The row of an L4T release; None for a release no row covers (older than any, in a gap,
        or of a major release newer than the data knows: the newest row covers its own major)."""
        given = _without_trailing_zeros(version_tuple(l4t))  # "37" is 37.0
        row = next((row for row in self.jetson if _without_trailing_zeros(row.l4t_from) <= given), None)
        if row is None:
            return None
        end = row.l4t_to or ((row.l4t_from[0] + 1,) if row is self.jetson[0] else None)
        return None if end and given >= _without_trailing_zeros(end) else row

    def newest_for(self, platform: str) -> Optional[Release]:
        return next((release for release in self.releases if platform in release.platforms), None)

    def glibc_floor(self) -> Optional[str]:
        """The glibc current Linux wheels need: the newest release's floor."""
        newest = self.newest_for("linux-x86_64")
        return newest.platforms["linux-x86_64"].glibc if newest else None

    def known_builds(self) -> List[str]:
        """Every build name the data has, as a user reads a list of them: by kind in the enum's
        order, the newest first within one."""
        found = {build for release in self.releases for row in release.platforms.values() for build in row.builds}
        order = list(BuildKind)
        return [build.name for build in sorted(found, key=lambda build: (order.index(build.kind), tuple(-n for n in build.version + (0, 0, 0))))]

    def cite(self, keys: str) -> str:
        """A row's source keys (``"arch-matrix-2.12; corridorkey-141 (…)"``) as their public addresses."""
        named = [self.sources[key] for key in re.findall(r"[a-z0-9][a-z0-9.-]*", keys) if key in self.sources]
        # A source's prose ends its sentence after the address: the "." or ":" is not part of it.
        found = [url.rstrip(".:") for text in named for url in re.findall(r"https://[^\s,;()']+", text)]
        return ", ".join(dict.fromkeys(found)) or keys


def _platform_row(raw: dict, python_max: Tuple[int, int], arch_sets: Dict[str, ArchSet]) -> PlatformRow:
    return PlatformRow(
        builds=[Build.parse(name) for name in raw["builds"]],
        arch_sets={name: arch_sets[archs] for name, archs in raw["builds"].items() if archs},
        python_max=version_tuple(raw["python_max"]) if "python_max" in raw else python_max,
        glibc=raw.get("glibc"),
        macos=raw.get("macos"),
        unverified=raw.get("unverified", {}),
        sources=raw["source"],
    )


@lru_cache(maxsize=None)
def load(path: str = DATA_FILE) -> Compatibility:
    """The data, checked first (``validate``): a broken row raises :class:`CompatibilityDataError`."""
    from .validate import check  # here: it reads this module's closed sets

    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except json.JSONDecodeError as error:
        raise CompatibilityDataError(f"{os.path.basename(path)}: line {error.lineno}: not JSON ({error.msg})") from None
    check(raw, os.path.basename(path))
    arch_sets = {
        name: ArchSet(
            name,
            [major_minor(cc) for cc in row["sass"]],
            major_minor(row["ptx"]) if row["ptx"] else None,
            row.get("ptx_os", []),
            row["verified"],
            row["source"],
        )
        for name, row in raw["cuda_arch_sets"].items()
    }
    releases = []
    for row in raw["releases"]:
        python_max = version_tuple(row["python"]["max"])
        releases.append(
            Release(
                series=row["series"],
                version=row["version"],
                python_min=version_tuple(row["python"]["min"]),
                free_threaded=row["python"]["free_threaded"],
                platforms={name: _platform_row(platform, python_max, arch_sets) for name, platform in row["platforms"].items()},
                builds_verified=row["builds_verified"],
                pypi_default={name: Build.parse(build) for name, build in row["pypi_default"].items() if name != "source"},
                companions=row["companions"],
                note=row.get("note"),
            )
        )
    releases.sort(key=lambda release: release.parsed, reverse=True)
    drivers = raw["nvidia_drivers"]
    jetson = [
        JetsonRelease(
            version_tuple(row["l4t_from"]),
            row["name"],
            row["builds"] == "sbsa",
            major_minor(row["cuda"]) if row.get("cuda") else None,
            row["source"],
            version_tuple(row["l4t_to"]) if row.get("l4t_to") else None,
            row.get("python"),
            JetsonWheel(
                Build.parse(row["wheel"]["variant"]), row["wheel"]["torch"], row["wheel"]["url"], row["wheel"].get("note"), row["wheel"].get("note_source")
            )
            if row.get("wheel")
            else None,
            row.get("last"),
            not row["source"].startswith("not verified"),
        )
        for row in raw["jetson"]
    ]
    return Compatibility(
        sources=raw["sources"],
        releases=releases,
        arch_sets=arch_sets,
        gpu_families={major_minor(cc): family for cc, family in raw["gpu_families"]["by_compute_capability"].items()},
        driver_floors={row["cuda_major"]: DriverFloor(row["cuda_major"], row["linux"], row["windows"], row["source"]) for row in drivers["floors"]},
        toolkit_drivers=[ToolkitDriver(major_minor(row["cuda"]), row["linux"], row["windows"], row["source"]) for row in drivers["toolkits"]],
        minor_version_limits=drivers["minor_version_limits"]["limits"],
        minor_version_source=drivers["minor_version_limits"]["source"],
        rocm={row["variant"]: RocmArchs(row["variant"], row["gfx"], row["verified"], row["source"]) for row in raw["rocm_architectures"]},
        jetson=sorted(jetson, key=lambda row: row.l4t_from, reverse=True),
        companion_releases={
            name: {version: CompanionRelease(name, version, row["built_for"], VersionRange.parse(row["torch"]), row["source"]) for version, row in rows.items()}
            for name, rows in raw["companion_releases"].items()
        },
        intel_families=[
            IntelFamily(
                row["family"],
                row["products"],
                row["pci_ids"],
                {system: version_tuple(series) for system, series in row["xpu"].items()},
                not row["source"].startswith("not verified"),
                row["source"],
            )
            for row in raw["intel_gpus"]["families"]
        ],
        intel_driver=IntelDriver(**raw["intel_gpus"]["driver"]),
        uv_torch_backends=raw["uv_torch_backends"]["names"],
        advisories=[
            Advisory(
                row["id"],
                row["aliases"],
                VersionRange.parse(row["affected"]),
                row["fixed"],
                row["impact"],
                not row["source"].startswith("not verified"),
                row["source"],
            )
            for row in raw["advisories"]
        ],
        numpy2_from_torch=version_tuple(raw["numpy"]["numpy2_from_torch"]),
        sizes_gb={BuildKind(kind): gb for kind, gb in raw["sizes"]["gb"].items()},
        sizes_source=raw["sizes"]["source"],
        mps_macos_min=raw["mps"]["macos_min"],
        default_index_base=raw["index"]["default_base"],
        pypi_index=raw["index"]["pypi"],
    )
