"""The probe, run by real interpreters: this one, fresh venvs, a venv without pip, old Pythons."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import WHEELHOUSE, find_python, isolated_env, make_venv, write_tool
from torchup.diagnostics import probe
from torchup.installer import entry, target
from torchup.installer.errors import TargetError


def run_probe(python, **env):
    return target.probe_interpreter(str(python), isolated_env(**env), timeout=20).document


def test_this_interpreter():
    document = run_probe(sys.executable)
    interpreter = document["interpreter"]
    assert interpreter["version"] == "%d.%d.%d" % sys.version_info[:3]
    assert interpreter["bits"] == 64
    assert interpreter["tags"]["interpreter"] == "cp%d%d" % sys.version_info[:2]
    assert document["tls"]["ssl_importable"] is True
    assert document["pip"]["present"] is True


def test_platform_tags_agree_with_packaging():
    """The probe's stdlib re-implementation gives the platforms packaging computes for the same interpreter."""
    from packaging import tags

    document = run_probe(sys.executable)
    expected = []
    for tag in tags.sys_tags():
        if tag.platform not in expected and tag.platform != "any":
            expected.append(tag.platform)
    platforms = document["interpreter"]["tags"]["platforms"]
    # Recent packaging lists linux_<arch> (locally built wheels) first, the probe last; the rest in the same order.
    assert sorted(platforms) == sorted(expected)
    assert [p for p in platforms if p.startswith("many")] == [p for p in expected if p.startswith("many")]


def test_fresh_venv(tmp_path):
    python = make_venv(tmp_path / "venv")
    document = run_probe(python)
    interpreter = document["interpreter"]
    assert interpreter["in_venv"] is True
    assert interpreter["kind"] == "venv"
    assert interpreter["venv_creator"] == "venv"
    assert interpreter["externally_managed"]["applies"] is False
    assert Path(interpreter["prefix"]) == tmp_path / "venv"
    assert document["pip"]["present"] is True


def test_venv_without_pip_still_has_ensurepip(tmp_path):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    document = run_probe(tmp_path / "bare" / "bin" / "python")
    assert document["pip"]["present"] is False
    assert document["pip"]["version"] is None
    assert document["pip"]["ensurepip"]["available"] is True
    assert document["pip"]["ensurepip"]["bundled_pip"]


def test_externally_managed_marker(tmp_path):
    """A copy of a real CPython's stdlib layout with PEP 668's marker: reported, and it applies outside a venv."""
    python = make_venv(tmp_path / "venv", with_pip=False)
    stdlib = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"], text=True).strip())
    marker = stdlib / "EXTERNALLY-MANAGED"
    if not os.access(stdlib, os.W_OK):
        pytest.skip("the stdlib directory of this interpreter is read-only")
    created = not marker.exists()
    if created:
        marker.write_text("[externally-managed]\nError = use a venv, please\n")
    try:
        document = run_probe(python)
        assert document["interpreter"]["externally_managed"] == {"marker": str(marker), "applies": False, "message": "use a venv, please"}
    finally:
        if created:
            marker.unlink()


def test_pip_configuration_with_sources_and_redaction(tmp_path):
    config = tmp_path / "pip.conf"
    config.write_text(
        "[global]\nindex-url = https://alice:s3cret@mirror.example/simple\ntrusted-host = mirror.example\n[install]\nfind-links = /wheels /more-wheels\n"
    )
    document = run_probe(
        sys.executable,
        PIP_CONFIG_FILE=str(config),
        PIP_EXTRA_INDEX_URL="https://bob:hunter2@extra.example/simple https://plain.example/simple",
        HTTPS_PROXY="http://carol:pw@proxy.example:3128",
        XDG_CONFIG_DIRS=str(tmp_path / "none"),
    )
    settings = document["pip"]["config"]["settings"]
    assert settings["index-url"] == {"value": "https://****@mirror.example/simple", "source": f"{config} [global]"}
    assert settings["find-links"] == {"value": ["/wheels", "/more-wheels"], "source": f"{config} [install]"}
    assert settings["extra-index-url"] == {
        "value": ["https://****@extra.example/simple", "https://plain.example/simple"],
        "source": "PIP_EXTRA_INDEX_URL",
    }
    assert document["tls"]["proxies"]["HTTPS_PROXY"] == "http://****@proxy.example:3128"
    assert "s3cret" not in str(document) and "hunter2" not in str(document) and ":pw@" not in str(document)


