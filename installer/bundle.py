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
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple
from urllib.parse import urlsplit

import tomlkit

from . import files, runner
from .errors import TorchupError
from .plan.index import request_for, split_userinfo
from .redact import shortened

MANIFEST = "bundle.json"
DIGEST = "bundle.json.sha256"
SCHEMA = 1
CHUNK = 1024 * 1024


class BundleRefused(TorchupError):
    """A bundle that is damaged, or made for another machine: nothing was installed."""

    exit_code = 1


class BundleFailed(TorchupError):
    """Resolving or downloading failed (the network, the index): the step and the cause in one line."""

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


def overrides_from_detect(document) -> Dict[str, object]:
    """The plan options that describe the machine a ``torchup detect --json`` document was captured on."""

    def section(parent, key) -> dict:
        value = parent.get(key) if isinstance(parent, dict) else None
        return value if isinstance(value, dict) else {}

    def text(parent: dict, key: str) -> Optional[str]:
        value = parent.get(key)
        if value is not None and not isinstance(value, str):
            raise _not_detect(f"{key} is {type(value).__name__}, not text")
        return value

    machine, interpreter = section(document, "machine"), section(document, "interpreter")
    if not machine or not interpreter or not text(machine, "os") or not text(machine, "arch") or not text(interpreter, "version"):
        raise _not_detect("no machine or interpreter")
    os_name = {"Linux": "linux", "Darwin": "macos", "Windows": "windows"}.get(machine["os"], machine["os"].lower())
    arch = {"amd64": "x86_64", "x64": "x86_64", "arm64": "arm64" if os_name == "macos" else "aarch64"}.get(machine["arch"].lower(), machine["arch"])
    accelerators = section(document, "accelerators")
    nvidia, amd = section(accelerators, "nvidia"), section(accelerators, "amd")
    listed = nvidia.get("gpus") or []
    if not isinstance(listed, list) or not all(isinstance(gpu, dict) for gpu in listed):
        raise _not_detect("accelerators.nvidia.gpus is not a list of GPUs")
    gpus = tuple(text(gpu, "compute_capability") for gpu in listed if gpu.get("compute_capability"))
    jetson = text(section(nvidia, "jetson"), "l4t")
    rocm = amd.get("architectures") or []
    if not isinstance(rocm, list) or not all(isinstance(arch_name, str) for arch_name in rocm):
        raise _not_detect("accelerators.amd.architectures is not a list of names")
    driver = text(nvidia, "driver_version")
    devices = section(accelerators, "intel").get("pci_devices") or []
    if not isinstance(devices, list) or not all(isinstance(device, str) for device in devices):
        raise _not_detect("accelerators.intel.pci_devices is not a list of PCI ids")
    intel = tuple(device.split(":")[-1] for device in devices)
    return dict(
        os=os_name,
        arch=arch,
        python_version=".".join(interpreter["version"].split(".")[:2]),
        nvidia_driver=driver,
        gpu_cc=gpus,
        rocm_arch=tuple(rocm),
        jetson=jetson,
        intel_gpu=intel,
        no_gpu=not (gpus or driver or rocm or jetson or intel),
        glibc=text(machine, "libc_version") if machine.get("libc") == "glibc" else None,
    )


def _not_detect(why: str) -> TorchupError:
    return TorchupError(f"--from-detect: not a `torchup detect --json` document ({why})", hint="on the target: torchup detect --json > target.json")


# --- where the files come from ---------------------------------------------------------------


class Source(NamedTuple):
    """A place uv resolves from: an index (``explicit`` ones serve only the packages routed to them) or a find-links location."""

    name: str
    location: str
    kind: str = "index"  # "index" or "find-links"
    explicit: bool = False


