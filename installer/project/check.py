"""``torchup project check``: what goes wrong with torch in project files, found in pyproject.toml and
the lock (uv.lock, poetry.lock, pdm.lock, pylock.toml), each finding with its file and line.

The failure modes are the ones seen in public projects (uv's, poetry's and pdm's documented
configurations; the issues that ask for them): a source that silently does not apply, a companion
from another index, a CUDA index on macOS, an extra index that lets another torch win, a lock
this machine cannot run, CUDA packages in a CPU lock, a requires-python torch does not serve.
"""

import re
from pathlib import Path
from typing import List, NamedTuple, Optional, Set

import tomlkit
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from tomlkit.exceptions import TOMLKitError

from ..compat import Build, BuildKind, Compatibility
from . import ProjectError

COMPANIONS = ("torchvision", "torchaudio")
LOCKS = ("uv.lock", "poetry.lock", "pdm.lock", "pylock.toml")
CHECKS = {
    "P01": "torch is a direct dependency wherever a source routes it",
    "P02": "torchvision and torchaudio come from torch's index",
    "P03": "a CUDA or ROCm index applies on Linux only",
    "P04": "torch's index is explicit, not an extra index",
    "P05": "this machine can run the locked torch",
    "P06": "a CPU-only lock holds no CUDA packages",
    "P07": "the locked companions are torch's build",
    "P08": "requires-python admits only Pythons torch has wheels for",
}


class Finding(NamedTuple):
    id: str
    title: str
    file: str
    line: int
    evidence: str
    fix: str


class Locked(NamedTuple):
    name: str
    version: str
    source: Optional[str]


class Project(NamedTuple):
    directory: Path
    text: str
    data: dict
    lock: Optional[Path]
    locked: List[Locked]


def _parse(path: Path) -> dict:
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8")).unwrap()
    except (TOMLKitError, UnicodeDecodeError) as error:
        raise ProjectError(f"{path}: not valid TOML ({str(error).splitlines()[0]})") from None
    except OSError as error:
        raise ProjectError(f"{path}: cannot be read ({error.strerror or error})") from None


# The keys the checks read, and what each must be: a file whose keys are of other types is not
# one any of the tools would accept either, and is said so in one line.
PYPROJECT_SHAPE = {
    "project": dict,
    "project.dependencies": (list, str),
    "project.optional-dependencies": dict,
    "project.requires-python": str,
    "dependency-groups": dict,
    "tool": dict,
    "tool.uv": dict,
    "tool.uv.sources": dict,
    "tool.uv.index": (list, dict),
    "tool.uv.pip": dict,
    "tool.uv.index-strategy": str,
    "tool.poetry": dict,
    "tool.poetry.dependencies": dict,
    "tool.poetry.source": (list, dict),
    "tool.pdm": dict,
    "tool.pdm.source": (list, dict),
}
LOCK_SHAPE = {"package": (list, dict), "packages": (list, dict)}


def _check_shape(data: dict, shape: dict, path: Path) -> None:
    """``data`` has, at each dotted key it holds, the type ``shape`` names (a list's items too)."""
    for dotted, kind in shape.items():
        value, parent = data, ""
        for key in dotted.split("."):
            if not isinstance(value, dict) or key not in value:
                value = None
                break
            value, parent = value[key], key
        if value is None:
            continue
        outer, inner = kind if isinstance(kind, tuple) else (kind, None)
        wrong = not isinstance(value, outer) or (inner is not None and not all(isinstance(item, inner) for item in value))
        if wrong:
            what = f"a list of {inner.__name__.replace('str', 'strings').replace('dict', 'tables')}" if inner else {dict: "a table", str: "a string"}[outer]
            raise ProjectError(f"{path}: {dotted} is not {what}", hint=f"fix {parent or dotted} in {path.name}, then run again")


def load(directory: Path) -> Project:
    path = directory / "pyproject.toml"
    if path.is_dir():
        raise ProjectError(f"{path}: a directory, not a file", hint="name the project's directory, which holds pyproject.toml")
    if not path.is_file():
        raise ProjectError(f"{path}: no such file", hint="name the project's directory: torchup project check PATH")
    data = _parse(path)
    _check_shape(data, PYPROJECT_SHAPE, path)
    for values in (data.get("project", {}).get("optional-dependencies") or {}).values():
        if not isinstance(values, list) or not all(isinstance(item, str) for item in values):
            raise ProjectError(f"{path}: project.optional-dependencies holds a group that is not a list of strings")
    lock = next((directory / name for name in LOCKS if (directory / name).is_file()), None)
    return Project(directory, path.read_text(encoding="utf-8"), data, lock, read_lock(lock) if lock else [])


