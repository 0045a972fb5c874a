"""``torchup plan``: the torch build, exact version and index for a machine, and why.

Inputs come from detection unless an override names them; the decision is made from the
bundled data (``policy``), then confirmed against the index itself unless offline.
"""

from typing import Dict, List, NamedTuple, Optional, Tuple

from ..detect import Facts
from ..runner import DEFAULT_TIMEOUT
from .data import Compatibility, load
from .policy import (
    Candidate,
    Decision,
    Gpu,
    PlanError,
    PlanInputs,
    companion_pins,
    decide,
    local_version,
    preference,
)

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
    no_gpu: bool = False
    offline: bool = False
    index_base: Optional[str] = None

    def needs_detection(self) -> bool:
        """Whether anything must be detected: not when every input is given, as when planning for another machine."""
        machine_given = self.os and self.arch and self.python_version
        gpus_given = self.no_gpu or self.gpu_cc or self.rocm_arch
        return not (machine_given and gpus_given)


class Plan(NamedTuple):
    decision: Decision
    variant: str
    index_url: str
    torch: str
    packages: List[str]
    candidates: List[Candidate]
    inputs: PlanInputs
    sources: Dict[str, str]
    confirmed: str  # "index", "configured-source" or "offline"
    # With the index unreachable: the pip source of the target's own configuration holding the planned build.
    found_in: Optional[str]
    notes: List[str]

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
                {"variant": c.variant, "accepted": c.accepted, "chosen": c.variant == self.variant, "reason": c.reason, "notes": list(c.notes)}
                for c in self.candidates
            ],
            "inputs": {
                **{key: (list(value) if isinstance(value, tuple) else value) for key, value in self.inputs._asdict().items() if key != "gpus"},
                "gpus": [gpu._asdict() for gpu in self.inputs.gpus],
                "sources": self.sources,
            },
            "confirmed": self.confirmed,
            "found_in": self.found_in,
            "notes": self.notes,
        }


def normalise_arch(os_name: str, machine: str) -> str:
    machine = machine.lower()
    if machine in ("amd64", "x86_64", "x64"):
        return "x86_64"
    if machine in ("aarch64", "arm64"):
        return "arm64" if os_name == "macos" else "aarch64"
    return machine


def build_inputs(facts: Optional[Facts], overrides: Overrides) -> Tuple[PlanInputs, Dict[str, str], Optional[List[str]]]:
    """Plan inputs from detected facts and overrides, where each came from, and the target's platform tags."""
    sources: Dict[str, str] = {}
    interpreter = facts.interpreter if facts else None
    detected_os = OS_NAMES.get(facts.machine.os, facts.machine.os.lower()) if facts else None

    os_name = overrides.os or detected_os
    sources["os"] = "--os" if overrides.os else f"detected: {facts.machine.os}"
    arch = overrides.arch or (normalise_arch(os_name, facts.machine.arch) if facts else None)
    arch = normalise_arch(os_name, arch)
    sources["arch"] = "--arch" if overrides.arch else "detected"
    if overrides.python_version:
        python, free_threaded = overrides.python_version, False
        sources["python"] = "--python-version"
    else:
        python = ".".join(interpreter["version"].split(".")[:2])
        free_threaded = interpreter["free_threaded"]
        sources["python"] = f"detected: {interpreter['executable']}"

    same_machine = facts is not None and os_name == detected_os
    glibc = musl = None
    if same_machine and facts.machine.libc == "glibc":
        glibc = facts.machine.libc_version
    if same_machine and facts.machine.libc == "musl":
        raise PlanError(f"this system's C library is musl {facts.machine.libc_version}: PyTorch publishes no musllinux wheels",
                        hint="use a glibc-based distribution or container image (Debian, Ubuntu, Fedora, RHEL 8+)")
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
            gpus = tuple(Gpu(i, f"GPU with compute capability {cc}", cc) for i, cc in enumerate(overrides.gpu_cc))
            sources["gpus"] = "--gpu-cc"
        elif nvidia and not overrides.rocm_arch:
            gpus = tuple(Gpu(g.index, g.name, g.compute_capability) for g in nvidia.gpus)
            sources["gpus"] = f"detected: {nvidia.nvidia_smi or 'no nvidia-smi'}"
        if driver:
            sources["nvidia_driver"] = "--nvidia-driver"
        elif nvidia and nvidia.driver_version and not overrides.rocm_arch:
            driver = nvidia.driver_version
            sources["nvidia_driver"] = f"detected: {nvidia.driver_source}"
        jetson = nvidia.jetson.l4t if nvidia and nvidia.jetson else None
        if rocm_archs:
            sources["rocm_archs"] = "--rocm-arch"
        elif amd and not overrides.gpu_cc:
            rocm_archs = tuple(amd.architectures)
            sources["rocm_archs"] = f"detected: {amd.source}"
    if facts and not same_machine:
        sources["gpus"] = sources.get("gpus", f"none: this machine's GPUs do not apply to {os_name}")

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
        intel_gpus=tuple(intel.gpu_names) if intel and not overrides.no_gpu else (),
        intel_display_device=bool(intel) and not overrides.no_gpu,
        torch=overrides.torch,
        variant=overrides.variant,
        with_packages=tuple(overrides.with_packages),
    )
    platforms = interpreter["tags"]["platforms"] if interpreter and same_machine and not overrides.python_version else None
    abis = interpreter["tags"]["abis"] if platforms else None
    return inputs, sources, (abis, platforms) if platforms else None


