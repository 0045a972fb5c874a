"""The doctor's checks. They run inside the target interpreter (standard library, torch, numpy).

Each check has a stable id, a group and a title, and returns an outcome: a status (pass, warn,
fail, skip), evidence, and for anything not passing a fix (commands and a link). Crashes and
hangs are not handled here: the worker process running a check is watched from outside.
"""

import math
import os
import re
import sys
import time
import warnings
from collections import namedtuple

from .causes import classify, pip_setup, target_python

# timeout: seconds this check may take when it needs more than --check-timeout (a compile), else None
Check = namedtuple("Check", "id group title function needs_torch opt_in timeout")

CHECKS = []
INSTALL_LINK = "https://pytorch.org/get-started/locally/"
TUTORIAL_LINK = "https://pytorch.org/tutorials/beginner/blitz/autograd_tutorial.html"


def check(check_id, title, needs_torch=True, opt_in=False, timeout=None):
    def register(function):
        CHECKS.append(Check(check_id, check_id.split(".")[0], title, function, needs_torch, opt_in, timeout))
        return function

    return register


def outcome(status, evidence, commands=None, link=None):
    fix = {"commands": list(commands or []), "link": link} if (commands or link) else None
    return {"status": status, "evidence": evidence, "fix": fix}


def passed(evidence):
    return outcome("pass", evidence)


def skipped(reason):
    return outcome("skip", reason)


def _shortened(text, lines=4):
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[:lines]) + ("\n…" if len(kept) > lines else "")


def pip_commands(arguments):
    """The target's own pip (a bare `pip` is whichever is first on PATH, often another
    interpreter's), set up first where the target has none."""
    return pip_setup() + ["%s -m pip %s" % (target_python(), arguments)]


def torchup_command(command, why, options=""):
    """torchup aimed at this target (without --python it takes the active venv, ./.venv or python3), and why."""
    return "torchup %s --python %s%s  (%s)" % (command, target_python(), options, why)


def from_cause(status, evidence, text):
    """An outcome whose fix comes from the known cause of ``text``, when there is one."""
    evidence = _shortened(evidence)
    cause = classify(text)
    if cause:
        return outcome(status, "%s (%s)" % (evidence, cause.cause), cause.commands, cause.link)
    return outcome(status, evidence, ["torchup doctor --markdown  (a report to attach to a bug)"], INSTALL_LINK)


class Context(object):
    """What the checks share inside one worker: torch, once imported, and what its import said;
    and ``knowledge``, the facts torchup's data gives the checks (which torch release each
    companion was built for, torch's advisories), empty where the kit runs on its own."""

    def __init__(self, knowledge=None):
        self.torch = None
        self.import_error = None
        self.import_warnings = []
        self.knowledge = knowledge or {}


def _close(a, b, tolerance):
    return abs(a - b) <= tolerance


# --- install -------------------------------------------------------------------------------


@check("install.import", "torch imports", needs_torch=False)
def import_torch(context):
    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            import torch
        except BaseException as error:  # ImportError, OSError from a missing library, SystemExit
            context.import_error = "%s: %s" % (type(error).__name__, error)
            damaged = damaged_torch()
            if damaged:
                return damaged
            return from_cause("fail", "import torch failed: %s" % context.import_error, context.import_error)
    context.import_warnings = [str(warning.message) for warning in caught]
    context.torch = torch
    seconds = time.monotonic() - started
    result = passed("torch %s imported in %.2f s from %s" % (torch.__version__, seconds, os.path.dirname(torch.__file__)))
    result["torch_version"] = torch.__version__
    return result


def damaged_torch():
    """A torch install missing its compiled core (torch/_C*.so, *.pyd), which its RECORD lists: the
    root cause, where torch's own message blames "the torch/_C folder of the repository"."""
    from importlib.util import find_spec

    spec = find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    site = os.path.dirname(list(spec.submodule_search_locations)[0])
    for name in sorted(os.listdir(site)):
        if not (name.startswith("torch-") and name.endswith(".dist-info")):
            continue
        try:
            with open(os.path.join(site, name, "RECORD")) as handle:
                listed = [line.split(",")[0] for line in handle]
        except OSError:
            return None
        missing = [path for path in listed if re.match(r"torch/_C\.[^/]+\.(so|pyd)$", path) and not os.path.exists(os.path.join(site, path))]
        if not missing:
            return None
        version = name[len("torch-") : -len(".dist-info")]
        return outcome(
            "fail",
            "import torch failed: its compiled core %s is missing from %s (%s lists it): this torch install is damaged" % (missing[0], site, name),
            [torchup_command("plan", "names the index that serves this build", " --torch %s" % version)]
            + pip_commands("install --force-reinstall --no-deps --index-url INDEX torch==%s  (INDEX: the one plan names)" % version),
            INSTALL_LINK,
        )
    return None


def build_name(torch):
    local = torch.__version__.partition("+")[2]
    if torch.version.cuda:
        return "CUDA %s build" % torch.version.cuda
    if getattr(torch.version, "hip", None):
        return "ROCm (HIP %s) build" % torch.version.hip
    if local.startswith("xpu") or (hasattr(torch, "xpu") and torch.xpu.is_available()):
        return "XPU build"
    return "CPU build" if local == "cpu" or sys.platform.startswith("linux") else "default build (CPU%s)" % (", MPS" if sys.platform == "darwin" else "")


def nvidia_driver_present():
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl") or os.path.exists("/usr/lib/wsl/lib/libcuda.so")


@check("install.build", "torch version and build")
def torch_build(context):
    torch = context.torch
    name = build_name(torch)
    if name == "CPU build" and nvidia_driver_present():
        result = outcome(
            "warn",
            "torch %s is the CPU build, but an NVIDIA driver is present" % torch.__version__,
            [torchup_command("install", "it picks the CUDA build that fits this GPU and driver")],
            INSTALL_LINK,
        )
    else:
        result = passed("torch %s, the %s" % (torch.__version__, name))
    # What `torchup install` compares with its plan.
    result["facts"] = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "hip": getattr(torch.version, "hip", None),
        "cuda_available": bool(torch.cuda.is_available()),
        "device_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
    }
    return result


