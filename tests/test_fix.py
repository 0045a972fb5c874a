"""Broken interpreters built for real, diagnosed and fixed: ``torchup fix``, the findings in
``torchup detect``, and the preflight `make setup` runs with the system Python."""

import configparser
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import REPO, WHEELHOUSE, find_python, isolated_env, make_venv, venv_from_wheels

VERSION = "%d.%d" % sys.version_info[:2]
SKIPPED_STDLIB = {"site-packages", "dist-packages", "test", "idlelib", "tkinter", "turtledemo", "lib2to3"}


def copy_cpython(destination: Path, *, without_ssl=False, externally_managed=False) -> Path:
    """A copy of the real CPython running these tests: its binary and stdlib (pip kept, other packages not)."""
    base = Path(sys.base_prefix)
    stdlib = Path(sysconfig.get_paths(vars={"base": str(base), "installed_base": str(base)})["stdlib"])
    binary = Path(os.path.realpath(os.path.join(base, "bin", "python" + VERSION)))
    (destination / "bin").mkdir(parents=True)
    shutil.copy2(binary, destination / "bin" / ("python" + VERSION))
    (destination / "bin" / "python3").symlink_to("python" + VERSION)
    target = destination / "lib" / ("python" + VERSION)
    shutil.copytree(
        stdlib, target, symlinks=True, ignore=lambda directory, names: [n for n in names if n in SKIPPED_STDLIB] if directory == str(stdlib) else []
    )
    site = target / "site-packages"
    site.mkdir()
    import pip

    shutil.copytree(Path(pip.__file__).parent, site / "pip")
    if without_ssl:
        for extension in (target / "lib-dynload").glob("_ssl*"):
            extension.unlink()
    if externally_managed:
        (target / "EXTERNALLY-MANAGED").write_text("[externally-managed]\nError = this Python belongs to the test's package manager\n")
    return destination / "bin" / "python3"


