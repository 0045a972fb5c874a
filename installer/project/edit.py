"""Edits of a pyproject.toml that every tool's writer shares, through tomlkit so that comments and
formatting stay: a table made where missing, a requirement replaced in place, a named index
updated in place, a stale torch index dropped."""

from types import MappingProxyType
from typing import List, Mapping, Optional, Set, Tuple

import tomlkit
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from . import ProjectError
from .tool import Route


def table(parent, key: str):
    if key not in parent:
        parent[key] = tomlkit.table()
    return parent[key]


def super_table(parent, key: str):
    """A table whose only content is other tables ([tool]), written without its own header."""
    if key not in parent:
        parent[key] = tomlkit.table(is_super_table=True)
    return parent[key]


def _name(requirement) -> Optional[str]:
    try:
        return canonicalize_name(Requirement(str(requirement)).name)
    except InvalidRequirement:
        return None


def set_requirements(requirements, pins: List[Tuple[str, str]], style: str = "pep508") -> None:
    """Each pin in a requirements array: an existing requirement of that name replaced in place, else added."""
    for name, version in pins:
        text = f"{name} (=={version})" if style == "poetry" else f"{name}=={version}"
        position = next((position for position, existing in enumerate(requirements) if _name(existing) == canonicalize_name(name)), None)
        if position is None:
            requirements.append(text)
        else:
            requirements[position] = text


def drop_requirements(requirements, names: Set[str]) -> None:
    for position in reversed(range(len(requirements))):
        if _name(requirements[position]) in names:
            del requirements[position]


def project_dependencies(document):
    """``[project].dependencies``, made where missing (the project table itself must be there)."""
    project = document["project"]
    if "dependencies" not in project:
        project["dependencies"] = tomlkit.array()
    return project["dependencies"]


def routes_as(routes: List[Route], index_key: str, marker_key: str, extra_as_marker: bool, **common):
    """The routes as a tool's inline tables (``{index = …, marker = …}``), each with ``common`` keys
    first: one table where a single route has no condition, else an array of them."""
    tables = []
    for route in routes:
        entry = tomlkit.inline_table()
        entry.update(common)
        if route.index:
            entry[index_key] = route.index
        if route.marker:
            entry[marker_key] = route.marker
        if route.extra and extra_as_marker:
            entry[marker_key] = f"extra == '{route.extra}'"
        elif route.extra:
            entry["extra"] = route.extra
        tables.append(entry)
    if len(tables) == 1 and not routes[0].extra:
        return tables[0]
    array = tomlkit.array()
    array.extend(tables)
    return array


def named_tables(parent, key: str):
    """An array of tables ([[tool.uv.index]], [[tool.poetry.source]], …), made where missing."""
    tables = parent.get(key)
    if tables is None:
        tables = tomlkit.aot()
        parent[key] = tables
    return tables


def upsert(tables, name: str, values: Mapping[str, object], contradicting: Mapping[str, str] = MappingProxyType({})) -> List[str]:
    """The table called ``name`` given ``values``: an existing one updated in place, else one added.
    A key of ``contradicting`` that the table holds (a setting the values make wrong) is removed,
    and the note returned says why (its value in ``contradicting``)."""
    entry = next((table for table in tables if table.get("name") == name), None)
    if entry is None:
        entry = tomlkit.table()
        entry["name"] = name
        tables.append(entry)
    notes = []
    for key, why in contradicting.items():
        if key in entry:
            notes.append(f"{name}: `{key} = {entry.item(key).as_string()}` removed: {why}")
            del entry[key]
    for key, value in values.items():
        entry[key] = value
    return notes


def drop_stale(tables, routes: List[Route]) -> None:
    """A torch index of an earlier run that no route uses any more (cu130 after a move to cu132)."""
    wanted = {route.index for route in routes}
    for position in reversed(range(len(tables))):
        name = str(tables[position].get("name", ""))
        if name.startswith("pytorch-") and name not in wanted:
            del tables[position]


def require_project_table(document, path, tool: str) -> None:
    """Tools that read only PEP 621 metadata need a ``[project]`` table: never one made up here,
    since a ``[project]`` without ``name`` breaks every tool that reads it."""
    if "project" not in document:
        raise ProjectError(
            f"{path}: no [project] table, and {tool} reads a project's dependencies only from there",
            hint=f"add [project] with the project's name and version ({tool} init writes one), or give --tool poetry for a poetry 1 project",
        )
