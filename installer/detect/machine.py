"""The machine: distribution, kernel, WSL, containers, CPU and its vector extensions, memory and disk."""

import os
import re
import shutil
import tempfile
from typing import Dict, List, NamedTuple, Optional, Tuple

from ..host import Host

# The x86 extensions PyTorch's CPU kernels dispatch on; a build that needs one the CPU lacks dies by SIGILL.
ISA_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "amx_tile")


class Distribution(NamedTuple):
    id: str
    version_id: Optional[str]
    pretty_name: Optional[str]


class Cpu(NamedTuple):
    model: Optional[str]
    isa_flags: List[str]
    logical_cores: Optional[int]
    physical_cores: Optional[int]


class Resources(NamedTuple):
    memory_total_bytes: Optional[int]
    memory_available_bytes: Optional[int]
    disk_free_bytes: Dict[str, int]  # path -> free bytes, for the target prefix and the temp dir


class MachineFacts(NamedTuple):
    os: str
    arch: str
    kernel: Optional[str]
    distribution: Optional[Distribution]
    libc: Optional[str]
    libc_version: Optional[str]
    wsl: Optional[str]  # "WSL1", "WSL2" or None
    container: Optional[str]  # "docker", "podman", "kubernetes", "container" or None
    cpu: Cpu
    resources: Resources
    mac_version: Optional[str]
    long_paths_enabled: Optional[bool] = None  # Windows: LongPathsEnabled in the registry
    clock: Optional[float] = None  # the time the machine's clock gave, in seconds since the epoch
    # Where each fact came from ("kernel": "/proc/sys/kernel/osrelease"), for -v.
    sources: Dict[str, str] = {}


def parse_os_release(text: str) -> Optional[Distribution]:
    values = {}
    for line in text.splitlines():
        key, separator, value = line.partition("=")
        if separator:
            values[key.strip()] = value.strip().strip("\"'")
    if "ID" not in values:
        return None
    return Distribution(values["ID"], values.get("VERSION_ID"), values.get("PRETTY_NAME"))


def parse_cpuinfo(text: str) -> Cpu:
    model = None
    flags: List[str] = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            present = set(value.split())
            flags = [flag for flag in ISA_FLAGS if flag in present]
    return Cpu(model, flags, None, None)


def parse_wsl(osrelease: str) -> Optional[str]:
    """WSL2 kernels say "microsoft-standard-WSL2"; WSL1 reports "4.4.0-19041-Microsoft"."""
    if "microsoft" not in osrelease.lower():
        return None
    return "WSL2" if re.search(r"microsoft-standard|WSL2", osrelease) else "WSL1"


def parse_cgroup_container(text: str) -> Optional[str]:
    if "kubepods" in text:
        return "kubernetes"
    if re.search(r"\bdocker\b|/docker-", text):
        return "docker"
    if "libpod" in text:
        return "podman"
    return None


def detect_container(host: Host) -> Tuple[Optional[str], str]:
    """The kind of container this runs in, if any, and what said so."""
    if host.env.get("KUBERNETES_SERVICE_HOST"):
        return "kubernetes", "KUBERNETES_SERVICE_HOST"
    if host.exists("/run/.containerenv"):
        return "podman", "/run/.containerenv"
    if host.exists("/.dockerenv"):
        return "docker", "/.dockerenv"
    from_cgroup = parse_cgroup_container(host.read_text("/proc/1/cgroup") or "")
    if from_cgroup:
        return from_cgroup, "/proc/1/cgroup"
    # systemd and podman set container= for the init process; the variable reaches children too.
    if host.env.get("container"):
        return "container", "container=" + host.env["container"]
    return None, "none of KUBERNETES_SERVICE_HOST, /run/.containerenv, /.dockerenv, /proc/1/cgroup, container="


def parse_meminfo(text: str) -> Tuple[Optional[int], Optional[int]]:
    """Total and available bytes from /proc/meminfo (values in kB)."""
    values = dict(re.findall(r"^(\w+):\s+(\d+) kB", text, flags=re.MULTILINE))
    total, available = values.get("MemTotal"), values.get("MemAvailable")
    return (int(total) * 1024 if total else None, int(available) * 1024 if available else None)


