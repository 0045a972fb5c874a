"""Which torch release and build fit: pure functions of the inputs and the bundled data.

A build is a candidate when (a) it is published for the release, the Python, the OS and the
arch; (b) the driver meets the floor of its CUDA major (ROCm: the GPU's gfx architecture is
supported); (c) every GPU can run it: its compute capability is compiled in (SASS for X.Y runs on
X.Z, Z >= Y), or PTX is included and the driver is new enough to JIT it.

The choice: any build that runs on the detected GPUs beats any CPU build; then the newer
release; then, within a release, a build the sources confirm before one they do not, a CUDA
build the driver supports fully (the driver is at least that toolkit's own) before one that
would run under minor-version compatibility, and the newest CUDA, then ROCm, then XPU. So a machine whose
driver is too old for the newest release gets the newest release that still has a build for
its GPU, and the CPU build only when no release has one (or when it is asked for).
"""

import re
from typing import Dict, List, NamedTuple, Optional, Tuple

from ..compat import PLATFORMS, Build, BuildKind, Compatibility, JetsonRelease, PlatformRow, Release, major_minor, version_tuple
from ..errors import TorchupError


class PlanError(TorchupError):
    pass


class Gpu(NamedTuple):
    index: int
    name: Optional[str]  # None for a GPU given only by its compute capability (--gpu-cc)
    compute_capability: Optional[str]

    def label(self) -> str:
        """``GPU 0 (NVIDIA A100-SXM4-80GB, compute capability 8.0)``: the GPU as a reason names it."""
        known = [part for part in (self.name, self.compute_capability and f"compute capability {self.compute_capability}") if part]
        return f"GPU {self.index}" + (f" ({', '.join(known)})" if known else "")


# Why a build named on the command line is the one planned, unless something else named it.
ASKED_WITH_VARIANT = "asked for with --variant"


class PlanInputs(NamedTuple):
    os: str  # linux, windows, macos
    arch: str  # x86_64, aarch64, arm64
    python: str  # "3.11"
    free_threaded: bool = False
    glibc: Optional[str] = None
    macos: Optional[str] = None
    nvidia_driver: Optional[str] = None
    gpus: Tuple[Gpu, ...] = ()
    jetson: Optional[str] = None  # the board's L4T release
    rocm_archs: Tuple[str, ...] = ()
    intel_gpus: Tuple[str, ...] = ()  # PCI device ids of Intel display devices ("e20b")
    intel_driver: Optional[bool] = None  # whether Level Zero's GPU driver is installed; None: not known (another machine)
    torch: Optional[str] = None
    # What the target pip's configured constraint files allow of torch ("<=2.14.1"): pip refuses the rest.
    torch_constraint: Optional[str] = None
    variant: str = "auto"
    variant_asked: str = ASKED_WITH_VARIANT  # why that build: how it was asked for
    with_packages: Tuple[str, ...] = ()

    @property
    def platform(self) -> str:
        return f"{self.os}-{self.arch}"

    @property
    def platform_name(self) -> str:
        return PLATFORMS.get(self.platform, self.platform)

    @property
    def gpu_kinds(self) -> List[BuildKind]:
        """The kinds of accelerated build this machine's GPUs could use."""
        kinds = []
        if self.gpus or self.nvidia_driver or self.jetson:
            kinds.append(BuildKind.CUDA)
        if self.rocm_archs:
            kinds.append(BuildKind.ROCM)
        if self.intel_gpus:
            kinds.append(BuildKind.XPU)
        return kinds


class Candidate(NamedTuple):
    build: Build
    accepted: bool
    reason: str
    notes: Tuple[str, ...] = ()
    # False where no source confirms the build exists as described: it ranks after the confirmed ones.
    verified: bool = True
    # The driver that runs this CUDA build fully, where this one runs it under minor-version
    # compatibility only (older than that toolkit's own driver): it ranks after fully supported builds.
    full_support_driver: Optional[str] = None

    def rank(self) -> tuple:
        """Within one release, best first: confirmed, then fully supported by the driver, then the newest build."""
        return (not self.verified, self.full_support_driver is not None, self.build.preference())

    @property
    def variant(self) -> str:
        return self.build.name


