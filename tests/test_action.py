"""The GitHub Action, run as GitHub's runner runs it: action.yml read, its composite steps run one
by one, each `run:` with its shell and env after `${{ … }}` is substituted, in a fresh directory
standing in for the workspace (holding a json.py that must never be imported), with the files the
runner hands each step (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY). torch, numpy, scipy and torchup's own
dependencies come from real wheels served on 127.0.0.1."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, NamedTuple
from xml.etree import ElementTree

import pytest
import yaml

from tests.conftest import REPO, LocalIndex, copy_sources, find_python, isolated_env, make_venv, make_wheel, serve_wheels
from tests.test_fix import copy_cpython
from tests.test_install_e2e import closed_port

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
OUTPUTS = {"torch-version", "variant", "index-url", "cache-key"}
# GitHub's runner starts a `shell: bash` step's script so.
BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]
WORKSPACE_JSON = "open(__file__ + '.imported', 'w').close()\n"  # leaves a mark where it is imported
TORCHVISION = "0.28.0+cpu"  # the companion of torch 2.13.0's CPU build (compatibility.json)
# No source reachable here holds torchvision's CPU build, so the index serves a stand-in whose
# ops.nms (the operator doctor calls into) is written in torch: what doctor asks of it holds.
TORCHVISION_FILES = {
    "torchvision/__init__.py": f"__version__ = {TORCHVISION!r}\nfrom . import ops\n",
    "torchvision/ops.py": (
        "import torch\n\n\n"
        "def nms(boxes, scores, iou_threshold):\n"
        "    kept = []\n"
        "    for index in scores.argsort(descending=True).tolist():\n"
        "        top_left = torch.maximum(boxes[index, :2], boxes[kept, :2]) if kept else None\n"
        "        if kept:\n"
        "            size = (torch.minimum(boxes[index, 2:], boxes[kept, 2:]) - top_left).clamp(min=0)\n"
        "            overlap = size[:, 0] * size[:, 1]\n"
        "            area = lambda box: (box[..., 2] - box[..., 0]) * (box[..., 3] - box[..., 1])\n"
        "            if (overlap / (area(boxes[index]) + area(boxes[kept]) - overlap) > iou_threshold).any():\n"
        "                continue\n"
        "        kept.append(index)\n"
        "    return torch.tensor(kept)\n"
    ),
}


def substituted(text: str, values: Dict[str, str]) -> str:
    """``${{ name }}`` as the runner evaluates the plain names an action uses; a step output never
    set is empty, and any other expression fails the test, since this harness does not know it."""

    def value(match):
        name = match.group(1)
        if name in values:
            return values[name]
        assert re.fullmatch(r"steps\.[\w-]+\.outputs\.[\w-]+", name), f"an expression this harness does not evaluate: {name}"
        return ""

    return EXPRESSION.sub(value, text)


def read_outputs(path: Path) -> Dict[str, str]:
    """A step's GITHUB_OUTPUT, read as the runner reads it: ``name=value`` lines, and ``name<<DELIMITER``
    blocks for values of several lines."""
    outputs, lines = {}, path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    while lines:
        line = lines.pop(0)
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter)
            outputs[name], lines = "\n".join(lines[:end]), lines[end + 1 :]
        else:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


class Step(NamedTuple):
    returncode: int
    outputs: Dict[str, str]


class Job:
    """One job on a runner: its workspace (the current directory of every step, holding a
    json.py), its environment, the log of every step and the step summary."""

    def __init__(self, tmp_path: Path, env: dict):
        self.workspace = tmp_path / "workspace"
        self.workspace.mkdir(parents=True)
        (self.workspace / "json.py").write_text(WORKSPACE_JSON)
        self.scratch = tmp_path / "runner-files"
        self.scratch.mkdir()
        self.env = dict(env, GITHUB_ACTIONS="true", GITHUB_WORKSPACE=str(self.workspace))
        self.log, self.summary, self.steps = "", "", 0

    @property
    def workspace_json_imported(self) -> bool:
        return (self.workspace / "json.py.imported").exists()

    def run(self, script: str, env: Dict[str, str], shell: str = "bash") -> Step:
        """A `run:` step: its script in a file, run by its shell with the runner's files for this step."""
        assert shell == "bash", f"a shell this harness does not run: {shell}"
        self.steps += 1
        script_file, output, summary = (self.scratch / f"step-{self.steps}.{name}" for name in ("sh", "output", "summary"))
        script_file.write_text(script)
        step_env = dict(self.env, GITHUB_OUTPUT=str(output), GITHUB_STEP_SUMMARY=str(summary), **env)
        done = subprocess.run(
            BASH + [str(script_file)], cwd=self.workspace, env=step_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900
        )
        self.log += done.stdout
        self.summary += summary.read_text(encoding="utf-8") if summary.exists() else ""
        return Step(done.returncode, read_outputs(output))

    def action(self, action_path: Path, given: Dict[str, str]) -> "ActionRun":
        """action.yml's composite steps in order, as the runner runs them; the first that fails ends it."""
        action = yaml.safe_load((action_path / "action.yml").read_text())
        assert set(given) <= set(action["inputs"]), f"inputs action.yml does not declare: {set(given) - set(action['inputs'])}"
        values = {f"inputs.{name}": str(given.get(name, spec.get("default", ""))) for name, spec in action["inputs"].items()}
        values["github.action_path"] = str(action_path)
        own: Dict[str, Dict[str, str]] = {}
        for step in action["runs"]["steps"]:
            assert set(step) <= {"name", "id", "shell", "env", "run"}, f"a step this harness does not run: {step}"
            env = {name: substituted(str(value), values) for name, value in (step.get("env") or {}).items()}
            done = self.run(substituted(step["run"], values), dict(env, GITHUB_ACTION_PATH=str(action_path)), step["shell"])
            own[step.get("id", "")] = done.outputs
            values.update({f"steps.{step.get('id')}.outputs.{name}": value for name, value in done.outputs.items()})
            if done.returncode != 0:
                return ActionRun(done.returncode, own, {})
        return ActionRun(0, own, {name: substituted(spec["value"], values) for name, spec in action["outputs"].items()})


