"""``torchup install`` for real: real wheels served on 127.0.0.1, fresh venvs, pip and uv.

The wheels come from build/wheelhouse, which `make test` fills with `pip download` before the
tests run; the tests themselves only talk to loopback.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, closed_port, isolated_env, serve_wheels

VENV_SITE = "lib/python%d.%d/site-packages" % sys.version_info[:2]


def install_argv(venv, index, *extra, backend="pip"):
    """`torchup install` into ``venv`` from the loopback download index ``index``, for the CPU build."""
    return ["install", "--venv", str(venv), "--installer", backend, "--index-base", index.url + "/whl", "--no-gpu", "--yes", *extra]


def user_env(index_url=None, **extra):
    """The environment of a user whose pip is configured for ``index_url`` only."""
    env = isolated_env(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    env.pop("VIRTUAL_ENV", None)
    if index_url:
        env["PIP_INDEX_URL"] = index_url
    return env


def torchup(*args, env, timeout=600):
    return subprocess.run([sys.executable, "-m", "torchup", *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout)


def venv_python_run(venv, code):
    return subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True)


def pip_freeze(venv):
    return subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "freeze", "--all"], capture_output=True, text=True).stdout


AUTOGRAD = "import torch; x = torch.ones(2, 2, requires_grad=True); ((x + 2) * (x + 2) * 3).mean().backward(); print(x.grad.tolist())"


@pytest.mark.parametrize("backend", ["pip", "uv"])
def test_install_into_a_fresh_venv(indexes, tmp_path, backend):
    venv = tmp_path / "venv"
    env = user_env(indexes.url + "/pypi")
    result = torchup(*install_argv(venv, indexes, "--json", backend=backend), env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["status"], data["installer"]) == ("installed", backend)
    assert data["plan"]["torch"].endswith("+cpu") and data["plan"]["confirmed"] == "index"
    assert [c["title"] for c in data["commands"]] == ["a new venv", "torch " + data["plan"]["torch"], "numpy and scipy"]
    torch_command = data["commands"][1]["argv"]
    assert torch_command[-1] == "torch==" + data["plan"]["torch"]
    assert ["--index-url", indexes.url + "/whl/cpu"] == torch_command[-3:-1]
    assert "[1/4] detect" in result.stderr and "[4/4] verify" in result.stderr
    checked = venv_python_run(venv, AUTOGRAD + "; import numpy, scipy; print(torch.__version__)")
    assert checked.stdout.split("\n")[:2] == ["[[4.5, 4.5], [4.5, 4.5]]", data["plan"]["torch"]]

    pins = venv / "torchup-constraints.txt"
    pinned_at = pins.stat().st_mtime_ns
    again = torchup(*install_argv(venv, indexes, backend=backend), env=env)
    assert again.returncode == 0, again.stderr
    assert "already there and verify: nothing to do" in again.stderr
    assert pins.stat().st_mtime_ns == pinned_at


def test_air_gapped_wheelhouse(wheelhouse, tmp_path):
    venv = tmp_path / "venv"
    result = torchup("install", "--venv", str(venv), "--find-links", str(wheelhouse), "--no-index", "--no-gpu", "--yes", env=user_env())
    assert result.returncode == 0, result.stderr
    assert f"[2/4] plan: torch 2.13.0+cpu from {wheelhouse}" in result.stderr
    assert venv_python_run(venv, AUTOGRAD).stdout.strip() == "[[4.5, 4.5], [4.5, 4.5]]"


def test_unreachable_index_changes_nothing(tmp_path):
    venv = tmp_path / "venv"
    started = time.monotonic()
    result = torchup("install", "--venv", str(venv), "--index-base", f"http://127.0.0.1:{closed_port()}/whl", "--no-gpu", "--yes", env=user_env())
    assert time.monotonic() - started < 30
    assert result.returncode == 1
    assert "torchup: error: nothing was installed: decided from the bundled data: the index could not be reached" in result.stderr
    assert "hint: check the network and proxy" in result.stderr
    assert not venv.exists()


@pytest.fixture
def venv_with_numpy(tmp_path, wheelhouse):
    """An existing venv in use: numpy installed, torch not."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheelhouse), "numpy"], check=True)
    return venv