def release_of(version):
    """The release numbers a version starts with: (2, 13, 0) for 2.13.0+cpu, (2, 5, 0) for 2.5.0a0+nv24.08."""
    match = re.match(r"\d+(?:\.\d+)*", version or "")
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


_COMPARISONS = {"==": lambda a, b: a == b, ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b}


def in_range(version, declared):
    """Whether ``version`` is in ``declared``, comparisons joined by commas (``==2.14.0``,
    ``>=2.14``), judged on release numbers; None for a range of another form."""
    found = release_of(version)
    for part in declared.split(","):
        match = re.match(r"\s*(==|>=|<=|>|<)\s*(\d+(?:\.\d+)*)(?:\+\S+)?\s*$", part)
        if not match:
            return None
        bound = release_of(match.group(2))
        width = max(len(found), len(bound))
        if not _COMPARISONS[match.group(1)](found + (0,) * (width - len(found)), bound + (0,) * (width - len(bound))):
            return False
    return True


def distribution(name):
    """(version, what its metadata requires of torch) of an installed distribution, without importing it; None without importlib.metadata."""
    try:
        from importlib.metadata import PackageNotFoundError, requires, version
    except ImportError:
        return None
    try:
        found = version(name)
        lines = requires(name) or []
    except PackageNotFoundError:
        return None
    for line in lines:
        match = re.match(r"torch\s*\(?\s*([^;)]*?)\s*\)?\s*(;.*)?$", line)
        if match and not (match.group(2) and "extra" in match.group(2)):
            return found, match.group(1) or None
    return found, None


def _nms(torch, torchvision):
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [20.0, 20.0, 30.0, 30.0]])
    kept = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5).tolist()
    if kept != [0, 2]:
        raise AssertionError("torchvision.ops.nms kept boxes %s, not [0, 2]" % kept)
    return "torchvision.ops.nms (a compiled operator) kept boxes [0, 2] of 3"


def _forced_align(torch, torchaudio):
    functional = getattr(torchaudio, "functional", None)
    if not hasattr(functional, "forced_align"):
        return "no compiled operator to call in this torchaudio"
    emission = torch.log_softmax(torch.tensor([[[2.0, 0.1, 0.1], [0.1, 2.0, 0.1], [0.1, 0.1, 2.0], [2.0, 0.1, 0.1]]]), dim=-1)
    path = functional.forced_align(emission, torch.tensor([[1, 2]], dtype=torch.int32), blank=0)[0][0].tolist()
    labels = [label for position, label in enumerate(path) if label != 0 and (position == 0 or path[position - 1] != label)]
    if labels != [1, 2]:
        raise AssertionError("torchaudio.functional.forced_align gave the path %s" % path)
    return "torchaudio.functional.forced_align (a compiled operator) aligned 2 labels to 4 frames"


# A call into each companion's own compiled code: "operator torchvision::nms does not exist" shows here.
OPERATORS = {"torchvision": _nms, "torchaudio": _forced_align}


def _fitting(known, torch_version):
    """The newest companion release of ``known`` (version -> row) that declares it works with ``torch_version``."""
    fitting = [version for version, row in known.items() if in_range(torch_version, row["torch"])]
    return max(fitting, key=release_of) if fitting else None


def _companion(context, name):
    """The outcome for one installed companion: its release, its build, and a call into its compiled code."""
    torch = context.torch
    known = context.knowledge.get("companions", {}).get(name, {})
    installed = distribution(name)
    version, metadata_says = installed if installed else (None, None)
    row = known.get(version.partition("+")[0]) if version else None
    if row:
        stated = "was built for torch %s and declares torch%s (%s)" % (row["built_for"], row["torch"], row["source"])
        verdict = in_range(torch.__version__, row["torch"])
    elif metadata_says:
        stated = "declares torch%s in its metadata" % metadata_says
        verdict = in_range(torch.__version__, metadata_says)
    else:
        stated, verdict = "was built for a torch release not known here", None
    if verdict is False:
        fitting = _fitting(known, torch.__version__)
        why = "%s %s works with torch %s" % (name, fitting, torch.__version__.partition("+")[0]) if fitting else "the matching release"
        return outcome(
            "fail",
            "%s %s %s; this torch is %s, another release" % (name, version, stated, torch.__version__),
            [torchup_command("install", why, " --with %s" % name)],
            INSTALL_LINK,
        )
    module = None
    try:
        module = __import__(name)
        called = OPERATORS[name](torch, module)
    except BaseException as error:
        called, failure = None, "%s: %s" % (type(error).__name__, str(error).splitlines()[0] if str(error) else "")
    else:
        failure = None
    version = version or getattr(module, "__version__", "?")
    torch_tag, tag = torch.__version__.partition("+")[2], version.partition("+")[2]
    if torch_tag != tag:

        def build(local):
            return "the %s build" % local if local else "PyPI's default build"

        return outcome(
            "fail",
            "another build: %s %s is %s, torch %s is %s%s"
            % (name, version, build(tag), torch.__version__, build(torch_tag), "; " + failure if failure else ""),
            [torchup_command("install", "the matching release of the same build", " --with %s" % name)],
            INSTALL_LINK,
        )
    if failure:
        return from_cause("fail", "%s %s %s, and fails with torch %s: %s" % (name, version, stated, torch.__version__, failure), failure)
    return passed("%s %s %s: it works with torch %s; %s" % (name, version, stated, torch.__version__, called))


@check("install.companions", "torchvision and torchaudio match torch: release, build, and a call into their compiled code")
def companions(context):
    from importlib.util import find_spec

    results, facts = [], {}
    for name in ("torchvision", "torchaudio"):
        if find_spec(name) is None:
            continue
        result = _companion(context, name)
        if result["status"] != "pass":
            return result
        results.append(result["evidence"])
        installed = distribution(name)
        facts[name] = installed[0] if installed else getattr(sys.modules.get(name), "__version__", "?")
    if not results:
        return skipped("neither torchvision nor torchaudio is installed")
    return dict(passed("\n".join(results)), facts=facts)