class ActionRun(NamedTuple):
    returncode: int
    steps: Dict[str, Dict[str, str]]  # each step's own GITHUB_OUTPUT, by id
    outputs: Dict[str, str]  # the action's, as the workflow sees them

    @property
    def written(self) -> Dict[str, str]:
        """What the step that installs and verifies wrote to its GITHUB_OUTPUT."""
        return self.steps.get("torchup", {})


@pytest.fixture(scope="module")
def action_path(tmp_path_factory):
    """The action as a workflow gets it: a clean copy of the repository's sources and action.yml."""
    path = copy_sources(tmp_path_factory.mktemp("action") / "torchup")
    shutil.copy(REPO / "action.yml", path / "action.yml")
    return path


@pytest.fixture(scope="module")
def index(tmp_path_factory, wheelhouse):
    """A PyPI mirror on 127.0.0.1: torchup's own dependencies, setuptools (its build), torch, numpy,
    scipy and theirs under /pypi; the same and a torchvision of torch's build under /pypi-with-torchvision."""
    served = LocalIndex(tmp_path_factory.mktemp("served"))
    wheels = sorted(wheelhouse.glob("*.whl")) + sorted((wheelhouse / "bootstrap").glob("*.whl"))
    torchvision = make_wheel(tmp_path_factory.mktemp("torchvision"), "torchvision", TORCHVISION, requires=["torch==2.13.0"], files=TORCHVISION_FILES)
    serve_wheels(served, "pypi", wheels)
    serve_wheels(served, "pypi-with-torchvision", wheels + [torchvision])
    yield served
    served.close()


@pytest.fixture(scope="module")
def uv_only(tmp_path_factory):
    """A directory holding uv and nothing else, for PATH: torchup installs with uv where it finds it."""
    directory = tmp_path_factory.mktemp("uv-only")
    (directory / "uv").symlink_to(shutil.which("uv", path=str(Path(sys.executable).parent)))
    return directory


