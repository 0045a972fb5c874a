"""Which torch release and build fit: pure functions of the inputs and the bundled data.

A build is a candidate when (a) it is published for the release, the Python, the OS and the
arch; (b) the driver meets the floor of its CUDA major (ROCm: the GPU's gfx architecture is
supported); (c) every GPU can run it: its compute capability is compiled in (SASS for X.Y runs on
X.Z, Z >= Y), or PTX is included and the driver is new enough to JIT it. Among candidates the
newest CUDA wins, then ROCm, then XPU; with none, the CPU build, saying why.
"""

import re
from typing import Dict, List, NamedTuple, Optional, Tuple

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from ..errors import TorchupError
from .data import Compatibility, Release, cuda_of, rocm_of, version_tuple

PLATFORM_NAMES = {
    "linux-x86_64": "Linux x86_64",
    "linux-aarch64": "Linux aarch64",
    "windows-x86_64": "Windows x86_64",
    "macos-arm64": "macOS arm64",
    "macos-x86_64": "macOS x86_64",
}
# Intel GPUs PyTorch's XPU build supports; integrated graphics are not among them
# (intel/intel-xpu-backend-for-triton#5616).
XPU_GPU_NAMES = re.compile(r"\bArc\b|Data Center GPU|\bMax\b|\bFlex\b")


class PlanError(TorchupError):
    pass


class Gpu(NamedTuple):
    index: int
    name: str
    compute_capability: Optional[str]


class PlanInputs(NamedTuple):
    os: str  # linux, windows, macos
    arch: str  # x86_64, aarch64, arm64
    python: str  # "3.11"
    free_threaded: bool = False
    glibc: Optional[str] = None
    macos: Optional[str] = None
    nvidia_driver: Optional[str] = None
    gpus: Tuple[Gpu, ...] = ()
    jetson: Optional[str] = None
    rocm_archs: Tuple[str, ...] = ()
    intel_gpus: Tuple[str, ...] = ()
    intel_display_device: bool = False
    torch: Optional[str] = None
    variant: str = "auto"
    with_packages: Tuple[str, ...] = ()

    @property
    def platform(self) -> str:
        return f"{self.os}-{self.arch}"

    @property
    def platform_name(self) -> str:
        return PLATFORM_NAMES.get(self.platform, self.platform)


class Candidate(NamedTuple):
    variant: str
    accepted: bool
    reason: str
    notes: Tuple[str, ...] = ()


class Decision(NamedTuple):
    release: Release
    release_reason: str
    variant: str
    variant_reason: str
    candidates: List[Candidate]
    notes: List[str]


# --- the release -------------------------------------------------------------------------


def release_misfit(release: Release, inputs: PlanInputs) -> Optional[str]:
    """Why ``release`` has no wheel for these inputs, or None when it has one."""
    if inputs.platform not in release.variants:
        return f"has no wheels for {inputs.platform_name}"
    python = version_tuple(inputs.python)[:2]
    if not release.python_min <= python <= release.python_max:
        low, high = release.python_min, release.python_max
        return f"supports Python {low[0]}.{low[1]} to {high[0]}.{high[1]}"
    if inputs.free_threaded and inputs.python not in release.free_threaded:
        return f"has no free-threaded wheels for Python {inputs.python}"
    needs = release.platforms.get(inputs.platform, {})
    if needs.get("glibc") and inputs.glibc and version_tuple(inputs.glibc) < version_tuple(needs["glibc"]):
        return f"needs glibc {needs['glibc']} (this system has {inputs.glibc})"
    if needs.get("macos") and inputs.macos and version_tuple(inputs.macos)[:2] < version_tuple(needs["macos"]):
        return f"needs macOS {needs['macos']} (this system has {inputs.macos})"
    return None


def matching_releases(data: Compatibility, spec: str) -> List[Release]:
    known = ", ".join(release.version for release in data.releases)
    if re.fullmatch(r"\d+\.\d+", spec):
        found = [release for release in data.releases if release.series == spec]
        if not found:
            raise PlanError(f"--torch {spec}: no such release series", hint=f"known releases: {known}")
        return found
    if re.fullmatch(r"\d+\.\d+\.\d+", spec):
        series = ".".join(spec.split(".")[:2])
        same_series = [release for release in data.releases if release.series == series]
        if not same_series:
            raise PlanError(f"--torch {spec}: no such release", hint=f"known releases: {known}")
        # An earlier patch release of a known series shares that series' wheels matrix.
        return [same_series[0]._replace(version=spec)]
    try:
        specifier = SpecifierSet(spec)
    except InvalidSpecifier:
        raise PlanError(
            f"--torch {spec}: not a version or a version range (e.g. 2.7, 2.7.1, '>=2.5,<2.8')", hint=f"known releases: {known}"
        ) from None
    found = [release for release in data.releases if specifier.contains(release.parsed)]
    if not found:
        raise PlanError(f"--torch {spec}: no known release matches", hint=f"known releases: {known}")
    return found