def import_failed(name, error, link):
    """``import name`` failed: the root cause first. A module it needs that is not installed (scipy
    without numpy) is named, and installed with the target's own pip; a broken install is installed again."""
    from importlib.util import find_spec

    text = "%s: %s" % (type(error).__name__, error)
    missing = (getattr(error, "name", None) or "").split(".")[0] if isinstance(error, ImportError) else ""
    if missing and find_spec(missing) is not None:
        missing = ""  # there, but a part of it fails to load: a broken install, not a missing one
    if missing == name:
        return outcome("fail", "%s is not installed (%s)" % (name, text), pip_commands("install %s" % name), link)
    if missing:
        return outcome("fail", "import %s failed: it needs %s, which is not installed (%s)" % (name, missing, text), pip_commands("install %s" % missing), link)
    cause = classify(text)
    if cause:
        return outcome("fail", "import %s failed: %s (%s)" % (name, _shortened(text), cause.cause), cause.commands, cause.link)
    return outcome("fail", "import %s failed: %s" % (name, _shortened(text)), pip_commands("install --force-reinstall %s" % name), link)


@check("install.numpy", "numpy imports", needs_torch=False)
def numpy_imports(context):
    try:
        import numpy
    except BaseException as error:
        return import_failed("numpy", error, "https://numpy.org/install/")
    return dict(passed("numpy %s" % numpy.__version__), facts={"numpy": numpy.__version__})


@check("install.scipy", "scipy imports", needs_torch=False)
def scipy_imports(context):
    try:
        import scipy
    except BaseException as error:
        return import_failed("scipy", error, "https://scipy.org/install/")
    return dict(passed("scipy %s" % scipy.__version__), facts={"scipy": scipy.__version__})


@check("install.numpy_abi", "torch and numpy share memory")
def numpy_abi(context):
    torch = context.torch
    try:
        import numpy
    except BaseException:
        # The cause, numpy itself, is install.numpy's to report; torch's warning about it is not another one.
        return skipped("numpy does not import (see install.numpy)")
    numpy_warnings = [text for text in context.import_warnings if "NumPy" in text]
    if numpy_warnings:
        return from_cause("fail", numpy_warnings[0].splitlines()[0], numpy_warnings[0])
    array = numpy.arange(6.0).reshape(2, 3)
    try:
        tensor = torch.from_numpy(array)
    except BaseException as error:
        text = "%s: %s" % (type(error).__name__, error)
        return from_cause("fail", "torch.from_numpy failed: %s" % text, text)
    tensor[0, 0] = 42.0
    if array[0, 0] != 42.0 or tensor.numpy().tolist() != array.tolist():
        return outcome("fail", "torch.from_numpy copied instead of sharing memory", pip_commands('install --force-reinstall "numpy<3"'), INSTALL_LINK)
    return passed("torch.from_numpy and .numpy() round-trip, sharing memory (numpy %s)" % numpy.__version__)


@check("install.single_torch", "one torch on sys.path", needs_torch=False)
def single_torch(context):
    places = []
    for entry in sys.path:
        if entry and os.path.isfile(os.path.join(entry, "torch", "__init__.py")) and os.path.realpath(entry) not in places:
            places.append(os.path.realpath(entry))
    if len(places) > 1:
        return outcome(
            "warn",
            "torch is installed in %d places: %s; the first one wins" % (len(places), ", ".join(places)),
            pip_commands("uninstall torch  (repeat until one is left, then reinstall: torchup install --python %s)" % target_python()),
            INSTALL_LINK,
        )
    return passed("torch in %s" % places[0]) if places else skipped("torch is not on sys.path")


def _svd(torch, device, library):
    a = torch.tensor([[4.0, 1.0, 2.0], [1.0, 3.0, 0.5], [2.0, 0.5, 5.0]], dtype=torch.float64 if device == "cpu" else torch.float32, device=device)
    u, s, vh = torch.linalg.svd(a)
    error = (u @ torch.diag(s) @ vh - a).abs().max().item()
    tolerance = 1e-10 if device == "cpu" else 1e-4
    if error > tolerance:
        return outcome("fail", "torch.linalg.svd on %s reconstructs its 3x3 matrix only to %.1e (%s)" % (device, error, library), link=INSTALL_LINK)
    return passed("torch.linalg.svd of a 3x3 matrix on %s reconstructs it to %.1e (%s)" % (device, error, library))


@check("install.linalg", "an SVD on the CPU (LAPACK) reconstructs its matrix")
def svd_cpu(context):
    return _svd(context.torch, "cpu", "LAPACK")


@check("install.pinned", "torch is still the build torchup installed", needs_torch=False)
def still_pinned(context):
    pins = os.path.join(sys.prefix, "torchup-constraints.txt")
    if not os.path.isfile(pins):
        return skipped("torchup has not installed into this environment")
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:
        return skipped("no importlib.metadata in this Python")
    changed = []
    with open(pins) as handle:
        for line in handle:
            name, _, wanted = line.strip().partition("==")
            if not wanted or name.startswith("#"):
                continue
            try:
                found = version(name)
            except PackageNotFoundError:
                found = None
            if found != wanted:
                changed.append("%s is %s, torchup installed %s" % (name, found or "gone", wanted))
    if changed:
        return outcome(
            "warn",
            "; ".join(changed) + " (" + pins + ")",
            [torchup_command("install", "puts the planned build back, verified")],
            INSTALL_LINK,
        )
    return passed("the builds torchup installed are in place (%s)" % pins)


ADVISORY_DATABASE = "https://github.com/pypa/advisory-database/tree/main/vulns/torch"


