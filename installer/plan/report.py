"""A plan as text: the choice, the reasons, every build considered, the inputs and where they came from.

Each thing is said once: why a build fits stands in the builds table, not again on the build
line; why a newer release lost stands in the notes, not again on the release line; each GPU is
described once, in the inputs.
"""

from typing import List

from ..compat import BuildKind, load
from . import Plan, advisories
from .policy import Candidate

MARKS = {True: "✓", False: "✗"}
ASKED_MISFIT = "!"  # a build that does not fit, installed anyway because --variant asked for it


def render_text(plan: Plan) -> str:
    d = plan.decision
    if plan.found_in:
        where, command = f"{plan.found_in} (in your pip configuration)", f"pip install {' '.join(plan.packages)}"
    elif plan.build.kind is BuildKind.JETSON:
        where, command = plan.index_url, f"pip install '{plan.packages[0]}'"
    else:
        where, command = plan.index_url, f"pip install --index-url {plan.index_url} {' '.join(plan.packages)}"
    out = [
        f"Plan: torch {plan.torch} from {where}",
        f"  install: {command}",
        f"  release {d.release.version}: {d.release_basis}",
        f"  build {plan.variant}: {d.variant_basis}",
        *_size_line(plan),
        "",
        f"Builds of torch {d.release.version} for {plan.inputs.platform_name}",
    ]
    width = max(len(c.variant) for c in plan.candidates)
    for candidate in plan.candidates:
        mark, chosen = _marks(plan, candidate)
        out.append(f"  {mark} {candidate.variant:<{width}}  {candidate.reason}{chosen}")
        out.extend(f"      {note}" for note in candidate.notes)
    out.append("")
    out.append("Inputs")
    i = plan.inputs
    shown = [
        ("OS", f"{i.os} {i.arch}", plan.sources.get("os")),
        ("Python", i.python + (" (free-threaded)" if i.free_threaded else ""), plan.sources.get("python")),
    ]
    if i.glibc:
        shown.append(("glibc", i.glibc, "detected"))
    if i.nvidia_driver:
        shown.append(("NVIDIA driver", i.nvidia_driver, plan.sources.get("nvidia_driver")))
    data = load()
    for gpu in i.gpus:
        family = data.gpu_family(gpu.compute_capability)
        described = f"compute capability {gpu.compute_capability or 'unknown'}" + (f" ({family})" if family else "")
        shown.append((f"GPU {gpu.index}", f"{gpu.name}, {described}" if gpu.name else described, plan.sources.get("gpus")))
    if not i.gpus and "gpus" in plan.sources:
        shown.append(("GPUs", "none", plan.sources["gpus"].replace("none: ", "", 1)))
    if i.rocm_archs:
        shown.append(("AMD GPUs", ", ".join(i.rocm_archs), plan.sources.get("rocm_archs")))
    for position, device in enumerate(i.intel_gpus):
        family = data.intel_family(device)
        shown.append((f"Intel GPU {position}", family.label(device) if family else f"8086:{device}", plan.sources.get("intel_gpus")))
    if i.jetson:
        shown.append(("Jetson", f"L4T {i.jetson}", plan.sources.get("jetson")))
    if i.torch_constraint:
        shown.append(("torch allowed", i.torch_constraint, plan.sources.get("torch_constraint")))
    for label, value, source in shown:
        out.append(f"  {label}: {value}" + (f"  ({source})" if source else ""))
    notes = [note for note in plan.notes if note != d.asked_misfit]  # the builds table already says it
    if notes:
        out.append("")
        out.append("Notes")
        out.extend(f"  ! {note}" for note in notes)
    found = advisories.render(plan.advisories, plan.build.accelerated) if plan.advisories else []
    if found:
        out += [""] + found
    return "\n".join(out) + "\n"


def sources_consulted(plan: Plan, facts) -> List[str]:
    """What the plan was made from, beyond its inputs' own sources: the detection behind them, the
    data, the wheel tags a listing is checked against, and where torchup looks when the index does not answer."""
    from ..compat import DATA_FILE
    from ..detect import sources_consulted as detected_from
    from . import configured_sources, pip_cert

    lines = detected_from(facts) if facts else ["nothing detected: every input was given on the command line"]
    lines.append(f"builds, releases and their limits: {DATA_FILE}")
    tags = facts.interpreter.tags if facts and facts.interpreter and plan.sources.get("python", "").startswith("detected") else None
    if tags and tags.platforms:
        lines.append(
            f"wheel tags a listing is checked against: {tags.interpreter}-{tags.abis[0]}-{tags.platforms[0]} and {len(tags.platforms) - 1} older platform tags"
        )
    cert = pip_cert(facts)
    lines.append("CA bundle for index requests: " + (f"{cert} (pip's cert)" if cert else "the system's (OpenSSL's defaults)"))
    if facts:
        sources = ", ".join(location for _, location in configured_sources(facts))
        lines.append(f"your pip's sources, asked where the index does not answer: {sources or 'none but PyPI, which holds no +cpu or +cuXXX builds'}")
    return lines


def _marks(plan: Plan, candidate: Candidate):
    """The mark before a build and what follows its reason: the chosen build says why it was chosen."""
    if candidate.variant != plan.variant:
        return MARKS[candidate.accepted], ""
    if plan.inputs.variant != "auto":
        return (MARKS[True] if candidate.accepted else ASKED_MISFIT), f"  ← {plan.inputs.variant_asked}"
    return MARKS[candidate.accepted], "  ← chosen"


def _size_line(plan: Plan):
    """What the plan costs in disk and download, beside the other kind of build (a CI cache has limits)."""
    data = load()
    size = plan.size_gb
    wheel = f"the torch wheel is {plan.wheel_bytes / 1e6:.0f} MB (the index says); " if plan.wheel_bytes else ""
    if size is None:
        return [f"  size: {wheel.rstrip('; ')}"] if wheel else []
    other = BuildKind.CPU if plan.build.kind is BuildKind.CUDA else BuildKind.CUDA
    beside = data.sizes_gb.get(other)
    compared = f"; a {other.value.upper()} build: ≈ {beside:g} GB" if beside and plan.build.kind in (BuildKind.CPU, BuildKind.CUDA) else ""
    return [f"  size: {wheel}≈ {size:g} GB with its dependencies{compared} ({data.cite(data.sizes_source)})"]
