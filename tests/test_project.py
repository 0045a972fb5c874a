"""``torchup project`` with the real tools: init writes what uv, poetry and pdm document; their own
lock and sync then install torch from a PEP 503 index on 127.0.0.1 holding real wheels; check
finds each failure mode in hand-written projects."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, isolated_env

AUTOGRAD = "import torch; x = torch.ones(2, 2, requires_grad=True); ((x + 2) * (x + 2) * 3).mean().backward(); print(x.grad.tolist(), torch.__version__)"

ORIGINAL = """\
# The team's project: comments like this one must survive.
[project]
name = "demo"
version = "0.1.0"
requires-python = ">=3.11,<3.12"
dependencies = [
    "numpy",  # arrays
]

[tool.ruff]
line-length = 100  # ours
"""


def torchup(*args, env=None, cwd=REPO):
    return subprocess.run(
        [sys.executable, "-m", "torchup", *args], capture_output=True, text=True, env=env or isolated_env(PIP_CONFIG_FILE=os.devnull), cwd=cwd, timeout=600
    )


def project_dir(tmp_path, text=ORIGINAL):
    directory = tmp_path / "demo"
    directory.mkdir()
    (directory / "pyproject.toml").write_text(text)
    return directory


def tool_env(tmp_path, **extra):
    env = isolated_env(PIP_CONFIG_FILE=os.devnull, UV_CACHE_DIR=str(tmp_path / "uv-cache"), UV_PYTHON_DOWNLOADS="never", **extra)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    return env


def test_uv_init_lock_sync_gives_the_planned_torch(indexes, tmp_path):
    directory = project_dir(tmp_path)
    init = torchup("project", "init", str(directory), "--tool", "uv", "--torch", "2.13", "--index-base", indexes.url + "/whl")
    assert init.returncode == 0, init.stderr
    text = (directory / "pyproject.toml").read_text()
    assert text.startswith("# The team's project: comments like this one must survive.\n")
    assert '"numpy",  # arrays' in text and "line-length = 100  # ours" in text
    env = tool_env(tmp_path, UV_DEFAULT_INDEX=indexes.url + "/pypi")
    uv = [sys.executable, "-m", "uv"]
    locked = subprocess.run(uv + ["lock", "--python", sys.executable], cwd=directory, capture_output=True, text=True, env=env, timeout=600)
    assert locked.returncode == 0, locked.stderr
    synced = subprocess.run(uv + ["sync", "--python", sys.executable], cwd=directory, capture_output=True, text=True, env=env, timeout=900)
    assert synced.returncode == 0, synced.stderr
    ran = subprocess.run([str(directory / ".venv" / "bin" / "python"), "-c", AUTOGRAD], capture_output=True, text=True, timeout=300)
    assert ran.stdout.strip() == "[[4.5, 4.5], [4.5, 4.5]] 2.13.0+cpu", ran.stderr
    lock = (directory / "uv.lock").read_text()
    assert f'source = {{ registry = "{indexes.url}/whl/cpu" }}' in lock
    again = torchup("project", "init", str(directory), "--tool", "uv", "--torch", "2.13", "--index-base", indexes.url + "/whl")
    assert "nothing to change" in again.stdout and (directory / "pyproject.toml").read_text() == text
    checked = torchup("project", "check", str(directory), "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["findings"] == []


HEADER = '[project]\nname = "demo"\nversion = "0.1.0"\nrequires-python = ">=3.11,<3.13"\n'
CPU_INDEX = '\n[[tool.uv.index]]\nname = "pytorch-cpu"\nurl = "https://download.pytorch.org/whl/cpu"\nexplicit = true\n'
CU130_INDEX = '\n[[tool.uv.index]]\nname = "pytorch-cu130"\nurl = "https://download.pytorch.org/whl/cu130"\nexplicit = true\n'


def lock(*packages):
    return "version = 1\n" + "".join(
        f'\n[[package]]\nname = "{name}"\nversion = "{version}"\nsource = {{ registry = "https://download.pytorch.org/whl/x" }}\n' for name, version in packages
    )


# (id, pyproject.toml, uv.lock or None): one hand-written project per failure mode
BROKEN = [
    ("P01", HEADER + 'dependencies = ["numpy"]\n\n[tool.uv.sources]\ntorch = { index = "pytorch-cpu" }\n' + CPU_INDEX, None),
    ("P02", HEADER + 'dependencies = ["torch==2.13.0", "torchvision==0.28.0"]\n\n[tool.uv.sources]\ntorch = { index = "pytorch-cpu" }\n' + CPU_INDEX, None),
    ("P03", HEADER + 'dependencies = ["torch==2.13.0"]\n\n[tool.uv.sources]\ntorch = { index = "pytorch-cu130" }\n' + CU130_INDEX, None),
    (
        "P04",
        HEADER
        + 'dependencies = ["torch==2.13.0"]\n\n[tool.uv]\nindex-strategy = "unsafe-best-match"\n\n[[tool.uv.index]]\nname = "pytorch-cpu"\nurl = "https://download.pytorch.org/whl/cpu"\n',
        None,
    ),
    (
        "P05",
        HEADER
        + 'dependencies = ["torch==2.13.0"]\n\n[tool.uv.sources]\ntorch = { index = "pytorch-cu130", marker = "sys_platform == \'linux\'" }\n'
        + CU130_INDEX,
        lock(("torch", "2.13.0+cu130")),
    ),
    (
        "P06",
        HEADER + 'dependencies = ["torch==2.13.0"]\n\n[tool.uv.sources]\ntorch = { index = "pytorch-cpu" }\n' + CPU_INDEX,
        lock(("torch", "2.13.0+cpu"), ("nvidia-cublas-cu12", "12.6.4.1"), ("triton", "3.4.0")),
    ),
    (
        "P07",
        HEADER
        + 'dependencies = ["torch==2.13.0", "torchvision==0.28.0"]\n\n[tool.uv.sources]\ntorch = { index = "pytorch-cpu" }\ntorchvision = { index = "pytorch-cpu" }\n'
        + CPU_INDEX,
        lock(("torch", "2.13.0+cpu"), ("torchvision", "0.28.0+cu126")),
    ),
    (
        "P08",
        HEADER.replace('">=3.11,<3.13"', '">=3.9"') + 'dependencies = ["torch==2.13.0"]\n\n[tool.uv.sources]\ntorch = { index = "pytorch-cpu" }\n' + CPU_INDEX,
        None,
    ),
]


@pytest.mark.parametrize("finding_id, pyproject, uv_lock", BROKEN, ids=[case[0] for case in BROKEN])
def test_check_finds_each_failure_mode(finding_id, pyproject, uv_lock, tmp_path):
    directory = project_dir(tmp_path, pyproject)
    if uv_lock:
        (directory / "uv.lock").write_text(uv_lock)
    result = torchup("project", "check", str(directory), "--json", "--junit", str(tmp_path / "check.xml"), env=isolated_env(TORCHUP_NVIDIA_DRIVER="570.86.15"))
    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)["findings"]
    assert {f["id"] for f in findings} == {finding_id}, findings
    assert findings[0]["line"] > 1 and findings[0]["fix"]
    assert f'name="{finding_id} ' in (tmp_path / "check.xml").read_text()
    text = torchup("project", "check", str(directory), env=isolated_env(TORCHUP_NVIDIA_DRIVER="570.86.15"))
    assert f"✗ {finding_id} " in text.stdout and text.returncode == 1


def test_p05_names_why_this_machine_cannot_run_the_lock(tmp_path):
    pyproject, uv_lock = next((p, lock_text) for i, p, lock_text in BROKEN if i == "P05")
    directory = project_dir(tmp_path, pyproject)
    (directory / "uv.lock").write_text(uv_lock)
    result = torchup("project", "check", str(directory), "--json", env=isolated_env(TORCHUP_NVIDIA_DRIVER="570.86.15"))
    evidence = json.loads(result.stdout)["findings"][0]["evidence"]
    assert evidence == "the lock pins torch 2.13.0+cu130, and on this machine driver 570.86.15 is older than 580, the minimum for CUDA 13.x"


@pytest.mark.parametrize(
    "name, text",
    [("pyproject.toml", '[project\nname = "x"\n'), ("uv.lock", "version = = 1\n")],
)
def test_a_malformed_file_is_one_line_exit_2_and_untouched(name, text, tmp_path):
    directory = project_dir(tmp_path, HEADER + 'dependencies = ["numpy"]\n')
    (directory / name).write_text(text)
    commands = [["project", "check", str(directory)]]
    if name == "pyproject.toml":  # init reads no lock
        commands.append(["project", "init", str(directory), "--tool", "uv", "--index-base", "http://127.0.0.1:9/whl"])
    for argv in commands:
        result = torchup(*argv)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.splitlines()
        assert lines[0].startswith(f"torchup: error: {directory / name}: not valid TOML"), lines
        assert "Traceback" not in result.stderr
    assert (directory / name).read_text() == text


@pytest.fixture(scope="module")
def tools(tmp_path_factory):
    """poetry and pdm, installed from the package index into a venv of their own, as their users install them."""
    venv = tmp_path_factory.mktemp("tools") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # pdm 2.29 needs hishel's 1.x API: 2.0 removed what it imports (a crash at `pdm lock`).
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "poetry", "pdm", "hishel[httpx2]>=1.4,<2"], check=True, capture_output=True, timeout=900
    )
    return venv / "bin"


def run_tool(argv, directory, env):
    done = subprocess.run([str(part) for part in argv], cwd=directory, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr[-2000:])
    return done


@pytest.mark.parametrize("tool", ["poetry", "pdm"])
def test_poetry_and_pdm_init_lock_install_give_the_planned_torch(tool, tools, indexes, tmp_path):
    mirror = {
        "poetry": f'\n[tool.poetry]\npackage-mode = false\n\n[[tool.poetry.source]]\nname = "mirror"\nurl = "{indexes.url}/pypi"\npriority = "primary"\n',
        "pdm": f'\n[tool.pdm]\ndistribution = false\n\n[[tool.pdm.source]]\nname = "pypi"\nurl = "{indexes.url}/pypi"\n',
    }[tool]
    directory = project_dir(tmp_path, ORIGINAL + mirror)
    init = torchup("project", "init", str(directory), "--tool", tool, "--torch", "2.13", "--index-base", indexes.url + "/whl")
    assert init.returncode == 0, init.stderr
    text = (directory / "pyproject.toml").read_text()
    assert text.startswith("# The team's project: comments like this one must survive.\n") and "line-length = 100  # ours" in text
    env = tool_env(
        tmp_path,
        POETRY_VIRTUALENVS_IN_PROJECT="true",
        POETRY_CACHE_DIR=str(tmp_path / "poetry-cache"),
        PDM_CACHE_DIR=str(tmp_path / "pdm-cache"),
        PDM_CHECK_UPDATE="false",
        PDM_HOME=str(tmp_path / "pdm-home"),
    )
    # The interpreter itself, not the venv the tests run in: the tools make the project's own venv from it.
    base = getattr(sys, "_base_executable", sys.executable)
    if tool == "poetry":
        run_tool([tools / "poetry", "env", "use", base], directory, env)
        run_tool([tools / "poetry", "lock"], directory, env)
        run_tool([tools / "poetry", "install"], directory, env)
    else:
        run_tool([tools / "pdm", "use", "-f", base], directory, env)
        run_tool([tools / "pdm", "lock"], directory, env)
        run_tool([tools / "pdm", "install"], directory, env)
    ran = subprocess.run([str(directory / ".venv" / "bin" / "python"), "-c", AUTOGRAD], capture_output=True, text=True, timeout=300)
    assert ran.stdout.strip() == "[[4.5, 4.5], [4.5, 4.5]] 2.13.0+cpu", ran.stderr
    checked = torchup("project", "check", str(directory), "--json")
    assert checked.returncode == 0 and json.loads(checked.stdout)["findings"] == [], checked.stdout + checked.stderr


CLOSED = "http://127.0.0.1:9/whl"  # nothing answers there: the plan is decided from the bundled data


def test_init_updates_in_place_and_says_what_it_would_do(tmp_path):
    directory = project_dir(tmp_path)
    first = torchup("project", "init", str(directory), "--tool", "uv", "--torch", "2.13", "--variant", "cu130", "--with", "torchvision", "--index-base", CLOSED)
    assert first.returncode == 0, first.stderr
    text = (directory / "pyproject.toml").read_text()
    assert 'torch = [{index = "pytorch-cu130", marker = "sys_platform == \'linux\'"}, {index = "pytorch-cpu", marker = "sys_platform != \'linux\'"}]' in text
    assert text.count('"torch==2.13.0"') == 1 and '"torchvision==0.28.0"' in text
    # A later build replaces the earlier one: no duplicate requirement, no stale index.
    dry = torchup(
        "project", "init", str(directory), "--tool", "uv", "--torch", "2.13", "--variant", "cu132", "--with", "torchvision", "--index-base", CLOSED, "--dry-run"
    )
    assert dry.returncode == 0 and (directory / "pyproject.toml").read_text() == text  # a dry run writes nothing
    assert '-url = "http://127.0.0.1:9/whl/cu130"' in dry.stdout and '+url = "http://127.0.0.1:9/whl/cu132"' in dry.stdout
    torchup("project", "init", str(directory), "--tool", "uv", "--torch", "2.13", "--variant", "cu132", "--with", "torchvision", "--index-base", CLOSED)
    moved = (directory / "pyproject.toml").read_text()
    assert "pytorch-cu130" not in moved and moved.count("pytorch-cu132") == 3 and moved.count('"torch==2.13.0"') == 1
    checked = torchup("project", "check", str(directory), "--json")
    assert json.loads(checked.stdout)["findings"] == [], checked.stdout


def test_init_with_extras_writes_conflicting_groups(tmp_path):
    directory = project_dir(tmp_path)
    result = torchup("project", "init", str(directory), "--tool", "uv", "--torch", "2.13", "--extras", "cpu,cu130", "--index-base", CLOSED)
    assert result.returncode == 0, result.stderr
    text = (directory / "pyproject.toml").read_text()
    assert 'cpu = ["torch==2.13.0"]' in text and 'cu130 = ["torch==2.13.0"]' in text
    assert 'conflicts = [[{extra = "cpu"}, {extra = "cu130"}]]' in text
    assert 'torch = [{index = "pytorch-cpu", extra = "cpu"}, {index = "pytorch-cu130", extra = "cu130"}]' in text
    assert '"numpy",  # arrays' in text and "torch==" not in text.split("[project.optional-dependencies]")[0]
    assert json.loads(torchup("project", "check", str(directory), "--json").stdout)["findings"] == []
    refused = torchup("project", "init", str(directory), "--tool", "poetry", "--extras", "cpu,cu130", "--index-base", CLOSED)
    assert refused.returncode == 2 and refused.stderr.startswith("torchup: error: Invalid value for --extras")