def _origin(url: str) -> Tuple[str, str, Optional[int]]:
    parts = urlsplit(split_userinfo(url)[0])
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def with_credentials(url: str, sources: Sequence[Source]) -> str:
    """A file URL from the lock (uv writes none with credentials) given back the credentials of the
    source on the same host, so that torchup's own download authenticates as the resolution did."""
    if split_userinfo(url)[1] is not None:
        return url
    for source in sources:
        user = split_userinfo(source.location)[1]
        if user is not None and _origin(source.location) == _origin(url):
            userinfo = source.location.split("://", 1)[1].rpartition("@")[0]
            scheme, rest = url.split("://", 1)
            return f"{scheme}://{userinfo}@{rest}"
    return url


def _uv_env_name(name: str) -> str:
    return "UV_INDEX_" + name.upper().replace("-", "_")


def resolve(uv: Tuple[str, ...], requirements: List[str], sources: Sequence[Source], target: Target, env: Mapping[str, str], timeout: float) -> dict:
    """The closure of ``requirements`` for ``target``, as uv writes it in pylock.toml: torch and its
    companions from the explicit source routed to them, everything else from the others. Credentials
    go to uv in its own variables (``UV_INDEX_<NAME>_USERNAME``), never into a file."""
    project = tomlkit.document()
    project["project"] = {"name": "torchup-bundle", "version": "0", "dependencies": requirements}
    env = dict(env)
    indexes, find_links, routed_to = [], [], None
    for source in sources:
        if source.kind == "find-links":
            find_links += ["--find-links", source.location]
            continue
        url, user, password = split_userinfo(source.location)
        entry = {"name": source.name, "url": url}
        if source.explicit:
            entry["explicit"] = True
            routed_to = source.name
        indexes.append(entry)
        if user is not None:
            env[_uv_env_name(source.name) + "_USERNAME"] = user
            env[_uv_env_name(source.name) + "_PASSWORD"] = password or ""
    routed = [name for name in ("torch", "torchvision", "torchaudio") if any(r.startswith(name + "==") for r in requirements)]
    uv_table = {"index": indexes} if indexes else {}
    if routed_to:
        uv_table["sources"] = {name: {"index": routed_to} for name in routed}
    if uv_table:
        project["tool"] = {"uv": uv_table}
    work = Path(tempfile.mkdtemp(prefix="torchup-bundle-resolve-"))
    try:
        (work / "pyproject.toml").write_text(tomlkit.dumps(project), encoding="utf-8")
        argv = list(uv) + ["pip", "compile", "pyproject.toml", "--python-platform", target.uv_platform(), "--python-version", target.python]
        argv += find_links + ["--no-header", "--quiet", "-o", "pylock.toml"]
        completed = runner.run(argv, timeout=timeout, cwd=str(work), env=env)
        if not completed.ok:
            raise BundleFailed(
                f"resolving for {target.uv_platform()}, Python {target.python} failed: {uv_cause(completed)}",
                hint="check that these sources hold the planned builds for the target: torchup plan with the same options",
            )
        return tomlkit.parse((work / "pylock.toml").read_text(encoding="utf-8")).unwrap()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def uv_cause(completed: runner.Completed) -> str:
    """uv's own words for why it failed, in one line: what it was doing (its first cause, else its
    error) and the innermost cause (uv prints a chain, "cause:" or "Caused by:" per line)."""
    lines = [line.strip() for line in completed.stderr.splitlines() if line.strip()]
    causes = [line.split(":", 1)[1].strip() for line in lines if line.lower().startswith(("cause:", "caused by:"))]
    errors = [line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("error:")]
    if causes:
        said = causes[0] + (f" ({causes[-1]})" if len(causes) > 1 else "")
    else:
        said = errors[-1] if errors else lines[-1] if lines else completed.describe_failure()
    return shortened(said, 400)