def select_release(data: Compatibility, inputs: PlanInputs) -> Tuple[Release, str]:
    releases = matching_releases(data, inputs.torch) if inputs.torch else data.releases
    skipped: List[Tuple[Release, str]] = []
    for release in releases:
        misfit = release_misfit(release, inputs)
        if misfit is None:
            if inputs.torch:
                reason = f"the newest release matching --torch {inputs.torch} with a wheel for Python {inputs.python} on {inputs.platform_name}"
            else:
                reason = f"the newest release with a wheel for Python {inputs.python} on {inputs.platform_name}"
            if skipped:
                newest, why = skipped[0]
                reason += f" ({newest.version} {why})"
            return release, reason
        skipped.append((release, misfit))
    fitting = [release.version for release in data.releases if release_misfit(release, inputs) is None]
    newest, why = skipped[0]
    asked = f"torch {inputs.torch} has" if inputs.torch else "no torch release has"
    raise PlanError(
        f"{asked} a wheel for Python {inputs.python} on {inputs.platform_name}: {newest.version} {why}",
        hint=f"releases that do: {', '.join(fitting)}" if fitting else "no known release has one: use another Python (e.g. 3.12)",
    )


# --- one variant ---------------------------------------------------------------------------


def _cc(text: str) -> Tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


def _driver_at_least(driver: str, floor: str) -> bool:
    return Version(driver) >= Version(floor)


def evaluate(release: Release, variant: str, inputs: PlanInputs, data: Compatibility) -> Candidate:
    if variant == "default":
        what = "PyPI's default macOS wheel" + (", with MPS on Apple Silicon" if inputs.arch == "arm64" else ", CPU only")
        return Candidate(variant, True, what)
    if variant == "cpu":
        return Candidate(variant, True, "runs on any CPU")
    if cuda_of(variant):
        return _evaluate_cuda(release, variant, inputs, data)
    if rocm_of(variant):
        return _evaluate_rocm(variant, inputs, data)
    if variant == "xpu":
        return _evaluate_xpu(inputs)
    return Candidate(variant, False, "not a build torchup knows")


def _evaluate_cuda(release: Release, variant: str, inputs: PlanInputs, data: Compatibility) -> Candidate:
    cuda = cuda_of(variant)
    if inputs.jetson:
        return Candidate(variant, False, f"a Jetson board (L4T {inputs.jetson}) needs NVIDIA's Jetson wheels, not this index's")
    if not inputs.gpus and not inputs.nvidia_driver:
        return Candidate(variant, False, "no NVIDIA GPU detected")
    driver = inputs.nvidia_driver
    if driver is None:
        return Candidate(variant, False, "an NVIDIA GPU is present but the driver version is unknown (give --nvidia-driver)")
    floor_row = data.driver_floors[cuda[0]]
    floor = floor_row.windows if inputs.os == "windows" else floor_row.linux
    if not _driver_at_least(driver, floor):
        return Candidate(variant, False, f"driver {driver} is older than {floor}, the minimum for CUDA {cuda[0]}.x")
    arch_table = release.cuda_archs_aarch64 if inputs.arch == "aarch64" else release.cuda_archs
    arch_set = data.arch_sets[arch_table[variant]]
    notes: List[str] = []
    toolkit = data.toolkit_driver(cuda)
    toolkit_driver = (toolkit.windows if inputs.os == "windows" else toolkit.linux) if toolkit else None
    for gpu in inputs.gpus:
        label = f"GPU {gpu.index} ({gpu.name}, compute capability {gpu.compute_capability})"
        if gpu.compute_capability is None:
            notes.append(f"GPU {gpu.index} ({gpu.name}): compute capability unknown, not checked")
            continue
        capability = _cc(gpu.compute_capability)
        if any(major == capability[0] and minor <= capability[1] for major, minor in arch_set.sass):
            continue
        if arch_set.ptx and inputs.os in arch_set.ptx_os and capability >= arch_set.ptx:
            if toolkit_driver and not _driver_at_least(driver, toolkit_driver):
                return Candidate(
                    variant, False, f"{label} would run through PTX, which needs driver {toolkit_driver} or newer (CUDA {cuda[0]}.{cuda[1]})"
                )
            notes.append(f"{label} runs through PTX {arch_set.ptx[0]}.{arch_set.ptx[1]}, compiled by the driver at first use")
            continue
        return Candidate(variant, False, f"{label} has no kernels in this build ({arch_set.describe()})")
    if toolkit_driver and not _driver_at_least(driver, toolkit_driver):
        notes.append(
            f"driver {driver} is below CUDA {cuda[0]}.{cuda[1]}'s own {toolkit_driver}: it runs under minor-version compatibility, with some features limited"
        )
    if not arch_set.verified:
        notes.append(f"the GPU architectures of this build are not verified ({arch_set.source})")
    reason = f"driver {driver} meets {floor} (CUDA {cuda[0]}.x)"
    reason += "; every GPU is supported" if inputs.gpus else "; no GPU listed to check"
    return Candidate(variant, True, reason, tuple(notes))