class Decision(NamedTuple):
    release: Release
    release_basis: str  # why this release; why a newer one lost is ``newer_lost``
    build: Build
    variant_basis: str  # why this build; where it was judged to fit, the chosen candidate's reason says how
    candidates: List[Candidate]  # every build of the release for this platform, best first
    notes: List[str]
    # "torch 2.15.0: <why none of its builds runs on this GPU>", the newest release the GPU lost (also a note).
    newer_lost: Optional[str] = None
    # The note that the build asked for with --variant does not fit, which the builds table also shows.
    asked_misfit: Optional[str] = None

    @property
    def variant(self) -> str:
        return self.build.name

    @property
    def chosen(self) -> Candidate:
        return next(candidate for candidate in self.candidates if candidate.build == self.build)

    @property
    def release_reason(self) -> str:
        """Why this release, whole, as one line says it (the JSON document, install's progress)."""
        return self.release_basis + (f" ({self.newer_lost})" if self.newer_lost else "")

    @property
    def variant_reason(self) -> str:
        """Why this build, whole: its basis and, for a GPU build that fits, how it fits."""
        chosen = self.chosen
        return f"{self.variant_basis}: {chosen.reason}" if chosen.accepted and self.build.accelerated else self.variant_basis


# --- the releases --------------------------------------------------------------------------


def release_misfit(release: Release, inputs: PlanInputs) -> Optional[str]:
    """Why ``release`` has no wheel for these inputs, or None when it has one."""
    row = release.platforms.get(inputs.platform)
    if row is None:
        return f"has no wheels for {inputs.platform_name}"
    python = version_tuple(inputs.python)[:2]
    if not release.python_min <= python <= row.python_max:
        low, high = release.python_min, row.python_max
        return f"supports Python {low[0]}.{low[1]} to {high[0]}.{high[1]}"
    if inputs.free_threaded and inputs.python not in release.free_threaded:
        return f"has no free-threaded wheels for Python {inputs.python}"
    if row.glibc and inputs.glibc and version_tuple(inputs.glibc) < version_tuple(row.glibc):
        return f"needs glibc {row.glibc} (this system has {inputs.glibc})"
    if row.macos and inputs.macos and version_tuple(inputs.macos)[:2] < version_tuple(row.macos):
        return f"needs macOS {row.macos} (this system has {inputs.macos})"
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
    from packaging.specifiers import InvalidSpecifier, SpecifierSet  # here: the setup preflight reads this module without packaging

    try:
        specifier = SpecifierSet(spec)
    except InvalidSpecifier:
        raise PlanError(f"--torch {spec}: not a version or a version range (e.g. 2.7, 2.7.1, '>=2.5,<2.8')", hint=f"known releases: {known}") from None
    found = [release for release in data.releases if specifier.contains(release.version)]
    if not found:
        raise PlanError(f"--torch {spec}: no known release matches", hint=f"known releases: {known}")
    return found


class Eligible(NamedTuple):
    releases: List[Release]  # newest first: a wheel for this Python and platform, the asked-for build and companions
    skipped: List[Tuple[Release, str]]  # releases left out, each with why


