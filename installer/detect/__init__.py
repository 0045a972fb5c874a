"""``torchup detect``: every fact about this machine and one interpreter that decides how to install PyTorch.

Detection only: nothing here decides anything. The target interpreter's facts come from its own
probe; machine and accelerator facts come from files and tools through a :class:`~installer.host.Host`.
The slow parts (the probe, nvidia-smi) run at the same time.
"""

import os
import re
from typing import Any, Dict, List, NamedTuple, Optional

from .. import target
from ..background import Background
from ..host import Host
from ..redact import remember_files
from . import amd, intel, machine, nvidia
from .target_facts import Interpreter, Pip, Tls, parse_interpreter, parse_pip, parse_tls

SCHEMA_VERSION = 1

# Variables that change which GPU PyTorch sees, which libraries it loads, or how it behaves.
BEHAVIOUR_VARIABLES = (
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "HIP_VISIBLE_DEVICES",
    "ROCR_VISIBLE_DEVICES",
    "CUDA_HOME",
    "CUDA_PATH",
    "CUDA_MODULE_LOADING",
    "TORCH_CUDA_ARCH_LIST",
    "OMP_NUM_THREADS",
    "HSA_OVERRIDE_GFX_VERSION",
)
# uv's own index settings: uv reads no pip configuration (https://docs.astral.sh/uv/pip/compatibility/).
UV_INDEX_VARIABLES = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "UV_INDEX", "UV_EXTRA_INDEX_URL")
# Runtime libraries that a torch wheel also brings; libcuda and NVML are the driver's own and belong there.
_CUDA_RUNTIME_LIBRARY = r"^lib(cudart|cudnn|cublas|cublasLt|cufft|curand|cusolver|cusparse|nvrtc|nccl)[._]"


class AppleFacts(NamedTuple):
    """Apple Silicon as found; whether MPS is available there is the compatibility data's to say
    (:meth:`~installer.compat.Compatibility.mps_available`), judged where it is shown."""

    chip: Optional[str]
    macos: Optional[str]


class Accelerators(NamedTuple):
    nvidia: Optional[nvidia.NvidiaFacts]
    amd: Optional[amd.RocmFacts]
    intel: Optional[intel.IntelFacts]
    apple: Optional[AppleFacts]


class EnvironmentFacts(NamedTuple):
    variables: Dict[str, str]
    # LD_LIBRARY_PATH entries holding CUDA, cuDNN or NCCL libraries, which can shadow a wheel's own.
    cuda_library_dirs: List[str]
    # The toolkit that building a CUDA extension would use; PyTorch wheels bring their own runtime.
    cuda_toolkit: Optional[nvidia.Toolkit]
    uv_indexes: Dict[str, str] = {}  # UV_INDEX_VARIABLES that are set, credentials hidden


class Facts(NamedTuple):
    schema: int
    python: str
    machine: machine.MachineFacts
    interpreter: Optional[Interpreter]
    pip: Optional[Pip]
    tls: Optional[Tls]
    accelerators: Accelerators
    environment: EnvironmentFacts
    unknown: Dict[str, Dict[str, str]]
    # What the target printed while it was probed (a sitecustomize's banner): its business, shown under -v.
    target_output: str = ""
    # What each vendor's search looked at, in order ("NVIDIA": ["/sys/module/nvidia/version: not present", …]),
    # kept where it found nothing too: shown under -v.
    searched: Dict[str, List[str]] = {}

    def as_data(self) -> dict:
        document = as_data(self)
        apple = self.accelerators.apple
        if apple:
            from ..compat import load  # only on Apple Silicon: the document says what MPS needs there

            document["accelerators"]["apple"]["mps_supported"] = load().mps_available(apple.macos)
        return document


def as_data(value: Any) -> Any:
    """NamedTuples and containers to plain JSON-ready data."""
    if hasattr(value, "_asdict"):
        return {key: as_data(item) for key, item in value._asdict().items()}
    if isinstance(value, dict):
        return {key: as_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_data(item) for item in value]
    return value


