"""Faults, as they happen to users: code in the current directory, credentials in URLs, bad input,
SIGTERM and SIGKILL mid-install, two installs at once, a read-only target, a corrupt wheel."""

import base64
import hashlib
import http.server
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import MACHINE_TEMP, REPO, isolated_env, make_venv, serve_download_and_pypi
from tests.test_install_e2e import VENV_SITE, user_env
from torchup.diagnostics import probe
from torchup.installer.redact import redact, redact_document, secret_name

PY = "cp%d%d" % sys.version_info[:2]


def torchup(*args, env=None, cwd=REPO, timeout=600):
    return subprocess.run([sys.executable, "-m", "torchup", *args], capture_output=True, text=True, env=env or isolated_env(), cwd=cwd, timeout=timeout)


# --- no code from the current directory ------------------------------------------------------


@pytest.fixture
def booby_trapped(tmp_path):
    """A directory whose json.py, pip/ and sitecustomize.py would leave a mark if anything imported them."""
    trap = tmp_path / "trap"
    (trap / "pip").mkdir(parents=True)
    marks = tmp_path / "marks"
    marks.mkdir()
    payload = f"import os\nopen(os.path.join({str(marks)!r}, __name__ + '.' + str(os.getpid())), 'w').close()\n"
    for name in ("json.py", "sitecustomize.py", "pip/__init__.py", "pip/__main__.py"):
        (trap / name).write_text(payload)
    return trap, marks


def test_no_command_runs_code_from_the_current_directory(booby_trapped, tmp_path, torch_python):
    trap, marks = booby_trapped
    target = make_venv(tmp_path / "target")
    env = isolated_env(PIP_CONFIG_FILE=os.devnull)
    script = str(Path(sys.executable).parent / "torchup")  # as users run it: the installed command
    for argv in (
        [script, "detect", "--json"],
        [sys.executable, "-m", "torchup", "detect", "--json"],
        [script, "detect", "--json", "--python", str(target)],
        [script, "plan", "--offline", "--json", "--python", str(target)],
        [script, "fix", "--json", "--python", str(target)],
        [script, "install", "--dry-run", "--python", str(target), "--offline", "--no-gpu", "--installer", "pip"],
        [script, "doctor", "--python", str(torch_python), "--json", "install.import", "tutorial.ones"],
    ):
        result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=trap, timeout=600)
        assert result.returncode in (0, 1), (argv, result.stderr)
        assert "internal error" not in result.stderr
        assert sorted(os.listdir(marks)) == [], (argv, os.listdir(marks))


# --- credentials ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, shown",
    [
        ("https://user:secret@host/whl", "https://****@host/whl"),
        ("https://user:p@ss/w0rd@mirror.example:8443/simple", "https://****@mirror.example:8443/simple"),
        ("https_proxy=user:secret@proxy.example:3128", "https_proxy=****@proxy.example:3128"),
        ("PIP_PROXY=bob:pw@10.0.0.1:8080", "PIP_PROXY=****@10.0.0.1:8080"),
        ("HTTPS_PROXY = user:secret@[::1]:3128", "HTTPS_PROXY = ****@[::1]:3128"),
        ("index-url = https://user:pa\"ss'w@host/simple", "index-url = https://****@host/simple"),
        ('{"index_url": "https://user:two \\"quoted\\" words@host/whl"}', '{"index_url": "https://****@host/whl"}'),
        ("{'proxy': 'user:two words@[fe80::1]:3128'}", "{'proxy': '****@[fe80::1]:3128'}"),
        ('{"index_url": "https://tok@h/whl/cpu"}', '{"index_url": "https://****@h/whl/cpu"}'),
        ("alice@example.com and git@github.com:org/repo", "alice@example.com and git@github.com:org/repo"),
        # A variable whose name says it holds a secret, however it is written.
        ("TORCH_TOKEN=hf_s3cret torchrun", "TORCH_TOKEN=**** torchrun"),
        ("export HF_TOKEN='hf s3cret'", "export HF_TOKEN='****'"),
        ('{"env.TORCH_TOKEN": "hf_s3cret", "key": "env.NCCL_IB_HCA"}', '{"env.TORCH_TOKEN": "****", "key": "env.NCCL_IB_HCA"}'),
        ("{'HF_TOKEN': 'hf_s3cret', 'AWS_SECRET_ACCESS_KEY': 'a/b+c'}", "{'HF_TOKEN': '****', 'AWS_SECRET_ACCESS_KEY': '****'}"),
        ('"evidence": "DB_PASSWORD=\\"two words\\" left"', '"evidence": "DB_PASSWORD=\\"****\\" left"'),
        ("MY_CREDENTIALS: abc;PASSWD=x", "MY_CREDENTIALS: ****;PASSWD=****"),
        ("--expect KEY=VALUE, $HF_TOKEN, env.TORCH_TOKEN: (unset)", "--expect KEY=VALUE, $HF_TOKEN, env.TORCH_TOKEN: (unset)"),
    ],
)
def test_redaction(text, shown):
    assert redact(text) == shown
    # The kit keeps its own copy of the rule (it imports nothing of the tool): the two must agree.
    assert probe.redact(text) == shown