def configured_sources(facts: Optional[Facts]) -> List[Tuple[str, str]]:
    """The target pip's own sources that could hold a torch build: (kind, location), PyPI excluded (it never has +cpu/+cuXXX builds)."""
    if not facts or not facts.pip:
        return []
    settings = facts.pip["config"]["settings"]
    found = []
    for key, kind in (("index-url", "index"), ("extra-index-url", "index"), ("find-links", "find-links")):
        value = settings.get(key, {}).get("value")
        for location in value if isinstance(value, list) else [value] if value else []:
            if "pypi.org" not in location and "****@" not in location:
                found.append((kind, location))
    return found


def make_plan(facts: Optional[Facts], overrides: Overrides, data: Optional[Compatibility] = None, timeout: float = DEFAULT_TIMEOUT) -> Plan:
    data = data or load()
    inputs, sources, target_tags = build_inputs(facts, overrides)
    decision = decide(data, inputs)
    base = (overrides.index_base or data.default_index_base).rstrip("/")
    notes = list(decision.notes)
    candidates = list(decision.candidates)
    confirmed, found_in = "offline", None

    if overrides.offline:
        notes.append("decided offline from the bundled data (--offline)")
    else:
        confirmation = _confirm_on_index(data, decision, inputs, target_tags, base, timeout, configured_sources(facts))
        decision, candidates, confirmed, found_in = confirmation.decision, confirmation.candidates, confirmation.confirmed, confirmation.found_in
        notes.append(confirmation.note)

    release, variant = decision.release, decision.variant
    index_url = data.pypi_index if variant == "default" else f"{base}/{variant}"
    torch = local_version(release, variant)
    packages = [f"torch=={torch}"] + companion_pins(release, variant, inputs.with_packages)
    return Plan(decision, variant, index_url, torch, packages, candidates, inputs, sources, confirmed, found_in, notes)


class Confirmation(NamedTuple):
    decision: Decision
    candidates: List[Candidate]
    confirmed: str
    found_in: Optional[str]
    note: str