def job(tmp_path: Path, python_dir: Path, uv_only: Path, index_url: str, runner_temp: Path, path_after: Path = None, **extra) -> Job:
    """A job whose PATH has ``python_dir`` first (then ``path_after``), uv, and the system's directories."""
    runner_temp.mkdir(exist_ok=True)
    path = [python_dir] + ([path_after] if path_after else []) + [uv_only]
    env = isolated_env(path, PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=index_url, RUNNER_TEMP=str(runner_temp), **extra)
    return Job(tmp_path, env)


def wheelhouse_args(wheelhouse: Path) -> str:
    return f"--find-links {wheelhouse} --no-index --no-gpu"


def test_on_an_externally_managed_python3_torch_goes_into_a_venv_and_the_log_tells_the_story(tmp_path, action_path, index, uv_only, wheelhouse):
    """python3 carries PEP 668's marker: torchup's own venv is still made from it, and PyTorch goes
    into a venv made from it too, named in the log and the venv output."""
    system = copy_cpython(tmp_path / "system", externally_managed=True)
    runner_temp = tmp_path / "runner-temp"
    ci = job(tmp_path / "first", system.parent, uv_only, index.url + "/pypi", runner_temp)
    given = {"install-args": wheelhouse_args(wheelhouse), "checks": "install tutorial.autograd", "expect": "variant=CPU torch>=2.7"}
    done = ci.action(action_path, given)
    assert done.returncode == 0, ci.log
    venv, tool = runner_temp / "torchup" / "venv", runner_temp / "torchup" / "tool"
    assert f"torchup action: torchup's own venv {tool}, from {system}" in ci.log
    assert f"torchup action: {system} is externally managed (PEP 668): PyTorch goes into a venv made from it, {venv} (the venv output)" in ci.log
    # The installer's progress, its own output folded (and inert), the install's report, the doctor's: each once.
    assert ci.log.count("[1/4] detect") == 1 and ci.log.count("[2/4] plan: torch 2.13.0+cpu") == 1
    assert re.search(r"::group::the installer's output\n::stop-commands::(\w+)\n.*?::\1::\n::endgroup::\n", ci.log, re.S), ci.log
    assert f"Installed with uv into {venv}:\n  torch 2.13.0+cpu" in ci.log
    assert ci.log.count("torchup doctor: ") == 1 and f"torchup doctor: {venv}/bin/python (torch 2.13.0+cpu)" in ci.log
    assert "  ✓ expect.variant  variant==cpu" in ci.log and "::error" not in ci.log
    assert done.written == {
        "torch-version": "2.13.0+cpu",
        "variant": "cpu",
        "index-url": str(wheelhouse),
        "cache-key": done.written["cache-key"],
        "venv": str(venv),
    }
    assert done.outputs == done.written and done.written["cache-key"].startswith("torchup-")
    assert "### torchup install" in ci.summary and "| torch | `2.13.0+cpu` |" in ci.summary and "## torchup doctor report" in ci.summary
    assert "read it once more before posting" not in ci.summary  # the bug tracker's footer is for --markdown
    suite = ElementTree.parse(ci.workspace / "torchup-doctor.xml").getroot().find("testsuite")
    names = [case.get("name") for case in suite.iter("testcase")]
    assert "tutorial.autograd" in names and "expect.variant" in names and suite.get("failures") == "0"
    assert not ci.workspace_json_imported
    assert not list(system.parent.parent.glob("lib/python*/site-packages/torch"))  # the system's Python is left as it was

    # The same plan again, in a job that uses the action a second time: torchup's venv is reused,
    # the install has nothing to do, the key is the same; a failing expectation is an error.
    again = job(tmp_path / "again", system.parent, uv_only, index.url + "/pypi", runner_temp)
    repeated = again.action(action_path, dict(given, expect="variant=cu130"))
    assert repeated.returncode == 1, again.log
    assert f"torchup action: torchup's own venv {tool} is there already, with torchup from {action_path}" in again.log
    assert f"Already installed in {venv}:" in again.log
    assert again.log.count("::error title=torchup doctor expect.variant::expected variant==cu130; found variant = cpu\n") == 1
    assert "| ✗ | `expect.variant` | expected variant==cu130; found variant = cpu |" in again.summary
    assert repeated.written == done.written

    refused = job(tmp_path / "refused", system.parent, uv_only, index.url + "/pypi", runner_temp)
    assert_refused(
        refused, refused.action(action_path, dict(given, expect="variant=cpu\ninjected=1")), "the expect input holds a line break after 'variant=cpu'"
    )


