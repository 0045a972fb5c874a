"""``torchup plan --export``: the plan as variables, evaluated by a shell before the user's own
``uv pip install torch`` and ``pip install torch``, against a PEP 503 index of real wheels on 127.0.0.1."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, closed_port, isolated_env, make_venv, serve_wheels
from torchup.installer.compat import load
from torchup.installer.plan import Overrides, export, make_plan

LINUX = dict(os="linux", arch="x86_64", python_version="3.12", offline=True)


def exported(tmp_path, **given):
    plan = make_plan(None, Overrides(**dict(LINUX, **given)))
    return export.exports(plan, load(), tmp_path / "pins.txt")


def values(result):
    return {variable.name: variable.value for variable in result.variables}


def test_a_gpu_plan_exports_the_torch_page_the_pins_the_backend_and_the_lowest_gpu(tmp_path):
    """Two GPUs, Hopper (9.0) and Pascal (6.1), on driver 580.95: the plan serves both, and a
    variant-aware uv is told the lower one, not the higher one it would pick alone."""
    result = exported(tmp_path, nvidia_driver="580.95.05", gpu_cc=("9.0", "6.1"))
    assert result.plan.torch == "2.14.1+cu126"
    assert values(result) == {
        "PIP_FIND_LINKS": "https://download.pytorch.org/whl/cu126/torch/",
        "PIP_CONSTRAINT": str(tmp_path / "pins.txt"),
        "PIP_BUILD_CONSTRAINT": str(tmp_path / "pins.txt"),
        "UV_FIND_LINKS": "https://download.pytorch.org/whl/cu126/torch/",
        "UV_CONSTRAINT": str(tmp_path / "pins.txt"),
        "UV_TORCH_BACKEND": "cu126",
        "NV_VARIANT_PROVIDER_FORCE_CUDA_DRIVER_VERSION": "13.0",
        "NV_VARIANT_PROVIDER_FORCE_SM_ARCH": "6.1",
    }
    lines = result.render().splitlines()
    assert 'export UV_FIND_LINKS=https://download.pytorch.org/whl/cu126/torch/"${UV_FIND_LINKS:+,$UV_FIND_LINKS}"' in lines
    assert "export UV_TORCH_BACKEND=cu126" in lines
    assert export.constraints_text(result.plan).endswith("\ntorch==2.14.1+cu126\n")


def test_a_mirror_gets_no_uv_backend_and_credentials_are_never_printed(tmp_path):
    result = exported(tmp_path, no_gpu=True, index_base="https://builder:s3cret@mirror.example/whl")
    assert values(result)["PIP_FIND_LINKS"] == "https://mirror.example/whl/cpu/torch/"
    assert "UV_TORCH_BACKEND" not in values(result)
    assert "UV_TORCH_BACKEND is not set: uv's cpu means https://download.pytorch.org/whl/cpu, not this plan's index" in result.remarks
    assert "the index's credentials are not printed: give them to pip and uv through ~/.netrc or a keyring" in result.remarks
    text = result.render() + json.dumps(result.as_data()) + export.constraints_text(result.plan)
    assert "s3cret" not in text and "builder" not in text


def test_the_users_configured_sources_are_kept_beside_the_plans(tmp_path):
    plan = make_plan(None, Overrides(no_gpu=True, **LINUX))
    configured = {
        "find-links": (["/srv/wheels", "https://****@private.example/links"], "/etc/pip.conf [global]"),
        "constraint": (["/etc/pip/site.txt"], "PIP_CONSTRAINT"),
    }
    result = export.exports(plan, load(), tmp_path / "pins.txt", configured)
    assert values(result)["PIP_FIND_LINKS"] == "https://download.pytorch.org/whl/cpu/torch/ /srv/wheels"
    assert values(result)["PIP_CONSTRAINT"] == str(tmp_path / "pins.txt")  # the variable's own value is kept by the shell line
    assert any("find-links holding credentials (/etc/pip.conf [global]) is hidden by PIP_FIND_LINKS" in remark for remark in result.remarks)


def test_a_build_from_the_users_own_sources_is_given_to_uv_which_reads_no_pip_configuration(tmp_path):
    plan = make_plan(None, Overrides(no_gpu=True, **LINUX))._replace(found_in="/srv/wheels", confirmed="configured-source")
    from_links = export.exports(plan, load(), tmp_path / "pins.txt", {"find-links": (["/srv/wheels"], "PIP_FIND_LINKS")})
    assert values(from_links)["UV_FIND_LINKS"] == "/srv/wheels" and "PIP_FIND_LINKS" not in values(from_links)  # pip reads its own
    assert export.constraints_text(plan).startswith(
        f"# Written by torchup plan --export: torch {plan.torch} from /srv/wheels, a source of your pip configuration\n"
    )
    from_index = export.exports(plan._replace(found_in="https://mirror.example/simple"), load(), tmp_path / "pins.txt")
    assert values(from_index)["UV_FIND_LINKS"] == "https://mirror.example/simple/torch/"


def test_a_jetson_wheel_cannot_be_exported(tmp_path):
    with pytest.raises(export.ExportError) as raised:
        exported(tmp_path, os=None, arch=None, python_version="3.10", jetson="36.4")
    assert raised.value.exit_code == 1 and raised.value.hint.startswith("pip install 'torch @ https://developer.download.nvidia.com/")


@pytest.fixture
def served(indexes, wheelhouse):
    """The download index and a PyPI mirror on 127.0.0.1 (conftest), and a numpy on the download
    index too (an older one), as download.pytorch.org mirrors numpy: no user's numpy may come from there."""
    serve_wheels(indexes, "whl/cpu", sorted((wheelhouse / "other-numpy").glob("numpy-*.whl")))
    return indexes


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_eval_then_the_users_own_install_gets_the_planned_build(tmp_path, served, installer):
    python = make_venv(tmp_path / "venv")
    install = f'"{sys.executable}" -m uv pip install --python "{python}"' if installer == "uv" else f'"{python}" -m pip install --quiet'
    script = f'eval "$("{sys.executable}" -m torchup plan --export --no-gpu --python "{python}" --index-base {served.url}/whl)" && {install} torch numpy'
    env = isolated_env(
        PIP_CONFIG_FILE="/dev/null", XDG_STATE_HOME=str(tmp_path / "state"), PIP_INDEX_URL=f"{served.url}/pypi", UV_DEFAULT_INDEX=f"{served.url}/pypi"
    )
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    versions = subprocess.run(
        [str(python), "-c", "from importlib.metadata import version; print(version('torch'), version('numpy'))"], capture_output=True, text=True, check=True
    ).stdout.split()
    # The planned build, and the user's own numpy (2.4.6 on their index), not the download index's 2.3.5.
    assert versions == ["2.13.0+cpu", "2.4.6"]
    written = list((tmp_path / "state" / "torchup" / "constraints").glob("torch-*.txt"))
    assert len(written) == 1 and written[0].read_text().splitlines()[-1] == "torch==2.13.0+cpu"


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_eval_where_only_the_users_find_links_hold_the_build(tmp_path, served, wheelhouse, installer):
    """The index does not answer and the user's PIP_FIND_LINKS holds the build: pip reads it
    itself, uv is given it (it reads no pip configuration), and both install that build."""
    links = tmp_path / "links"
    links.mkdir()
    for torch_wheel in wheelhouse.glob("torch-*.whl"):
        (links / torch_wheel.name).symlink_to(torch_wheel)
    python = make_venv(tmp_path / "venv")
    install = f'"{sys.executable}" -m uv pip install --python "{python}"' if installer == "uv" else f'"{python}" -m pip install --quiet'
    closed = f"http://127.0.0.1:{closed_port()}/whl"
    script = f'eval "$("{sys.executable}" -m torchup plan --export --no-gpu --python "{python}" --index-base {closed})" && {install} torch'
    env = isolated_env(
        PIP_CONFIG_FILE="/dev/null",
        PIP_FIND_LINKS=str(links),
        XDG_STATE_HOME=str(tmp_path / "state"),
        PIP_INDEX_URL=f"{served.url}/pypi",
        UV_DEFAULT_INDEX=f"{served.url}/pypi",
    )
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    installed = subprocess.run([str(python), "-c", "from importlib.metadata import version; print(version('torch'))"], capture_output=True, text=True)
    assert installed.stdout.strip() == "2.13.0+cpu", installed.stderr
