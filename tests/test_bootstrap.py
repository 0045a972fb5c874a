"""installer/bootstrap.sh on real fresh machines.

Each machine is a minimal Debian root filesystem (``debootstrap --variant=minbase``), cached as a
tarball under build/ and extracted per test, entered with chroot as root (or as nobody) in a clean
environment (``env -i``: nothing of this machine's pip or proxy settings). Its apt-get reaches
Debian's archive; it shares this machine's network, so the loopback index served here on
127.0.0.1 (torch, numpy, scipy and torchup's own dependencies) is reachable from inside.
"""

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, WHEELHOUSE, LocalIndex, build_wheel, copy_sources, find_python, serve_download_and_pypi, serve_wheels
from tests.test_install_e2e import closed_port

MINBASE = REPO / "build" / "fresh-machine" / "bookworm-minbase.tar"
BOOTSTRAP_WHEELS = WHEELHOUSE / "bootstrap"  # torchup's own dependencies, and uv
SITE_CA_DIR = Path("/usr/local/share/ca-certificates")  # where a corporate Debian image carries its root CA
DATA_IN_ROOT = "/srv/torchup"  # the bootstrap and torchup's wheel, copied in
ROOT_HOME = "/home/admin"  # HOME of the root user who runs the bootstrap
PROJECT = ROOT_HOME + "/project"  # where the user stands: the target is its ./.venv
TOOL_VENV = ROOT_HOME + "/.local/share/torchup/venv"
LAUNCHER = ROOT_HOME + "/.local/bin/torchup"
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TORCH_OPTIONS = ("--variant", "cpu", "--torch", "2.13.0")

BOOTSTRAP = REPO / "installer" / "bootstrap.sh"
AGAIN = f"sh {DATA_IN_ROOT}/bootstrap.sh"  # the command line as typed inside, which failures name as the next command