def assert_refused(ci: Job, done: "ActionRun", said: str) -> None:
    """A bad input: one line, a hint and an annotation at the end of the log, exit 2, no output, the failure in the summary."""
    assert done.returncode == 2, ci.log
    assert ci.log.splitlines()[-3:] == [
        f"torchup: error: {said}",
        "  hint: give each input on one line (in YAML, `>-` folds lines into one)",
        f"::error title=torchup action::{said}",
    ]
    assert done.written == {} and done.outputs == {}
    assert "### torchup action: failed" in ci.summary
    assert "[1/4]" not in ci.log and not ci.workspace_json_imported


def test_on_a_plain_venv_a_failing_expectation_is_an_error_in_the_log_and_the_summary(tmp_path, action_path, index, uv_only, wheelhouse, torch_python):
    """python3 first on PATH is too old for torchup: the next Python is taken, a plain venv's."""
    old = find_python("3.6") or pytest.skip("no Python 3.6 here (pyenv install 3.6)")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "python3").symlink_to(old)
    plain = make_venv(tmp_path / "plain")
    ci = job(tmp_path, tmp_path / "old", uv_only, index.url + "/pypi", tmp_path / "runner-temp", path_after=plain.parent)
    done = ci.action(action_path, {"python": str(torch_python), "install-args": wheelhouse_args(wheelhouse), "checks": "install", "expect": "variant=cu130"})
    assert f"torchup action: refused {tmp_path / 'old' / 'python3'} for torchup's own venv: too old (3.6)" in ci.log
    assert f"torchup action: torchup's own venv {tmp_path / 'runner-temp' / 'torchup' / 'tool'}, from {plain.parent / 'python3.11'}" in ci.log
    assert done.returncode == 1, ci.log
    assert f"Already installed in {torch_python.parent.parent}:" in ci.log
    assert ci.log.count(f"torchup doctor: {torch_python}") == 1
    assert "  ✗ expect.variant  variant==cu130\n      expected variant==cu130; found variant = cpu\n" in ci.log
    assert ci.log.count("::error title=torchup doctor expect.variant::expected variant==cu130; found variant = cpu\n") == 1
    assert set(done.written) == OUTPUTS and done.written["index-url"] == str(wheelhouse)
    assert "### torchup install" in ci.summary and "| ✗ | `expect.variant` | expected variant==cu130; found variant = cpu |" in ci.summary
    assert not ci.workspace_json_imported

    refused = job(tmp_path / "refused", tmp_path / "old", uv_only, index.url + "/pypi", tmp_path / "runner-temp", path_after=plain.parent)
    done = refused.action(action_path, {"install-args": f'{wheelhouse_args(wheelhouse)} --index-base "https://mirror.example/whl\ninjected=1"'})
    assert_refused(refused, done, "the install-args input holds a line break after '\"https://mirror.example/whl'")


@pytest.fixture(scope="module")
def shared_runner_temp(tmp_path_factory):
    """A runner's temporary directory that the README's tests share, as two uses of the action in
    one job do: torchup's own venv is made there by the first and reused by the second."""
    return tmp_path_factory.mktemp("runner-temp")


def readme_workflow_steps():
    """The steps of the README's Action example, as a user copies it."""
    section = (REPO / "README.md").read_text().split("## In CI: the GitHub Action", 1)[1]
    example = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    (workflow_job,) = yaml.safe_load(example)["jobs"].values()
    return workflow_job["steps"]


