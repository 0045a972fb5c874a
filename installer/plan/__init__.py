"""``torchup plan``: the torch build, exact version and index for a machine, and why.

Inputs come from detection unless an override names them; the decision is made from the
bundled data (``policy``), then confirmed against the index itself unless offline.
"""

import os
import re
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from ..compat import Build, Compatibility, load
from ..context import COMMAND_TIMEOUT
from ..detect import Facts
from ..detect.intel import PCI_DEVICES
from ..target import PINS_FILE
from . import policy
from .advisories import Advisories, advisories_of
from .policy import Candidate, Decision, Gpu, PlanError, PlanInputs

SCHEMA_VERSION = 1
OS_NAMES = {"Linux": "linux", "Darwin": "macos", "Windows": "windows"}


class Overrides(NamedTuple):
    torch: Optional[str] = None
    variant: str = "auto"
    with_packages: Tuple[str, ...] = ()
    os: Optional[str] = None
    arch: Optional[str] = None
    python_version: Optional[str] = None
    nvidia_driver: Optional[str] = None
    gpu_cc: Tuple[str, ...] = ()
    rocm_arch: Tuple[str, ...] = ()
    intel_gpu: Tuple[str, ...] = ()  # PCI device ids ("e20b")
    jetson: Optional[str] = None
    no_gpu: bool = False
    offline: bool = False
    index_base: Optional[str] = None
    # Why the build is the one named (variant is not "auto"), as the plan says it.
    variant_asked: str = policy.ASKED_WITH_VARIANT
    # Whether pip installs what is planned, so that its configured constraint files bind the plan:
    # not for a project's file, which uv, poetry and pdm read without pip's configuration.
    pip_installs: bool = True

    def needs_detection(self) -> bool:
        """Whether anything must be detected: not when every input is given, as when planning for another machine."""
        machine_given = (self.os or self.jetson) and (self.arch or self.jetson) and self.python_version
        gpus_given = self.no_gpu or self.gpu_cc or self.rocm_arch or self.jetson or self.intel_gpu
        return not (machine_given and gpus_given)


class Plan(NamedTuple):
    decision: Decision
    build: Build
    index_url: str
    torch: str
    packages: List[str]
    candidates: List[Candidate]
    inputs: PlanInputs
    sources: Dict[str, str]
    confirmed: str  # "index", "configured-source", "offline" or "jetson-wheel" (NVIDIA's, by its URL)
    # With the index unreachable: the pip source of the target's own configuration holding the planned build.
    found_in: Optional[str]
    notes: List[str]
    wheel_bytes: Optional[int] = None  # the torch wheel's size, from the index where it gives sizes
    advisories: Optional["Advisories"] = None  # the planned release's published advisories

    @property
    def variant(self) -> str:
        return self.build.name

    @property
    def source(self) -> str:
        """Where torch comes from: the source of the user's own (or a wheelhouse) that holds the build, else the planned index."""
        return self.found_in or self.index_url

    @property
    def pins(self) -> List[str]:
        """Each package as ``name==version``, as a constraints file holds it (a Jetson wheel is planned by its URL, pinned by its version)."""
        return [f"torch=={self.torch}"] + self.packages[1:]

    @property
    def size_gb(self) -> Optional[float]:
        """About what the build takes on disk, torch and its own dependencies (a sourced figure per kind of build)."""
        return load().sizes_gb.get(self.build.kind)

    def as_data(self) -> dict:
        return {
            "schema": SCHEMA_VERSION,
            "variant": self.variant,
            "index_url": self.index_url,
            "torch": self.torch,
            "packages": self.packages,
            "release": {"version": self.decision.release.version, "reason": self.decision.release_reason},
            "reason": self.decision.variant_reason,
            "candidates": [
                {
                    "variant": c.variant,
                    "accepted": c.accepted,
                    "chosen": c.variant == self.variant,
                    "verified": c.verified,
                    "reason": c.reason,
                    "notes": list(c.notes),
                }
                for c in self.candidates
            ],
            "inputs": {
                **{key: (list(value) if isinstance(value, tuple) else value) for key, value in self.inputs._asdict().items() if key != "gpus"},
                # A GPU known only by its compute capability keeps the name the document has always given it.
                "gpus": [dict(gpu._asdict(), name=gpu.name or f"GPU with compute capability {gpu.compute_capability}") for gpu in self.inputs.gpus],
                "sources": self.sources,
                # How a build was asked for says nothing when none was: auto chooses it.
                "variant_asked": self.inputs.variant_asked if self.inputs.variant != "auto" else None,
            },
            "confirmed": self.confirmed,
            "found_in": self.found_in,
            "size_gb": self.size_gb,
            "wheel_bytes": self.wheel_bytes,
            "notes": self.notes,
            "advisories": self.advisories.as_data() if self.advisories else None,
        }