def eligible_releases(data: Compatibility, inputs: PlanInputs) -> Eligible:
    asked = inputs.torch is not None
    releases = matching_releases(data, inputs.torch) if asked else data.releases
    releases, constrained = _within_pip_constraint(releases, inputs)
    skipped = constrained + [(release, release_misfit(release, inputs)) for release in releases]
    fitting = [release for release, misfit in skipped if misfit is None]
    skipped = [(release, misfit) for release, misfit in skipped if misfit]
    if not fitting:
        newest, why = skipped[0]
        everywhere = [release.version for release in data.releases if release_misfit(release, inputs) is None]
        raise PlanError(
            f"{'torch ' + inputs.torch + ' has no' if asked else 'no torch release has a'} wheel for Python {inputs.python} on {inputs.platform_name}: {newest.version} {why}",
            hint=f"releases that do: {', '.join(everywhere)}" if everywhere else "no known release has one: use another Python (e.g. 3.12)",
        )
    if inputs.variant != "auto":
        published = [release for release in fitting if release.platforms[inputs.platform].build(inputs.variant)]
        if not published:
            newest = fitting[0]
            others = [r.version for r in data.releases if not release_misfit(r, inputs) and r.platforms[inputs.platform].build(inputs.variant)]
            available = ", ".join(build.name for build in newest.platforms[inputs.platform].builds)
            whose = f"torch {newest.version} has no such build" if asked else "no torch release has such a build"
            raise PlanError(
                f"--variant {inputs.variant}: {whose} for {inputs.platform_name}",
                hint=f"builds of {newest.version}: {available}" + (f"; releases with {inputs.variant}: {', '.join(others)}" if others else ""),
            )
        skipped += [(release, f"has no {inputs.variant} build for {inputs.platform_name}") for release in fitting if release not in published]
        fitting = published
    if inputs.with_packages:

        def lacking(release: Release) -> List[str]:
            return [name for name in inputs.with_packages if not release.companions.get(name)]

        complete = [release for release in fitting if not lacking(release)]
        if not complete:
            missing = lacking(fitting[0])[0]
            having = [r.version for r in data.releases if not release_misfit(r, inputs) and r.companions.get(missing)]
            known = ", ".join(f"{n} {v}" for n, v in fitting[0].companions.items() if v) or "none"
            raise PlanError(
                f"--with {missing}: no {missing} release matches torch {fitting[0].version}",
                hint=(f"torch releases with a {missing}: {', '.join(having)}" if having else f"companions of {fitting[0].version}: {known}"),
            )
        skipped += [(release, f"has no {', '.join(lacking(release))} release yet") for release in fitting if lacking(release)]
        fitting = complete
    skipped.sort(key=lambda pair: pair[0].parsed, reverse=True)
    return Eligible(fitting, skipped)


def _excluded_by_constraint(inputs: PlanInputs) -> str:
    return f"is excluded by your pip configuration's constraint torch{inputs.torch_constraint}"


def _within_pip_constraint(releases: List[Release], inputs: PlanInputs) -> Tuple[List[Release], List[Tuple[Release, str]]]:
    """The releases the target pip's constraint files allow, and those they leave out, each with why."""
    if not inputs.torch_constraint:
        return releases, []
    from packaging.specifiers import SpecifierSet

    allowed = SpecifierSet(inputs.torch_constraint)
    why = _excluded_by_constraint(inputs)
    kept = [release for release in releases if allowed.contains(release.version, prereleases=True)]
    if not kept:
        asked = f"torch {inputs.torch}" if inputs.torch else "any release torchup knows"
        raise PlanError(
            f"your pip configuration's constraint torch{inputs.torch_constraint} excludes {asked}: pip would refuse the install",
            hint="lift it in the constraint file your pip configuration names (pip config list), or ask for a release it allows with --torch",
        )
    return kept, [(release, why) for release in releases if release not in kept]


# --- one build -----------------------------------------------------------------------------


def driver_at_least(driver: str, floor: str) -> bool:
    def numbers(text: str) -> Tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", text))

    return numbers(driver) >= numbers(floor)


def evaluate(release: Release, build: Build, inputs: PlanInputs, data: Compatibility) -> Candidate:
    if build.kind is BuildKind.DEFAULT:
        what = "PyPI's default macOS wheel" + (", with MPS on Apple Silicon" if inputs.arch == "arm64" else ", CPU only")
        return Candidate(build, True, what)
    if build.kind is BuildKind.CPU:
        return Candidate(build, True, "runs on any CPU")
    unverified = release.platforms[inputs.platform].unverified.get(build.name)
    if build.kind is BuildKind.CUDA:
        candidate = _evaluate_cuda(release, build, inputs, data)
    elif build.kind is BuildKind.ROCM:
        candidate = _evaluate_rocm(build, inputs, data)
    else:
        candidate = _evaluate_xpu(release, build, inputs, data)
    if unverified and candidate.accepted:
        candidate = candidate._replace(notes=candidate.notes + (f"not verified: {unverified}",), verified=False)
    return candidate