def files_of(lock: dict) -> List[BundledFile]:
    found = []
    for package in lock.get("packages", []):
        for wheel in package.get("wheels", []):
            where = wheel.get("url") or Path(wheel.get("path") or "").absolute().as_uri()
            found.append(
                BundledFile(
                    wheel.get("name") or where.rsplit("/", 1)[-1].split("#")[0].replace("%2B", "+"),
                    package["name"],
                    str(package["version"]),
                    (wheel.get("hashes") or {}).get("sha256", ""),
                    int(wheel.get("size") or 0),
                    where,
                )
            )
    return found


# --- downloading -------------------------------------------------------------------------------


def sha256_of(handle) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(CHUNK), b""):
        digest.update(block)
    return digest.hexdigest()


def _kept(path: Path, sha256: str) -> bool:
    """A file already there (never through a link) whose content is the one wanted."""
    existing = files.open_existing(path)
    if existing is None:
        return False
    with existing:
        return bool(sha256) and sha256_of(existing) == sha256


def _remote_size(url: str, timeout: float) -> int:
    """A file's size from the index, asked before downloading, so progress can say "of how much"."""
    request = request_for(url)
    request.method = "HEAD"
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.headers.get("Content-Length") or 0)
    except (OSError, ValueError):
        return 0


def download(wanted: List[BundledFile], directory: Path, sources: Sequence[Source], say: Callable[[str], None], timeout: float) -> List[BundledFile]:
    """Each file into ``directory``, checked against its hash; a file already there and right is kept."""
    done, fetched_bytes, started = [], 0, time.monotonic()
    wanted = [item if item.size else item._replace(size=_remote_size(with_credentials(item.url, sources), timeout)) for item in wanted]
    total = sum(f.size for f in wanted if not _kept(directory / f.name, f.sha256))
    for number, item in enumerate(wanted, 1):
        path = directory / item.name
        if _kept(path, item.sha256):
            done.append(item._replace(size=path.stat().st_size))
            say(f"  [{number}/{len(wanted)}] {item.name}: already here, hash checked")
            continue
        digest = hashlib.sha256()
        try:
            with files.replacing(path, "-o") as out, urllib.request.urlopen(request_for(with_credentials(item.url, sources)), timeout=timeout) as response:
                size = int(response.headers.get("Content-Length") or item.size or 0)
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    digest.update(block)
                    fetched_bytes += len(block)
                if item.sha256 and digest.hexdigest() != item.sha256:
                    raise BundleFailed(
                        f"downloading {item.name}: its sha256 is {digest.hexdigest()}, the index says {item.sha256}: not kept",
                        hint="a mirror or proxy changed the file; try again, or another mirror",
                    )
        except (OSError, ValueError) as error:
            raise BundleFailed(
                f"downloading {item.name} failed: {getattr(error, 'reason', None) or error}",
                hint="run the same command again: files already checked are kept",
            ) from None
        done.append(item._replace(sha256=digest.hexdigest(), size=path.stat().st_size))
        shown = f"{fetched_bytes / 1e6:.1f} MB" + (f" of {total / 1e6:.1f} MB" if total else "")
        say(f"  [{number}/{len(wanted)}] {item.name} ({size / 1e6:.1f} MB; {shown} so far)")
    seconds = time.monotonic() - started
    if fetched_bytes:
        say(f"  downloaded {fetched_bytes / 1e6:.1f} MB in {seconds:.1f} s ({fetched_bytes / 1e6 / max(seconds, 1e-6):.1f} MB/s)")
    return done


def write_manifest(directory: Path, target: Target, target_facts: dict, plan_data: dict, bundled: List[BundledFile], lock: dict) -> Path:
    from . import __version__

    manifest = {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "torchup": __version__,
        "target": dict(target._asdict(), platform=target.uv_platform(), facts=target_facts),
        # The index without its credentials: a bundle is copied around, and its manifest read by others.
        "plan": dict(
            {key: plan_data[key] for key in ("torch", "variant", "packages", "reason", "release")}, index_url=split_userinfo(plan_data["index_url"])[0]
        ),
        "files": [f._asdict() for f in bundled],
    }
    text = json.dumps(manifest, indent=2) + "\n"
    files.write_text(directory / "pylock.toml", tomlkit.dumps(lock), "-o")
    files.write_text(directory / MANIFEST, text, "-o")
    files.write_text(directory / DIGEST, hashlib.sha256(text.encode("utf-8")).hexdigest() + "\n", "-o")
    return directory / MANIFEST