def _evaluate_rocm(variant: str, inputs: PlanInputs, data: Compatibility) -> Candidate:
    if inputs.os != "linux":
        return Candidate(variant, False, "ROCm builds are for Linux only")
    if not inputs.rocm_archs:
        return Candidate(variant, False, "no AMD GPU detected")
    table = data.rocm.get(variant)
    if table is None:
        return Candidate(variant, False, f"no architecture data for {variant}")
    unsupported = sorted({arch for arch in inputs.rocm_archs if arch not in table.gfx})
    if unsupported:
        return Candidate(variant, False, f"{', '.join(unsupported)} is not among the GPU architectures of {variant}")
    notes = () if table.verified else (f"the architectures of {variant} are not verified",)
    return Candidate(variant, True, f"every AMD GPU ({', '.join(sorted(set(inputs.rocm_archs)))}) is supported", notes)


def _evaluate_xpu(inputs: PlanInputs) -> Candidate:
    supported = [name for name in inputs.intel_gpus if XPU_GPU_NAMES.search(name)]
    if supported:
        return Candidate("xpu", True, f"Intel GPU {supported[0]}")
    if inputs.intel_gpus or inputs.intel_display_device:
        return Candidate(
            "xpu", False, "an Intel display device was found, but the XPU build supports Arc and Data Center GPUs, not integrated graphics (give --variant xpu to choose it anyway)"
        )
    return Candidate("xpu", False, "no Intel GPU detected")


# --- the choice ----------------------------------------------------------------------------


def preference(variant: str) -> Tuple[int, Tuple[int, ...]]:
    """Sort key, best first: newest CUDA, then newest ROCm, then XPU, then the CPU build."""
    if cuda_of(variant):
        return (0, tuple(-part for part in cuda_of(variant)))
    if rocm_of(variant):
        return (1, tuple(-part for part in rocm_of(variant)))
    return ({"xpu": 2, "cpu": 3, "default": 4}.get(variant, 5), ())


def decide(data: Compatibility, inputs: PlanInputs) -> Decision:
    release, release_reason = select_release(data, inputs)
    published = sorted(release.variants[inputs.platform], key=preference)
    candidates = [evaluate(release, variant, inputs, data) for variant in published]
    notes: List[str] = []
    if not release.variants_verified:
        notes.append(f"the builds published for torch {release.series} are not verified ({data.sources['variants-table'].split(' — ')[0]})")
    if release.note:
        notes.append(release.note)

    if inputs.variant != "auto":
        if inputs.variant not in published:
            raise PlanError(
                f"--variant {inputs.variant}: torch {release.version} has no such build for {inputs.platform_name}",
                hint=f"available: {', '.join(published)}",
            )
        chosen = next(candidate for candidate in candidates if candidate.variant == inputs.variant)
        reason = "asked for with --variant"
        if not chosen.accepted:
            notes.append(f"{inputs.variant} was asked for although {chosen.reason}")
        return Decision(release, release_reason, inputs.variant, reason, candidates, notes + _pypi_default_note(release, inputs, inputs.variant))

    accepted = [candidate for candidate in candidates if candidate.accepted]
    chosen = accepted[0]  # the CPU build (or macOS default) is always accepted, and sorts last
    if chosen.variant in ("cpu", "default"):
        reason = _why_no_accelerator(release, inputs, data, candidates)
    else:
        reason = f"the newest build that fits: {chosen.reason}"
    return Decision(release, release_reason, chosen.variant, reason, candidates, notes + _pypi_default_note(release, inputs, chosen.variant))


