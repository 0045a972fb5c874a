"""Intel GPUs: PCI display devices of vendor 0x8086, named by ``sycl-ls`` where oneAPI is installed.

This is a hint only. Any Intel iGPU matches the PCI test, and PyTorch's XPU build supports only
some of them (intel/intel-xpu-backend-for-triton#5616), so policy must not treat it as proof.
"""

import re
from typing import List, NamedTuple, Optional, Tuple

from ..host import Host

PCI_DEVICES = "/sys/bus/pci/devices"
INTEL_VENDOR = 0x8086
DISPLAY_CLASS = 0x030000


class IntelFacts(NamedTuple):
    pci_devices: List[str]  # "8086:56a0" for each display device
    gpu_names: List[str]  # from sycl-ls, empty without oneAPI


def parse_sycl_ls(text: str) -> List[str]:
    """GPU names from ``sycl-ls`` (current ``[level_zero:gpu][level_zero:0]`` and 2023 ``[ext_oneapi_level_zero:gpu:0]`` forms)."""
    names = []
    for line in text.splitlines():
        match = re.match(r"\[(?:ext_oneapi_)?level_zero:gpu[^\]]*\](?:\[[^\]]*\])?\s+[^,]+,\s+(?P<name>.+?)\s+\d+\.\d+[\d.]*\s+\[", line)
        if match:
            names.append(match.group("name"))
    return names


def probe(host: Host) -> Optional[IntelFacts]:
    return search(host)[0]


def search(host: Host) -> Tuple[Optional[IntelFacts], List[str]]:
    """As :func:`probe`, with the trail of what was looked at (-v says it)."""
    devices = []
    for entry in host.list_dir(PCI_DEVICES):
        vendor = host.read_text(f"{PCI_DEVICES}/{entry}/vendor")
        device_class = host.read_text(f"{PCI_DEVICES}/{entry}/class")
        try:
            if int(vendor or "", 16) == INTEL_VENDOR and int(device_class or "", 16) & 0xFF0000 == DISPLAY_CLASS:
                device = (host.read_text(f"{PCI_DEVICES}/{entry}/device") or "").strip()
                devices.append(f"8086:{device[2:] if device.startswith('0x') else device}")
        except ValueError:
            continue
    if not devices:
        return None, [f"{PCI_DEVICES}: no Intel display device"]
    names: List[str] = []
    sycl_ls = host.which("sycl-ls")
    if sycl_ls:
        completed = host.run([sycl_ls])
        names = parse_sycl_ls(completed.stdout) if completed.ok else []
    trail = [
        f"{PCI_DEVICES}: Intel display device(s) {', '.join(devices)}",
        f"sycl-ls: {', '.join(names) or 'no GPU named'}" if sycl_ls else "sycl-ls: not found",
    ]
    return IntelFacts(devices, names), trail
