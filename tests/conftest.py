import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import venv
from pathlib import Path
from typing import Optional

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
COLLECTED = FIXTURES / "collected"
H100 = FIXTURES / "nvidia-h100-driver-580"
# The machine's temporary directory, shared with every other process there; the tests use their own (below).
MACHINE_TEMP = tempfile.gettempdir()
# Hypothesis reports a failing example in full; a database of them in the checkout is one more thing left behind.
settings.register_profile("torchup", database=None)
settings.load_profile("torchup")


def fixture_text(relative: str) -> str:
    return (FIXTURES / relative).read_text(encoding="utf-8")


def write_tool(directory: Path, name: str, script: str) -> Path:
    """An executable ``name`` in ``directory`` running the given Python script with this interpreter."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(script), encoding="utf-8")
    path.chmod(0o755)
    return path


def replay_tool(directory: Path, name: str, responses: dict, default_exit: int = 0) -> Path:
    """A fake tool that answers argv patterns with recorded output.

    ``responses`` maps the arguments joined by spaces (or ``"*"`` for anything else) to
    ``(fixture path or literal text, exit status, stream)``. Each call is logged to ``<name>.calls``.
    """
    table = {}
    for key, (source, status, stream) in responses.items():
        text = fixture_text(source) if (FIXTURES / source).is_file() else source
        table[key] = (text, status, stream)
    script = f"""
    import json, sys
    table = {table!r}
    with open({str(directory / (name + ".calls"))!r}, "a") as log:
        log.write(json.dumps(sys.argv[1:]) + "\\n")
    key = " ".join(sys.argv[1:])
    text, status, stream = table.get(key, table.get("*", ("", {default_exit}, "stdout")))
    (sys.stdout if stream == "stdout" else sys.stderr).write(text)
    sys.exit(status)
    """
    return write_tool(directory, name, script)


def calls(directory: Path, name: str):
    log = directory / (name + ".calls")
    if not log.exists():
        return []
    import json

    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def fake_root(tmp_path):
    """A directory standing in for /, with helpers to place files in it."""

    class Root:
        path = tmp_path / "root"

        def put(self, absolute: str, text: str) -> Path:
            target = self.path / absolute.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            return target

        def put_fixture(self, absolute: str, fixture: str) -> Path:
            return self.put(absolute, fixture_text(fixture))

    Root.path.mkdir()
    return Root()


@pytest.fixture
def tool_dir(tmp_path):
    directory = tmp_path / "bin"
    directory.mkdir()
    return directory


def _use_temp(directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``directory`` as the temporary directory of this process and of every process it starts
    (torchup, and the pip and uv it runs, which unpack wheels there)."""
    monkeypatch.setenv("TMPDIR", str(directory))
    monkeypatch.setattr(tempfile, "tempdir", str(directory))