def test_the_torch_lines_of_the_configured_constraint_files(tmp_path):
    """pip refuses a torch its constraint files exclude: the probe reads the lines that name torch."""
    caps = tmp_path / "caps.txt"
    caps.write_text("# site caps\ntorchvision<=0.29.1\ntorch <=2.14.1  # the newest tested here\ntorch-geometric==2.6\n")
    more = tmp_path / "more.txt"
    more.write_text("TORCH>=2.9\nnumpy<3\ntorch @ https://ci:s3cret@wheels.example/torch.whl\n")
    config = tmp_path / "pip.conf"
    config.write_text(f"[global]\nconstraint = {caps} {more} {tmp_path / 'missing.txt'} https://example.org/caps.txt\n")
    document = run_probe(sys.executable, PIP_CONFIG_FILE=str(config), XDG_CONFIG_DIRS=str(tmp_path / "none"))
    assert document["pip"]["config"]["torch_constraints"] == [
        {"file": str(caps), "requirement": "torch <=2.14.1"},
        {"file": str(more), "requirement": "TORCH>=2.9"},
        {"file": str(more), "requirement": "torch @ https://****@wheels.example/torch.whl"},
    ]


def test_pip_config_file_devnull_turns_files_off(tmp_path):
    document = run_probe(sys.executable, PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL="https://example/simple")
    config = document["pip"]["config"]
    assert config["files"] == []
    assert config["settings"] == {"index-url": {"value": "https://example/simple", "source": "PIP_INDEX_URL"}}


def test_missing_ca_bundle_is_reported(tmp_path):
    document = run_probe(sys.executable, SSL_CERT_FILE=str(tmp_path / "missing.pem"))
    bundles = {bundle["source"]: bundle for bundle in document["tls"]["ca_bundles"]}
    assert bundles["SSL_CERT_FILE"] == {"source": "SSL_CERT_FILE", "path": str(tmp_path / "missing.pem"), "exists": False}
    # OpenSSL reads SSL_CERT_FILE itself, so it is also ssl's default cafile.
    assert bundles["ssl default cafile"]["exists"] is False


def test_redact():
    assert probe.redact("https://u:p@host/x and http://tok@h2") == "https://****@host/x and http://****@h2"
    assert probe.redact("https://host/simple") == "https://host/simple"


def test_probe_source_is_python_36_syntax():
    tree = ast.parse(Path(probe.__file__).read_text(), feature_version=(3, 6))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= set(sys.stdlib_module_names)
    assert "dataclasses" not in imported


@pytest.mark.parametrize("version", ["3.6", "3.8"])
def test_old_python_runs_the_probe(version):
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine")
    document = run_probe(python)
    assert document["interpreter"]["version"].startswith(version + ".")
    assert document["interpreter"]["tags"]["abis"][0] == "cp" + version.replace(".", "") + ("m" if version == "3.6" else "")


def test_python_2_is_refused_with_its_version():
    python = find_python("2.7")
    if python is None:
        pytest.skip("no Python 2.7 on this machine")
    with pytest.raises(TargetError, match=r"Python 2\.7\.\d+ is too old"):
        run_probe(python)


def test_nothing_at_that_path(tmp_path):
    with pytest.raises(TargetError, match="no such file"):
        target.resolve_interpreter(str(tmp_path / "nope" / "python"), {})


def test_not_a_python(tmp_path):
    with pytest.raises(TargetError, match="not a Python interpreter"):
        run_probe("/bin/true")
    tool = write_tool(tmp_path, "fake-python", "print('hello')\n")
    with pytest.raises(TargetError, match="it printed: hello"):
        run_probe(tool)
    json_speaker = write_tool(tmp_path, "json-python", "import sys\nopen(sys.argv[4], 'w').write('{}')\n")  # answers, but not as a Python does
    with pytest.raises(TargetError, match="its answer was not a Python's"):
        run_probe(json_speaker)


