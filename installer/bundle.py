"""``torchup bundle``: everything an air-gapped machine needs, resolved for that machine, and the
checks ``torchup install --bundle`` makes there before it installs anything.

The plan is made for the target (from ``--os/--arch/--python-version/…`` or a ``detect --json``
file captured there). uv resolves the whole closure with markers evaluated for the target's
platform and Python (``uv pip compile --python-platform``), not this machine's, which ``pip
download --platform`` gets wrong (pypa/pip#13442): a Linux GPU box's CUDA dependencies, all marked
``platform_system == "Linux"``, would be missing from a wheelhouse made on macOS. Each file is
downloaded once, checked against its hash, and listed in ``bundle.json`` with the target's facts
and the plan; ``pylock.toml`` (PEP 751) records the resolution.
"""

import hashlib
import json
import os
import shutil
import time
import urllib.request
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import tomlkit

from . import runner
from .errors import TorchupError
from .plan.index import request_for

MANIFEST = "bundle.json"
DIGEST = "bundle.json.sha256"
SCHEMA = 1
CHUNK = 1024 * 1024


class BundleRefused(TorchupError):
    """A bundle that is damaged, or made for another machine: nothing was installed."""

    exit_code = 1


class Target(NamedTuple):
    """The machine a bundle is for, as the plan and uv need it."""

    os: str  # linux, windows, macos
    arch: str
    python: str  # "3.12"
    glibc: Optional[str]

    def uv_platform(self) -> str:
        """uv's --python-platform for this target."""
        if self.os == "linux":
            glibc = self.glibc if self.glibc and tuple(map(int, self.glibc.split("."))) >= (2, 17) else "2.28"
            return f"{self.arch}-manylinux_{glibc.replace('.', '_')}"
        if self.os == "windows":
            return "x86_64-pc-windows-msvc" if self.arch == "x86_64" else "aarch64-pc-windows-msvc"
        return "aarch64-apple-darwin" if self.arch == "arm64" else "x86_64-apple-darwin"


class BundledFile(NamedTuple):
    name: str
    package: str
    version: str
    sha256: str
    size: int
    url: str


def overrides_from_detect(document: dict) -> Dict[str, object]:
    """The plan options that describe the machine a ``torchup detect --json`` document was captured on."""
    machine, interpreter = document.get("machine") or {}, document.get("interpreter") or {}
    if not machine or not interpreter:
        raise TorchupError(
            "--from-detect: not a `torchup detect --json` document (no machine or interpreter)", hint="on the target: torchup detect --json > target.json"
        )
    os_name = {"Linux": "linux", "Darwin": "macos", "Windows": "windows"}.get(machine.get("os"), str(machine.get("os")).lower())
    arch = {"amd64": "x86_64", "x64": "x86_64", "arm64": "arm64" if os_name == "macos" else "aarch64"}.get(
        str(machine.get("arch")).lower(), machine.get("arch")
    )
    nvidia = (document.get("accelerators") or {}).get("nvidia") or {}
    amd = (document.get("accelerators") or {}).get("amd") or {}
    gpus = tuple(gpu.get("compute_capability") for gpu in nvidia.get("gpus") or [] if gpu.get("compute_capability"))
    jetson = (nvidia.get("jetson") or {}).get("l4t")
    rocm = tuple(amd.get("architectures") or ())
    return dict(
        os=os_name,
        arch=arch,
        python_version=".".join(str(interpreter.get("version", "")).split(".")[:2]),
        nvidia_driver=nvidia.get("driver_version"),
        gpu_cc=gpus,
        rocm_arch=rocm,
        jetson=jetson,
        no_gpu=not (gpus or nvidia.get("driver_version") or rocm or jetson),
        glibc=machine.get("libc_version") if machine.get("libc") == "glibc" else None,
    )


# --- resolving ---------------------------------------------------------------------------------