@check("install.advisories", "no published security advisory affects this torch", needs_torch=False)
def advisories(context):
    known = context.knowledge.get("advisories")
    if known is None:
        return skipped("no advisory data here: torchup doctor hands the checks its table")
    installed = distribution("torch")
    if installed is None:
        return skipped("torch is not installed (or this Python cannot read its metadata)")
    version = installed[0]
    found = [advisory for advisory in known if in_range(version, advisory["affected"])]
    if not found:
        return dict(passed("none of the %d published advisories torchup knows affects torch %s" % (len(known), version)), facts={"advisories": []})
    fixes = [advisory["fixed"] for advisory in found if advisory["fixed"]]
    newest_fix = max(fixes, key=release_of) if fixes else None
    lines = [
        "%s, %s: %s" % (advisory["id"], "fixed in " + advisory["fixed"] if advisory["fixed"] else "no fixed release", advisory["impact"])
        for advisory in sorted(found, key=lambda advisory: release_of(advisory["fixed"]) or (99,))
    ]
    summary = "torch %s: %d published advisories affect it (%s)" % (
        version,
        len(found),
        ", ".join(
            part
            for part in (
                "every fix is in %s and later" % newest_fix if newest_fix else "",
                "%d with no fixed release" % (len(found) - len(fixes)) if len(found) > len(fixes) else "",
            )
            if part
        ),
    )
    commands = [torchup_command("plan", "the oldest release with every fix, and whether it runs here", " --torch '>=%s'" % newest_fix)] if newest_fix else []
    if len(found) > len(fixes):
        commands.append("pip-audit --ignore-vuln ID  (only for an advisory with no fixed release that does not touch your use)")
    result = outcome("warn", "\n".join([summary] + lines), commands, ADVISORY_DATABASE)
    result["facts"] = {"advisories": [advisory["id"] for advisory in found]}
    return result


# --- compile: what PyTorch's release smoke test checks (.ci/pytorch/smoke_test in pytorch/pytorch) --


COMPILERS = ("cc", "gcc", "clang", "cl")


@check("compile.cpu", "torch.compile (inductor) matches eager on the CPU in fp16, fp32 and fp64", opt_in=True, timeout=600)
def compile_cpu(context):
    import shutil

    torch = context.torch
    compiler = next((name for name in COMPILERS if shutil.which(name)), None)
    if compiler is None:
        return outcome(
            "fail",
            "torch.compile on the CPU needs a C++ compiler, and none is on PATH (cc, gcc, clang, cl)",
            ["sudo apt install build-essential  (Debian/Ubuntu)", "sudo dnf install gcc-c++  (Fedora/RHEL)", "xcode-select --install  (macOS)"],
            "https://pytorch.org/docs/stable/torch.compiler_troubleshooting.html",
        )

    def function(x):
        return torch.sin(x) * 2.0 + torch.cos(x) * x

    compiled = torch.compile(function, backend="inductor")
    tolerances = {torch.float16: 1e-2, torch.float32: 1e-5, torch.float64: 1e-10}
    worst = []
    for dtype, tolerance in tolerances.items():
        x = torch.linspace(-2.0, 2.0, 257, dtype=dtype)
        error = (compiled(x) - function(x)).abs().max().item()
        if error > tolerance:
            return outcome("fail", "torch.compile in %s differs from eager by %.1e" % (str(dtype).replace("torch.", ""), error), link=INSTALL_LINK)
        worst.append("%s %.0e" % (str(dtype).replace("torch.", ""), error))
    try:
        from torch._inductor import cpu_vec_isa

        isa = str(cpu_vec_isa.pick_vec_isa()) or "none (scalar code)"
    except Exception as error:  # a private module: its absence is a fact, not a failure
        isa = "unknown (%s)" % type(error).__name__
    return passed("inductor with %s matches eager (largest differences: %s); vector ISA: %s" % (compiler, ", ".join(worst), isa))


# --- tutorial: the values the PyTorch tutorial this project grew from published ------------


@check("tutorial.tensor", "torch.Tensor(3, 4) has shape (3, 4)")
def tensor_shape(context):
    shape = tuple(context.torch.Tensor(3, 4).shape)
    return passed("shape %s" % (shape,)) if shape == (3, 4) else outcome("fail", "shape %s" % (shape,), link=TUTORIAL_LINK)


@check("tutorial.ones", "torch.ones(2, 2) is all ones")
def ones(context):
    values = context.torch.ones(2, 2).tolist()
    return passed("%s" % values) if values == [[1.0, 1.0], [1.0, 1.0]] else outcome("fail", "%s" % values, link=TUTORIAL_LINK)


@check("tutorial.variable", "Variable exposes .data, and .grad is None before backward")
def variable(context):
    torch = context.torch
    from torch.autograd import Variable

    value = Variable(torch.ones(2, 2), requires_grad=True)
    if value.data.tolist() != [[1.0, 1.0], [1.0, 1.0]] or value.grad is not None:
        return outcome("fail", "data %s, grad %s" % (value.data.tolist(), value.grad), link=TUTORIAL_LINK)
    return passed(".data is ones(2, 2), .grad is None")


@check("tutorial.autograd", "autograd: d/dx mean(3 (x + 2)^2) at ones(2, 2) is 4.5")
def autograd(context):
    torch = context.torch
    x = torch.ones(2, 2, requires_grad=True)
    out = ((x + 2) * (x + 2) * 3).mean()
    out.backward()
    gradient = x.grad.tolist()
    if gradient != [[4.5, 4.5], [4.5, 4.5]]:
        return outcome("fail", "x.grad is %s, the tutorial's is 4.5 everywhere" % gradient, link=TUTORIAL_LINK)
    return passed("out = %.1f, x.grad = 4.5 in every element" % out.item())


@check("tutorial.manual_update", "p.data.sub_(p.grad.data * lr) updates a parameter")
def manual_update(context):
    torch = context.torch
    torch.manual_seed(0)
    layer = torch.nn.Linear(2, 1)
    layer(torch.tensor([[1.0, 2.0]])).sum().backward()
    learning_rate = 0.01
    for parameter in layer.parameters():
        expected = parameter.data - parameter.grad.data * learning_rate
        parameter.data.sub_(parameter.grad.data * learning_rate)
        if not torch.equal(parameter.data, expected):
            return outcome("fail", "the in-place update gave %s, expected %s" % (parameter.data.tolist(), expected.tolist()), link=TUTORIAL_LINK)
    return passed("weights moved by exactly -lr * grad (lr = 0.01)")


def _tutorial_pair(torch):
    return torch.ones(2, 2), torch.tensor([[0.0, 1.0], [2.0, 3.0]])