def test_secret_variables_are_masked_in_documents():
    document = {"facts": {"env.TORCH_TOKEN": "hf_s3cret", "env.NCCL_IB_HCA": "mlx5", "key": "kept"}, "HF_TOKEN": "x", "UNSET_TOKEN": None, "log": ["A_KEY=1"]}
    shown = {"facts": {"env.TORCH_TOKEN": "****", "env.NCCL_IB_HCA": "mlx5", "key": "kept"}, "HF_TOKEN": "****", "UNSET_TOKEN": None, "log": ["A_KEY=****"]}
    assert redact_document(document) == shown and probe.redact_document(document) == shown
    assert [name for name in ("HF_TOKEN", "api_key", "DB_PASSWD", "AZURE_CREDENTIAL", "MY_SECRET", "NCCL_IB_HCA") if secret_name(name)] == [
        "HF_TOKEN", "api_key", "DB_PASSWD", "AZURE_CREDENTIAL", "MY_SECRET"
    ]  # fmt: skip


class AuthIndex:
    """A PEP 503 index on 127.0.0.1 that answers only with the right basic-auth credentials."""

    def __init__(self, root: Path, user: str, password: str):
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.seen = []
        seen = self.seen

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):
                seen.append(self.headers.get("Authorization"))
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="whl"')
                    self.end_headers()
                    return
                super().do_GET()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_an_index_with_credentials_is_confirmed_and_the_secret_never_shown(tmp_path):
    page = tmp_path / "served" / "whl" / "cpu" / "torch"
    page.mkdir(parents=True)
    (page / "index.html").write_text(f'<a href="torch-2.13.0%2Bcpu-{PY}-{PY}-manylinux_2_28_x86_64.whl">x</a>\n')
    server = AuthIndex(tmp_path / "served", "ci", "s3cr/et@42")
    try:
        base = f"http://ci:s3cr/et@42@127.0.0.1:{server.port}/whl"
        env = isolated_env(PIP_CONFIG_FILE=os.devnull)
        plan = torchup("plan", "--json", "--python", sys.executable, "--torch", "2.13", "--no-gpu", "--index-base", base, env=env)
        assert plan.returncode == 0, plan.stderr
        data = json.loads(plan.stdout)
        assert data["confirmed"] == "index"
        assert data["index_url"] == f"http://****@127.0.0.1:{server.port}/whl/cpu"
        text = torchup("plan", "--python", sys.executable, "--torch", "2.13", "--no-gpu", "--index-base", base, env=env)
        dry = torchup("install", "--dry-run", "--python", sys.executable, "--torch", "2.13", "--no-gpu", "--index-base", base, env=env)
        from_variable = torchup("plan", "--python", sys.executable, "--torch", "2.13", "--no-gpu", env=dict(env, TORCHUP_INDEX_BASE=base))
        for result in (plan, text, dry, from_variable):
            assert "s3cr" not in result.stdout + result.stderr
        assert "s3cr" not in str(server.seen)  # sent as basic auth, which the server decoded
        missing = torchup("plan", "--python", sys.executable, "--torch", "2.12", "--no-gpu", "--index-base", base, env=env)
        assert missing.returncode == 2 and "s3cr" not in missing.stderr and "****@" in missing.stderr
    finally:
        server.close()


# --- bad input: exit 2, one line (and a hint), never a traceback ----------------------------------

