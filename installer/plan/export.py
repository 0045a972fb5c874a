"""``torchup plan --export``: the plan as ``export KEY=VALUE`` lines a shell can ``eval``, so that
the user's own ``uv pip install torch`` and ``pip install torch`` get exactly the planned build.

Neither installer can send one package to an index of its own through variables alone (uv's
index settings route every package; pip has no per-package index), so the build comes in by
a page of links instead: the index's ``torch/`` page as ``--find-links`` (a flat list of torch
wheels, nothing else), with the exact pin, local tag included, in a constraints file torchup
writes, which no other source can satisfy. Every other package stays on the user's own sources.
uv also gets ``UV_TORCH_BACKEND`` where it has a name for the build on the default index, and a
variant-aware uv the ``NV_VARIANT_PROVIDER_FORCE_*`` pair of the lowest GPU, so that it cannot
pick a wheel for the highest GPU alone. Values a shell already holds are kept, after ours.
Credentials never appear: a URL holding some is printed without them.
"""

import hashlib
import os
import shlex
from pathlib import Path
from typing import List, Mapping, NamedTuple, Optional, Tuple
from urllib.parse import urlsplit, urlunsplit

from ..compat import BuildKind, Compatibility, major_minor
from ..errors import TorchupError
from . import Plan
from .policy import driver_at_least

SCHEMA_VERSION = 1


class ExportError(TorchupError):
    exit_code = 1  # the plan was made; it is what no variable can express


class Variable(NamedTuple):
    name: str
    value: str
    # The separator that joins it to a value the shell already holds (pip splits on whitespace,
    # UV_CONSTRAINT on spaces, UV_FIND_LINKS on commas); None: ours replaces it.
    joined_by: Optional[str] = None
    why: str = ""

    def line(self) -> str:
        kept = f'"${{{self.name}:+{self.joined_by}${self.name}}}"' if self.joined_by else ""
        return f"export {self.name}={shlex.quote(self.value)}{kept}"


class Export(NamedTuple):
    plan: Plan
    constraints: Path
    variables: List[Variable]
    remarks: List[str]  # comment lines: what the variables cannot do, what was left out

    def as_data(self) -> dict:
        return {
            "schema": SCHEMA_VERSION,
            "torch": self.plan.torch,
            "index_url": _without_credentials(self.plan.index_url),
            "constraints": str(self.constraints),
            "pins": self.plan.pins,
            "variables": {
                variable.name: {"value": variable.value, "keeps_existing": bool(variable.joined_by), "why": variable.why} for variable in self.variables
            },
            "remarks": self.remarks,
        }

    def render(self) -> str:
        head = [f"# torchup plan: torch {self.plan.torch} ({self.plan.variant}); pins in {self.constraints}", '# use: eval "$(torchup plan --export ...)"']
        return "\n".join(head + [f"# {remark}" for remark in self.remarks] + [variable.line() for variable in self.variables]) + "\n"