def _loss_check(check_id, title, make_loss, expected, note=None):
    @check(check_id, title)
    def run(context):
        torch = context.torch
        sample, target = _tutorial_pair(torch)
        value = make_loss(torch)(sample, target).item()
        evidence = "%.4f" % value + (" (%s)" % note if note else "")
        if not _close(value, expected, 1e-4):
            return outcome("fail", "%s, the tutorial's value is %s" % (evidence, expected), link=TUTORIAL_LINK)
        return passed(evidence)

    return run


_loss_check("tutorial.loss_l1", "L1Loss on the tutorial's sample is 1.0", lambda torch: torch.nn.L1Loss(), 1.0)
_loss_check("tutorial.loss_smooth_l1", "SmoothL1Loss on the tutorial's sample is 0.625", lambda torch: torch.nn.SmoothL1Loss(), 0.625)
_loss_check("tutorial.loss_mse", "MSELoss on the tutorial's sample is 1.5", lambda torch: torch.nn.MSELoss(), 1.5)
_loss_check(
    "tutorial.loss_cross_entropy",
    "CrossEntropyLoss with class-probability targets is 2.0794",
    lambda torch: torch.nn.CrossEntropyLoss(),
    3 * math.log(2),
    note="3 ln 2: targets taken as class probabilities",
)


@check("tutorial.loss_bce", "BCELoss on valid probabilities matches the hand-computed value")
def bce(context):
    torch = context.torch
    probabilities = [[0.5, 0.25], [0.75, 0.9]]
    targets = [[0.0, 1.0], [1.0, 0.0]]
    expected = -sum(t * math.log(p) + (1 - t) * math.log(1 - p) for row_p, row_t in zip(probabilities, targets) for p, t in zip(row_p, row_t)) / 4
    value = torch.nn.BCELoss()(torch.tensor(probabilities), torch.tensor(targets)).item()
    known = "the tutorial printed -50 for targets 2 and 3, which current torch rejects (targets must lie in [0, 1]; on CUDA a device-side assert)"
    if not _close(value, expected, 1e-5):
        return outcome("fail", "%.6f, hand-computed %.6f" % (value, expected), link=TUTORIAL_LINK)
    return passed("%.6f as hand-computed; known difference: %s" % (value, known))


def _log_softmax(row):
    top = max(row)
    total = math.log(sum(math.exp(value - top) for value in row)) + top
    return [value - total for value in row]


@check("tutorial.loss_nll", "NLLLoss on log-probabilities and class indices matches the hand-computed value")
def nll(context):
    torch = context.torch
    logits = [[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]]
    classes = [2, 0]
    expected = -sum(_log_softmax(row)[index] for row, index in zip(logits, classes)) / 2
    log_probabilities = torch.nn.functional.log_softmax(torch.tensor(logits), dim=1)
    value = torch.nn.NLLLoss()(log_probabilities, torch.tensor(classes)).item()
    if not _close(value, expected, 1e-5):
        return outcome("fail", "%.6f, hand-computed %.6f" % (value, expected), link=TUTORIAL_LINK)
    return passed("%.6f as hand-computed" % value)


@check("tutorial.loss_nll_2d", "NLLLoss in its 2-d form (N, C, H, W) with (N, H, W) targets")
def nll_2d(context):
    torch = context.torch
    # One image, two classes, one row of two pixels: the per-pixel logits are [0.5, 1.5] and [2.0, -1.0].
    pixels = [[0.5, 1.5], [2.0, -1.0]]
    classes = [1, 0]
    expected = -sum(_log_softmax(pixel)[index] for pixel, index in zip(pixels, classes)) / 2
    logits = torch.tensor([[[[0.5, 2.0]], [[1.5, -1.0]]]])  # (N=1, C=2, H=1, W=2)
    value = torch.nn.NLLLoss()(torch.nn.functional.log_softmax(logits, dim=1), torch.tensor([[[1, 0]]])).item()
    if not _close(value, expected, 1e-5):
        return outcome("fail", "%.6f, hand-computed %.6f" % (value, expected), link=TUTORIAL_LINK)
    return passed("%.6f as hand-computed" % value)


# The tutorial's linear-equation example: fit y = w x + b, here w = 3 and b = 2 on 64 points in
# [-1, 1], from a fixed seed, 100 steps each. Noise-free data has an exact optimum; with these
# settings every optimizer ends within 0.02 of it (measured on torch 2.x), so 0.05 leaves room for
# platform rounding while a broken optimizer (no update, a wrong sign) stays far off: the fit
# starts from a loss of 5.25.
TRUE_W, TRUE_B = 3.0, 2.0
STEPS, TOLERANCE = 100, 0.05
OPTIMIZERS = (
    ("optim_sgd", "SGD", {"lr": 0.1, "momentum": 0.9}),
    ("optim_rmsprop", "RMSprop", {"lr": 0.05}),
    ("optim_adagrad", "Adagrad", {"lr": 1.0}),
    ("optim_adadelta", "Adadelta", {"lr": 20.0}),
    ("optim_adam", "Adam", {"lr": 0.1}),
    ("optim_adamax", "Adamax", {"lr": 0.2}),
)


def _optimizer_check(suffix, name, settings, steps=STEPS, tolerance=TOLERANCE):
    # The first optimizer a process makes imports TorchDynamo (Optimizer.add_param_group is
    # wrapped by torch._disable_dynamo): that check takes about as long again as importing torch.
    @check("tutorial." + suffix, "%s fits the tutorial's linear equation" % name)
    def run(context):
        torch = context.torch
        torch.manual_seed(0)
        x = torch.linspace(-1, 1, 64).unsqueeze(1)
        y = TRUE_W * x + TRUE_B
        model = torch.nn.Linear(1, 1)
        optimizer = getattr(torch.optim, name)(model.parameters(), **settings)
        loss_function = torch.nn.MSELoss()
        first = loss_function(model(x), y).item()
        for _ in range(steps):
            optimizer.zero_grad()
            loss = loss_function(model(x), y)
            loss.backward()
            optimizer.step()
        last = loss_function(model(x), y).item()
        w, b = model.weight.item(), model.bias.item()
        evidence = "loss %.4f -> %.6f after %d steps; w = %.4f, b = %.4f" % (first, last, steps, w, b)
        if not (last < first and _close(w, TRUE_W, tolerance) and _close(b, TRUE_B, tolerance)):
            return outcome("fail", evidence + " (expected w = 3, b = 2 within %s)" % tolerance, link="https://pytorch.org/docs/stable/optim.html")
        return passed(evidence)

    return run


