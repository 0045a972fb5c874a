"""pip and uv behind one interface that only builds argv: the exact argv for each backend and flag."""

import pytest

from torchup.installer.detect.target_facts import parse_pip
from torchup.installer.install import Command, Options, Target, build_commands, venv_argv, verification_problems
from torchup.installer.install.backends import Pip, Sources, Uv
from torchup.installer.plan import Overrides, make_plan

PY = "/t/venv/bin/python"
PIP_PREFIX = [PY, "-m", "pip", "install", "--disable-pip-version-check"]
UV_PREFIX = ["uv", "pip", "install", "--compile-bytecode", "--python", PY]


@pytest.mark.parametrize(
    "sources, breaking, tail",
    [
        (Sources(), False, []),
        (Sources(index_url="https://download.pytorch.org/whl/cu128"), False, ["--index-url", "https://download.pytorch.org/whl/cu128"]),
        (
            Sources(index_url="https://i/simple", extra_index_urls=("https://e1", "https://e2"), find_links=("/w",)),
            False,
            ["--index-url", "https://i/simple", "--extra-index-url", "https://e1", "--extra-index-url", "https://e2", "--find-links", "/w"],
        ),
        (Sources(index_url="ignored", no_index=True, find_links=("/w1", "/w2")), False, ["--no-index", "--find-links", "/w1", "--find-links", "/w2"]),
        (Sources(), True, ["--break-system-packages"]),
    ],
)
def test_argv(sources, breaking, tail):
    packages = ["torch==2.7.1+cu128", "torchvision==0.22.1+cu128"]
    assert Pip(PY).install_argv(packages, sources, breaking) == PIP_PREFIX + tail + packages
    assert Uv(("uv",), PY).install_argv(packages, sources, breaking) == UV_PREFIX + tail + packages
    assert Uv((PY, "-m", "uv"), PY).install_argv(packages, sources, breaking)[:3] == [PY, "-m", "uv"]


def test_bootstrap():
    assert Pip(PY).bootstrap_argv() == [PY, "-m", "ensurepip", "--upgrade", "--default-pip"]
    assert Uv(("uv",), PY).bootstrap_argv() is None


def test_a_new_venv_gets_pip_whichever_installer_fills_it():
    """Its user runs `pip install` there next (and `torchup fix` would report a venv without pip)."""
    target = Target("/t/venv/bin/python", __import__("pathlib").Path("/t/venv"), "/usr/bin/python3")
    assert venv_argv(target) == ["/usr/bin/python3", "-I", "-m", "venv", "/t/venv"]


class FakeFacts:
    """Only what build_commands reads: the pip configuration the probe reported."""

    def __init__(self, settings):
        self.pip = parse_pip({"config": {"settings": settings}})


SETTINGS = {
    "index-url": {"value": "https://mirror.example/simple", "source": "PIP_INDEX_URL"},
    "extra-index-url": {"value": ["https://****@private.example/simple", "https://extra.example/simple"], "source": "/etc/pip.conf [global]"},
    "find-links": {"value": ["/wheels"], "source": "PIP_FIND_LINKS"},
}


def planned(**overrides):
    given = dict(os="linux", arch="x86_64", python_version="3.12", offline=True, torch="2.7")
    given.update(overrides)
    return make_plan(None, Overrides(**given))


def test_torch_from_the_planned_index_only_numpy_from_the_users_config():
    plan = planned(nvidia_driver="570.124.06", gpu_cc=("8.6",), with_packages=("torchvision",))
    commands, notes = build_commands(plan, FakeFacts(SETTINGS), Pip(PY), Options())
    assert commands == [
        Command("torch 2.7.1+cu128", PIP_PREFIX + ["--index-url", "https://download.pytorch.org/whl/cu128", "torch==2.7.1+cu128", "torchvision==0.22.1+cu128"]),
        Command("numpy and scipy", PIP_PREFIX + ["numpy", "scipy"]),
    ]
    assert notes == []


def test_uv_gets_the_users_pip_configuration_explicitly_but_no_credentials():
    plan = planned(no_gpu=True)
    commands, notes = build_commands(plan, FakeFacts(SETTINGS), Uv(("uv",), PY), Options())
    assert commands[0].argv == UV_PREFIX + ["--index-url", "https://download.pytorch.org/whl/cpu", "torch==2.7.1+cpu"]
    assert commands[1].argv == UV_PREFIX + [
        "--index-url",
        "https://mirror.example/simple",
        "--extra-index-url",
        "https://extra.example/simple",
        "--find-links",
        "/wheels",
        "numpy",
        "scipy",
    ]
    assert notes == ["uv does not read pip's configuration and torchup does not copy credentials: https://****@private.example/simple was left out"]


def test_air_gapped():
    plan = planned(no_gpu=True, torch="2.2")
    commands, _ = build_commands(plan, FakeFacts(SETTINGS), Pip(PY), Options(find_links=("/w",), no_index=True))
    assert commands[0].argv == PIP_PREFIX + ["--no-index", "--find-links", "/w", "torch==2.2.2+cpu"]
    # torch 2.2 was built against NumPy 1.x
    assert commands[1].argv == PIP_PREFIX + ["--no-index", "--find-links", "/w", "numpy<2", "scipy"]


def test_macos_default_comes_from_the_users_own_index():
    plan = planned(os="macos", arch="arm64", no_gpu=True, torch="2.11")
    commands, _ = build_commands(plan, FakeFacts(SETTINGS), Pip(PY), Options(break_system_packages=True))
    assert commands[0].argv == PIP_PREFIX + ["--break-system-packages", "torch==2.11.0"]