def resolve(uv: Tuple[str, ...], requirements: List[str], torch_index: str, default_index: Optional[str], target: Target, work: Path, timeout: float) -> dict:
    """The closure of ``requirements`` for ``target``, as uv writes it in pylock.toml: torch (and its
    companions) from ``torch_index`` only, everything else from ``default_index``."""
    project = tomlkit.document()
    project["project"] = {"name": "torchup-bundle", "version": "0", "dependencies": requirements}
    routed = [name for name in ("torch", "torchvision", "torchaudio") if any(r.startswith(name + "==") for r in requirements)]
    indexes = [{"name": "pytorch", "url": torch_index, "explicit": True}]
    if default_index:
        indexes.append({"name": "default", "url": default_index, "default": True})
    project["tool"] = {"uv": {"sources": {name: {"index": "pytorch"} for name in routed}, "index": indexes}}
    work.mkdir(parents=True, exist_ok=True)
    (work / "pyproject.toml").write_text(tomlkit.dumps(project), encoding="utf-8")
    argv = list(uv) + [
        "pip",
        "compile",
        "pyproject.toml",
        "--python-platform",
        target.uv_platform(),
        "--python-version",
        target.python,
        "--no-header",
        "--quiet",
        "-o",
        "pylock.toml",
    ]
    completed = runner.run(argv, timeout=timeout, cwd=str(work))
    resolved = work / "pylock.toml"
    lock = tomlkit.parse(resolved.read_text(encoding="utf-8")).unwrap() if completed.ok else None
    shutil.rmtree(work, ignore_errors=True)
    if not completed.ok:
        said = [line for line in completed.stderr.splitlines() if line.strip()]
        raise TorchupError(
            f"resolving for {target.uv_platform()}, Python {target.python} failed: {' '.join(said[-3:])[:400] or completed.describe_failure()}",
            hint="check that the index holds these builds for the target: torchup plan with the same options",
        )
    return lock


def files_of(lock: dict) -> List[BundledFile]:
    files = []
    for package in lock.get("packages", []):
        for wheel in package.get("wheels", []):
            url = wheel.get("url") or ""
            files.append(
                BundledFile(
                    url.rsplit("/", 1)[-1].split("#")[0].replace("%2B", "+"),
                    package["name"],
                    str(package["version"]),
                    (wheel.get("hashes") or {}).get("sha256", ""),
                    int(wheel.get("size") or 0),
                    url,
                )
            )
    return files


# --- downloading -------------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _remote_size(url: str, timeout: float) -> int:
    """A file's size from the index, asked before downloading, so progress can say "of how much"."""
    request = request_for(url)
    request.method = "HEAD"
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.headers.get("Content-Length") or 0)
    except (OSError, ValueError):
        return 0


def download(files: List[BundledFile], directory: Path, say: Callable[[str], None], timeout: float) -> List[BundledFile]:
    """Each file into ``directory``, checked against its hash; a file already there and right is kept."""
    done, fetched_bytes, started = [], 0, time.monotonic()
    files = [item if item.size else item._replace(size=_remote_size(item.url, timeout)) for item in files]
    total = sum(f.size for f in files if not ((directory / f.name).exists() and f.sha256 and sha256_of(directory / f.name) == f.sha256))
    for number, item in enumerate(files, 1):
        path = directory / item.name
        if path.exists() and item.sha256 and sha256_of(path) == item.sha256:
            done.append(item._replace(size=path.stat().st_size))
            say(f"  [{number}/{len(files)}] {item.name}: already here, hash checked")
            continue
        partial = path.with_name(path.name + ".part")
        try:
            with urllib.request.urlopen(request_for(item.url), timeout=timeout) as response, open(partial, "wb") as out:
                size = int(response.headers.get("Content-Length") or item.size or 0)
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    fetched_bytes += len(block)
        except (OSError, ValueError) as error:
            partial.unlink(missing_ok=True)
            raise TorchupError(
                f"downloading {item.name} failed: {getattr(error, 'reason', error)}", hint="run the same command again: files already checked are kept"
            ) from None
        found = sha256_of(partial)
        if item.sha256 and found != item.sha256:
            partial.unlink()
            raise TorchupError(
                f"{item.name}: its sha256 is {found}, the index says {item.sha256}: not kept",
                hint="a mirror or proxy changed the file; try again, or another mirror",
            )
        os.replace(partial, path)
        done.append(item._replace(sha256=found, size=path.stat().st_size))
        shown = f"{fetched_bytes / 1e6:.1f} MB" + (f" of {total / 1e6:.1f} MB" if total else "")
        say(f"  [{number}/{len(files)}] {item.name} ({size / 1e6:.1f} MB; {shown} so far)")
    seconds = time.monotonic() - started
    if fetched_bytes:
        say(f"  downloaded {fetched_bytes / 1e6:.1f} MB in {seconds:.1f} s ({fetched_bytes / 1e6 / max(seconds, 1e-6):.1f} MB/s)")
    return done