@pytest.mark.parametrize("argv, said", [(["--frobnicate"], "unknown option: --frobnicate"), (["--torch"], "--torch needs a value")])
def test_bad_usage_is_exit_2(tmp_path, argv, said):
    result = subprocess.run(["sh", str(BOOTSTRAP), *argv], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.splitlines()[:2] == [
        f"torchup-bootstrap: {said}",
        "usage: sh bootstrap.sh [--yes] [--venv DIR] [--variant NAME] [--torch SPEC] [--with NAMES] [--index-base URL] [--bundle DIR]",
    ]
    assert not any(tmp_path.iterdir())


def test_refused_pythons_are_named_with_the_reason_and_a_failed_step_removes_torchups_venv(tmp_path):
    """On this machine: a Python 2.7 named python3 comes first on PATH and is refused; Debian's
    python3 is taken. torchup's source does not exist, so step 3 fails, and its venv goes again."""
    python27 = find_python("2.7")
    usable = subprocess.run(["/usr/bin/python3", "-c", "import ssl, ensurepip; ensurepip.version()"], capture_output=True)
    if python27 is None or usable.returncode != 0:
        pytest.skip("needs a Python 2.7 (pyenv) to refuse and a /usr/bin/python3 with ssl and venv to take")
    first_on_path = tmp_path / "bin"
    first_on_path.mkdir()
    (first_on_path / "python3").symlink_to(python27)
    home = tmp_path / "home"
    home.mkdir()
    missing = tmp_path / "torchup-0-py3-none-any.whl"
    nowhere = f"http://127.0.0.1:{closed_port()}"
    env = {
        "PATH": f"{first_on_path}:/usr/bin:/bin",
        "HOME": str(home),
        "TORCHUP_SPEC": str(missing),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": nowhere + "/simple",
        "TORCHUP_INDEX_BASE": nowhere + "/whl",
    }
    result = subprocess.run(["sh", str(BOOTSTRAP), "--yes"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 1, result.stderr
    lines = bootstrap_lines(result.stderr)
    assert lines[:2] == [
        f"torchup-bootstrap: [1/5] find Python: refused {first_on_path}/python3: too old (2.7)",
        "torchup-bootstrap: [1/5] find Python: took /usr/bin/python3: " + lines[1].split(": ", 3)[-1],
    ]
    tool = home / ".local" / "share" / "torchup" / "venv"
    assert (
        lines[-1]
        == f"torchup-bootstrap: [3/5] install torchup failed: pip could not install torchup from {missing} (its error is above); removed {tool}; next: sh {BOOTSTRAP} --yes"
    )
    assert list(home.rglob("*")) == [home / ".local", home / ".local" / "share", home / ".local" / "share" / "torchup"]


@pytest.fixture(scope="session")
def minbase():
    """The cached tarball of a bare Debian 12, built with debootstrap the first time."""
    if os.geteuid() != 0:
        pytest.skip("a fresh machine is a chroot, which only root can enter (.ci/run runs the suite as root)")
    if shutil.which("debootstrap") is None:
        pytest.skip("debootstrap is not installed (apt-get install debootstrap; .ci/run installs it)")
    if MINBASE.exists():
        return MINBASE
    MINBASE.parent.mkdir(parents=True, exist_ok=True)
    scratch = MINBASE.parent / "debootstrap-root"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        built = subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", str(scratch), "http://deb.debian.org/debian"], capture_output=True, text=True, timeout=900
        )
        if built.returncode != 0:
            pytest.skip(f"debootstrap cannot build a Debian root here: {(built.stderr or built.stdout).strip().splitlines()[-1:]}")
        partial = MINBASE.with_suffix(".partial")
        subprocess.run(["tar", "--numeric-owner", "-C", str(scratch), "-cf", str(partial), "."], check=True)
        partial.rename(MINBASE)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return MINBASE


@pytest.fixture(scope="session")
def torchup_wheel(tmp_path_factory):
    return build_wheel(tmp_path_factory.mktemp("torchup-wheel"))


@pytest.fixture
def loopback_index(tmp_path, wheelhouse):
    """download.pytorch.org's shape for torch, and a PyPI mirror of numpy, scipy and torchup's own dependencies."""
    deps = sorted(BOOTSTRAP_WHEELS.glob("*.whl"))
    if not deps:
        pytest.fail(f"no wheels in {BOOTSTRAP_WHEELS}: run the tests with `make test`, which downloads them")
    index = LocalIndex(tmp_path / "served")
    serve_download_and_pypi(index, sorted(wheelhouse.glob("*.whl")))
    serve_wheels(index, "pypi", deps)
    yield index
    index.close()


class Machine:
    """A fresh machine: the root filesystem extracted, and commands run inside it with chroot."""

    def __init__(self, root: Path, wheel: str):
        self.root = root
        self.wheel = wheel  # torchup's wheel, as a path inside

    def path(self, inside: str) -> Path:
        return self.root / inside.lstrip("/")

    def command(self, argv, env=None, user=None, cwd="/", network=True):
        """argv inside the machine, as root or ``user``, in an environment holding only ``env``;
        without ``network``, in a network namespace of its own, where nothing can be reached.

        /proc and /dev are mounted in a private mount namespace: they vanish with the command, even
        when the test fails or is killed, so nothing is left mounted on this machine."""
        mounts = 'mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" && shift && exec "$@"'
        chroot = ["chroot"] + ([f"--userspec={user}"] if user else []) + [str(self.root)]
        variables = [f"{key}={value}" for key, value in {"PATH": CLEAN_PATH, **(env or {})}.items()]
        namespaces = ["unshare", "--mount", "--propagation", "private"] + ([] if network else ["--net"])
        return [*namespaces, "sh", "-c", mounts, "sh", str(self.root), *chroot, "env", "-i", f"--chdir={cwd}", *variables, *argv]

    def start(self, argv, env=None, user=None, cwd="/", network=True):
        """Started, its stdout and stderr together, as a person at the terminal would read them; in a
        session of its own: no controlling terminal, as under CI."""
        command = self.command(argv, env, user, cwd, network)
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def run(self, argv, env=None, user=None, cwd="/", timeout=900, network=True):
        with self.start(argv, env, user, cwd, network) as process:
            try:
                output, _ = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # the whole session: the bootstrap and all it started
                raise
        return subprocess.CompletedProcess(process.args, process.returncode, output)

    def apt_install(self, *packages):
        self.run(
            ["sh", "-c", "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends " + " ".join(packages)]
        ).check_returncode()

    def snapshot(self, *directories):
        """Every file under ``directories`` with its size and modification time."""
        found = {}
        for directory in directories:
            for path in sorted(self.path(directory).rglob("*")):
                if not path.is_symlink() and path.is_file():
                    status = path.stat()
                    found[str(path)] = (status.st_size, status.st_mtime_ns)
        return found


@pytest.fixture
def machine(tmp_path, minbase, torchup_wheel):
    """A fresh machine of its own for each test, with the bootstrap and torchup's wheel in it, removed after."""
    root = tmp_path / "root"
    root.mkdir()
    try:
        subprocess.run(["tar", "--numeric-owner", "-C", str(root), "-xf", str(minbase)], check=True)
        shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")  # as a container runtime does
        fresh = Machine(root, f"{DATA_IN_ROOT}/{torchup_wheel.name}")
        fresh.path(DATA_IN_ROOT).mkdir(parents=True)
        shutil.copy(BOOTSTRAP, fresh.path(DATA_IN_ROOT))
        shutil.copy(torchup_wheel, fresh.path(fresh.wheel))
        fresh.path(PROJECT).mkdir(parents=True)
        yield fresh
    finally:
        shutil.rmtree(root, ignore_errors=True)


def proxy_root_ca():
    """The CA file in the system's local store that signs what this machine sees as pypi.org: a
    TLS-inspecting proxy's root. None where pypi.org is reached directly."""
    for candidate in sorted(SITE_CA_DIR.glob("*.crt")):
        context = ssl.create_default_context(cafile=str(candidate))
        try:
            with socket.create_connection(("pypi.org", 443), timeout=10) as raw, context.wrap_socket(raw, server_hostname="pypi.org"):
                return candidate
        except (OSError, ssl.SSLError):
            continue
    return None


def place_site_ca(machine: Machine, ca: Path):
    """Where a corporate image carries its root CA; update-ca-certificates takes it into the store."""
    destination = machine.path(str(SITE_CA_DIR))
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy(ca, destination / ca.name)


def nobody_home(machine):
    """HOME for the user nobody, who runs the bootstrap without root."""
    home = machine.path("/home/nobody")
    home.mkdir()
    os.chown(home, 65534, 65534)
    return home


def bootstrap(*options, user_env=None):
    """The one command, as a user types it in the project directory, with torchup from this checkout's wheel."""
    return ["sh", f"{DATA_IN_ROOT}/bootstrap.sh", *options], {"HOME": ROOT_HOME, **(user_env or {})}


def loopback_options(index):
    return ("--yes", *TORCH_OPTIONS, "--index-base", index.url + "/whl")


def loopback_env(machine, index):
    return {"TORCHUP_SPEC": machine.wheel, "PIP_INDEX_URL": index.url + "/pypi"}


def bootstrap_lines(output):
    return [line for line in output.splitlines() if line.startswith("torchup-bootstrap: ")]


def installed(machine, package):
    return machine.run(["dpkg-query", "-W", "-f", "${Status}", package]).stdout == "install ok installed"


def test_no_python_to_a_verified_torch_then_again_changes_nothing(machine, loopback_index):
    ca = proxy_root_ca()
    if ca is not None:  # as a corporate image carries it
        place_site_ca(machine, ca)
    argv, env = bootstrap(*loopback_options(loopback_index), user_env=loopback_env(machine, loopback_index))
    first = machine.run(argv, env, cwd=PROJECT)
    assert first.returncode == 0, first.stdout[-6000:]
    lines = bootstrap_lines(first.stdout)
    assert lines[0].startswith("torchup-bootstrap: [2/5] get Python: none of these will do; this runs: sh -c 'apt-get update -q && ")
    assert "apt-get install -y -q python3 python3-venv ca-certificates" in lines[0]
    assert lines[1].startswith("torchup-bootstrap: [1/5] find Python: took /usr/bin/python3: Python 3.11, OpenSSL 3.")
    assert f"torchup-bootstrap: [3/5] install torchup: a venv of its own, {TOOL_VENV}, from /usr/bin/python3; torchup from {machine.wheel}" in lines
    assert f"torchup-bootstrap: [3/5] install torchup: launcher {LAUNCHER}" in lines
    assert (
        f'torchup-bootstrap: [3/5] install torchup: {ROOT_HOME}/.local/bin is not on PATH; to run torchup by name: export PATH="{ROOT_HOME}/.local/bin:$PATH"'
        in lines
    )
    assert f"torchup-bootstrap: [4/5] torchup install: torchup install --venv .venv --yes {' '.join(loopback_options(loopback_index)[1:])}" in lines
    assert "[2/4] plan: torch 2.13.0+cpu from " + loopback_index.url + "/whl/cpu" in first.stdout
    assert f"torchup doctor: {PROJECT}/.venv/bin/python (torch 2.13.0+cpu)" in first.stdout
    assert "✓ tutorial.autograd  autograd: d/dx mean(3 (x + 2)^2) at ones(2, 2) is 4.5" in first.stdout
    assert re.search(r"^\d+ passed, \d+ skipped in [\d.]+ s: OK$", first.stdout, re.MULTILINE)
    assert lines[-1] == f"torchup-bootstrap: changed: Python (package manager), torchup's venv {TOOL_VENV}, launcher {LAUNCHER}, the target .venv"
    assert installed(machine, "python3-venv") and installed(machine, "ca-certificates")
    if ca is not None:  # the ca-certificates that apt-get installed took the site's CA into the store pip is given
        assert ca.read_text().strip() in machine.path("/etc/ssl/certs/ca-certificates.crt").read_text()
    assert os.readlink(machine.path(LAUNCHER)) == TOOL_VENV + "/bin/torchup"
    checked = machine.run([PROJECT + "/.venv/bin/python", "-c", "import torch, numpy, scipy; print(torch.__version__)"])
    assert checked.stdout.strip() == "2.13.0+cpu", checked.stdout

    before = machine.snapshot(ROOT_HOME, "/var/lib/dpkg", "/usr/lib/python3.11")
    again = machine.run(argv, env, cwd=PROJECT)
    assert again.returncode == 0, again.stdout[-6000:]
    lines = bootstrap_lines(again.stdout)
    assert lines[0].startswith("torchup-bootstrap: [1/5] find Python: took /usr/bin/python3")
    assert f"torchup-bootstrap: [3/5] install torchup: {TOOL_VENV} already holds torchup from {machine.wheel}: unchanged" in lines
    assert f"torchup-bootstrap: [3/5] install torchup: launcher {LAUNCHER}: unchanged" in lines
    assert "already there and verify: nothing to do" in again.stdout
    assert lines[-1] == f"torchup-bootstrap: nothing changed: Python, torchup ({TOOL_VENV}) and the target (.venv) were already in place"
    assert machine.snapshot(ROOT_HOME, "/var/lib/dpkg", "/usr/lib/python3.11") == before


def test_no_terminal_and_no_yes_is_a_refusal(machine):
    argv, env = bootstrap()
    refused = machine.run(argv, env, cwd=PROJECT)
    assert refused.returncode == 1
    last = refused.stdout.strip().splitlines()[-1]
    assert last.startswith("torchup-bootstrap: [2/5] get Python failed: it would run 'apt-get update -q && ")
    assert last.endswith(f"but there is no terminal to ask; next: {AGAIN} --yes (or with TORCHUP_YES=1)")
    assert not installed(machine, "python3")
    assert list(machine.path(ROOT_HOME).iterdir()) == [machine.path(PROJECT)] and not any(machine.path(PROJECT).iterdir())


def test_not_root_and_no_python_is_one_line(machine):
    home = nobody_home(machine)
    os.chown(machine.path(PROJECT), 65534, 65534)
    result = machine.run(["sh", f"{DATA_IN_ROOT}/bootstrap.sh", "--yes"], {"HOME": "/home/nobody"}, user="65534:65534", cwd=PROJECT)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "torchup-bootstrap: [2/5] get Python failed: no Python >= 3.9 with ssl and venv: not root, and no sudo, and no uv (nor a pip to get it with) "
        "to get one; next: as root: apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 python3-venv ca-certificates, "
        f"then {AGAIN} --yes"
    ]
    assert not any(home.iterdir()) and not any(machine.path(PROJECT).iterdir())


def test_a_failing_step_removes_the_venvs_it_made(machine, loopback_index):
    """The loopback index stops once torchup has planned: installing torch fails."""
    argv, env = bootstrap(*loopback_options(loopback_index), user_env=loopback_env(machine, loopback_index))
    with machine.start(argv, env, cwd=PROJECT) as run:
        output = []
        for line in run.stdout:
            output.append(line)
            if line.startswith("[2/4] plan: torch 2.13.0+cpu"):
                loopback_index.close()
        assert run.wait(timeout=600) == 1, "".join(output)[-6000:]
    lines = bootstrap_lines("".join(output))
    assert any(line.startswith("torchup-bootstrap: [1/5] find Python: took /usr/bin/python3") for line in lines)
    last = lines[-1]
    assert last.startswith("torchup-bootstrap: [4/5] torchup install failed: installing torch 2.13.0+cpu failed"), last
    assert last.endswith(f"; removed .venv {LAUNCHER} {TOOL_VENV}; next: {AGAIN} {' '.join(loopback_options(loopback_index))}")
    assert not machine.path(PROJECT + "/.venv").exists() and not machine.path(TOOL_VENV).exists() and not machine.path(LAUNCHER).is_symlink()


def test_from_a_checkout_options_reach_torchup_install_and_torchup_yes_stands_for_yes(machine, loopback_index):
    """Run from a copy of the repository, the bootstrap installs torchup from it (built with setuptools
    from the index). TORCHUP_YES=1 lets apt-get run; --venv and --with go to torchup install, whose pip
    then finds no torchvision on the loopback index: that step fails, and all made before it is removed."""
    checkout = "/srv/checkout"
    copy_sources(machine.path(checkout))
    target = ROOT_HOME + "/envs/torch"
    options = ("--venv", target, "--with", "torchvision", *TORCH_OPTIONS, "--index-base", loopback_index.url + "/whl")
    env = {"HOME": ROOT_HOME, "TORCHUP_YES": "1", "PIP_INDEX_URL": loopback_index.url + "/pypi"}
    result = machine.run(["sh", f"{checkout}/installer/bootstrap.sh", *options], env, cwd=PROJECT)
    assert result.returncode == 1, result.stdout[-6000:]
    lines = bootstrap_lines(result.stdout)
    assert installed(machine, "python3-venv")
    assert f"torchup-bootstrap: [3/5] install torchup: a venv of its own, {TOOL_VENV}, from /usr/bin/python3; torchup from {checkout}" in lines
    assert f"torchup-bootstrap: [4/5] torchup install: torchup install --venv {target} --yes {' '.join(options[2:])}" in lines
    assert f"[1/4] detect: {target}/bin/python (a new venv, from {TOOL_VENV}/bin/python)" in result.stdout
    assert "torchvision==" in result.stdout.split("[3/4] install", 1)[1]
    assert lines[-1].startswith("torchup-bootstrap: [4/5] torchup install failed: installing torch 2.13.0+cpu failed: exit status 1: ")
    assert lines[-1].endswith(f"; removed {target} {LAUNCHER} {TOOL_VENV}; next: sh {checkout}/installer/bootstrap.sh {' '.join(options)}")
    assert not machine.path(target).exists() and not machine.path(TOOL_VENV).exists() and not machine.path(LAUNCHER).is_symlink()


def test_python_without_venv_behind_the_proxy_fails_in_one_line_then_works_once_the_site_ca_is_trusted(machine, loopback_index):
    """python3 is there, python3-venv not, and the proxy's root CA is not in the store: the bootstrap
    adds venv support, then stops at the certificate with one line. Once the CA is installed as that
    line says, the same command gets torchup, numpy and scipy from PyPI through the proxy."""
    ca = proxy_root_ca()
    if ca is None:
        pytest.skip("pypi.org's certificate here is signed by a public CA: there is no TLS-inspecting proxy to test against")
    machine.apt_install("python3")
    assert not installed(machine, "python3-venv")
    argv, env = bootstrap("--yes", *TORCH_OPTIONS, "--index-base", loopback_index.url + "/whl", user_env={"TORCHUP_SPEC": machine.wheel})
    refused = machine.run(argv, env, cwd=PROJECT)
    assert refused.returncode == 1, refused.stdout[-6000:]
    lines = bootstrap_lines(refused.stdout)
    assert lines[0] == "torchup-bootstrap: [1/5] find Python: refused /usr/bin/python3: no venv support (ensurepip is missing)"
    assert any(line.startswith("torchup-bootstrap: [1/5] find Python: took /usr/bin/python3:") for line in lines)
    assert installed(machine, "python3-venv")
    assert lines[-1] == (
        "torchup-bootstrap: [3/5] install torchup failed: certificate verify failed for https://pypi.org/simple/ (self-signed certificate in certificate chain) "
        "with /etc/ssl/certs/ca-certificates.crt: this network's TLS is signed by a root CA this machine does not trust; "
        f"removed {TOOL_VENV}; next: as root, cp SITE-ROOT-CA.crt /usr/local/share/ca-certificates/ && update-ca-certificates "
        f"(or point PIP_CERT and SSL_CERT_FILE at that CA file), then {AGAIN} {' '.join(argv[2:])}"
    )
    assert not machine.path(TOOL_VENV).exists() and not any(machine.path(PROJECT).iterdir())

    place_site_ca(machine, ca)
    machine.run(["update-ca-certificates"]).check_returncode()
    trusted = machine.run(argv, env, cwd=PROJECT)
    assert trusted.returncode == 0, trusted.stdout[-6000:]
    assert "torchup-bootstrap: [3/5] install torchup: pip verifies downloads with the system's CA store, /etc/ssl/certs/ca-certificates.crt (PIP_CERT)" in (
        trusted.stdout
    )
    # torch from the loopback index; numpy and scipy from pip's default index, PyPI, through the proxy.
    assert trusted.stdout.count("Looking in indexes: ") == 1 and f"Looking in indexes: {loopback_index.url}/whl/cpu" in trusted.stdout
    assert "✓ tutorial.autograd" in trusted.stdout


@pytest.mark.parametrize("uv_from", ["PATH", "pip"])
def test_not_root_takes_a_uv_managed_python_from_uvs_mirror(machine, loopback_index, uv_from):
    """Without root, uv gets the Python: a uv on PATH, or uv from the index through the pip of a Python
    that lacks venv support. uv's own mirror variable reaches uv: here it names the loopback index,
    which holds no Python, so uv fails there (a mirror of python-build-standalone would serve one)."""
    env = {"HOME": "/home/nobody", "UV_PYTHON_INSTALL_MIRROR": loopback_index.url + "/python-build-standalone"}
    if uv_from == "PATH":
        from uv import find_uv_bin

        shutil.copy(find_uv_bin(), machine.path("/usr/local/bin/uv"))
        uv = "/usr/local/bin/uv"
    else:
        machine.apt_install("python3", "python3-pip")
        env["PIP_INDEX_URL"] = loopback_index.url + "/pypi"
    nobody_home(machine)
    result = machine.run(["sh", f"{DATA_IN_ROOT}/bootstrap.sh", "--yes"], env, user="65534:65534")
    assert result.returncode == 1, result.stdout
    lines = bootstrap_lines(result.stdout)
    if uv_from == "pip":
        assert lines[0] == "torchup-bootstrap: [1/5] find Python: refused /usr/bin/python3: no venv support (ensurepip is missing)"
        getting_uv = next(line for line in lines if " uv from PyPI with " in line)
        assert getting_uv.startswith("torchup-bootstrap: [2/5] get Python: not root, and no sudo; uv from PyPI with /usr/bin/python3's pip: ")
        uv = getting_uv.rsplit(" --target ", 1)[1].split()[0] + "/bin/uv"
    asking = f"torchup-bootstrap: [2/5] get Python: not root, and no sudo; a uv-managed Python: {uv} python install 3.12 (uv's mirror: UV_PYTHON_INSTALL_MIRROR={env['UV_PYTHON_INSTALL_MIRROR']})"
    assert asking in lines
    assert f"Failed to download `{env['UV_PYTHON_INSTALL_MIRROR']}/" in result.stdout, "uv did not ask the mirror"
    assert lines[-1] == (
        "torchup-bootstrap: [2/5] get Python failed: uv python install 3.12 failed (its output is above); "
        f"next: set UV_PYTHON_INSTALL_MIRROR to a mirror of python-build-standalone, then {AGAIN} --yes"
    )


def test_an_air_gapped_machine_given_a_bundle(machine, wheelhouse, tmp_path):
    """Python is there; torch, numpy and scipy come from a bundle, torchup and its dependencies from a
    folder of wheels that pip's configuration names; the machine reaches nothing at all."""
    from tests.test_bundle import RealBundle

    made = RealBundle(tmp_path / "connected", wheelhouse)
    try:
        bundled = made.make()
    finally:
        made.index.close()
    assert bundled.returncode == 0, bundled.stderr
    machine.apt_install("python3", "python3-venv")
    shutil.copytree(made.out, machine.path("/srv/bundle"))
    shutil.copytree(BOOTSTRAP_WHEELS, machine.path(DATA_IN_ROOT + "/wheels"))
    air_gapped_pip = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": DATA_IN_ROOT + "/wheels"}
    argv, env = bootstrap("--yes", "--bundle=/srv/bundle", user_env={"TORCHUP_SPEC": machine.wheel, **air_gapped_pip})
    result = machine.run(argv, env, cwd=PROJECT, network=False)
    assert result.returncode == 0, result.stdout[-6000:]
    lines = bootstrap_lines(result.stdout)
    assert lines[:2] == [
        "torchup-bootstrap: [1/5] find Python: took /usr/bin/python3: " + lines[0].split(": ", 3)[-1],
        "torchup-bootstrap: [2/5] get Python: not needed",
    ]
    assert "torchup-bootstrap: [4/5] torchup install: torchup install --venv .venv --yes --bundle=/srv/bundle" in lines
    assert "✓ tutorial.autograd" in result.stdout
