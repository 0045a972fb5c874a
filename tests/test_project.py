"""``torchup project`` with the real tools: init writes what uv, poetry and pdm document; their own
lock and sync then install torch from a PEP 503 index on 127.0.0.1 holding real wheels; check
finds each failure mode in hand-written projects."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from packaging.specifiers import SpecifierSet

from tests.conftest import REPO, isolated_env, serve_wheels
from tests.test_hardening import AuthIndex
from torchup.installer import project_tools
from torchup.installer.project.tool import ProjectTool

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


def uv_lock(directory: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "uv", "lock", "--python", sys.executable], cwd=directory, capture_output=True, text=True, env=env, timeout=600)


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
    (
        "P09",
        HEADER
        + 'dependencies = ["torch==2.13.0"]\n\n[tool.uv.sources]\ntorch = { index = "pytorch-cpu" }\n'
        + CPU_INDEX.replace("https://download", "https://ci:s3cret@download"),
        None,
    ),
    (
        "P09",
        HEADER + 'dependencies = ["torch==2.13.0"]\n\n[tool.uv.sources]\ntorch = { index = "pytorch-cpu" }\n' + CPU_INDEX,
        lock(("torch", "2.13.0+cpu")).replace("https://download", "https://s3cret-token@download"),
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
    assert "s3cret" not in result.stdout + (tmp_path / "check.xml").read_text()
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


# The loopback mirror of PyPI, as each tool is told of it (uv: UV_DEFAULT_INDEX).
MIRROR = {
    "uv": "",
    "poetry": '\n[tool.poetry]\npackage-mode = false\n\n[[tool.poetry.source]]\nname = "mirror"\nurl = "{mirror}"\npriority = "primary"\n',
    "pdm": '\n[tool.pdm]\ndistribution = false\n\n[[tool.pdm.source]]\nname = "pypi"\nurl = "{mirror}"\n',
}


@pytest.mark.parametrize("tool", ["poetry", "pdm"])
def test_poetry_and_pdm_init_lock_install_give_the_planned_torch(tool, tools, indexes, tmp_path):
    directory = project_dir(tmp_path, ORIGINAL + MIRROR[tool].format(mirror=indexes.url + "/pypi"))
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
        run_tool([tools / "poetry", "check"], directory, env)
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
    first = torchup(
        "project", "init", str(directory), "--tool", "uv", "--torch", "2.13", "--variant", "cu130", "--with", "torchvision", "--index-base", CLOSED, "--offline"
    )
    assert first.returncode == 0, first.stderr
    text = (directory / "pyproject.toml").read_text()
    assert 'torch = [{index = "pytorch-cu130", marker = "sys_platform == \'linux\'"}, {index = "pytorch-cpu", marker = "sys_platform != \'linux\'"}]' in text
    assert text.count('"torch==2.13.0"') == 1 and '"torchvision==0.28.0"' in text
    # A later build replaces the earlier one: no duplicate requirement, no stale index.
    dry = torchup(
        "project",
        "init",
        str(directory),
        "--tool",
        "uv",
        "--torch",
        "2.13",
        "--variant",
        "cu132",
        "--with",
        "torchvision",
        "--index-base",
        CLOSED,
        "--offline",
        "--dry-run",
    )
    assert dry.returncode == 0 and (directory / "pyproject.toml").read_text() == text  # a dry run writes nothing
    assert '-url = "http://127.0.0.1:9/whl/cu130"' in dry.stdout and '+url = "http://127.0.0.1:9/whl/cu132"' in dry.stdout
    torchup(
        "project", "init", str(directory), "--tool", "uv", "--torch", "2.13", "--variant", "cu132", "--with", "torchvision", "--index-base", CLOSED, "--offline"
    )
    moved = (directory / "pyproject.toml").read_text()
    assert "pytorch-cu130" not in moved and moved.count("pytorch-cu132") == 3 and moved.count('"torch==2.13.0"') == 1
    checked = torchup("project", "check", str(directory), "--json")
    assert json.loads(checked.stdout)["findings"] == [], checked.stdout


BUILD_SYSTEM = '\n[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'


def test_init_with_extras_writes_conflicting_groups(tmp_path):
    directory = project_dir(tmp_path, ORIGINAL.replace("\n[tool.ruff]", BUILD_SYSTEM + "\n[tool.ruff]"))
    result = torchup("project", "init", str(directory), "--tool", "uv", "--torch", "2.13", "--extras", "cpu,cu130", "--index-base", CLOSED, "--offline")
    assert result.returncode == 0, result.stderr
    text = (directory / "pyproject.toml").read_text()
    assert 'cpu = ["torch==2.13.0"]' in text and 'cu130 = ["torch==2.13.0"]' in text
    assert 'conflicts = [[{extra = "cpu"}, {extra = "cu130"}]]' in text
    assert 'torch = [{index = "pytorch-cpu", extra = "cpu"}, {index = "pytorch-cu130", extra = "cu130"}]' in text
    assert '"numpy",  # arrays' in text and "torch==" not in text.split("[project.optional-dependencies]")[0]
    assert "]\n\n[project.optional-dependencies]\n" in text and '"]\n\n[build-system]\n' in text  # separated as the file separates its tables
    assert json.loads(torchup("project", "check", str(directory), "--json").stdout)["findings"] == []
    refused = torchup("project", "init", str(directory), "--tool", "poetry", "--extras", "cpu,cu130", "--index-base", CLOSED, "--offline")
    assert refused.returncode == 2 and refused.stderr.startswith("torchup: error: Invalid value for --extras")


# --- one protocol, one module per tool ----------------------------------------------------------


@pytest.mark.parametrize("name", project_tools.NAMES)
def test_every_registered_tool_keeps_the_protocol(name):
    """A tool added to the registry is held to the protocol here, and offered by --tool."""
    tool = project_tools.get(name)
    assert tool.name == name and tool.locks and tool.next_step.startswith(name) and tool.make_explicit
    for method in ("configure", "credential_note", "routes", "indexes"):
        assert getattr(type(tool), method) is not getattr(ProjectTool, method), f"{name} does not implement {method}"
    assert set(tool.shape) and all(key.startswith(f"tool.{name}") for key in tool.shape)
    offered = torchup("project", "init", "--help").stdout
    assert "[" + "|".join(project_tools.NAMES) + "]" in offered


# --- a user's first day -----------------------------------------------------------------------

POETRY_1 = """\
[tool.poetry]
name = "demo"
version = "0.1.0"
description = "The team's project"
authors = ["Ann <ann@example.com>"]

