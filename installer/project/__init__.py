"""``torchup project init``: the right torch per platform in a project's pyproject.toml, written the
way each tool documents it, and kept there on later runs.

What is written is decided once for every tool (``layout``: the pins, and a route per platform
or per optional group to an index); how it is written is each tool's own (``tool.py``, and one
module per tool: ``uv.py``, ``poetry.py``, ``pdm.py``). Edits go through tomlkit, so comments and
formatting stay; the file keeps its line endings and the way it separates its tables; an existing
torch configuration is replaced, never duplicated, and running it again changes nothing. A
credential in the index's URL never reaches the file: the tool is told of it its own way.
"""

import difflib
import os
import re
from pathlib import Path
from typing import Dict, List, NamedTuple, Tuple

import tomlkit
from tomlkit.exceptions import TOMLKitError

from ..compat import BuildKind, Compatibility
from ..errors import TorchupError
from ..plan import Plan
from ..plan.index import split_userinfo
from .tool import LINUX, NOT_LINUX, Layout, ProjectTool, Route


class ProjectError(TorchupError):
    """A project file torchup cannot read or change: said in one line, the file untouched."""


class CannotWrite(ProjectError):
    """What the project needs cannot be written as asked, so nothing is: a failed run, not bad input."""

    exit_code = 1


def index_name(build: str) -> str:
    return f"pytorch-{build}"


def layout(linux_plan: Plan, extras: Tuple[str, ...], index_base: str) -> Layout:
    """Linux gets ``linux_plan``'s build, other platforms the CPU build of the same release (every
    release has one everywhere); with ``extras``, one route per named build instead. Where the plan
    found its build in a source of the user's pip configuration (the index did not answer), Linux
    is routed there, and other platforms keep their default index: the CPU index is not reachable.
    Credentials in ``index_base`` never reach a route: ``Layout.credentials`` says they are needed."""
    release = linux_plan.decision.release
    pins = [("torch", release.version)] + [(pin.split("==")[0], pin.split("==")[1].split("+")[0]) for pin in linux_plan.packages[1:]]
    base, user, _ = split_userinfo(index_base.rstrip("/"))
    build = linux_plan.build
    if extras:
        routes = [Route(index_name(name), f"{base}/{name}", extra=name) for name in extras]
        notes = [f"one optional group per build: {', '.join(extras)}; choose with `uv sync --extra NAME` (they conflict)"]
    elif linux_plan.found_in:
        source = linux_plan.found_in.rstrip("/")
        if build.kind in (BuildKind.CPU, BuildKind.DEFAULT):
            routes, elsewhere = [Route(index_name(build.name), source)], "every platform: the same source"
        else:
            routes, elsewhere = [Route(index_name(build.name), source, LINUX), Route(None, None, NOT_LINUX)], "other platforms: the project's default index"
        notes = [f"Linux: torch {linux_plan.torch}: {linux_plan.notes[-1]}; {elsewhere}"]
    else:
        if build.kind in (BuildKind.CPU, BuildKind.DEFAULT):
            routes = [Route(index_name("cpu"), f"{base}/cpu")]
        else:
            routes = [
                Route(index_name(build.name), f"{base}/{build.name}", marker=LINUX),
                Route(index_name("cpu"), f"{base}/cpu", marker=NOT_LINUX),
            ]
        notes = [f"Linux: torch {linux_plan.torch} ({linux_plan.decision.variant_reason}); other platforms: the CPU build"]
    arch = linux_plan.inputs.arch
    environment = f"sys_platform == 'linux' and platform_machine == '{arch}'"
    return Layout(pins, routes, environment, notes, credentials=user is not None and not linux_plan.found_in)


# --- pyproject.toml ---------------------------------------------------------------------------


class ProjectFile(NamedTuple):
    document: tomlkit.TOMLDocument
    text: str  # as it is on disk: line endings included


def read(path: Path) -> ProjectFile:
    """The project file, parsed; a missing, unreadable or malformed one (or one of keys of the wrong type) is one line, exit 2."""
    from .check import _check_shape, pyproject_shape  # here: check imports this module's ProjectError

    try:
        text = path.read_bytes().decode("utf-8")
        document = tomlkit.parse(text)
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such file", hint="create the project first: uv init, poetry init or pdm init") from None
    except IsADirectoryError:
        raise ProjectError(f"{path}: a directory, not a file", hint="name the project's directory, which holds pyproject.toml") from None
    except OSError as error:
        raise ProjectError(f"{path}: cannot be read ({error.strerror or error})") from None
    except (TOMLKitError, UnicodeDecodeError) as error:
        raise ProjectError(f"{path}: not valid TOML ({str(error).splitlines()[0]}); it was left as it was") from None
    _check_shape(document.unwrap(), pyproject_shape(), path)
    return ProjectFile(document, text)


