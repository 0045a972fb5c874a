"""Known PyTorch failure messages, mapped to their cause and the fix.

A pure function over text: the messages are matched as users report them (research note
diagnostics-anchors §7, with the issue threads named there). Standard library only.
"""

import re
import sys
from collections import namedtuple

Cause = namedtuple("Cause", "id cause commands link")

_DRIVER_DOWNLOAD = "https://www.nvidia.com/Download/index.aspx"


def target_python():
    """This interpreter, as a command to type: fixes name the target's own pip (``python -m pip``) and
    torchup's ``--python``, never a bare ``pip``, which is often another interpreter's."""
    return '"%s"' % sys.executable if " " in sys.executable else sys.executable


def pip_setup():
    """What a fix that runs the target's pip needs first where the target has none (a venv made by uv)."""
    from importlib.util import find_spec

    return [] if find_spec("pip") else ["%s -m ensurepip --upgrade" % target_python()]


# (id, pattern, cause, fix commands, link); the first match wins, most specific first; {python} is
# the target's interpreter.
_KNOWN = (
    (
        "torch-not-installed",
        r"No module named '?torch'?$|No module named 'torch'",
        "torch is not installed in this interpreter",
        ["torchup install --python {python}  (the build that fits this machine, verified)"],
        "https://pytorch.org/get-started/locally/",
    ),
    (
        "driver-too-old",
        r"NVIDIA driver on your system is too old \(found version (?P<found>\d+)\)",
        "the NVIDIA driver supports CUDA {cuda} at most, older than the CUDA this torch build needs",
        ["update the NVIDIA driver", "or install a build for your driver's CUDA: torchup install --python {python}"],
        _DRIVER_DOWNLOAD,
    ),
    (
        "forward-compat-unsupported",
        r"Error 804: forward compatibility was attempted on non supported HW",
        "a CUDA forward-compatibility libcuda (a container's /usr/local/cuda/compat) was loaded on a GPU that does not support it",
        ["update the host's NVIDIA driver", "or keep the compat directory out of LD_LIBRARY_PATH"],
        "https://docs.nvidia.com/deploy/cuda-compatibility/",
    ),
    (
        "unsupported-display-driver",
        r"Error 803: system has unsupported display driver / cuda driver combination",
        "the user-space CUDA driver (libcuda) and the kernel module are from different driver versions",
        ["reinstall one NVIDIA driver version (or reboot after an upgrade)", "in a container, keep the image's own libcuda off LD_LIBRARY_PATH"],
        _DRIVER_DOWNLOAD,
    ),
    (
        "system-not-initialized",
        r"Error 802: system not yet initialized",
        "an NVSwitch system whose Fabric Manager is not running",
        ["sudo systemctl enable --now nvidia-fabricmanager"],
        "https://docs.nvidia.com/datacenter/tesla/fabric-manager-user-guide/",
    ),
    (
        "cuda-unknown-error",
        r"CUDA unknown error - this may be due to an incorrectly set up environment",
        "the GPU's unified-memory driver is wedged (often after suspend/resume) or /dev/nvidia-uvm is missing",
        ["sudo modprobe -r nvidia_uvm && sudo modprobe nvidia_uvm", "or reboot"],
        "https://github.com/pytorch/pytorch/issues/88639",
    ),
    (
        "no-driver",
        r"Found no NVIDIA driver on your system",
        "no NVIDIA driver is visible to this process",
        ["install the NVIDIA driver", "in Docker: docker run --gpus all … (with the NVIDIA Container Toolkit)"],
        _DRIVER_DOWNLOAD,
    ),
    (
        "driver-init-failed",
        r"CUDA driver initialization failed, you might not have a CUDA gpu",
        "the CUDA driver failed to initialise: no usable GPU, or a driver/library mismatch",
        ["nvidia-smi  (does it list the GPU?)", "reboot after a driver upgrade"],
        _DRIVER_DOWNLOAD,
    ),
    (
        "not-compiled-with-cuda",
        r"Torch not compiled with CUDA enabled",
        "this torch is a CPU build",
        ["torchup install --python {python}  (it picks the CUDA build for this machine)"],
        "https://pytorch.org/get-started/locally/",
    ),
    (
        "arch-not-in-build",
        r"with CUDA capability sm_(?P<sm>\d+) is not compatible with the current PyTorch installation",
        "this torch build has no kernels for this GPU (sm_{sm})",
        ["torchup plan --python {python}  (it checks the GPU against each build)", "torchup install --python {python}"],
        "https://pytorch.org/get-started/locally/",
    ),
    (
        "no-kernel-image",
        r"no kernel image is available for execution on the device",
        "this torch build has no kernels for this GPU",
        ["torchup plan --python {python}", "torchup install --python {python}"],
        "https://pytorch.org/get-started/locally/",
    ),
    (
        "cudnn-mismatch",
        r"cuDNN version incompatibility",
        "another cuDNN (system or conda) shadows the one bundled with torch",
        ["remove the conflicting cuDNN directory from LD_LIBRARY_PATH"],
        "https://github.com/pytorch/pytorch/pull/104757",
    ),
    (
        "nvjitlink-shadowed",
        r"undefined symbol: __nvJitLink\w+",
        "an older system libnvJitLink on LD_LIBRARY_PATH shadows the one the wheel brings",
        ["drop the system CUDA lib directory (e.g. /usr/local/cuda/lib64) from LD_LIBRARY_PATH"],
        "https://github.com/pytorch/pytorch/issues/111469",
    ),
    (
        "library-missing",
        r"(?P<lib>lib[\w.+-]+\.so[\w.]*): cannot open shared object file",
        "a shared library torch needs is missing: {lib}",
        ["reinstall torch with pip or uv so its nvidia-* dependencies come along: torchup install --python {python}"],
        "https://github.com/pytorch/pytorch/issues/104259",
    ),
    (
        "numpy-broken",
        r"Importing the numpy C-extensions failed",
        "numpy's compiled part is missing or broken, and torch imports numpy as it starts",
        ["{python} -m pip install --force-reinstall numpy"],
        "https://numpy.org/devdocs/user/troubleshooting-importerror.html",
    ),
    (
        "numpy-abi",
        r"compiled using NumPy 1\.x cannot be run in NumPy 2|_ARRAY_API not found|Numpy is not available",
        "a module built against NumPy 1.x runs with NumPy 2",
        ['{python} -m pip install "numpy<2"', "or upgrade torch (and the module) to a NumPy 2 build"],
        "https://github.com/pytorch/pytorch/issues/107302",
    ),
    (
        "windows-dll",
        r"WinError 126\].*?(?P<dll>[\w.]+\.dll)",
        "a DLL torch needs ({dll}) or one of its dependencies is missing",
        ["install the latest Microsoft Visual C++ Redistributable (x64)"],
        "https://github.com/pytorch/pytorch/issues/131662",
    ),
    (
        "torchvision-mismatch",
        r"PyTorch and torchvision were compiled with different CUDA major versions|operator torchvision::nms does not exist",
        "torchvision does not match this torch (another release or another CUDA build)",
        ["torchup install --python {python} --with torchvision  (the matching release of the same build)"],
        "https://github.com/pytorch/vision/issues/8985",
    ),
    (
        "mps-macos-too-old",
        r"The MPS backend is supported on MacOS (?P<version>[\d.]+)\+",
        "this macOS is older than the {version} MPS needs",
        ["update macOS (sw_vers shows the version)"],
        "https://developer.apple.com/metal/pytorch/",
    ),
    (
        "device-side-assert",
        r"device-side assert triggered",
        "a CUDA kernel hit an assertion; the CUDA context of that process is unusable afterwards",
        ["run with CUDA_LAUNCH_BLOCKING=1 to find the failing call"],
        "https://pytorch.org/docs/stable/notes/cuda.html",
    ),
)


def classify(text):
    """The known cause of ``text`` (an error or warning as printed), or None."""
    for cause_id, pattern, cause, commands, link in _KNOWN:
        match = re.search(pattern, text or "")
        if match:
            values = dict(match.groupdict(), python=target_python())
            if "found" in values:
                found = int(values["found"])
                values["cuda"] = "%d.%d" % (found // 1000, found % 1000 // 10)
            commands = [command.format(**values) for command in commands]
            if any(" -m pip " in command for command in commands):
                commands = pip_setup() + commands
            return Cause(cause_id, cause.format(**values), commands, link)
    return None