[tool.poetry.dependencies]
python = ">=3.11,<3.12"  # the loopback mirror holds one networkx, which excludes Python 3.14.1
numpy = "*"

[[tool.poetry.source]]
name = "mirror"
url = "{mirror}"
priority = "primary"

[build-system]
requires = ["poetry-core"]
build-backend = "poetry.core.masonry.api"
"""


def poetry_env(tmp_path):
    return tool_env(tmp_path, POETRY_VIRTUALENVS_IN_PROJECT="true", POETRY_CACHE_DIR=str(tmp_path / "poetry-cache"))


def test_a_poetry_1_project_stays_valid_for_poetry(tools, indexes, tmp_path):
    directory = project_dir(tmp_path, POETRY_1.format(mirror=indexes.url + "/pypi"))
    env = poetry_env(tmp_path)
    before = run_tool([tools / "poetry", "check"], directory, env)
    init = torchup("project", "init", str(directory), "--tool", "poetry", "--torch", "2.13", "--index-base", indexes.url + "/whl")
    assert init.returncode == 0, init.stderr
    text = (directory / "pyproject.toml").read_text()
    assert "[project]" not in text  # poetry 2 would read it as PEP 621 metadata, and require its name
    assert 'torch = {version = "==2.13.0", source = "pytorch-cpu"}' in text.split("[[tool.poetry.source]]")[0]
    after = run_tool([tools / "poetry", "check"], directory, env)
    assert (after.stdout, after.stderr) == (before.stdout, before.stderr)  # nothing new to warn of
    run_tool([tools / "poetry", "lock"], directory, env)
    assert 'version = "2.13.0+cpu"' in (directory / "poetry.lock").read_text()
    checked = torchup("project", "check", str(directory), "--json")
    assert checked.returncode == 0 and json.loads(checked.stdout)["findings"] == [], checked.stdout


UV_INIT = '[project]\r\nname = "demo"\r\nversion = "0.1.0"\r\nrequires-python = ">=3.11"\r\ndependencies = [\r\n    "numpy",\r\n]\r\n\r\n[build-system]\r\nrequires = ["hatchling"]\r\nbuild-backend = "hatchling.build"\r\n'


def test_a_crlf_uv_project_keeps_its_line_endings_and_locks_and_checks_clean(indexes, tmp_path):
    """As `uv init` writes it on Windows: CRLF, and a requires-python open upwards, which admits a
    Python that torch 2.13 has no wheel for (the range is capped, and the note says so)."""
    directory = tmp_path / "demo"
    directory.mkdir()
    path = directory / "pyproject.toml"
    path.write_bytes(UV_INIT.encode())
    argv = ["project", "init", str(directory), "--tool", "uv", "--torch", "2.13", "--index-base", indexes.url + "/whl", "--json"]
    dry = torchup(*argv, "--dry-run")
    assert dry.returncode == 0 and path.read_bytes() == UV_INIT.encode(), dry.stderr
    wrote = torchup(*argv)
    assert wrote.returncode == 0, wrote.stderr
    text = path.read_bytes().decode()
    assert text.count("\n") == text.count("\r\n") > 20
    lines = text.split("\r\n")
    assert all(not lines[number - 1] for number, line in enumerate(lines) if number and line.startswith("[")), text  # a blank line before each table
    # The dry run showed exactly what was then written: the lines that changed, line endings and all.
    shown = json.loads(dry.stdout)["diff"]
    assert shown == json.loads(wrote.stdout)["diff"]
    assert [line for line in shown.splitlines(keepends=True) if line.startswith("-") and not line.startswith("---")] == ['-requires-python = ">=3.11"\r\n']
    assert all(line.endswith("\r\n") for line in shown.splitlines(keepends=True)[2:] if not line.startswith("@@"))
    assert any("now '>=3.11,<3.15'" in note and "2.15.0" in note for note in json.loads(wrote.stdout)["notes"])
    locked = uv_lock(directory, tool_env(tmp_path, UV_DEFAULT_INDEX=indexes.url + "/pypi"))
    assert locked.returncode == 0, locked.stderr
    checked = torchup("project", "check", str(directory), "--json")
    assert checked.returncode == 0 and json.loads(checked.stdout)["findings"] == [], checked.stdout


def test_an_unreachable_index_is_said_and_nothing_written_unless_offline(tmp_path):
    directory = project_dir(tmp_path)
    argv = ["project", "init", str(directory), "--tool", "uv", "--torch", "2.13", "--index-base", CLOSED]
    refused = torchup(*argv)
    lines = refused.stderr.splitlines()
    assert refused.returncode == 1 and len(lines) == 2, refused.stderr
    assert lines[0].startswith(f"torchup: error: nothing written to {directory / 'pyproject.toml'}: ") and "could not be reached" in lines[0]
    assert "--offline" in lines[1] and refused.stdout == ""
    assert (directory / "pyproject.toml").read_text() == ORIGINAL
    as_json = json.loads(torchup(*argv, "--json").stdout)
    assert as_json["status"] == "failed" and as_json["exit_code"] == 1
    written = torchup(*argv, "--offline", "--json")
    assert written.returncode == 0 and json.loads(written.stdout)["confirmed"] == "offline", written.stderr
    assert f'url = "{CLOSED}/cpu"' in (directory / "pyproject.toml").read_text()


def test_the_users_pip_source_is_routed_to_where_the_index_does_not_answer(indexes, tmp_path):
    """As `plan` does: the index is unreachable, and the pip configuration names a source holding the build."""
    directory = project_dir(tmp_path)
    env = isolated_env(PIP_CONFIG_FILE=os.devnull, PIP_EXTRA_INDEX_URL=indexes.url + "/whl/cpu")
    init = torchup("project", "init", str(directory), "--tool", "uv", "--torch", "2.13", "--index-base", CLOSED, "--json", env=env)
    assert init.returncode == 0, init.stderr
    assert json.loads(init.stdout)["confirmed"] == "configured-source"
    text = (directory / "pyproject.toml").read_text()
    assert f'url = "{indexes.url}/whl/cpu"' in text and CLOSED not in text
    locked = uv_lock(directory, tool_env(tmp_path, UV_DEFAULT_INDEX=indexes.url + "/pypi"))
    assert locked.returncode == 0, locked.stderr


def test_a_gpu_build_in_the_users_pip_source_is_routed_on_linux_only(tmp_path, local_index):
    """The other platforms keep the project's default index: none of the PyTorch index's can be reached."""
    python = "cp%d%d" % sys.version_info[:2]
    local_index.add_listing("mirror/cu130/torch", [f"torch-2.13.0+cu130-{python}-{python}-manylinux_2_28_x86_64.whl"])
    source = local_index.url + "/mirror/cu130"
    env = isolated_env(PIP_CONFIG_FILE=os.devnull, PIP_EXTRA_INDEX_URL=source)
    for tool, routed in (
        ("uv", 'torch = {index = "pytorch-cu130", marker = "sys_platform == \'linux\'"}'),
        ("poetry", 'torch = [{source = "pytorch-cu130", markers = "sys_platform == \'linux\'"}, {markers = "sys_platform != \'linux\'"}]'),
    ):
        (tmp_path / tool).mkdir()
        directory = project_dir(tmp_path / tool)
        argv = ["project", "init", str(directory), "--tool", tool, "--torch", "2.13", "--variant", "cu130", "--index-base", CLOSED]
        init = torchup(*argv, env=env)
        assert init.returncode == 0, init.stderr
        text = (directory / "pyproject.toml").read_text()
        assert routed in text and f'url = "{source}"' in text and text.count("url = ") == 1, text
        assert "other platforms: the project's default index" in init.stdout
        checked = torchup("project", "check", str(directory), "--json")
        assert checked.returncode == 0 and json.loads(checked.stdout)["findings"] == [], checked.stdout


@pytest.fixture
def auth_index(tmp_path, wheelhouse):
    """download.pytorch.org's shape behind basic auth (user "ci", a password holding "/" and "@")."""
    served = tmp_path / "auth-served"
    served.mkdir()
    serve_wheels(SimpleNamespace(root=served), "whl/cpu", sorted(wheelhouse.glob("torch-*.whl")))
    server = AuthIndex(served, "ci", "s3cr/et@42")
    yield f"http://ci:s3cr/et@42@127.0.0.1:{server.port}/whl"
    server.close()