def _evaluate_cuda(release: Release, build: Build, inputs: PlanInputs, data: Compatibility) -> Candidate:
    cuda = build.version
    runtime = build.runtime
    notes: List[str] = []
    driver = inputs.nvidia_driver
    if inputs.jetson:
        board = data.jetson_release(inputs.jetson)
        if board is None:
            return Candidate(build, False, f"L4T {inputs.jetson} is not a Jetson release torchup knows")
        if not board.sbsa:
            return Candidate(build, False, f"a Jetson board on L4T {inputs.jetson} ({board.name}) needs NVIDIA's Jetson wheels, not this index's")
        if board.cuda and cuda > board.cuda:
            return Candidate(
                build, False, f"a Jetson board on L4T {inputs.jetson} ({board.name}) provides CUDA {board.cuda[0]}.{board.cuda[1]}, older than {runtime}"
            )
        driver = None  # the board's CUDA, not a driver version, decides
        reason = f"L4T {inputs.jetson} ({board.name}) provides CUDA {board.cuda[0]}.{board.cuda[1]}, an SBSA system"
    elif not inputs.gpus and not driver:
        return Candidate(build, False, "no NVIDIA GPU detected")
    elif driver is None:
        return Candidate(build, False, "an NVIDIA GPU is present but the driver version is unknown (give --nvidia-driver)")
    else:
        floor_row = data.driver_floors[cuda[0]]
        floor = floor_row.windows if inputs.os == "windows" else floor_row.linux
        if not driver_at_least(driver, floor):
            return Candidate(build, False, f"driver {driver} is older than {floor}, the minimum for CUDA {cuda[0]}.x")
        reason = f"driver {driver} meets {floor} (CUDA {cuda[0]}.x)"
    arch_set = release.platforms[inputs.platform].arch_sets[build.name]
    toolkit = data.toolkit_driver(cuda)
    toolkit_driver = (toolkit.windows if inputs.os == "windows" else toolkit.linux) if toolkit and driver else None
    for gpu in inputs.gpus:
        label = gpu.label()
        if gpu.compute_capability is None:
            notes.append(f"{label}: compute capability unknown, not checked")
            continue
        capability = major_minor(gpu.compute_capability)
        if any(major == capability[0] and minor <= capability[1] for major, minor in arch_set.sass):
            continue
        if arch_set.ptx and inputs.os in arch_set.ptx_os and capability >= arch_set.ptx:
            if toolkit_driver and not driver_at_least(driver, toolkit_driver):
                return Candidate(build, False, f"{label} would run through PTX, which needs driver {toolkit_driver} or newer ({runtime})")
            notes.append(f"{label} runs through PTX {arch_set.ptx[0]}.{arch_set.ptx[1]}, compiled by the driver at first use")
            continue
        return Candidate(build, False, f"{label} has no kernels in this build ({arch_set.describe()})")
    limited = toolkit_driver if toolkit_driver and not driver_at_least(driver, toolkit_driver) else None
    if limited:
        notes.append(f"driver {driver} is below {runtime}'s own {limited}: minor-version compatibility only, with some features limited")
    if not arch_set.verified:
        notes.append(f"the GPU architectures of this build are not verified ({data.cite(arch_set.source)})")
    reason += "; every GPU is supported" if inputs.gpus else "; no GPU listed to check"
    return Candidate(build, True, reason, tuple(notes), full_support_driver=limited)


def _evaluate_rocm(build: Build, inputs: PlanInputs, data: Compatibility) -> Candidate:
    if inputs.os != "linux":
        return Candidate(build, False, "ROCm builds are for Linux only")
    if not inputs.rocm_archs:
        return Candidate(build, False, "no AMD GPU detected")
    table = data.rocm.get(build.name)
    if table is None:
        return Candidate(build, False, f"no architecture data for {build.name}")
    unsupported = sorted({arch for arch in inputs.rocm_archs if arch not in table.gfx})
    if unsupported:
        return Candidate(build, False, f"{', '.join(unsupported)} is not among the GPU architectures of {build.name}")
    notes = () if table.verified else (f"the architectures of {build.name} are not verified",)
    return Candidate(build, True, f"every AMD GPU ({', '.join(sorted(set(inputs.rocm_archs)))}) is supported", notes)