def read_lock(path: Path) -> List[Locked]:
    data = _parse(path)
    _check_shape(data, LOCK_SHAPE, path)
    found = []
    for entry in data.get("package", []) + data.get("packages", []):
        source = entry.get("source") or {}
        url = source.get("registry") or source.get("url") if isinstance(source, dict) else None
        found.append(Locked(canonicalize_name(entry.get("name", "")), str(entry.get("version", "")), url or entry.get("index")))
    return found


# --- what the configuration says ---------------------------------------------------------------


class Route(NamedTuple):
    package: str
    index: Optional[str]  # the index's name
    url: Optional[str]
    marker: Optional[str]
    extra: Optional[str]


def direct_dependencies(data: dict) -> Set[str]:
    project = data.get("project", {})
    requirements = list(project.get("dependencies", []))
    for group in project.get("optional-dependencies", {}).values():
        requirements += group
    for group in data.get("dependency-groups", {}).values():
        requirements += [item for item in group if isinstance(item, str)]
    names = {canonicalize_name(re.split(r"[\s\[<>=!~;(@]", requirement.strip(), 1)[0]) for requirement in requirements if requirement.strip()}
    poetry = data.get("tool", {}).get("poetry", {})
    names |= {canonicalize_name(name) for name, spec in poetry.get("dependencies", {}).items() if _poetry_declares(spec)}
    return names


def _poetry_declares(spec) -> bool:
    """A poetry dependency entry that declares the dependency (a version), not only its source."""
    entries = spec if isinstance(spec, list) else [spec]
    return any(isinstance(entry, str) or "version" in entry for entry in entries)


def routes(data: dict) -> List[Route]:
    tool = data.get("tool", {})
    found = []
    uv = tool.get("uv", {})
    urls = {index.get("name"): index.get("url") for index in uv.get("index", [])}
    for package, spec in uv.get("sources", {}).items():
        for entry in spec if isinstance(spec, list) else [spec]:
            if "index" in entry:
                found.append(Route(canonicalize_name(package), entry["index"], urls.get(entry["index"]), entry.get("marker"), entry.get("extra")))
    poetry = tool.get("poetry", {})
    urls = {source.get("name"): source.get("url") for source in poetry.get("source", [])}
    for package, spec in poetry.get("dependencies", {}).items():
        for entry in spec if isinstance(spec, list) else [spec]:
            if isinstance(entry, dict) and "source" in entry:
                markers = entry.get("markers")
                extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)", markers or "")
                found.append(Route(canonicalize_name(package), entry["source"], urls.get(entry["source"]), markers, extra.group(1) if extra else None))
    for source in tool.get("pdm", {}).get("source", []):
        for package in source.get("include_packages", []):
            found.append(Route(canonicalize_name(package), source.get("name"), source.get("url"), None, None))
    return found


def torch_indexes(data: dict) -> List[dict]:
    """Every index or source in the configuration that serves PyTorch's builds (its URL ends in a build name)."""
    tool = data.get("tool", {})
    found = []
    for key, tables in (
        ("uv", tool.get("uv", {}).get("index", [])),
        ("poetry", tool.get("poetry", {}).get("source", [])),
        ("pdm", tool.get("pdm", {}).get("source", [])),
    ):
        for table in tables:
            if build_of_url(table.get("url")):
                found.append(dict(table, tool=key))
    return found


def build_of_url(url: Optional[str]) -> Optional[Build]:
    tail = (url or "").rstrip("/").rsplit("/", 1)[-1]
    return Build.parse(tail) if tail else None


def _line(text: str, *needles: str) -> int:
    """The line of the first needle found (1-based), for the finding's evidence; 1 when none is."""
    lines = text.splitlines()
    for needle in needles:
        for number, line in enumerate(lines, 1):
            if needle in line:
                return number
    return 1


# --- the checks ---------------------------------------------------------------------------------


