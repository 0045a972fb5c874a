"""NVIDIA driver and GPUs: pure ``parse_*`` functions over tool output, and the probe that feeds them.

Sources of the driver version, first hit wins (files before processes, an override first):
``TORCHUP_NVIDIA_DRIVER``, ``/sys/module/nvidia/version``, ``/proc/driver/nvidia/version``,
then ``nvidia-smi``. GPU names and compute capabilities come from ``nvidia-smi`` only.
"""

import re
import sys
from typing import List, NamedTuple, Optional, Tuple

from ..background import Background
from ..host import Host

OVERRIDE_VARIABLE = "TORCHUP_NVIDIA_DRIVER"
SYS_MODULE_VERSION = "/sys/module/nvidia/version"
PROC_DRIVER_VERSION = "/proc/driver/nvidia/version"
TEGRA_RELEASE = "/etc/nv_tegra_release"
# A Jetson's device tree names the SoC (nvidia,tegra234): where the release file is empty or gone,
# the L4T release is the version of its core package (jetson-containers' l4t_version.sh does the same).
DEVICE_TREE = "/proc/device-tree/compatible"
L4T_PACKAGE = "nvidia-l4t-core"
# WSL2 exposes the Windows driver's tools here and nowhere else (microsoft/WSL#8174).
WSL_LIB_DIR = "/usr/lib/wsl/lib"
QUERY_FIELDS = "index,name,uuid,driver_version,memory.total,compute_cap"

# Patterns stay strings: re compiles and caches each on first use, so a machine without
# NVIDIA tools pays nothing for them at start-up.
_VERSION = r"\d+\.\d+(?:\.\d+)?"
# Desktop and datacenter driver branches are numbered 300 and up; Jetson's kernel module reports
# its L4T release (35.3.1) in the same place (nix-community/nixGL#139).
_LOWEST_DRIVER_BRANCH = 300


class NvidiaGpu(NamedTuple):
    index: int
    name: str
    compute_capability: Optional[str] = None
    memory_mib: Optional[int] = None
    uuid: Optional[str] = None


class SmiTable(NamedTuple):
    """What the default ``nvidia-smi`` table says."""

    tool_version: str
    driver_version: str
    # None where the header has no CUDA field (before R410) or says N/A or ERR!.
    cuda_version: Optional[str]
    cuda_field: Optional[str]
    gpus: List[NvidiaGpu]
    mig_devices: int


class SmiError(NamedTuple):
    kind: str
    message: str


class KernelModule(NamedTuple):
    version: str
    flavour: str  # "open" or "proprietary"
    arch: str


class TegraRelease(NamedTuple):
    l4t: str  # e.g. "35.4.1"
    board: Optional[str]


class NvidiaFacts(NamedTuple):
    driver_version: Optional[str]
    driver_source: Optional[str]
    kernel_module: Optional[str]
    cuda_driver_version: Optional[str]
    cuda_source: Optional[str]
    gpus: List[NvidiaGpu]
    mig_devices: int
    nvidia_smi: Optional[str]
    jetson: Optional[TegraRelease]
    # Each source consulted and what it gave, in order, so a report can explain the result.
    trail: List[str]
    # Tool failures worth a line of their own (driver/library mismatch, no devices, a hang).
    errors: List[SmiError]


# --- parsers -------------------------------------------------------------------------------


def parse_sys_module_version(text: str) -> Optional[str]:
    value = text.strip()
    return value if re.fullmatch(_VERSION, value) else None


_PROC_LINE = (
    r"NVRM version: NVIDIA UNIX (?:Open Kernel Module for (?P<open_arch>\S+)|(?P<arch>\S+) Kernel Module)"
    r"\s+(?P<version>" + _VERSION + r")\s"
)


def parse_proc_driver_version(text: str) -> Optional[KernelModule]:
    match = re.search(_PROC_LINE, text + " ")
    if not match:
        return None
    if match.group("open_arch"):
        return KernelModule(match.group("version"), "open", match.group("open_arch"))
    return KernelModule(match.group("version"), "proprietary", match.group("arch"))


_TEGRA = r"#\s*R(?P<major>\d+)\s+\(release\),\s+REVISION:\s+(?P<revision>[\d.]+)(?:.*?BOARD:\s*(?P<board>[^,]+))?"


def parse_tegra_release(text: str) -> Optional[TegraRelease]:
    match = re.search(_TEGRA, text)
    if not match:
        return None
    return TegraRelease(f"{match.group('major')}.{match.group('revision')}", match.group("board"))