def _confirm_on_index(data, decision, inputs, target_tags, base, timeout, user_sources) -> Confirmation:
    """Walk the accepted builds, best first, until the index has a matching wheel (PEP 503/691).

    When the index does not answer, the target pip's own configured sources are asked for exactly
    one of the planned builds instead; failing that, the bundled data decides.
    """
    from . import index

    release = decision.release
    abis, platforms = target_tags or (None, index.generic_platforms(inputs.os, inputs.arch, inputs.glibc))
    interpreter = "cp" + inputs.python.replace(".", "")
    tags = index.supported_tags(interpreter, abis or [interpreter + ("t" if inputs.free_threaded else "")], platforms)

    candidates = list(decision.candidates)
    for variant in _walk_order(decision, inputs):
        url = data.pypi_index if variant == "default" else f"{base}/{variant}"
        wanted = local_version(release, variant)
        try:
            listing = index.fetch_listing(url, "torch", timeout)
        except index.IndexUnreachable as error:
            unreachable = f"the index did not answer within {timeout:g} s ({error})"
            return _from_user_sources(data, decision, inputs, tags, user_sources, timeout, unreachable)
        if index.matching_wheels(listing, "torch", wanted, tags):
            if variant != decision.variant:
                chosen = next(c for c in candidates if c.variant == variant)
                decision = decision._replace(variant=variant, variant_reason=f"the newest build the index has: {chosen.reason}")
            return Confirmation(decision, candidates, "index", None, f"confirmed: {url}/torch/ has a torch {wanted} wheel for this interpreter")
        listed = index.versions_listed(listing, "torch")
        missing = f"the index has no torch {wanted} wheel for {interpreter} on {platforms[0]}" + (
            f" (it lists {', '.join(listed[:4])}{'…' if len(listed) > 4 else ''})" if listed else " (it lists no torch wheels)"
        )
        candidates = [c._replace(accepted=False, reason=missing) if c.variant == variant else c for c in candidates]
    if inputs.variant != "auto":
        raise PlanError(f"--variant {inputs.variant}: {next(c.reason for c in candidates if c.variant == inputs.variant)}", hint=f"index: {base}")
    raise PlanError(f"no build of torch {release.version} is on the index {base} for this interpreter", hint="check --index-base, or plan with --offline")


def _walk_order(decision: Decision, inputs: PlanInputs) -> List[str]:
    if inputs.variant != "auto":
        return [decision.variant]
    return [c.variant for c in sorted(decision.candidates, key=lambda c: preference(c.variant)) if c.accepted]


def _from_user_sources(data, decision, inputs, tags, user_sources, timeout, unreachable) -> Confirmation:
    from . import index
    from .policy import evaluate, matching_releases, release_misfit

    if not user_sources:
        return Confirmation(decision, decision.candidates, "offline", None, f"decided from the bundled data: {unreachable}")
    releases = matching_releases(data, inputs.torch) if inputs.torch else data.releases
    builds = []
    for release in releases:
        if release_misfit(release, inputs):
            continue
        for variant in release.variants[inputs.platform]:
            if inputs.variant in ("auto", variant) and (inputs.variant != "auto" or evaluate(release, variant, inputs, data).accepted):
                builds.append((release, variant))
    # Any accelerated build before any CPU build; then the newest release; then the best build.
    builds.sort(key=lambda build: (build[1] in ("cpu", "default"), -build[0].parsed.release[0], -build[0].parsed.release[1], -build[0].parsed.release[2], preference(build[1])))
    listings = {}
    for kind, location in user_sources:
        try:
            listings[location] = index.source_listing(location, "torch", kind, timeout)
        except index.IndexUnreachable:
            listings[location] = []
    for release, variant in builds:
        wanted = local_version(release, variant)
        for location, listing in listings.items():
            if index.matching_wheels(listing, "torch", wanted, tags):
                if (release, variant) != (decision.release, decision.variant):
                    candidates = [evaluate(release, v, inputs, data) for v in sorted(release.variants[inputs.platform], key=preference)]
                    reason = f"the newest release that a source of your pip configuration holds ({location})"
                    decision = decision._replace(
                        release=release, release_reason=reason, variant=variant,
                        variant_reason=next(c.reason for c in candidates if c.variant == variant), candidates=candidates,
                    )
                return Confirmation(decision, decision.candidates, "configured-source", location, f"{unreachable}; torch {wanted} is in {location}, a source of your pip configuration")
    checked = ", ".join(location for _, location in user_sources)
    return Confirmation(decision, decision.candidates, "offline", None, f"decided from the bundled data: {unreachable}; your pip sources ({checked}) hold none of the planned builds")