def test_a_jetson_wheel_is_installed_by_its_url_and_pinned_by_its_version():
    plan = make_plan(None, Overrides(jetson="36.4", python_version="3.10", offline=True))
    commands, _ = build_commands(plan, FakeFacts(SETTINGS), Pip(PY), Options())
    assert commands[0].argv == PIP_PREFIX + [
        "torch @ https://developer.download.nvidia.com/compute/redist/jp/v61/pytorch/torch-2.5.0a0+872d972e41.nv24.08.17622132-cp310-cp310-linux_aarch64.whl"
    ]
    assert plan.pins == ["torch==2.5.0a0+872d972e41.nv24.08"]
    seen = results(torch="2.5.0a0+872d972e41.nv24.08", cuda="12.6", cuda_available=False)
    assert "torch does not see the Jetson board's integrated GPU (torch.cuda.is_available() is False): check `torchup doctor`" in verification_problems(
        seen, plan
    )
    assert verification_problems(results(torch="2.5.0a0+872d972e41.nv24.08", cuda="12.6"), plan) == []


def results(**facts):
    """What the doctor's checks report after an install: every check passed, with these facts."""
    good = {"torch": "2.7.1+cu128", "cuda": "12.8", "hip": None, "cuda_available": True, "numpy": "2.1.0", "scipy": "1.14.0"}
    good.update(facts)
    build = {k: good[k] for k in ("torch", "cuda", "hip", "cuda_available")}
    return [
        {"id": "install.import", "status": "pass", "evidence": "torch imported"},
        {"id": "install.build", "status": "pass", "evidence": "the build", "facts": build},
        {"id": "install.numpy", "status": "pass", "evidence": "numpy", "facts": {"numpy": good["numpy"]}},
        {"id": "tutorial.autograd", "status": "pass", "evidence": "4.5"},
    ]


def test_verification_against_the_plan():
    from torchup.installer.install import verification_problems

    plan = planned(nvidia_driver="570.124.06", gpu_cc=("8.6",))
    assert verification_problems(results(), plan) == []
    assert verification_problems(results(torch="2.7.1+cu126", cuda="12.6"), plan) == [
        "torch is 2.7.1+cu126, the plan is 2.7.1+cu128",
        "torch's CUDA runtime is 12.6, the plan is CUDA 12.8",
    ]
    assert verification_problems(results(cuda_available=False), plan) == [
        "torch.cuda.is_available() is False although a GPU was detected: check `torchup doctor`"
    ]
    broken = [
        {"id": "install.import", "status": "fail", "evidence": "import torch failed: ImportError: libtorch_cpu.so: cannot open shared object file\nmore"},
        {"id": "install.build", "status": "skip", "evidence": "torch does not import (see install.import)"},
    ]
    assert verification_problems(broken, plan) == ["install.import: import torch failed: ImportError: libtorch_cpu.so: cannot open shared object file"]
    numpy_1 = results() + [
        {"id": "install.numpy_abi", "status": "fail", "evidence": "A module that was compiled using NumPy 1.x cannot be run in NumPy 2.1.0 as it may crash."}
    ]
    assert verification_problems(numpy_1, plan) == [
        "install.numpy_abi: A module that was compiled using NumPy 1.x cannot be run in NumPy 2.1.0 as it may crash."
    ]
    cpu_plan = planned(no_gpu=True)
    assert verification_problems(results(torch="2.7.1+cpu"), cpu_plan) == ["torch is a GPU build (CUDA 12.8, HIP None), the plan is the CPU build"]


def test_companions_asked_for_must_be_there():
    """`install --with torchvision` on a venv that has the planned torch but no torchvision is not 'already installed'."""
    from torchup.installer.install import verification_problems

    plan = planned(nvidia_driver="570.124.06", gpu_cc=("8.6",), with_packages=("torchvision",))
    assert verification_problems(results(), plan) == ["torchvision is not installed, the plan is 0.22.1+cu128"]
    with_it = results() + [{"id": "install.companions", "status": "pass", "evidence": "", "facts": {"torchvision": "0.22.1+cu128"}}]
    assert verification_problems(with_it, plan) == []


def test_hints_name_the_step_that_failed():
    from torchup.installer.install import _cause, _hint
    from torchup.installer.runner import Completed

    output = "Looking in indexes: https://mirror.example/simple\nERROR: Could not find a version that satisfies the requirement scipy (from versions: none)\nERROR: No matching distribution found for scipy\n"
    assert _hint(output, "numpy and scipy").startswith("numpy and scipy come from your pip configuration")
    assert _hint(output, "torch 2.13.0+cpu") == "the index has no such build for this interpreter: check `torchup plan` and --index-base"
    failed = Completed(("pip",), 1, output, "", 1.0)
    assert _cause(failed) == "exit status 1: ERROR: No matching distribution found for scipy"
    uv = Completed(
        ("uv",), 2, "Using Python 3.11.7 environment at: /v\n  × No solution found when resolving dependencies:\n  ╰─▶ Because scipy was not found\n", "", 1.0
    )
    assert _cause(uv) == "exit status 2: × No solution found when resolving dependencies:"


def test_bytecode_is_compiled_where_it_pays():
    from torchup.installer.install import bytecode_pays

    assert bytecode_pays(None, {"PYTHONDONTWRITEBYTECODE": "1"}) is True  # every import would compile again
    assert bytecode_pays(None, {}) is False  # the first import of each module compiles it, once
    assert bytecode_pays(True, {}) is True and bytecode_pays(False, {"PYTHONDONTWRITEBYTECODE": "1"}) is False
    packages = ["torch==2.7.1+cpu"]
    assert Pip(PY, compile=False).install_argv(packages, Sources()) == [PY, "-m", "pip", "install", "--disable-pip-version-check", "--no-compile"] + packages
    assert Uv(("uv",), PY, compile=False).install_argv(packages, Sources()) == ["uv", "pip", "install", "--python", PY] + packages