def normalise_arch(os_name: str, machine: str) -> str:
    machine = machine.lower()
    if machine in ("amd64", "x86_64", "x64"):
        return "x86_64"
    if machine in ("aarch64", "arm64"):
        return "arm64" if os_name == "macos" else "aarch64"
    return machine


def build_inputs(facts: Optional[Facts], overrides: Overrides) -> Tuple[PlanInputs, Dict[str, str], Optional[Tuple[List[str], List[str]]]]:
    """Plan inputs from detected facts and overrides, where each came from, and the target's (ABI, platform) tags."""
    sources: Dict[str, str] = {}
    interpreter = facts.interpreter if facts else None
    detected_os = OS_NAMES.get(facts.machine.os, facts.machine.os.lower()) if facts else None

    # A Jetson board is Linux on aarch64: --jetson alone says so.
    implied = "linux" if overrides.jetson and not overrides.os else None
    os_name = overrides.os or implied or detected_os
    sources["os"] = "--os" if overrides.os else "--jetson" if implied else f"detected: {facts.machine.os}"
    given_arch = overrides.arch or ("aarch64" if overrides.jetson else None)
    arch = normalise_arch(os_name, given_arch or facts.machine.arch)
    sources["arch"] = "--arch" if overrides.arch else "--jetson" if given_arch else "detected"
    if overrides.python_version:
        python, free_threaded = overrides.python_version, False
        sources["python"] = "--python-version"
    else:
        python = ".".join(interpreter.version.split(".")[:2])
        free_threaded = interpreter.free_threaded
        sources["python"] = f"detected: {interpreter.executable}"

    # Another OS or architecture (--jetson on an x86_64 machine) is another machine: nothing detected here applies to it.
    same_machine = facts is not None and os_name == detected_os and arch == normalise_arch(os_name, facts.machine.arch)
    glibc = None
    if same_machine and facts.machine.libc == "glibc":
        glibc = facts.machine.libc_version
    if same_machine and facts.machine.libc == "musl":
        from ..findings import Musl  # F21, in its words

        raise PlanError(f"this system's C library is musl {facts.machine.libc_version}: {Musl.cause}", hint=Musl.remedy)
    macos = facts.machine.mac_version if same_machine and os_name == "macos" else None

    nvidia = facts.accelerators.nvidia if facts and same_machine else None
    amd = facts.accelerators.amd if facts and same_machine else None
    intel = facts.accelerators.intel if facts and same_machine else None
    gpus: Tuple[Gpu, ...] = ()
    rocm_archs: Tuple[str, ...] = tuple(overrides.rocm_arch)
    driver = overrides.nvidia_driver
    jetson = None
    if overrides.no_gpu:
        sources["gpus"] = "--no-gpu"
        driver, rocm_archs = None, ()
    else:
        if overrides.gpu_cc:
            gpus = tuple(Gpu(i, None, cc) for i, cc in enumerate(overrides.gpu_cc))
            sources["gpus"] = "--gpu-cc"
        elif nvidia and not overrides.rocm_arch:
            gpus = tuple(Gpu(g.index, g.name, g.compute_capability) for g in nvidia.gpus)
            sources["gpus"] = f"detected: {nvidia.nvidia_smi or 'no nvidia-smi'}"
        if driver:
            sources["nvidia_driver"] = "--nvidia-driver"
        elif nvidia and nvidia.driver_version and not overrides.rocm_arch:
            driver = nvidia.driver_version
            sources["nvidia_driver"] = f"detected: {nvidia.driver_source}"
        if overrides.jetson:
            jetson = overrides.jetson
            sources["jetson"] = "--jetson"
        elif nvidia and nvidia.jetson:
            jetson = nvidia.jetson.l4t
            sources["jetson"] = "detected: /etc/nv_tegra_release"
        if rocm_archs:
            sources["rocm_archs"] = "--rocm-arch"
        elif amd and not overrides.gpu_cc:
            rocm_archs = tuple(amd.architectures)
            sources["rocm_archs"] = f"detected: {amd.source}"
    intel_gpus: Tuple[str, ...] = ()
    intel_driver = None
    if overrides.intel_gpu and not overrides.no_gpu:
        intel_gpus = overrides.intel_gpu
        sources["intel_gpus"] = "--intel-gpu"
    elif intel and not overrides.no_gpu:
        intel_gpus, intel_driver = tuple(intel.device_ids), intel.level_zero is not None
        sources["intel_gpus"] = f"detected: {PCI_DEVICES}" + (f", Level Zero driver {intel.level_zero}" if intel.level_zero else ", no Level Zero driver")
    if facts and not same_machine:
        sources["gpus"] = sources.get("gpus", f"none: this machine's GPUs do not apply to {os_name} {arch}")
    torch_constraint, constraint_files = pip_torch_constraint(facts) if same_machine and overrides.pip_installs else (None, [])
    if torch_constraint:
        sources["torch_constraint"] = f"your pip configuration's constraint: {', '.join(constraint_files)}"

    inputs = PlanInputs(
        os=os_name,
        arch=arch,
        python=python,
        free_threaded=free_threaded,
        glibc=glibc,
        macos=macos,
        nvidia_driver=driver,
        gpus=gpus,
        jetson=jetson,
        rocm_archs=rocm_archs,
        intel_gpus=intel_gpus,
        intel_driver=intel_driver,
        torch=overrides.torch,
        torch_constraint=torch_constraint,
        variant=overrides.variant,
        variant_asked=overrides.variant_asked,
        with_packages=tuple(overrides.with_packages),
    )
    platforms = interpreter.tags.platforms if interpreter and same_machine and not overrides.python_version else None
    abis = interpreter.tags.abis if platforms else None
    return inputs, sources, (abis, platforms) if platforms else None