def test_hanging_interpreter_times_out(tmp_path):
    tool = write_tool(tmp_path, "stuck-python", "import time\ntime.sleep(60)\n")
    with pytest.raises(TargetError, match="timed out after 0.5 s"):
        target.probe_interpreter(str(tool), isolated_env(), timeout=0.5)


def test_venv_directory_names_its_interpreter(tmp_path):
    python = make_venv(tmp_path / "venv", with_pip=False)
    assert target.resolve_interpreter(str(tmp_path / "venv"), {}) == str(python)


def test_one_default_for_every_command(tmp_path):
    """The active venv, else ./.venv where it exists, else python3 on PATH; a broken active venv is an error."""
    python = make_venv(tmp_path / "venv", with_pip=False)
    assert target.default_interpreter({"VIRTUAL_ENV": str(tmp_path / "venv"), "PATH": ""}, cwd=str(tmp_path)) == str(python)
    with pytest.raises(TargetError, match="no Python found"):
        target.default_interpreter({"PATH": str(tmp_path)}, cwd=str(tmp_path))
    local = make_venv(tmp_path / "project" / ".venv", with_pip=False)
    assert target.default_interpreter({"PATH": os.environ["PATH"]}, cwd=str(tmp_path / "project")) == str(local)
    with pytest.raises(TargetError, match=r"the active virtual environment .*gone has no python") as raised:
        target.default_interpreter({"VIRTUAL_ENV": str(tmp_path / "gone"), "PATH": os.environ["PATH"]}, cwd=str(tmp_path / "project"))
    assert "deactivate" in raised.value.hint


def test_the_microsoft_store_alias_is_named(tmp_path):
    """F28: what Windows' python.exe alias prints when no Python is installed, at the path it lives at."""
    alias_dir = tmp_path / "AppData" / "Local" / "Microsoft" / "WindowsApps"
    alias = write_tool(
        alias_dir,
        "python3",
        "import sys\nprint('Python was not found; run without arguments to install from the Microsoft Store, "
        "or disable this shortcut from Settings > Manage App Execution Aliases.')\nsys.exit(9009 % 256)\n",
    )
    with pytest.raises(TargetError) as raised:
        run_probe(str(alias))
    assert "it printed: Python was not found" in raised.value.message
    assert raised.value.hint.startswith("this is the Microsoft Store's alias, not a Python")


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["detect"], (True, None)),
        (["plan", "--offline", "--python", "venv"], (True, "venv")),
        (["-v", "--timeout", "3", "fix", "--python=/usr/bin/python3"], (True, "/usr/bin/python3")),
        (["plan", "--python-version", "3.12"], (True, None)),
        (["--timeout", "detect", "install"], (False, None)),  # "detect" is the timeout's value here
        (["detect", "--help"], (False, None)),
        (["--version"], (False, None)),
        (["doctor", "--python", "venv"], (False, None)),
        ([], (False, None)),
    ],
)
def test_the_commands_whose_probe_starts_ahead(argv, expected):
    assert entry.target_to_probe(argv) == expected