def _evaluate_xpu(release: Release, build: Build, inputs: PlanInputs, data: Compatibility) -> Candidate:
    """An Intel GPU by its PCI device id (intel_gpus): validated for this release's XPU build on
    this OS, and the Level Zero GPU driver there to load it."""
    if not inputs.intel_gpus:
        return Candidate(build, False, "no Intel GPU detected")
    families = [(device, data.intel_family(device)) for device in inputs.intel_gpus]
    system = inputs.os
    fitting = [(device, family) for device, family in families if family and system in family.xpu_from and release.parsed >= family.xpu_from[system]]
    if not fitting:
        return Candidate(build, False, _intel_misfit(families, system, inputs.platform_name))
    device, family = fitting[0]
    if inputs.intel_driver is False:
        return Candidate(
            build,
            False,
            f"{family.label(device)} needs Level Zero's GPU driver ({data.intel_driver.library}), which is not installed: {data.intel_driver.install}",
        )
    notes = [] if family.verified else [f"not verified: {data.cite(family.source)}"]
    if inputs.intel_driver is None:
        notes.append(f"the Intel GPU driver is not checked on another machine: the XPU build needs {data.intel_driver.library}")
    return Candidate(build, True, f"the {family.name} GPU (8086:{device}) is validated for it", tuple(notes), verified=family.verified)


def _intel_misfit(families: list, system: str, platform_name: str) -> str:
    """Why no Intel GPU runs this XPU build: validated only in a later release, never on this OS, or not a GPU PyTorch validates."""
    for device, family in families:
        if family and system in family.xpu_from:
            since = ".".join(map(str, family.xpu_from[system]))
            return f"{family.label(device)} is validated for the XPU build from torch {since} on {platform_name.split()[0]}"
    known = [(device, family) for device, family in families if family]
    if known:
        device, family = known[0]
        return f"{family.label(device)} is not among the GPUs PyTorch validates for the XPU build on {platform_name.split()[0]}"
    devices = ", ".join(f"8086:{device}" for device, _ in families)
    return f"the Intel display device {devices} is none of the GPUs PyTorch validates for the XPU build (Arc, Core Ultra graphics, Data Center GPU Max)"


def runs_here(data: Compatibility, inputs: PlanInputs, version: str, build: Build) -> Optional[Candidate]:
    """Build ``build`` of torch ``version`` (``2.7.1``, no local tag) judged on the machine of
    ``inputs``; None where the data knows no such release, or no such build of it for this
    platform, and so has nothing to judge it by."""
    try:
        release = matching_releases(data, version)[0]
    except PlanError:
        return None
    row = release.platforms.get(inputs.platform)
    if row is None or not row.build(build.name):
        return None
    return evaluate(release, build, inputs, data)


def candidates_of(release: Release, inputs: PlanInputs, data: Compatibility) -> List[Candidate]:
    """Every build of ``release`` for this platform, best first, each accepted or rejected with its reason."""
    builds = sorted(release.platforms[inputs.platform].builds, key=Build.preference)
    return [evaluate(release, build, inputs, data) for build in builds]


# --- the choice ----------------------------------------------------------------------------


class Ranked(NamedTuple):
    release: Release
    candidate: Candidate


def ranked_builds(data: Compatibility, inputs: PlanInputs, eligible: Eligible) -> List[Ranked]:
    """Every build worth installing, best first (see the module docstring for the order).

    With ``--variant X`` that build of each eligible release, newest first, fitting or not.
    """
    ranked = []
    for position, release in enumerate(eligible.releases):
        for candidate in candidates_of(release, inputs, data):
            if inputs.variant != "auto":
                if candidate.variant == inputs.variant:
                    ranked.append((position, Ranked(release, candidate)))
            elif candidate.accepted:
                ranked.append((position, Ranked(release, candidate)))
    ranked.sort(key=lambda item: (not item[1].candidate.build.accelerated, item[0], item[1].candidate.rank()))
    return [item for _, item in ranked]


def jetson_decision(data: Compatibility, inputs: PlanInputs) -> Optional[Decision]:
    """NVIDIA's own wheel for the board's JetPack, where one is planned for it (jetson rows) and the
    plan asks for nothing else (another --torch, --variant or companions); None otherwise."""
    board = data.jetson_release(inputs.jetson) if inputs.jetson else None
    if board is None or board.wheel is None or _jetson_misfit(board, inputs):
        return None
    wheel = board.wheel
    python = version_tuple(board.python)
    row = PlatformRow([wheel.build], {}, python, None, None, {}, [board.source])
    series = ".".join(wheel.release.split(".")[:2])
    release = Release(series, wheel.release, python, [], {inputs.platform: row}, board.verified, {}, {}, None, wheel)
    cuda = f", CUDA {board.cuda[0]}.{board.cuda[1]}" if board.cuda else ""
    notes = () if board.verified else (f"not verified: {data.cite(board.source)}",)
    candidate = Candidate(wheel.build, True, f"NVIDIA's wheel for {board.name}{cuda}, Python {board.python}", notes, verified=board.verified)
    said = [f"{wheel.build.name}: {wheel.note} ({data.cite(wheel.note_source)})"] if wheel.note else []
    basis = f"NVIDIA's own build for L4T {inputs.jetson} ({board.name}): download.pytorch.org's CUDA builds do not run there, PyPI's see no GPU"
    return Decision(release, basis, wheel.build, "the Jetson board's own build", [candidate], said)


