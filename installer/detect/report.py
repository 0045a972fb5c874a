"""Detected facts as report lines: sections of (mark, text), rendered to text at the very end."""

from typing import List, NamedTuple, Optional

from . import AppleFacts, Facts

OK, WARN, FAIL = "ok", "warn", "fail"
MARKS = {OK: "✓", WARN: "!", FAIL: "✗"}
# A CUDA build of torch with its NVIDIA libraries takes about 7 GB once unpacked, more while installing.
DISK_WARNING_BYTES = 10 * 1024**3
MEMORY_WARNING_BYTES = 4 * 1024**3


class Line(NamedTuple):
    mark: str
    text: str
    detail: Optional[str] = None


class Section(NamedTuple):
    title: str
    lines: List[Line]


def gib(value: Optional[int]) -> str:
    return "unknown" if value is None else f"{value / 1024**3:.1f} GiB"


def machine_section(facts: Facts) -> Section:
    m = facts.machine
    lines = []
    distribution = m.distribution.pretty_name or m.distribution.id if m.distribution else None
    lines.append(Line(OK, f"{m.os} {m.arch}" + (f", {distribution}" if distribution else "") + (f", kernel {m.kernel}" if m.kernel else "")))
    if m.libc == "musl":
        lines.append(Line(FAIL, f"C library: musl {m.libc_version}", "PyTorch publishes no musllinux wheels: use a glibc-based system or image"))
    elif m.libc:
        lines.append(Line(OK, f"C library: {m.libc} {m.libc_version}"))
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
        low = free < DISK_WARNING_BYTES
        lines.append(Line(WARN if low else OK, f"free disk at {path}: {gib(free)}", "a CUDA build of torch needs about 7 GB" if low else None))
    return Section("Machine", lines)


def python_section(facts: Facts) -> Section:
    i = facts.interpreter
    if i is None:
        return Section("Python", [Line(FAIL, f"{facts.python}: the probe failed", str(facts.unknown.get("interpreter")))])
    lines = []
    bits_mark = FAIL if i.bits == 32 else OK
    lines.append(
        Line(
            bits_mark,
            f"Python {i.version} ({i.implementation}, {i.bits}-bit{', free-threaded' if i.free_threaded else ''}) at {i.executable}",
            "PyTorch publishes no 32-bit wheels: install a 64-bit Python" if bits_mark == FAIL else None,
        )
    )
    kind = i.kind
    if kind == "venv":
        creator = f" made by {i.venv_creator}" if i.venv_creator else ""
        lines.append(Line(OK, f"virtual environment at {i.prefix}{creator}, on a {i.base_kind} Python"))
    else:
        lines.append(Line(OK, f"{kind} installation at {i.prefix}"))
    managed = i.externally_managed
    if managed.applies:
        lines.append(
            Line(WARN, "externally managed (PEP 668): pip refuses to install here", "install into a virtual environment: torchup install --venv .venv")
        )
    platforms = i.tags.platforms
    lines.append(Line(OK, f"wheel tags: {i.tags.interpreter}-{i.tags.abis[0]}-{platforms[0] if platforms else '?'}"))
    return Section("Python", lines)


def pip_section(facts: Facts) -> Section:
    p = facts.pip
    if p is None:
        return Section("pip", [Line(FAIL, "pip facts unavailable", str(facts.unknown.get("pip")))])
    lines = []
    ensurepip = p.ensurepip
    if p.present:
        lines.append(Line(OK, f"pip {p.version or '(version unknown)'}"))
    else:
        fix = "python -m ensurepip --upgrade" if ensurepip.available else "install pip (Debian/Ubuntu: apt install python3-pip python3-venv)"
        lines.append(Line(FAIL, "pip is not installed", fix))
    if ensurepip.available:
        lines.append(Line(OK, f"ensurepip can install pip {ensurepip.bundled_pip} offline"))
    else:
        lines.append(Line(OK if p.present else FAIL, f"ensurepip unavailable: {ensurepip.reason}"))
    for key, setting in sorted(p.config.settings.items()):
        value = setting.value
        shown = " ".join(value) if isinstance(value, list) else value
        lines.append(Line(OK, f"{key} = {shown}", f"from {setting.source}"))
    if not p.config.settings:
        lines.append(Line(OK, "no index, proxy or certificate settings: pip uses PyPI"))
    return Section("pip", lines)


def tls_section(facts: Facts) -> Section:
    t = facts.tls
    if t is None:
        return Section("TLS", [Line(FAIL, "TLS facts unavailable", str(facts.unknown.get("tls")))])
    lines = []
    if t.ssl_importable:
        lines.append(Line(OK, f"ssl module: {t.openssl_version}"))
    elif t.ssl_extension:
        lines.append(
            Line(
                FAIL,
                f"ssl module fails to import: {t.ssl_error}",
                f"the _ssl extension {t.ssl_extension} exists but its OpenSSL library does not load: reinstall this Python",
            )
        )
    else:
        lines.append(
            Line(
                FAIL,
                "ssl module missing: this Python was built without OpenSSL",
                "pip cannot reach an https index; rebuild Python with OpenSSL headers, or use a Python that bundles them (uv python install, conda)",
            )
        )
    for bundle in t.ca_bundles:
        if bundle.path:
            lines.append(Line(OK if bundle.exists else FAIL, f"{bundle.source}: {bundle.path}" + ("" if bundle.exists else " (missing)")))
    for variable, value in sorted(t.proxies.items()):
        lines.append(Line(OK, f"{variable} = {value}"))
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


def sections(facts: Facts) -> List[Section]:
    built = [
        machine_section(facts),
        python_section(facts),
        pip_section(facts),
        tls_section(facts),
        accelerator_section(facts),
        environment_section(facts),
        unknown_section(facts),
    ]
    return [section for section in built if section]


def render_text(report: List[Section], verbose_trail: Optional[List[str]] = None) -> str:
    out = []
    for section in report:
        out.append(section.title)
        for line in section.lines:
            out.append(f"  {MARKS[line.mark]} {line.text}")
            if line.detail:
                out.append(f"      {line.detail}")
        out.append("")
    if verbose_trail:
        out.append("Sources consulted")
        out.extend(f"  {entry}" for entry in verbose_trail)
        out.append("")
    return "\n".join(out).rstrip() + "\n"