def parse_l4t_package_version(text: str) -> Optional[TegraRelease]:
    """``36.4.0-20240912212859`` (dpkg's version of nvidia-l4t-core) -> L4T 36.4.0."""
    match = re.match(r"\s*(\d+\.\d+(?:\.\d+)?)-", text)
    return TegraRelease(match.group(1), None) if match else None


def tegra_release(host: Host) -> Optional[TegraRelease]:
    """The board's L4T release: /etc/nv_tegra_release, else, on a Tegra SoC, the version of nvidia-l4t-core."""
    text = host.read_text(TEGRA_RELEASE)
    found = parse_tegra_release(text) if text else None
    if found or "nvidia,tegra" not in (host.read_text(DEVICE_TREE) or ""):
        return found
    dpkg_query = host.which("dpkg-query")
    completed = host.run([dpkg_query, "--showformat=${Version}", "--show", L4T_PACKAGE]) if dpkg_query else None
    return parse_l4t_package_version(completed.stdout) if completed and completed.ok else None


_HEADER = (
    r"NVIDIA-SMI\s+(?P<tool>" + _VERSION + r")\s+(?:Driver|KMD) Version:\s+(?P<driver>" + _VERSION + r")"
    r"(?:\s+CUDA(?: UMD)? Version:\s+(?P<cuda>\S+))?"
)
_GPU_ROW = r"^\|\s+(?P<index>\d+)\s+(?P<name>.*?)\s+(?:On|Off|N/A|WDDM|TCC|MCDM)\s+\|\s*\S+\s+(?:On|Off|N/A)\s+\|"
_MEMORY = r"(?P<used>\d+)MiB\s*/\s*(?P<total>\d+)MiB"
_MIG_ROW = r"^\|\s+\d+\s+\d+\s+\d+\s+\d+\s+\|"


def parse_smi_table(text: str) -> Optional[SmiTable]:
    header = re.search(_HEADER, text)
    if not header:
        return None
    cuda_field = header.group("cuda")
    cuda = cuda_field if cuda_field and re.fullmatch(r"\d+\.\d+", cuda_field) else None
    gpus: List[NvidiaGpu] = []
    mig_devices = 0
    section = "gpus"
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if "MIG devices:" in line:
            section = "mig"
        elif "Processes:" in line:
            section = "processes"
        elif section == "gpus":
            row = re.match(_GPU_ROW, line)
            if row:
                following = lines[number + 1] if number + 1 < len(lines) else ""
                memory = re.search(_MEMORY, following)
                gpus.append(
                    NvidiaGpu(
                        index=int(row.group("index")),
                        name=row.group("name"),
                        memory_mib=int(memory.group("total")) if memory else None,
                    )
                )
        elif section == "mig" and re.match(_MIG_ROW, line):
            mig_devices += 1
    return SmiTable(header.group("tool"), header.group("driver"), cuda, cuda_field, gpus, mig_devices)


