"""``torchup plan``: the torch build, exact version and index for a machine, and why.

Inputs come from detection unless an override names them; the decision is made from the
bundled data (``policy``), then confirmed against the index itself unless offline.
"""

import re
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from ..detect import Facts
from ..runner import DEFAULT_TIMEOUT
from .data import Compatibility, Release, load
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


def build_inputs(facts: Optional[Facts], overrides: Overrides) -> Tuple[PlanInputs, Dict[str, str], Optional[Tuple[List[str], List[str]]]]:
    """Plan inputs from detected facts and overrides, where each came from, and the target's (ABI, platform) tags."""
    sources: Dict[str, str] = {}
    interpreter = facts.interpreter if facts else None
    detected_os = OS_NAMES.get(facts.machine.os, facts.machine.os.lower()) if facts else None

    os_name = overrides.os or detected_os
    sources["os"] = "--os" if overrides.os else f"detected: {facts.machine.os}"
    arch = normalise_arch(os_name, overrides.arch or facts.machine.arch)
    sources["arch"] = "--arch" if overrides.arch else "detected"
    if overrides.python_version:
        python, free_threaded = overrides.python_version, False
        sources["python"] = "--python-version"
    else:
        python = ".".join(interpreter["version"].split(".")[:2])
        free_threaded = interpreter["free_threaded"]
        sources["python"] = f"detected: {interpreter['executable']}"

    same_machine = facts is not None and os_name == detected_os
    glibc = None
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
    settings = facts.pip["config"]["settings"]
    values = {}
    for key in ("index-url", "extra-index-url", "find-links"):
        value = settings.get(key, {}).get("value")
        values[key] = tuple(value) if isinstance(value, list) else (value,) if value else ()
    left_out = tuple(v for vs in values.values() for v in vs if "****@" in v)
    usable = {key: tuple(v for v in vs if v not in left_out) for key, vs in values.items()}
    return PipSources(usable["index-url"][0] if usable["index-url"] else None, usable["extra-index-url"], usable["find-links"], left_out)


def configured_sources(facts: Optional[Facts]) -> List[Tuple[str, str]]:
    """The target pip's own sources that could hold a torch build: (kind, location), PyPI excluded (it never has +cpu/+cuXXX builds)."""
    sources = pip_sources(facts)
    indexes = ((sources.index_url,) if sources.index_url else ()) + sources.extra_index_urls
    found = [("index", url) for url in indexes] + [("find-links", location) for location in sources.find_links]
    return [(kind, location) for kind, location in found if "pypi.org" not in location]


def make_plan(
    facts: Optional[Facts],
    overrides: Overrides,
    data: Optional[Compatibility] = None,
    timeout: float = DEFAULT_TIMEOUT,
    local_sources: Sequence[Tuple[str, str]] = (),
    skip_index: bool = False,
) -> Plan:
    """``local_sources``: (kind, location) pairs given on the command line (a wheelhouse), asked
    before the pip configuration's; ``skip_index``: an air-gapped install, where only they count."""
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
        if skip_index:
            confirmation = _from_user_sources(data, decision, inputs, _tags(inputs, target_tags), list(local_sources), timeout, "--no-index: the index was not asked")
        else:
            sources_to_ask = list(local_sources) + configured_sources(facts)
            confirmation = _confirm_on_index(data, decision, inputs, target_tags, base, timeout, sources_to_ask)
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
    """Walk the planned builds, best first, until the index has a matching wheel (PEP 503/691).

    The walk goes down the builds of the chosen release, then (unless --torch pins one) to older
    releases, as when a mirror lags behind. When the index does not answer, the target pip's own
    configured sources are asked for exactly one of the planned builds instead; failing that,
    the bundled data decides.
    """
    from . import index

    tags = _tags(inputs, target_tags)
    platforms = target_tags[1] if target_tags else index.generic_platforms(inputs.os, inputs.arch, inputs.glibc)
    where = f"cp{inputs.python.replace('.', '')} on {platforms[0]}"
    listings: Dict[str, List[str]] = {}
    for release, variant in _builds(data, decision, inputs):
        url = data.pypi_index if variant == "default" else f"{base}/{variant}"
        if url not in listings:
            try:
                listings[url] = index.fetch_listing(url, "torch", timeout)
            except index.IndexUnreachable as error:
                unreachable = f"the index did not answer within {timeout:g} s ({error})"
                return _from_user_sources(data, decision, inputs, tags, user_sources, timeout, unreachable)
        wanted = local_version(release, variant)
        if index.matching_wheels(listings[url], "torch", wanted, tags):
            decision = _switch(data, decision, inputs, release, variant, f"the newest release the index has ({base})")
            return Confirmation(decision, _mark_missing(decision, listings, base, data, tags, where), "index", None,
                                f"confirmed: {url}/torch/ has a torch {wanted} wheel for this interpreter")
    if inputs.variant != "auto":
        raise PlanError(f"--variant {inputs.variant}: the index {base} has no torch {inputs.variant} build for this interpreter", hint="check --index-base, or plan with --offline")
    raise PlanError(f"no planned build of torch is on the index {base} for this interpreter", hint="check --index-base, or plan with --offline")


