"""Confirming a decision against the index itself, or, when the index does not answer, against the
target pip's own sources.

The walk goes down the ranked builds (``policy.ranked_builds``) until a source holds a wheel the
target installs, as when a mirror lags behind. It never turns a plan for the machine's GPU into
a CPU plan: when the only build a source holds is a CPU build, it stops and says so.
"""

from typing import Dict, List, NamedTuple, Optional, Sequence, Set, Tuple

from packaging.tags import Tag

from ..compat import Build, Compatibility
from ..errors import TorchupError
from . import index
from .policy import Candidate, Decision, Eligible, PlanError, PlanInputs, Ranked, companion_pins, decision_for, local_version


class GpuLeftUnused(TorchupError):
    """Only a CPU build can be had although a build for this machine's GPU was planned."""

    exit_code = 1


class CompanionsMissing(TorchupError):
    """A source of the user's pip configuration holds the planned torch but not a ``--with``
    companion of the same build, and no source holds them all: nothing could install them together."""

    exit_code = 1


class Confirmation(NamedTuple):
    decision: Decision
    candidates: List[Candidate]
    confirmed: str  # "index", "configured-source" or "offline"
    found_in: Optional[str]  # the source of the user's own pip configuration holding the build
    note: str
    wheel_bytes: Optional[int] = None  # the planned torch wheel's size, where the index says it


