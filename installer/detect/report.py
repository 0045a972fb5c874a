"""Detected facts as report lines: sections of (status, text), rendered to text at the very end.

A line that states a fact some catalogued problem judges names it (``about``, its key in
``detect --json``) and is ✓ until a finding about it says otherwise: the marks of ``detect`` are
those of ``torchup fix``, decided once, in ``installer.findings``.
"""

from typing import List, NamedTuple, Optional, Sequence

from ..status import Status, worst
from . import AppleFacts, Facts

OK, WARN, FAIL = Status.OK, Status.WARN, Status.FAIL
MEMORY_WARNING_BYTES = 4 * 1024**3


class Line(NamedTuple):
    status: Status
    text: str
    detail: Optional[str] = None
    about: Optional[str] = None  # the fact it states, as findings name it


class Section(NamedTuple):
    title: str
    lines: List[Line]


def gib(value: Optional[int]) -> str:
    return "unknown" if value is None else f"{value / 1024**3:.1f} GiB"


def machine_section(facts: Facts) -> Section:
    m = facts.machine
    lines = []
    distribution = m.distribution.pretty_name or m.distribution.id if m.distribution else None
    platform = f"{m.os} {m.arch}" + (f", {distribution}" if distribution else "") + (f", kernel {m.kernel}" if m.kernel else "")
    lines.append(Line(OK, platform, about="machine.os"))
    if m.libc:
        lines.append(Line(OK, f"C library: {m.libc} {m.libc_version}", about="machine.libc"))
    if m.wsl:
        lines.append(Line(OK if m.wsl == "WSL2" else FAIL, f"Windows Subsystem for Linux: {m.wsl}", None if m.wsl == "WSL2" else "CUDA needs WSL2"))
    if m.container:
        lines.append(Line(OK, f"container: {m.container}"))
    isa = ", ".join(flag.upper() for flag in m.cpu.isa_flags) or "no AVX"
    cores = f"{m.cpu.physical_cores or '?'} cores, {m.cpu.logical_cores or '?'} threads"
    lines.append(
        Line(
            OK,
            f"CPU: {m.cpu.model or 'unknown model'} ({cores}; {isa})" if m.arch in ("x86_64", "AMD64") else f"CPU: {m.cpu.model or 'unknown model'} ({cores})",
        )
    )
    r = m.resources
    memory_low = r.memory_total_bytes is not None and r.memory_total_bytes < MEMORY_WARNING_BYTES
    lines.append(Line(WARN if memory_low else OK, f"memory: {gib(r.memory_total_bytes)} total, {gib(r.memory_available_bytes)} available"))
    for path, free in r.disk_free_bytes.items():
        lines.append(Line(OK, f"free disk at {path}: {gib(free)}", about=f"machine.resources.disk_free_bytes.{path}"))
    return Section("Machine", lines)


def python_section(facts: Facts) -> Section:
    i = facts.interpreter
    if i is None:
        return Section("Python", [Line(FAIL, f"{facts.python}: the probe failed", str(facts.unknown.get("interpreter")))])
    lines = [
        Line(OK, f"Python {i.version} ({i.implementation}, {i.bits}-bit{', free-threaded' if i.free_threaded else ''}) at {i.executable}", about="interpreter")
    ]
    if i.kind == "venv":
        creator = f" made by {i.venv_creator}" if i.venv_creator else ""
        lines.append(Line(OK, f"virtual environment at {i.prefix}{creator}, on a {i.base_kind} Python", about="interpreter.kind"))
    else:
        lines.append(Line(OK, f"{i.kind} installation at {i.prefix}", about="interpreter.kind"))
    if i.externally_managed.applies:
        lines.append(Line(OK, "externally managed (PEP 668): pip refuses to install here", about="interpreter.externally_managed"))
    platforms = i.tags.platforms
    lines.append(Line(OK, f"wheel tags: {i.tags.interpreter}-{i.tags.abis[0]}-{platforms[0] if platforms else '?'}"))
    return Section("Python", lines)