class PipSources(NamedTuple):
    """The sources in the target pip's configuration; URLs holding credentials (redacted by the
    probe, so unusable) are only named in ``left_out``."""

    index_url: Optional[str] = None
    extra_index_urls: Tuple[str, ...] = ()
    find_links: Tuple[str, ...] = ()
    left_out: Tuple[str, ...] = ()


def pip_sources(facts: Optional[Facts]) -> PipSources:
    if not facts or not facts.pip:
        return PipSources()
    settings = facts.pip.config.settings
    values = {}
    for key in ("index-url", "extra-index-url", "find-links"):
        value = settings[key].value if key in settings else None
        values[key] = tuple(value) if isinstance(value, list) else (value,) if value else ()
    left_out = tuple(v for vs in values.values() for v in vs if "****@" in v)
    usable = {key: tuple(v for v in vs if v not in left_out) for key, vs in values.items()}
    return PipSources(usable["index-url"][0] if usable["index-url"] else None, usable["extra-index-url"], usable["find-links"], left_out)


def pip_torch_constraint(facts: Optional[Facts]) -> Tuple[Optional[str], List[str]]:
    """Which torch releases the target pip's configured constraint files allow, as one specifier
    ("<=2.14.1"), and the files that say so; (None, []) where none limits torch. Left to pip, which
    judges them in the target: a line with a marker, a line naming a URL (neither limits the release
    here), and a line it could not read either. A local tag (==2.7.1+cu126) limits the release here;
    the build is pip's to refuse."""
    lines = facts.pip.config.torch_constraints if facts and facts.pip else []
    if not lines:  # the common case: nothing to judge
        return None, []
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    allowed, files = SpecifierSet(), []
    for line in lines:
        specifier = _release_specifier(line.requirement)
        if specifier is None or _torchups_own_pins(line.file):
            continue
        try:
            requirement = SpecifierSet(specifier)
        except InvalidSpecifier:
            continue
        if requirement:
            allowed &= SpecifierSet(",".join(spec.operator + spec.version.split("+")[0] for spec in requirement))
            files.append(line.file)
    return (str(allowed), list(dict.fromkeys(files))) if files else (None, [])


def _release_specifier(requirement: str) -> Optional[str]:
    """The version specifier of a PEP 508 line that names a release: "torch[extras] >=2.4,<3" or
    "torch (>=2.4)"; None for a line with a marker (";") or a URL ("@"), which only pip can judge.
    A pattern rather than packaging's requirement parser, whose markers and tags would be a large
    part of a plan's start-up."""
    if ";" in requirement or "@" in requirement:
        return None
    match = re.fullmatch(r"\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*(?:\[[^\]]*\])?\s*(?:\((?P<in_parentheses>[^()]*)\)|(?P<bare>[^()]*))\s*", requirement)
    return None if match is None else (match.group("in_parentheses") or match.group("bare") or "").strip()


def _torchups_own_pins(path: str) -> bool:
    """A venv's torchup-constraints.txt and plan --export's pins files pin what torchup chose last,
    for other installs to keep it: no limit on torchup's next plan, which replaces them."""
    folder, name = os.path.split(os.path.normpath(path))
    return name == PINS_FILE or (os.path.basename(folder) == "constraints" and os.path.basename(os.path.dirname(folder)) == "torchup")


