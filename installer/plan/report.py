"""A plan as text: the choice, the reasons, every build considered, the inputs and where they came from."""

from . import Plan

MARKS = {True: "✓", False: "✗"}


def render_text(plan: Plan) -> str:
    d = plan.decision
    if plan.found_in:
        where, command = f"{plan.found_in} (in your pip configuration)", f"pip install {' '.join(plan.packages)}"
    else:
        where, command = plan.index_url, f"pip install --index-url {plan.index_url} {' '.join(plan.packages)}"
    out = [
        f"Plan: torch {plan.torch} from {where}",
        f"  install: {command}",
        f"  release {d.release.version}: {d.release_reason}",
        f"  build {plan.variant}: {d.variant_reason}",
        *_size_line(plan),
        "",
        f"Builds of torch {d.release.version} for {plan.inputs.platform_name}",
    ]
    width = max(len(c.variant) for c in plan.candidates)
    for candidate in plan.candidates:
        chosen = "  ← chosen" if candidate.variant == plan.variant else ""
        out.append(f"  {MARKS[candidate.accepted]} {candidate.variant:<{width}}  {candidate.reason}{chosen}")
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
    for gpu in i.gpus:
        shown.append((f"GPU {gpu.index}", f"{gpu.name}, compute capability {gpu.compute_capability or 'unknown'}", plan.sources.get("gpus")))
    if not i.gpus and "gpus" in plan.sources:
        shown.append(("GPUs", "none", plan.sources["gpus"]))
    if i.rocm_archs:
        shown.append(("AMD GPUs", ", ".join(i.rocm_archs), plan.sources.get("rocm_archs")))
    if i.jetson:
        shown.append(("Jetson", f"L4T {i.jetson}", plan.sources.get("jetson")))
    for label, value, source in shown:
        out.append(f"  {label}: {value}" + (f"  ({source})" if source else ""))
    if plan.notes:
        out.append("")
        out.append("Notes")
        out.extend(f"  ! {note}" for note in plan.notes)
    return "\n".join(out) + "\n"


def _size_line(plan: Plan):
    """What the plan costs in disk and download, beside the other kind of build (a CI cache has limits)."""
    from ..compat import BuildKind, load

    data = load()
    size = plan.size_gb
    wheel = f"the torch wheel is {plan.wheel_bytes / 1e6:.0f} MB (the index says); " if plan.wheel_bytes else ""
    if size is None:
        return [f"  size: {wheel.rstrip('; ')}"] if wheel else []
    other = BuildKind.CPU if plan.build.kind is BuildKind.CUDA else BuildKind.CUDA
    beside = data.sizes_gb.get(other)
    compared = f"; a {other.value.upper()} build: ≈ {beside:g} GB" if beside and plan.build.kind in (BuildKind.CPU, BuildKind.CUDA) else ""
    return [f"  size: {wheel}≈ {size:g} GB with its dependencies{compared} ({data.cite(data.sizes_source)})"]