def test_wheel_missing_from_the_index_changes_nothing(indexes, venv_with_numpy, wheelhouse):
    torch_wheel = next(wheelhouse.glob("torch-*.whl")).name
    (indexes.root / "files" / torch_wheel).unlink()  # listed, but the file is gone: a 404 mid-install
    before = pip_freeze(venv_with_numpy)
    result = torchup(*install_argv(venv_with_numpy, indexes), env=user_env(indexes.url + "/pypi"))
    assert result.returncode == 1, result.stderr
    assert "installing torch 2.13.0+cpu failed" in result.stderr and "the target was left as it was" in result.stderr
    assert pip_freeze(venv_with_numpy) == before
    assert venv_python_run(venv_with_numpy, "import numpy").returncode == 0


def test_a_source_with_another_build_only_changes_nothing(local_index, venv_with_numpy, wheelhouse, tmp_path):
    """The index holds the same torch release built for another variant: the exact pin refuses it."""
    torch_wheel = next(wheelhouse.glob("torch-*.whl"))
    renamed = tmp_path / torch_wheel.name.replace("+cpu", "+cu126")
    renamed.symlink_to(torch_wheel)
    others = [w for w in wheelhouse.glob("*.whl") if w != torch_wheel]
    serve_wheels(local_index, "whl/cpu", [renamed] + others)
    before = pip_freeze(venv_with_numpy)
    result = torchup(*install_argv(venv_with_numpy, local_index, "--torch", "2.13", "--offline"), env=user_env(local_index.url + "/pypi"))
    assert result.returncode == 1, result.stderr
    assert "installing torch 2.13.0+cpu failed" in result.stderr
    assert "hint: the index has no such build for this interpreter" in result.stderr
    assert pip_freeze(venv_with_numpy) == before