def pip_section(facts: Facts) -> Section:
    p = facts.pip
    if p is None:
        return Section("pip", [Line(FAIL, "pip facts unavailable", str(facts.unknown.get("pip")))])
    ensurepip = p.ensurepip
    lines = [Line(OK, f"pip {p.version or '(version unknown)'}" if p.present else "pip is not installed", about="pip")]
    if ensurepip.available:
        lines.append(Line(OK, f"ensurepip can install pip {ensurepip.bundled_pip} offline", about="pip.ensurepip"))
    else:
        lines.append(Line(OK, f"ensurepip unavailable: {ensurepip.reason}", about="pip.ensurepip"))
    for key, setting in sorted(p.config.settings.items()):
        value = setting.value
        shown = (" ".join(value) if isinstance(value, list) else value) + (" (missing)" if setting.exists is False else "")
        lines.append(Line(OK, f"{key} = {shown}", f"from {setting.source}", about=f"pip.config.settings.{key}"))
    if not p.config.settings:
        lines.append(Line(OK, "no index, proxy or certificate settings: pip uses PyPI"))
    return Section("pip", lines)


def tls_section(facts: Facts) -> Section:
    t = facts.tls
    if t is None:
        return Section("TLS", [Line(FAIL, "TLS facts unavailable", str(facts.unknown.get("tls")))])
    if t.ssl_importable:
        ssl = f"ssl module: {t.openssl_version}"
    elif t.ssl_extension:
        ssl = f"ssl module fails to import: {t.ssl_error}"
    else:
        ssl = "ssl module missing: this Python was built without OpenSSL"
    lines = [Line(OK, ssl, about="tls.ssl")]
    for bundle in t.ca_bundles:
        if bundle.path:
            # A missing file is worth knowing; whether it breaks anything is the findings' to say.
            shown = f"{bundle.source}: {bundle.path}" + ("" if bundle.exists else " (missing)")
            lines.append(Line(OK if bundle.exists else WARN, shown, about=f"tls.ca_bundles.{bundle.source}"))
    for variable, value in sorted(t.proxies.items()):
        lines.append(Line(OK, f"{variable} = {value}", about=f"tls.proxies.{variable}"))
    return Section("TLS", lines)


def accelerator_section(facts: Facts) -> Section:
    a = facts.accelerators
    lines = []
    n = a.nvidia
    if n:
        if n.driver_version:
            cuda = f", CUDA {n.cuda_driver_version} (from {n.cuda_source})" if n.cuda_driver_version else ", CUDA version unknown"
            lines.append(Line(OK, f"NVIDIA driver {n.driver_version} (from {n.driver_source}){cuda}"))
        for gpu in n.gpus:
            details = [f"compute capability {gpu.compute_capability or 'unknown'}"]
            if gpu.memory_mib:
                details.append(f"{gpu.memory_mib} MiB")
            lines.append(Line(OK, f"GPU {gpu.index}: {gpu.name}, {', '.join(details)}"))
        if n.mig_devices:
            lines.append(Line(OK, f"MIG enabled: {n.mig_devices} MIG devices"))
        if n.jetson:
            lines.append(jetson_line(n.jetson.l4t))
        for error in n.errors:
            lines.append(Line(FAIL, f"nvidia-smi: {error.message}", NVIDIA_ERROR_HINTS.get(error.kind)))
    if a.amd:
        counts = {}
        for arch in a.amd.architectures:
            counts[arch] = counts.get(arch, 0) + 1
        archs = ", ".join(f"{arch} ×{count}" if count > 1 else arch for arch, count in counts.items())
        lines.append(Line(OK, f"AMD GPU: {archs} (from {a.amd.source}), ROCm {a.amd.rocm_version or 'version unknown'}"))
    if a.intel:
        lines += intel_lines(a.intel)
    if a.apple:
        lines.append(apple_line(a.apple))
    if not lines:
        lines.append(Line(OK, "no GPU found: a CPU build of PyTorch fits this machine"))
    return Section("Accelerators", lines)


def jetson_line(l4t: str) -> Line:
    """The board's L4T release, its JetPack, and which PyTorch runs there (the compatibility data's jetson rows)."""
    from ..compat import load

    board = load().jetson_release(l4t)
    if board is None:
        return Line(WARN, f"Jetson board, L4T {l4t}: not a release torchup knows", "torchup plan says which ones it knows")
    if board.sbsa:
        runs = f"download.pytorch.org's Linux aarch64 CUDA {board.cuda[0]}.{board.cuda[1]} builds run there"
    elif board.wheel:
        runs = f"NVIDIA's own wheel, torch {board.wheel.torch} for Python {board.python}"
    else:
        runs = board.last
    return Line(OK, f"Jetson board, L4T {l4t} ({board.name})", runs)


