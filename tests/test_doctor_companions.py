"""The doctor's companion check against real torchvision wheels beside the real CPU torch 2.13.0:
the release a companion was built for, its build, and a call into its compiled code."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, isolated_env, serve_wheels, venv_beside_torch
from torchup.diagnostics import checks
from torchup.installer.compat import load


def torchup(*args):
    return subprocess.run([sys.executable, "-m", "torchup", *args], capture_output=True, text=True, env=isolated_env(), cwd=REPO, timeout=600)


def with_torchvision(tmp_path, torch_python, local_index, wheel):
    """A venv beside the CPU torch with ``wheel`` installed by uv from the loopback index."""
    python = venv_beside_torch(tmp_path / "venv", torch_python)
    serve_wheels(local_index, "simple", [wheel])
    version = wheel.name.split("-")[1]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "uv",
            "pip",
            "install",
            "-q",
            "--python",
            str(python),
            "--no-deps",
            "--index-url",
            f"{local_index.url}/simple",
            f"torchvision=={version}",
        ],
        check=True,
        env=isolated_env(),
        timeout=300,
    )
    return python


def companion_result(python):
    result = torchup("doctor", "--python", str(python), "install.companions", "--json")
    return result, json.loads(result.stdout)["results"][0]


def test_a_torchvision_built_for_another_release_fails_naming_both(tmp_path, torch_python, local_index, companion_wheels):
    python = with_torchvision(tmp_path, torch_python, local_index, companion_wheels / "torchvision-0.29.0-cp311-cp311-manylinux_2_28_x86_64.whl")
    result, companion = companion_result(python)
    assert result.returncode == 1
    assert companion["status"] == "fail"
    assert companion["evidence"] == (
        "torchvision 0.29.0 was built for torch 2.14.0 and declares torch==2.14.0 (https://pypi.org/simple/torchvision/, https://pypi.org/simple/torchaudio/); "
        "this torch is 2.13.0+cpu, another release"
    )
    assert companion["fix"]["commands"] == [f"torchup install --python {python} --with torchvision  (torchvision 0.28.0 works with torch 2.13.0)"]


def test_the_matching_release_of_another_build_fails_and_shows_the_operator_error(tmp_path, torch_python, local_index, companion_wheels):
    """PyPI's torchvision 0.28.0 is built for torch 2.13.0, as a CUDA build: beside the CPU torch its
    compiled operators are not registered, the classic failure."""
    python = with_torchvision(tmp_path, torch_python, local_index, companion_wheels / "torchvision-0.28.0-cp311-cp311-manylinux_2_28_x86_64.whl")
    _, companion = companion_result(python)
    assert companion["status"] == "fail"
    assert companion["evidence"] == (
        "another build: torchvision 0.28.0 is PyPI's default build, torch 2.13.0+cpu is the cpu build; RuntimeError: operator torchvision::nms does not exist"
    )


def test_the_kit_on_its_own_judges_the_release_from_the_companion_metadata(tmp_path, torch_python, local_index, companion_wheels):
    python = with_torchvision(tmp_path, torch_python, local_index, companion_wheels / "torchvision-0.29.0-cp311-cp311-manylinux_2_28_x86_64.whl")
    result = subprocess.run(
        [str(python), "-I", str(REPO / "diagnostics"), "install.companions", "--json"], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    companion = json.loads(result.stdout)["results"][0]
    assert companion["evidence"] == "torchvision 0.29.0 declares torch==2.14.0 in its metadata; this torch is 2.13.0+cpu, another release"


def test_the_matching_torchvision_passes_with_nms(tmp_path, torch_python, local_index, companion_wheels):
    cpu = sorted((companion_wheels / "cpu").glob("torchvision-0.28.0+cpu-*.whl"))
    if not cpu:
        pytest.skip("no torchvision 0.28.0+cpu wheel: none of this machine's pip sources holds it (make test tries them)")
    python = with_torchvision(tmp_path, torch_python, local_index, cpu[0])
    result, companion = companion_result(python)
    assert result.returncode == 0 and companion["status"] == "pass", companion
    assert companion["evidence"].startswith("torchvision 0.28.0+cpu was built for torch 2.13.0 and declares torch==2.13.0 (")
    assert companion["evidence"].endswith("torchvision.ops.nms (a compiled operator) kept boxes [0, 2] of 3")


@pytest.mark.parametrize(
    "version, declared, expected",
    [
        ("2.15.0+cu130", ">=2.14", True),
        ("2.13.0+cpu", "==2.14.0", False),
        ("2.14.0", "==2.14.0", True),
        ("2.0.0+cu117", "==2.0.0+cu117", True),
        ("2.5.0a0+872d972e41.nv24.08", "<2.6.0", True),
        ("2.13.0", "~=2.13", None),
    ],
)
def test_the_kit_reads_a_declared_range_as_the_data_does(version, declared, expected):
    """The kit cannot import the tool: its reading of a range is checked against the data's own."""
    assert checks.in_range(version, declared) is expected
    from torchup.installer.compat import VersionRange

    parsed = VersionRange.parse(declared.replace("+cu117", ""))
    assert (parsed.contains(version) if parsed else None) is expected


def test_what_the_checks_are_told_is_the_data():
    told = load().for_checks()["companions"]
    assert told["torchvision"]["0.29.1"] == {"built_for": "2.14.0", "torch": ">=2.14", "source": "https://github.com/pytorch/vision/releases/tag/v0.29.1"}
    assert set(told["torchaudio"]) >= {"2.0.0", "2.11.1"}