# Each tool's own way of taking the index's credential, as init's note tells it, and its lock.
GIVEN = {
    "uv": {"UV_INDEX_PYTORCH_CPU_USERNAME": "ci", "UV_INDEX_PYTORCH_CPU_PASSWORD": "s3cr/et@42"},
    "poetry": {"POETRY_HTTP_BASIC_PYTORCH_CPU_USERNAME": "ci", "POETRY_HTTP_BASIC_PYTORCH_CPU_PASSWORD": "s3cr/et@42"},
    "pdm": {"PYTORCH_INDEX_USERNAME": "ci", "PYTORCH_INDEX_PASSWORD": "s3cr/et@42"},
}
TOLD = {"uv": "UV_INDEX_PYTORCH_CPU_USERNAME", "poetry": "poetry config http-basic.pytorch-cpu", "pdm": "${PYTORCH_INDEX_PASSWORD}"}


@pytest.mark.parametrize("tool", ["uv", "poetry", "pdm"])
def test_credentials_stay_out_of_the_files_and_each_tool_locks_with_them_given_its_way(tool, tools, auth_index, indexes, tmp_path):
    directory = project_dir(tmp_path, ORIGINAL + MIRROR[tool].format(mirror=indexes.url + "/pypi"))
    init = torchup("project", "init", str(directory), "--tool", tool, "--torch", "2.13", "--index-base", auth_index)
    assert init.returncode == 0, init.stderr
    text = (directory / "pyproject.toml").read_text()
    assert "s3cr" not in text and "ci:" not in text and "s3cr" not in init.stdout + init.stderr
    assert TOLD[tool] in init.stdout
    env = tool_env(
        tmp_path,
        UV_DEFAULT_INDEX=indexes.url + "/pypi",
        POETRY_CACHE_DIR=str(tmp_path / "poetry-cache"),
        POETRY_NO_INTERACTION="1",
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",  # no prompt, no keyring: only what is given
        PDM_CACHE_DIR=str(tmp_path / "pdm-cache"),
        PDM_CHECK_UPDATE="false",
        PDM_HOME=str(tmp_path / "pdm-home"),
    )
    lock = {"uv": [sys.executable, "-m", "uv", "lock", "--python", sys.executable], "poetry": [tools / "poetry", "lock"], "pdm": [tools / "pdm", "lock"]}[tool]
    if tool == "pdm":
        run_tool([tools / "pdm", "use", "-f", getattr(sys, "_base_executable", sys.executable)], directory, env)
    refused = subprocess.run([str(part) for part in lock], cwd=directory, capture_output=True, text=True, env=env, timeout=600)
    assert refused.returncode != 0  # the index does need them
    run_tool(lock, directory, dict(env, **GIVEN[tool]))
    locked = (directory / f"{tool}.lock").read_text()
    assert "2.13.0+cpu" in locked and "s3cr" not in locked
    checked = torchup("project", "check", str(directory), "--json")
    assert checked.returncode == 0 and json.loads(checked.stdout)["findings"] == [], checked.stdout


