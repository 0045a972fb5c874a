"""``torchup project check``: what goes wrong with torch in project files, found in pyproject.toml and
the lock (each project tool's, or pylock.toml), each finding with its file and line.

The failure modes are the ones seen in public projects (uv's, poetry's and pdm's documented
configurations; the issues that ask for them): a source that silently does not apply, a companion
from another index, a CUDA index on macOS, an extra index that lets another torch win, a lock
this machine cannot run, CUDA packages in a CPU lock, a requires-python torch does not serve, a
credential in a file meant for version control. What each tool's tables say is read by that tool's
module (``project/tool.py``); the checks here are the same for every tool.
"""

import re
from pathlib import Path
from typing import List, NamedTuple, Optional, Set, Tuple

import tomlkit
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from tomlkit.exceptions import TOMLKitError

from .. import project_tools
from ..compat import Build, BuildKind, Compatibility, Release
from . import ProjectError
from .tool import Routed, build_of_url, requirement_name

COMPANIONS = ("torchvision", "torchaudio")
STANDARD_LOCK = "pylock.toml"  # PEP 751, which any tool may write
CHECKS = {
    "P01": "torch is a direct dependency wherever a source routes it",
    "P02": "torchvision and torchaudio come from torch's index",
    "P03": "a CUDA or ROCm index applies on Linux only",
    "P04": "torch's index is explicit, not an extra index",
    "P05": "this machine can run the locked torch",
    "P06": "a CPU-only lock holds no CUDA packages",
    "P07": "the locked companions are torch's build",
    "P08": "requires-python admits only Pythons torch has wheels for",
    "P09": "no credential in pyproject.toml or the lock",
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
# one any of the tools would accept either, and is said so in one line. Each tool adds its own.
STANDARD_SHAPE = {
    "project": dict,
    "project.dependencies": (list, str),
    "project.optional-dependencies": dict,
    "project.requires-python": str,
    "dependency-groups": dict,
    "tool": dict,
}
LOCK_SHAPE = {"package": (list, dict), "packages": (list, dict)}


def pyproject_shape() -> dict:
    shape = dict(STANDARD_SHAPE)
    for tool in project_tools.every():
        shape.update(tool.shape)
    return shape


def lock_names() -> List[str]:
    """Every lock file a project may have, each tool's first."""
    return [lock for tool in project_tools.every() for lock in tool.locks] + [STANDARD_LOCK]


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
    _check_shape(data, pyproject_shape(), path)
    for values in (data.get("project", {}).get("optional-dependencies") or {}).values():
        if not isinstance(values, list) or not all(isinstance(item, str) for item in values):
            raise ProjectError(f"{path}: project.optional-dependencies holds a group that is not a list of strings")
    lock = next((directory / name for name in lock_names() if (directory / name).is_file()), None)
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


def direct_dependencies(data: dict) -> Set[str]:
    """The project's direct dependencies: PEP 621's and PEP 735's, and what each tool declares of its own."""
    project = data.get("project", {})
    requirements = list(project.get("dependencies", []))
    for group in project.get("optional-dependencies", {}).values():
        requirements += group
    for group in data.get("dependency-groups", {}).values():
        requirements += [item for item in group if isinstance(item, str)]
    names = {requirement_name(requirement) for requirement in requirements if requirement.strip()}
    for tool in project_tools.every():
        names |= tool.direct_dependencies(data)
    return names


def routes(data: dict) -> List[Routed]:
    return [route for tool in project_tools.every() for route in tool.routes(data)]


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
    for tool in project_tools.every():
        for problem in tool.index_problems(config):
            found.append(Finding("P04", CHECKS["P04"], pyproject, _line(text, problem.needle), problem.evidence, problem.fix))
    found += _lock_findings(project, data, machine_inputs)
    found += _python_findings(project, config, data)
    found += _credential_findings(project)
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


class PythonGap(NamedTuple):
    """Pythons a project's requires-python admits that its torch has no wheel for, and the two ways out."""

    requires: str
    torch: str  # the public version, e.g. "2.14.1"
    served: Tuple[Tuple[int, int], Tuple[int, int]]  # the oldest and newest Python the release serves
    unserved: List[str]  # e.g. ["3.15"]
    narrowed: Optional[str]  # requires-python less what torch does not serve; None where nothing is left
    other: Optional[Release]  # the newest release serving every Python the range admits, where one does


def _python(minor: Tuple[int, int]) -> str:
    return f"{minor[0]}.{minor[1]}"


def python_gap(requires: str, torch: str, data: Compatibility) -> Optional[PythonGap]:
    """The gap between ``requires`` (a requires-python) and the Pythons torch ``torch`` has Linux
    wheels for; None where there is none, or where it cannot be judged (an unknown release or
    specifier). Only Pythons the data knows count: a range open upwards admits no future Python."""
    try:
        specifier = SpecifierSet(requires)
        version = Version(torch.split("+")[0])
    except (InvalidSpecifier, InvalidVersion):
        return None
    release = next((r for r in data.releases if r.series == f"{version.major}.{version.minor}"), None)
    if release is None or "linux-x86_64" not in release.platforms:
        return None

    def served_by(candidate: Release) -> Tuple[Tuple[int, int], Tuple[int, int]]:
        return candidate.python_min, candidate.platforms["linux-x86_64"].python_max

    newest = max(row.python_max for r in data.releases for row in r.platforms.values())
    admitted = [(3, minor) for minor in range(6, newest[1] + 1) if specifier.contains(f"3.{minor}")]
    oldest, latest = served_by(release)
    unserved = [minor for minor in admitted if not oldest <= minor <= latest]
    if not unserved:
        return None
    floor = oldest if min(unserved) < oldest else None
    cap = (latest[0], latest[1] + 1) if max(unserved) > latest else None
    kept = [
        clause
        for clause in specifier
        if not (floor and clause.operator in (">=", ">") and Version(clause.version) <= Version(_python(floor)))
        and not (cap and clause.operator in ("<", "<=") and Version(clause.version) >= Version(_python(cap)))
    ]
    narrowed = ",".join(([f">={_python(floor)}"] if floor else []) + [str(clause) for clause in kept] + ([f"<{_python(cap)}"] if cap else []))
    if not any(SpecifierSet(narrowed).contains(_python(minor)) for minor in admitted):
        narrowed = None
    covering = [r for r in data.releases if "linux-x86_64" in r.platforms and served_by(r)[0] <= admitted[0] and admitted[-1] <= served_by(r)[1]]
    other = max(covering, key=lambda r: r.parsed) if covering else None
    return PythonGap(requires, str(version), (oldest, latest), [_python(minor) for minor in unserved], narrowed, other)


def describe_choices(gap: PythonGap) -> str:
    """The ways out of a gap, named, never chosen silently: fewer Pythons, or another torch."""
    choices = []
    if gap.narrowed:
        verb = "cap" if gap.served[0] <= Version(gap.unserved[0]).release[:2] else "narrow"
        choices.append(f'{verb} Python to what torch {gap.torch} serves: requires-python = "{gap.narrowed}"')
    if gap.other:
        direction = "raise" if gap.other.parsed > Version(gap.torch).release else "lower"
        choices.append(
            f"{direction} torch to {gap.other.version}, which serves every Python the range admits (torchup project init --torch {gap.other.version})"
        )
    if not choices:
        return f"no torch release serves every Python {gap.requires!r} admits: narrow it to Pythons one release serves"
    return " or ".join(choices) if len(choices) == 1 else f"either {choices[0]}, or {choices[1]}"


def _python_findings(project: Project, config: dict, data: Compatibility) -> List[Finding]:
    requires = config.get("project", {}).get("requires-python")
    torch = next((entry.version for entry in project.locked if entry.name == "torch"), None) or _pinned_torch(config)
    gap = python_gap(requires, torch, data) if requires and torch else None
    if gap is None:
        return []
    oldest, latest = gap.served
    return [
        Finding(
            "P08",
            CHECKS["P08"],
            str(project.directory / "pyproject.toml"),
            _line(project.text, "requires-python"),
            f"requires-python {gap.requires!r} admits Python {', '.join(gap.unserved)}, for which torch {gap.torch} has no wheel (it serves {_python(oldest)} to {_python(latest)})",
            describe_choices(gap),
        )
    ]


def _pinned_torch(config: dict) -> Optional[str]:
    for requirement in config.get("project", {}).get("dependencies", []):
        match = re.match(r"\s*torch\s*\(?\s*==\s*([\w.+]+)", requirement)
        if match:
            return match.group(1)
    return None


# A URL with user-info (``scheme://USERINFO@host``). A password may hold "/" or "@", so the
# user-info runs to the last "@" that a host follows; in "pkg @ git+https://host/repo@v1" what
# precedes that "@" is a host and a path, not a user (credential_in tells them apart).
_USERINFO = re.compile(
    r"\b(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<userinfo>[^\s\"'<>]*)@(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d+)?(?=[/?#\s\"'<>]|$)"
)
# An environment variable a tool expands in a URL's user-info (pdm's ``${NAME}``): no credential itself.
PLACEHOLDER = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


def credential_in(line: str) -> Optional[str]:
    """The URL on ``line`` that holds a credential (a password, or a token in place of a user name), if any."""
    for found in _USERINFO.finditer(line):
        user, colon, password = found.group("userinfo").partition(":")
        if "/" in user:
            continue  # a host and a path before the "@": a git reference, not user-info
        if colon:
            secret = bool(password) and not PLACEHOLDER.fullmatch(password)
        else:  # a token as the user name (https://TOKEN@host); ssh's "git@host" is no secret
            secret = bool(user) and found.group("scheme").lower().endswith(("http", "https")) and not PLACEHOLDER.fullmatch(user)
        if secret:
            return found.group(0)
    return None


def _credential_findings(project: Project) -> List[Finding]:
    files = [(project.directory / "pyproject.toml", project.text)] + ([(project.lock, project.lock.read_text(encoding="utf-8"))] if project.lock else [])
    tools = {index.url: (tool, index.name) for tool in project_tools.every() for index in tool.indexes(project.data)}
    found = []
    for path, text in files:
        for number, line in enumerate(text.splitlines(), 1):
            url = credential_in(line)
            if url is None:
                continue
            where = next(((tool, name) for index_url, (tool, name) in tools.items() if index_url.startswith(url)), None)
            how = (
                where[0].credential_note([where[1]])
                if where
                else "give them the way the tool that reads this URL documents (an environment variable or its own configuration)"
            )
            again = "" if path.name == "pyproject.toml" else ", then lock again"
            found.append(
                Finding(
                    "P09",
                    CHECKS["P09"],
                    str(path),
                    number,
                    f"{url} holds a credential, in a file meant for version control",
                    f"write the URL without it{again} and change the password (it is in the file's history); {how}",
                )
            )
    return found


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
