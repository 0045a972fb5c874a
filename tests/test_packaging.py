"""The built wheel carries every package and data file, so an installed torchup works like the checkout."""

import subprocess
import sys
import zipfile

import pytest

from tests.conftest import REPO, build_wheel, isolated_env, make_venv


def test_wheel_contents(tmp_path):
    built = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(built).namelist())
    expected = {
        "torchup/" + path.relative_to(REPO).as_posix()
        for pattern in ("installer/**/*.py", "installer/**/*.json", "diagnostics/**/*.py", "torchup/*.py")
        for path in REPO.glob(pattern)
    }
    expected = {name.replace("torchup/torchup/", "torchup/") for name in expected}
    assert expected <= names, sorted(expected - names)
    # Everything lives under the one name this project owns: no top-level installer/ or diagnostics/.
    assert {name.split("/")[0] for name in names} == {"torchup", f"{built.name.rsplit('-', 3)[0]}.dist-info"}


@pytest.fixture(scope="module")
def installed_as_users_do(tmp_path_factory):
    """torchup's wheel, installed non-editable into a venv that also holds poetry (and so PyPA's installer)."""
    where = tmp_path_factory.mktemp("installed")
    wheel = build_wheel(where)
    venv = where / "tool-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run(pip + ["poetry"], check=True, capture_output=True, timeout=600)
    subprocess.run(pip + [str(wheel)], check=True, capture_output=True, timeout=300)
    return venv


def run_in(directory, *argv, **env):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=directory, timeout=600, env=isolated_env(**env))


def test_installed_beside_poetry_it_shadows_nothing(installed_as_users_do, tmp_path):
    venv = installed_as_users_do
    bin_dir = venv / "bin"
    assert run_in(tmp_path, bin_dir / "torchup", "--version").stdout.startswith("torchup, version ")
    assert run_in(tmp_path, bin_dir / "poetry", "--version").returncode == 0
    assert run_in(tmp_path, bin_dir / "python", "-c", "import installer.sources").returncode == 0
    uninstalled = run_in(tmp_path, bin_dir / "python", "-m", "pip", "uninstall", "--yes", "torchup")
    assert uninstalled.returncode == 0, uninstalled.stderr
    # PyPA's installer is intact, and poetry, which depends on it, still runs.
    assert run_in(tmp_path, bin_dir / "python", "-c", "import installer.sources").returncode == 0
    assert run_in(tmp_path, bin_dir / "poetry", "--version").returncode == 0
    subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--no-deps", str(next(venv.parent.glob("torchup-*.whl")))], check=True, timeout=300
    )


def test_installed_doctor_tests_the_target_not_its_own_environment(installed_as_users_do, tmp_path):
    """torchup's own venv is full of packages the target lacks: none of them may leak into the target's checks."""
    target = make_venv(tmp_path / "target", with_pip=False)
    result = run_in(tmp_path, installed_as_users_do / "bin" / "torchup", "doctor", "--python", target, "--json", "install.import", "install.numpy")
    assert result.returncode == 1, result.stderr
    import json

    statuses = {r["id"]: r["status"] for r in json.loads(result.stdout)["results"]}
    assert statuses == {"install.import": "fail", "install.numpy": "fail"}


def test_installed_fleet_launch_runs_its_kit_and_judges_with_its_data(installed_as_users_do, torch_python, tmp_path):
    """The installed kit file is what torchrun starts, and the installed gpus.json what the report is judged with."""
    from tests.test_fleet import free_port

    argv = [installed_as_users_do / "bin" / "torchup", "fleet", "launch", "--python", torch_python, "--nnodes", "1", "--node-rank", "0"]
    result = run_in(tmp_path, *argv, "--master", f"127.0.0.1:{free_port()}", "--nproc-per-node", "1", "--run-timeout", "120")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert result.stdout.startswith("torchup fleet: 1 of 1 node(s) reported, 0 failing: OK")
    assert (tmp_path / "torchup-fleet" / "fleet.html").exists() and (tmp_path / "torchup-fleet" / "node-0.json").exists()