def check_writable(path: Path) -> None:
    """Before any work: a file torchup will change must be one it may write."""
    if not os.access(path, os.W_OK):
        raise ProjectError(f"{path}: not writable, so it cannot be changed", hint="make it writable, or see the change first with --dry-run")


def fit_python(document, torch: str, data: Compatibility) -> List[str]:
    """A requires-python admitting Pythons that ``torch`` has no wheel for is narrowed to those it
    serves (the tools' lock would fail, or a user of that Python could not install), and the note
    says so and names the other way: a torch that serves them all."""
    from .check import describe_choices, python_gap  # here: check imports this module's ProjectError

    project = document.get("project", {})
    requires = project.get("requires-python")
    gap = python_gap(str(requires), torch, data) if requires else None
    if gap is None:
        return []
    if gap.narrowed is None:
        raise CannotWrite(f"requires-python {gap.requires!r} admits no Python that torch {torch} has a wheel for", hint=describe_choices(gap))
    project["requires-python"] = gap.narrowed
    other = f", or keep it and take torch {gap.other.version}, which serves them all (--torch {gap.other.version})" if gap.other else ""
    return [f"requires-python {gap.requires!r} admitted Python {', '.join(gap.unserved)}, which torch {torch} has no wheel for: now {gap.narrowed!r}{other}"]


# A table's header line: [name] or [[name]] of bare or quoted keys, perhaps with a comment.
_HEADER = re.compile(r"\[\[?\s*[A-Za-z0-9_.\-\"' ]+?\s*\]\]?\s*(#.*)?")


def keep_layout(before: str, after: str) -> str:
    """``after`` (tomlkit's output) laid out as ``before`` was: its line endings, each table
    separated from the one above as it was (a blank line or none), and a new table as the file
    separates its tables. tomlkit writes new lines with "\\n" and separates only some new tables."""
    newline = "\r\n" if before.count("\r\n") * 2 > before.count("\n") else "\n"
    old, new = before.replace("\r\n", "\n").split("\n"), after.replace("\r\n", "\n").split("\n")
    had = dict(zip(_header_keys(old), (_separated(old, index) for index in _headers(old))))
    votes = [_separated(old, index) for index in _headers(old) if _comment_start(old, index) > 0]
    usual = sum(votes) * 2 >= len(votes)  # the file's own way, for the tables it did not have
    for index, key in reversed(list(zip(_headers(new), _header_keys(new)))):
        start = _comment_start(new, index)
        if start == 0:
            continue
        if had.get(key, usual) and new[start - 1].strip():
            new.insert(start, "")
        while not had.get(key, usual) and start > 1 and not new[start - 1].strip():
            del new[start - 1]
            start -= 1
    text = newline.join(new)
    return text if text.endswith(newline) else text + newline


def _headers(lines: List[str]) -> List[int]:
    return [index for index, line in enumerate(lines) if _HEADER.fullmatch(line.strip()) and line.startswith("[")]


def _header_keys(lines: List[str]) -> List[Tuple[str, int]]:
    """Each header as (its text, which occurrence of that text): [[tool.uv.index]] comes many times."""
    seen: Dict[str, int] = {}
    keys = []
    for index in _headers(lines):
        name = lines[index].split("#", 1)[0].strip()
        keys.append((name, seen.get(name, 0)))
        seen[name] = seen.get(name, 0) + 1
    return keys


def _comment_start(lines: List[str], index: int) -> int:
    """Where a header's own comment lines above it begin (they move with it)."""
    while index > 0 and lines[index - 1].lstrip().startswith("#"):
        index -= 1
    return index


def _separated(lines: List[str], index: int) -> bool:
    start = _comment_start(lines, index)
    return start == 0 or not lines[start - 1].strip()


def diff(path: Path, before: str, after: str) -> str:
    """The change as a unified diff of the lines as they are, line endings included."""
    lines = difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True), f"{path} (now)", f"{path} (torchup)")
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


class InitResult(NamedTuple):
    path: Path
    changed: bool
    diff: str
    notes: List[str]


def init(directory: Path, tool: ProjectTool, linux_plan: Plan, extras: Tuple[str, ...], index_base: str, data: Compatibility, dry_run: bool) -> InitResult:
    path = directory / "pyproject.toml"
    document, before = read(path)
    plan = layout(linux_plan, extras, index_base)
    notes = plan.notes + tool.configure(document, plan) + fit_python(document, linux_plan.decision.release.version, data)
    if plan.credentials:
        notes.append(f"the index's credentials stay out of pyproject.toml: {tool.credential_note([route.index for route in plan.indexed])}")
    after = keep_layout(before, tomlkit.dumps(document))
    if after != before and not dry_run:
        with path.open("w", encoding="utf-8", newline="") as handle:  # newline="": the line endings as they are
            handle.write(after)
    return InitResult(path, after != before, diff(path, before, after), notes)