class IndexCheck(NamedTuple):
    """Everything the confirmation needs, gathered once."""

    data: Compatibility
    inputs: PlanInputs
    eligible: Eligible
    ranked: List[Ranked]
    tags: Set[Tag]
    where: str  # the interpreter and platform in words, e.g. "cp311 on manylinux_2_36_x86_64"
    base: str
    timeout: float
    user_sources: Sequence[Tuple[str, str]]  # (kind, location): --find-links first, then the pip configuration's
    cafile: Optional[str] = None  # pip's configured CA bundle (a corporate CA), for these requests too

    @classmethod
    def create(cls, data, inputs, eligible, ranked, target_tags, base, timeout, user_sources, cafile=None) -> "IndexCheck":
        abis, platforms = target_tags or (None, index.generic_platforms(inputs.os, inputs.arch, inputs.glibc))
        interpreter = "cp" + inputs.python.replace(".", "")
        tags = index.supported_tags(interpreter, abis or [interpreter + ("t" if inputs.free_threaded else "")], platforms)
        return cls(data, inputs, eligible, ranked, tags, f"{interpreter} on {platforms[0]}", base, timeout, list(user_sources), cafile)

    def on_index(self, decision: Decision) -> Confirmation:
        listings: Dict[str, index.Listing] = {}
        for release, candidate in self._walk(decision):
            url = self.data.index_url(candidate.build, self.base)
            if url not in listings:
                try:
                    listings[url] = index.fetch_listing(url, "torch", self.timeout, self.cafile)
                except index.IndexUnreachable as error:
                    return self.in_user_sources(decision, f"the index {error.in_words} ({error})")
            wanted = local_version(release, candidate.build)
            wheels = index.matching_wheels(listings[url], "torch", wanted, self.tags)
            if wheels:
                self._refuse_cpu_for_gpu(decision, release, candidate.build, f"the index {self.base}")
                found = self._switch(decision, release, candidate.build, f"the newest release the index has ({self.base})")
                note = f"confirmed: {url}/torch/ has a torch {wanted} wheel for this interpreter"
                return Confirmation(found, self._mark_missing(found, listings), "index", None, note, listings[url].sizes.get(wheels[0]))
        if self.inputs.variant != "auto":
            raise PlanError(
                f"--variant {self.inputs.variant}: the index {self.base} has no torch {self.inputs.variant} build for this interpreter",
                hint="check --index-base, or plan with --offline",
            )
        raise PlanError(f"no planned build of torch is on the index {self.base} for this interpreter", hint="check --index-base, or plan with --offline")

    def in_user_sources(self, decision: Decision, unreachable: str) -> Confirmation:
        """The first ranked build one source holds whole: torch and each ``--with`` companion of the
        same build, since pip takes them together (a source holding torch alone is no source for them)."""
        if not self.user_sources:
            return Confirmation(decision, decision.candidates, "offline", None, f"decided from the bundled data: {unreachable}")
        listings: Dict[Tuple[str, str], List[str]] = {}
        checked = ", ".join(location for _, location in self.user_sources)
        shortfall = None  # the first source holding a planned torch without its companions
        for release, candidate in self._walk(decision):
            wanted = local_version(release, candidate.build)
            companions = [pin.split("==") for pin in companion_pins(release, candidate.build, self.inputs.with_packages)]
            for kind, location in self.user_sources:
                if not self._holds(listings, kind, location, "torch", wanted):
                    continue
                missing = [f"{name} {version}" for name, version in companions if not self._holds(listings, kind, location, name, version)]
                if missing:
                    shortfall = shortfall or f"torch {wanted} is in {location}, but {' and '.join(missing)} is not"
                    continue
                self._refuse_cpu_for_gpu(decision, release, candidate.build, f"{unreachable}; your pip sources")
                found = self._switch(decision, release, candidate.build, f"the newest release that a source of your pip configuration holds ({location})")
                return Confirmation(
                    found,
                    found.candidates,
                    "configured-source",
                    location,
                    f"{unreachable}; torch {wanted} is in {location}, a source of your pip configuration",
                )
        if shortfall:
            raise CompanionsMissing(
                f"{unreachable}; of your pip sources ({checked}), none holds every planned package: {shortfall}",
                hint="put the missing wheel, of the same build as torch, in the source that holds torch, or plan without it (drop it from --with)",
            )
        return Confirmation(
            decision,
            decision.candidates,
            "offline",
            None,
            f"decided from the bundled data: {unreachable}; your pip sources ({checked}) hold none of the planned builds",
        )

    def _holds(self, listings: Dict[Tuple[str, str], List[str]], kind: str, location: str, project: str, version: str) -> bool:
        """Whether the source at ``location`` has a ``project`` ``version`` wheel for this interpreter;
        each listing is read once (an unreachable source holds nothing)."""
        if (location, project) not in listings:
            try:
                listings[location, project] = index.source_listing(location, project, kind, self.timeout, self.cafile)
            except index.IndexUnreachable:
                listings[location, project] = []
        return bool(index.matching_wheels(listings[location, project], project, version, self.tags))

    def _walk(self, decision: Decision) -> List[Tuple]:
        """The ranked builds, the decision's own first."""
        chosen = (decision.release.version, decision.build)
        rest = [(r.release, r.candidate) for r in self.ranked if (r.release.version, r.candidate.build) != chosen]
        own = next(c for c in decision.candidates if c.build == decision.build)
        return [(decision.release, own)] + rest

    def _refuse_cpu_for_gpu(self, decision: Decision, release, build: Build, where: str) -> None:
        if not decision.build.accelerated or build.accelerated:
            return
        planned = local_version(decision.release, decision.build)
        raise GpuLeftUnused(
            f"{where} hold no build for this machine's GPU, only torch {local_version(release, build)}: "
            f"the plan is torch {planned}, and a CPU build would leave the GPU unused",
            hint="make the index reachable (check the network and proxy, or --index-base URL), or give --variant cpu to take the CPU build on purpose",
        )

    def _switch(self, decision: Decision, release, build: Build, why: str) -> Decision:
        """The decision, moved to another build that a source actually holds."""
        if (release.version, build) == (decision.release.version, decision.build):
            return decision
        moved = decision_for(
            self.data,
            self.inputs,
            self.eligible,
            release,
            build,
            found=None if release.version == decision.release.version else f"{why}; {decision.release.version} is not there",
        )
        if not build.accelerated:
            return moved  # its reason says why no GPU build applies ("no GPU detected")
        return moved._replace(variant_basis="the best build the source has")

    def _mark_missing(self, decision: Decision, listings: Dict[str, "index.Listing"]) -> List[Candidate]:
        """Candidates of the chosen release whose wheel an index listing read on the way lacks."""
        marked = []
        for candidate in decision.candidates:
            wanted = local_version(decision.release, candidate.build)
            listing = listings.get(self.data.index_url(candidate.build, self.base))
            if candidate.accepted and listing is not None and not index.matching_wheels(listing, "torch", wanted, self.tags):
                listed = index.versions_listed(listing, "torch")
                reason = f"the index has no torch {wanted} wheel for {self.where}" + (
                    f" (it lists {', '.join(listed[:4])}{'…' if len(listed) > 4 else ''})" if listed else " (it lists no torch wheels)"
                )
                candidate = candidate._replace(accepted=False, reason=reason)
            marked.append(candidate)
        return marked