# --- the command --------------------------------------------------------------------------------


class Made(NamedTuple):
    directory: Path
    target: Target
    torch: str
    files: List[BundledFile]


def make(context, output: str, document: Optional[dict], python: Optional[str], overrides) -> Made:
    """``torchup bundle``: plan for the target, resolve its closure with uv, download and check every
    file into ``output``, write the manifest. ``document``: the target's ``detect --json``, if given."""
    from .detect import detect
    from .install import companions_for
    from .plan import configured_sources, make_plan, pip_cert, pip_sources

    host, say = context.host, context.say
    glibc = None
    if document is not None:
        described = overrides_from_detect(document)
        glibc = described.pop("glibc")
        overrides = overrides._replace(**described)
    directory = files.output_directory(output, "-o")  # refused before any work when another user could redirect it
    for name in (MANIFEST, DIGEST, "pylock.toml"):
        files.refuse_link(directory / name, "-o")
    uv = find_uv(host)
    if uv is None:
        raise TorchupError("torchup bundle resolves with uv, which is not here", hint="pip install uv (into torchup's environment, or on PATH)")
    here = detect(python, host)  # this machine's pip configuration (its sources serve numpy and scipy), and the target where it is this one
    plan = make_plan(here if overrides.needs_detection() else None, overrides, timeout=host.timeout, user_facts=here)
    target = Target(plan.inputs.os, plan.inputs.arch, plan.inputs.python, glibc or plan.inputs.glibc)
    say(f"[1/3] plan for {target.uv_platform()}, Python {target.python}: torch {plan.torch} from {plan.source} ({plan.decision.variant_reason})")
    if plan.found_in:
        say(f"  ! {plan.notes[-1]}")
    configured = pip_sources(here)
    sources = [Source("default", configured.index_url)] if configured.index_url else []
    sources += [Source(f"extra-{number}", url) for number, url in enumerate(configured.extra_index_urls, 1)]
    sources += [Source("find-links", location, "find-links") for location in configured.find_links]
    if not plan.found_in:
        sources.insert(0, Source("pytorch", plan.index_url, explicit=True))
    elif dict((location, kind) for kind, location in configured_sources(here)).get(plan.found_in) == "index":
        sources = [Source("pytorch", plan.found_in, explicit=True)] + [s for s in sources if s.location != plan.found_in]
    env = dict(host.env)
    if pip_cert(here):
        env["SSL_CERT_FILE"] = pip_cert(here)  # pip's CA (a corporate one) for uv too, which reads no pip.conf
    lock = resolve(uv, plan.packages + companions_for(plan), sources, target, env, context.timeouts.installer)
    wanted = files_of(lock)
    for item in wanted:
        files.refuse_link(directory / item.name, "-o")
    say(f"[2/3] resolved {len(wanted)} files for the target; downloading")
    bundled = download(wanted, directory, sources, say, max(context.timeouts.command, context.timeouts.download))
    facts = {
        key: (list(value) if isinstance(value, tuple) else value)
        for key, value in overrides._asdict().items()
        if key not in ("offline", "index_base", "variant_asked", "pip_installs")
    }
    manifest = write_manifest(directory, target, facts, plan.as_data(), bundled, lock)
    say(f"[3/3] {manifest}: {len(bundled)} files, {sum(f.size for f in bundled) / 1e6:.1f} MB")
    return Made(directory, target, plan.torch, bundled)


# --- on the target -----------------------------------------------------------------------------

# What a manifest must hold for torchup to read it, by key and type.
_MANIFEST_SHAPE = {"target": dict, "plan": dict, "files": list}
_FILE_SHAPE = {"name": str, "package": str, "version": str, "sha256": str}