@pytest.fixture(scope="session", autouse=True)
def temp_of_the_run(tmp_path_factory):
    """The run's temporary directory and caches, inside pytest's own and removed at the end: nothing
    another process does in the machine's temporary directory changes a result, and nothing of the
    run stays there or in the user's caches. The loopback index has another port each run, and pip
    (XDG_CACHE_HOME) and uv (UV_CACHE_DIR) key what they cache by URL: in the user's caches that
    would be one more torch per run. torchup's runs inherit all three variables."""
    monkeypatch = pytest.MonkeyPatch()
    temp, cache = tmp_path_factory.mktemp("tmp-of-the-run"), tmp_path_factory.mktemp("cache-of-the-run")
    _use_temp(temp, monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("UV_CACHE_DIR", str(cache / "uv"))
    yield temp
    monkeypatch.undo()
    shutil.rmtree(temp, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture(autouse=True)
def temp_of_the_test(tmp_path_factory, monkeypatch):
    """Each test's own temporary directory, beside its tmp_path and removed after it: what an
    installer killed mid-run leaves (pip's pip-unpack-* folders) is that test's to see, and goes."""
    temp = tmp_path_factory.mktemp("tmp")
    _use_temp(temp, monkeypatch)
    yield temp
    shutil.rmtree(temp, ignore_errors=True)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: a connection there is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def isolated_env(path_dirs=(), **extra) -> dict:
    """An environment with only the given PATH entries plus what a Python child needs."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TORCHUP_", "CUDA_", "PYTORCH_", "PIP_"))}
    env["PATH"] = os.pathsep.join([str(p) for p in path_dirs] + ["/usr/bin", "/bin"])
    env.update(extra)
    return env


def make_venv(path: Path, with_pip: bool = True) -> Path:
    """A real venv made from the interpreter running the tests; returns its python."""
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(path)
    python = path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if with_pip:
        # Copy pip in from this interpreter rather than running ensurepip: fast, and offline.
        import pip

        site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
        source = Path(pip.__file__).parent
        shutil.copytree(source, site / "pip")
        for info in source.parent.glob("pip-*.dist-info"):
            shutil.copytree(info, site / info.name)
    return python


def venv_from_wheels(venv: Path, find_links: Path, *requirements: str) -> Path:
    """A venv without pip holding ``requirements``, installed by uv from ``find_links`` alone; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    uv = [sys.executable, "-m", "uv", "pip", "install", "-q", "--python", str(python), "--no-index", "--find-links", str(find_links)]
    subprocess.run(uv + list(requirements), check=True)
    return python


def find_python(version: str):
    """A real interpreter of ``version`` ("2.7", "3.6") from PATH or pyenv, else None."""
    found = shutil.which(f"python{version}")
    candidates = [found] if found else []
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip()
        candidates += sorted(str(p) for p in Path(root, "versions").glob(f"{version}.*/bin/python{version}"))
    for candidate in candidates:
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


class LocalIndex:
    """A PEP 503 index (and PEP 691 JSON, when asked for) served on 127.0.0.1 from a directory."""

    def __init__(self, root: Path):
        import http.server
        import threading

        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        directory = str(root)

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=directory, **kwargs)

            def send_head(self):
                # PEP 691: a client that prefers JSON gets index.json where one exists.
                json_page = Path(self.translate_path(self.path)) / "index.json"
                if "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", "") and json_page.is_file():
                    body = json_page.read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    import io

                    return io.BytesIO(body)
                return super().send_head()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add_listing(self, path: str, filenames, as_json: bool = False, files_dir: Optional[Path] = None):
        """``<path>/index.html`` linking each file (``+`` quoted as the real index does)."""
        from urllib.parse import quote

        page_dir = self.root / path.strip("/")
        page_dir.mkdir(parents=True, exist_ok=True)
        links = "".join(f'<a href="{quote(name)}">{name}</a><br/>\n' for name in filenames)
        (page_dir / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
        if as_json:
            import json

            (page_dir / "index.json").write_text(
                json.dumps({"meta": {"api-version": "1.0"}, "name": "torch", "files": [{"filename": n, "url": quote(n), "hashes": {}} for n in filenames]})
            )
        return page_dir

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def local_index(tmp_path):
    index = LocalIndex(tmp_path / "served")
    yield index
    index.close()


WHEELHOUSE = REPO / "build" / "wheelhouse"


@pytest.fixture(scope="session")
def wheelhouse():
    """Real wheels (the CPU torch, its dependencies, numpy, scipy) that `make test` downloads first."""
    wheels = sorted(WHEELHOUSE.glob("*.whl"))
    if not any(w.name.startswith("torch-") for w in wheels):
        pytest.fail(f"no torch wheel in {WHEELHOUSE}: run the tests with `make test`, which downloads it")
    return WHEELHOUSE


def serve_download_and_pypi(index: "LocalIndex", wheels, skip_files=()):
    """download.pytorch.org's shape under /whl/cpu, and a PyPI mirror of all but torch under /pypi."""
    serve_wheels(index, "whl/cpu", wheels, skip_files)
    serve_wheels(index, "pypi", [w for w in wheels if not w.name.startswith("torch-")])


@pytest.fixture
def indexes(local_index, wheelhouse):
    """Both served from the real wheels, on 127.0.0.1."""
    serve_download_and_pypi(local_index, sorted(wheelhouse.glob("*.whl")))
    return local_index


def serve_wheels(index: "LocalIndex", listing_path: str, wheels, skip_files=()):
    """A PEP 503 project page per distribution under ``listing_path``, linking the real files."""
    from packaging.utils import canonicalize_name, parse_wheel_filename

    files = index.root / "files"
    files.mkdir(exist_ok=True)
    by_project = {}
    for wheel in wheels:
        name = canonicalize_name(parse_wheel_filename(wheel.name)[0])
        by_project.setdefault(name, []).append(wheel.name)
        if wheel.name not in skip_files and not (files / wheel.name).exists():
            (files / wheel.name).symlink_to(wheel)
    for project, names in by_project.items():
        page = index.root / listing_path.strip("/") / project
        page.mkdir(parents=True, exist_ok=True)
        from urllib.parse import quote

        links = "".join(f'<a href="/files/{quote(n)}">{n}</a>\n' for n in names)
        (page / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")


TORCH_VENV = REPO / "build" / "torch-venv"
# What the distribution is built from; anything else in the checkout (build/, .venv) stays out.
DISTRIBUTED = ("pyproject.toml", "README.md", "LICENSE", "torchup", "installer", "diagnostics")


def copy_sources(destination: Path) -> Path:
    """A clean copy of what the distribution is built from, as a checkout holds it."""
    destination.mkdir(parents=True)
    for name in DISTRIBUTED:
        origin = REPO / name
        if origin.is_dir():
            shutil.copytree(origin, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif origin.exists():
            shutil.copy(origin, destination / name)
    return destination


def build_wheel(directory: Path) -> Path:
    """torchup's wheel, built from a clean copy of the sources (setuptools would also pack a stale build/lib)."""
    source = copy_sources(directory / "source")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(directory), str(source)], check=True, capture_output=True, timeout=300
    )
    return next(directory.glob("torchup-*.whl"))


@pytest.fixture(scope="session")
def torch_python():
    """A venv holding the CPU torch, numpy and scipy, which `make test` installs with torchup first."""
    python = TORCH_VENV / "bin" / "python"
    if not (TORCH_VENV / ".complete").exists():
        pytest.fail(f"{TORCH_VENV} is not ready: run the tests with `make test`, which installs it")
    return python


def make_wheel(directory: Path, name: str, version: str, requires=(), files=None, tag: str = "py3-none-any") -> Path:
    """A small, real wheel: dist-info with METADATA, WHEEL and RECORD, and the given files."""
    import zipfile

    directory.mkdir(parents=True, exist_ok=True)
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    files = dict(files or {f"{module}/__init__.py": f"__version__ = {version!r}\n"})
    files[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    files[f"{dist_info}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: torchup-tests\nRoot-Is-Purelib: true\nTag: {tag}\n"
    files[f"{dist_info}/RECORD"] = "".join(f"{path},,\n" for path in files) + f"{dist_info}/RECORD,,\n"
    path = directory / f"{module}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path


COMPANION_WHEELS = REPO / "build" / "companion-wheels"


@pytest.fixture(scope="session")
def companion_wheels():
    """Real torchvision wheels beside the CPU torch (0.29.0, 0.28.0, and 0.28.0+cpu where a source had it), which `make test` downloads first."""
    if not (COMPANION_WHEELS / ".complete").exists():
        pytest.fail(f"{COMPANION_WHEELS} is not ready: run the tests with `make test`, which downloads them")
    return COMPANION_WHEELS


def venv_beside_torch(path: Path, torch_python: Path) -> Path:
    """A venv whose site-packages also reads the CPU torch venv's (a .pth line), so a companion can
    be installed beside that torch without a copy of it; returns its python."""
    python = make_venv(path, with_pip=False)
    find = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    own = Path(subprocess.check_output([str(python), "-c", find], text=True).strip())
    torch_site = subprocess.check_output([str(torch_python), "-c", find], text=True).strip()
    (own / "torch-venv.pth").write_text(torch_site + "\n")
    return python
