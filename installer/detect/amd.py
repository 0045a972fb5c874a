"""AMD GPUs under ROCm: the gfx architectures, GPU names and the ROCm version.

Sources: ``TORCHUP_ROCM_ARCH`` (an override, for containers built without the GPU),
``rocm_agent_enumerator``, then ``rocminfo``; the ROCm version from ``/opt/rocm/.info/version``,
else ``amd-smi version``.
"""

import re
from typing import List, NamedTuple, Optional, Tuple

from ..host import Host

OVERRIDE_VARIABLE = "TORCHUP_ROCM_ARCH"
ROCM_BIN = "/opt/rocm/bin"
ROCM_VERSION_FILE = "/opt/rocm/.info/version"
AMDGPU_MODULE_VERSION = "/sys/module/amdgpu/version"


class RocmFacts(NamedTuple):
    architectures: List[str]  # one entry per GPU agent, e.g. ["gfx942", "gfx942"]
    source: str
    gpu_names: List[str]
    rocm_version: Optional[str]
    amdgpu_version: Optional[str]
    trail: List[str]


def parse_rocm_agent_enumerator(text: str) -> List[str]:
    # Before ROCm 6 the first line, gfx000, is the CPU agent (ggml-org/llama.cpp#11209).
    return [line.strip() for line in text.splitlines() if re.fullmatch(r"gfx[0-9a-f]+", line.strip()) and line.strip() != "gfx000"]


def parse_rocminfo(text: str) -> List[str]:
    """The GPU agents' ``Name: gfxNNN`` lines (ISA lines spell it ``amdgcn-amd-amdhsa--gfxNNN``)."""
    return re.findall(r"^\s*Name:\s+(gfx[0-9a-f]+)\s*$", text, flags=re.MULTILINE)


def parse_amd_smi_version(text: str) -> Optional[str]:
    """The ROCm version in ``amd-smi version`` output, None where it says N/A."""
    match = re.search(r"ROCm version:\s*(\d+\.\d+(?:\.\d+)?)", text)
    return match.group(1) if match else None


def parse_rocm_smi_names(text: str) -> List[str]:
    """GPU names from ``rocm-smi``'s concise table, where the name sits on the line below each device."""
    names = []
    lines = text.splitlines()
    for number, line in enumerate(lines[:-1]):
        if re.match(r"^\d+\s+\[0x[0-9a-f]+\s*:", line):
            names.append(lines[number + 1].strip())
    return names


def parse_rocm_smi_driver(text: str) -> Optional[str]:
    match = re.search(r"^Driver version:\s*(\S+)", text, flags=re.MULTILINE)
    return match.group(1) if match else None


def probe(host: Host) -> Optional[RocmFacts]:
    return search(host)[0]


def search(host: Host) -> Tuple[Optional[RocmFacts], List[str]]:
    """As :func:`probe`, with the trail of what was looked at, kept where nothing was found too (-v says it)."""
    trail: List[str] = []
    architectures: List[str] = []
    source = ""
    override = host.env.get(OVERRIDE_VARIABLE, "").strip()
    if override:
        architectures = [part for part in re.split(r"[,\s]+", override) if part]
        source = OVERRIDE_VARIABLE
        trail.append(f"{OVERRIDE_VARIABLE}={override}: taken as given")
    else:
        trail.append(f"{OVERRIDE_VARIABLE}: not set")
    for tool, parse in (("rocm_agent_enumerator", parse_rocm_agent_enumerator), ("rocminfo", parse_rocminfo)):
        if architectures:
            break
        path = host.which(tool, extra_dirs=[ROCM_BIN])
        if path is None:
            trail.append(f"{tool}: not found")
            continue
        completed = host.run([path])
        if completed.ok:
            architectures = parse(completed.stdout)
            source = tool
            trail.append(f"{tool}: {', '.join(architectures) or 'no GPU agents'}")
        else:
            trail.append(f"{tool}: {completed.describe_failure()}")
    if not architectures:
        return None, trail

    names: List[str] = []
    smi = host.which("rocm-smi", extra_dirs=[ROCM_BIN])
    if smi:
        listing = host.run([smi])
        names = parse_rocm_smi_names(listing.stdout) if listing.ok else []

    version_text = host.read_text(ROCM_VERSION_FILE)
    rocm_version = None
    if version_text:
        match = re.match(r"\d+\.\d+(?:\.\d+)?", version_text.strip())
        rocm_version = match.group() if match else None
    if rocm_version is None:
        amd_smi = host.which("amd-smi", extra_dirs=[ROCM_BIN])
        if amd_smi:
            completed = host.run([amd_smi, "version"])
            rocm_version = parse_amd_smi_version(completed.stdout) if completed.ok else None
    trail.append(f"ROCm version: {rocm_version or 'unknown'}")
    amdgpu = (host.read_text(AMDGPU_MODULE_VERSION) or "").strip() or None
    if amdgpu is None and smi:
        # The same "Version of System Component" section that `rocm-smi -a` opens with.
        completed = host.run([smi, "--showdriverversion"])
        amdgpu = parse_rocm_smi_driver(completed.stdout) if completed.ok else None
    return RocmFacts(architectures, source, names, rocm_version, amdgpu, trail), trail