def test_sigint_mid_install_puts_the_venv_back(indexes, venv_with_numpy):
    before = pip_freeze(venv_with_numpy)
    process = subprocess.Popen(
        [sys.executable, "-m", "torchup", *install_argv(venv_with_numpy, indexes)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=user_env(indexes.url + "/pypi"),
        cwd=REPO,
    )
    torch_dir = venv_with_numpy / VENV_SITE / "torch"
    deadline = time.monotonic() + 300
    while not torch_dir.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert torch_dir.exists(), "pip never started writing torch"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1, err
    assert "torchup: error: stopped by SIGINT: the target was left as it was" in err
    assert not torch_dir.exists()
    assert pip_freeze(venv_with_numpy) == before
    assert venv_python_run(venv_with_numpy, "import numpy; print(numpy.__version__)").returncode == 0


def test_bad_targets_exit_2(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("")
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'Fatal Python error: init_fs_encoding' >&2\nexit 1\n")
    broken.chmod(0o755)
    for args, expected in (
        (["--venv", str(a_file)], f"--venv {a_file}: a file is in the way"),
        (["--venv", "/proc/torchup-test/venv"], "--venv /proc/torchup-test/venv: cannot be created"),
        (["--python", str(broken)], f"--python {broken}: not a Python interpreter torchup can use (exit status 1; it printed: Fatal Python error"),
    ):
        result = torchup("install", *args, "--no-gpu", "--offline", "--yes", env=user_env())
        assert result.returncode == 2, (args, result.stderr)
        assert expected in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert a_file.read_text() == ""


def test_externally_managed_python_is_refused(tmp_path):
    """A real CPython whose stdlib carries PEP 668's marker: Debian's own python3 where present."""
    system_python = "/usr/bin/python3"
    marker_check = (
        subprocess.run(
            [system_python, "-c", "import sysconfig, os; print(os.path.exists(os.path.join(sysconfig.get_paths()['stdlib'], 'EXTERNALLY-MANAGED')))"],
            capture_output=True,
            text=True,
        )
        if os.path.exists(system_python)
        else None
    )
    if not marker_check or marker_check.stdout.strip() != "True":
        pytest.skip("no externally managed system Python here")
    result = torchup("install", "--python", system_python, "--no-gpu", "--offline", "--dry-run", env=user_env())
    assert result.returncode == 2
    assert "is externally managed (PEP 668)" in result.stderr
    assert "torchup install --venv .venv" in result.stderr and "--break-system-packages" in result.stderr


def test_the_installed_build_stays_when_pip_installs_more(indexes, tmp_path):
    """After torchup install, pip in that venv cannot swap torch for another build, and doctor says when it was."""
    from tests.conftest import make_wheel

    venv = tmp_path / "venv"
    installed = torchup(*install_argv(venv, indexes), env=user_env(indexes.url + "/pypi"))
    assert installed.returncode == 0, installed.stderr
    pins = venv / "torchup-constraints.txt"
    assert "torch==2.13.0+cpu" in pins.read_text().splitlines()
    assert f"constraint = {pins}" in (venv / "pip.conf").read_text()
    # Another source offers a newer torch (another build), and a package that wants it.
    other = tmp_path / "other"
    make_wheel(other, "torch", "2.14.0")
    make_wheel(other, "needs-torch", "1.0", requires=["torch>=2.14"])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-index", "--find-links", str(other), "needs-torch"]
    # pip reads its configuration files, the venv's own among them, as it does for the user.
    pip_env = isolated_env(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"))
    held = subprocess.run(pip, capture_output=True, text=True, env=pip_env, timeout=300)
    assert held.returncode != 0 and "torch" in held.stdout + held.stderr
    assert venv_python_run(venv, "import torch; print(torch.__version__)").stdout.strip() == "2.13.0+cpu"
    doctor = torchup("doctor", "--python", str(venv), "--json", "install.pinned", env=user_env())
    assert json.loads(doctor.stdout)["results"][0]["status"] == "pass"
    # The same command without the pin swaps the build: the pin is what held it.
    (venv / "pip.conf").write_text("")
    swapped = subprocess.run(pip, capture_output=True, text=True, env=pip_env, timeout=300)
    assert swapped.returncode == 0, swapped.stderr
    doctor = torchup("doctor", "--python", str(venv), "--json", "install.pinned", env=user_env())
    result = json.loads(doctor.stdout)["results"][0]
    assert (result["status"], result["evidence"].split(" (")[0]) == ("warn", "torch is 2.14.0, torchup installed 2.13.0+cpu")


@pytest.mark.parametrize("backend", ["pip", "uv"])
def test_a_wheelhouse_is_the_only_source_whatever_the_configuration_says(wheelhouse, tmp_path, backend):
    """--find-links DIR --no-index: the configured find-links (here holding another torch of the
    same version and tag, one that cannot even import) are set aside for the run."""
    from tests.conftest import make_wheel

    real = next(wheelhouse.glob("torch-*.whl")).name
    _, version, tag = real[: -len(".whl")].split("-", 2)
    elsewhere = tmp_path / "configured"
    make_wheel(elsewhere, "torch", version, files={"torch/__init__.py": "raise ImportError('the configured find-links torch')\n"}, tag=tag)
    config = tmp_path / "pip.conf"
    config.write_text(f"[global]\nfind-links = {elsewhere}\n")
    venv = tmp_path / "venv"
    env = dict(user_env(), PIP_CONFIG_FILE=str(config), PIP_FIND_LINKS=str(elsewhere), UV_FIND_LINKS=str(elsewhere))
    argv = ["install", "--venv", str(venv), "--installer", backend, "--find-links", str(wheelhouse), "--no-index", "--no-gpu", "--yes"]
    result = torchup(*argv, env=env)
    assert result.returncode == 0, result.stderr
    assert f"--no-index: {wheelhouse} is the only source; your pip and uv configuration is set aside for this run" in result.stderr
    assert venv_python_run(venv, AUTOGRAD).stdout.strip() == "[[4.5, 4.5], [4.5, 4.5]]"