def write_manifest(directory: Path, target: Target, target_facts: dict, plan_data: dict, files: List[BundledFile], lock: dict) -> Path:
    from . import __version__

    manifest = {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "torchup": __version__,
        "target": dict(target._asdict(), platform=target.uv_platform(), facts=target_facts),
        "plan": {key: plan_data[key] for key in ("torch", "variant", "index_url", "packages", "reason", "release")},
        "files": [f._asdict() for f in files],
    }
    text = json.dumps(manifest, indent=2) + "\n"
    (directory / MANIFEST).write_text(text, encoding="utf-8")
    (directory / DIGEST).write_text(hashlib.sha256(text.encode("utf-8")).hexdigest() + "\n", encoding="utf-8")
    (directory / "pylock.toml").write_text(tomlkit.dumps(lock), encoding="utf-8")
    return directory / MANIFEST


# --- on the target -----------------------------------------------------------------------------


def read_bundle(directory: Path) -> dict:
    """The manifest, after every check a bundle can make of itself: its digest, and each file's hash."""
    manifest_path = directory / MANIFEST
    if not directory.is_dir() or not manifest_path.is_file():
        raise TorchupError(f"--bundle {directory}: not a bundle (no {MANIFEST})", hint="make one on a connected machine: torchup bundle -o DIR")
    text = manifest_path.read_text(encoding="utf-8")
    recorded = (directory / DIGEST).read_text(encoding="utf-8").strip() if (directory / DIGEST).is_file() else None
    if recorded != hashlib.sha256(text.encode("utf-8")).hexdigest():
        raise BundleRefused(
            f"{manifest_path} was changed after the bundle was made (its digest does not match {DIGEST}): nothing was installed",
            hint="make the bundle again: torchup bundle -o DIR",
        )
    try:
        manifest = json.loads(text)
    except ValueError:
        raise BundleRefused(f"{manifest_path} is not JSON: nothing was installed") from None
    for item in manifest["files"]:
        path = directory / item["name"]
        if not path.is_file():
            raise BundleRefused(f"{item['name']} is missing from the bundle: nothing was installed", hint="copy the whole directory, or make the bundle again")
        if sha256_of(path) != item["sha256"]:
            raise BundleRefused(
                f"{item['name']} is damaged (its sha256 is not the bundle's): nothing was installed", hint="copy it again from the machine that made the bundle"
            )
    return manifest


def misfits(manifest: dict, facts, inputs) -> List[str]:
    """Why this machine is not the one the bundle was made for; empty when it is."""
    target = manifest["target"]
    found = []
    interpreter = facts.interpreter
    python = ".".join((interpreter.version or "").split(".")[:2]) if interpreter else None
    if python != target["python"]:
        found.append(f"the bundle is for Python {target['python']}, the target is Python {python}")
    if inputs.os != target["os"] or inputs.arch != target["arch"]:
        found.append(f"the bundle is for {target['os']} {target['arch']}, this machine is {inputs.os} {inputs.arch}")
    if target.get("glibc") and facts.machine.libc == "glibc" and facts.machine.libc_version:
        have = tuple(int(part) for part in facts.machine.libc_version.split(".")[:2])
        need = tuple(int(part) for part in target["glibc"].split(".")[:2])
        if have < need:
            found.append(f"the bundle was resolved for glibc {target['glibc']}, this machine has {facts.machine.libc_version}")
    if not found:
        from .plan.data import Build, load
        from .plan.policy import evaluate, matching_releases

        build = Build.parse(manifest["plan"]["variant"])
        data = load()
        releases = matching_releases(data, manifest["plan"]["release"]["version"]) if build else []
        if build and build.accelerated and releases and inputs.platform in releases[0].platforms:
            candidate = evaluate(releases[0], build, inputs, data)
            if not candidate.accepted:
                found.append(f"the bundle holds torch {manifest['plan']['torch']}, and on this machine {candidate.reason}")
    return found


def find_uv(host) -> Optional[Tuple[str, ...]]:
    import sys
    from importlib.util import find_spec

    found = host.which("uv")
    if found:
        return (found,)
    if find_spec("uv") is not None:
        return (sys.executable, "-m", "uv")
    return None