def counting_python(directory: Path, log: Path) -> Path:
    """An interpreter that notes each start in ``log``, then is this one."""
    directory.mkdir(parents=True, exist_ok=True)
    python = directory / "python"
    python.write_text(f'#!/bin/sh\necho started >> "{log}"\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    return python


def test_the_probe_started_ahead_is_the_one_the_command_reads(tmp_path):
    """detect and plan start the target's probe before the command line loads: the command reads
    that probe, so the target starts once; one it never asks for ends unread, leaving nothing."""
    scratch, log = tmp_path / "tmp", tmp_path / "started"
    scratch.mkdir()
    python = counting_python(tmp_path / "bin", log)
    env = isolated_env(TMPDIR=str(scratch), PIP_CONFIG_FILE=os.devnull)

    def torchup(*argv):
        return subprocess.run([sys.executable, "-m", "torchup", *argv], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)

    detected = torchup("detect", "--json", "--python", str(python))
    assert detected.returncode == 0, detected.stderr
    assert log.read_text().splitlines() == ["started"]
    # The run ends without the interpreter's teardown (entry.end), its scratch files removed all the same.
    assert list(scratch.iterdir()) == []
    # Every input given: plan reads nothing of the target, and the probe started ahead ends unread.
    planned = torchup("plan", "--offline", "--json", "--python", str(python), "--os", "linux", "--arch", "x86_64", "--python-version", "3.12", "--no-gpu")
    assert planned.returncode == 0, planned.stderr
    assert list(scratch.iterdir()) == []


def test_a_probe_started_ahead_for_another_target_ends_unread(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    env = isolated_env()
    other = make_venv(tmp_path / "other", with_pip=False)
    target.probe_ahead(str(other), env)
    document = target.probe_interpreter(sys.executable, env, timeout=20).document
    assert document["interpreter"]["executable"] == sys.executable
    assert target._ahead is None and not list(tmp_path.glob("torchup-answer-*"))


def test_what_the_target_prints_at_exit_is_its_business_too(tmp_path):
    """The probe ends its interpreter without the teardown, but after the target's own exit
    handlers: what they print is shown under -v as what the target printed."""
    python = make_venv(tmp_path / "venv", with_pip=False)
    site = next((tmp_path / "venv").glob("lib/python*/site-packages"))
    (site / "sitecustomize.py").write_text("import atexit\natexit.register(print, 'Goodbye from the Acme cluster.')\n")
    env = isolated_env(PIP_CONFIG_FILE=os.devnull, TMPDIR=str(tmp_path))
    detected = subprocess.run(
        [sys.executable, "-m", "torchup", "-v", "detect", "--python", str(python)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert detected.returncode == 0, detected.stderr
    assert "the target printed: Goodbye from the Acme cluster." in detected.stdout


@pytest.fixture(scope="module")
def torch_venv_with_banner(tmp_path_factory, wheelhouse):
    """A venv holding torch, numpy and scipy whose sitecustomize greets every start, as managed machines' do."""
    from tests.conftest import venv_from_wheels

    venv = tmp_path_factory.mktemp("banner") / "venv"
    python = venv_from_wheels(venv, wheelhouse, "torch==2.13.0+cpu", "numpy", "scipy")
    site = next(venv.glob("lib/python*/site-packages"))
    return python, site


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_banner_at_start_up_is_the_targets_business(torch_venv_with_banner, stream):
    import json

    python, site = torch_venv_with_banner
    (site / "sitecustomize.py").write_text(f"import sys\nsys.{stream}.write('Welcome to the Acme cluster. {{\\\\n')\n")
    env = isolated_env(PIP_CONFIG_FILE=os.devnull, PATH=os.environ["PATH"])

    def torchup(*argv):
        return subprocess.run([sys.executable, "-m", "torchup", *argv, "--python", str(python)], capture_output=True, text=True, env=env, timeout=600)

    detected = torchup("detect", "--json")
    assert detected.returncode == 0, detected.stderr
    assert json.loads(detected.stdout)["interpreter"]["executable"]
    assert "the target printed: Welcome to the Acme cluster." in torchup("-v", "detect").stdout
    planned = torchup("plan", "--offline", "--no-gpu", "--json")
    assert planned.returncode == 0 and json.loads(planned.stdout)["torch"], planned.stderr
    installed = subprocess.run(
        [sys.executable, "-m", "torchup", "install", "--python", str(python), "--find-links", str(WHEELHOUSE), "--no-index", "--no-gpu", "--json", "--yes"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert installed.returncode == 0 and json.loads(installed.stdout)["status"] == "already-installed", installed.stderr
    doctored = torchup("doctor", "--json", "install.import", "tutorial.autograd")
    assert doctored.returncode == 0 and json.loads(doctored.stdout)["exit_code"] == 0, doctored.stderr
    fixed = torchup("fix", "--json")
    assert fixed.returncode in (0, 1) and "findings" in json.loads(fixed.stdout), fixed.stderr