def torchup(*args, env=None, cwd=REPO):
    env = env or isolated_env(PIP_CONFIG_FILE=os.devnull)
    return subprocess.run([sys.executable, "-m", "torchup", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def fix_json(python, *extra, env=None, cwd=REPO):
    result = torchup("fix", "--python", str(python), "--json", *extra, env=env, cwd=cwd)
    return result, json.loads(result.stdout)


def ids(findings):
    return [finding["id"] for finding in findings]


@pytest.fixture(scope="module")
def python_without_ssl(tmp_path_factory):
    return copy_cpython(tmp_path_factory.mktemp("nossl") / "python", without_ssl=True)


def test_python_without_ssl_is_f01_with_this_platforms_fix(python_without_ssl, tmp_path):
    # What the user saw: pip warns as soon as an https index is configured (127.0.0.1 only here).
    pip = subprocess.run(
        [
            str(python_without_ssl),
            "-m",
            "pip",
            "download",
            "--no-deps",
            "-d",
            str(tmp_path),
            "--index-url",
            "https://127.0.0.1:9/simple",
            "--retries",
            "0",
            "nothing",
        ],
        capture_output=True,
        text=True,
        env=isolated_env(PIP_CONFIG_FILE=os.devnull),
        timeout=120,
    )
    assert "the ssl module in Python is not available" in pip.stdout + pip.stderr
    result, document = fix_json(python_without_ssl)
    assert result.returncode == 1
    f01 = next(f for f in document["findings"] if f["id"] == "F01")
    assert f01["severity"] == "fail" and "ssl module in Python is not available" in f01["seen"]
    distribution = Path("/etc/os-release").read_text() if Path("/etc/os-release").exists() else ""
    if "ID=debian" in distribution or "ID=ubuntu" in distribution:
        assert any("apt install libssl-dev" in step for step in f01["fix"])
    assert any("uv python install" in step for step in f01["fix"])


def test_setup_preflight_stops_on_a_python_without_ssl(python_without_ssl):
    result = subprocess.run(
        [str(python_without_ssl), "-m", "installer.preflight"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=isolated_env(PIP_CONFIG_FILE=os.devnull),
        timeout=120,
    )
    assert result.returncode == 1
    assert "✗ F01 this Python has no ssl module" in result.stdout
    assert "Setup stopped: fix F01 first" in result.stdout


def test_venv_without_pip_gets_pip_and_a_second_run_changes_nothing(tmp_path):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    python = tmp_path / "venv" / "bin" / "python"
    result, document = fix_json(python)
    assert result.returncode == 1 and ids(document["findings"]) == ["F12"]
    assert document["actions"][0]["argv"] == [str(python), "-m", "ensurepip", "--upgrade", "--default-pip"]
    assert not (tmp_path / "venv" / "bin" / "pip").exists()  # a plan changes nothing

    applied = torchup("fix", "--python", str(python), "--apply")
    assert applied.returncode == 0, applied.stdout
    assert f"✓ [F12] {python} -m ensurepip --upgrade --default-pip" in applied.stdout
    assert "No findings left" in applied.stdout
    assert subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True).returncode == 0

    again = torchup("fix", "--python", str(python), "--apply")
    assert again.returncode == 0
    assert "nothing to change" in again.stdout


def test_externally_managed_python_gets_a_venv_that_install_then_uses(tmp_path):
    python = copy_cpython(tmp_path / "python", externally_managed=True)
    work = tmp_path / "project"
    work.mkdir()
    result, document = fix_json(python, cwd=work)
    assert "F14" in ids(document["findings"])
    applied = torchup("fix", "--python", str(python), "--apply", cwd=work)
    assert f"✓ [F14] {python} -m venv {work / '.venv'}" in applied.stdout
    assert (work / ".venv" / "pyvenv.cfg").exists()
    again = torchup("fix", "--python", str(python), "--apply", cwd=work)
    assert f"{work / '.venv'} is already a venv" in again.stdout and "nothing to change" in again.stdout
    planned = torchup("install", "--dry-run", "--offline", "--no-gpu", "--yes", cwd=work)
    assert planned.returncode == 0, planned.stderr
    assert f"[1/4] detect: {work / '.venv' / 'bin' / 'python'}" in planned.stderr


def test_old_pip_in_a_venv_is_upgraded_offline(tmp_path):
    venv = tmp_path / "venv"
    venv_from_wheels(venv, WHEELHOUSE / "old-pip", "pip==20.2.4")
    result, document = fix_json(venv / "bin/python")
    f16 = next(f for f in document["findings"] if f["id"] == "F16")
    assert f16["title"] == "pip 20.2.4 cannot install manylinux_x_y wheels" and f16["action"] == "upgrade-pip"
    applied = torchup("fix", "--python", str(venv / "bin/python"), "--apply")
    assert applied.returncode == 0, applied.stdout
    version = subprocess.run([str(venv / "bin/python"), "-m", "pip", "--version"], capture_output=True, text=True).stdout
    assert not version.startswith("pip 20."), version


def test_missing_certificate_files_and_an_https_proxy(tmp_path):
    env = isolated_env(
        PIP_CONFIG_FILE=os.devnull,
        SSL_CERT_FILE=str(tmp_path / "gone.pem"),
        PIP_CERT=str(tmp_path / "also-gone.pem"),
        HTTPS_PROXY="https://carol:s3cret@proxy.example:3128",
    )
    env.pop("SSL_CERT_DIR", None)  # else uv would take its roots from there, and SSL_CERT_FILE would break nothing
    result, document = fix_json(sys.executable, env=env)
    findings = {(f["id"], f["title"]): f for f in document["findings"]}
    assert findings["F06", "SSL_CERT_FILE names a missing file"]["fix"][0] == "unset SSL_CERT_FILE"
    assert findings["F06", "PIP_CERT names a missing file"]["fix"][0] == "unset PIP_CERT"
    assert findings["F11", "HTTPS_PROXY uses the https:// scheme"]["fix"] == ["export HTTPS_PROXY=http://****@proxy.example:3128"]
    assert result.returncode == 1
    text = torchup("detect", "--python", sys.executable, env=env).stdout
    assert "✗ F06 SSL_CERT_FILE names a missing file" in text
    assert "s3cret" not in result.stdout + text


def test_a_mirror_uv_ignores_is_f23_until_torchup_install_hands_it_over_and_pins_torch(indexes, tmp_path):
    mirror = indexes.url + "/pypi"  # numpy and scipy, never torch: a real mirror on 127.0.0.1
    config = tmp_path / "pip.conf"
    config.write_text(f"[global]\nindex-url = {mirror}\n")
    env = isolated_env(PIP_CONFIG_FILE=str(config), HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"))
    env.pop("VIRTUAL_ENV", None)
    python = make_venv(tmp_path / "venv")
    _, before = fix_json(python, env=env)
    f23 = next(f for f in before["findings"] if f["id"] == "F23")
    assert f23["fix"] == [
        f"give uv the mirror too: export UV_DEFAULT_INDEX={mirror}",
        f"torchup install --python {python}  (torch from its own index alone; the mirror handed to uv as flags)",
    ]

    install = ["install", "--venv", str(tmp_path / "venv"), "--installer", "uv", "--index-base", indexes.url + "/whl", "--no-gpu", "--yes", "--json"]
    installed = torchup(*install, env=env)
    assert installed.returncode == 0, installed.stderr[-3000:]
    numpy = next(c for c in json.loads(installed.stdout)["commands"] if c["title"] == "numpy and scipy")
    assert numpy["argv"][numpy["argv"].index("--index-url") + 1] == mirror  # what torchup does about it: uv is told
    _, after = fix_json(python, env=env)
    assert "F23" not in ids(after["findings"])  # torch is in, from its index, and pinned


def test_mirror_is_written_once_and_never_printed_with_its_secret(tmp_path):
    python = make_venv(tmp_path / "venv")
    mirror = "https://dave:hunter2@mirror.example/simple"
    applied = torchup("fix", "--python", str(python), "--apply", "--mirror", mirror)
    assert "✓ [--mirror] set index-url = https://****@mirror.example/simple in" in applied.stdout
    config = configparser.RawConfigParser()
    config.read(tmp_path / "venv" / "pip.conf")
    assert config.get("global", "index-url") == mirror
    again = torchup("fix", "--python", str(python), "--apply", "--mirror", mirror)
    assert "already sets index-url" in again.stdout and "nothing to change" in again.stdout
    assert "hunter2" not in applied.stdout + applied.stderr + again.stdout
    # It holds a credential: readable by its owner alone.
    assert (tmp_path / "venv" / "pip.conf").stat().st_mode & 0o077 == 0


def test_mirror_keeps_the_users_comments_and_settings(tmp_path):
    python = make_venv(tmp_path / "venv")
    config = tmp_path / "venv" / "pip.conf"
    original = (
        "# the team's settings\n[global]\n# our old mirror\nindex-url = https://old.example/simple\ntimeout = 60\n\n[install]\n; keep\nno-compile = false\n"
    )
    config.write_text(original)
    config.chmod(0o644)
    applied = torchup("fix", "--python", str(python), "--apply", "--mirror", "https://new.example/simple")
    assert "✓ [--mirror] set index-url = https://new.example/simple" in applied.stdout
    assert config.read_text() == original.replace("https://old.example/simple", "https://new.example/simple")
    assert config.stat().st_mode & 0o777 == 0o644  # no credential: the mode it had


def test_a_pip_conf_that_does_not_parse_is_found_and_left_alone(tmp_path):
    python = make_venv(tmp_path / "venv")
    config = tmp_path / "venv" / "pip.conf"
    broken = "[global\nindex-url = https://eve:pa55@mirror.example/simple\n"
    config.write_text(broken)
    env = isolated_env(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path))  # pip's files on: the venv's pip.conf is one
    found = torchup("fix", "--python", str(python), "--json", env=env)
    assert "F30" in [f["id"] for f in json.loads(found.stdout)["findings"]]
    assert found.returncode == 1
    applied = torchup("fix", "--python", str(python), "--apply", "--mirror", "https://new.example/simple", env=env)
    assert applied.returncode == 1, applied.stderr  # F30 remains: not an internal error
    assert f"✗ [--mirror] left {config} as it was: it does not parse" in applied.stdout
    assert config.read_text() == broken
    assert "pa55" not in applied.stdout + applied.stderr + found.stdout


def test_bad_options_exit_2():
    bad_mirror = torchup("fix", "--mirror", "ftp://mirror.example/simple")
    assert bad_mirror.returncode == 2 and "--mirror ftp://mirror.example/simple: not an http(s) URL" in bad_mirror.stderr
    assert torchup("fix", "--system").returncode == 2


@pytest.mark.parametrize("version", ["2.7", "3.8"])
def test_make_setup_refuses_a_python_too_old_before_making_anything(version, tmp_path):
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine")
    venv = tmp_path / "venv"
    result = subprocess.run(["make", "-C", str(REPO), "setup", f"PYTHON={python}", f"VENV={venv}"], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert f"torchup needs Python 3.9 or newer; {python} is {version}: make setup PYTHON=python3.12" in result.stderr
    assert "Traceback" not in result.stderr
    assert not venv.exists()


def test_every_safe_fix_a_finding_may_name_has_its_step():
    """A closed set: a new SafeFix without a step in installer.fix fails here, not in a user's `fix --apply`."""
    from torchup.installer.findings import SafeFix
    from torchup.installer.fix import SAFE_STEPS

    assert set(SAFE_STEPS) == set(SafeFix)
