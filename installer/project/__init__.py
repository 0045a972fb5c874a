"""``torchup project init``: the right torch per platform in a project's pyproject.toml, written the
way each tool documents it (uv, poetry, pdm), and kept there on later runs.

What it writes, per tool:

- uv: torch and the companions as direct dependencies, each routed by ``[tool.uv.sources]`` to an
  explicit ``[[tool.uv.index]]`` (Linux to the build planned for this machine, other platforms to
  the CPU index, told apart by ``sys_platform`` markers), or, with ``--extras``, one optional
  dependency group per build with ``conflicts``; ``required-environments`` for this machine.
- poetry: the same routes as ``[tool.poetry.dependencies]`` entries with ``source`` and
  ``markers``, to ``priority = "explicit"`` sources.
- pdm: one source per the Linux build, ``include_packages`` for torch and its companions and
  ``exclude_packages = ["*"]`` for everything else (pdm has no per-platform sources).

Edits go through tomlkit, so comments and formatting stay; an existing torch configuration is
replaced, never duplicated, and running it again changes nothing.
"""

import difflib
import os
from pathlib import Path
from typing import List, NamedTuple, Optional, Tuple

import tomlkit
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from tomlkit.exceptions import TOMLKitError

from ..compat import BuildKind
from ..errors import TorchupError
from ..plan import Plan

TOOLS = ("uv", "poetry", "pdm")
LINUX = "sys_platform == 'linux'"
NOT_LINUX = "sys_platform != 'linux'"


class ProjectError(TorchupError):
    """A project file torchup cannot read or change: said in one line, the file untouched."""


class Route(NamedTuple):
    """Where torch comes from: an index, for a platform (marker) or an optional group (extra)."""

    index: str  # the index's name in the tool's configuration, e.g. "pytorch-cu130"
    url: str
    marker: Optional[str] = None
    extra: Optional[str] = None


class Layout(NamedTuple):
    """What to write: the pins and the routes, decided from plans, independent of the tool."""

    pins: List[Tuple[str, str]]  # (name, version) for torch and each companion: public versions, the index adds the local tag
    routes: List[Route]
    environment: str  # the marker of the machine planned for, for uv's required-environments
    notes: List[str]


def index_name(build: str) -> str:
    return f"pytorch-{build}"


def layout(linux_plan: Plan, extras: Tuple[str, ...], index_base: str) -> Layout:
    """Linux gets ``linux_plan``'s build, other platforms the CPU build of the same release (every
    release has one everywhere); with ``extras``, one route per named build instead."""
    release = linux_plan.decision.release
    pins = [("torch", release.version)] + [(pin.split("==")[0], pin.split("==")[1].split("+")[0]) for pin in linux_plan.packages[1:]]
    base = index_base.rstrip("/")
    if extras:
        routes = [Route(index_name(build), f"{base}/{build}", extra=build) for build in extras]
        notes = [f"one optional group per build: {', '.join(extras)}; choose with `uv sync --extra NAME` (they conflict)"]
    else:
        build = linux_plan.build
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
    return Layout(pins, routes, environment, notes)


# --- pyproject.toml ---------------------------------------------------------------------------


def read(path: Path) -> tomlkit.TOMLDocument:
    """The project file, parsed; a missing, unreadable or malformed one (or one of keys of the wrong type) is one line, exit 2."""
    from .check import PYPROJECT_SHAPE, _check_shape

    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such file", hint="create the project first: uv init, poetry init or pdm init") from None
    except IsADirectoryError:
        raise ProjectError(f"{path}: a directory, not a file", hint="name the project's directory, which holds pyproject.toml") from None
    except OSError as error:
        raise ProjectError(f"{path}: cannot be read ({error.strerror or error})") from None
    except (TOMLKitError, UnicodeDecodeError) as error:
        raise ProjectError(f"{path}: not valid TOML ({str(error).splitlines()[0]}); it was left as it was") from None
    _check_shape(document.unwrap(), PYPROJECT_SHAPE, path)
    return document


def check_writable(path: Path) -> None:
    """Before any work: a file torchup will change must be one it may write."""
    if not os.access(path, os.W_OK):
        raise ProjectError(f"{path}: not writable, so it cannot be changed", hint="make it writable, or see the change first with --dry-run")


def _table(parent, key: str):
    if key not in parent:
        parent[key] = tomlkit.table()
    return parent[key]


def _super_table(parent, key: str):
    """A table whose only content is other tables ([tool]), written without its own header."""
    if key not in parent:
        parent[key] = tomlkit.table(is_super_table=True)
    return parent[key]


def set_requirements(requirements, pins: List[Tuple[str, str]], style: str = "pep508") -> None:
    """Each pin in a requirements array: an existing requirement of that name replaced in place, else added."""
    for name, version in pins:
        text = f"{name} (=={version})" if style == "poetry" else f"{name}=={version}"
        for position, existing in enumerate(list(requirements)):
            try:
                same = canonicalize_name(Requirement(str(existing)).name) == canonicalize_name(name)
            except InvalidRequirement:
                same = False
            if same:
                requirements[position] = text
                break
        else:
            requirements.append(text)


def _drop_requirements(requirements, names) -> None:
    for position in reversed(range(len(requirements))):
        try:
            if canonicalize_name(Requirement(str(requirements[position])).name) in names:
                del requirements[position]
        except InvalidRequirement:
            continue