def run_readme_example(ci: Job, action_path: Path) -> int:
    """The example's steps in order: `run:` steps with the runner's default shell, this action for
    its `uses:`; actions/checkout and actions/setup-python are stood for by the workspace and the
    Python first on PATH."""
    values: Dict[str, str] = {}
    for step in readme_workflow_steps():
        if "run" in step:
            done = ci.run(substituted(step["run"], values), {})
        elif step["uses"].startswith(("actions/checkout@", "actions/setup-python@")):
            continue
        else:
            assert step["uses"].endswith("/torchup@main"), step
            ran = ci.action(action_path, {name: substituted(str(value), values) for name, value in step["with"].items()})
            done = Step(ran.returncode, ran.outputs)
        values.update({f"steps.{step.get('id')}.outputs.{name}": value for name, value in done.outputs.items()})
        if done.returncode != 0:
            return done.returncode
    return 0


def test_the_readme_example_with_torchvision_from_the_users_pip_source(tmp_path, action_path, index, uv_only, shared_runner_temp):
    """download.pytorch.org does not answer; the pip configuration's index holds torch and the
    torchvision of its build: both come from there, and index-url names it."""
    plain = make_venv(tmp_path / "plain")
    source = index.url + "/pypi-with-torchvision"
    ci = job(tmp_path, plain.parent, uv_only, source, shared_runner_temp, TORCHUP_INDEX_BASE=f"http://127.0.0.1:{closed_port()}/whl")
    assert run_readme_example(ci, action_path) == 0, ci.log
    assert f"[2/4] plan: torch 2.13.0+cpu from {source}" in ci.log
    assert "  ✓ install.companions  torchvision and torchaudio match torch: release, build, and a call into their compiled code\n" in ci.log
    assert f"torch 2.13.0+cpu from {source}\n" in ci.log  # the example's last step, echoing the outputs
    assert not ci.workspace_json_imported


def test_the_readme_example_names_the_companion_no_source_holds(tmp_path, action_path, index, uv_only, shared_runner_temp):
    """The pip configuration's index holds torch but no torchvision of its build: the plan says
    which is missing and where it looked, before anything is installed."""
    plain = make_venv(tmp_path / "plain")
    source = index.url + "/pypi"
    ci = job(tmp_path, plain.parent, uv_only, source, shared_runner_temp, TORCHUP_INDEX_BASE=f"http://127.0.0.1:{closed_port()}/whl")
    assert run_readme_example(ci, action_path) == 1, ci.log
    missing = f"of your pip sources ({source}), none holds every planned package: torch 2.13.0+cpu is in {source}, but torchvision {TORCHVISION} is not"
    assert missing in ci.log.splitlines()[-3] and ci.log.splitlines()[-3].startswith("torchup: error: ")
    assert ci.log.splitlines()[-1].startswith("::error title=torchup install::") and missing in ci.log.splitlines()[-1]
    assert "### torchup install: failed" in ci.summary
    assert "[3/4]" not in ci.log and not list((ci.workspace / ".venv").glob("lib/python*/site-packages/torch"))


def test_the_installers_output_is_folded_and_inert(capsys):
    """A workflow command in the installer's output (a package's build log) is shown, never obeyed."""
    from torchup.installer.action import Log

    log = Log(sys.stdout)
    log.say("[3/4] install with pip")
    log.write("Collecting torch\n")
    log.write("::add-mask::secret\n::error::not from torchup")
    log.say("[4/4] verify")
    lines = capsys.readouterr().out.splitlines()
    token = lines[2].split("::stop-commands::")[1]
    assert len(token) == 32 and lines[:3] == ["[3/4] install with pip", "::group::the installer's output", f"::stop-commands::{token}"]
    assert lines[3:] == ["Collecting torch", "::add-mask::secret", "::error::not from torchup", f"::{token}::", "::endgroup::", "[4/4] verify"]


def test_an_output_holding_a_line_break_is_not_written(tmp_path):
    from torchup.installer.action import OutputRefused, write_outputs

    output = tmp_path / "github-output"
    with pytest.raises(OutputRefused, match="the index-url output '/wheels'… holds a line break: no output was written"):
        write_outputs(str(output), {"torch-version": "2.13.0+cpu", "index-url": "/wheels\ninjected=1"})
    assert not output.exists()
    write_outputs(str(output), {"torch-version": "2.13.0+cpu", "variant": "cpu"})
    assert read_outputs(output) == {"torch-version": "2.13.0+cpu", "variant": "cpu"}