BAD_INPUT = [
    (["plan", "--offline", "--no-gpu", "--index-base", "not a url"], "torchup: error: --index-base not a url: not an http(s) or file URL"),
    (["--timeout", "nan", "detect"], "torchup: error: Invalid value for '--timeout': 'nan': give a number of seconds from 0.1 to 86400"),
    (["--timeout", "inf", "detect"], "torchup: error: Invalid value for '--timeout': 'inf': give a number of seconds from 0.1 to 86400"),
    (["doctor", "--check-timeout", "inf"], "torchup: error: Invalid value for '--check-timeout': 'inf'"),
    (["plan", "--offline", "--no-gpu", "--torch", "2." + "7" * 100000], "torchup: error: --torch 2.777777777777777777…: 100002 characters"),
    (["plan", "--offline", "--no-gpu", "--python-version", "3." + "1" * 5000], "torchup: error: --python-version 3.111111111111111111…"),
    (["install", "--dry-run", "--venv", "/tmp/" + "v" * 5000, "--no-gpu"], "torchup: error: --venv /tmp/vvvv"),
    (["doctor", "--junit", "/no/such/dir/report.xml"], "torchup: error: Invalid value for --junit: /no/such/dir/report.xml: its directory does not exist"),
    (["plan", "--bogus"], "torchup: error: No such option '--bogus'"),
    (["doctor", "--python", "/bin/true"], "torchup: error: --python /bin/true: not a Python interpreter torchup can use"),
]


