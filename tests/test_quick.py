"""detect and plan command lines read without click (installer/quick.py): which are, and that each
runs exactly as click would run it: the same stdout, stderr and exit code."""

import json
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO, isolated_env, make_venv, write_tool
from torchup.installer import quick

# The command line as click reads it, whatever quick would do with it.
THROUGH_CLICK = "import sys; from torchup.installer.cli import main; sys.argv[0] = 'torchup'; main()"
# The entry point, saying at exit whether click was loaded.
THROUGH_ENTRY = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.__stderr__.write('click loaded: %s\\n' % ('click' in sys.modules)))\n"
    "from torchup.installer.entry import main\n"
    "sys.argv[0] = 'torchup'\n"
    "main()\n"
)


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["detect"], quick.Request("detect", False, None, frozenset())),
        (["-v", "--verbose", "detect", "--json", "--python", "venv"], quick.Request("detect", True, "venv", frozenset({"--json"}))),
        (
            ["plan", "--python=/usr/bin/python3", "--offline", "--no-gpu", "--offline"],
            quick.Request("plan", False, "/usr/bin/python3", frozenset({"--offline", "--no-gpu"})),
        ),
        (["plan", "--python", "a", "--python", "b"], quick.Request("plan", False, "b", frozenset())),
        # click's to read: another option or command, a value that is missing or reads as an option, help.
        (["detect", "--offline"], None),
        (["plan", "--variant", "cpu"], None),
        (["plan", "--export"], None),
        (["detect", "-v"], None),
        (["detect", "--python"], None),
        (["detect", "--python", "--json"], None),
        (["detect", "--python="], None),
        (["detect", "--json=1"], None),
        (["detect", "--help"], None),
        (["--timeout", "3", "detect"], None),
        (["doctor"], None),
        (["-v"], None),
        ([], None),
    ],
)
def test_the_command_lines_read_without_click(argv, expected):
    assert quick.parse(argv, {"PATH": "/usr/bin"}) == expected


@pytest.mark.parametrize("variable", ["TORCHUP_TIMEOUT", "TORCHUP_VARIANT", "TORCHUP_OFFLINE", "GITHUB_STEP_SUMMARY"])
def test_an_option_from_the_environment_is_read_by_click(variable):
    assert quick.parse(["plan", "--offline"], {variable: "1"}) is None


def run(code, argv, env, cwd):
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def comparable(text: str) -> str:
    """What two runs a moment apart print alike: detect's free memory, free disk and clock change
    between them, so every number is set aside; and a traceback (-v) holds the frames of the path
    the run took, so only that there is one is kept."""
    if "Traceback (most recent call last)" in text and "torchup: error:" in text:
        text = "Traceback\n" + text[text.rindex("torchup: error:") :]
    return re.sub(r"\d+(\.\d+)?", "N", text)


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    return make_venv(tmp_path_factory.mktemp("quick") / "venv", with_pip=False)


@pytest.mark.parametrize(
    "argv",
    [
        ["detect", "--json", "--python", "{target}"],
        ["detect", "--python={target}"],
        ["-v", "detect", "--python", "{target}"],
        ["plan", "--offline", "--json", "--python", "{target}"],
        ["--verbose", "plan", "--offline", "--no-gpu", "--python", "{target}"],
        ["plan", "--python", "{target}", "--offline", "--json"],
        ["detect", "--python", "/bin/ls"],
        ["detect", "--json", "--python", "/no/such/python"],
        ["plan", "--offline", "--json", "--python", "{not_python}"],
        ["-v", "plan", "--offline", "--python", "/no/such/python"],
    ],
)
def test_a_command_line_runs_as_click_would_run_it(argv, target, tmp_path):
    not_python = write_tool(tmp_path / "bin", "python3", "print('Python was not found')\nraise SystemExit(1)\n")
    argv = [word.format(target=target, not_python=not_python) for word in argv]
    assert quick.parse(argv, {}) is not None
    env = isolated_env(PIP_CONFIG_FILE="/dev/null")
    by_click, by_entry = run(THROUGH_CLICK, argv, env, tmp_path), run(THROUGH_ENTRY, argv, env, tmp_path)
    assert by_entry.stderr.endswith("click loaded: False\n")
    assert by_entry.returncode == by_click.returncode
    assert comparable(by_entry.stdout) == comparable(by_click.stdout)
    assert comparable(by_entry.stderr[: -len("click loaded: False\n")]) == comparable(by_click.stderr)
    if "--json" in argv and by_click.stdout:
        json.loads(by_entry.stdout)


def test_the_other_command_lines_load_click(tmp_path):
    """--help, another option, an option from the environment: click reads them, and says what is wrong."""
    env = isolated_env(PIP_CONFIG_FILE="/dev/null")
    helped = run(THROUGH_ENTRY, ["detect", "--help"], env, tmp_path)
    assert helped.returncode == 0 and "--python PATH" in helped.stdout
    assert helped.stderr.endswith("click loaded: True\n")
    misplaced = run(THROUGH_ENTRY, ["detect", "-v"], env, tmp_path)
    assert misplaced.returncode == 2
    assert misplaced.stderr.splitlines()[:2] == ["torchup: error: No such option '-v'.", "  hint: -v goes before the command: torchup -v detect"]
    from_environment = run(THROUGH_ENTRY, ["plan", "--offline", "--json", "--no-gpu"], dict(env, TORCHUP_VARIANT="cu999"), REPO)
    assert from_environment.returncode == 2
    assert from_environment.stderr.startswith("torchup: error: TORCHUP_VARIANT=cu999: not a build torchup knows")