def physical_cores(cpuinfo: str) -> Optional[int]:
    """Distinct (physical id, core id) pairs; None where /proc/cpuinfo does not say (many Arm kernels)."""
    cores = set(re.findall(r"physical id\s*:\s*(\d+)\s*\n(?:.*\n)*?core id\s*:\s*(\d+)", cpuinfo))
    return len(cores) or None


def resources(host: Host, system: str, paths: List[str]) -> Tuple[Resources, str]:
    """Memory and free disk, and where the memory figures came from."""
    free = {}
    for path in paths:
        try:
            free[path] = shutil.disk_usage(path).free
        except OSError:
            continue
    meminfo = host.read_text("/proc/meminfo") if system == "Linux" else None
    if meminfo:
        # Linux says it all in /proc, which is quicker to read than psutil is to import.
        total, available = parse_meminfo(meminfo)
        return Resources(total, available, free), "/proc/meminfo"
    try:
        import psutil
    except ImportError:  # `make setup` runs detection with the system Python, before anything is installed
        return Resources(None, None, free), "unknown: no /proc/meminfo, and no psutil"
    memory = psutil.virtual_memory()
    return Resources(memory.total, memory.available, free), "psutil"


def probe(host: Host, target_platform: dict, target_prefix: Optional[str]) -> MachineFacts:
    """Machine facts; ``target_platform`` is the probe's platform section (what the target interpreter saw)."""
    system = target_platform.get("system") or "unknown"
    sources = {"OS, architecture and C library": "the target interpreter's probe (uname, confstr CS_GNU_LIBC_VERSION or its ELF loader)"}
    kernel_text = host.read_text("/proc/sys/kernel/osrelease")
    kernel = kernel_text.strip() if kernel_text else target_platform.get("release")
    sources["kernel"] = "/proc/sys/kernel/osrelease" if kernel_text else "the target interpreter's probe (uname)"
    release_file = next((path for path in ("/etc/os-release", "/usr/lib/os-release") if host.read_text(path)), None)
    os_release = host.read_text(release_file) if release_file else None
    sources["distribution"] = release_file or "neither /etc/os-release nor /usr/lib/os-release"
    cpuinfo = host.read_text("/proc/cpuinfo") or ""
    cpu = parse_cpuinfo(cpuinfo)._replace(logical_cores=os.cpu_count(), physical_cores=physical_cores(cpuinfo))
    sources["CPU"] = "/proc/cpuinfo (model, flags, physical and core ids), os.cpu_count()" if cpuinfo else "os.cpu_count()"
    if system != "Linux":
        try:
            import psutil

            cpu = cpu._replace(physical_cores=psutil.cpu_count(logical=False))
            sources["CPU"] += ", psutil"
        except ImportError:
            pass
    if cpu.model is None and system == "Darwin":
        sysctl = host.run(["sysctl", "-n", "machdep.cpu.brand_string"])
        cpu = cpu._replace(model=sysctl.stdout.strip() or None if sysctl.ok else None)
        sources["CPU"] += ", sysctl -n machdep.cpu.brand_string"
    disk_paths = [path for path in (target_prefix, tempfile.gettempdir()) if path]
    memory_and_disk, sources["memory"] = resources(host, system, disk_paths)
    sources["free disk"] = "the file systems of " + ", ".join(disk_paths)
    container, sources["container"] = detect_container(host) if system == "Linux" else (None, "not Linux")
    return MachineFacts(
        os=system,
        arch=target_platform.get("machine") or "unknown",
        kernel=kernel,
        distribution=parse_os_release(os_release) if os_release else None,
        libc=target_platform.get("libc"),
        libc_version=target_platform.get("libc_version"),
        wsl=parse_wsl(kernel or "") if system == "Linux" else None,
        container=container,
        cpu=cpu,
        resources=memory_and_disk,
        mac_version=target_platform.get("mac_version"),
        long_paths_enabled=target_platform.get("long_paths_enabled"),
        clock=target_platform.get("clock"),
        sources=sources,
    )