def parse_smi_query(text: str) -> List[NvidiaGpu]:
    """Rows of ``nvidia-smi --query-gpu=... --format=csv`` (with its header; units optional)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    names = [re.sub(r"\s*\[.*\]$", "", field.strip()) for field in lines[0].split(",")]
    gpus = []
    for position, line in enumerate(lines[1:]):
        row = dict(zip(names, (cell.strip() for cell in line.split(","))))
        memory = re.match(r"\d+", row.get("memory.total", ""))
        capability = row.get("compute_cap", "")
        index = row.get("index", "")
        gpus.append(
            NvidiaGpu(
                index=int(index) if index.isdigit() else position,
                name=row.get("name", ""),
                compute_capability=capability if re.fullmatch(r"\d+\.\d+", capability) else None,
                memory_mib=int(memory.group()) if memory else None,
                uuid=row.get("uuid") or None,
            )
        )
    return gpus


def parse_smi_list(text: str) -> Tuple[List[NvidiaGpu], int]:
    """``nvidia-smi -L``: full GPU names (the table truncates them) and the number of MIG devices."""
    gpus = []
    mig_devices = 0
    for line in text.splitlines():
        gpu = re.match(r"GPU (?P<index>\d+): (?P<name>.+?) \(UUID: (?P<uuid>[^)]+)\)", line)
        if gpu:
            gpus.append(NvidiaGpu(int(gpu.group("index")), gpu.group("name"), uuid=gpu.group("uuid")))
        elif re.match(r"\s+MIG \S+\s+Device\s+\d+:", line):
            mig_devices += 1
    return gpus, mig_devices


class SmiVersions(NamedTuple):
    driver_version: Optional[str]
    cuda_version: Optional[str]


def parse_smi_versions(text: str) -> Optional[SmiVersions]:
    """Driver and CUDA versions from the ``key : value`` forms, ``nvidia-smi -q`` and ``nvidia-smi --version``.

    R610 renamed the fields to "KMD version" and "CUDA UMD version" and left the old keys
    saying "Deprecated", so take whichever holds a version.
    """
    driver = cuda = None
    for line in text.splitlines():
        key, separator, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if not separator:
            continue
        if key in ("driver version", "kmd version") and re.fullmatch(_VERSION, value):
            driver = driver or value
        elif key in ("cuda version", "cuda umd version") and re.fullmatch(r"\d+\.\d+", value):
            cuda = cuda or value
    return SmiVersions(driver, cuda) if driver or cuda else None


_SMI_ERRORS = (
    ("driver_library_mismatch", "Driver/library version mismatch"),
    ("driver_not_loaded", "couldn't communicate with the NVIDIA driver"),
    ("no_devices", "No devices were found"),
    ("nvml_unknown_error", "Failed to initialize NVML: Unknown Error"),
    ("query_field_unsupported", "is not a valid field to query"),
)


def parse_smi_error(text: str) -> Optional[SmiError]:
    for kind, needle in _SMI_ERRORS:
        if needle in text:
            first = next(line.strip() for line in text.splitlines() if needle in line)
            return SmiError(kind, first)
    return None


def parse_nvcc_version(text: str) -> Optional[str]:
    """``Cuda compilation tools, release 13.0, V13.0.88`` -> ``13.0``."""
    match = re.search(r"release (\d+\.\d+), V", text)
    return match.group(1) if match else None


class Toolkit(NamedTuple):
    nvcc: str
    version: Optional[str]


def toolkit_probe(host: Host) -> Optional[Toolkit]:
    """The CUDA toolkit a build of an extension would use: nvcc on PATH, else under CUDA_HOME/CUDA_PATH."""
    homes = [host.env[name] + "/bin" for name in ("CUDA_HOME", "CUDA_PATH") if host.env.get(name)]
    nvcc = host.which("nvcc", extra_dirs=homes)
    if nvcc is None:
        return None
    completed = host.run([nvcc, "--version"])
    return Toolkit(nvcc, parse_nvcc_version(completed.stdout) if completed.ok else None)


# --- the probe -----------------------------------------------------------------------------


def _is_driver_version(version: str) -> bool:
    return int(version.split(".")[0]) >= _LOWEST_DRIVER_BRANCH


def probe(host: Host, wsl: bool = False) -> Optional[NvidiaFacts]:
    """NVIDIA facts, or None when nothing on this machine looks like an NVIDIA GPU."""
    return search(host, wsl)[0]


def search(host: Host, wsl: bool = False) -> Tuple[Optional[NvidiaFacts], List[str]]:
    """As :func:`probe`, with the trail of what was looked at, kept where nothing was found too (-v says it)."""
    trail: List[str] = []
    errors: List[SmiError] = []
    driver = source = module_flavour = None

    jetson = tegra_release(host)

    override = host.env.get(OVERRIDE_VARIABLE, "").strip()
    if override:
        if parse_sys_module_version(override):
            driver, source = override, OVERRIDE_VARIABLE
            trail.append(f"{OVERRIDE_VARIABLE}={override}: taken as given")
        else:
            trail.append(f"{OVERRIDE_VARIABLE}={override!r}: not a driver version, ignored")
    else:
        trail.append(f"{OVERRIDE_VARIABLE}: not set")

    sys_text = host.read_text(SYS_MODULE_VERSION)
    if sys_text is None:
        trail.append(f"{SYS_MODULE_VERSION}: not present")
    elif driver is None:
        value = parse_sys_module_version(sys_text)
        if value and _is_driver_version(value):
            driver, source = value, SYS_MODULE_VERSION
            trail.append(f"{SYS_MODULE_VERSION}: {value}")
        else:
            trail.append(f"{SYS_MODULE_VERSION}: {sys_text.strip()!r} is not a driver version")

    proc_text = host.read_text(PROC_DRIVER_VERSION)
    if proc_text is None:
        trail.append(f"{PROC_DRIVER_VERSION}: not present")
    else:
        module = parse_proc_driver_version(proc_text)
        if module is None:
            trail.append(f"{PROC_DRIVER_VERSION}: no version line")
        elif not _is_driver_version(module.version):
            trail.append(f"{PROC_DRIVER_VERSION}: {module.version} is a Jetson L4T release, not a driver version")
        else:
            module_flavour = module.flavour
            if driver is None:
                driver, source = module.version, PROC_DRIVER_VERSION
                trail.append(f"{PROC_DRIVER_VERSION}: {module.version} ({module.flavour} kernel module)")
            elif module.version != driver:
                trail.append(f"{PROC_DRIVER_VERSION}: {module.version} differs from {driver}")

    smi = host.which("nvidia-smi", extra_dirs=[WSL_LIB_DIR] if wsl else [])
    gpus: List[NvidiaGpu] = []
    mig_devices = 0
    cuda = cuda_source = None
    if smi is None:
        trail.append("nvidia-smi: not found")
    else:
        # The query gives names and compute capabilities, the table the CUDA version: ask both at once.
        query_job = Background(host.run, [smi, f"--query-gpu={QUERY_FIELDS}", "--format=csv,nounits"])
        table_run = host.run([smi])
        query = query_job.result()

        table = parse_smi_table(table_run.stdout) if table_run.ok else None
        if table:
            mig_devices = table.mig_devices
            if table.cuda_version:
                cuda, cuda_source = table.cuda_version, "nvidia-smi"
            if driver is None:
                driver, source = table.driver_version, "nvidia-smi"
            trail.append(
                f"nvidia-smi: driver {table.driver_version}, CUDA {table.cuda_field or 'not shown'}"
                + (f" (tool {table.tool_version})" if table.tool_version != table.driver_version else "")
            )
        elif table_run.ok:
            # A table layout this parser does not know: the key-value report has the same versions.
            report = host.run([smi, "-q"])
            versions = parse_smi_versions(report.stdout) if report.ok else None
            if versions and versions.driver_version:
                cuda, cuda_source = versions.cuda_version, "nvidia-smi -q" if versions.cuda_version else None
                if driver is None:
                    driver, source = versions.driver_version, "nvidia-smi -q"
                trail.append(f"nvidia-smi: unknown table layout; -q says driver {versions.driver_version}")
            else:
                trail.append("nvidia-smi: neither the table nor -q could be read")
        else:
            _note_failure(table_run, errors, trail)

        query_error = None if query.ok else parse_smi_error(query.stdout + query.stderr)
        if query.ok:
            gpus = parse_smi_query(query.stdout)
        elif table and query_error and query_error.kind == "query_field_unsupported":
            # Drivers from before compute_cap could be queried: full names from -L (the table truncates them).
            trail.append("nvidia-smi: this driver cannot report compute capability")
            listing = host.run([smi, "-L"])
            gpus = (parse_smi_list(listing.stdout)[0] if listing.ok else []) or table.gpus
        else:
            _note_failure(query, errors, trail)

    if cuda is None and driver is not None:
        cuda = cuda_driver_api_version(host)
        cuda_source = "cuDriverGetVersion" if cuda else None
        trail.append(f"cuDriverGetVersion: {cuda or 'libcuda did not load'}")

    if driver is None and not gpus and jetson is None and not errors:
        return None, trail
    return NvidiaFacts(driver, source, module_flavour, cuda, cuda_source, gpus, mig_devices, smi, jetson, trail, errors), trail


# Run in a child process: loading libcuda into torchup itself would let a broken driver crash the run.
_CUDA_DRIVER_VERSION_SCRIPT = """
import ctypes, sys
for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
    try:
        library = ctypes.CDLL(name)
        break
    except OSError:
        library = None
if library is None:
    sys.exit(3)
version = ctypes.c_int(0)
print(library.cuDriverGetVersion(ctypes.byref(version)), version.value)
"""


def parse_cuda_driver_api_version(text: str) -> Optional[str]:
    """``"0 13000"`` (CUresult, version) to ``"13.0"``."""
    match = re.fullmatch(r"0 (\d+)", text.strip())
    if not match or int(match.group(1)) == 0:
        return None
    value = int(match.group(1))
    return f"{value // 1000}.{value % 1000 // 10}"


def cuda_driver_api_version(host: Host) -> Optional[str]:
    completed = host.run([sys.executable, "-c", _CUDA_DRIVER_VERSION_SCRIPT])
    return parse_cuda_driver_api_version(completed.stdout) if completed.ok else None


def _note_failure(completed, errors: List[SmiError], trail: List[str]) -> None:
    error = parse_smi_error(completed.stdout + completed.stderr) or SmiError("failed", completed.describe_failure())
    if error not in errors:
        errors.append(error)
        trail.append(f"nvidia-smi: {error.message}")
