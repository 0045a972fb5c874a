"""Every command, fed the bad input users give it: exit 2, one line saying what and one hint line
saying how to go on, nothing on stdout, nothing changed, and never a traceback or an internal error."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, isolated_env, write_tool


def torchup(*args, env, cwd):
    return subprocess.run([sys.executable, "-m", "torchup", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def manifest_without(directory: Path, key: str) -> Path:
    """A bundle directory whose manifest lacks ``key``, its digest recomputed (so only the shape is wrong)."""
    directory.mkdir()
    text = json.dumps({"schema": 1, "target": {"os": "linux"}, "plan": {}, "files": []} if key != "files" else {"schema": 1}) + "\n"
    (directory / "bundle.json").write_text(text)
    (directory / "bundle.json.sha256").write_text(hashlib.sha256(text.encode()).hexdigest() + "\n")
    return directory


def project(directory: Path, text: str, lock: str = None) -> Path:
    directory.mkdir()
    (directory / "pyproject.toml").write_text(text)
    if lock is not None:
        (directory / "uv.lock").write_text(lock)
    return directory


FLEET_NODE = {"schema": 1, "kind": "torchup-fleet-node", "nodes": [{"node": "0", "state": "reported", "ranks": [1], "facts": {}, "problems": []}]}
DETECT_WITH_WRONG_TYPES = {"machine": {"os": "Linux", "arch": 64}, "interpreter": {"version": "3.12.1"}}

# (arguments, extra environment, what the first line says), built in a scratch directory `here`:
# a callable of `here` gives arguments that need files there.
CASES = {
    "detect: not a python": (["detect", "--python", "/bin/ls"], {}, "--python /bin/ls: not a Python interpreter torchup can use"),
    "detect: no such interpreter": (["detect", "--python", "/no/such/python"], {}, "--python /no/such/python: no such file"),
    "detect: the Microsoft Store's alias (F28)": (
        lambda here: ["detect", "--python", str(write_tool(here / "WindowsApps", "python.exe", "print('Python was not found')\nraise SystemExit(1)\n"))],
        {},
        "WindowsApps/python.exe: not a Python interpreter torchup can use",
    ),
    "timeout nan": (["--timeout", "nan", "detect"], {}, "Invalid value for '--timeout'"),
    "summary in a missing directory": (["detect"], {"GITHUB_STEP_SUMMARY": "/no/such/dir/summary.md"}, "GITHUB_STEP_SUMMARY=/no/such/dir/summary.md"),
    "plan: index-base not a url": (["plan", "--offline", "--no-gpu", "--index-base", "not a url"], {}, "--index-base not a url: not an http(s) or file URL"),
    "plan: index-base with a newline": (
        ["plan", "--offline", "--no-gpu", "--index-base", "https://h/whl\ninjected=1"],
        {},
        "--index-base 'https://h/whl'…: holds a line break",
    ),
    "plan: index-base whose host is no host": (
        ["plan", "--offline", "--no-gpu", "--index-base", "https://ci:pa[ss@mirror[/whl"],
        {},
        "--index-base https://****@mirror[/whl: not an http(s) or file URL",
    ),
    "plan: index-base with a password and a control character": (
        ["plan", "--offline", "--no-gpu", "--index-base", "https://ci:two words@mirror/whl\x01"],
        {},
        "--index-base 'https://****@mirror/'…: holds a line break or another control character",
    ),
    "plan: unknown variant from a variable": (["plan", "--offline", "--no-gpu"], {"TORCHUP_VARIANT": "cu999"}, "TORCHUP_VARIANT=cu999: not a build"),
    "plan: compute capability": (["plan", "--offline", "--gpu-cc", "8"], {}, "--gpu-cc 8: not a compute capability"),
    "plan: unknown option": (["plan", "--bogus"], {}, "No such option '--bogus'"),
    "plan: -v after the command": (["plan", "--offline", "-v"], {}, "No such option '-v'"),
    "plan: an Intel GPU by its name": (["plan", "--offline", "--intel-gpu", "Arc-B580"], {}, "--intel-gpu Arc-B580: not a PCI device id"),
    "plan: a Jetson on another architecture": (
        ["plan", "--offline", "--jetson", "36.4", "--arch", "x86_64"],
        {},
        "--jetson 36.4 with --arch x86_64: a Jetson board is Linux on aarch64",
    ),
    "doctor: no-advisories misspelt": (
        ["doctor", "--expect", "no-advisory"],
        {},
        "--expect no-advisory: not KEY=VALUE with a key of variant, torch, cuda, gpus, nor no-advisories",
    ),
    "install: empty venv": (["install", "--venv", "", "--dry-run", "--offline", "--no-gpu"], {}, "--venv '': an empty path"),
    "install: no-index alone": (["install", "--no-index", "--dry-run"], {}, "--no-index needs --find-links DIR"),
    "install: find-links missing": (["install", "--find-links", "/no/such/dir", "--dry-run"], {}, "--find-links /no/such/dir: not a directory"),
    "install: a torch no release matches, before detection": (
        ["install", "--torch", ">=99", "--dry-run", "--no-gpu"],
        {},
        "--torch >=99: no known release matches",
    ),
    "install: not a bundle": (lambda here: ["install", "--bundle", str(here), "--venv", str(here / "v")], {}, "--bundle"),
    "install: bundle manifest missing keys": (
        lambda here: ["install", "--bundle", str(manifest_without(here / "b", "files")), "--venv", str(here / "v")],
        {},
        "bundle.json is not a manifest this torchup reads",
    ),
    "doctor: junit a directory": (lambda here: ["doctor", "--junit", str(here)], {}, "Invalid value for --junit"),
    "doctor: junit in a missing directory": (["doctor", "--junit", "/no/such/dir/report.xml"], {}, "Invalid value for --junit: /no/such/dir/report.xml"),
    "doctor: expectation": (["doctor", "--expect", "gpus>=eight"], {}, "--expect gpus>=eight: 'eight' is not a number of GPUs"),
    "doctor: expectation key": (["doctor", "--expect", "colour=blue"], {}, "--expect colour=blue: not KEY=VALUE"),
    "doctor: unknown check": (["doctor", "no.such.check"], {}, "CHECK|GROUP"),
    "doctor: not a python": (["doctor", "--python", "/bin/true"], {}, "--python /bin/true: not a Python interpreter torchup can use"),
    "doctor: check-timeout inf": (["doctor", "--check-timeout", "inf"], {}, "Invalid value for '--check-timeout'"),
    "fix: system without apply": (["fix", "--system"], {}, "--system goes with --apply"),
    "fix: mirror not http": (["fix", "--mirror", "ftp://mirror/simple"], {}, "--mirror ftp://mirror/simple: not an http(s) URL"),
    "fix: mirror urllib refuses": (["fix", "--mirror", "https://ci:pa[ss@mirror/simple"], {}, "--mirror https://****@mirror/simple: not an http(s) URL"),
    "bundle: -o a file": (lambda here: ["bundle", "-o", str(here / "a-file"), "--offline", "--no-gpu"], {}, "-o "),
    "bundle: from-detect not JSON": (lambda here: ["bundle", "-o", str(here / "b"), "--from-detect", str(here / "a-file")], {}, "--from-detect"),
    "bundle: from-detect wrong types": (
        lambda here: ["bundle", "-o", str(here / "b"), "--from-detect", str(here / "detect.json")],
        {},
        "--from-detect: not a `torchup detect --json` document (arch is int, not text)",
    ),
    "project init: pyproject a directory": (
        lambda here: ["project", "init", str((here / "p" / "pyproject.toml").mkdir(parents=True) or here / "p"), "--tool", "uv"],
        {},
        "pyproject.toml: a directory, not a file",
    ),
    "project check: wrong types": (
        lambda here: ["project", "check", str(project(here / "p2", '[project]\nname = "x"\ndependencies = "torch"\n'))],
        {},
        "project.dependencies is not a list of strings",
    ),
    "project check: lock of wrong types": (
        lambda here: ["project", "check", str(project(here / "p3", '[project]\nname = "x"\n', lock='package = "torch"\n'))],
        {},
        "uv.lock: package is not a list of tables",
    ),
    "project init: no tool": (
        lambda here: ["project", "init", str(project(here / "p7", '[project]\nname = "x"\n'))],
        {},
        "Missing option '--tool'. Choose from: uv, poetry, pdm",  # click's two lines, as one
    ),
    "project init: extras for poetry": (
        lambda here: ["project", "init", str(project(here / "p4", '[project]\nname = "x"\n')), "--tool", "poetry", "--extras", "cpu"],
        {},
        "Invalid value for --extras",
    ),
    "project init: uv on a poetry 1 project": (
        lambda here: ["project", "init", str(project(here / "p5", '[tool.poetry]\nname = "x"\nversion = "1.0"\n')), "--tool", "uv"],
        {},
        "no [project] table, and uv reads a project's dependencies only from there",
    ),
    "project init: poetry on no project": (
        lambda here: ["project", "init", str(project(here / "p6", "[tool.ruff]\nline-length = 100\n")), "--tool", "poetry"],
        {},
        "neither a [project] table nor [tool.poetry]",
    ),
    "fleet report: wrong types inside": (
        lambda here: ["fleet", "report", str(here / "node-0.json")],
        {},
        "a fleet report whose nodes are not as torchup writes them",
    ),
    "fleet report: nothing there": (["fleet", "report", "/no/such/report.json"], {}, "/no/such/report.json: no such file or directory"),
    "fleet launch: node rank": (["fleet", "launch", "--nnodes", "2", "--node-rank", "2", "--master", "h:1"], {}, "--node-rank 2: node ranks go from 0 to 1"),
    "fleet launch: master": (["fleet", "launch", "--nnodes", "1", "--node-rank", "0", "--master", "nohost"], {}, "--master nohost: expected HOST:PORT"),
    "fleet launch: run timeout": (["fleet", "launch", "--nnodes", "1", "--node-rank", "0", "--master", "h:1", "--run-timeout", "10"], {}, "--run-timeout 10"),
}


# Where the hint says more than "see: … --help".
HINTS = {"plan: -v after the command": "-v goes before the command: torchup -v plan"}


@pytest.fixture
def here(tmp_path):
    here = tmp_path / "here"
    here.mkdir()
    (here / "a-file").write_text("not json\n")
    (here / "detect.json").write_text(json.dumps(DETECT_WITH_WRONG_TYPES))
    (here / "node-0.json").write_text(json.dumps(FLEET_NODE))
    return here


def snapshot(directory: Path):
    return sorted((str(p.relative_to(directory)), p.is_dir()) for p in directory.rglob("*"))


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_a_hint_and_exit_2(case, here):
    argv, extra, first = CASES[case]
    argv = argv(here) if callable(argv) else argv
    before = snapshot(here)
    result = torchup(*argv, env=isolated_env(PIP_CONFIG_FILE=os.devnull, **extra), cwd=here)
    lines = result.stderr.splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert len(lines) == 2 and lines[0].startswith("torchup: error: ") and lines[1].startswith("  hint: "), lines
    assert first in lines[0], lines[0]
    assert HINTS.get(case, "") in lines[1], lines[1]
    assert result.stdout == ""
    assert snapshot(here) == before  # nothing made, nothing changed


# The GitHub Action's inputs (TORCHUP_ACTION_*, as action.yml sets them) and what the first line says.
ACTION_CASES = {
    "a line break in an input": ({"EXPECT": "variant=cpu\ninjected=1"}, "the expect input holds a line break after 'variant=cpu'"),
    "an unbalanced quote": ({"INSTALL_ARGS": "--index-base 'https://mirror.example/whl"}, "install-args --index-base 'https://mirror.example/whl: no closing"),
    "an option install does not have": ({"INSTALL_ARGS": "--frobnicate"}, "install-args: No such option '--frobnicate'"),
    "an option an input stands for": ({"INSTALL_ARGS": "--python /usr/bin/python3"}, "install-args: --python is not for install-args"),
    "a companion install does not plan": ({"WITH": "torchtext"}, "Invalid value for '--with': torchtext"),
    "an expectation, before the install": ({"EXPECT": "variant=cpu gpus>=eight"}, "--expect gpus>=eight: 'eight' is not a number of GPUs"),
    "an unknown check": ({"CHECKS": "install no.such.check"}, "checks: unknown check or group: no.such.check"),
    "strict neither true nor false": ({"STRICT": "yes"}, "strict: 'yes' is neither true nor false"),
    "no such interpreter": ({"PYTHON": "/no/such/python"}, "--python /no/such/python: no such file"),
}


@pytest.mark.parametrize("case", list(ACTION_CASES))
def test_the_actions_bad_input_is_refused_before_any_work(case, here, tmp_path):
    """As action.yml's second step runs it: one line, a hint and an annotation in the log, exit 2,
    no output, and the failure in the step summary."""
    inputs, first = ACTION_CASES[case]
    output, summary = tmp_path / "github-output", tmp_path / "step-summary"
    env = isolated_env(PIP_CONFIG_FILE=os.devnull, GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(output), GITHUB_STEP_SUMMARY=str(summary))
    env.update({"TORCHUP_ACTION_PYTHON": sys.executable, **{"TORCHUP_ACTION_" + name: value for name, value in inputs.items()}})
    before = snapshot(here)
    result = subprocess.run([sys.executable, "-I", "-m", "torchup.installer.action"], capture_output=True, text=True, env=env, cwd=here, timeout=300)
    lines = result.stdout.splitlines()
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 3 and lines[0].startswith("torchup: error: ") and lines[1].startswith("  hint: "), lines
    assert first in lines[0] and lines[2] == "::error title=torchup action::" + lines[0][len("torchup: error: ") :]
    assert result.stderr == "" and not output.exists() and summary.read_text().startswith("### torchup action: failed\n")
    assert snapshot(here) == before


def test_a_read_only_project_file_is_bad_input_before_any_work(tmp_path):
    directory = project(tmp_path / "p", '[project]\nname = "x"\ndependencies = []\n')
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(directory), str(directory)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot make a read-only bind mount here: {mounted.stderr.strip()}")
    try:
        result = torchup("project", "init", str(directory), "--tool", "uv", env=isolated_env(PIP_CONFIG_FILE=os.devnull), cwd=tmp_path)
    finally:
        subprocess.run(["umount", str(directory)], check=True)
    lines = result.stderr.splitlines()
    assert result.returncode == 2 and len(lines) == 2, result.stderr
    assert lines[0] == f"torchup: error: {directory / 'pyproject.toml'}: not writable, so it cannot be changed"


def test_bare_torchup_shows_its_help():
    result = torchup(env=isolated_env(), cwd=REPO)
    assert result.returncode == 0 and result.stdout.startswith("Usage: torchup") and result.stderr == ""
    assert "error" not in result.stdout.splitlines()[0]
    # Each command's sentence whole, wrapped at the terminal's width, never cut short with "...".
    commands = result.stdout.split("Commands:")[1]
    assert "..." not in commands and "resolved for that" in commands


def test_help_and_version_import_no_detection_or_planning():
    """Start-up: `--version` and `--help` load the command line and nothing of the work."""
    script = (
        "import sys; from torchup.installer import cli\n"
        "for argv in (['--version'], ['--help'], ['install', '--help']):\n"
        "    try:\n"
        "        cli.cli.main(argv, prog_name='torchup', standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('torchup.installer.') and m != 'torchup.installer.cli')\n"
        "sys.stderr.write(' '.join(loaded))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stderr.split()
    assert not [name for name in loaded if name.split(".")[2] in ("detect", "plan", "install", "doctor", "fleet", "project", "findings", "host", "runner")], (
        loaded
    )