def _pypi_default_note(release: Release, inputs: PlanInputs, variant: str) -> List[str]:
    """What a plain `pip install torch` would have given instead, where that differs (Linux x86_64)."""
    default = release.pypi_default_linux
    if inputs.platform != "linux-x86_64" or not default or default == variant:
        return []
    size = ", several GB of CUDA libraries" if cuda_of(default) else ""
    return [f"a plain `pip install torch=={release.version}` from PyPI would install the {default} build{size}"]


def _why_no_accelerator(release: Release, inputs: PlanInputs, data: Compatibility, candidates: List[Candidate]) -> str:
    if inputs.os == "macos":
        return "macOS wheels come from PyPI" + (" and use MPS on Apple Silicon" if inputs.arch == "arm64" else "")
    if not (inputs.gpus or inputs.nvidia_driver or inputs.rocm_archs or inputs.intel_gpus or inputs.intel_display_device or inputs.jetson):
        return "no GPU detected"
    rejected = [candidate for candidate in candidates if not candidate.accepted]
    if not rejected:
        return f"torch {release.version} has no GPU build for {inputs.platform_name}"
    reason = "no GPU build fits: " + rejected[0].reason
    if inputs.gpus and inputs.nvidia_driver and not inputs.jetson:
        reason += _what_would_change(release, inputs, data)
    return reason


def _what_would_change(release: Release, inputs: PlanInputs, data: Compatibility) -> str:
    """A newer driver or an older torch that would give a CUDA build, named for the user."""
    hints = []
    newest_driver = inputs._replace(nvidia_driver="9999")
    for variant in sorted(release.variants[inputs.platform], key=preference):
        if cuda_of(variant) and evaluate(release, variant, newest_driver, data).accepted:
            floor = data.driver_floors[cuda_of(variant)[0]]
            hints.append(f"an NVIDIA driver {floor.windows if inputs.os == 'windows' else floor.linux} or newer would allow {variant}")
            break
    for older in data.releases:
        if older.parsed >= release.parsed or release_misfit(older, inputs):
            continue
        fits = [variant for variant in sorted(older.variants[inputs.platform], key=preference) if cuda_of(variant) and evaluate(older, variant, inputs, data).accepted]
        if fits:
            hints.append(f"torch {older.version} has a build for it ({fits[0]}): --torch {older.series}")
            break
    return "; " + "; ".join(hints) if hints else ""


def local_version(release: Release, variant: str) -> str:
    """The exact version with its local tag, as the index names it (macOS wheels carry none)."""
    return release.version if variant == "default" else f"{release.version}+{variant}"


def companion_pins(release: Release, variant: str, names: Tuple[str, ...]) -> List[str]:
    pins = []
    for name in names:
        version = release.companions.get(name)
        if version is None:
            known = ", ".join(f"{n} {v}" for n, v in release.companions.items() if v) or "none"
            raise PlanError(f"--with {name}: no {name} release matches torch {release.version}", hint=f"companions of {release.version}: {known}")
        pins.append(f"{name}=={version if variant == 'default' else version + '+' + variant}")
    return pins


def parse_driver(text: str) -> str:
    if not re.fullmatch(r"\d+(\.\d+){0,2}", text or ""):
        raise PlanError(f"--nvidia-driver {text}: not a driver version (e.g. 550.54.15)")
    return text


def parse_compute_capability(text: str) -> str:
    if not re.fullmatch(r"\d+\.\d+", text or ""):
        raise PlanError(f"--gpu-cc {text}: not a compute capability (e.g. 8.6)")
    return text


def parse_python_version(text: str) -> str:
    try:
        version = Version(text)
    except InvalidVersion:
        version = None
    if version is None or len(version.release) < 2 or version.major < 3:
        raise PlanError(f"--python-version {text}: not a Python 3 version (e.g. 3.12)")
    return f"{version.major}.{version.minor}"


def known_variants(data: Compatibility) -> Dict[str, None]:
    found: Dict[str, None] = {}
    for release in data.releases:
        for variants in release.variants.values():
            for variant in variants:
                found[variant] = None
    return found