def _dependencies(document):
    project = _table(document, "project")
    if "dependencies" not in project:
        project["dependencies"] = tomlkit.array()
    return project["dependencies"]


def _routes_for(routes: List[Route], key: str):
    """The routes as a tool's inline tables: one without a condition, else an array of them."""
    tables = []
    for route in routes:
        table = tomlkit.inline_table()
        table["index" if key == "index" else "source"] = route.index
        if route.marker:
            table["marker" if key == "index" else "markers"] = route.marker
        if route.extra:
            table["extra" if key == "index" else "markers"] = route.extra if key == "index" else f"extra == '{route.extra}'"
        tables.append(table)
    if len(tables) == 1 and not routes[0].extra:
        return tables[0]
    array = tomlkit.array()
    array.extend(tables)
    return array


def _named_tables(parent, key: str):
    """An array of tables ([[tool.uv.index]], [[tool.poetry.source]], …), made where missing."""
    tables = parent.get(key)
    if tables is None:
        tables = tomlkit.aot()
        parent.add(tomlkit.nl())
        parent[key] = tables
    return tables


def _upsert(tables, name: str, **values) -> None:
    """The table called ``name`` given ``values``: an existing one updated in place, else one added."""
    entry = next((table for table in tables if table.get("name") == name), None)
    if entry is None:
        entry = tomlkit.table()
        entry["name"] = name
        tables.append(entry)
    for key, value in values.items():
        entry[key] = value


def _drop_stale(tables, routes: List[Route]) -> None:
    """A torch index of an earlier run that no route uses any more (cu130 after a move to cu132)."""
    wanted = {route.index for route in routes}
    for position in reversed(range(len(tables))):
        name = str(tables[position].get("name", ""))
        if name.startswith("pytorch-") and name not in wanted:
            del tables[position]


def configure_uv(document, plan: Layout) -> None:
    names = [name for name, _ in plan.pins]
    extras = [route.extra for route in plan.routes if route.extra]
    if extras:
        _drop_requirements(_dependencies(document), set(names))
        optional = _table(document["project"], "optional-dependencies")
        for extra in extras:
            if extra not in optional:
                optional[extra] = tomlkit.array()
            set_requirements(optional[extra], plan.pins)
    else:
        set_requirements(_dependencies(document), plan.pins)
    uv = _table(_super_table(document, "tool"), "uv")
    sources = _table(uv, "sources")
    for name in names:
        sources[name] = _routes_for(plan.routes, "index")
    indexes = _named_tables(uv, "index")
    _drop_stale(indexes, plan.routes)
    for route in plan.routes:
        _upsert(indexes, route.index, url=route.url, explicit=True)
    if extras:
        conflicts = tomlkit.array()
        group = tomlkit.array()
        for extra in extras:
            table = tomlkit.inline_table()
            table["extra"] = extra
            group.append(table)
        conflicts.append(group)
        uv["conflicts"] = conflicts
    else:
        uv["required-environments"] = [plan.environment]


def configure_poetry(document, plan: Layout) -> None:
    names = [name for name, _ in plan.pins]
    set_requirements(_dependencies(document), plan.pins, style="poetry")
    poetry = _table(_super_table(document, "tool"), "poetry")
    dependencies = _table(poetry, "dependencies")
    for name in names:
        dependencies[name] = _routes_for(plan.routes, "source")
    sources = _named_tables(poetry, "source")
    _drop_stale(sources, plan.routes)
    for route in plan.routes:
        _upsert(sources, route.index, url=route.url, priority="explicit")


def configure_pdm(document, plan: Layout) -> List[str]:
    names = [name for name, _ in plan.pins]
    set_requirements(_dependencies(document), plan.pins)
    pdm = _table(_super_table(document, "tool"), "pdm")
    sources = _named_tables(pdm, "source")
    route = plan.routes[0]  # pdm chooses a source per package, not per platform: the Linux build
    _drop_stale(sources, [route])
    _upsert(sources, route.index, url=route.url, include_packages=names, exclude_packages=["*"])
    return (
        []
        if len(plan.routes) == 1
        else [f"pdm has no per-platform sources: every platform gets {route.index} (lock one target per variant with `pdm lock --platform`)"]
    )


def configure(document, tool: str, plan: Layout) -> List[str]:
    """Write ``plan`` into ``document`` for ``tool``; notes on what it could not express."""
    if tool == "uv":
        configure_uv(document, plan)
        return []
    if tool == "poetry":
        configure_poetry(document, plan)
        return []
    return configure_pdm(document, plan)


def diff(path: Path, before: str, after: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True), f"{path} (now)", f"{path} (torchup)"))


class InitResult(NamedTuple):
    path: Path
    changed: bool
    diff: str
    notes: List[str]


def init(directory: Path, tool: str, linux_plan: Plan, extras: Tuple[str, ...], index_base: str, dry_run: bool) -> InitResult:
    path = directory / "pyproject.toml"
    document = read(path)
    before = path.read_text(encoding="utf-8")
    plan = layout(linux_plan, extras, index_base)
    notes = plan.notes + configure(document, tool, plan)
    after = tomlkit.dumps(document)
    if not after.endswith("\n"):
        after += "\n"
    if after != before and not dry_run:
        path.write_text(after, encoding="utf-8")
    return InitResult(path, after != before, diff(path, before, after), notes)
