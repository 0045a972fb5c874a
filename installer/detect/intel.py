"""Intel GPUs: PCI display devices of vendor 0x8086 from sysfs, with the kernel driver bound to
each, the Level Zero GPU driver where it is installed, and names from ``sycl-ls`` where oneAPI is.

Detection only: which of these devices PyTorch's XPU build supports is the compatibility data's
to say (by PCI device id, ``intel_gpus``), since any Intel iGPU is a display device too.
"""

import os
import re
from typing import Dict, List, NamedTuple, Optional, Tuple

from ..host import Host

PCI_DEVICES = "/sys/bus/pci/devices"
INTEL_VENDOR = 0x8086
DISPLAY_CLASS = 0x030000
# The Level Zero GPU driver (Ubuntu's libze-intel-gpu1, Intel's compute runtime), where distributions put it.
LEVEL_ZERO_DRIVER = "libze_intel_gpu.so.1"
LIBRARY_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib", "/opt/intel/oneapi/redist/lib")


class IntelFacts(NamedTuple):
    pci_devices: List[str]  # "8086:56a0" for each display device
    gpu_names: List[str]  # from sycl-ls, empty without oneAPI
    kernel_drivers: Dict[str, str]  # "8086:56a0" -> "i915" or "xe", where one is bound
    level_zero: Optional[str]  # the Level Zero GPU driver library found, or None

    @property
    def device_ids(self) -> List[str]:
        """The PCI device ids alone, as the compatibility data lists them (``56a0``)."""
        return [device.split(":")[1] for device in self.pci_devices]


def parse_sycl_ls(text: str) -> List[str]:
    """GPU names from ``sycl-ls`` (current ``[level_zero:gpu][level_zero:0]`` and 2023 ``[ext_oneapi_level_zero:gpu:0]`` forms)."""
    names = []
    for line in text.splitlines():
        match = re.match(r"\[(?:ext_oneapi_)?level_zero:gpu[^\]]*\](?:\[[^\]]*\])?\s+[^,]+,\s+(?P<name>.+?)\s+\d+\.\d+[\d.]*\s+\[", line)
        if match:
            names.append(match.group("name"))
    return names


def level_zero_driver(host: Host) -> Optional[str]:
    """Where the Level Zero GPU driver is: LD_LIBRARY_PATH's directories first, then the system's."""
    searched = [entry for entry in host.env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if entry] + list(LIBRARY_DIRS)
    return next((f"{directory}/{LEVEL_ZERO_DRIVER}" for directory in searched if host.exists(f"{directory}/{LEVEL_ZERO_DRIVER}")), None)


def probe(host: Host) -> Optional[IntelFacts]:
    return search(host)[0]


def search(host: Host) -> Tuple[Optional[IntelFacts], List[str]]:
    """As :func:`probe`, with the trail of what was looked at (-v says it)."""
    devices, drivers = [], {}
    for entry in host.list_dir(PCI_DEVICES):
        vendor = host.read_text(f"{PCI_DEVICES}/{entry}/vendor")
        device_class = host.read_text(f"{PCI_DEVICES}/{entry}/class")
        try:
            if int(vendor or "", 16) == INTEL_VENDOR and int(device_class or "", 16) & 0xFF0000 == DISPLAY_CLASS:
                device = (host.read_text(f"{PCI_DEVICES}/{entry}/device") or "").strip().lower()
                name = f"8086:{device[2:] if device.startswith('0x') else device}"
                devices.append(name)
                link = host.path(f"{PCI_DEVICES}/{entry}/driver")  # a link to ../../../bus/pci/drivers/xe
                if os.path.islink(link):
                    drivers[name] = os.path.basename(os.readlink(link))
        except ValueError:
            continue
    if not devices:
        return None, [f"{PCI_DEVICES}: no Intel display device"]
    names: List[str] = []
    sycl_ls = host.which("sycl-ls")
    if sycl_ls:
        completed = host.run([sycl_ls])
        names = parse_sycl_ls(completed.stdout) if completed.ok else []
    driver = level_zero_driver(host)
    trail = [
        f"{PCI_DEVICES}: Intel display device(s) {', '.join(devices)}",
        f"sycl-ls: {', '.join(names) or 'no GPU named'}" if sycl_ls else "sycl-ls: not found",
        f"Level Zero GPU driver: {driver or 'not found in LD_LIBRARY_PATH or ' + ', '.join(LIBRARY_DIRS)}",
    ]
    return IntelFacts(devices, names, drivers, driver), trail