for _optimizer in OPTIMIZERS:
    _optimizer_check(*_optimizer)


# --- accelerator ---------------------------------------------------------------------------


def _device(torch):
    if torch.version.cuda or getattr(torch.version, "hip", None):
        return "cuda"
    if sys.platform == "darwin" and getattr(torch.backends, "mps", None) and torch.backends.mps.is_built():
        return "mps"
    return None


def _needs_device(function):
    def run(context):
        torch = context.torch
        device = _device(torch)
        if device is None:
            return skipped("the %s has no accelerator to check" % build_name(torch))
        if device == "cuda" and not torch.cuda.is_available():
            return skipped("no usable GPU (see accelerator.available)")
        if device == "mps" and not torch.backends.mps.is_available():
            return skipped("MPS is not available (see accelerator.available)")
        return function(torch, device)

    run.__name__ = function.__name__
    return run


@check("accelerator.available", "the GPU is usable from torch")
def accelerator_available(context):
    torch = context.torch
    device = _device(torch)
    if device is None:
        return skipped("the %s has no accelerator to check" % build_name(torch))
    if device == "mps":
        if torch.backends.mps.is_available():
            return passed("MPS is available")
        try:
            torch.zeros(1, device="mps")
        except BaseException as error:
            return from_cause("fail", "MPS is built but not available: %s" % error, str(error))
        return outcome("fail", "MPS is built but not available", ["update macOS"], "https://developer.apple.com/metal/pytorch/")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        available = torch.cuda.is_available()
        count = torch.cuda.device_count() if available else 0
    said = " ".join(str(w.message) for w in caught)
    if available:
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(count))
        return passed("%d device%s: %s" % (count, "" if count == 1 else "s", names))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and nvidia_driver_present() and not said:
        return outcome(
            "warn",
            "CUDA_VISIBLE_DEVICES=%r hides every GPU from torch" % visible,
            ["unset CUDA_VISIBLE_DEVICES"],
            "https://docs.nvidia.com/cuda/cuda-c-programming-guide/index.html#env-vars",
        )
    if not nvidia_driver_present() and not getattr(torch.version, "hip", None):
        return outcome(
            "fail",
            "the %s finds no GPU: no NVIDIA driver is loaded" % build_name(torch),
            ["install the NVIDIA driver", torchup_command("install", "or the CPU build", " --no-gpu")],
            "https://www.nvidia.com/Download/index.aspx",
        )
    return from_cause("fail", "torch.cuda.is_available() is False" + (": " + said.splitlines()[0] if said else ""), said)


TEGRA_RELEASE = "/etc/nv_tegra_release"
JETSON_LINK = "https://docs.nvidia.com/deeplearning/frameworks/install-pytorch-jetson-platform/index.html"


def parse_tegra_release(text):
    """The L4T release and board from /etc/nv_tegra_release's first line (``# R36 (release), REVISION: 4.0, …, BOARD: generic``)."""
    match = re.search(r"#\s*R(\d+)\s+\(release\),\s+REVISION:\s+([\d.]+)(?:.*?BOARD:\s*([^,]+))?", text or "")
    return ("%s.%s" % (match.group(1), match.group(2)), match.group(3)) if match else None


@check("accelerator.jetson", "on a Jetson board, torch sees its integrated GPU")
def jetson(context):
    torch = context.torch
    try:
        with open(TEGRA_RELEASE) as handle:
            release = parse_tegra_release(handle.read())
    except (IOError, OSError):
        return skipped("not a Jetson board (no %s)" % TEGRA_RELEASE)
    if release is None:
        return outcome(
            "warn", "%s does not say which L4T release this is" % TEGRA_RELEASE, ["dpkg-query --show nvidia-l4t-core  (the L4T release)"], JETSON_LINK
        )
    l4t, board = release
    where = "L4T %s%s" % (l4t, " (board %s)" % board.strip() if board else "")
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(0)
        return passed("%s: torch %s sees %s, compute capability %d.%d" % (where, torch.__version__, torch.cuda.get_device_name(0), major, minor))
    return outcome(
        "fail",
        "%s: torch %s (the %s) does not see the integrated GPU" % (where, torch.__version__, build_name(torch)),
        [torchup_command("plan", "NVIDIA's Jetson wheel for this JetPack, where one exists"), torchup_command("install", "then install it")],
        JETSON_LINK,
    )