def _jetson_misfit(board: JetsonRelease, inputs: PlanInputs) -> Optional[str]:
    """Why NVIDIA's wheel for this board is not the plan, or None."""
    if board.wheel is None:
        return f"{board.name} (L4T {inputs.jetson}): {board.last}, so the CPU build"
    wheel = f"NVIDIA's wheel for {board.name} is torch {board.wheel.torch}"
    if inputs.python != board.python:
        return f"{wheel} for Python {board.python} alone; for the GPU, plan and install with python{board.python} (this Python is {inputs.python})"
    asked = [
        flag
        for flag, given in (("--torch", inputs.torch), ("--variant", inputs.variant not in ("auto", board.wheel.build.name)), ("--with", inputs.with_packages))
        if given
    ]
    if asked:
        companions = " (NVIDIA publishes no torchvision or torchaudio wheel for it)" if inputs.with_packages else ""
        return f"{wheel}; {' and '.join(asked)} asked for a download.pytorch.org build instead{companions}"
    return None


def decide(data: Compatibility, inputs: PlanInputs) -> Decision:
    board = jetson_decision(data, inputs)
    if board:
        return board
    eligible = eligible_releases(data, inputs)
    best = ranked_builds(data, inputs, eligible)[0]  # an eligible release always has a CPU or the asked-for build
    return decision_for(data, inputs, eligible, best.release, best.candidate.build)


def decision_for(data: Compatibility, inputs: PlanInputs, eligible: Eligible, release: Release, build: Build, found: Optional[str] = None) -> Decision:
    """The decision for one build, with its reasons; ``found`` says which source holds it when that moved the choice."""
    candidates = candidates_of(release, inputs, data)
    chosen = next(candidate for candidate in candidates if candidate.build == build)
    notes: List[str] = []
    row = release.platforms[inputs.platform]
    if not release.builds_verified:
        notes.append(f"the builds published for torch {release.series} are not verified ({data.cite(' '.join(row.sources))})")
    if release.note:
        notes.append(release.note)
    notes += _companion_notes(data, release, inputs.with_packages)
    newer_lost = asked_misfit = None
    if inputs.variant != "auto":
        variant_basis = inputs.variant_asked
        if not chosen.accepted:
            asked_misfit = f"{inputs.variant} was asked for although {chosen.reason}"
            notes.append(asked_misfit)
    elif build.accelerated:
        limited_newer = any(c.accepted and c.full_support_driver and c.build.preference() < build.preference() for c in candidates)
        variant_basis = "the newest build the driver supports fully" if limited_newer and not chosen.full_support_driver else "the newest build that fits"
        newer = [r for r in eligible.releases if r.parsed > release.parsed]
        if newer and not found:
            newest = newer[0]
            blocker = _gpu_blocker(candidates_of(newest, inputs, data), inputs, newest)
            newer_lost = f"torch {newest.version}: {blocker}"
            notes.append(f"torch {newest.version} has no build for this machine's GPU ({blocker}) → {local_version(release, build)}")
    else:
        variant_basis = _why_no_accelerator(release, inputs, data, candidates)
    release_basis = _release_reason(release, inputs, eligible, found, accelerated=build.accelerated and inputs.variant == "auto")
    notes += _minor_version_notes(data, inputs, chosen, candidates)
    notes += _jetson_notes(data, inputs)
    notes += _pypi_default_note(release, inputs, build)
    return Decision(release, release_basis, build, variant_basis, candidates, notes, newer_lost, asked_misfit)


