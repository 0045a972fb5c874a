"""The GitHub Action's script, run as the action runs it, against the CPU venv and the local wheelhouse."""

import os
import subprocess
import sys
from xml.etree import ElementTree

from tests.conftest import REPO, isolated_env


def run_action(tmp_path, torch_python, wheelhouse, **inputs):
    output, summary = tmp_path / "github-output", tmp_path / "step-summary"
    env = isolated_env(
        PIP_CONFIG_FILE=os.devnull,
        GITHUB_OUTPUT=str(output),
        GITHUB_STEP_SUMMARY=str(summary),
        TORCHUP_ACTION_PYTHON=str(torch_python),
        TORCHUP_ACTION_INSTALL_ARGS=f"--find-links {wheelhouse} --no-index --no-gpu",
        TORCHUP_ACTION_CHECKS="install tutorial.autograd",
        **{"TORCHUP_ACTION_" + key.upper(): value for key, value in inputs.items()},
    )
    env["PYTHONPATH"] = str(REPO)  # as the action's `pip install` makes torchup importable
    done = subprocess.run([sys.executable, "-m", "torchup.installer.action"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines()) if output.exists() else {}
    return done, outputs, summary


def test_the_action_plans_installs_verifies_and_reports(tmp_path, torch_python, wheelhouse):
    done, outputs, summary = run_action(tmp_path, torch_python, wheelhouse, EXPECT="variant=cpu torch>=2.7")
    assert done.returncode == 0, done.stdout + done.stderr
    assert outputs["torch-version"] == "2.13.0+cpu" and outputs["variant"] == "cpu"
    assert outputs["index-url"] and outputs["cache-key"].startswith("torchup-")
    (tmp_path / "again").mkdir()
    again, outputs_again, _ = run_action(tmp_path / "again", torch_python, wheelhouse)
    assert again.returncode == 0, again.stdout
    assert outputs_again["cache-key"] == outputs["cache-key"]  # the same plan, the same key
    text = summary.read_text()
    assert "### torchup install" in text and "torchup doctor" in text and "| torch | `2.13.0+cpu` |" in text
    suite = ElementTree.parse(tmp_path / "torchup-doctor.xml").getroot().find("testsuite")
    names = [case.get("name") for case in suite.iter("testcase")]
    assert "tutorial.autograd" in names and "expect.variant" in names and suite.get("failures") == "0"


def test_an_unmet_expectation_fails_the_job(tmp_path, torch_python, wheelhouse):
    done, outputs, summary = run_action(tmp_path, torch_python, wheelhouse, EXPECT="variant=cu130")
    assert done.returncode == 1
    assert "expected variant==cu130; found variant = cpu" in summary.read_text()
