"""The published advisories of the planned torch release, and the oldest release that fixes them
and still runs on this machine: pure functions of the plan's inputs and the bundled data."""

from typing import List, NamedTuple, Optional

from ..compat import Advisory, Build, Compatibility, version_tuple
from .policy import Candidate, PlanInputs, candidates_of, release_misfit

NO_FIX = "no fix yet"


class Advisories(NamedTuple):
    torch: str  # the planned version
    found: List[Advisory]  # those that affect it, fixed ones first
    fixed_in: Optional[str]  # the oldest release with every fix that has a wheel here
    fixed_build: Optional[str]  # the build of it that runs here
    fixed_on_gpu: bool  # whether that build uses the GPU the plan was made for

    @property
    def without_fix(self) -> List[Advisory]:
        return [advisory for advisory in self.found if advisory.fixed is None]

    def as_data(self) -> dict:
        return {
            "torch": self.torch,
            "found": [
                {"id": a.id, "aliases": a.aliases, "affected": a.affected.text, "fixed": a.fixed, "impact": a.impact, "url": a.url, "verified": a.verified}
                for a in self.found
            ],
            "fixed_in": self.fixed_in,
            "fixed_build": self.fixed_build,
        }


def advisories_of(data: Compatibility, inputs: PlanInputs, build: Build, torch: str) -> Advisories:
    """The advisories that affect ``torch`` (the planned version of a ``build``), and the oldest
    release with every fix that runs here: with a build for the GPU where one was planned."""
    found = data.advisories_for(torch)
    fixes = [version_tuple(advisory.fixed) for advisory in found if advisory.fixed]
    fixed = sorted((r for r in data.releases if fixes and r.parsed >= max(fixes) and not release_misfit(r, inputs)), key=lambda r: r.parsed)
    if not fixed:
        return Advisories(torch, found, None, None, False)
    if build.accelerated:
        for release in fixed:
            on_gpu = min((c for c in candidates_of(release, inputs, data) if c.accepted and c.build.kind is build.kind), key=Candidate.rank, default=None)
            if on_gpu:
                return Advisories(torch, found, release.version, on_gpu.variant, True)
    plain = next((c for c in candidates_of(fixed[0], inputs, data) if c.accepted and not c.build.accelerated), None)
    return Advisories(torch, found, fixed[0].version, plain.variant if plain else None, False)


def render(advisories: Advisories, gpu_planned: bool) -> List[str]:
    """The text section: one line per fixed release (or none), then where the fixes run here."""
    if not advisories.found:
        return []
    out = [f"Advisories for torch {advisories.torch}: {len(advisories.found)} published (by the ids pip-audit and other scanners report)"]
    groups: dict = {}
    for advisory in advisories.found:
        if advisory.fixed:
            groups.setdefault((advisory.fixed, advisory.impact), []).append(advisory)
    width = max([len(f"fixed in {fixed}") for fixed, _ in groups] + [len(NO_FIX)])
    for (fixed, impact), members in groups.items():
        unverified = " (not verified)" if not all(member.verified for member in members) else ""
        out.append(f"  {'fixed in ' + fixed:<{width}}  {', '.join(member.named for member in members)}: {impact}{unverified}")
    if advisories.without_fix:
        ids = ", ".join(advisory.named for advisory in advisories.without_fix)
        out.append(f"  {NO_FIX:<{width}}  {ids} (each one's impact: --json)")
    if advisories.fixed_in:
        where = f"{advisories.fixed_in}+{advisories.fixed_build}" if advisories.fixed_build not in (None, "default") else advisories.fixed_in
        if gpu_planned and not advisories.fixed_on_gpu:
            where += ", as a CPU build: no release with these fixes has a build for this machine's GPU"
        out.append(f"  the oldest release with every fix that runs here: {where} (--torch {advisories.fixed_in})")
    elif any(advisory.fixed for advisory in advisories.found):
        out.append("  no release with every fix has a wheel for this Python and platform")
    if advisories.without_fix:
        out.append("  with no fixed release, a scanner can only be told to ignore one that does not apply to your use (pip-audit --ignore-vuln ID)")
    return out