def _jetson_notes(data: Compatibility, inputs: PlanInputs) -> List[str]:
    """Why a Jetson board's plan is not NVIDIA's wheel for it, or what exists for an L4T release torchup does not know."""
    if not inputs.jetson:
        return []
    board = data.jetson_release(inputs.jetson)
    if board is None:
        known = ", ".join(f"{row.l4t} ({row.name})" for row in reversed(data.jetson))
        return [f"L4T {inputs.jetson} is not a Jetson release torchup knows; the known ones start at L4T {known}"]
    misfit = None if board.sbsa else _jetson_misfit(board, inputs)
    return [misfit] if misfit else []


def _minor_version_notes(data: Compatibility, inputs: PlanInputs, chosen: Candidate, candidates: List[Candidate]) -> List[str]:
    """What CUDA minor-version compatibility limits, said once: for the chosen build where it needs
    it (nothing fully supported fits), else for a newer build the driver supports only that way."""
    limits = "; ".join(data.minor_version_limits) + f" ({data.cite(data.minor_version_source)})"
    driver = inputs.nvidia_driver
    if chosen.accepted and chosen.full_support_driver:
        return [
            f"{chosen.variant} runs on driver {driver} under CUDA minor-version compatibility, as no build of this release is fully supported by it: "
            f"{limits}; driver {chosen.full_support_driver} or newer lifts that"
        ]
    newer = [c for c in candidates if c.accepted and c.full_support_driver and c.build.preference() < chosen.build.preference()]
    if chosen.accepted and newer:
        return [
            f"{newer[0].variant} was not chosen: on driver {driver} it would run under CUDA minor-version compatibility, where {limits}; "
            f"driver {newer[0].full_support_driver} or newer runs it fully"
        ]
    return []


def _release_reason(release: Release, inputs: PlanInputs, eligible: Eligible, found: Optional[str], accelerated: bool) -> str:
    if found:
        return found
    within = f" matching --torch {inputs.torch}" if inputs.torch else ""
    if inputs.torch_constraint:
        within += f" that your pip configuration allows (torch{inputs.torch_constraint})"
    if accelerated:
        return f"the newest release{within} with a build for this machine's GPU"
    what = f"a {inputs.variant} build" if inputs.variant != "auto" else "a wheel"
    reason = f"the newest release{within} with {what} for Python {inputs.python} on {inputs.platform_name}"
    constrained = _excluded_by_constraint(inputs)  # said above already
    newer = [(r, why) for r, why in eligible.skipped if r.parsed > release.parsed and why != constrained]
    if newer:
        reason += f" ({newer[0][0].version} {newer[0][1]})"
    return reason


def _gpu_blocker(candidates: List[Candidate], inputs: PlanInputs, release: Release) -> str:
    """Why no build of a release runs on this machine's GPUs, vendor by vendor."""
    parts = []
    for kind in inputs.gpu_kinds:
        rejected = [candidate for candidate in candidates if candidate.build.kind is kind]
        label = {BuildKind.CUDA: "CUDA", BuildKind.ROCM: "ROCm", BuildKind.XPU: "XPU"}[kind]
        parts.append(rejected[0].reason if rejected else f"torch {release.version} has no {label} build for {inputs.platform_name}")
    return "; ".join(parts)


def _companion_notes(data: Compatibility, release: Release, names: Tuple[str, ...]) -> List[str]:
    """A companion built for another torch release is planned only where upstream declares it works with this one: said, with the source."""
    notes = []
    for name in names:
        row = data.companion(name, release.companions[name])
        if row and row.built_for.rsplit(".", 1)[0] != release.series:
            notes.append(f"{row.declared()}: upstream declares it works with torch {release.version} ({data.cite(row.source)})")
    return notes


def _pypi_default_note(release: Release, inputs: PlanInputs, build: Build) -> List[str]:
    """What a plain `pip install torch` would have given instead, where that differs."""
    default = release.pypi_default.get(inputs.platform)
    if not default or default == build:
        return []
    size = ", several GB of CUDA libraries" if default.kind is BuildKind.CUDA else ""
    return [f"a plain `pip install torch=={release.version}` from PyPI would install the {default.name} build{size}"]


def _why_no_accelerator(release: Release, inputs: PlanInputs, data: Compatibility, candidates: List[Candidate]) -> str:
    if inputs.os == "macos":
        return "macOS wheels come from PyPI" + (" and use MPS on Apple Silicon" if inputs.arch == "arm64" else "")
    if not inputs.gpu_kinds:
        return "no GPU detected"
    within = f" matching --torch {inputs.torch}" if inputs.torch else ""
    reason = f"no release{within} has a GPU build that fits: " + _gpu_blocker(candidates, inputs, release)
    if BuildKind.CUDA in inputs.gpu_kinds and inputs.gpus and inputs.nvidia_driver and not inputs.jetson:
        reason += _what_would_change(release, inputs, data)
    return reason