@check("accelerator.driver_cuda", "the driver supports the build's CUDA")
@_needs_device
def driver_cuda(torch, device):
    if device != "cuda" or not torch.version.cuda:
        return skipped("not a CUDA build")
    import ctypes

    try:
        library = ctypes.CDLL("nvcuda.dll" if os.name == "nt" else "libcuda.so.1")
        version = ctypes.c_int(0)
        library.cuDriverGetVersion(ctypes.byref(version))
    except (OSError, AttributeError) as error:
        return skipped("libcuda could not be asked: %s" % error)
    driver = (version.value // 1000, version.value % 1000 // 10)
    build = tuple(int(part) for part in torch.version.cuda.split(".")[:2])
    if driver[0] < build[0]:
        return outcome(
            "fail",
            "the driver supports CUDA %d.%d, the build needs CUDA %d.x" % (driver + (build[0],)),
            ["update the NVIDIA driver", torchup_command("install", "or a build the driver supports")],
            "https://www.nvidia.com/Download/index.aspx",
        )
    if driver < build:
        return outcome(
            "warn",
            "the driver supports CUDA %d.%d, the build is CUDA %d.%d: it runs under minor-version compatibility" % (driver + build),
            ["update the NVIDIA driver for every feature"],
            "https://docs.nvidia.com/deploy/cuda-compatibility/",
        )
    return passed("driver CUDA %d.%d, build CUDA %d.%d" % (driver + build))


@check("accelerator.arch", "each GPU's compute capability is compiled into the build")
@_needs_device
def arch(torch, device):
    if device != "cuda" or not torch.version.cuda:
        return skipped("not a CUDA build")
    compiled = torch.cuda.get_arch_list()
    sass = [tuple(divmod(int(name[3:]), 10)) for name in compiled if name.startswith("sm_") and name[3:].isdigit()]
    ptx = [tuple(divmod(int(name[8:]), 10)) for name in compiled if name.startswith("compute_") and name[8:].isdigit()]
    found = []
    for index in range(torch.cuda.device_count()):
        major, minor = torch.cuda.get_device_capability(index)
        name = torch.cuda.get_device_name(index)
        if any(m == major and n <= minor for m, n in sass):
            found.append("%s sm_%d%d" % (name, major, minor))
        elif any((m, n) <= (major, minor) for m, n in ptx):
            found.append("%s sm_%d%d (through PTX)" % (name, major, minor))
        else:
            return outcome(
                "fail",
                "%s (sm_%d%d) is not among %s" % (name, major, minor, " ".join(compiled)),
                [torchup_command("plan", "it checks each GPU against each build"), torchup_command("install", "the build that runs here")],
                INSTALL_LINK,
            )
    return passed("; ".join(found) + " in " + " ".join(compiled))


def _against_cpu(torch, device, compute, tolerance):
    torch.manual_seed(0)
    reference, on_device = compute("cpu"), compute(device).to("cpu")
    error = (reference - on_device).abs().max().item() / max(reference.abs().max().item(), 1e-12)
    return error, error <= tolerance


@check("accelerator.matmul", "a matmul on the GPU matches the CPU")
@_needs_device
def matmul(torch, device):
    a, b = torch.randn(256, 256), torch.randn(256, 256)
    error, ok = _against_cpu(torch, device, lambda where: a.to(where) @ b.to(where), 1e-3)
    return passed("256x256 float32, relative error %.1e" % error) if ok else outcome("fail", "relative error %.1e against the CPU" % error, link=INSTALL_LINK)


@check("accelerator.svd", "an SVD on the GPU (cuSOLVER) reconstructs its matrix")
@_needs_device
def svd_device(torch, device):
    return _svd(torch, device, "cuSOLVER" if device == "cuda" else device)


@check("accelerator.conv2d", "a conv2d on the GPU matches the CPU")
@_needs_device
def conv2d(torch, device):
    images, weights = torch.randn(4, 3, 32, 32), torch.randn(8, 3, 3, 3)
    # cuDNN may use TF32 for convolutions (torch's default), hence the tolerance.
    error, ok = _against_cpu(torch, device, lambda where: torch.nn.functional.conv2d(images.to(where), weights.to(where), padding=1), 1e-2)
    return (
        passed("4x3x32x32 * 8x3x3x3, relative error %.1e" % error) if ok else outcome("fail", "relative error %.1e against the CPU" % error, link=INSTALL_LINK)
    )


@check("accelerator.autocast", "fp16 and bf16 autocast run")
@_needs_device
def autocast(torch, device):
    a, b = torch.randn(128, 128, device=device), torch.randn(128, 128, device=device)
    exact = (a @ b).float()
    dtypes = [torch.float16]
    if device == "cuda" and torch.cuda.is_bf16_supported():
        dtypes.append(torch.bfloat16)
    done = []
    for dtype in dtypes:
        with torch.autocast(device_type=device, dtype=dtype):
            result = a @ b
        error = ((result.float() - exact).abs().max() / exact.abs().max()).item()
        if result.dtype != dtype or error > 5e-2:
            return outcome(
                "fail", "%s autocast gave %s with relative error %.1e" % (dtype, result.dtype, error), link="https://pytorch.org/docs/stable/amp.html"
            )
        done.append("%s (error %.1e)" % (str(dtype).replace("torch.", ""), error))
    return passed(", ".join(done))


@check("accelerator.cudnn", "cuDNN at runtime is the one torch was built with")
@_needs_device
def cudnn(torch, device):
    if device != "cuda" or not torch.backends.cudnn.is_available():
        return skipped("no cuDNN in this build")
    runtime = torch.backends.cudnn.version()
    compiled = torch._C._cudnn.getCompileVersion() if hasattr(torch._C, "_cudnn") else None
    # cuDNN 9 numbers itself major * 10000 + minor * 100 + patch (91900); cuDNN 8 used major * 1000.
    parts = (runtime // 10000, runtime // 100 % 100, runtime % 100) if runtime >= 10000 else (runtime // 1000, runtime // 100 % 10, runtime % 100)
    shown = ".".join(map(str, parts))
    if compiled and tuple(compiled[:1]) != parts[:1]:
        return outcome(
            "fail",
            "cuDNN %s at runtime, built with %s" % (shown, ".".join(map(str, compiled))),
            ["remove the other cuDNN from LD_LIBRARY_PATH"],
            "https://github.com/pytorch/pytorch/pull/104757",
        )
    return passed("cuDNN %s" % shown + (", built with %s" % ".".join(map(str, compiled)) if compiled else ""))


@check("accelerator.nccl", "NCCL is there for multi-GPU work")
@_needs_device
def nccl(torch, device):
    if device != "cuda" or not sys.platform.startswith("linux") or getattr(torch.version, "hip", None):
        return skipped("NCCL is for CUDA on Linux")
    try:
        version = torch.cuda.nccl.version()
    except BaseException as error:
        return outcome("warn", "NCCL is not usable: %s" % error, [torchup_command("install", "a build with NCCL for this machine")], INSTALL_LINK)
    return passed("NCCL %s" % ".".join(map(str, version if isinstance(version, tuple) else (version,))))


# The runtime libraries a CUDA process maps, by the file names the wheels and toolkits give them.
_RUNTIME_LIBRARY = re.compile(r"/(lib(?P<name>cudart|cublas|cudnn|nccl)[^/]*\.so(?:\.(?P<major>\d+))?[^/]*)$")


def parse_maps(text):
    """The CUDA runtime libraries in a /proc/<pid>/maps text: name -> {path: major}."""
    found = {}
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6:
            continue
        match = _RUNTIME_LIBRARY.search(parts[5].strip())
        if match:
            found.setdefault(match.group("name"), {})[parts[5].strip()] = match.group("major")
    return found


def _package_versions(prefixes):
    try:
        from importlib.metadata import distributions
    except ImportError:
        return {}
    return dict((d.metadata["Name"], d.version) for d in distributions() if d.metadata["Name"] and d.metadata["Name"].lower().startswith(prefixes))


@check("accelerator.runtimes", "one CUDA runtime in the process, and the cuDNN and NCCL it maps are the packages installed")
def runtimes(context):
    torch = context.torch
    if not sys.platform.startswith("linux"):
        return skipped("read from /proc/self/maps, on Linux")
    if not torch.version.cuda:
        return skipped("the %s maps no CUDA runtime" % build_name(torch))
    if torch.cuda.is_available():
        torch.zeros(1, device="cuda")  # initialise CUDA, so its libraries are mapped
        if torch.backends.cudnn.is_available():
            torch.backends.cudnn.version()
    with open("/proc/self/maps") as handle:
        mapped = parse_maps(handle.read())
    majors = sorted(set(major for path, major in mapped.get("cudart", {}).items() if major))
    if len(majors) > 1:
        return outcome(
            "fail",
            "CUDA runtimes of %d major versions in one process: %s" % (len(majors), ", ".join(sorted(mapped["cudart"]))),
            ["keep other CUDA toolkits' lib directories out of LD_LIBRARY_PATH", "torchup detect  (lists LD_LIBRARY_PATH entries holding CUDA libraries)"],
            INSTALL_LINK,
        )
    packages = _package_versions(("nvidia-cudnn", "nvidia-nccl"))
    lines = ["%s: %s" % (name, ", ".join(sorted(paths))) for name, paths in sorted(mapped.items()) if name in ("cudnn", "nccl", "cudart")]
    lines += ["%s %s installed" % (name, version) for name, version in sorted(packages.items())]
    try:
        nccl = ".".join(map(str, torch.cuda.nccl.version()))
    except BaseException:
        nccl = None
    nccl_package = next((version for name, version in packages.items() if name.lower().startswith("nvidia-nccl")), None)
    if nccl and nccl_package and not nccl_package.startswith(nccl):
        return outcome(
            "warn",
            "NCCL %s is loaded, nvidia-nccl %s is installed: another NCCL wins (LD_LIBRARY_PATH, LD_PRELOAD)\n%s" % (nccl, nccl_package, "\n".join(lines)),
            ["keep other NCCL builds out of LD_LIBRARY_PATH and LD_PRELOAD"],
            "https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/env.html",
        )
    return passed("one CUDA runtime%s%s" % ((" (%s)" % ", ".join(majors)) if majors else "", ("\n" + "\n".join(lines)) if lines else ""))


@check("accelerator.device_assert", "a device-side assert reaches Python as an error (it ends its worker)")
@_needs_device
def device_assert(torch, device):
    if device != "cuda":
        return skipped("device-side asserts are CUDA's")
    try:
        torch._assert_async(torch.tensor(0, device="cuda"))
        torch.cuda.synchronize()
    except RuntimeError as error:
        if "device-side assert" in str(error):
            # The CUDA context is unusable from here: the worker stops, a fresh one carries on.
            return dict(passed("raised as a Python RuntimeError: %s" % str(error).splitlines()[0]), poisoned=True)
        raise
    return outcome("fail", "torch._assert_async(0) on the GPU raised nothing", link=INSTALL_LINK)


# --- distributed (opt-in): real collectives between local processes over loopback ---------

_COLLECTIVE = r"""
import os, sys, torch, torch.distributed as dist
rank, world, backend = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
dist.init_process_group(backend, init_method="tcp://127.0.0.1:" + sys.argv[4], rank=rank, world_size=world)
device = "cuda:%d" % (rank % torch.cuda.device_count()) if backend == "nccl" else "cpu"
value = torch.tensor([float(rank + 1)], device=device)
dist.all_reduce(value)
print(value.item())
dist.destroy_process_group()
"""


def _free_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _all_reduce(backend, world):
    import subprocess

    port = str(_free_port())
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _COLLECTIVE, str(rank), str(world), backend, port], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True
        )
        for rank in range(world)
    ]
    outputs = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=120)
            outputs.append((process.returncode, out.strip(), err.strip()))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    expected = float(world * (world + 1) // 2)
    failures = [err.splitlines()[-1] if err else "exit %s" % code for code, out, err in outputs if code != 0 or out != str(expected)]
    return expected, failures


@check("distributed.gloo", "gloo all_reduce across 2 local processes", opt_in=True)
def gloo(context):
    expected, failures = _all_reduce("gloo", 2)
    if failures:
        return outcome(
            "fail",
            "all_reduce failed: %s" % failures[0],
            ["check that 127.0.0.1 is reachable (firewall, no loopback in the container)"],
            "https://pytorch.org/docs/stable/distributed.html",
        )
    return passed("2 ranks summed to %s over tcp://127.0.0.1" % expected)


@check("distributed.nccl", "nccl all_reduce on the GPU", opt_in=True)
def nccl_all_reduce(context):
    torch = context.torch
    if not (torch.version.cuda and torch.cuda.is_available()):
        return skipped("no usable CUDA GPU")
    expected, failures = _all_reduce("nccl", 1)
    if failures:
        return outcome(
            "fail",
            "all_reduce failed: %s" % failures[0],
            ["NCCL_DEBUG=INFO torchup doctor distributed.nccl"],
            "https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/troubleshooting.html",
        )
    return passed("1 rank over NCCL gave %s" % expected)


def select(names, include_opt_in=False):
    """Checks by id or group name, in registry order; all default checks when ``names`` is empty."""
    if not names:
        return [c for c in CHECKS if include_opt_in or not c.opt_in]
    unknown = [n for n in names if n not in {c.group for c in CHECKS} and n not in {c.id for c in CHECKS}]
    if unknown:
        raise ValueError("unknown check or group: %s" % ", ".join(unknown))
    return [c for c in CHECKS if c.id in names or c.group in names]