def intel_lines(intel) -> List[Line]:
    """Each Intel display device by its family (the compatibility data's, by PCI id), and whether the
    Level Zero GPU driver the XPU build loads is there, where a GPU it validates is."""
    from ..compat import load

    data = load()
    lines, validated = [], False
    for device in intel.device_ids:
        family = data.intel_family(device)
        driver = intel.kernel_drivers.get(f"8086:{device}")
        facts = f"kernel driver {driver}" if driver else ""
        if family and family.xpu_from:
            validated = True
            lines.append(Line(OK, f"Intel GPU: {family.label(device)}" + (f", {facts}" if facts else "")))
        else:
            what = family.label(device) if family else f"8086:{device}"
            lines.append(
                Line(OK, f"Intel display device: {what}" + (f", {facts}" if facts else ""), "not a GPU PyTorch's XPU build validates: the CPU build fits it")
            )
    if intel.gpu_names:
        lines.append(Line(OK, f"oneAPI's sycl-ls sees: {', '.join(intel.gpu_names)}"))
    if validated:
        if intel.level_zero:
            lines.append(Line(OK, f"Level Zero GPU driver: {intel.level_zero}"))
        else:
            lines.append(Line(WARN, f"no Level Zero GPU driver ({data.intel_driver.library}): the XPU build needs it", data.intel_driver.install))
    return lines


def apple_line(apple: AppleFacts) -> Line:
    from ..compat import load  # only on Apple Silicon: MPS's macOS floor is the compatibility data's

    data = load()
    available = data.mps_available(apple.macos)
    mps = "MPS available" if available else f"MPS needs macOS {data.mps_macos_min} or newer"
    return Line(OK if available else WARN, f"{apple.chip or 'Apple Silicon'}, macOS {apple.macos}: {mps}")


NVIDIA_ERROR_HINTS = {
    "driver_library_mismatch": "the kernel module and the user-space driver differ, usually after a driver upgrade: reboot",
    "driver_not_loaded": "the NVIDIA kernel module is not loaded: install the driver or reboot",
    "no_devices": "the driver sees no GPU: check `dmesg` (RmInitAdapter), BIOS Above-4G/Resizable BAR, and power",
    "nvml_unknown_error": "inside a container after the host reloaded systemd the GPU is lost: restart the container",
}


def environment_section(facts: Facts) -> Section:
    e = facts.environment
    lines = []
    for name, value in e.variables.items():
        hides = name in ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES") and value.strip() in ("", "-1")
        lines.append(Line(WARN if hides else OK, f"{name}={value}", "this hides every GPU from PyTorch" if hides else None))
    if e.cuda_toolkit:
        lines.append(
            Line(
                OK,
                f"CUDA toolkit {e.cuda_toolkit.version or '(version unknown)'} at {e.cuda_toolkit.nvcc}",
                "used only to build extensions: PyTorch wheels bring their own CUDA runtime",
            )
        )
    for directory in e.cuda_library_dirs:
        lines.append(Line(WARN, f"LD_LIBRARY_PATH holds CUDA libraries: {directory}", "they can shadow the ones a torch wheel brings"))
    if not lines:
        lines.append(Line(OK, "no variables that change PyTorch's behaviour"))
    return Section("Environment", lines)


def unknown_section(facts: Facts) -> Optional[Section]:
    lines = [Line(WARN, f"{section}.{field}: unknown", reason) for section, fields in facts.unknown.items() for field, reason in fields.items()]
    return Section("Not determined", lines) if lines else None


def sections(facts: Facts, findings: Sequence = ()) -> List[Section]:
    """The report's sections, each line that a finding judges marked and annotated with it."""
    built = [
        machine_section(facts),
        python_section(facts),
        pip_section(facts),
        tls_section(facts),
        accelerator_section(facts),
        environment_section(facts),
        unknown_section(facts),
    ]
    return [_judged(section, findings) for section in built if section]


def _judged(section: Section, findings: Sequence) -> Section:
    lines = []
    for line in section.lines:
        concerning = [finding for finding in findings if line.about and line.about in finding.about]
        if concerning:
            notes = ([line.detail] if line.detail else []) + [f"{finding.id}: {finding.title}" for finding in concerning]
            line = line._replace(status=worst(line.status, *(finding.severity for finding in concerning)), detail="; ".join(notes))
        lines.append(line)
    return section._replace(lines=lines)


def render_text(report: List[Section]) -> str:
    out = []
    for section in report:
        out.append(section.title)
        for line in section.lines:
            out.append(f"  {line.status.mark} {line.text}")
            if line.detail:
                out.append(f"      {line.detail}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