def _what_would_change(release: Release, inputs: PlanInputs, data: Compatibility) -> str:
    """A newer driver or an older torch that would give a CUDA build, named for the user."""
    hints = []
    newest_driver = inputs._replace(nvidia_driver="9999")
    for candidate in candidates_of(release, newest_driver, data):
        if candidate.build.kind is BuildKind.CUDA and candidate.accepted:
            floor = data.driver_floors[candidate.build.version[0]]
            hints.append(f"an NVIDIA driver {floor.windows if inputs.os == 'windows' else floor.linux} or newer would allow {candidate.variant}")
            break
    for older in data.releases:
        if older.parsed >= release.parsed or release_misfit(older, inputs):
            continue
        fits = [c.variant for c in candidates_of(older, inputs, data) if c.build.kind is BuildKind.CUDA and c.accepted]
        if fits:
            hints.append(f"torch {older.version} has a build for it ({fits[0]}): --torch {older.series}")
            break
    return "; " + "; ".join(hints) if hints else ""


def local_version(release: Release, build: Build) -> str:
    """The exact version with its local tag, as the index names it (macOS wheels carry none; NVIDIA's Jetson wheels their own)."""
    if release.wheel:
        return release.wheel.torch
    return release.version if build.kind is BuildKind.DEFAULT else f"{release.version}+{build.name}"


def companion_pins(release: Release, build: Build, names: Tuple[str, ...]) -> List[str]:
    pins = []
    for name in names:
        version = release.companions[name]
        pins.append(f"{name}=={version if build.kind is BuildKind.DEFAULT else version + '+' + build.name}")
    return pins


def parse_driver(text: str) -> str:
    if not re.fullmatch(r"\d+(\.\d+){0,2}", text or ""):
        raise PlanError(f"--nvidia-driver {text}: not a driver version (e.g. 550.54.15)")
    return text


def parse_compute_capability(text: str) -> str:
    if not re.fullmatch(r"\d+\.\d+", text or ""):
        raise PlanError(f"--gpu-cc {text}: not a compute capability (e.g. 8.6)")
    return text


def parse_index_base(text: str) -> str:
    from urllib.parse import urlsplit

    from .index import split_userinfo

    try:
        # The credentials, up to the last "@", may hold anything; what follows them must be a URL.
        parts = urlsplit(split_userinfo(text)[0])
        valid = parts.scheme in ("http", "https", "file") and (parts.scheme == "file" or bool(parts.hostname))
    except ValueError:  # an unbalanced "[" or "]" in the host
        valid = False
    if not valid:
        raise PlanError(f"--index-base {text}: not an http(s) or file URL", hint="e.g. --index-base https://mirror.example/whl")
    return text


def parse_l4t(text: str) -> str:
    if not re.fullmatch(r"\d+(\.\d+){0,2}", text or ""):
        raise PlanError(f"--jetson {text}: not an L4T release (e.g. 36.4 for JetPack 6, 38.2 for JetPack 7)")
    return text


def parse_pci_device(text: str) -> str:
    """An Intel GPU's PCI device id as lspci or sysfs give it (``e20b``, ``0xE20B``, ``8086:e20b``), as four lower-case hex digits."""
    match = re.fullmatch(r"(?:8086:|0x)?([0-9a-fA-F]{4})", text or "")
    if not match:
        raise PlanError(f"--intel-gpu {text}: not a PCI device id (e.g. e20b for an Arc B580, as `lspci -nn` shows [8086:e20b])")
    return match.group(1).lower()


def parse_python_version(text: str) -> str:
    from packaging.version import InvalidVersion, Version

    try:
        version = Version(text)
    except InvalidVersion:
        version = None
    if version is None or len(version.release) < 2 or version.major < 3:
        raise PlanError(f"--python-version {text}: not a Python 3 version (e.g. 3.12)")
    return f"{version.major}.{version.minor}"


def known_variants(data: Compatibility) -> Dict[str, None]:
    return dict.fromkeys(data.known_builds())