def check(project: Project, data: Compatibility, machine_inputs=None) -> List[Finding]:
    """Every finding, in id order. ``machine_inputs``: this machine's plan inputs, for P05 (None: not checked)."""
    pyproject = str(project.directory / "pyproject.toml")
    text, config = project.text, project.data
    direct = direct_dependencies(config)
    routed = routes(config)
    found: List[Finding] = []
    torch_routes = [route for route in routed if route.package == "torch"]

    if torch_routes and "torch" not in direct:
        found.append(
            Finding(
                "P01",
                CHECKS["P01"],
                pyproject,
                _line(text, "torch =", "torch=", '"torch"'),
                "a source routes torch, but torch is not a direct dependency: the tools apply sources to direct dependencies only, so it is silently ignored",
                "add torch to [project].dependencies (torchup project init does)",
            )
        )
    torch_indexes_used = {route.index for route in torch_routes}
    locked_names = {entry.name for entry in project.locked}
    for companion in COMPANIONS:
        if torch_routes and (companion in direct or companion in locked_names):
            own = {route.index for route in routed if route.package == companion}
            if own != torch_indexes_used:
                found.append(
                    Finding(
                        "P02",
                        CHECKS["P02"],
                        pyproject,
                        _line(text, f"{companion} =", f'"{companion}'),
                        f"{companion} is routed to {sorted(own) or 'the default index'}, torch to {sorted(torch_indexes_used)}: a companion of another build fails with 'operator torchvision::nms does not exist'",
                        f"route {companion} exactly as torch (torchup project init --with {companion})",
                    )
                )
    for route in torch_routes:
        build = build_of_url(route.url)
        linux_only = route.marker and re.search(r"sys_platform\s*==\s*['\"]linux['\"]|platform_system\s*==\s*['\"]Linux['\"]", route.marker)
        if build and build.kind in (BuildKind.CUDA, BuildKind.ROCM) and not linux_only and not route.extra:
            found.append(
                Finding(
                    "P03",
                    CHECKS["P03"],
                    pyproject,
                    _line(text, route.index or "", route.url or ""),
                    f"torch comes from {route.url} ({build.runtime}) on every platform: macOS and Windows cannot resolve it",
                    "limit it with a marker (sys_platform == 'linux') and route the other platforms to the CPU index",
                )
            )
    uv = config.get("tool", {}).get("uv", {})
    for index in torch_indexes(config):
        problem = None
        if index["tool"] == "uv" and not index.get("explicit"):
            problem = f"[[tool.uv.index]] {index.get('name')} is not explicit: every package may come from it"
        elif index["tool"] == "poetry" and index.get("priority", "primary") != "explicit":
            problem = f"poetry source {index.get('name')} has priority {index.get('priority', 'primary')!r}: every package may come from it"
        elif index["tool"] == "pdm" and not index.get("include_packages"):
            problem = f"pdm source {index.get('name')} has no include_packages: every package may come from it"
        if problem:
            found.append(
                Finding(
                    "P04",
                    CHECKS["P04"],
                    pyproject,
                    _line(text, str(index.get("url"))),
                    problem + " (dependency confusion)",
                    'make it explicit (uv: explicit = true; poetry: priority = "explicit"; pdm: include_packages) and route torch to it',
                )
            )
    if uv.get("index-strategy") == "unsafe-best-match" or uv.get("pip", {}).get("extra-index-url"):
        found.append(
            Finding(
                "P04",
                CHECKS["P04"],
                pyproject,
                _line(text, "index-strategy", "extra-index-url"),
                "an extra index with unsafe-best-match (or [tool.uv.pip] extra-index-url) lets a package of the same name from any index win",
                "an explicit [[tool.uv.index]] with [tool.uv.sources] for torch instead",
            )
        )
    found += _lock_findings(project, data, machine_inputs)
    found += _python_findings(project, config, data)
    return sorted(found, key=lambda finding: finding.id)


def _local(version: str) -> Optional[str]:
    return version.split("+", 1)[1] if "+" in version else None