def test_an_index_the_user_made_default_becomes_explicit_and_the_note_says_so(tmp_path):
    directory = project_dir(tmp_path, ORIGINAL + '\n[[tool.uv.index]]\nname = "pytorch-cpu"\nurl = "https://download.pytorch.org/whl/cpu"\ndefault = true\n')
    result = torchup("project", "init", str(directory), "--tool", "uv", "--torch", "2.13", "--index-base", CLOSED, "--offline", "--json")
    assert result.returncode == 0, result.stderr
    text = (directory / "pyproject.toml").read_text()
    assert "default = true" not in text and text.count("[[tool.uv.index]]") == 1 and "explicit = true" in text
    assert any(note.startswith("pytorch-cpu: `default = true` removed") for note in json.loads(result.stdout)["notes"])


PYTHON_RANGES = [">=3.11", ">=3.9", ">=3.9,<3.13", "~=3.12", ">=3.10,<3.14", ">=3.11,!=3.12.*"]


@pytest.mark.parametrize("requires", PYTHON_RANGES)
@pytest.mark.parametrize("torch", ["2.8.0", "2.13.0", "2.15.0"])
def test_the_python_range_is_narrowed_only_to_pythons_it_admitted(requires, torch):
    from torchup.installer.compat import load
    from torchup.installer.project.check import python_gap

    gap = python_gap(requires, torch, load())
    if gap is None:
        return
    release = next(r for r in load().releases if r.version == torch)
    admitted = [f"3.{minor}" for minor in range(6, 16) if SpecifierSet(requires).contains(f"3.{minor}")]
    kept = [python for python in admitted if SpecifierSet(gap.narrowed).contains(python)] if gap.narrowed else []
    assert all(
        SpecifierSet(requires).contains(python) for python in [f"3.{minor}" for minor in range(6, 16)] if SpecifierSet(gap.narrowed or "<0").contains(python)
    )
    assert kept == [p for p in admitted if release.python_min <= tuple(map(int, p.split("."))) <= release.platforms["linux-x86_64"].python_max]
    assert set(gap.unserved) == set(admitted) - set(kept)