def _builds(data: Compatibility, decision: Decision, inputs: PlanInputs) -> List[Tuple[Release, str]]:
    """Every build worth installing, best first: any accelerated build before any CPU build, then
    the newest release, then the best build of it. The decision's own choice comes first."""
    from .policy import evaluate, matching_releases, release_misfit

    releases = matching_releases(data, inputs.torch) if inputs.torch else data.releases
    if inputs.torch and re.fullmatch(r"\d+\.\d+\.\d+", inputs.torch):
        releases = [decision.release]
    builds = []
    for release in releases:
        if release_misfit(release, inputs):
            continue
        for variant in release.variants[inputs.platform]:
            wanted = variant == inputs.variant if inputs.variant != "auto" else evaluate(release, variant, inputs, data).accepted
            if wanted:
                builds.append((release, variant))
    builds.sort(key=lambda build: (build[1] in ("cpu", "default"), [-part for part in build[0].parsed.release], preference(build[1])))
    chosen = (decision.release, decision.variant)
    return [chosen] + [build for build in builds if build != chosen]


def _switch(data, decision, inputs, release, variant, why) -> Decision:
    """The decision, moved to another build that a source actually holds."""
    from .policy import evaluate

    if (release, variant) == (decision.release, decision.variant):
        return decision
    candidates = decision.candidates if release == decision.release else [
        evaluate(release, v, inputs, data) for v in sorted(release.variants[inputs.platform], key=preference)
    ]
    chosen = next(c for c in candidates if c.variant == variant)
    release_reason = decision.release_reason if release == decision.release else f"{why}; {decision.release.version} is not there"
    return decision._replace(release=release, release_reason=release_reason, variant=variant,
                             variant_reason=f"the best build the source has: {chosen.reason}", candidates=candidates)


def _mark_missing(decision, listings, base, data, tags, where) -> List[Candidate]:
    """Candidates of the chosen release whose wheel an index listing read on the way lacks."""
    from . import index

    marked = []
    for candidate in decision.candidates:
        url = data.pypi_index if candidate.variant == "default" else f"{base}/{candidate.variant}"
        wanted = local_version(decision.release, candidate.variant)
        listing = listings.get(url)
        if candidate.accepted and listing is not None and not index.matching_wheels(listing, "torch", wanted, tags):
            listed = index.versions_listed(listing, "torch")
            reason = f"the index has no torch {wanted} wheel for {where}" + (
                f" (it lists {', '.join(listed[:4])}{'…' if len(listed) > 4 else ''})" if listed else " (it lists no torch wheels)"
            )
            candidate = candidate._replace(accepted=False, reason=reason)
        marked.append(candidate)
    return marked


def _from_user_sources(data, decision, inputs, tags, user_sources, timeout, unreachable) -> Confirmation:
    from . import index

    if not user_sources:
        return Confirmation(decision, decision.candidates, "offline", None, f"decided from the bundled data: {unreachable}")
    listings = {}
    for kind, location in user_sources:
        try:
            listings[location] = index.source_listing(location, "torch", kind, timeout)
        except index.IndexUnreachable:
            listings[location] = []
    for release, variant in _builds(data, decision, inputs):
        wanted = local_version(release, variant)
        for location, listing in listings.items():
            if index.matching_wheels(listing, "torch", wanted, tags):
                decision = _switch(data, decision, inputs, release, variant, f"the newest release that a source of your pip configuration holds ({location})")
                return Confirmation(decision, decision.candidates, "configured-source", location, f"{unreachable}; torch {wanted} is in {location}, a source of your pip configuration")
    checked = ", ".join(location for _, location in user_sources)
    return Confirmation(decision, decision.candidates, "offline", None, f"decided from the bundled data: {unreachable}; your pip sources ({checked}) hold none of the planned builds")


def _tags(inputs: PlanInputs, target_tags):
    """The wheel tags the target installs: from its probe, or generic ones for a machine given by overrides."""
    from . import index

    abis, platforms = target_tags or (None, index.generic_platforms(inputs.os, inputs.arch, inputs.glibc))
    interpreter = "cp" + inputs.python.replace(".", "")
    return index.supported_tags(interpreter, abis or [interpreter + ("t" if inputs.free_threaded else "")], platforms)