def _lock_findings(project: Project, data: Compatibility, inputs) -> List[Finding]:
    if not project.lock:
        return []
    lock = str(project.lock)
    lock_text = project.lock.read_text(encoding="utf-8")
    torches = [entry for entry in project.locked if entry.name == "torch"]
    found = []
    if inputs is not None:
        from ..plan.policy import runs_here

        for entry in torches:
            build = Build.parse(_local(entry.version) or "")
            if not build or build.kind not in (BuildKind.CUDA, BuildKind.ROCM) or inputs.os != "linux":
                continue
            candidate = runs_here(data, inputs, entry.version.split("+")[0], build)
            if candidate and not candidate.accepted:
                found.append(
                    Finding(
                        "P05",
                        CHECKS["P05"],
                        lock,
                        _line(lock_text, f'version = "{entry.version}"'),
                        f"the lock pins torch {entry.version}, and on this machine {candidate.reason}",
                        "torchup plan (it names the build this machine runs); then torchup project init and lock again",
                    )
                )
    cuda_torch = any((Build.parse(_local(entry.version) or "") or Build("cpu", BuildKind.CPU)).kind is BuildKind.CUDA for entry in torches)
    cpu_only = torches and not cuda_torch and all(_local(entry.version) for entry in torches)
    cuda_packages = sorted(
        {entry.name for entry in project.locked if entry.name.startswith("nvidia-") or entry.name in ("cuda-toolkit", "cuda-bindings", "triton")}
    )
    if cpu_only and cuda_packages:
        found.append(
            Finding(
                "P06",
                CHECKS["P06"],
                lock,
                _line(lock_text, f'name = "{cuda_packages[0]}"'),
                f"torch is locked as a CPU build, yet the lock holds {', '.join(cuda_packages[:4])}{'…' if len(cuda_packages) > 4 else ''}: GBs in every CI cache",
                "route torch (and what pulls these in) to the CPU index, then lock again",
            )
        )
    torch_tags = {_local(entry.version) for entry in torches}
    for companion in COMPANIONS:
        tags = {_local(entry.version) for entry in project.locked if entry.name == companion}
        if tags and torch_tags and tags != torch_tags:
            found.append(
                Finding(
                    "P07",
                    CHECKS["P07"],
                    lock,
                    _line(lock_text, f'name = "{companion}"'),
                    f"torch is locked as {sorted(map(str, torch_tags))}, {companion} as {sorted(map(str, tags))}: another build",
                    f"route {companion} to torch's index and lock again",
                )
            )
    return found


def _python_findings(project: Project, config: dict, data: Compatibility) -> List[Finding]:
    requires = config.get("project", {}).get("requires-python")
    torch = next((entry.version for entry in project.locked if entry.name == "torch"), None) or _pinned_torch(config)
    if not requires or not torch:
        return []
    try:
        specifier = SpecifierSet(requires)
        version = Version(torch.split("+")[0])
    except (InvalidSpecifier, InvalidVersion):
        return []
    release = next((r for r in data.releases if r.series == f"{version.major}.{version.minor}"), None)
    if release is None or "linux-x86_64" not in release.platforms:
        return []
    newest = max(row.python_max for r in data.releases for row in r.platforms.values())
    served = (release.python_min, release.platforms["linux-x86_64"].python_max)
    unserved = [f"3.{minor}" for minor in range(6, newest[1] + 1) if specifier.contains(f"3.{minor}") and not served[0] <= (3, minor) <= served[1]]
    if not unserved:
        return []
    return [
        Finding(
            "P08",
            CHECKS["P08"],
            str(project.directory / "pyproject.toml"),
            _line(project.text, "requires-python"),
            f"requires-python {requires!r} admits Python {', '.join(unserved)}, for which torch {version} has no wheel (it serves {served[0][0]}.{served[0][1]} to {served[1][0]}.{served[1][1]})",
            f'narrow it, e.g. requires-python = ">={served[0][0]}.{served[0][1]},<{served[1][0]}.{served[1][1] + 1}"',
        )
    ]


def _pinned_torch(config: dict) -> Optional[str]:
    for requirement in config.get("project", {}).get("dependencies", []):
        match = re.match(r"\s*torch\s*\(?\s*==\s*([\w.+]+)", requirement)
        if match:
            return match.group(1)
    return None


def render_text(findings: List[Finding], project: Project) -> str:
    where = f"{project.directory}" + (f" ({project.lock.name})" if project.lock else " (no lock yet)")
    if not findings:
        return f"torchup project check: {where}: no finding ({len(CHECKS)} checks)\n"
    out = [f"torchup project check: {where}"]
    for finding in findings:
        out += [f"  ✗ {finding.id} {finding.title}", f"      {finding.file}:{finding.line}: {finding.evidence}", f"      fix: {finding.fix}"]
    out.append(f"{len(findings)} finding{'s' if len(findings) != 1 else ''}")
    return "\n".join(out) + "\n"


def render_junit(findings: List[Finding]) -> str:
    from xml.etree import ElementTree

    suite = ElementTree.Element("testsuite", name="torchup project check", tests=str(len(CHECKS)), failures=str(len({f.id for f in findings})))
    for check_id, title in CHECKS.items():
        case = ElementTree.SubElement(suite, "testcase", classname="torchup.project", name=f"{check_id} {title}")
        for finding in (f for f in findings if f.id == check_id):
            failure = ElementTree.SubElement(case, "failure", message=finding.evidence)
            failure.text = f"{finding.file}:{finding.line}\nfix: {finding.fix}"
    return ElementTree.tostring(suite, encoding="unicode") + "\n"