@pytest.mark.parametrize("argv, first_line", BAD_INPUT, ids=[" ".join(a)[:40] for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2(argv, first_line, tmp_path):
    result = torchup(*argv, env=isolated_env(PIP_CONFIG_FILE=os.devnull))
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert lines[0].startswith(first_line), lines
    assert len(lines) <= 2 and all(line.startswith("  hint: ") for line in lines[1:]), lines
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


@pytest.mark.parametrize(
    "source, said",
    [
        ("def broken(:\n", "SyntaxError (line 1)"),
        ("raise RuntimeError('boom')\n", "RuntimeError: boom"),
        ("import sys\nsys.exit(0)\n", "SystemExit: 0"),
    ],
)
def test_an_extra_checks_file_that_fails_is_bad_input(source, said, tmp_path):
    extra = tmp_path / "extra.py"
    extra.write_text(source)
    result = torchup("doctor", "--extra-checks", str(extra), "--list-checks")
    assert result.returncode == 2
    assert result.stderr.startswith(f"torchup: error: --extra-checks {extra}: {said}")


def test_errors_from_variables_name_the_variable():
    result = torchup("plan", "--offline", "--no-gpu", env=isolated_env(TORCHUP_VARIANT="cu999"))
    assert result.returncode == 2
    assert result.stderr.startswith("torchup: error: TORCHUP_VARIANT=cu999: not a build torchup knows")
    timeout = torchup("detect", env=isolated_env(TORCHUP_TIMEOUT="nan"))
    assert timeout.returncode == 2 and timeout.stderr.startswith("torchup: error: Invalid value for TORCHUP_TIMEOUT")


# --- the install transaction ------------------------------------------------------------------


def tree_digest(*directories):
    """Every file's path and content, and every link's target, under ``directories``."""
    digest = hashlib.sha256()
    for directory in directories:
        for root, dirs, files in os.walk(directory):
            dirs.sort()
            for name in sorted(files) + sorted(d for d in dirs if os.path.islink(os.path.join(root, d))):
                path = os.path.join(root, name)
                digest.update(path.encode())
                if os.path.islink(path):
                    digest.update(os.readlink(path).encode())
                else:
                    with open(path, "rb") as handle:
                        digest.update(handle.read())
    return digest.hexdigest()


@pytest.fixture
def venv_in_use(tmp_path, wheelhouse):
    """An existing venv with numpy and a script of its own in bin/ and a data file in share/."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheelhouse), "numpy"], check=True)
    (venv / "share" / "man").mkdir(parents=True)
    (venv / "share" / "man" / "mine.1").write_text("mine\n")
    return venv


def installer_processes(venv):
    """Processes whose command line names the venv: an installer left running."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    line = handle.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(venv) in line and "pytest" not in line:
                found.append(line)
    return found


def install_argv(venv, indexes, *extra):
    """`torchup install` into ``venv`` with pip, from the loopback index ``indexes``."""
    return ["install", "--python", str(venv / "bin/python"), "--installer", "pip", "--index-base", indexes.url + "/whl", "--no-gpu", "--yes", *extra]


def install_now(venv, indexes, *extra):
    return torchup(*install_argv(venv, indexes, *extra), env=user_env(indexes.url + "/pypi"))


def start_install(venv, indexes, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "torchup", *install_argv(venv, indexes, *extra)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=user_env(indexes.url + "/pypi"),
        cwd=REPO,
    )


def wait_for_torch_files(venv, process):
    torch_dir = venv / VENV_SITE / "torch"
    deadline = time.monotonic() + 300
    while not torch_dir.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert torch_dir.exists(), "pip never started writing torch"


def test_the_tests_keep_to_a_temporary_directory_of_their_own(temp_of_the_test):
    """What another process on the machine does in the shared temporary directory changes no result."""
    seen = subprocess.run([sys.executable, "-c", "import tempfile; print(tempfile.gettempdir())"], capture_output=True, text=True, env=isolated_env())
    assert seen.stdout.strip() == tempfile.gettempdir() == str(temp_of_the_test) != MACHINE_TEMP


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_mid_install_puts_everything_back(stop, indexes, venv_in_use, temp_of_the_test):
    venv = venv_in_use
    parts = [venv / VENV_SITE, venv / "bin", venv / "share"]
    before = tree_digest(*parts)
    process = start_install(venv, indexes)
    wait_for_torch_files(venv, process)
    # Another pip on the machine, unpacking a wheel in the shared temporary directory meanwhile.
    neighbour = Path(tempfile.mkdtemp(prefix="pip-unpack-", dir=MACHINE_TEMP))
    try:
        process.send_signal(stop)
        out, err = process.communicate(timeout=120)
    finally:
        neighbour.rmdir()
    assert process.returncode == 1, err
    assert f"torchup: error: stopped by {stop.name}: the target was left as it was" in err
    assert tree_digest(*parts) == before
    assert installer_processes(venv) == []
    assert not list(venv.glob("lib/python*/.site-packages.torchup*")) and not list(venv.glob(".bin.torchup*"))
    assert list(temp_of_the_test.iterdir()) == []  # pip was let clean up: nothing of this install is left in the test's temporary directory


def start_install_into(venv, indexes, *extra, target="--python"):
    argv = install_argv(venv, indexes, *extra)
    if target == "--venv":  # a venv to create: named as a directory
        argv[1:3] = ["--venv", str(venv)]
    return subprocess.Popen(
        [sys.executable, "-m", "torchup", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=user_env(indexes.url + "/pypi"), cwd=REPO
    )


def finish(process):
    out, err = process.communicate(timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def kill_when(process, *said, first=None):
    """SIGKILL ``process`` as soon as its progress shows every text in ``said`` (after ``first``, a
    signal sent once the first of them shows, as a CI cancel would); its output until then."""
    seen = []
    for line in process.stderr:
        seen.append(line)
        if first and said[0] in line and first is not True:
            process.send_signal(first)
            first = True
            said = said[1:]
            continue
        if said[0] in line:
            said = said[1:]
            if not said:
                process.kill()
                break
    process.communicate(timeout=120)
    return "".join(seen)


def no_leftovers(venv):
    return [str(p) for p in venv.rglob("*") if ".torchup-" in p.name] + ([".torchup"] if (venv / ".torchup").exists() else [])


# Where a whole `torchup install` is killed (SIGKILL), as its progress shows it; the target: a
# venv being created, or one in use. The next run ends in the exact previous state (its own
# install fails: the torch file is gone from the index) and the one after in the verified install.
KILLED = {
    "creating the venv": (("-m venv",), None, "--venv"),
    "installing": (("[3/4] install", "$ ", "Collecting torch"), None, "--python"),
    "verifying": (("[4/4] verify",), None, "--python"),
    "restoring": (("Collecting torch", "putting the target back"), signal.SIGTERM, "--python"),
}


@pytest.mark.parametrize("point", list(KILLED))
def test_a_run_killed_at_any_point_costs_nothing(point, indexes, venv_in_use, tmp_path):
    said, first, target = KILLED[point]
    venv = venv_in_use if target == "--python" else tmp_path / "new-venv"
    parts = [venv / VENV_SITE, venv / "bin", venv / "share"]
    before = tree_digest(*parts)
    output = kill_when(start_install_into(venv, indexes, target=target), *said, first=first)
    deadline = time.monotonic() + 30
    while installer_processes(venv) and time.monotonic() < deadline:  # the installer was told to stop when torchup died
        time.sleep(0.1)
    assert installer_processes(venv) == [], output
    assert (venv / ".torchup" / "journal.json").exists(), output
    dry = finish(start_install_into(venv, indexes, "--dry-run", target=target))
    assert dry.returncode == 0 and "the next install puts the target right first" in dry.stderr, dry.stderr  # a dry run changes nothing
    assert (venv / ".torchup" / "journal.json").exists()

    torch_files = list((indexes.root / "files").glob("torch-*.whl"))
    held = tmp_path / "held"
    held.mkdir()
    for wheel in torch_files:
        wheel.rename(held / wheel.name)
    following = finish(start_install_into(venv, indexes, target=target))
    assert "was killed mid-install: the target was put back as it was before it" in following.stderr, following.stderr
    assert following.returncode == 1, following.stderr
    assert tree_digest(*parts) == before  # the exact previous state
    assert no_leftovers(venv) == []

    for wheel in torch_files:
        (held / wheel.name).rename(wheel)
    good = finish(start_install_into(venv, indexes, target=target))
    assert good.returncode == 0, good.stderr
    installed = tree_digest(*parts)
    third = finish(start_install_into(venv, indexes, target=target))
    assert third.returncode == 0 and "already there and verify: nothing to do" in third.stderr, third.stderr
    assert tree_digest(*parts) == installed and no_leftovers(venv) == []


def test_two_installs_into_one_venv_take_turns(indexes, venv_in_use):
    venv = venv_in_use
    first = start_install(venv, indexes)
    wait_for_torch_files(venv, first)
    refused = install_now(venv, indexes, "--no-wait")
    assert refused.returncode == 1
    assert f"another torchup run (pid {first.pid}) is installing into {venv}" in refused.stderr
    second = start_install(venv, indexes)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err
    assert "waiting: another torchup run" in err or "already there and verify" in err


def test_a_read_only_target_is_refused_before_anything_changes(tmp_path, indexes):
    venv = tmp_path / "venv"
    make_venv(venv)
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(venv), str(venv)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot make a read-only bind mount here: {mounted.stderr.strip()}")
    try:
        result = install_now(venv, indexes)
        assert result.returncode in (1, 2), result.stderr
        assert "internal error" not in result.stderr
        assert "read-only" in result.stderr or "Read-only" in result.stderr
    finally:
        subprocess.run(["umount", str(venv)], check=True)
    assert not list(venv.parent.glob(".*torchup*")) and not list(venv.glob("lib/python*/.*torchup*"))


def test_a_corrupt_wheel_is_named_with_the_installers_own_words(local_index, wheelhouse, venv_in_use):
    wheels = sorted(wheelhouse.glob("*.whl"))
    serve_download_and_pypi(local_index, wheels, skip_files=[w.name for w in wheels if w.name.startswith("torch-")])
    torch_wheel = next(w for w in wheels if w.name.startswith("torch-"))
    (local_index.root / "files" / torch_wheel.name).write_bytes(b"PK\x03\x04 not a zip at all")
    before = tree_digest(venv_in_use / VENV_SITE)
    result = install_now(venv_in_use, local_index, "--json")
    assert result.returncode == 1
    message = result.stderr.splitlines()[-2] if "hint" in result.stderr.splitlines()[-1] else result.stderr.splitlines()[-1]
    assert message.startswith("torchup: error: installing torch 2.13.0+cpu failed: exit status 1: ")
    assert "Looking in indexes" not in message and "Using Python" not in message
    assert json.loads(result.stdout)["status"] == "failed"  # --json says so on stdout too
    assert tree_digest(venv_in_use / VENV_SITE) == before


def test_a_dry_run_names_every_step_and_changes_nothing(tmp_path):
    mount_point = tmp_path / "mount-point"
    mount_point.mkdir()
    env = isolated_env(PIP_CONFIG_FILE=os.devnull)
    into_empty = torchup("install", "--dry-run", "--venv", str(mount_point), "--offline", "--no-gpu", "--installer", "pip", env=env)
    assert into_empty.returncode == 0, into_empty.stderr
    assert f"would run: {sys.executable} -I -m venv {mount_point}" in into_empty.stderr
    assert mount_point.is_dir() and list(mount_point.iterdir()) == []  # still there, still empty
    without_pip = make_venv(tmp_path / "no-pip", with_pip=False)
    dry = torchup("install", "--dry-run", "--python", str(without_pip), "--offline", "--no-gpu", "--installer", "pip", env=env)
    assert f"would run: {without_pip} -m ensurepip --upgrade --default-pip" in dry.stderr