def constraints_file(env: Mapping[str, str], pins: List[str]) -> Path:
    """Where the pins go: a file named by its content in the user's state directory, so one plan
    always writes the same file and a shell that evaluated another plan keeps its own."""
    state = env.get("XDG_STATE_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".local", "state")
    digest = hashlib.sha256("\n".join(pins).encode()).hexdigest()[:12]
    return Path(state) / "torchup" / "constraints" / f"torch-{digest}.txt"


def constraints_text(plan: Plan) -> str:
    source = f"{plan.found_in}, a source of your pip configuration" if plan.found_in else plan.index_url
    return f"# Written by torchup plan --export: torch {plan.torch} from {_without_credentials(source)}\n" + "\n".join(plan.pins) + "\n"


def exports(plan: Plan, data: Compatibility, constraints: Path, configured: Mapping[str, Tuple[List[str], str]] = {}) -> Export:
    """The variables for ``plan``. ``configured``: the target pip's own settings (``find-links``,
    ``constraint``) with where each came from, kept where a variable of ours would replace them."""
    if plan.build.kind is BuildKind.JETSON:
        raise ExportError(
            f"--export: NVIDIA's Jetson wheel is installed by its URL, which no pip or uv variable routes: {plan.packages[0]}",
            hint=f"pip install '{plan.packages[0]}'",
        )
    remarks: List[str] = []
    variables: List[Variable] = []
    page = None  # the torch wheels of the planned build, for pip and uv
    uv_page = None  # where uv alone needs them: it reads no pip configuration
    if plan.found_in:  # never a source with credentials: those are not asked (the probe hides them)
        uv_page = _found_in_page(plan.found_in, configured.get("find-links", ([], ""))[0])
        remarks.append(f"the planned build is in your pip configuration's {plan.found_in}: pip finds it there, uv is given it")
    elif plan.build.kind is not BuildKind.DEFAULT:  # PyPI's own macOS wheel needs no other source
        listed = plan.index_url.rstrip("/") + "/torch/"
        page = _without_credentials(listed)
        if page != listed:
            remarks.append("the index's credentials are not printed: give them to pip and uv through ~/.netrc or a keyring")
    pip_links = [page] if page else []
    pip_constraints = [str(constraints)]
    for key, ours in (("find-links", pip_links), ("constraint", pip_constraints)):
        values, source = configured.get(key, ([], ""))
        if source and not source.startswith("PIP_"):  # a config file's: our variable would hide it
            usable = [value for value in values if "****" not in value]
            ours += usable
            if len(usable) < len(values):
                remarks.append(
                    f"your pip configuration's {key} holding credentials ({source}) is hidden by PIP_{key.upper().replace('-', '_')} here: add it by hand"
                )
    if page:
        variables.append(Variable("PIP_FIND_LINKS", " ".join(pip_links), " ", "pip: the torch wheels of the planned build, beside your sources"))
    variables.append(Variable("PIP_CONSTRAINT", " ".join(pip_constraints), " ", "pip: the exact pins"))
    # pip 26.2 and newer leave PIP_CONSTRAINT out of isolated builds: a build that needs torch gets the same pin this way.
    variables.append(Variable("PIP_BUILD_CONSTRAINT", str(constraints), " ", "pip >= 26.2: the pins in isolated builds too"))
    if page or uv_page:
        variables.append(Variable("UV_FIND_LINKS", page or uv_page, ",", "uv: the torch wheels of the planned build"))
    variables.append(Variable("UV_CONSTRAINT", str(constraints), " ", "uv: the exact pins"))
    default_index = (plan.found_in is None) and plan.index_url.startswith(data.default_index_base + "/")
    if plan.variant in data.uv_torch_backends and default_index:
        variables.append(Variable("UV_TORCH_BACKEND", plan.variant, None, "uv pip: the same index by uv's own name for it"))
    elif plan.variant in data.uv_torch_backends:
        remarks.append(f"UV_TORCH_BACKEND is not set: uv's {plan.variant} means {data.default_index_base}/{plan.variant}, not this plan's index")
    variables += _variant_pair(plan, data)
    return Export(plan, constraints, variables, remarks)


def _found_in_page(location: str, find_links: List[str]) -> str:
    """A page of links to the build in the pip source that holds it: a find-links location is one
    already; an index's is its torch/ page (PEP 503), as for the planned index."""
    return location if location in find_links else location.rstrip("/") + "/torch/"


def _variant_pair(plan: Plan, data: Compatibility) -> List[Variable]:
    """NVIDIA's variant provider, forced to the driver's CUDA and the lowest GPU: a variant-aware uv
    would otherwise pick the wheel for the highest GPU alone (it takes one architecture)."""
    driver = plan.inputs.nvidia_driver
    capabilities = [gpu.compute_capability for gpu in plan.inputs.gpus if gpu.compute_capability]
    if plan.build.kind is not BuildKind.CUDA or not driver or not capabilities:
        return []
    windows = plan.inputs.os == "windows"
    supported = [
        row.cuda for row in data.toolkit_drivers if (row.windows if windows else row.linux) and driver_at_least(driver, row.windows if windows else row.linux)
    ]
    if not supported:
        return []
    cuda = max(supported)
    return [
        Variable("NV_VARIANT_PROVIDER_FORCE_CUDA_DRIVER_VERSION", f"{cuda[0]}.{cuda[1]}", None, "the CUDA this driver runs fully"),
        Variable("NV_VARIANT_PROVIDER_FORCE_SM_ARCH", min(capabilities, key=major_minor), None, "the lowest GPU: a wheel it runs, the others run too"),
    ]


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=host))