def environment_facts(host: Host, toolkit: Optional[nvidia.Toolkit]) -> EnvironmentFacts:
    from ..redact import redact

    variables = {name: host.env[name] for name in BEHAVIOUR_VARIABLES if name in host.env}
    torch_variables = {name: value for name, value in sorted(host.env.items()) if name.startswith(("PYTORCH_", "TORCH_"))}
    if torch_variables:
        from ..redact import MASK, redact_value, secret_name

        variables.update({name: MASK if secret_name(name) else redact_value(value) for name, value in torch_variables.items()})
    library_dirs = []
    for entry in host.env.get("LD_LIBRARY_PATH", "").split(os.pathsep):
        if entry and any(re.match(_CUDA_RUNTIME_LIBRARY, name) for name in host.list_dir(entry)):
            library_dirs.append(entry)
    uv_indexes = {name: redact(host.env[name]) for name in UV_INDEX_VARIABLES if host.env.get(name)}
    return EnvironmentFacts(variables, library_dirs, toolkit, uv_indexes)


def apple_facts(machine_facts: machine.MachineFacts) -> Optional[AppleFacts]:
    if machine_facts.os != "Darwin" or machine_facts.arch != "arm64":
        return None
    return AppleFacts(machine_facts.cpu.model, machine_facts.mac_version)


class Detection:
    """A detection under way: the probe and the vendor searches run on their own from here, so a
    command loads what it needs next while they do, and asks for :meth:`facts` when it must have them."""

    def __init__(self, python: Optional[str] = None, host: Optional[Host] = None):
        self.host = host = host or Host()
        self.python = target.resolve_interpreter(python, host.env)
        wsl = machine.parse_wsl(host.read_text("/proc/sys/kernel/osrelease") or "") is not None
        self._probe = Background(target.probe_interpreter, self.python, host.env, host.timeout)
        self._searches = {
            "NVIDIA": Background(nvidia.search, host, wsl),
            "AMD": Background(amd.search, host),
            "Intel": Background(intel.search, host),
        }
        self._toolkit = Background(nvidia.toolkit_probe, host)

    def facts(self) -> Facts:
        answer = self._probe.result()
        document = answer.document
        interpreter = parse_interpreter(document.get("interpreter"))
        machine_facts = machine.probe(self.host, document.get("platform") or {}, interpreter.prefix if interpreter else None)
        searches = {vendor: job.result() for vendor, job in self._searches.items()}
        accelerators = Accelerators(searches["NVIDIA"][0], searches["AMD"][0], searches["Intel"][0], apple_facts(machine_facts))
        unknown = {
            section: document.get(f"{section}_unknown") or {} for section in ("interpreter", "platform", "pip", "tls") if document.get(f"{section}_unknown")
        }
        pip = parse_pip(document.get("pip"))
        if pip:  # the files the target's pip reads: their secrets stay hidden in whatever pip or uv prints
            remember_files([entry["path"] for entry in pip.config.files + pip.config.errors])
        return Facts(
            schema=SCHEMA_VERSION,
            python=self.python,
            machine=machine_facts,
            interpreter=interpreter,
            pip=pip,
            tls=parse_tls(document.get("tls")),
            accelerators=accelerators,
            environment=environment_facts(self.host, self._toolkit.result()),
            unknown=unknown,
            target_output=answer.printed,
            searched={vendor: trail for vendor, (_, trail) in searches.items()},
        )


def detect(python: Optional[str] = None, host: Optional[Host] = None) -> Facts:
    return Detection(python, host).facts()


def sources_consulted(facts: Facts) -> List[str]:
    """Where each fact came from, in words: what -v adds to a report, for a maintainer reading it."""
    lines = [f"{what}: {source}" for what, source in facts.machine.sources.items()]
    printed = facts.target_output
    lines.append(
        f"Python, pip and TLS: the probe, run by {facts.python} -I in an empty directory; "
        + (f"the target printed: {printed}" if printed else "the target printed nothing else")
    )
    if facts.pip:
        config = facts.pip.config
        read, broken = {entry["path"] for entry in config.files}, {entry["path"] for entry in config.errors}
        states = [f"{path} ({'read' if path in read else 'does not parse' if path in broken else 'not there'})" for path in config.looked_in]
        lines.append("pip configuration files, in the order pip reads them: " + (", ".join(states) if states else f"none (PIP_CONFIG_FILE={os.devnull})"))
    lines += [f"{vendor}: " + "; ".join(trail) for vendor, trail in facts.searched.items()]
    return lines