def read_bundle(directory: Path) -> dict:
    """The manifest, once its digest matches (which catches a damaged or edited copy, not a forged one: see the README)."""
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
        manifest = None
    well_formed = isinstance(manifest, dict) and all(isinstance(manifest.get(key), kind) for key, kind in _MANIFEST_SHAPE.items())
    well_formed = well_formed and all(isinstance(item, dict) and all(isinstance(item.get(k), t) for k, t in _FILE_SHAPE.items()) for item in manifest["files"])
    well_formed = well_formed and all(Path(item["name"]).name == item["name"] for item in manifest["files"])  # a file name, never a path
    well_formed = well_formed and all(isinstance(manifest["target"].get(k), str) for k in ("os", "arch", "python", "platform"))
    well_formed = well_formed and all(isinstance(manifest["plan"].get(k), t) for k, t in (("torch", str), ("variant", str), ("release", dict)))
    if not well_formed:
        raise TorchupError(
            f"--bundle {directory}: {MANIFEST} is not a manifest this torchup reads", hint="make the bundle again with this torchup: torchup bundle -o DIR"
        )
    return manifest


class Staged(NamedTuple):
    """A bundle's listed files, staged in a private directory of their own: the install's only source."""

    stage: str
    requirements: str  # every package pinned, with its hashes: nothing else can be installed
    unlisted: List[str]  # files in the bundle's directory that its manifest does not list: left out
    overrides: Dict[str, str]  # the plan options that name the bundle's build


def stage(directory: Path, manifest: dict) -> Staged:
    """The files the manifest lists, and only those, linked (or copied) into a private directory and
    hash-checked there: a wheel dropped into the bundle's directory, or left from an earlier bundle, never counts."""
    listed = {item["name"] for item in manifest["files"]}
    own = {MANIFEST, DIGEST, MANIFEST + ".sig", "pylock.toml"}  # .sig: the signature the README suggests
    unlisted = sorted(entry.name for entry in directory.iterdir() if entry.name not in listed | own)
    private = Path(tempfile.mkdtemp(prefix="torchup-bundle-"))
    try:
        hashes: Dict[Tuple[str, str], List[str]] = {}
        for item in manifest["files"]:
            origin, staged = directory / item["name"], private / Path(item["name"]).name
            existing = files.open_existing(origin)
            if existing is None:
                raise BundleRefused(
                    f"{item['name']} is missing from the bundle: nothing was installed", hint="copy the whole directory, or make the bundle again"
                )
            existing.close()
            try:
                os.link(origin, staged)
            except OSError:  # another filesystem: a copy
                shutil.copyfile(origin, staged)
            with open(staged, "rb") as handle:
                if sha256_of(handle) != item["sha256"]:
                    raise BundleRefused(
                        f"{item['name']} is damaged (its sha256 is not the bundle's): nothing was installed",
                        hint="copy it again from the machine that made the bundle",
                    )
            hashes.setdefault((item["package"], item["version"]), []).append(item["sha256"])
        requirements = private / "requirements.txt"
        requirements.write_text(
            "".join(f"{name}=={version} " + " ".join(f"--hash=sha256:{digest}" for digest in digests) + "\n" for (name, version), digests in hashes.items()),
            encoding="utf-8",
        )
    except BaseException:
        shutil.rmtree(private, ignore_errors=True)
        raise
    planned = manifest["plan"]
    return Staged(
        str(private),
        str(requirements),
        unlisted,
        {"torch": planned["release"]["version"], "variant": planned["variant"], "variant_asked": "the build the bundle holds"},
    )


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
        from .compat import Build, load
        from .plan.policy import runs_here

        build = Build.parse(manifest["plan"]["variant"])
        candidate = runs_here(load(), inputs, manifest["plan"]["release"]["version"], build) if build and build.accelerated else None
        if candidate and not candidate.accepted:
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