def pip_cert(facts: Optional[Facts]) -> Optional[str]:
    """The CA bundle the target's pip is configured with (`cert` in pip.conf, PIP_CERT), if any."""
    setting = facts.pip.config.settings.get("cert") if facts and facts.pip else None
    return setting.value if setting and isinstance(setting.value, str) else None


def configured_sources(facts: Optional[Facts]) -> List[Tuple[str, str]]:
    """The target pip's own sources that could hold a torch build: (kind, location), PyPI excluded (it never has +cpu/+cuXXX builds)."""
    sources = pip_sources(facts)
    indexes = ((sources.index_url,) if sources.index_url else ()) + sources.extra_index_urls
    found = [("index", url) for url in indexes] + [("find-links", location) for location in sources.find_links]
    return [(kind, location) for kind, location in found if "pypi.org" not in location]


def _jetson_plan(data: Compatibility, decision: Decision, inputs: PlanInputs, sources: Dict[str, str], overrides: Overrides) -> Plan:
    """NVIDIA's wheel for the board, installed by its URL: there is no index to confirm it against."""
    wheel = decision.release.wheel
    if overrides.offline:
        confirmed, said = "offline", "decided offline from the bundled data (--offline)"
    else:
        confirmed, said = "jetson-wheel", f"NVIDIA's wheel is fetched by its URL, from the bundled data: {wheel.folder} is no index to confirm it against"
    notes = list(decision.notes) + [said]
    advisories = advisories_of(data, inputs, decision.build, wheel.torch)
    return Plan(
        decision,
        decision.build,
        wheel.folder,
        wheel.torch,
        [f"torch @ {wheel.url}"],
        decision.candidates,
        inputs,
        sources,
        confirmed,
        None,
        notes,
        None,
        advisories,
    )


def make_plan(
    facts: Optional[Facts],
    overrides: Overrides,
    data: Optional[Compatibility] = None,
    timeout: float = COMMAND_TIMEOUT,
    local_sources: Sequence[Tuple[str, str]] = (),
    skip_index: bool = False,
    user_facts: Optional[Facts] = None,
) -> Plan:
    """``local_sources``: (kind, location) pairs given on the command line (a wheelhouse), asked
    before the pip configuration's; ``skip_index``: an air-gapped install, where only they count;
    ``user_facts``: the machine whose pip configuration (sources, CA) to use, when ``facts`` are
    another machine's or none (a bundle made here for another machine)."""
    data = data or load()
    user_facts = user_facts or facts
    inputs, sources, target_tags = build_inputs(facts, overrides)
    board = policy.jetson_decision(data, inputs)
    if board:
        return _jetson_plan(data, board, inputs, sources, overrides)
    eligible = policy.eligible_releases(data, inputs)
    ranked = policy.ranked_builds(data, inputs, eligible)
    decision = policy.decision_for(data, inputs, eligible, ranked[0].release, ranked[0].candidate.build)
    base = (overrides.index_base or data.default_index_base).rstrip("/")
    notes = list(decision.notes)
    candidates = list(decision.candidates)
    confirmed, found_in, wheel_bytes = "offline", None, None

    if overrides.offline:
        notes.append("decided offline from the bundled data (--offline)")
    else:
        from .confirm import IndexCheck

        if skip_index:
            check = IndexCheck.create(data, inputs, eligible, ranked, target_tags, base, timeout, local_sources, pip_cert(user_facts))
            confirmation = check.in_user_sources(decision, "--no-index: the index was not asked")
        else:
            check = IndexCheck.create(
                data, inputs, eligible, ranked, target_tags, base, timeout, list(local_sources) + configured_sources(user_facts), pip_cert(user_facts)
            )
            confirmation = check.on_index(decision)
        decision, candidates, confirmed, found_in = confirmation.decision, confirmation.candidates, confirmation.confirmed, confirmation.found_in
        wheel_bytes = confirmation.wheel_bytes
        notes = list(decision.notes) + [confirmation.note]

    release, build = decision.release, decision.build
    index_url = data.index_url(build, base)
    torch = policy.local_version(release, build)
    packages = [f"torch=={torch}"] + policy.companion_pins(release, build, inputs.with_packages)
    advisories = advisories_of(data, inputs, build, torch)
    return Plan(decision, build, index_url, torch, packages, candidates, inputs, sources, confirmed, found_in, notes, wheel_bytes, advisories)