def test_a_python_range_torch_serves_none_of_is_said_and_nothing_written(tmp_path):
    text = ORIGINAL.replace('">=3.11,<3.12"', '">=3.15"')
    directory = project_dir(tmp_path, text)
    result = torchup("project", "init", str(directory), "--tool", "uv", "--torch", "2.13", "--index-base", CLOSED, "--offline")
    lines = result.stderr.splitlines()
    assert result.returncode == 1 and len(lines) == 2, result.stderr
    assert lines[0] == "torchup: error: requires-python '>=3.15' admits no Python that torch 2.13.0 has a wheel for"
    assert "raise torch to 2.15.0" in lines[1] and (directory / "pyproject.toml").read_text() == text


def test_p08_names_both_ways_and_never_lowers_the_floor(tmp_path):
    directory = project_dir(tmp_path, HEADER.replace('">=3.11,<3.13"', '">=3.11"') + 'dependencies = ["torch==2.13.0"]\n')
    findings = json.loads(torchup("project", "check", str(directory), "--json").stdout)["findings"]
    assert [f["id"] for f in findings] == ["P08"]
    assert findings[0]["fix"] == (
        'either cap Python to what torch 2.13.0 serves: requires-python = ">=3.11,<3.15", '
        "or raise torch to 2.15.0, which serves every Python the range admits (torchup project init --torch 2.15.0)"
    )
